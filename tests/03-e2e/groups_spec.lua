-- End to end on cml-sim (timer mode): worker groups (issue 13 item 2), ray_args (item 3) and
-- launcher overrides (item 4) with recipes/mixed_cluster.lua and variants of it written to a
-- temporary folder.
local sim = require "support.sim"
local run = require("support.run").raycai
local fs = require "raycai.fs"
local cluster = require "support.cluster"

local MIXED = "recipes/mixed_cluster.lua"
local mutations, apps_of, count, env_of = cluster.mutations, cluster.apps_of, cluster.count, cluster.env_of

local function raycai(s, args)
  return run(args, { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } })
end


--- A variant of the mixed recipe in dir: `groups` and `worker_args` replace the shipped ones.
local function variant(dir, file, groups, extra)
  local path = fs.join(dir, file)
  assert(fs.write(path, ([[
return require("raycai.ray").recipe {
  name = "mixed_variant",
  defaults = {
    cluster = "mixed", workers = 1,
    head = { cpu = 2, memory = 8, gpu = 0, edition = "Standard" },
    worker = { cpu = 8, memory = 32, gpu = 1, edition = "Nvidia GPU", ray_args = { '--resources={"train": 1}' } },
    groups = %s,
    python = { kernel = "Python 3.11" },
  },
  %s
}
]]):format(groups, extra or "")))
  return path
end


local CPU_GROUP = [[{ cpu = { workers = 2, cpu = 4, memory = 16, gpu = 0, edition = "Standard",
  env = { RAYCAI_NODE_KIND = "preprocess" }, ray_args = { '--resources={"preprocess": 1}' } } }]]


