-- Issue 17, item 2: overlap applies whenever the cluster has no application (a new cluster in
-- an existing project, a cluster after down), not only in a project this run created; a cluster
-- with applications keeps its launchers until the new venv is built; overlap=all creates the
-- workers of every group early. Timer mode (no marker is ever written, so every up runs the
-- setup job): order of requests in the simulator's request log, never durations.
local sim = require "support.sim"
local run = require("support.run")
local cluster = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local MIXED = "recipes/mixed_cluster.lua"


--- Indexes in the request log since the last clear: application creates, uploads of a launcher
--- (head.py/worker.py), the last look at a setup job run.
local function order(s)
  local creates, launchers, last_run_get = {}, {}, nil
  for i, r in ipairs(s:requests()) do
    if r.method == "POST" and r.path:match("/applications$") then creates[#creates + 1] = i end
    if r.method == "POST" and r.path:match("/files$") and ((r.body or ""):find("/head.py", 1, true)
                                                             or (r.body or ""):find("/worker.py", 1, true)) then
      launchers[#launchers + 1] = i
    end
    if r.method == "GET" and r.path:match("/jobs/[^/]+/runs/[^/]+$") then last_run_get = i end
  end
  return creates, launchers, last_run_get
end


describe("overlap outside a project this run created", function()
  local s
  before_each(function()
    -- the setup run outlasts an application's start, as pip does on a real workspace
    s = sim.start { delays = { job_running = 1500, app_start = 50, job_scheduling = 10, job_starting = 10 } }
  end)
  after_each(function() if s then s:stop() end end)

  local function raycai(args)
    local r = run.raycai(args, { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    return r
  end

  it("a cluster after down: the head is created while the setup job runs", function()
    raycai({ "--set", "overlap=none", "--set", "workers=2", GPU })
    raycai({ "--set", "workers=2", GPU, "down" })
    s:clear_requests()
    local r = raycai({ "--set", "overlap=head", "--set", "workers=2", GPU })
    assert.matches("workers:%s+2/2 running", r.stdout)
    local creates, _, last = order(s)
    assert.equal(3, #creates)
    assert.truthy(last, "the setup job should run again (no marker in timer mode)")
    assert.is_true(creates[1] < last, "the head should be created before the setup run's end is seen")
    assert.is_true(creates[2] > last, "workers should wait for the setup and the head")
  end)

  it("a new cluster in an existing project: overlap=all creates everything during the setup run", function()
    raycai({ "--set", "workers=1", "--set", "cluster=first", GPU })
    s:clear_requests()
    local r = raycai({ "--set", "overlap=all", "--set", "workers=2", "--set", "cluster=second", GPU })
    assert.matches("workers:%s+2/2 running", r.stdout)
    local creates, _, last = order(s)
    assert.equal(3, #creates)
    assert.is_true(creates[3] < last, "every create should come before the setup run's end is seen")
    -- the other cluster is untouched
    assert.equal(2, cluster.count(cluster.apps_of(s, "raycai-first-")))
  end)

  it("a running cluster whose venv changes keeps its launchers and applications until the setup succeeded", function()
    raycai({ "--set", "overlap=all", "--set", "workers=2", GPU })
    s:clear_requests()
    local r = raycai({ "--set", "overlap=all", "--set", "workers=2", "--set", "ray.packages=torch==2.5.1", GPU })
    assert.matches("workers:%s+2/2 running", r.stdout)
    local creates, launchers, last = order(s)
    assert.truthy(last)
    assert.is_true(#launchers >= 1, "the launchers name the new venv: they are rewritten")
    for _, i in ipairs(launchers) do assert.is_true(i > last, "a launcher was rewritten during the setup run") end
    assert.equal(3, #creates, "head and workers are replaced (new venv, new generation)")
    for _, i in ipairs(creates) do assert.is_true(i > last, "an application was created during the setup run") end
  end)

  it("overlap=all creates the workers of every group during the setup run", function()
    local r = raycai({ "--set", "overlap=all", "--set", "workers=2", "--set", "groups.cpu.workers=2", MIXED })
    assert.matches("workers:%s+4/4 running", r.stdout)
    local creates, _, last = order(s)
    assert.equal(5, #creates, "head, 2 GPU workers, 2 CPU workers")
    for _, i in ipairs(creates) do assert.is_true(i < last, "a create came after the setup run's end") end
    local created = {}
    for _, r2 in ipairs(s:requests()) do
      if r2.method == "POST" and r2.path:match("/applications$") then
        created[#created + 1] = (r2.body or ""):match('"name"%s*:%s*"([^"]+)"')
      end
    end
    table.sort(created)
    assert.same({ "raycai-mixed-cpu-1", "raycai-mixed-cpu-2", "raycai-mixed-head", "raycai-mixed-worker-1",
                  "raycai-mixed-worker-2" }, created)
  end)
end)


describe("overlap: waiting on several things in one round", function()
  local s
  before_each(function()
    s = sim.start { delays = { job_running = 1500, app_start = 50, job_scheduling = 10, job_starting = 10 } }
  end)
  after_each(function() if s then s:stop() end end)

  it("overlap=all: one applications listing after the setup's end serves the head's and the workers' wait", function()
    local r = run.raycai({ "--set", "overlap=all", "--set", "workers=3", GPU },
                         { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("workers:%s+3/3 running", r.stdout)
    -- a project this run created has nothing to list before: every listing is a wait's look
    local listings = 0
    for _, q in ipairs(s:requests()) do
      if q.method == "GET" and q.path:match("/applications$") then listings = listings + 1 end
    end
    assert.equal(1, listings, "the head's and the workers' waits each listed the applications again")
  end)

  it("an existing project: the listing that saw the early head running is start_workers' read", function()
    local env = { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } }
    local r = run.raycai({ "--set", "workers=1", "--set", "cluster=first", GPU }, env)
    assert.equal(0, r.code, r.stderr .. r.stdout)
    s:clear_requests()
    r = run.raycai({ "--set", "overlap=head", "--set", "workers=2", "--set", "cluster=second", GPU }, env)
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("workers:%s+2/2 running", r.stdout)
    -- the setup runs outlast the head's start: the round after the setup's end lists the
    -- applications (the head RUNNING there), and that listing is also start_workers' read: one
    -- listing between the head's create and the workers', not two
    local head_create, worker_create
    local creates = 0
    for i, q in ipairs(s:requests()) do
      if q.method == "POST" and q.path:match("/applications$") then
        creates = creates + 1
        if creates == 1 then head_create = i elseif creates == 2 then worker_create = i end
      end
    end
    assert.truthy(head_create and worker_create, "the head's and the workers' creates should be in the log")
    local listings = 0
    for i = head_create, worker_create do
      local q = s:requests()[i]
      if q.method == "GET" and q.path:match("/applications$") then listings = listings + 1 end
    end
    assert.equal(1, listings, "start_workers listed the applications again after the head's look")
  end)
end)


describe("setup jobs of several runtimes", function()
  local s
  before_each(function() s = sim.start { delays = { job_running = 50, app_start = 50 } } end)
  after_each(function() if s then s:stop() end end)

  it("run side by side: every runtime's job is created before any run starts", function()
    -- the GPU recipe's head and workers use two runtimes: two venvs, two setup jobs
    local r = run.raycai({ "--set", "workers=1", GPU }, { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    local jobs, first_run = {}, nil
    for i, q in ipairs(s:requests()) do
      if q.method == "POST" and q.path:match("/jobs$") then jobs[#jobs + 1] = i end
      if q.method == "POST" and q.path:match("/jobs/[^/]+/runs$") then first_run = first_run or i end
    end
    assert.equal(2, #jobs)
    assert.is_true(jobs[2] < first_run, "the second runtime's job was created after the first run started")
  end)
end)
