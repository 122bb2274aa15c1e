-- Ray's token authentication end to end (issue 14): cml-sim in exec mode runs the launchers
-- against the stub Ray, which checks tokens as Ray 2.52+ does (its GCS and the dashboard's HTTP
-- middleware). A default up makes a cluster whose head and workers hold the generation's token
-- and refuse a client without it; the token lives only in the project's files (never in an
-- environment, an output or a log); a new generation gets a new token; down --purge removes it.
-- A Ray without token authentication is refused unless insecure_ray = true, which warns.
local exec = require "support.exec"
local support_run = require "support.run"
local run = support_run.raycai
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local http = require "raycai.http"
local cjson = require "cjson"
local cluster = require "support.cluster"
local versions = require "raycai.ray.versions"

local GPU = "recipes/gpu_cluster.lua"
local OLD_RAY = "2.40.0"
local free_port = require("support.ports").free
local mutations, app_named, apps_of, env_of = cluster.mutations, cluster.app_named, cluster.apps_of, cluster.env_of


--- Every line of text that matches pattern.
--- The concatenation of the lists given.
local function join(...)
  local out = {}
  for _, list in ipairs { ... } do
    for _, v in ipairs(list) do out[#out + 1] = v end
  end
  return out
end


--- Every line of text that matches pattern.
local function lines_matching(text, pattern)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    if line:match(pattern) then out[#out + 1] = line end
  end
  return out
end


describe("Ray token authentication in exec mode", function()
  local s, wheels, client
  local outputs = {}  -- every output of raycai-run in this spec, scanned again once the token is known

  local function raycai(args, opts)
    local r = run(args, opts)
    outputs[#outputs + 1] = r.stdout .. r.stderr
    return r
  end

  setup(function()
    wheels = exec.wheels(versions.DEFAULT, OLD_RAY)
    -- Ray before 2.53 gets click<8.3 (raycai.ray.versions); an empty click satisfies it offline
    local p = assert(proc.spawn { "python3", "tests/support/empty_wheel.py", wheels, "click", "8.1.7", stdout = "null" })
    assert.equal(0, p:wait(60))
    s = exec.sim()
    client = http.new { timeout = 5 }
  end)

  teardown(function()
    if s then s:stop() end
    if wheels then fs.remove(wheels, { recursive = true }) end
  end)

  --- A GET on the head's dashboard (the stub on CDSW_APP_PORT): status, decoded JSON or nil.
  local function dashboard(port, path, headers)
    local res = client:request { method = "GET", url = ("http://127.0.0.1:%d%s"):format(port, path),
                                 headers = headers, timeout = 2 }
    if not res then return nil end
    local ok, body = pcall(cjson.decode, res.body)
    return res.status, ok and body or nil
  end

  --- The GCS's answer to a JOIN, with the token in the file token_file or without one.
  local function gcs_join(host, port, token_file)
    local out = os.tmpname()
    local p = assert(proc.spawn { "python3", "tests/support/ray_gcs_client.py", host, tostring(port),
                                  token_file, stdout = out })
    assert.equal(0, p:wait(30))
    return support_run.slurp(out):match("^[^\n]*")
  end

  --- A project file's content, or nil and the status.
  local function download(pid, path)
    local status, _, raw = s:api("POST", ("projects/%s/files/%s:download"):format(pid, path))
    if status ~= 200 then return nil, status end
    return raw
  end

  --- Every text the cluster's workloads logged: application and job-run logs.
  local function workload_logs()
    local texts = {}
    local st = s:state()
    for _, a in ipairs(st.applications or {}) do texts[#texts + 1] = s:log("applications", a.id) or "" end
    for _, r in ipairs(st.runs or {}) do texts[#texts + 1] = s:log("runs", r.id) or "" end
    return texts
  end

  --- Assert that token is in no environment of the simulator's objects.
  local function assert_in_no_environment(token)
    local st = s:state()
    for _, kind in ipairs { "applications", "jobs", "runs" } do
      for _, o in ipairs(st[kind] or {}) do
        local env = env_of(o)
        assert.is_nil(env.RAY_AUTH_TOKEN, o.name or o.id)
        assert.is_nil(cjson.encode(env):find(token, 1, true), (o.name or o.id) .. "'s environment shows the token")
      end
    end
  end

  it("a default up makes a token-authenticated cluster: the token is needed to join or call the API, "
     .. "shows nowhere, is new each generation and goes with down --purge", function()
    local gcs = free_port()
    local args = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. gcs,
                   "--set", "timeouts.head=120", "--set", "timeouts.workers=120", GPU }
    local env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    local r = raycai(args, { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("ray auth:%s+token", r.stdout)
    local ip = assert(r.stdout:match("head:%s+(127%.0%.0%.%d+):" .. gcs), r.stdout)

    local head = app_named(s, "raycai-gpu-head")
    local pid = head._project_id
    local generation = assert(env_of(head).RAYCAI_GENERATION)
    local token_path = ".raycai/gpu/auth/" .. generation .. ".token"
    local token = assert(download(pid, token_path), "the head made " .. token_path)
    assert.matches("^%x+$", token)
    assert.equal(64, #token, "256 bits as hex, as Ray's own generator makes them")
    -- from here on every output of raycai-run (support.run) is also checked for the token
    support_run.secrets[#support_run.secrets + 1] = token
    local token_file = s:state().work_dir .. "/projects/" .. pid .. "/" .. token_path
    assert.equal(token, assert(io.open(token_file)):read("a"))

    -- the workers joined with the token; the head's launcher says which protection is on
    local port = assert(head._app_port)
    local nodes = s:wait_for(function()
      local status, page = dashboard(port, "/")
      return status == 200 and page and #page.nodes == 2 and page.nodes
    end, 60, "two workers in the head's dashboard")
    assert.equal(2, #nodes)
    assert.matches("Ray authentication: token", assert(s:log("applications", head.id)))

    -- the dashboard's API: no token 401, a wrong one 403, the right one 200; its start page and
    -- health checks stay open (Ray's public routes), so CML's readiness probe works
    assert.equal(401, (dashboard(port, "/api/v0/nodes")))
    assert.equal(403, (dashboard(port, "/api/v0/nodes", { Authorization = "Bearer " .. ("0"):rep(64) })))
    assert.equal(403, (dashboard(port, "/api/v0/nodes", { Authorization = token })))
    local status, page = dashboard(port, "/api/v0/nodes", { Authorization = "Bearer " .. token })
    assert.equal(200, status)
    assert.equal(2, #page.nodes)
    assert.equal(200, (dashboard(port, "/api/v0/nodes", { ["X-Ray-Authorization"] = "Bearer " .. token })))
    assert.equal(200, (dashboard(port, "/api/v0/nodes", { Cookie = "ray-authentication-token=" .. token })))
    local _, mode = dashboard(port, "/api/authentication_mode")
    assert.equal("token", mode.authentication_mode)
    assert.equal(200, (dashboard(port, "/api/healthz")))

    -- the GCS: a client without the token (or with a wrong one) is refused, one with it joins
    assert.equal("ERR UNAUTHENTICATED: Invalid or missing authentication token", gcs_join(ip, gcs))
    local wrong = os.tmpname()
    assert(io.open(wrong, "w")):write(("f"):rep(64))
    assert.matches("^ERR UNAUTHENTICATED", gcs_join(ip, gcs, wrong))
    os.remove(wrong)
    assert.equal("OK", gcs_join(ip, gcs, token_file))
    assert.matches("refused node [^\n]*invalid or missing authentication token",
                   assert(s:log("applications", head.id)))

    -- status, --json and -v: which protection is on, and no token (support.run scans them)
    r = raycai({ GPU, "status" }, { env = env })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("ray auth: token", r.stdout)
    r = raycai({ "--json", GPU, "status" }, { env = env })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches('"ray_auth":"token"', r.stdout)
    r = raycai({ "-v", "--json", GPU, "status" }, { env = env })
    assert.equal(0, r.code, r.stderr .. r.stdout)

    -- nowhere else: no environment, no workload log, no setup.log, no output of this spec
    assert_in_no_environment(token)
    for _, text in ipairs(workload_logs()) do assert.is_nil(text:find(token, 1, true)) end
    assert.is_nil(assert(download(pid, ".raycai/gpu/setup.log")):find(token, 1, true))
    for _, text in ipairs(outputs) do assert.is_nil(text:find(token, 1, true)) end

    -- a new generation (the head's spec changed) gets a new token; the old one is gone, and the
    -- new workers join with the new one
    r = raycai(join({ "--set", "head.cpu=2", "-v" }, args), { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    local head2 = app_named(s, "raycai-gpu-head")
    local generation2 = env_of(head2).RAYCAI_GENERATION
    assert.not_equal(generation, generation2)
    local token2 = assert(download(pid, ".raycai/gpu/auth/" .. generation2 .. ".token"))
    support_run.secrets[#support_run.secrets + 1] = token2
    assert.equal(64, #token2)
    assert.not_equal(token, token2)
    assert.is_nil((download(pid, token_path)), "the old generation's token is removed")
    s:wait_for(function()
      local st, p = dashboard(head2._app_port, "/api/v0/nodes", { Authorization = "Bearer " .. token2 })
      return st == 200 and #p.nodes == 2
    end, 60, "two workers joined with the new token")
    assert.equal(403, (dashboard(head2._app_port, "/api/v0/nodes", { Authorization = "Bearer " .. token })))
    assert_in_no_environment(token2)
    for _, text in ipairs(workload_logs()) do assert.is_nil(text:find(token2, 1, true)) end

    -- down --purge removes the token with the cluster's files
    r = raycai({ GPU, "down", "--purge" }, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    local _, gone = download(pid, ".raycai/gpu/auth/" .. generation2 .. ".token")
    assert.equal(404, gone)
    assert.is_nil(io.open(s:state().work_dir .. "/projects/" .. pid .. "/.raycai/gpu/auth"))
    for _, text in ipairs(outputs) do
      assert.is_nil(text:find(token, 1, true))
      assert.is_nil(text:find(token2, 1, true))
    end
  end)

  it("refuses a Ray without token authentication in one line, exit 2, unless insecure_ray = true, "
     .. "which deploys an open cluster and warns on every run", function()
    s:clear_requests()
    local env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    local base = { "--set", "ray.version=" .. OLD_RAY, "--set", "project=oldray", "--set", "cluster=old",
                   "--set", "workers=1", "--set", "ray.find_links=" .. wheels, "--set", "timeouts.head=120",
                   "--set", "timeouts.workers=120", "--set", "ray.gcs_port=" .. free_port() }
    for _, action in ipairs { "plan", "up" } do
      local r = raycai(join(base, { GPU, action }), { env = env, timeout = 60 })
      assert.equal(2, r.code, r.stderr .. r.stdout)
      local lines = lines_matching(r.stderr, "no token authentication")
      assert.equal(1, #lines, r.stderr)
      assert.matches("^error: Ray 2%.40%.0 has no token authentication .*insecure_ray=true", lines[1])
      assert.same({}, mutations(s))
    end

    local insecure = join({ "--set", "insecure_ray=true" }, base)
    for i = 1, 2 do
      local r = raycai(join(insecure, { GPU }), { env = env, timeout = 300 })
      assert.equal(0, r.code, r.stderr .. r.stdout)
      assert.equal(1, #lines_matching(r.stderr, "insecure_ray = true: Ray 2%.40%.0 has no token authentication"),
                   "run " .. i .. ": " .. r.stderr)
      assert.matches("ray auth:%s+none %(insecure_ray%)", r.stdout)
    end
    local r = raycai(join(insecure, { GPU, "plan" }), { env = env, timeout = 60 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.equal(1, #lines_matching(r.stderr, "insecure_ray = true: Ray 2%.40%.0 has no token authentication"))
    local head = app_named(s, "raycai-old-head")
    assert.matches("Ray authentication: none %(insecure_ray%)", assert(s:log("applications", head.id)))
    -- an open Ray: a client without a token joins, and the API answers without one
    local info = assert(download(head._project_id, ".raycai/old/head.json"))
    local ip, port = cjson.decode(info).address:match("^(.*):(%d+)$")
    assert.equal("OK", gcs_join(ip, port))
    local status, page = dashboard(head._app_port, "/api/v0/nodes")
    assert.equal(200, status)
    assert.equal(1, #page.nodes)
    r = raycai({ "--set", "project=oldray", "--set", "cluster=old", GPU, "down", "--purge" },
               { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    s:wait_for(function() return next(apps_of(s, "raycai-old-")) == nil end, 60, "the old cluster's applications to go")
  end)

  it("keeps index credentials out of the rendered setup script, its job's environment and setup.log, "
     .. "while pip gets them", function()
    local PW = support_run.INDEX_PASSWORD
    local index = ("http://mirror-user:%s@%s/simple"):format(PW, s.url:match("^https?://([^/]+)"))
    local env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    local r = raycai({ "--set", "project=index", "--set", "cluster=idx", "--set", "workers=0",
                       "--set", "ray.find_links=" .. wheels, "--set", "ray.index_url=" .. index,
                       "--set", "timeouts.head=120", "--set", "ray.gcs_port=" .. free_port(), GPU },
                     { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    local head = app_named(s, "raycai-idx-head")
    local pid = head._project_id
    local script = assert(download(pid, ".raycai/idx/setup_venv.py"))
    assert.is_nil(script:find(PW, 1, true))
    assert.is_nil(script:find("mirror-user", 1, true), "the whole userinfo is redacted")
    assert.truthy(script:find("http://***@", 1, true))
    local log = assert(download(pid, ".raycai/idx/setup.log"))
    assert.is_nil(log:find(PW, 1, true), log)
    -- pip got the real URL: its own (redacted) output names the user the script never shows
    assert.matches("Looking in indexes: http://mirror%-user:%*%*%*%*@", log)
    assert.matches("setup complete", log)
    assert.truthy(assert(download(pid, ".raycai/idx/pip_index.json")):find(PW, 1, true),
                  "the credentials live in the project file")
    local st = s:state()
    for _, kind in ipairs { "jobs", "runs", "applications" } do
      for _, o in ipairs(st[kind] or {}) do
        assert.is_nil(cjson.encode(env_of(o)):find(PW, 1, true), o.name or o.id)
      end
    end
    for _, text in ipairs(workload_logs()) do assert.is_nil(text:find(PW, 1, true)) end
    -- the recipe drops its credentials: plan says the file goes, up removes it
    local plain = { "--set", "project=index", "--set", "cluster=idx", "--set", "workers=0",
                    "--set", "ray.find_links=" .. wheels, "--set", "timeouts.head=120",
                    "--set", "ray.index_url=" .. index:gsub("mirror%-user:[^@]*@", ""), GPU }
    local plan_argv = { table.unpack(plain) }
    plan_argv[#plan_argv + 1] = "plan"
    local p = raycai(plan_argv, { env = env, timeout = 120 })
    assert.equal(3, p.code, p.stderr)  -- changes pending
    assert.matches("delete%s+file%s+%.raycai/idx/pip_index%.json", p.stdout)
    r = raycai(plain, { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("deleted file %.raycai/idx/pip_index%.json", r.stdout .. r.stderr)
    local _, dropped = download(pid, ".raycai/idx/pip_index.json")
    assert.equal(404, dropped)
    r = raycai({ "--set", "project=index", "--set", "cluster=idx", GPU, "down", "--purge" }, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
  end)
end)
