-- End to end: raycai-run deploys the Ray recipes to cml-sim over real HTTP (simulator without
-- exec mode: states advance on timers, no script runs). See ray_exec_spec.lua for the run with
-- real launchers.
local sim = require "support.sim"
local run = require("support.run").raycai
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local cml = require "raycai.cml"
local cluster = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local CPU = "recipes/cpu_cluster.lua"
local DELAYS = sim.QUICK_DELAYS

local function raycai(s, args)
  return run(args, { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } })
end


local mutations, apps_of, count, env_of = cluster.mutations, cluster.apps_of, cluster.count, cluster.env_of


describe("ray recipes against cml-sim", function()
  local s

  before_each(function()
    s = sim.start { delays = DELAYS }
  end)

  after_each(function()
    if s then s:stop() end
  end)

  it("brings a GPU cluster up from empty and prints a healthy summary", function()
    local r = raycai(s, { GPU })
    assert.equal(0, r.code, r.stderr)
    local apps = apps_of(s, "raycai-gpu-")
    assert.equal(3, count(apps))
    for _, name in ipairs({ "raycai-gpu-head", "raycai-gpu-worker-1", "raycai-gpu-worker-2" }) do
      assert.equal("APPLICATION_RUNNING", apps[name].status, name)
    end
    assert.matches("workers:%s+2/2 running", r.stdout)
    assert.matches("dashboard: https://gpu%-%x+%-head%.", r.stdout)
  end)

  it("overlaps what does not need to wait: launchers during the setup run, checks and reads beside others", function()
    -- the sequential order (overlap=none; tests/overlap_spec.lua has the other modes' orders)
    assert.equal(0, raycai(s, { "--set", "overlap=none", GPU }).code)
    local log = s:requests()
    local function index(pred, what)
      for i, q in ipairs(log) do if pred(q) then return i end end
      error("no request " .. what)
    end
    local function upload_of(file)
      return function(q) return q.method == "POST" and q.path:match("/files$") and q.body:find(file, 1, true) end
    end
    local run_created = index(function(q) return q.method == "POST" and q.path:match("/runs$") end, "creating the run")
    local first_look = index(function(q) return q.method == "GET" and q.path:match("/runs/[%w]+$") end, "of the run")
    for _, file in ipairs { ".raycai/gpu/head.py", ".raycai/gpu/worker.py" } do
      local up = index(upload_of(file), "uploading " .. file)
      assert.is_true(run_created < up and up < first_look, file .. " is uploaded while the setup job runs")
    end
    -- the venv checks after the runs go out in one round with the last look at the other
    -- runtime's run (issue 17), so they cost no round of their own: nothing else comes between
    -- that round and the head's create
    local head_created = index(function(q) return q.method == "POST" and q.path:match("/applications$") end,
      "creating the head")
    local last_run_look, checks = 0, {}
    for i, q in ipairs(log) do
      if q.method == "GET" and q.path:match("/runs/[%w]+$") then last_run_look = i end
      if q.method == "GET" and q.path:match("/files/%.raycai/venvs/") then checks[#checks + 1] = i end
    end
    assert.equal(2, #checks, "one check per venv (two runtimes)")
    local round_end = math.max(last_run_look, checks[1], checks[2])
    for _, i in ipairs({ last_run_look, checks[1], checks[2] }) do
      assert.is_true(i > round_end - 3, "the venv checks and the last run look are not one round")
    end
    assert.equal(round_end + 1, head_created)
    -- the release deletes the lock (its own until its expiry) while the summary reads head.json
    local n = #log
    local last_round = { log[n - 1].method .. " " .. log[n - 1].path:match("[^/]+$"),
                         log[n].method .. " " .. log[n].path:match("[^/]+$") }
    table.sort(last_round)
    assert.same({ "DELETE lock.json", "POST head.json:download" }, last_round)
    local waited_workers = log[n - 2]
    assert.equal("GET", waited_workers.method)
    assert.matches("/applications$", waited_workers.path)
  end)

  it("gives GPU workers the GPU runtime and the head none", function()
    assert.equal(0, raycai(s, { GPU }).code)
    local apps = apps_of(s, "raycai-gpu-")
    local head, w = apps["raycai-gpu-head"], apps["raycai-gpu-worker-1"]
    assert.equal(0, head.nvidia_gpu or 0)
    assert.equal(4, head.cpu)
    assert.equal(16, head.memory)
    assert.not_matches("cuda", head.runtime_identifier)
    assert.equal(1, w.nvidia_gpu)
    assert.equal(8, w.cpu)
    assert.equal(32, w.memory)
    assert.matches("cuda", w.runtime_identifier)
    assert.equal(env_of(head).RAYCAI_GENERATION, env_of(w).RAYCAI_GENERATION)
    assert.equal(false, head.bypass_authentication or false)
  end)

  it("gives a CPU cluster Standard runtimes only", function()
    assert.equal(0, raycai(s, { CPU }).code)
    local apps = apps_of(s, "raycai-cpu-")
    assert.equal(3, count(apps))
    for name, a in pairs(apps) do
      assert.equal(0, a.nvidia_gpu or 0, name)
      assert.not_matches("cuda", a.runtime_identifier, name)
    end
  end)

  it("plans without changing anything and says changes are pending", function()
    local r = raycai(s, { GPU, "plan" })
    assert.equal(3, r.code, r.stderr)
    assert.matches("create%s+project%s+ray%-gpu", r.stdout)
    assert.matches("create%s+application%s+raycai%-gpu%-worker%-2", r.stdout)
    assert.same({}, mutations(s))
  end)

  it("plans after up: applications and files are kept, no request mutates", function()
    assert.equal(0, raycai(s, { GPU }).code)
    s:clear_requests()
    local r = raycai(s, { GPU, "plan" })
    -- the one change pending is the venv: the simulator without exec mode builds none
    assert.equal(3, r.code, r.stderr)
    assert.matches("create%s+venv", r.stdout)
    assert.matches("keep%s+application%s+raycai%-gpu%-head", r.stdout)
    assert.matches("keep%s+file%s+%.raycai/gpu/worker%.py", r.stdout)
    assert.same({}, mutations(s))
  end)

  it("keeps the head and its workers on a second up", function()
    assert.equal(0, raycai(s, { GPU }).code)
    local before = apps_of(s, "raycai-gpu-")
    s:clear_requests()
    local r = raycai(s, { GPU })
    assert.equal(0, r.code, r.stderr)
    local after = apps_of(s, "raycai-gpu-")
    for name, a in pairs(before) do assert.equal(a.id, after[name].id, name) end
    for _, m in ipairs(mutations(s)) do
      -- only the setup job may run again (the simulator without exec mode builds no venv), under
      -- the cluster lock (a project file)
      local allowed = m:match("/jobs/[^/]+/runs$") or m:match("^POST /api/v2/projects/[^/]+/files$")
        or m:match("^DELETE .*/files/%.raycai/gpu/lock%.json$")
      assert.truthy(allowed, m)
    end
  end)

  it("a re-run whose venvs are built reads no setup script; a resized one is still repaired", function()
    local r = raycai(s, { GPU })
    assert.equal(0, r.code, r.stderr)
    -- what a real setup job leaves (the simulator without exec mode runs no script)
    local pid
    for _, p in ipairs(s:state().projects) do if p.name == "ray-gpu" then pid = p.id end end
    local seen = {}
    for fp in (r.stdout .. r.stderr):gmatch("%.raycai/venvs/([%w_%-]+)") do
      if not seen[fp] then
        seen[fp] = true
        assert.equal(200, (s:upload(pid, ".raycai/venvs/" .. fp .. "/.raycai-complete", "done\n")))
      end
    end
    s:clear_requests()
    r = raycai(s, { GPU })
    assert.equal(0, r.code, r.stderr)
    assert.same({}, mutations(s))
    for _, q in ipairs(s:requests()) do
      -- (issue 17) every build writes its script first: a built venv's is judged by its size
      assert.is_nil(q.path:match("setup_venv[%w_]*%.py:download$"), q.path)
    end
    -- a setup script that changed size (edited by hand) is still seen, and up writes it back
    assert.equal(200, (s:api("DELETE", "projects/" .. pid .. "/files/" .. sim.urlencode(".raycai/gpu/setup_venv.py"))))
    assert.equal(200, (s:upload(pid, ".raycai/gpu/setup_venv.py", "# edited\n")))
    local plan = raycai(s, { GPU, "plan" })
    assert.equal(3, plan.code, plan.stderr)
    assert.matches("update%s+file%s+%.raycai/gpu/setup_venv%.py", plan.stdout)
    assert.equal(0, raycai(s, { GPU }).code)
    local home_file = s:state().work_dir .. "/projects/" .. pid .. "/.raycai/gpu/setup_venv.py"
    assert.is_nil((fs.read(home_file) or ""):find("# edited", 1, true))
    assert.truthy((fs.read(home_file) or ""):find("raycai", 1, true))
  end)

  it("scales 2 -> 4 -> 1 keeping the workers that stay", function()
    assert.equal(0, raycai(s, { GPU }).code)
    local first = apps_of(s, "raycai-gpu-")
    assert.equal(0, raycai(s, { "--set", "workers=4", GPU }).code)
    local four = apps_of(s, "raycai-gpu-")
    assert.equal(5, count(four))
    assert.equal(first["raycai-gpu-worker-1"].id, four["raycai-gpu-worker-1"].id)
    assert.equal("APPLICATION_RUNNING", four["raycai-gpu-worker-4"].status)
    local r = raycai(s, { "--set", "workers=1", GPU })
    assert.equal(0, r.code, r.stderr)
    -- the surplus workers are deleted; CML lists a deleted application (STOPPING) until its pod is gone
    local one
    s:wait_for(function()
      one = apps_of(s, "raycai-gpu-")
      return count(one) == 2
    end, 30, "the deleted surplus workers to be gone")
    assert.equal(first["raycai-gpu-worker-1"].id, one["raycai-gpu-worker-1"].id)
    assert.equal(first["raycai-gpu-head"].id, one["raycai-gpu-head"].id)
  end)

  it("replaces head and workers with a new generation when the head spec changes", function()
    assert.equal(0, raycai(s, { GPU }).code)
    local old = apps_of(s, "raycai-gpu-")
    assert.equal(0, raycai(s, { "--set", "head.cpu=2", GPU }).code)
    local new = apps_of(s, "raycai-gpu-")
    assert.are_not.equal(old["raycai-gpu-head"].id, new["raycai-gpu-head"].id)
    assert.equal(2, new["raycai-gpu-head"].cpu)
    local gen = env_of(new["raycai-gpu-head"]).RAYCAI_GENERATION
    assert.are_not.equal(env_of(old["raycai-gpu-head"]).RAYCAI_GENERATION, gen)
    for i = 1, 2 do
      assert.equal(gen, env_of(new["raycai-gpu-worker-" .. i]).RAYCAI_GENERATION)
    end
  end)

  it("takes the cluster down: no application of it is left, the job stays", function()
    assert.equal(0, raycai(s, { GPU }).code)
    local r = raycai(s, { GPU, "down" })
    assert.equal(0, r.code, r.stderr)
    assert.equal(0, count(apps_of(s, "raycai-gpu-")))
    local jobs = {}
    for _, j in ipairs(s:state().jobs or {}) do jobs[j.name] = j end
    assert.is_table(jobs["raycai-gpu-setup"])
    assert.equal(0, raycai(s, { GPU, "down", "--purge" }).code)
    jobs = {}
    for _, j in ipairs(s:state().jobs or {}) do jobs[j.name] = j end
    assert.is_nil(jobs["raycai-gpu-setup"])
  end)

  it("reports status as a table and exits 3 when the cluster is absent", function()
    local r = raycai(s, { GPU, "status" })
    assert.equal(3, r.code, r.stderr)
    assert.equal(0, raycai(s, { GPU }).code)
    r = raycai(s, { GPU, "status" })
    assert.equal(0, r.code, r.stderr)
    assert.matches("raycai%-gpu%-head%s+head%s+APPLICATION_RUNNING%s+4%s+16 GB%s+0", r.stdout)
    assert.matches("raycai%-gpu%-worker%-2%s+worker%s+APPLICATION_RUNNING%s+8%s+32 GB%s+1", r.stdout)
    assert.matches("cluster healthy", r.stdout)
  end)

  it("writes launchers that python3 compiles", function()
    assert.equal(0, raycai(s, { GPU }).code)
    local pid
    for _, p in ipairs(s:state().projects) do if p.name == "ray-gpu" then pid = p.id end end
    local client = assert(cml.client { host = s.url, api_key = s.api_key })
    local dir = fs.tempdir("raycai-launchers")
    for _, f in ipairs({ "head.py", "worker.py", "setup_venv.py" }) do
      local body = assert(client:download_file(pid, ".raycai/gpu/" .. f))
      assert.is_true(fs.write(fs.join(dir, f), body))
      local p = assert(proc.spawn { "python3", "-m", "py_compile", fs.join(dir, f), stdout = "null", stderr = "null" })
      assert.equal(0, p:wait(30), f)
    end
    fs.remove(dir, { recursive = true })
  end)

  it("repairs changed launchers and removes copies CML made of them, keeping the applications", function()
    assert.equal(0, raycai(s, { GPU }).code)
    local pid
    for _, p in ipairs(s:state().projects) do if p.name == "ray-gpu" then pid = p.id end end
    local client = assert(cml.client { host = s.url, api_key = s.api_key })
    local original = assert(client:download_file(pid, ".raycai/gpu/worker.py"))
    assert(client:delete_file(pid, ".raycai/gpu/worker.py"))
    assert(client:upload_file(pid, ".raycai/gpu/worker.py", "print('tampered')\n"))
    assert(client:upload_file(pid, ".raycai/gpu/head.py", "a second upload lands as head(1).py\n"))
    local names = {}
    for _, f in ipairs(assert(client:list_files(pid, ".raycai/gpu")).files) do names[f.path:match("[^/]+$")] = true end
    assert.is_true(names["head(1).py"], "the simulator kept the old file and stored a copy")
    local before = apps_of(s, "raycai-gpu-")
    local plan = raycai(s, { GPU, "plan" })
    assert.matches("update%s+file%s+%.raycai/gpu/worker%.py", plan.stdout)
    assert.matches("update%s+file%s+%.raycai/gpu/head%.py", plan.stdout)
    s:clear_requests()
    assert.equal(0, raycai(s, { GPU }).code)
    -- head.py itself holds the content: only its copy goes, it is neither deleted nor uploaded
    local head_copy_deleted = false
    for _, q in ipairs(s:requests()) do
      assert.is_falsy(q.method == "DELETE" and q.path:match("/head%.py$"), "head.py was deleted")
      assert.is_falsy(q.method == "POST" and q.path:match("/files$") and q.body:find('name=".raycai/gpu/head.py"', 1, true),
        "head.py was uploaded again")
      -- the log keeps paths as sent: the client percent-encodes the parentheses
      head_copy_deleted = head_copy_deleted or (q.method == "DELETE" and q.path:match("/head%%281%%29%.py$") ~= nil)
    end
    assert.is_true(head_copy_deleted)
    names = {}
    for _, f in ipairs(assert(client:list_files(pid, ".raycai/gpu")).files) do names[f.path:match("[^/]+$")] = true end
    assert.is_nil(names["head(1).py"])
    assert.equal(original, client:download_file(pid, ".raycai/gpu/worker.py"))
    local after = apps_of(s, "raycai-gpu-")
    for name, a in pairs(before) do assert.equal(a.id, after[name].id, name) end
  end)

  it("refuses an invalid cluster name before any request", function()
    local r = raycai(s, { "--set", "cluster=Bad_Name", GPU })
    assert.equal(2, r.code)
    assert.matches("cluster name \"Bad_Name\" is not valid", r.stderr)
    assert.same({}, s:requests())
  end)

  it("refuses a runtime the workspace does not have before creating the project, and in plan", function()
    local r = raycai(s, { "--set", "worker.runtime=example.com/no-such-runtime:1", GPU })
    assert.equal(1, r.code)
    assert.matches("runtime example%.com/no%-such%-runtime:1 is not available", r.stderr)
    assert.same({}, s:state().projects or {})
    assert.same({}, mutations(s))
    r = raycai(s, { "--set", "worker.runtime=example.com/no-such-runtime:1", GPU, "plan" })
    assert.equal(1, r.code)
    assert.matches("runtime example%.com/no%-such%-runtime:1 is not available", r.stderr)
  end)

  it("runs the team example recipe with its shared module and extra step", function()
    local r = raycai(s, { "recipes/team_example.lua" })
    assert.equal(0, r.code, r.stderr)
    assert.matches("team cluster ready %(cluster team%-gpu, 4 workers%)", r.stderr)
    local apps = apps_of(s, "raycai-team-gpu-")
    assert.equal(5, count(apps))
    assert.equal("ml-platform", env_of(apps["raycai-team-gpu-worker-3"]).TEAM)
  end)
end)
