-- Worker groups, ray_args and their names (issue 13 items 2 and 3). Pure Lua: no simulator.
local groups = require "raycai.ray.groups"
local naming = require "raycai.ray.naming"
local ray = require "raycai.ray"
local recipe = require "raycai.recipe"

local function raised(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  return tostring(err)
end


describe("worker groups", function()
  it("accepts DNS labels of at most 20 characters", function()
    for _, name in ipairs({ "cpu", "gpu-a100", "a", "x1", ("a"):rep(20) }) do
      assert.is_true(groups.check_name(name), name)
    end
  end)

  it("refuses names that are not DNS labels, too long, or a role", function()
    for _, name in ipairs({ "CPU", "-cpu", "cpu-", "c--pu", "c_pu", "c.pu", ("a"):rep(21), "" }) do
      local ok, err = groups.check_name(name)
      assert.is_nil(ok, name)
      assert.is_string(err)
    end
    for _, role in ipairs({ "head", "setup", "submit" }) do
      assert.matches("is a raycai role", select(2, groups.check_name(role)))
    end
    assert.matches("is the default group", select(2, groups.check_name("worker")))
  end)

  it("takes a map or a list, sorted by name, and refuses a duplicate", function()
    local defs = assert(groups.definitions({ b = {}, a = {} }))
    assert.same({ "a", "b" }, { defs[1].name, defs[2].name })
    defs = assert(groups.definitions({ { name = "z" }, { name = "y" } }))
    assert.same({ "y", "z" }, { defs[1].name, defs[2].name })
    assert.matches("defined twice", select(2, groups.definitions({ { name = "cpu" }, { name = "cpu" } })))
    assert.matches("defined twice", select(2, groups.definitions({ { name = "cpu" }, cpu = {} })))
    assert.matches("must be a table", select(2, groups.definitions({ cpu = 3 })))
  end)

  it("are parameters: defaults, --set groups.cpu.workers, the default group first", function()
    local r = ray.recipe { name = "m", defaults = { workers = 1, groups = { cpu = { workers = 3, cpu = 2 } } } }
    local v = assert(r:values({ "groups.cpu.workers=5" }))
    local list = groups.of(v)
    assert.same({ "worker", "cpu" }, { list[1].name, list[2].name })
    assert.equal(5, list[2].workers)
    assert.equal(2, list[2].cpu)
    assert.equal("Standard", list[2].edition)
    assert.equal(6, groups.total(v))
    assert.matches("groups%.cpu%.workers", select(2, r:values({ "groups.cpu.workers=-1" })))
  end)

  it("refuses a bad group in a recipe's defaults at the recipe's line", function()
    assert.matches("groups_spec%.lua:%d+: .*raycai role", raised(function()
      return ray.recipe { name = "m", defaults = { groups = { head = {} } } } end))
    assert.matches("groups_spec%.lua:%d+: .*not valid", raised(function()
      return ray.recipe { name = "m", defaults = { groups = { CPU = {} } } } end))
    assert.matches("groups_spec%.lua:%d+: .*defined twice", raised(function()
      return ray.recipe { name = "m", defaults = { groups = { { name = "a" }, { name = "a" } } } } end))
    assert.matches("no setting 'wokers'", raised(function()
      return ray.recipe { name = "m", defaults = { groups = { cpu = { wokers = 2 } } } } end))
  end)
end)


describe("group names of applications", function()
  local n = naming.for_cluster(("c"):rep(30), "project-id")

  it("keep the default group's historic names and give others raycai-<cluster>-<group>-<i>", function()
    assert.equal(n.worker(3), n.group_app("worker", 3))
    assert.equal(n.worker_subdomain(3), n.group_subdomain("worker", 3))
    assert.equal("raycai-" .. ("c"):rep(30) .. "-cpu-2", n.group_app("cpu", 2))
    assert.equal(n.dir .. "/worker-cpu.py", n.group_script("cpu"))
    assert.equal(n.files.worker, n.group_script("worker"))
    assert.equal(2, n.group_index("cpu", n.group_app("cpu", 2)))
    assert.is_nil(n.group_index("cpu", n.group_app("gpu", 2)))
  end)

  it("keep subdomains DNS labels within 63 characters at the longest cluster and group names", function()
    local sub = n.group_subdomain(("g"):rep(groups.MAX_NAME), 1024)
    assert.is_true(#sub <= 63, sub)
    assert.truthy(sub:match("^[a-z0-9][a-z0-9%-]*[a-z0-9]$"))
    assert.are_not.equal(n.group_subdomain("w1", 1), n.worker_subdomain(1))
  end)
end)


describe("ray_args", function()
  it("accepts ray start arguments, one per entry, JSON included", function()
    assert.is_true(ray.check_ray_args({ '--resources={"preprocess": 1}', "--labels=zone=a", "--num-cpus=3" }))
  end)

  it("refuses the flags raycai owns", function()
    for _, a in ipairs({ "--head", "--address=x:1", "--port", "--block", "--node-ip-address=1.2.3.4",
                         "--dashboard-port=1", "--dashboard-host" }) do
      local ok, err = ray.check_ray_args({ a })
      assert.is_nil(ok, a)
      assert.matches("raycai sets", err)
    end
  end)

  it("refuses shell syntax and empty entries", function()
    for _, a in ipairs({ "--x=$(id)", "--x=`id`", "a;b", "a|b", "a&b", "a>b", "a\nb", "a\\b" }) do
      local ok, err = ray.check_ray_args({ a })
      assert.is_nil(ok, a)
      assert.matches("shell syntax", err)
    end
    assert.is_nil((ray.check_ray_args({ "" })))
  end)

  it("is a parameter of head, worker and each group, checked at the recipe's line", function()
    assert.matches("groups_spec%.lua:%d+: .*raycai sets %-%-head", raised(function()
      return ray.recipe { name = "m", defaults = { groups = { cpu = { ray_args = { "--head" } } } } } end))
    assert.matches("head%.ray_args", raised(function()
      return ray.recipe { name = "m", defaults = { head = { ray_args = { "--port=1" } } } } end))
    local r = ray.recipe { name = "m" }
    assert.matches("worker%.ray_args", select(2, r:values({ "worker.ray_args=--block" })))
  end)

  it("goes into the spec of the launchers it changes", function()
    local text = require "raycai.ray.launcher_text"
    local r = ray.recipe { name = "m", defaults = { groups = { cpu = { ray_args = { "--num-cpus=2" } } } } }
    local v = assert(r:values())
    local names = naming.for_cluster("m", "pid")
    local rt = { head = "img-std", worker = "img-gpu", cpu = "img-std" }
    local a = assert(text.all(v, names, rt))
    local v2 = assert(r:values({ "groups.cpu.ray_args=--num-cpus=3" }))
    local b = assert(text.all(v2, names, rt))
    assert.equal(a.head, b.head)
    assert.equal(a.worker, b.worker)
    assert.are_not.equal(a.cpu, b.cpu)
    assert.truthy(b.cpu:find("--num-cpus=3", 1, true))
  end)

  it("the recipe helper user_error is what every refusal uses", function()
    assert.is_function(recipe.user_error)
  end)
end)