describe("worker groups on cml-sim", function()
  local s, dir

  before_each(function()
    s = sim.start { delays = sim.QUICK_DELAYS }
    dir = assert(fs.tempdir("raycai-groups-"))
  end)

  after_each(function()
    if s then s:stop() end
    if dir then fs.remove(dir, { recursive = true }) end
  end)

  it("deploys both groups with their runtimes and resources; a re-run mutates nothing; down leaves nothing", function()
    local r = raycai(s, { MIXED })
    assert.equal(0, r.code, r.stderr)
    local apps = apps_of(s, "raycai-mixed-")
    assert.equal(4, count(apps))
    local gpu, cpu1, cpu2 = apps["raycai-mixed-worker-1"], apps["raycai-mixed-cpu-1"], apps["raycai-mixed-cpu-2"]
    assert.is_table(gpu); assert.is_table(cpu1); assert.is_table(cpu2)
    assert.matches("cuda", gpu.runtime_identifier)
    assert.not_matches("cuda", cpu1.runtime_identifier)
    assert.equal(1, gpu.nvidia_gpu); assert.equal(8, gpu.cpu); assert.equal(32, gpu.memory)
    assert.equal(0, cpu1.nvidia_gpu); assert.equal(4, cpu1.cpu); assert.equal(16, cpu1.memory)
    assert.equal("cpu", env_of(cpu1).RAYCAI_GROUP)
    assert.equal("preprocess", env_of(cpu1).RAYCAI_NODE_KIND)
    assert.is_nil(env_of(gpu).RAYCAI_GROUP)
    assert.equal(".raycai/mixed/worker-cpu.py", cpu1.script)
    assert.equal(".raycai/mixed/worker.py", gpu.script)
    -- subdomains: unique DNS labels
    local seen = {}
    for _, a in pairs(apps) do
      assert.is_true(#a.subdomain <= 63 and a.subdomain:match("^[a-z0-9][a-z0-9%-]*[a-z0-9]$") ~= nil
        and not a.subdomain:find("%-%-"), a.subdomain)
      assert.is_nil(seen[a.subdomain]); seen[a.subdomain] = true
    end
    assert.matches("workers:%s+3/3 running", r.stdout)
    -- status shows the GROUP column
    local st = raycai(s, { MIXED, "status" })
    assert.equal(0, st.code, st.stderr)
    assert.matches("GROUP", st.stdout)
    assert.matches("raycai%-mixed%-cpu%-1[^\n]+cpu\n", st.stdout)
    -- plan: nothing pending; up: no mutating request (timer mode: the setup jobs re-run since
    -- no venv is built, so compare only applications and files)
    local p = raycai(s, { MIXED, "plan" })
    assert.matches("GROUP", p.stdout)
    s:clear_requests()
    assert.equal(0, raycai(s, { MIXED }).code)
    for _, m in ipairs(mutations(s)) do
      assert.is_nil(m:match("/applications"), m)
    end
    assert.equal(0, raycai(s, { MIXED, "down" }).code)
    assert.equal(0, count(apps_of(s, "raycai-mixed-")))
  end)

  it("--set groups.cpu.workers=1 deletes the surplus of that group only", function()
    assert.equal(0, raycai(s, { MIXED }).code)
    local before = apps_of(s, "raycai-mixed-")
    local r = raycai(s, { "--set", "groups.cpu.workers=1", MIXED })
    assert.equal(0, r.code, r.stderr)
    local after
    s:wait_for(function()
      after = apps_of(s, "raycai-mixed-")
      return count(after) == 3
    end, 30, "the deleted surplus worker of group cpu to be gone")
    assert.is_nil(after["raycai-mixed-cpu-2"])
    for _, name in ipairs({ "raycai-mixed-head", "raycai-mixed-worker-1", "raycai-mixed-cpu-1" }) do
      assert.equal(before[name].id, after[name].id, name)
    end
  end)

  it("removes the applications of a group no longer in the recipe, and rolls only the group whose ray_args changed", function()
    local with_cpu = variant(dir, "with_cpu.lua", CPU_GROUP)
    assert.equal(0, raycai(s, { with_cpu }).code)
    local before = apps_of(s, "raycai-mixed-")
    -- changed ray_args of the cpu group: its workers roll, nothing else
    local changed = variant(dir, "changed.lua", CPU_GROUP:gsub('"preprocess": 1', '"preprocess": 2'))
    local r = raycai(s, { changed })
    assert.equal(0, r.code, r.stderr)
    local rolled
    s:wait_for(function()
      rolled = apps_of(s, "raycai-mixed-")
      return count(rolled) == 4 and rolled["raycai-mixed-cpu-1"].status == "APPLICATION_RUNNING"
    end, 30, "the replaced cpu workers")
    assert.equal(before["raycai-mixed-head"].id, rolled["raycai-mixed-head"].id)
    assert.equal(before["raycai-mixed-worker-1"].id, rolled["raycai-mixed-worker-1"].id)
    assert.are_not.equal(before["raycai-mixed-cpu-1"].id, rolled["raycai-mixed-cpu-1"].id)
    assert.are_not.equal(before["raycai-mixed-cpu-2"].id, rolled["raycai-mixed-cpu-2"].id)
    -- the group removed from the recipe: up deletes its applications
    local without = variant(dir, "without.lua", "{}")
    local p = raycai(s, { without, "plan" })
    assert.matches("delete%s+application%s+raycai%-mixed%-cpu%-1%s+group no longer in the recipe", p.stdout)
    r = raycai(s, { without })
    assert.equal(0, r.code, r.stderr)
    s:wait_for(function() return count(apps_of(s, "raycai-mixed-")) == 2 end, 30, "the removed group's apps to be gone")
    assert.equal(before["raycai-mixed-worker-1"].id, apps_of(s, "raycai-mixed-")["raycai-mixed-worker-1"].id)
  end)

  it("a group added by with{} to gpu_cluster deploys, scales and rolls alone on a change of its ray_labels", function()
    -- (issue 13) the team's recipe next to a copy of gpu_cluster, as recipes/team_example.lua does
    assert(fs.write(fs.join(dir, "gpu_cluster.lua"), assert(fs.read("recipes/gpu_cluster.lua"))))
    local team = fs.join(dir, "gpu_plus_cpu.lua")
    assert(fs.write(team, [[
return require("gpu_cluster"):with {
  name = "gpu_plus_cpu",
  defaults = { workers = 1, groups = { cpu = { workers = 2, cpu = 4, memory = 16, edition = "Standard",
                                               ray_resources = { preprocess = 1 }, ray_labels = { tier = "cpu" } } } },
}
]]))
    local p = raycai(s, { team, "params" })
    assert.equal(0, p.code, p.stderr)
    assert.matches("groups%.cpu%.ray_labels", p.stdout)
    local r = raycai(s, { team })
    assert.equal(0, r.code, r.stderr)
    local before = apps_of(s, "raycai-gpu-")
    assert.equal(4, count(before))
    local cpu1, gpu = before["raycai-gpu-cpu-1"], before["raycai-gpu-worker-1"]
    assert.is_table(before["raycai-gpu-cpu-2"])
    assert.same({ 4, 16, 0, "cpu" }, { cpu1.cpu, cpu1.memory, cpu1.nvidia_gpu, env_of(cpu1).RAYCAI_GROUP })
    assert.not_matches("cuda", cpu1.runtime_identifier)
    assert.matches("cuda", gpu.runtime_identifier)
    assert.equal(".raycai/gpu/worker-cpu.py", cpu1.script)
    -- the group's labels changed from the command line: its workers roll, nothing else
    r = raycai(s, { "--set", "groups.cpu.ray_labels.tier=prep", team })
    assert.equal(0, r.code, r.stderr)
    local after = apps_of(s, "raycai-gpu-")
    assert.equal(before["raycai-gpu-head"].id, after["raycai-gpu-head"].id)
    assert.equal(gpu.id, after["raycai-gpu-worker-1"].id)
    assert.are_not.equal(cpu1.id, after["raycai-gpu-cpu-1"].id)
    -- scaled by --set like a declared group: the surplus goes, the rest stays
    r = raycai(s, { "--set", "groups.cpu.ray_labels.tier=prep", "--set", "groups.cpu.workers=1", team })
    assert.equal(0, r.code, r.stderr)
    s:wait_for(function() return count(apps_of(s, "raycai-gpu-")) == 3 end, 30, "the surplus cpu worker to be gone")
    assert.equal(after["raycai-gpu-cpu-1"].id, apps_of(s, "raycai-gpu-")["raycai-gpu-cpu-1"].id)
    assert.equal(0, raycai(s, { team, "down" }).code)
    assert.equal(0, count(apps_of(s, "raycai-gpu-")))
  end)

  it("an unchanged running head's check is every group's read: the groups' changes follow it at once", function()
    -- (issue 13) asserted by request order in the simulator's log, not by time
    local with_cpu = variant(dir, "with_cpu.lua", CPU_GROUP)
    assert.equal(0, raycai(s, { with_cpu }).code)
    local head_id = apps_of(s, "raycai-mixed-")["raycai-mixed-head"].id
    s:clear_requests()
    local r = raycai(s, { "--set", "groups.cpu.workers=3", "--set", "workers=0", with_cpu })
    assert.equal(0, r.code, r.stderr)
    local lock_at, lists, changes = nil, {}, {}
    -- the simulator's timer mode writes no venv marker, so setup runs again; its wait has a
    -- listing of its own (issue 17: overlap asks whether the cluster has applications): count
    -- from the setup's last look at its runs, where start_head begins
    local setup_done = 0
    for i, q in ipairs(s:requests()) do if q.path:match("/runs/[^/]+$") then setup_done = i end end
    for i, q in ipairs(s:requests()) do
      local on_apps = q.path:match("/applications$") or q.path:match("/applications/[^/]+$")
      if not lock_at and q.method == "POST" and q.path:match("/files$") then lock_at = i end  -- the lock: apply begins
      if lock_at and i > setup_done and on_apps and #changes == 0 and q.method == "GET" and q.path:match("/applications$") then
        lists[#lists + 1] = i
      end
      if lock_at and on_apps and q.method ~= "GET" then changes[#changes + 1] = q.method end
    end
    assert.is_number(lock_at)
    -- one listing of the applications between the start of apply and the first change: the
    -- head's check, which start_workers reconciles every group from
    assert.equal(1, #lists)
    table.sort(changes)
    assert.same({ "DELETE", "POST" }, changes)  -- worker-1 (workers=0) goes, cpu-3 comes
    local after = apps_of(s, "raycai-mixed-")
    assert.is_table(after["raycai-mixed-cpu-3"])
    assert.is_nil(after["raycai-mixed-worker-1"])
    assert.equal(head_id, after["raycai-mixed-head"].id)  -- the head was kept
  end)

  it("a head that fails gets no worker, also when only a group changed", function()
    local with_cpu = variant(dir, "with_cpu.lua", CPU_GROUP)
    assert.equal(0, raycai(s, { with_cpu }).code)
    -- the running head fails now, and so does the one that replaces it
    s:control("POST", "/_sim/fail_application", { name = "raycai-mixed-head", count = 2 })
    s:clear_requests()
    local r = raycai(s, { "--set", "groups.cpu.workers=3", with_cpu })
    assert.equal(1, r.code, r.stderr)
    assert.matches("head failed: raycai%-mixed%-head", r.stderr)
    for _, q in ipairs(s:requests()) do
      if q.method == "POST" and q.path:match("/applications$") then
        assert.matches('"name": *"raycai%-mixed%-head"', q.body)
      end
    end
    assert.is_nil(apps_of(s, "raycai-mixed-")["raycai-mixed-cpu-3"])
  end)

  it("down sweeps every group, also one no longer in the recipe", function()
    assert.equal(0, raycai(s, { variant(dir, "with_cpu.lua", CPU_GROUP) }).code)
    assert.equal(0, raycai(s, { variant(dir, "without.lua", "{}"), "down" }).code)
    assert.equal(0, count(apps_of(s, "raycai-mixed-")))
  end)

  it("a changed launcher template override rolls the workers that use it, nothing else", function()
    local tmpl = assert(io.open("lua/raycai/templates/worker.py.tmpl")):read("a")
    assert(fs.mkdir(fs.join(dir, "templates")))
    assert(fs.write(fs.join(dir, "templates", "worker.py.tmpl"), tmpl))
    local recipe = variant(dir, "override.lua", "{}", 'launchers = { worker = "templates/worker.py.tmpl" },')
    local first = raycai(s, { recipe })
    assert.equal(0, first.code, first.stderr)
    local before = apps_of(s, "raycai-mixed-")
    -- the same template: no application to replace (timer mode re-runs the setup job: no venv is built)
    assert.not_matches("update%s+application", raycai(s, { recipe, "plan" }).stdout)
    assert(fs.write(fs.join(dir, "templates", "worker.py.tmpl"), tmpl .. "\n# the team's change\n"))
    local r = raycai(s, { recipe })
    assert.equal(0, r.code, r.stderr)
    local after = apps_of(s, "raycai-mixed-")
    assert.equal(before["raycai-mixed-head"].id, after["raycai-mixed-head"].id)
    assert.are_not.equal(before["raycai-mixed-worker-1"].id, after["raycai-mixed-worker-1"].id)
  end)
end)
