-- The whole product for real: cml-sim in exec mode runs the setup job and the launchers with
-- python3; the setup job builds the venv from a wheel of the stub ray (tests/fixtures/ray_stub)
-- of the default Ray version; the head starts "Ray", publishes head.json; the workers find it
-- and join, each "pod" at its own 127.0.0.x. A head that restarts within Ray's reconnect grace
-- gets its workers back; an idempotent re-run sends no mutating request, and down ends every
-- process with clean launcher stops.
local exec = require "support.exec"
local run = require("support.run").raycai
local fs = require "raycai.fs"
local http = require "raycai.http"
local cjson = require "cjson"
local cluster = require "support.cluster"
local procs = require "support.procs"
local versions = require "raycai.ray.versions"

local GPU = "recipes/gpu_cluster.lua"


local free_port = require("support.ports").free


local mutations, app_named, apps_of = cluster.mutations, cluster.app_named, cluster.apps_of


describe("a Ray cluster run by cml-sim in exec mode", function()
  local s, wheels, client

  setup(function()
    wheels = exec.wheels()
    s = exec.sim()
    client = http.new { timeout = 5 }
  end)

  teardown(function()
    if s then s:stop() end
    if wheels then fs.remove(wheels, { recursive = true }) end
  end)

  --- The head's dashboard page (the stub's JSON on CDSW_APP_PORT), or nil.
  local function dashboard(port)
    local res = client:request { method = "GET", url = ("http://127.0.0.1:%d/"):format(port), timeout = 2 }
    if not res or res.status ~= 200 then return nil end
    return cjson.decode(res.body)
  end

  it("builds the venv, starts the head, and the workers join it; a restarted head gets them back; "
     .. "a re-run changes nothing; down ends every process", function()
    local gcs = free_port()
    local args = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. gcs,
                   "--set", "timeouts.head=120", "--set", "timeouts.workers=120", GPU }
    local env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    local r = run(args, { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    -- the head published its own pod address, not loopback's 127.0.0.1
    local ip = r.stdout:match("head:%s+(127%.0%.0%.%d+):" .. gcs)
    assert(ip, r.stdout)
    assert.not_equal("127.0.0.1", ip)
    assert.matches("workers:%s+2/2 running", r.stdout)

    local head = app_named(s, "raycai-gpu-head")
    local port = assert(head._app_port, "the simulator's state shows the head's CDSW_APP_PORT")
    local log = assert(s:log("applications", head.id))
    assert.matches("ray start %-%-head [^\n]*%-%-include%-dashboard true", log)
    assert.matches("Ray runtime started%.", log)
    local nodes = s:wait_for(function()
      local page = dashboard(port)
      return page and #page.nodes == 2 and page.nodes
    end, 60, "two workers in the head's dashboard")
    assert.equal(versions.DEFAULT, dashboard(port).version)
    for _, n in ipairs(nodes) do
      assert.matches("^127%.0%.0%.%d+$", n.node_ip)
      assert.not_equal("127.0.0.1", n.node_ip)
    end

    -- the head restarts (stop, then :restart) within the workers' reconnect grace (60 s): the
    -- same workers rejoin it; none of them exits
    local pid = head._project_id
    local workers = apps_of(s, "raycai-gpu-worker-")
    local status = s:api("POST", ("projects/%s/applications/%s:stop"):format(pid, head.id))
    assert.equal(200, status)
    s:wait_for(function() return app_named(s, "raycai-gpu-head").status == "APPLICATION_STOPPED" end,
               60, "the head to stop")
    status = s:api("POST", ("projects/%s/applications/%s:restart"):format(pid, head.id))
    assert.equal(200, status)
    port = nil  -- a restarted application gets a new CDSW_APP_PORT
    local page = s:wait_for(function()
      port = port or app_named(s, "raycai-gpu-head")._app_port
      local p = port and dashboard(port)
      return p and #p.nodes == 2 and p
    end, 60, "both workers back in the restarted head's dashboard")
    assert.equal(2, #page.nodes)
    for name, w in pairs(workers) do
      assert.equal("APPLICATION_RUNNING", app_named(s, name).status)
      assert.matches("reconnected to the GCS at " .. ip:gsub("%.", "%%.") .. ":" .. gcs,
                     assert(s:log("applications", w.id)))
    end

    -- idempotent: the second up only reads
    s:clear_requests()
    r = run(args, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    assert.matches("nothing to change", r.stderr)
    assert.same({}, mutations(s))

    -- down: no application left, every process of the launchers (and Ray's) gone, and each
    -- launcher's stop was clean
    local ids, tree = {}, {}
    for _, a in pairs(apps_of(s, "raycai-gpu-")) do
      ids[#ids + 1] = a.id
      for _, p in ipairs(procs.tree(assert(a._pid, "exec mode records _pid"))) do tree[#tree + 1] = p end
    end
    assert.equal(3, #ids)
    assert.is_true(#tree >= 9, "3 launchers, 3 `ray start`, 3 node subprocesses: " .. #tree)
    r = run({ GPU, "down" }, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    for _, a in ipairs(s:state().applications or {}) do
      assert.is_nil(a.name:match("^raycai%-gpu%-"), a.name)
    end
    s:wait_for(function() return #procs.living(tree) == 0 end, 60, "every launcher and Ray process to end")
    for _, id in ipairs(ids) do
      local text = assert(s:log("applications", id))
      assert.matches("Ray stopped %(status 1%) after signal 15", text)
      assert.matches("exiting with status 0", text)
    end
    assert.is_nil(dashboard(port))
  end)

  it("refuses plan for Ray 2.40 on a Python 3.13 runtime with one line, exit 2, nothing changed", function()
    s:clear_requests()
    local env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    local r = run({ "--set", "ray.version=2.40.0", "--set", "insecure_ray=true", "--set", "python.kernel=Python 3.13",
                    "--set", "project=py313", GPU, "plan" }, { env = env, timeout = 60 })
    assert.equal(2, r.code, r.stderr .. r.stdout)
    local lines = {}
    for line in r.stderr:gmatch("[^\n]+") do
      if line:match("Ray 2%.40%.0 has no wheels") then lines[#lines + 1] = line end
    end
    assert.equal(1, #lines, r.stderr)
    assert.matches("Ray 2%.40%.0 has no wheels for Python 3%.13 %(Ray 2%.40 supports Python 3%.9 to 3%.12%)",
                   lines[1])
    assert.same({}, mutations(s))
    -- the kernel that counts is the runtime's: a head runtime given by identifier is checked too
    local py313 = "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-workbench-python3.13-standard:2025.09.1-b5"
    r = run({ "--set", "ray.version=2.40.0", "--set", "insecure_ray=true", "--set", "head.runtime=" .. py313,
              "--set", "project=py313", GPU, "plan" }, { env = env, timeout = 60 })
    assert.equal(2, r.code, r.stderr .. r.stdout)
    assert.matches("Ray 2%.40%.0 has no wheels for Python 3%.13", r.stderr)
    assert.same({}, mutations(s))
    -- the same recipe with the default Ray plans fine
    r = run({ "--set", "python.kernel=Python 3.13", "--set", "project=py313", GPU, "plan" },
            { env = env, timeout = 60 })
    assert.equal(3, r.code, r.stderr .. r.stdout)
    assert.same({}, mutations(s))
  end)
end)
