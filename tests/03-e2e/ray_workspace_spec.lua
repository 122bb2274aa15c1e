-- Issue 11: a workspace that behaves like real ones: PBJ-only runtime catalogs, deletes that
-- linger, no free GPU, the setup job's kill_on_timeout, per-runtime venvs and their collection,
-- the project's /dev/shm. raycai-run against cml-sim over HTTP, timer mode, ms delays.
local sim = require "support.sim"
local support_run = require "support.run"
local run = support_run.raycai
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local cluster = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local CPU = "recipes/cpu_cluster.lua"

local apps_of, count, env_of = cluster.apps_of, cluster.count, cluster.env_of


--- Mutating requests other than the cluster lock's upload and delete (every run takes the lock).
local function mutations_but_lock(s)
  local out = {}
  for _, q in ipairs(s:requests()) do
    local lock = q.path:match("/lock%.json$") or (q.method == "POST" and q.path:match("/files$")
      and (q.body or ""):find("lock.json", 1, true))
    if not lock and q.method ~= "GET" and not q.path:match(":download$") then
      out[#out + 1] = q.method .. " " .. q.path
    end
  end
  return out
end


--- Stand in for the venvs the setup jobs built (timer mode runs no script): their markers.
local function mark_venvs_built(s, pid)
  for _, j in ipairs(s:state().jobs or {}) do
    local fp = env_of(j).RAYCAI_FINGERPRINT
    if fp and j._project_id == pid then
      s:upload(pid, ".raycai/venvs/" .. fp .. "/.raycai-complete", fp)
    end
  end
end


local function raycai(s, args)
  return run(args, { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } })
end


local function project_named(s, name)
  for _, p in ipairs(s:state().projects or {}) do if p.name == name then return p end end
end


local function jobs_by_name(s)
  local out = {}
  for _, j in ipairs(s:state().jobs or {}) do out[j.name] = j end
  return out
end


--- Names in a project folder (an absent folder is empty).
local function listing(s, pid, dir)
  local status, body = s:api("GET", "projects/" .. pid .. "/files/" .. dir)
  local out = {}
  if status ~= 200 then return out end
  for _, f in ipairs(body.files or {}) do out[f.path:match("([^/]+)/?$")] = true end
  return out
end


local function download(s, pid, path)
  local status, _, raw = s:api("POST", "projects/" .. pid .. "/files/" .. path .. ":download")
  assert.equal(200, status, path)
  return raw
end


