-- cml-sim: jobs and job runs: CRUD, run lifecycle with timestamps, one active run per job, stop,
-- fail_job, timeouts, dependent jobs, run lists.
local sim = require "support.sim"
local cjson = require "cjson"


describe("cml-sim jobs", function()
  local s, pid, base

  setup(function()
    s = sim.start { delays = { job_scheduling = 50, job_starting = 50, job_running = 150, job_stop = 50 } }
    pid = s:new_project("jobs", { ["job.py"] = "print(1)\n", ["other.py"] = "print(2)\n" }).id
    base = "projects/" .. pid .. "/jobs"
  end)

  teardown(function()
    s:stop()
  end)

  local function create(name, extra)
    local b = { name = name, script = "job.py", runtime_identifier = sim.RUNTIME }
    for k, v in pairs(extra or {}) do b[k] = v end
    local status, j = s:api("POST", base, b)
    assert.equal(200, status, cjson.encode(j))
    return j
  end

  local function start_run(job, body)
    local status, r = s:api("POST", base .. "/" .. job.id .. "/runs", body or {})
    assert.equal(200, status, cjson.encode(r))
    return r
  end

  local function run_of(job, r)
    local _, g = s:api("GET", base .. "/" .. job.id .. "/runs/" .. r.id)
    return g
  end

  local function final(job, r)
    return s:wait_for(function()
      local g = run_of(job, r)
      local st = g.status
      local done = st == "ENGINE_SUCCEEDED" or st == "ENGINE_FAILED" or st == "ENGINE_STOPPED"
        or st == "ENGINE_TIMEDOUT"
      return done and g, st
    end, 5, "run to finish")
  end

  it("creates a job with int64 fields as strings and environment as a JSON string", function()
    local j = create("build", { timeout = 3600, cpu = 2, memory = 8, environment = { V = "1" }, arguments = "a b" })
    assert.equal("3600", j.timeout)
    assert.equal("0", j.engine_image_id)
    assert.equal("manual", j.type)
    assert.equal(2, j.cpu)
    assert.equal(8, j.memory)
    assert.equal("a b", j.arguments)
    assert.same({ V = "1" }, cjson.decode(j.environment))
    assert.equal("jobs", j.project.name)
    assert.equal("ml_runtime", j.project.default_project_engine)
    local status, g = s:api("GET", base .. "/" .. j.id)
    assert.equal(200, status)
    assert.equal(j.id, g.id)
    assert.same({}, j.runtime_addon_identifiers)
  end)

  it("keeps the strings of runtime_addon_identifiers, as for applications", function()
    local j = create("addons", { runtime_addon_identifiers = { "hadoop-cli", 7, { x = 1 }, "spark" } })
    assert.same({ "hadoop-cli", "spark" }, j.runtime_addon_identifiers)
  end)

  it("validates name, script and runtime like applications", function()
    assert.equal(400, (s:api("POST", base, { script = "job.py", runtime_identifier = sim.RUNTIME })))
    local status, b = s:api("POST", base, { name = "x", script = "nope.py", runtime_identifier = sim.RUNTIME })
    assert.equal(400, status)
    assert.matches("nope.py", b.message, 1, true)
    status, b = s:api("POST", base, { name = "x", script = "job.py" })
    assert.equal(400, status)
    assert.equal("runtime image must be specified", b.message)
  end)

  it("updates and deletes a job", function()
    local j = create("editable")
    local status, u = s:api("PATCH", base .. "/" .. j.id,
      { name = "edited", timeout = 60, environment = cjson.encode { E = "f" }, script = "other.py" })
    assert.equal(200, status, cjson.encode(u))
    assert.equal("edited", u.name)
    assert.equal("60", u.timeout)
    assert.equal("other.py", u.script)
    assert.same({ E = "f" }, cjson.decode(u.environment))
    local r = start_run(j)
    assert.equal(200, (s:api("DELETE", base .. "/" .. j.id)))
    assert.equal(404, (s:api("GET", base .. "/" .. j.id)))
    -- its runs go with it
    for _, o in ipairs(s:state().runs) do
      assert.are_not.equal(j.id, o.job_id, r.id)
    end
  end)

  it("runs SCHEDULING → STARTING → RUNNING → SUCCEEDED with timestamps", function()
    local j = create("happy", { cpu = 3, nvidia_gpu = 0 })
    local r = start_run(j, { environment = { RUN = "1" }, arguments = "--x" })
    assert.equal("ENGINE_SCHEDULING", r.status)
    assert.equal(j.id, r.job_id)
    assert.equal(pid, r.project_id)
    assert.equal(3, r.cpu)
    assert.equal("--x", r.arguments)
    assert.same({ RUN = "1" }, cjson.decode(r.environment))
    local seen = {}
    local g = s:wait_for(function()
      local cur = run_of(j, r)
      seen[cur.status] = true
      return cur.status == "ENGINE_SUCCEEDED" and cur
    end, 5, "success")
    assert.is_true(seen.ENGINE_STARTING or seen.ENGINE_RUNNING)
    for _, k in ipairs { "created_at", "scheduling_at", "starting_at", "running_at", "finished_at" } do
      assert.is_string(g[k], k)
    end
    assert.is_true(g.scheduling_at <= g.starting_at and g.starting_at <= g.running_at
      and g.running_at <= g.finished_at)
  end)

  it("allows one active run per job (400 FAILED_PRECONDITION)", function()
    local j = create("single")
    local r = start_run(j)
    local status, b = s:api("POST", base .. "/" .. j.id .. "/runs", {})
    assert.equal(400, status)
    assert.equal(9, b.code)
    assert.matches(r.id, b.message, 1, true)
    final(j, r)
    start_run(j)
  end)

  it("stops a run through STOPPING to STOPPED", function()
    local j = create("stoppable", { })
    s:control("POST", "/_sim/delays", { job_running = 5000 })
    local r = start_run(j)
    local status, st = s:api("POST", base .. "/" .. j.id .. "/runs/" .. r.id .. ":stop")
    s:control("POST", "/_sim/delays", { job_running = 150 })
    assert.equal(200, status)
    assert.equal("ENGINE_STOPPING", st.status)
    local g = final(j, r)
    assert.equal("ENGINE_STOPPED", g.status)
    assert.is_string(g.finished_at)
  end)

  it("ends the next run of a job named in fail_job with ENGINE_FAILED", function()
    local j = create("flaky")
    s:control("POST", "/_sim/fail_job", { name = "flaky" })
    assert.equal("ENGINE_FAILED", final(j, start_run(j)).status)
    assert.equal("ENGINE_SUCCEEDED", final(j, start_run(j)).status)
  end)

  it("ends a run that outlives its job timeout with ENGINE_TIMEDOUT (kill_on_timeout)", function()
    s:control("POST", "/_sim/delays", { job_running = 3000 })
    local j = create("slowpoke", { timeout = 1, kill_on_timeout = true })
    local g = final(j, start_run(j))
    s:control("POST", "/_sim/delays", { job_running = 150 })
    assert.equal("ENGINE_TIMEDOUT", g.status)
  end)

  it("starts a dependent job after its parent succeeds", function()
    local parent = create("parent")
    local child = create("child", { parent_id = parent.id })
    assert.equal("dependent", child.type)
    final(parent, start_run(parent))
    local runs = s:wait_for(function()
      local _, l = s:api("GET", base .. "/" .. child.id .. "/runs")
      return #l.job_runs == 1 and l.job_runs
    end, 5, "child run")
    assert.equal(child.id, runs[1].job_id)
  end)

  it("lists runs with job_runs, status words and sort", function()
    local j = create("many")
    for _ = 1, 3 do final(j, start_run(j)) end
    s:control("POST", "/_sim/fail_job", { name = "many" })
    final(j, start_run(j))
    local lb = base .. "/" .. j.id .. "/runs"
    local _, l = s:api("GET", lb)
    assert.equal(4, #l.job_runs)
    assert.equal("", l.next_page_token)
    _, l = s:api("GET", lb .. sim.query { search_filter = { status = "succeeded" } })
    assert.equal(3, #l.job_runs)
    _, l = s:api("GET", lb .. sim.query { search_filter = { status = "failed" } })
    assert.equal(1, #l.job_runs)
    assert.equal("ENGINE_FAILED", l.job_runs[1].status)
    _, l = s:api("GET", lb .. sim.query { sort = "-created_at", page_size = 1 })
    assert.equal("ENGINE_FAILED", l.job_runs[1].status)
    assert.is_true(#l.next_page_token > 0)
    assert.equal(400, (s:api("GET", lb .. sim.query { search_filter = { status = "ENGINE" } })))
  end)

  it("lists jobs of a project and of every project", function()
    local _, l = s:api("GET", base .. sim.query { search_filter = { name = "happy" } })
    assert.equal(1, #l.jobs)
    local other = s:new_project("jobs-elsewhere", { ["job.py"] = "print(3)\n" }).id
    local status, far = s:api("POST", "projects/" .. other .. "/jobs",
      { name = "far", script = "job.py", runtime_identifier = sim.RUNTIME })
    assert.equal(200, status, cjson.encode(far))
    local _, mine = s:api("GET", base .. "?page_size=100")
    assert.is_nil(cjson.encode(mine.jobs):find(far.id, 1, true))
    local _, all = s:api("GET", "jobs?page_size=100")
    local ids = {}
    for _, j in ipairs(all.jobs) do ids[j.id] = true end
    assert.is_true(ids[l.jobs[1].id])
    assert.is_true(ids[far.id])
    assert.equal(#mine.jobs + 1, #all.jobs)
  end)

  it("answers 404 for unknown jobs and runs", function()
    assert.equal(404, (s:api("GET", base .. "/nope-nope-nope-nope")))
    local j = create("lonely")
    assert.equal(404, (s:api("GET", base .. "/" .. j.id .. "/runs/nope")))
    assert.equal(404, (s:api("POST", base .. "/" .. j.id .. "/runs/nope:stop")))
  end)
end)
