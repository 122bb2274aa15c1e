-- The fault matrix: raycai-run against cml-sim's fault injection. Each scenario runs up, checks
-- the outcome, runs down and checks that no application of the cluster is left.
local sim = require "support.sim"
local run = require("support.run")
local proc = require "raycai.proc"
local clock = require "raycai.clock"
local fs = require "raycai.fs"
local cluster = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local DELAYS = sim.QUICK_DELAYS


local function env_for(s, extra)
  local env = { CML_HOST = s.url, CML_API_KEY = s.api_key, CML_TIMEOUT = "5", CML_RETRY_DEADLINE = "20" }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end


local function raycai(s, args, extra_env)
  return run.raycai(args, { env = env_for(s, extra_env), timeout = 180 })
end


--- The cluster's applications: a count per name (a duplicate counts 2), and the total.
local function cluster_apps(s)
  local out, n = {}, 0
  for _, a in ipairs(s:state().applications or {}) do
    -- a deleted application lingers (STOPPING, _deleted) until its pod is gone: it is no longer
    -- the cluster's, and CML removes it by itself
    if a.name:sub(1, #"raycai-gpu-") == "raycai-gpu-" and not a._deleted then
      out[a.name] = (out[a.name] or 0) + 1
      n = n + 1
    end
  end
  return out, n
end


local app = cluster.app_named


--- Start up of the GPU cluster in the background; its stdout and stderr go to one file.
local function start_up(s)
  local out = os.tmpname()
  local p = assert(proc.spawn { run.exe, GPU, env = env_for(s), stdout = out, stderr = out, kill_on_close = true })
  return p, out
end


--- Wait for a run started by start_up: its exit code (nil at the timeout) and output.
local function finish(p, out, timeout)
  local code = p:wait(timeout)
  p:close()
  local text = fs.read(out) or ""
  os.remove(out)
  run.assert_no_secret(text)
  return code, text
end


--- Every fault rule the scenario added has fired as often as it was told (a scenario whose
--- faults never fired proves nothing).
local function all_fired(s)
  local status, rules = s:control("GET", "/_sim/faults")
  assert.equal(200, status)
  assert.same({}, rules)
end


--- down, then nothing of the cluster may be left.
local function down_leaves_nothing(s)
  s:clear_faults()
  local r = raycai(s, { GPU, "down" })
  assert.equal(0, r.code, r.stderr)
  local _, n = cluster_apps(s)
  assert.equal(0, n)
end


--- Exactly one application per name, head and workers all running.
local function converged(s, workers)
  local names, n = cluster_apps(s)
  assert.equal(workers + 1, n)
  for name, count in pairs(names) do assert.equal(1, count, name) end
  assert.equal("APPLICATION_RUNNING", app(s, "raycai-gpu-head").status)
  for i = 1, workers do assert.equal("APPLICATION_RUNNING", app(s, "raycai-gpu-worker-" .. i).status) end
end


describe("fault matrix", function()
  local s

  before_each(function() s = sim.start { delays = DELAYS } end)
  after_each(function() if s then s:stop() end end)

  it("1. honours 429 Retry-After on creates and polls, and converges", function()
    s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "status", status = 429,
              retry_after = 1, count = 1 }
    s:fault { match = { method = "GET", path_suffix = "/applications" }, action = "status", status = 429,
              retry_after = 1, count = 1 }
    local t0 = clock.monotonic()
    local r = raycai(s, { GPU })
    assert.equal(0, r.code, r.stderr)
    assert.is_true(clock.monotonic() - t0 >= 2, "both Retry-After waits were honoured")
    all_fired(s)
    -- measured in the request log: each 429 was followed by the same request Retry-After later
    local log, throttled = s:requests(), 0
    for i, q in ipairs(log) do
      if q.status == 429 then
        throttled = throttled + 1
        local again
        for j = i + 1, #log do
          if log[j].method == q.method and log[j].path == q.path then again = log[j]; break end
        end
        assert.truthy(again, q.method .. " " .. q.path .. " was not sent again")
        assert.is_true(again.at_ms - q.at_ms >= 1000,
          ("%s %s sent again %.0f ms after its 429"):format(q.method, q.path, again.at_ms - q.at_ms))
      end
    end
    assert.equal(2, throttled)
    converged(s, 2)
    down_leaves_nothing(s)
  end)

  it("2. converges through bursts of 503 and 502", function()
    s:fault { match = { path_prefix = "/api/v2/projects" }, action = "status", status = 503, count = 3 }
    s:fault { match = { method = "POST" }, action = "status", status = 502, count = 2 }
    local r = raycai(s, { GPU })
    assert.equal(0, r.code, r.stderr)
    all_fired(s)
    converged(s, 2)
    down_leaves_nothing(s)
  end)

  it("3. converges through dropped connections on reads", function()
    s:fault { match = { method = "GET" }, action = "drop", count = 4 }
    local r = raycai(s, { GPU })
    assert.equal(0, r.code, r.stderr)
    all_fired(s)
    converged(s, 2)
    down_leaves_nothing(s)
  end)

  it("4. a create whose response never arrives leaves exactly one application", function()
    s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "slow", delay_ms = 8000,
              apply = true, count = 1 }
    local r = raycai(s, { GPU }, { CML_TIMEOUT = "1" })
    assert.equal(0, r.code, r.stderr)
    all_fired(s)
    converged(s, 2)
    down_leaves_nothing(s)
  end)

  it("5. a failed head: exit 1 naming it, no worker created", function()
    s:control("POST", "/_sim/fail_application", { name = "raycai-gpu-head" })
    local r = raycai(s, { GPU })
    assert.equal(1, r.code)
    assert.matches("head failed: raycai%-gpu%-head %(APPLICATION_FAILED%)", r.stderr)
    assert.matches("logs in CML", r.stderr)
    assert.matches("see raycai%-run recipes/gpu_cluster%.lua logs head", r.stderr)  -- issue 15
    local names = cluster_apps(s)
    assert.is_nil(names["raycai-gpu-worker-1"])
    down_leaves_nothing(s)
  end)

  it("6. one of four workers fails: exit 1 naming it; a re-run replaces it", function()
    s:control("POST", "/_sim/fail_application", { name = "raycai-gpu-worker-3" })
    local r = raycai(s, { "--set", "workers=4", GPU })
    assert.equal(1, r.code)
    assert.matches("workers failed: raycai%-gpu%-worker%-3 %(APPLICATION_FAILED%)", r.stderr)
    local failed_id = app(s, "raycai-gpu-worker-3").id
    r = raycai(s, { "--set", "workers=4", GPU })
    assert.equal(0, r.code, r.stderr)
    converged(s, 4)
    assert.are_not.equal(failed_id, app(s, "raycai-gpu-worker-3").id)
    down_leaves_nothing(s)
  end)

  it("7. a failed setup job: exit 1 naming the job and its state", function()
    s:control("POST", "/_sim/fail_job", { name = "raycai-gpu-setup" })
    local r = raycai(s, { GPU })
    assert.equal(1, r.code)
    assert.matches("setup job raycai%-gpu%-setup run %S+ ended ENGINE_FAILED", r.stderr)
    local _, n = cluster_apps(s)
    assert.equal(0, n)
    down_leaves_nothing(s)
  end)

  it("7b. a failed setup job of a running cluster leaves its launchers as they were", function()
    assert.equal(0, raycai(s, { GPU }).code)
    local pid = s:state().projects[1].id
    local function launchers()
      local _, _, head = s:api("POST", "projects/" .. pid .. "/files/.raycai/gpu/head.py:download")
      local _, _, worker = s:api("POST", "projects/" .. pid .. "/files/.raycai/gpu/worker.py:download")
      assert.matches("venv", head)
      return { head, worker }
    end
    local before = launchers()
    -- new packages: a new venv, new launchers; its setup run fails
    s:control("POST", "/_sim/fail_job", { name = "raycai-gpu-setup" })
    local r = raycai(s, { "--set", "ray.packages=torch==2.5.1", GPU })
    assert.equal(1, r.code)
    assert.matches("ended ENGINE_FAILED", r.stderr)
    assert.same(before, launchers())
    r = raycai(s, { "--set", "ray.packages=torch==2.5.1", GPU })
    assert.equal(0, r.code, r.stderr)
    assert.are_not.same(before, launchers())
    down_leaves_nothing(s)
  end)

  it("8. an exceeded GPU quota: exit 1 naming the quota, no half-created batch left", function()
    s:control("POST", "/_sim/quota", { gpu = 2 })
    local r = raycai(s, { "--set", "workers=4", GPU })
    assert.equal(1, r.code)
    assert.matches("[Qq]uota", r.stderr)
    -- the workers of the failed batch are deleted; CML lists a deleted application (STOPPING)
    -- until its pod is gone, so wait for that rather than look at once
    s:wait_for(function()
      for name in pairs(cluster_apps(s)) do if name:match("worker") then return false, name .. " left" end end
      return true
    end, 30, "the workers of the failed batch to be gone")
    down_leaves_nothing(s)
  end)

  it("10. a project that does not exist and may not be created: a clear message", function()
    s:fault { match = { method = "POST", path = "/api/v2/projects" }, action = "status", status = 403, count = 100 }
    local r = raycai(s, { GPU })
    assert.equal(1, r.code)
    assert.matches("project ray%-gpu does not exist and could not be created: .*403", r.stderr)
    assert.equal(1, select(2, r.stderr:gsub("\n", "")))
    assert.same({}, s:state().projects or {})
  end)

  it("11. a wrong API key: one message naming CML_API_KEY, no retry storm", function()
    local r = raycai(s, { GPU }, { CML_API_KEY = "wrong-key" })
    assert.equal(1, r.code)
    assert.matches("CML_API_KEY", r.stderr)
    assert.matches("401 UNAUTHENTICATED.*the API key was rejected", r.stderr)
    assert.equal(1, select(2, r.stderr:gsub("\n", "")), r.stderr)
    -- one round (the project lookup beside the runtime list), each rejected once, none sent again
    local log, seen = s:requests(), {}
    assert.is_true(#log >= 1 and #log <= 2, "at most one round of requests and no retries")
    for _, q in ipairs(log) do
      assert.equal(401, q.status)
      assert.is_nil(seen[q.method .. " " .. q.path], q.method .. " " .. q.path .. " was sent again")
      seen[q.method .. " " .. q.path] = true
    end
    assert.same({}, s:state().projects or {})
  end)

  it("13. SIGINT during the worker wait: exit 130 before the workers run; a re-run converges", function()
    -- applications take 2 s to start, so up is still waiting for its workers when we interrupt
    s:control("POST", "/_sim/delays", { app_start = 2000 })
    local p, out = start_up(s)
    s:wait_for(function()
      local w = app(s, "raycai-gpu-worker-2")
      return w and w.status == "APPLICATION_STARTING"
    end, 30, "workers to be created")
    p:kill("INT")
    local code, text = finish(p, out, 60)  -- a deadline that only catches a hang
    assert.equal(130, code, text)
    assert.matches("interrupted", text)
    assert.matches("created application raycai%-gpu%-worker%-1", text)
    s:control("POST", "/_sim/delays", { app_start = 30 })
    local r = raycai(s, { GPU })
    assert.equal(0, r.code, r.stderr)
    converged(s, 2)
    down_leaves_nothing(s)
  end)

  it("14. two ups of the same cluster at once make no duplicates", function()
    local outs, procs = {}, {}
    for i = 1, 2 do procs[i], outs[i] = start_up(s) end
    local codes, texts = {}, {}
    for i = 1, 2 do codes[i], texts[i] = finish(procs[i], outs[i], 120) end
    local names = cluster_apps(s)
    for name, count in pairs(names) do assert.equal(1, count, name) end
    -- each run either converged or stopped at the other's lock
    for i = 1, 2 do
      assert.truthy(codes[i] == 0 or texts[i]:match("is locked: held by"), texts[i])
    end
    local r = raycai(s, { GPU })
    assert.equal(0, r.code, r.stderr)
    converged(s, 2)
    down_leaves_nothing(s)
  end)

  it("15. malformed, truncated and oversized responses end in clean errors", function()
    for _, action in ipairs({ "malformed", "truncate", "oversize" }) do
      s:clear_faults()
      -- oversize: more than the client's 64 MiB limit on a response body
      s:fault { match = { method = "GET", path = "/api/v2/projects" }, action = action, count = 1000,
                size = 72 * 1024 * 1024 }
      local r = raycai(s, { GPU })
      assert.equal(1, r.code, action .. ": " .. r.stderr)
      assert.equal(1, select(2, r.stderr:gsub("\n", "")), action .. ": " .. r.stderr)
      assert.not_matches("stack traceback", r.stderr)
      assert.not_matches("bug in raycai", r.stderr)
      assert.matches("GET /api/v2/projects", r.stderr)
    end
    assert.same({}, s:state().projects or {})
  end)
end)