describe("raycai on a workspace like the real ones", function()
  local s

  after_each(function()
    if s then s:stop() end
    s = nil
  end)

  it("deploys the default recipes on a PBJ-only runtime catalog", function()
    s = sim.start { delays = sim.QUICK_DELAYS, runtimes = "pbj" }
    for _, recipe in ipairs({ GPU, CPU }) do
      local r = raycai(s, { recipe })
      assert.equal(0, r.code, r.stderr)
    end
    for name, a in pairs(apps_of(s, "raycai-")) do
      assert.matches("ml%-runtime%-pbj%-", a.runtime_identifier, name)
    end
    -- plan names the chosen identifiers
    mark_venvs_built(s, project_named(s, "ray-gpu").id)
    local r = raycai(s, { GPU, "plan" })
    assert.equal(0, r.code, r.stderr)
    assert.matches("runtime%s+docker%.repository%.cloudera%.com/cloudera/cdsw/ml%-runtime%-pbj%-[%w%.%-]+python3%.11%-cuda",
      r.stdout)
    assert.matches("No changes", r.stdout)
  end)

  it("lists what the workspace offers when no runtime has the kernel, before creating anything", function()
    s = sim.start { delays = sim.QUICK_DELAYS, runtimes = "pbj" }
    local r = raycai(s, { "--set", "python.kernel=Python 3.13", GPU })
    assert.equal(1, r.code)
    local line = r.stderr:match("[^\n]*no enabled runtime[^\n]*")
    assert.is_string(line, r.stderr)
    assert.matches('kernel "Python 3%.13"', line)
    assert.matches("kernels Python 3%.10, Python 3%.11, Python 3%.12", line)
    assert.matches("editors JupyterLab, PBJ Workbench", line)
    assert.matches("ml%-runtime%-pbj%-", line)
    assert.matches("python%.kernel=", line)
    assert.same({}, s:state().projects or {})
    -- an editor the catalog lacks, as a filter
    r = raycai(s, { "--set", "python.editor=Workbench", GPU, "plan" })
    assert.equal(1, r.code)
    assert.matches('editor "Workbench"', r.stderr)
  end)

  it("replaces workers, then the head, across deletes that linger, with no 409", function()
    s = sim.start { delays = { app_start = 30, app_stop = 400, job_scheduling = 10, job_starting = 10,
                               job_running = 20 } }
    assert.equal(0, raycai(s, { GPU }).code)
    mark_venvs_built(s, project_named(s, "ray-gpu").id)
    s:clear_requests()
    local r = raycai(s, { "--set", "worker.cpu=4", GPU })
    assert.equal(0, r.code, r.stderr)
    for i = 1, 2 do assert.equal(4, apps_of(s, "raycai-gpu-")["raycai-gpu-worker-" .. i].cpu) end
    local old_head = apps_of(s, "raycai-gpu-")["raycai-gpu-head"]
    r = raycai(s, { "--set", "worker.cpu=4", "--set", "head.cpu=2", GPU })
    assert.equal(0, r.code, r.stderr)
    local apps = apps_of(s, "raycai-gpu-")
    assert.equal(3, count(apps))
    assert.equal(2, apps["raycai-gpu-head"].cpu)
    assert.are_not.equal(old_head.id, apps["raycai-gpu-head"].id)
    assert.equal(old_head.subdomain, apps["raycai-gpu-head"].subdomain)  -- the dashboard URL stays
    for _, q in ipairs(s:requests()) do assert.are_not.equal(409, q.status, q.method .. " " .. q.path) end
    -- the new head was created only once the old one was gone: the request before its create
    -- is a listing that no longer showed the old head (the simulator removes it after app_stop)
    local log = s:requests()
    local head_create
    for i, q in ipairs(log) do
      if q.method == "POST" and q.path:match("/applications$") and q.body:find('"raycai-gpu-head"', 1, true) then
        head_create = i
      end
    end
    assert.is_number(head_create)
    assert.equal("GET", log[head_create - 1].method)
    assert.matches("/applications$", log[head_create - 1].path)
    -- a re-run changes nothing
    s:clear_requests()
    assert.equal(0, raycai(s, { "--set", "worker.cpu=4", "--set", "head.cpu=2", GPU }).code)
    assert.same({}, mutations_but_lock(s))
    -- down waits until the applications are really gone
    assert.equal(0, raycai(s, { GPU, "down" }).code)
    assert.equal(0, count(apps_of(s, "raycai-gpu-")))
  end)

  it("blames a 409 on this cluster's own deleted application, never on another application", function()
    s = sim.start { delays = sim.QUICK_DELAYS }
    assert.equal(0, raycai(s, { GPU }).code)
    local head = cluster.app_named(s, "raycai-gpu-head")
    local pid = head._project_id
    assert.equal(0, raycai(s, { GPU, "down" }).code)
    -- an application of this cluster under another name (an older deploy) holds the head's
    -- subdomain and is being deleted: it lingers
    s:control("POST", "/_sim/delays", { app_stop = 5000 })
    local st, old = s:api("POST", "projects/" .. pid .. "/applications", { name = "raycai-gpu-head-old",
      subdomain = head.subdomain, script = ".raycai/gpu/head.py", runtime_identifier = head.runtime_identifier })
    assert.equal(200, st)
    assert.equal(200, (s:api("DELETE", "projects/" .. pid .. "/applications/" .. old.id)))
    local r = raycai(s, { GPU })
    assert.equal(1, r.code)
    assert.matches("409", r.stderr)
    assert.matches("still held by this cluster's own application raycai%-gpu%-head%-old %(APPLICATION_STOPPING%)",
      r.stderr)
    assert.not_matches("another application", r.stderr)
  end)

  it("Ctrl-C while waiting for a deleted head to be gone exits 130; the next up converges", function()
    s = sim.start { delays = sim.QUICK_DELAYS }
    assert.equal(0, raycai(s, { GPU }).code)
    s:control("POST", "/_sim/delays", { app_stop = 4000 })
    local out = os.tmpname()
    local p = assert(proc.spawn { support_run.exe, "--set", "head.cpu=2", GPU, stdout = out, stderr = out,
      env = { CML_HOST = s.url, CML_API_KEY = s.api_key }, kill_on_close = true })
    s:wait_for(function()
      local h = cluster.app_named(s, "raycai-gpu-head")
      return h and h.status == "APPLICATION_STOPPING"
    end, 30, "the old head to be deleted")
    p:kill("INT")
    local code = p:wait(30)
    p:close()
    local text = fs.read(out) or ""
    os.remove(out)
    assert.equal(130, code, text)
    assert.matches("interrupted", text)
    s:control("POST", "/_sim/delays", { app_stop = 10 })
    local r = raycai(s, { "--set", "head.cpu=2", GPU })
    assert.equal(0, r.code, r.stderr)
    local apps = apps_of(s, "raycai-gpu-")
    assert.equal(3, count(apps))
    assert.equal(2, apps["raycai-gpu-head"].cpu)
    for name, a in pairs(apps) do assert.equal("APPLICATION_RUNNING", a.status, name) end
  end)

  it("names pending workers after timeouts.pending and removes them; keep_partial keeps them", function()
    s = sim.start { delays = sim.QUICK_DELAYS, capacity = { gpu = 2 } }
    local r = raycai(s, { "--set", "workers=4", "--set", "timeouts.pending=1", GPU })
    assert.equal(1, r.code, r.stdout)
    assert.matches("2 of 4 workers still APPLICATION_STARTING after 1 s", r.stderr)
    assert.matches("no free GPU/CPU", r.stderr)
    assert.matches("2 x %(8 vCPU, 32 GB, 1 GPU%)", r.stderr)
    assert.matches("removed the 2 pending worker%(s%)", r.stderr)
    local starting, running = 0, 0
    for _, a in pairs(apps_of(s, "raycai-gpu-")) do
      if a.status == "APPLICATION_STARTING" then starting = starting + 1 end
      if a.status == "APPLICATION_RUNNING" then running = running + 1 end
    end
    assert.equal(0, starting)
    assert.equal(3, running)   -- the head and two workers
    r = raycai(s, { "--set", "workers=4", "--set", "timeouts.pending=1", "--set", "timeouts.workers=3",
                    "--set", "keep_partial=true", GPU })
    assert.equal(1, r.code)
    assert.matches("workers not running after 3 s", r.stderr)
    starting = 0
    for _, a in pairs(apps_of(s, "raycai-gpu-")) do
      if a.status == "APPLICATION_STARTING" then starting = starting + 1 end
    end
    assert.equal(2, starting)
  end)

  it("names a head that cannot be scheduled and removes it", function()
    s = sim.start { delays = sim.QUICK_DELAYS, capacity = { cpu = 3 } }
    local r = raycai(s, { "--set", "workers=0", "--set", "timeouts.pending=1", "--set", "setup.cpu=1", GPU })
    assert.equal(1, r.code)
    assert.matches("1 of 1 head still APPLICATION_STARTING after 1 s", r.stderr)
    assert.matches("4 vCPU, 16 GB, 0 GPU", r.stderr)
    assert.matches("removed raycai%-gpu%-head", r.stderr)
    for _, a in pairs(apps_of(s, "raycai-gpu-")) do assert.are_not.equal("APPLICATION_STARTING", a.status) end
  end)

  it("creates the setup job with kill_on_timeout and stops a run it gives up on", function()
    s = sim.start { delays = sim.QUICK_DELAYS, capacity = { cpu = 1 } }
    -- setup.cpu=2 never fits: the run stays ENGINE_SCHEDULING
    local r = raycai(s, { "--set", "timeouts.setup=1", CPU })
    assert.equal(1, r.code)
    assert.matches("raycai stopped it", r.stderr)
    local job = jobs_by_name(s)["raycai-cpu-setup"]
    assert.is_true(job.kill_on_timeout)
    local runs = s:state().runs
    assert.equal(1, #runs)
    assert.matches("^ENGINE_STOPP", runs[1].status)
  end)

  it("gives head and workers on different runtimes their own venv and setup job", function()
    s = sim.start { delays = sim.QUICK_DELAYS }
    assert.equal(0, raycai(s, { GPU }).code)
    local jobs = jobs_by_name(s)
    local head_job, worker_job = jobs["raycai-gpu-setup"], jobs["raycai-gpu-setup-worker"]
    assert.is_table(head_job)
    assert.is_table(worker_job)
    local apps = apps_of(s, "raycai-gpu-")
    assert.equal(apps["raycai-gpu-head"].runtime_identifier, head_job.runtime_identifier)
    assert.equal(apps["raycai-gpu-worker-1"].runtime_identifier, worker_job.runtime_identifier)
    local fp_head, fp_worker = env_of(head_job).RAYCAI_FINGERPRINT, env_of(worker_job).RAYCAI_FINGERPRINT
    assert.are_not.equal(fp_head, fp_worker)
    local pid = project_named(s, "ray-gpu").id
    assert.truthy(download(s, pid, ".raycai/gpu/head.py"):find(".raycai/venvs/" .. fp_head, 1, true))
    assert.truthy(download(s, pid, ".raycai/gpu/worker.py"):find(".raycai/venvs/" .. fp_worker, 1, true))
    -- a CPU cluster runs everything on one runtime: one venv, one job
    assert.equal(0, raycai(s, { CPU }).code)
    assert.is_nil(jobs_by_name(s)["raycai-cpu-setup-worker"])
  end)

  it("collects this cluster's old venvs, keeping the newest venv.keep", function()
    s = sim.start { delays = sim.QUICK_DELAYS }
    local function up(version)
      local r = raycai(s, { "--set", "venv.keep=1", "--set", "ray.version=" .. version,
                            "--set", "insecure_ray=true", CPU })
      assert.equal(0, r.code, r.stderr)
      return env_of(jobs_by_name(s)["raycai-cpu-setup"]).RAYCAI_FINGERPRINT
    end
    local fp1 = up("2.40.0")
    local pid = project_named(s, "ray-cpu").id
    -- stands for the venv the setup job built (timer mode runs no script)
    assert.equal(200, (s:upload(pid, ".raycai/venvs/" .. fp1 .. "/.raycai-complete", fp1)))
    local fp2 = up("2.41.0")
    local fp3 = up("2.42.0")
    local owners = listing(s, pid, ".raycai/venvs/.owners")
    assert.is_true(owners[fp3 .. ".cpu"], "in use")
    assert.is_true(owners[fp2 .. ".cpu"], "the newest unused one is kept")
    assert.is_nil(owners[fp1 .. ".cpu"])
    assert.is_nil(listing(s, pid, ".raycai/venvs")[fp1], "the oldest venv is removed")
    mark_venvs_built(s, pid)
    s:clear_requests()
    up("2.42.0")
    assert.same({}, mutations_but_lock(s))
  end)

  it("keeps a venv another cluster uses on down --purge", function()
    s = sim.start { delays = sim.QUICK_DELAYS }
    local function args(name, ...)
      return { "--set", "project=shared", "--set", "cluster=" .. name, CPU, ... }
    end
    assert.equal(0, raycai(s, args("a")).code)
    assert.equal(0, raycai(s, args("b")).code)
    local pid = project_named(s, "shared").id
    local fp = env_of(jobs_by_name(s)["raycai-a-setup"]).RAYCAI_FINGERPRINT
    assert.equal(fp, env_of(jobs_by_name(s)["raycai-b-setup"]).RAYCAI_FINGERPRINT)
    assert.equal(200, (s:upload(pid, ".raycai/venvs/" .. fp .. "/.raycai-complete", fp)))
    assert.equal(0, raycai(s, args("a", "down", "--purge")).code)
    assert.is_true(listing(s, pid, ".raycai/venvs")[fp], "b still uses it")
    assert.is_true(listing(s, pid, ".raycai/venvs/.owners")[fp .. ".b"])
    assert.is_nil(listing(s, pid, ".raycai/venvs/.owners")[fp .. ".a"])
    assert.equal(0, raycai(s, args("b", "down", "--purge")).code)
    assert.is_nil(listing(s, pid, ".raycai/venvs")[fp])
  end)

  it("passes --object-store-memory to ray start only when the recipe sets ray.object_store_mb", function()
    s = sim.start { delays = sim.QUICK_DELAYS }
    local function store_args(extra)
      local args = { CPU }
      if extra then table.insert(args, 1, extra); table.insert(args, 1, "--set") end
      assert.equal(0, raycai(s, args).code)
      local pid = project_named(s, "ray-cpu").id
      local out = {}
      for _, role in ipairs({ "head", "worker" }) do
        local file = os.tmpname() .. ".py"
        assert(fs.write(file, download(s, pid, ".raycai/cpu/" .. role .. ".py")))
        -- the launcher's own --print-ray-start: the `ray start` argv it would run, as JSON
        local p = assert(proc.spawn { "python3", file, "--print-ray-start", stdout = file .. ".out" })
        assert.equal(0, p:wait(30))
        p:close()
        out[role] = fs.read(file .. ".out")
        os.remove(file)
        os.remove(file .. ".out")
      end
      return out
    end
    local cjson = require "cjson"
    local function store_flag(argv_json)
      local argv = cjson.decode(argv_json)
      for i, a in ipairs(argv) do
        if a == "--object-store-memory" then return argv[i + 1] end
      end
      return false
    end
    local none = store_args()
    assert.is_false(store_flag(none.head))
    assert.is_false(store_flag(none.worker))
    local set = store_args("ray.object_store_mb=2048")
    assert.equal("2147483648", store_flag(set.head))
    assert.equal("2147483648", store_flag(set.worker))
  end)

  it("raises a 64 MB project's shared memory once, and plan shows it", function()
    s = sim.start { delays = sim.QUICK_DELAYS }
    s:new_project("ray-gpu")
    assert.equal(64, project_named(s, "ray-gpu").shared_memory_limit)
    local r = raycai(s, { GPU, "plan" })
    assert.matches("update%s+project%s+ray%-gpu%s+shared_memory_limit 64 %-> %d+ MB", r.stdout)
    assert.equal(0, raycai(s, { GPU }).code)
    local shm = project_named(s, "ray-gpu").shared_memory_limit
    assert.is_true(shm >= 8192, tostring(shm))
    mark_venvs_built(s, project_named(s, "ray-gpu").id)
    s:clear_requests()
    assert.equal(0, raycai(s, { GPU }).code)
    assert.same({}, mutations_but_lock(s))
    -- never lowers it
    assert.equal(0, raycai(s, { "--set", "shm_mb=100", GPU }).code)
    assert.equal(shm, project_named(s, "ray-gpu").shared_memory_limit)
    -- a project up creates gets it at once
    assert.equal(0, raycai(s, { CPU }).code)
    assert.is_true(project_named(s, "ray-cpu").shared_memory_limit >= 8192)
  end)
end)
