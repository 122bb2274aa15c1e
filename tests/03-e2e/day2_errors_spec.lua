-- The day-2 actions' failures (job, submit, logs, env, suspend, resume, autostop, list): exit 2
-- for the user's input or a step they must take first (the message names it), exit 1 when CML
-- failed to answer: never a usage error for a failure of the world, never a stack trace.
-- A timer-mode simulator: the files a launcher would write are uploaded by the spec.
local sim = require "support.sim"
local run = require "support.run"
local proc = require "raycai.proc"
local fs = require "raycai.fs"

local GPU = "recipes/gpu_cluster.lua"
local LOGS = ".raycai/gpu/logs/"


describe("day-2 failures", function()
  local s, env, project

  setup(function()
    s = sim.start { exec = false, delays = { app_start = 10, app_stop = 10, job_scheduling = 10,
                                             job_starting = 10, job_running = 10 } }
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    local r = run.raycai({ "--set", "project=errs", "--set", "workers=1", GPU }, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    for _, p in ipairs(s:state().projects) do if p.name == "errs" then project = p end end
    for dest, content in pairs {
      [LOGS .. "head.log"] = "head line 1\n",
      [".raycai/gpu/jobs/one/spec.json"] = '{"submission_id":"one","entrypoint":"python x.py"}\n',
      [".raycai/gpu/jobs/one/status.json"] = '{"status":"SUCCEEDED","exit_code":0}\n',
      [".raycai/gpu/jobs/one/output.log"] = "out\n",
    } do
      assert.equal(200, (s:upload(project.id, dest, content)))
    end
  end)

  teardown(function() if s then s:stop() end end)

  local function raycai(args, extra)
    local argv = { "--set", "project=errs" }
    for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
    argv[#argv + 1] = GPU
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local r = run.raycai(argv, { env = env, timeout = 120 })
    assert.not_matches("stack traceback", r.stderr)
    return r
  end

  --- a one-line error: the last line of stderr, starting "error: "
  local function one_error(r)
    local line = r.stderr:match("error: ([^\n]*)\n?$")
    assert.truthy(line, r.stderr)
    return line
  end

  it("env of a cluster whose head never published head.json exits 2 and says how to rehearse", function()
    local r = raycai { "env" }
    assert.equal(2, r.code, r.stderr)
    local msg = one_error(r)
    assert.matches("has not published %.raycai/gpu/head%.json yet", msg)
    assert.matches("runs no scripts", msg)
    assert.matches("rehearse env in exec mode", msg)
    assert.equal("", r.stdout)
  end)

  -- (the runner's needs look the project up and check the parameters before the action runs;
  -- these two pin the exit codes whichever part finds the failure)
  it("a project lookup CML does not answer exits 1 (not 2) for every day-2 action", function()
    s:fault { match = { method = "GET", path = "/api/v2/projects" }, action = "status", status = 500, count = -1 }
    local ok, err = pcall(function()
      for _, args in ipairs { { "job", "list" }, { "env" }, { "logs" }, { "submit", "--", "python", "x.py" },
                              { "suspend" }, { "autostop" }, { "resume" } } do
        local r = raycai(args)
        assert.equal(1, r.code, table.concat(args, " ") .. ": " .. r.stderr)
        assert.matches("could not look up project errs", one_error(r), table.concat(args, " "))
      end
    end)
    s:clear_faults()
    assert(ok, err)
  end)

  it("a bad cluster name exits 2 for suspend, resume and autostop too", function()
    for _, args in ipairs { { "suspend" }, { "resume" }, { "autostop" }, { "job", "list" } } do
      local r = raycai(args, { "--set", "cluster=Bad_Name" })
      assert.equal(2, r.code, table.concat(args, " ") .. ": " .. r.stderr)
    end
  end)

  it("logs whose folder CML cannot list exits 1 naming the folder, not 2 'no logs'", function()
    s:fault { match = { method = "GET", path_suffix = "/files/.raycai/gpu/logs" }, action = "status", status = 500,
              count = -1 }
    local r = raycai { "logs", "head" }
    s:clear_faults()
    assert.equal(1, r.code, r.stderr)
    assert.matches("^could not list %.raycai/gpu/logs", one_error(r))
    r = raycai { "logs", "head" }
    assert.equal(0, r.code, r.stderr)
    assert.equal("head line 1\n", r.stdout)
  end)

  it("logs -f exits 1 with a message when CML stops answering (130 is for Ctrl-C)", function()
    local out = os.tmpname()
    local p = assert(proc.spawn { run.exe, "--set", "project=errs", GPU, "logs", "head", "-f", env = env,
                                  stdout = out, stderr = out, kill_on_close = true })
    s:wait_for(function() return (fs.read(out) or ""):find("head line 1", 1, true) end, 60, "the log printed")
    s:fault { match = { method = "GET", path_suffix = "/files/.raycai/gpu/logs" }, action = "status", status = 500,
              count = -1 }
    local code = p:wait(60)
    p:close()
    s:clear_faults()
    local text = fs.read(out) or ""
    os.remove(out)
    assert.equal(1, code, text)
    assert.matches("error: could not follow %.raycai/gpu/logs", text)
  end)

  it("job logs ID whose output CML cannot send exits 1; a missing output is empty", function()
    s:fault { match = { method = "POST", path_suffix = "one/output.log:download" }, action = "status", status = 500,
              count = -1 }
    local r = raycai { "job", "logs", "one" }
    s:clear_faults()
    assert.equal(1, r.code, r.stderr)
    assert.matches("^could not download %.raycai/gpu/jobs/one/output%.log", one_error(r))
    assert.equal("out\n", raycai({ "job", "logs", "one" }).stdout)
  end)

  it("job list whose folder CML cannot list exits 1 naming it (was 'no submissions', exit 0)", function()
    s:fault { match = { method = "GET", path_suffix = "/files/.raycai/gpu/jobs" }, action = "status", status = 500,
              count = -1 }
    local r = raycai { "job", "list" }
    local st = raycai { "job", "status", "one", "--json" }
    s:clear_faults()
    assert.equal(1, r.code, r.stdout .. r.stderr)
    assert.matches("^could not list %.raycai/gpu/jobs", one_error(r))
    assert.not_matches("no submissions", r.stdout)
    assert.equal(0, st.code, st.stderr)  -- one submission's own folder is still listed
    r = raycai { "job", "list" }
    assert.equal(0, r.code, r.stderr)
    assert.matches("\none%s+SUCCEEDED", r.stdout)
  end)

  it("logs --out-dir that cannot be made exits 2 with one line and writes nothing", function()
    local file = os.tmpname()
    local r = raycai { "logs", "--out-dir", file .. "/sub" }
    os.remove(file)
    assert.equal(2, r.code, r.stderr)
    assert.matches("^%-%-out%-dir .*/sub: .*; give a folder you can write$", one_error(r))
    assert.equal("", r.stdout)
  end)

  it("run exits with up's own code: 2 for a recipe error found before any change (was 1)", function()
    local before = #s:state().projects
    local r = raycai({ "run", "--", "python", "x.py" }, { "--set", "project=py313", "--set", "ray.version=2.40.0",
                       "--set", "insecure_ray=true", "--set", "python.kernel=Python 3.13" })
    assert.equal(2, r.code, r.stderr)
    assert.matches("Ray 2%.40%.0 has no wheels for Python 3%.13", r.stderr)
    assert.equal(before, #s:state().projects)
  end)

  it("an argument a day-2 action does not take exits 2 naming what it takes", function()
    local r = raycai { "job", "list", "extra" }
    assert.equal(2, r.code)
    assert.matches("unexpected argument 'extra' for job list; use job list, job status ID", one_error(r))
    r = raycai { "env", "x" }
    assert.equal(2, r.code)
    assert.matches("unexpected argument 'x' for env; it takes none", one_error(r))
    r = raycai { "suspend", "x" }
    assert.equal(2, r.code)
    assert.matches("it takes none", one_error(r))
    r = run.raycai({ "list", "x" }, { env = env })
    assert.equal(2, r.code)
    assert.matches("for list; it takes %-%-project P or %-%-all%-projects", one_error(r))
  end)
end)