describe("fault matrix: the simulator restarts", function()
  it("9. restarting in the middle of up (state kept): the next up converges", function()
    local dir = fs.tempdir("raycai-sim-state")
    local s = sim.start { delays = { app_start = 300, job_running = 300 }, state_dir = dir }
    local url = s.url
    local p, out = start_up(s)
    s:wait_for(function() return app(s, "raycai-gpu-head") end, 30, "the head to be created")
    s:restart()
    assert.equal(url, s.url)  -- the run in flight talks to the restarted simulator
    finish(p, out, 120)  -- it may fail on the restart; the next up must converge
    local r = raycai(s, { GPU })
    assert.equal(0, r.code, r.stderr)
    converged(s, 2)
    down_leaves_nothing(s)
    s:stop()
    fs.remove(dir, { recursive = true })
  end)
end)


describe("fault matrix: TLS", function()
  local s, dir, cert

  setup(function()
    dir = fs.tempdir("raycai-tls")
    cert = fs.join(dir, "cert.pem")
    local key = fs.join(dir, "key.pem")
    local p = assert(proc.spawn { "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
      "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", stdout = "null", stderr = "null" })
    assert.equal(0, p:wait(60))
    s = sim.start { tls_cert = cert, tls_key = key, delays = DELAYS }
  end)

  teardown(function()
    if s then s:stop() end
    fs.remove(dir, { recursive = true })
  end)

  it("12. an untrusted certificate: one message naming CML_CA_BUNDLE, no retry storm", function()
    local r = raycai(s, { GPU })
    assert.equal(1, r.code)
    local lines = select(2, r.stderr:gsub("\n", ""))
    assert.equal(1, lines, r.stderr)
    assert.matches("CML_CA_BUNDLE", r.stderr)
    assert.same({}, s:requests())
  end)

  it("12. trusted through CML_CA_BUNDLE, it converges; --insecure works and warns", function()
    local r = raycai(s, { GPU }, { CML_CA_BUNDLE = cert })
    assert.equal(0, r.code, r.stderr)
    converged(s, 2)
    r = raycai(s, { "--insecure", GPU, "status" })
    assert.equal(0, r.code, r.stderr)
    assert.matches("warning: .*insecure", r.stderr)
    r = raycai(s, { GPU, "down" }, { CML_CA_BUNDLE = cert })
    assert.equal(0, r.code, r.stderr)
    local _, n = cluster_apps(s)
    assert.equal(0, n)
  end)
end)
