-- Autostop for real (issue 16): cml-sim in exec mode runs the head launcher, whose watcher thread
-- asks the stub Ray's dashboard for driver activity (/api/component_activities, with the Ray
-- token) and stops or deletes the cluster through the simulator's API with the workload's own
-- CDSW_APIV2_KEY. Idle periods are fractions of a minute (0.01 = 0.6 s); every wait is on a
-- condition with a generous deadline.
local exec = require "support.exec"
local run = require "support.run"
local fs = require "raycai.fs"
local http = require "raycai.http"
local cjson = require "cjson"
local clock = require "raycai.clock"
local cl = require "support.cluster"
local autostop = require "raycai.ray.autostop"

local GPU = "recipes/gpu_cluster.lua"
local free_port = require("support.ports").free


--- Common parts of the two clusters of this spec.
local function base_args(wheels, port, extra)
  local a = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. port, "--set", "workers=2",
              "--set", "timeouts.head=120", "--set", "timeouts.workers=120" }
  for _, x in ipairs(extra or {}) do a[#a + 1] = x end
  a[#a + 1] = GPU
  return a
end


--- The project folder of project ray-gpu in the simulator.
local function home_of(s)
  for _, pr in ipairs(s:state().projects or {}) do
    if pr.name == "ray-gpu" then return s:state().work_dir .. "/projects/" .. pr.id end
  end
end


local function read_json(path)
  local text = fs.read(path)
  return text and cjson.decode((text))
end


describe("autostop in exec mode", function()
  local s, wheels, env, base, home, client
  local port = free_port()

  local function raycai(args, opts)
    local argv = { table.unpack((opts and opts.base) or base) }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local r = run.raycai(argv, { env = env, timeout = (opts and opts.timeout) or 300 })
    run.assert_no_secret(r.stdout .. r.stderr)
    return r
  end

  local function all_status(prefix)
    local got = cl.apps_of(s, prefix or "raycai-gpu-")
    local states = {}
    for name, a in pairs(got) do states[name] = a.status end
    return states, cl.count(got)
  end

  local function every_app(status)
    local states, n = all_status()
    if n == 0 then return false end
    for _, st in pairs(states) do if st ~= status then return false end end
    return true
  end

  --- Ray's own activity answer from the head (the test reads the token as a driver would).
  local function activity()
    local head = cl.app_named(s, "raycai-gpu-head")
    local gen = cl.env_of(head).RAYCAI_GENERATION
    local token = (fs.read(home .. "/.raycai/gpu/auth/" .. gen .. ".token") or ""):match("%x+")
    local res = client:request { method = "GET", timeout = 5,
      url = ("http://127.0.0.1:%d/api/component_activities"):format(head._app_port),
      headers = { Authorization = "Bearer " .. tostring(token), ["User-Agent"] = "autostop-spec" } }
    return res and res.status == 200 and cjson.decode(res.body).driver or nil
  end

  local function state() return read_json(home .. "/.raycai/gpu/autostop.state.json") end
  --- Seconds the watcher has seen the cluster busy, by its state file (written on changes only).
  local function busy_for(x) return x and x.verdict == "busy" and x.busy_since and clock.time() - x.busy_since or 0 end
  local function log() return fs.read(home .. "/.raycai/gpu/logs/autostop.log") or "" end

  --- A detached driver that stays connected until the file `release` exists; waits until Ray
  --- reports it active.
  local function hold_driver(release)
    local code = ("import os, time, ray; ray.init(); print('holding', flush=True)\n"
      .. "while not os.path.exists(%q): time.sleep(0.05)"):format(release)
    local r = raycai { "submit", "--detach", "--", "python", "-c", code }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.truthy(s:wait_for(function() local d = activity() return d and d.is_active == "ACTIVE" end, 120,
                             "the submitted driver to be active"))
  end

  setup(function()
    wheels = exec.wheels()
    s = exec.sim()
    client = http.new { timeout = 5 }
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    base = base_args(wheels, port)
    local r = raycai {}
    assert.equal(0, r.code, r.stderr .. r.stdout)
    home = assert(home_of(s))
  end)

  teardown(function()
    if s then s:stop() end
    if wheels then fs.remove(wheels, { recursive = true }) end
  end)

  it("bad values exit 2 with one line naming the key, and change nothing", function()
    local before = #cl.mutations(s)
    for _, args in ipairs {
      { "autostop", "--idle-minutes", "-1" }, { "autostop", "--idle-minutes", "1e9" },
      { "autostop", "--idle-minutes", "ten" }, { "autostop", "--cancel", "--idle-minutes", "3" },
      { "autostop", "--down" }, { "autostop", "--idle-minutes", "3", "--down", "--no-down" },
    } do
      local r = raycai(args)
      assert.equal(2, r.code, table.concat(args, " ") .. ": " .. r.stderr .. r.stdout)
      local lines = select(2, r.stderr:gsub("\n", ""))
      assert.equal(1, lines, r.stderr)
    end
    local r = raycai({}, { base = base_args(wheels, port, { "--set", "autostop.idle_minutes=-5" }) })
    assert.equal(2, r.code, r.stderr .. r.stdout)
    assert.matches("autostop%.idle_minutes", r.stderr)
    assert.equal(before, #cl.mutations(s))
    assert.is_nil(fs.read(home .. "/.raycai/gpu/autostop.json"))  -- off in the recipe: no file
    -- autostop is in no launcher and no application spec: changing it is no change for plan
    r = raycai({ "plan" }, { base = base_args(wheels, port, { "--set", "autostop.idle_minutes=5",
                                                               "--set", "autostop.down=true" }) })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("No changes", r.stdout)
  end)

  it("autostop --idle-minutes changes the running cluster; status and list show AUTOSTOP", function()
    local head = cl.app_named(s, "raycai-gpu-head")
    local r = raycai { "autostop", "--idle-minutes", "10", "--down" }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    local st = raycai { "status" }
    assert.equal(0, st.code, st.stderr .. st.stdout)
    assert.matches("AUTOSTOP", st.stdout)
    assert.matches("raycai%-gpu%-head .* 10m %(down%)", st.stdout)
    local l = run.raycai({ "list" }, { env = env, timeout = 60 })
    assert.equal(0, l.code, l.stderr)
    assert.matches("CLUSTER .* AUTOSTOP", l.stdout)
    assert.matches("gpu%s.* 10m %(down%)", l.stdout)
    -- the watcher re-read the file: armed for this head's generation
    assert.truthy(s:wait_for(function() local x = state() return x and x.verdict == "idle" end, 60,
                             "the watcher to count idle time"))
    r = raycai { "autostop", "--cancel" }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    l = run.raycai({ "list" }, { env = env, timeout = 60 })
    assert.matches("gpu%s.* —", l.stdout)
    assert.truthy(s:wait_for(function() local x = state() return x and x.verdict == "off" end, 60,
                             "the watcher to see autostop off"))
    -- nothing was rolled: the same head application, still running
    local now = cl.app_named(s, "raycai-gpu-head")
    assert.equal(head.id, now.id)
    assert.equal("APPLICATION_RUNNING", now.status)
  end)

  it("a submitted job keeps the cluster busy; autostop --cancel prevents the stop", function()
    local release = home .. "/release-1"
    hold_driver(release)
    local r = raycai { "autostop", "--idle-minutes", "0.01" }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    -- busy for many periods (0.6 s each) while the driver is connected: nothing stops
    assert.truthy(s:wait_for(function() local x = state() return busy_for(x) > 3 end, 120,
                             "the watcher to see the driver for 5 periods"))
    assert.truthy(every_app("APPLICATION_RUNNING"))
    r = raycai { "autostop", "--cancel" }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.truthy(s:wait_for(function() local x = state() return x and x.verdict == "off" end, 60, "autostop off"))
    assert(fs.write(release, "go"))
    assert.truthy(s:wait_for(function() local d = activity() return d and d.is_active == "INACTIVE" end, 120,
                             "the driver to end"))
    -- three more cycles of the watcher (off) after the driver ended: still running. Its state file
    -- changes only with what it says, so the spec changes the (off) settings it reads, again and
    -- again, until a write shows three more looks
    local c0, k = state().cycles, 0
    assert.truthy(s:wait_for(function()
      k = k + 1
      assert(fs.write(home .. "/.raycai/gpu/autostop.json", autostop.content("gpu", 0, false, "probe-" .. k, 600)))
      local seen = s:wait_for(function()
        local x = state()
        return x and x.settings and x.settings.generation == "probe-" .. k and x
      end, 60, "the watcher to read probe-" .. k)
      return seen and seen.verdict == "off" and seen.cycles >= c0 + 3
    end, 120, "three cycles"))
    assert.truthy(every_app("APPLICATION_RUNNING"))
    assert.not_matches("stopping", log())
  end)

  it("once the job ends, autostop suspends the idle cluster: every application STOPPED", function()
    local release = home .. "/release-2"
    hold_driver(release)
    local r = raycai { "autostop", "--idle-minutes", "0.01" }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.truthy(s:wait_for(function() return busy_for(state()) > 1.5 end,
                             120, "the watcher to see the driver"))
    assert.truthy(every_app("APPLICATION_RUNNING"))
    -- a neighbour whose name shares the prefix (cluster gpu-2): not this cluster's to stop
    local pid = cl.app_named(s, "raycai-gpu-head")._project_id
    assert(fs.write(home .. "/idle.py", "import time\ntime.sleep(600)\n"))
    local status, other = s:api("POST", "projects/" .. pid .. "/applications", {
      name = "raycai-gpu-2-head", subdomain = "raycai-gpu-2-head", script = "idle.py", cpu = 1, memory = 1,
      runtime_identifier = cl.app_named(s, "raycai-gpu-head").runtime_identifier,
      environment = { RAYCAI_CLUSTER = "gpu-2", RAYCAI_ROLE = "head" } })
    assert.equal(200, status, cjson.encode(other))
    -- the API drops the watcher's first two :stop requests (no answer): it logs and retries
    s:fault { match = { method = "POST", path_suffix = ":stop" }, action = "drop", count = 2 }
    assert(fs.write(release, "go"))
    assert.truthy(s:wait_for(function()
      for name, st in pairs((all_status())) do
        if name ~= "raycai-gpu-2-head" and st ~= "APPLICATION_STOPPED" then return false end
      end
      return true
    end, 120, "autostop to stop every application"))
    -- (it never opens its port, so it stays STARTING; the watcher sent it nothing)
    assert.not_matches("STOP", cl.app_named(s, "raycai-gpu-2-head").status)
    for _, q in ipairs(s:requests()) do assert.is_nil(q.path:find(other.id, 1, true), q.path) end
    assert.equal(200, (s:api("DELETE", "projects/" .. pid .. "/applications/" .. other.id)))
    local text = log()
    assert.equal(2, select(2, text:gsub("could not stop the cluster: POST [^\n]+:stop: the API is unreachable: "
      .. "[^\n]+; trying again in [%d%.]+ s", "")), text)
    assert.matches("no Ray driver activity for [%d%.]+ s %(autostop%.idle_minutes = 0%.01%): stopping 2 worker", text)
    assert.matches("stopping raycai%-gpu%-worker%-1.*stopping raycai%-gpu%-head", text)
    local lg = raycai { "logs", "autostop" }
    assert.equal(0, lg.code, lg.stderr)
    assert.matches("stopping raycai%-gpu%-head", lg.stdout)
    local st = raycai { "status" }
    assert.matches("cluster suspended", st.stdout)
    local l = run.raycai({ "list" }, { env = env, timeout = 60 })
    assert.matches("gpu%s.*suspended", l.stdout)
  end)

  it("resume re-arms it with the recipe's setting; down = true deletes the applications, the venv stays", function()
    local r = raycai({ "resume" }, { base = base_args(wheels, port, { "--set", "autostop.idle_minutes=0.01",
                                                                "--set", "autostop.down=true" }) })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    local auto = read_json(home .. "/.raycai/gpu/autostop.json")
    assert.equal(0.01, auto.idle_minutes)
    assert.is_true(auto.down)
    assert.equal(cl.env_of(cl.app_named(s, "raycai-gpu-head")).RAYCAI_GENERATION, auto.generation)
    assert.truthy(s:wait_for(function() return cl.count(cl.apps_of(s, "raycai-gpu-")) == 0 end, 120,
                             "autostop to delete every application"))
    assert.matches("deleting 2 worker application%(s%), then the head %(autostop%.down = true%)", log())
    local venvs = fs.list(home .. "/.raycai/venvs") or {}
    assert.truthy(#venvs > 0, "the venv folder is kept")
    assert.truthy(fs.read(home .. "/.raycai/gpu/head.py"), "the launchers are kept")
  end)
end)

