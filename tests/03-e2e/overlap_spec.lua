-- Issue 17: overlap = none | head | all. Timer mode: the order of the creates in the
-- simulator's request log follows the mode. Exec mode (the setup job and the launchers really
-- run, with the stub Ray): the launchers started early wait for their venv and the cluster comes
-- up; a setup failure while they wait is reported as the setup's (with its log tail) and removes
-- them (or keeps them with keep_partial: their launchers exit on the failure marker); Ctrl-C
-- during the overlapped wait exits 130 and the next up converges; a re-run mutates nothing.
-- Order and outcome only, never durations.
local sim = require "support.sim"
local exec = require "support.exec"
local run = require("support.run")
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local cluster = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local raycai = run.raycai


--- Indexes in the request log: application creates, and the last look at a setup job run.
local function order(s)
  local creates, last_run_get = {}, nil
  for i, r in ipairs(s:requests()) do
    if r.method == "POST" and r.path:match("/applications$") then creates[#creates + 1] = i end
    if r.method == "GET" and r.path:match("/jobs/[^/]+/runs/[^/]+$") then last_run_get = i end
  end
  return creates, last_run_get
end


describe("overlap in timer mode", function()
  local s
  before_each(function()
    -- the setup run outlasts an application's start, as pip does on a real workspace
    s = sim.start { delays = { job_running = 1500, app_start = 50, job_scheduling = 10, job_starting = 10 } }
  end)
  after_each(function() if s then s:stop() end end)

  local function up(mode)
    local r = raycai({ "--set", "overlap=" .. mode, "--set", "workers=3", GPU },
                     { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("workers:%s+3/3 running", r.stdout)
    return r
  end

  it("none: every application is created after the setup run ended", function()
    local r = up("none")
    local creates, last = order(s)
    assert.equal(4, #creates)
    assert.is_true(creates[1] > last, "the head was created before the setup run's end was seen")
    assert.matches("time:%s+setup [%d.]+ s, head start [%d.]+ s, workers [%d.]+ s, total", r.stdout)
  end)

  it("head: the head is created while the setup job runs, the workers after it", function()
    local r = up("head")
    local creates, last = order(s)
    assert.equal(4, #creates)
    assert.is_true(creates[1] < last, "the head should be created before the setup run's end is seen")
    assert.is_true(creates[2] > last, "workers should wait for the setup and the head")
    assert.matches("time:%s+setup [%d.]+ s ‖ head start [%d.]+ s, workers [%d.]+ s, total", r.stdout)
  end)

  it("all: head and workers are created while the setup job runs", function()
    local r = up("all")
    local creates, last = order(s)
    assert.equal(4, #creates)
    assert.is_true(creates[4] < last, "every create should come before the setup run's end is seen")
    assert.matches("time:%s+setup [%d.]+ s ‖ head start [%d.]+ s ‖ workers [%d.]+ s, total", r.stdout)
  end)

  it("a bad overlap value is a usage error that changes nothing", function()
    local r = raycai({ "--set", "overlap=some", GPU }, { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } })
    assert.equal(2, r.code)
    assert.matches("overlap", r.stderr)
    assert.same({}, cluster.mutations(s))
  end)
end)


describe("overlap in exec mode", function()
  local s, wheels

  setup(function()
    wheels = exec.wheels()
  end)
  teardown(function() if wheels then fs.remove(wheels, { recursive = true }) end end)
  before_each(function()
    s = exec.sim()
  end)
  after_each(function() if s then s:stop() end end)

  local function env() return { CML_HOST = s.url, CML_API_KEY = s.api_key } end

  local function args(extra)
    local a = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. require("support.ports").free(),
                "--set", "overlap=all", "--set", "workers=2", "--set", "timeouts.head=120",
                "--set", "timeouts.workers=120" }
    for _, x in ipairs(extra or {}) do a[#a + 1] = x end
    a[#a + 1] = GPU
    return a
  end

  local function gone(prefix)
    s:wait_for(function() return next(cluster.apps_of(s, prefix)) == nil end, 60, "applications removed")
  end

  it("the launchers wait for the venv and the cluster comes up; a re-run mutates nothing", function()
    local a = args()
    local r = raycai(a, { env = env(), timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("workers:%s+2/2 running", r.stdout)
    local head = cluster.app_named(s, "raycai-gpu-head")
    local log = assert(s:log("applications", head.id))
    -- started before the venv existed: it said so, then went on once the marker was there
    assert.matches("waiting for the venv", log)
    assert.matches("is ready after", log)
    assert.matches("Ray runtime started", log)
    local w = cluster.app_named(s, "raycai-gpu-worker-1")
    assert.matches("waiting for the venv", assert(s:log("applications", w.id)))
    s:clear_requests()
    local again = raycai(a, { env = env(), timeout = 120 })
    assert.equal(0, again.code, again.stderr)
    assert.same({}, cluster.mutations(s))
    assert.equal(0, raycai({ "--purge", GPU, "down" }, { env = env(), timeout = 120 }).code)
  end)

  it("a setup failure while head and workers wait is the setup's, with its log tail; they are removed", function()
    local r = raycai(args { "--set", "ray.packages=no-such-package-raycai==1.0" }, { env = env(), timeout = 300 })
    assert.equal(1, r.code, r.stdout)
    assert.matches("setup job raycai%-gpu%-setup[%w%-]* run %S+ ended ENGINE_FAILED", r.stderr)
    assert.matches("last lines of", r.stderr)
    assert.matches("no%-such%-package%-raycai", r.stderr)
    assert.matches("removed the 3 application%(s%) started early", r.stderr)
    assert.not_matches("could not start the head", r.stderr)
    gone("raycai-gpu-")
  end)

  it("with keep_partial the waiting launchers exit at once on the setup's failure marker", function()
    local r = raycai(args { "--set", "ray.packages=no-such-package-raycai==1.0", "--set", "keep_partial=true" },
                     { env = env(), timeout = 300 })
    assert.equal(1, r.code, r.stdout)
    assert.matches("ended ENGINE_FAILED", r.stderr)
    assert.matches("kept the 3 application%(s%) started early", r.stderr)
    -- each launcher read the failure marker (not its timeouts.setup of 1800 s) and exited
    for _, name in ipairs { "raycai-gpu-head", "raycai-gpu-worker-1", "raycai-gpu-worker-2" } do
      local a = s:wait_for(function()
        local x = cluster.app_named(s, name)
        return x and x.status == "APPLICATION_FAILED" and x
      end, 120, name .. " to fail")
      assert.matches("the setup job failed, so Ray cannot start", assert(s:log("applications", a.id)))
    end
  end)

  it("Ctrl-C during the overlapped wait exits 130 and the next up converges", function()
    local out = os.tmpname()
    local argv = { run.exe }
    for _, x in ipairs(args()) do argv[#argv + 1] = x end
    argv.env, argv.stdout, argv.stderr, argv.kill_on_close = env(), out, out, true
    local p = assert(proc.spawn(argv))
    -- the head and workers exist while the setup job still runs
    s:wait_for(function()
      local w = cluster.app_named(s, "raycai-gpu-worker-2")
      if not w then return false end
      for _, j in ipairs(s:state().runs or {}) do
        if j.status == "ENGINE_SUCCEEDED" then return false end
      end
      return true
    end, 120, "workers created during the setup")
    p:kill("INT")
    local code = p:wait(120)
    p:close()
    local text = fs.read(out) or ""
    os.remove(out)
    assert.equal(130, code, text)
    local r = raycai(args(), { env = env(), timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("workers:%s+2/2 running", r.stdout)
  end)
end)
