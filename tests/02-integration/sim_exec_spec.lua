-- cml-sim --exec: applications and job runs really run `python3 <script>` in the project folder
-- with the CDSW_* environment; RUNNING once the app port accepts, FAILED when the process
-- exits; runs end by exit code; stop, delete and shutdown end the process group.
local sim = require "support.sim"
local cjson = require "cjson"

local KEY = "exec-secret-key-24680"

local APP = [[
import json, os, socket, sys
name = os.environ.get("NAME", "app")
with open("env-%s.json" % name, "w") as f:
    json.dump(dict(os.environ), f)
with open("%s.pid" % name, "w") as f:
    f.write(str(os.getpid()))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(os.environ["CDSW_APP_PORT"])))
s.listen(5)
print("listening on", os.environ["CDSW_APP_PORT"], flush=True)
while True:
    c, _ = s.accept()
    c.close()
]]

local EXITS = [[
import sys
print("giving up", flush=True)
sys.exit(3)
]]

local JOB = [[
import json, os, sys
with open("job-env.json", "w") as f:
    json.dump(dict(os.environ), f)
print("args", " ".join(sys.argv[1:]), flush=True)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
]]

-- the pid file appears whole (written, then renamed), so the spec never reads it half-written
local SLEEPY = [[
import os, time
with open("sleepy.pid.tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename("sleepy.pid.tmp", "sleepy.pid")
time.sleep(60)
]]


local function alive(pid)
  return os.execute("kill -0 " .. math.tointeger(pid) .. " 2>/dev/null") == true
end


describe("cml-sim exec mode", function()
  local s, pid, apps, jobs

  setup(function()
    s = sim.start { exec = true, api_key = KEY, delays = { job_scheduling = 10, job_starting = 10, kill_grace = 500 } }
    local p = s:new_project("exec", { ["app.py"] = APP, ["exits.py"] = EXITS, ["job.py"] = JOB,
                                      ["sleepy.py"] = SLEEPY },
                            { environment = { FROM_PROJECT = "p", OVERRIDE = "project" } })
    pid = p.id
    apps = "projects/" .. pid .. "/applications"
    jobs = "projects/" .. pid .. "/jobs"
  end)

  teardown(function()
    s:stop()
  end)

  local function file(path)
    local status, _, raw = s:api("POST", "projects/" .. pid .. "/files/" .. path .. ":download")
    return status == 200 and raw or nil
  end

  local function create_app(name, script, env)
    local e = { NAME = name }
    for k, v in pairs(env or {}) do e[k] = v end
    local status, a = s:api("POST", apps, { name = name, subdomain = name, script = script or "app.py",
      runtime_identifier = sim.RUNTIME, environment = e, cpu = 2, memory = 3 })
    assert.equal(200, status, cjson.encode(a))
    return a
  end

  local function app_status(id, want)
    return s:wait_for(function()
      local _, a = s:api("GET", apps .. "/" .. id)
      return a.status == want and a, a.status
    end, 15, want)
  end

  local function run_job(name, script, args, timeout)
    local _, j = s:api("POST", jobs, { name = name, script = script, arguments = args,
      runtime_identifier = sim.RUNTIME, timeout = timeout, kill_on_timeout = timeout ~= nil,
      environment = { JOBVAR = "j" } })
    local _, r = s:api("POST", jobs .. "/" .. j.id .. "/runs", { environment = { RUNVAR = "r" } })
    local final = s:wait_for(function()
      local _, g = s:api("GET", jobs .. "/" .. j.id .. "/runs/" .. r.id)
      local done = g.status == "ENGINE_SUCCEEDED" or g.status == "ENGINE_FAILED" or g.status == "ENGINE_TIMEDOUT"
      return done and g, g.status
    end, 20, name .. " to finish")
    return final, j
  end

  it("calls an application RUNNING once its CDSW_APP_PORT accepts connections", function()
    local a = create_app("web")
    assert.equal("APPLICATION_STARTING", a.status)
    app_status(a.id, "APPLICATION_RUNNING")
    assert.matches("listening on", s:log("applications", a.id))
  end)

  it("gives the workload the CDSW environment, project then application variables, the key only as CDSW_APIV2_KEY", function()
    local a = create_app("envy", nil, { OVERRIDE = "app" })
    app_status(a.id, "APPLICATION_RUNNING")
    local env = cjson.decode((assert(file("env-envy.json"))))
    local dir = s:state().work_dir .. "/projects/" .. pid
    assert.equal("exec", env.CDSW_PROJECT)
    assert.equal(pid, env.CDSW_PROJECT_ID)
    assert.matches("^127%.0%.0%.%d+$", env.CDSW_IP_ADDRESS)  -- the workload's own loopback address
    assert.not_equal("127.0.0.1", env.CDSW_IP_ADDRESS)
    assert.equal("ml-sim.example.com", env.CDSW_DOMAIN)
    assert.equal(s.url .. "/api/v1", env.CDSW_API_URL)
    assert.equal("2000", env.CDSW_CPU_MILLICORES)
    assert.equal("3072", env.CDSW_MEMORY_MB)
    assert.matches("^%d+$", env.CDSW_APP_PORT)
    assert.matches("^%d+$", env.CDSW_READONLY_PORT)
    assert.matches("^[a-z0-9]+$", env.CDSW_ENGINE_ID)
    assert.equal(dir, env.HOME)
    assert.equal(dir, env.CDSW_HOME)
    assert.is_string(env.PATH)
    assert.equal("p", env.FROM_PROJECT)
    assert.equal("app", env.OVERRIDE)
    -- (issue 16) the user's API v2 key, as CML gives workloads (the autostop watcher uses it),
    -- and in no other variable
    assert.equal(KEY, env.CDSW_APIV2_KEY)
    for k, v in pairs(env) do
      if k ~= "CDSW_APIV2_KEY" then assert.is_nil(v:find(KEY, 1, true), k) end
    end
  end)

  it("gives each workload its own engine id and app port", function()
    local a1, a2 = create_app("twin-a"), create_app("twin-b")
    app_status(a1.id, "APPLICATION_RUNNING")
    app_status(a2.id, "APPLICATION_RUNNING")
    local e1 = cjson.decode(file("env-twin-a.json"))
    local e2 = cjson.decode(file("env-twin-b.json"))
    assert.are_not.equal(e1.CDSW_ENGINE_ID, e2.CDSW_ENGINE_ID)
    assert.are_not.equal(e1.CDSW_APP_PORT, e2.CDSW_APP_PORT)
  end)

  it("fails an application whose process exits", function()
    local a = create_app("quitter", "exits.py")
    app_status(a.id, "APPLICATION_FAILED")
    assert.matches("giving up", s:log("applications", a.id))
  end)

  it("ends the process on delete", function()
    local a = create_app("deleted")
    app_status(a.id, "APPLICATION_RUNNING")
    local p = tonumber(file("deleted.pid"))
    assert.is_true(alive(p))
    assert.equal(200, (s:api("DELETE", apps .. "/" .. a.id)))
    s:wait_for(function() return not alive(p) end, 5, "process gone")
  end)

  it("ends the process on stop and starts a new one on restart", function()
    local a = create_app("cycler")
    app_status(a.id, "APPLICATION_RUNNING")
    local p1 = tonumber(file("cycler.pid"))
    s:api("POST", apps .. "/" .. a.id .. ":stop")
    app_status(a.id, "APPLICATION_STOPPED")
    assert.is_false(alive(p1))
    s:api("POST", apps .. "/" .. a.id .. ":restart")
    app_status(a.id, "APPLICATION_RUNNING")
    local p2 = tonumber(file("cycler.pid"))
    assert.are_not.equal(p1, p2)
    assert.is_true(alive(p2))
  end)

  it("fails a running application named in fail_application and ends its process", function()
    local a = create_app("shot")
    app_status(a.id, "APPLICATION_RUNNING")
    local p = tonumber(file("shot.pid"))
    s:control("POST", "/_sim/fail_application", { name = "shot" })
    app_status(a.id, "APPLICATION_FAILED")
    s:wait_for(function() return not alive(p) end, 5, "process gone")
  end)

  it("ends a job run SUCCEEDED on exit 0 and FAILED on exit 1, with its arguments", function()
    local ok = run_job("pass", "job.py", "0 first")
    assert.equal("ENGINE_SUCCEEDED", ok.status)
    assert.matches("args 0 first", s:log("runs", ok.id))
    local env = cjson.decode(file("job-env.json"))
    assert.equal("j", env.JOBVAR)
    assert.equal("r", env.RUNVAR)
    assert.equal("exec", env.CDSW_PROJECT)
    local bad = run_job("fail", "job.py", "1")
    assert.equal("ENGINE_FAILED", bad.status)
  end)

  it("kills a run that outlives its timeout and ends it TIMEDOUT", function()
    -- a timeout long enough for python to start and write its pid on a loaded machine, far
    -- shorter than the script's 60 s
    local r = run_job("sleepy", "sleepy.py", nil, 5)
    assert.equal("ENGINE_TIMEDOUT", r.status)
    local p = tonumber(file("sleepy.pid"))
    s:wait_for(function() return not alive(p) end, 5, "sleepy gone")
  end)

  it("fails a run whose interpreter is missing", function()
    local other = sim.start { exec = true, python = "/nonexistent/python3",
                              delays = { job_scheduling = 10, job_starting = 10 } }
    local p = other:new_project("nopy", { ["job.py"] = JOB })
    local base = "projects/" .. p.id .. "/jobs"
    local _, j = other:api("POST", base, { name = "j", script = "job.py", runtime_identifier = sim.RUNTIME })
    local _, r = other:api("POST", base .. "/" .. j.id .. "/runs", {})
    other:wait_for(function()
      local _, g = other:api("GET", base .. "/" .. j.id .. "/runs/" .. r.id)
      return g.status == "ENGINE_FAILED", g.status
    end, 10, "failed run")
    other:stop()
  end)

  it("starts the applications again after a restart with the same state dir", function()
    local dir = os.tmpname()
    os.remove(dir)
    local other = sim.start { exec = true, state_dir = dir, delays = { kill_grace = 500 } }
    local p = other:new_project("again", { ["app.py"] = APP })
    local base = "projects/" .. p.id .. "/applications"
    local _, a = other:api("POST", base, { name = "again", subdomain = "again", script = "app.py",
      runtime_identifier = sim.RUNTIME, environment = { NAME = "again" } })
    local function running()
      return other:wait_for(function()
        local _, g = other:api("GET", base .. "/" .. a.id)
        return g.status == "APPLICATION_RUNNING", g.status
      end, 15, "running")
    end
    local function pid_of()
      return tonumber((select(3, other:api("POST", "projects/" .. p.id .. "/files/again.pid:download"))))
    end
    running()
    local before = pid_of()
    other:restart()
    running()
    local after = pid_of()
    assert.are_not.equal(before, after)
    assert.is_true(alive(after))
    other:stop()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("ends its workloads when it shuts down", function()
    local other = sim.start { exec = true, delays = { kill_grace = 500 } }
    local p = other:new_project("bye", { ["app.py"] = APP })
    local base = "projects/" .. p.id .. "/applications"
    local _, a = other:api("POST", base, { name = "bye", subdomain = "bye", script = "app.py",
      runtime_identifier = sim.RUNTIME, environment = { NAME = "bye" } })
    other:wait_for(function()
      local _, g = other:api("GET", base .. "/" .. a.id)
      return g.status == "APPLICATION_RUNNING", g.status
    end, 15, "running")
    local _, _, raw = other:api("POST", "projects/" .. p.id .. "/files/bye.pid:download")
    local child = tonumber(raw)
    assert.is_true(alive(child))
    assert.equal(0, other:stop())
    assert.is_false(alive(child))
  end)
end)
