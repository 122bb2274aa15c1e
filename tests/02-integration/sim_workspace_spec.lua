-- cml-sim: what real workspaces do that the simulator learned with issue 11: capacity (apps
-- stay STARTING, runs SCHEDULING), kill_on_timeout, the PBJ runtime catalog, shared_memory_limit.
-- (Lingering deletes: sim_applications_spec.)
local sim = require "support.sim"
local cjson = require "cjson"

local GPU_RUNTIME = "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-workbench-python3.11-cuda:2025.09.1-b5"


describe("cml-sim as a real workspace", function()
  local s

  after_each(function()
    if s then s:stop() end
    s = nil
  end)

  local function app(pid, name, gpu)
    local status, a = s:api("POST", "projects/" .. pid .. "/applications", { name = name, subdomain = name,
      script = "app.py", runtime_identifier = GPU_RUNTIME, nvidia_gpu = gpu, cpu = 1, memory = 1 })
    assert.equal(200, status, cjson.encode(a))
    return a
  end

  local function status_of(pid, id)
    local _, a = s:api("GET", "projects/" .. pid .. "/applications/" .. id)
    return a.status
  end

  it("keeps applications beyond --capacity STARTING until capacity frees", function()
    s = sim.start { delays = { app_start = 20, app_stop = 20 }, capacity = { gpu = 2 } }
    local pid = s:new_project("cap", { ["app.py"] = "print(1)\n" }).id
    local a, b, c = app(pid, "a", 1), app(pid, "b", 1), app(pid, "c", 1)
    s:wait_for(function() return status_of(pid, b.id) == "APPLICATION_RUNNING" end, 5, "b running")
    assert.equal("APPLICATION_RUNNING", status_of(pid, a.id))
    -- well past app_start, c still has no GPU
    require("raycai.clock").sleep(0.3)
    assert.equal("APPLICATION_STARTING", status_of(pid, c.id))
    local st, cap = s:control("GET", "/_sim/capacity")
    assert.equal(200, st)
    assert.equal(2, cap.gpu)
    assert.equal(200, (s:api("POST", "projects/" .. pid .. "/applications/" .. a.id .. ":stop")))
    s:wait_for(function() return status_of(pid, c.id) == "APPLICATION_RUNNING" end, 5, "c running once a stopped")
    -- the control API changes it
    assert.equal(200, (s:control("POST", "/_sim/capacity", { gpu = cjson.null })))
    local _, cap2 = s:control("GET", "/_sim/capacity")
    assert.equal(cjson.null, cap2.gpu)
  end)

  it("kills a run at its timeout only with kill_on_timeout", function()
    s = sim.start { delays = { job_scheduling = 10, job_starting = 10, job_running = 2500 } }
    local pid = s:new_project("jobs", { ["job.py"] = "print(1)\n" }).id
    local function run_of(kill)
      local st, j = s:api("POST", "projects/" .. pid .. "/jobs", { name = "j" .. tostring(kill), script = "job.py",
        runtime_identifier = sim.RUNTIME, timeout = 1, kill_on_timeout = kill })
      assert.equal(200, st, cjson.encode(j))
      assert.equal(kill, j.kill_on_timeout)
      local st2, r = s:api("POST", "projects/" .. pid .. "/jobs/" .. j.id .. "/runs", {})
      assert.equal(200, st2, cjson.encode(r))
      return "projects/" .. pid .. "/jobs/" .. j.id .. "/runs/" .. r.id
    end
    local killed, kept = run_of(true), run_of(false)
    s:wait_for(function() local _, r = s:api("GET", killed); return r.status == "ENGINE_TIMEDOUT" end, 5, "timed out")
    local _, r = s:api("GET", kept)
    assert.equal("ENGINE_RUNNING", r.status)   -- past its 1 s timeout, not killed
    s:wait_for(function() local _, x = s:api("GET", kept); return x.status == "ENGINE_SUCCEEDED" end, 5, "ends itself")
  end)

  it("lists PBJ runtimes by default and only them with --runtimes pbj", function()
    s = sim.start {}
    local _, all = s:api("GET", "runtimes?page_size=200")
    local editors = {}
    for _, rt in ipairs(all.runtimes) do editors[rt.editor] = true end
    assert.is_true(editors["PBJ Workbench"] and editors["Workbench"] and editors["JupyterLab"])
    s:stop()
    s = sim.start { runtimes = "pbj" }
    local _, pbj = s:api("GET", "runtimes?page_size=200")
    assert.is_true(#pbj.runtimes > 0)
    for _, rt in ipairs(pbj.runtimes) do
      assert.matches("/ml%-runtime%-pbj%-", rt.image_identifier)
      assert.truthy(rt.editor == "PBJ Workbench" or rt.editor == "JupyterLab", rt.editor)
    end
    local found = false
    for _, rt in ipairs(pbj.runtimes) do
      found = found or rt.image_identifier ==
        "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-pbj-jupyterlab-python3.11-cuda:2025.09.1-b5"
    end
    assert.is_true(found)
  end)

  it("gives projects a 64 MB shared_memory_limit that PATCH raises", function()
    s = sim.start {}
    local p = s:new_project("shm")
    assert.equal(64, p.shared_memory_limit)
    local st, u = s:api("PATCH", "projects/" .. p.id, { shared_memory_limit = 16384 })
    assert.equal(200, st, cjson.encode(u))
    local _, g = s:api("GET", "projects/" .. p.id)
    assert.equal(16384, g.shared_memory_limit)
  end)

  it("refuses a bad --capacity or --runtimes with exit 2", function()
    for _, args in ipairs({ { "--capacity", "gpus=2" }, { "--runtimes", "old" } }) do
      local proc = require "raycai.proc"
      local p = assert(proc.spawn { sim.exe(), args[1], args[2], stdout = "null", stderr = "null" })
      assert.equal(2, p:wait(10), args[1])
      p:close()
    end
  end)
end)
