-- Ray custom resources and node labels per role (ray_resources, ray_labels), the template
-- variables named after their parameters, and with{} adding a worker group (issue 13). Pure
-- Lua: no simulator.
local ray = require "raycai.ray"
local ray_start = require "raycai.ray.ray_start"
local groups = require "raycai.ray.groups"
local naming = require "raycai.ray.naming"
local text = require "raycai.ray.launcher_text"
local fs = require "raycai.fs"

local function raised(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  return tostring(err)
end

local RT = { head = "img-std", worker = "img-gpu", cpu = "img-std", io = "img-std" }

--- Every launcher of recipe r's values under --set `sets`.
local function scripts(r, sets)
  local v = assert(r:values(sets))
  return assert(text.all(v, naming.for_cluster("m", "pid"), RT, r.launchers)), v
end


describe("ray_resources", function()
  it("takes names with numbers >= 0, numeric strings included (as --set gives them)", function()
    assert.is_true(ray_start.check_resources({ preprocess = 1, ["accelerator-x"] = 0.5, big = "4", zero = 0 }))
  end)

  it("refuses Ray's default resources, naming the flag that sets each", function()
    for name, fix in pairs({ CPU = "num%-cpus", GPU = "num%-gpus", memory = "%-%-memory",
                             object_store_memory = "object_store_mb" }) do
      local ok, err = ray_start.check_resources({ [name] = 1 })
      assert.is_nil(ok, name)
      assert.matches("default resources", err)
      assert.matches(fix, err)
    end
    assert.matches("node:", select(2, ray_start.check_resources({ ["node:10.0.0.1"] = 1 })))
  end)

  it("refuses quantities that are no number or below 0", function()
    for _, bad in ipairs({ "many", -1, "1e999", "" }) do
      local ok, err = ray_start.check_resources({ pool = bad })
      assert.is_nil(ok, tostring(bad))
      assert.matches("resource 'pool'", err)
    end
  end)

  it("renders as sorted JSON, integers without a fraction", function()
    assert.equal('{"a": 2, "b": 0.5, "preprocess": 1}', ray_start.resources_json({ preprocess = "1", b = 0.5, a = 2.0 }))
    assert.equal("", ray_start.resources_json({}))
  end)
end)


describe("ray_labels", function()
  it("takes Ray's label syntax: prefixed keys, empty values", function()
    assert.is_true(ray_start.check_labels({ tier = "cpu", ["example.com/zone"] = "us-west-2a", ["a.b_c-d"] = "",
                                            ["ray.io/market-type"] = "spot", x = "A1" }))
  end)

  it("refuses what Ray's validate_label_key/value refuse", function()
    local bad = {
      { ["-tier"] = "cpu" }, { ["tier-"] = "cpu" }, { ["my@label"] = "x" }, { [("a"):rep(64)] = "x" },
      { ["Bad_Prefix_/x"] = "y" }, { ["-a.b/x"] = "y" }, { tier = "c,pu" }, { tier = "a=b" }, { tier = "-x" },
      { tier = ("v"):rep(64) }, { tier = "sp ace" },
    }
    for i, map in ipairs(bad) do
      local ok, err = ray_start.check_labels(map)
      assert.is_nil(ok, "case " .. i)
      assert.matches("not valid", err)
    end
  end)

  it("renders as k=v pairs sorted by key", function()
    assert.equal("a=1,tier=cpu,zone=", ray_start.labels_text({ zone = "", tier = "cpu", a = 1 }))
  end)
end)


describe("ray_resources and ray_labels as parameters", function()
  it("are parameters of head, worker and every group, set by --set <role>.ray_resources.<name>", function()
    local r = ray.recipe { name = "m", defaults = { groups = { cpu = { ray_resources = { preprocess = 1 },
                                                                       ray_labels = { tier = "cpu" } } } } }
    local v = assert(r:values({ "groups.cpu.ray_resources.preprocess=2", "head.ray_labels.role=head",
                                "worker.ray_resources.trainer=1" }))
    assert.same({ preprocess = "2" }, v.groups.cpu.ray_resources)
    assert.same({ tier = "cpu" }, v.groups.cpu.ray_labels)
    local list = groups.of(v)
    assert.same({ trainer = "1" }, list[1].ray_resources)
    assert.same({ preprocess = "2" }, list[2].ray_resources)
    assert.same({ role = "head" }, text.head_role(v).ray_labels)
  end)

  it("refuse a bad value at the recipe's line or naming the --set key, before anything runs", function()
    assert.matches("ray_start_spec%.lua:%d+: .*groups%.cpu%.ray_resources.*default resources", raised(function()
      return ray.recipe { name = "m", defaults = { groups = { cpu = { ray_resources = { CPU = 2 } } } } } end))
    assert.matches("ray_start_spec%.lua:%d+: .*head%.ray_labels.*not valid", raised(function()
      return ray.recipe { name = "m", defaults = { head = { ray_labels = { ["bad key"] = "x" } } } } end))
    local r = ray.recipe { name = "m", defaults = { groups = { cpu = {} } } }
    local v, err = r:values({ "groups.cpu.ray_resources.pool=lots" })
    assert.is_nil(v)
    assert.matches("^parameter groups%.cpu%.ray_resources: resource 'pool'", err)
    assert.matches("worker%.ray_labels", select(2, r:values({ "worker.ray_labels.tier=-x" })))
  end)

  it("refuse the same flag in ray_args, naming both parameters", function()
    assert.matches("ray_start_spec%.lua:%d+: groups%.cpu%.ray_args has '%-%-resources={\"x\": 1}' and "
      .. "groups%.cpu%.ray_resources is set", raised(function()
      return ray.recipe { name = "m", defaults = { groups = { cpu = {
        ray_args = { '--resources={"x": 1}' }, ray_resources = { y = 1 } } } } } end))
    local r = ray.recipe { name = "m", defaults = { head = { ray_labels = { tier = "head" } } } }
    local v, err = r:values({ "head.ray_args=--labels=a=b" })
    assert.is_nil(v)
    assert.matches("head%.ray_args has '%-%-labels=a=b' and head%.ray_labels is set", err)
    -- the flag alone in ray_args (the older way) stays allowed
    assert.truthy(r:values({ "head.ray_labels.tier=head", "worker.ray_args=--labels=a=b" }))
  end)

  it("refuse labels for a Ray without --labels key=value, naming the version that has it", function()
    local r = ray.recipe { name = "m", defaults = { groups = { cpu = { ray_labels = { tier = "cpu" } } } } }
    local v, err = r:values({ "ray.version=2.48.1", "insecure_ray=true" })
    assert.is_nil(v)
    assert.matches("^groups%.cpu%.ray_labels: Ray 2%.48%.1 takes no `%-%-labels key=value` %(Ray 2%.49 and later", err)
    assert.truthy(r:values({ "ray.version=2.49.0", "insecure_ray=true" }))
    -- resources have no version limit
    local r2 = ray.recipe { name = "m", defaults = { worker = { ray_resources = { x = 1 } } } }
    assert.truthy(r2:values({ "ray.version=2.40.0", "insecure_ray=true" }))
  end)

  it("reach only the launcher of their role: a change rolls that group alone", function()
    local r = ray.recipe { name = "m", defaults = { groups = { cpu = { ray_resources = { preprocess = 1 } },
                                                               io = {} } } }
    local a = scripts(r)
    local b = scripts(r, { "groups.cpu.ray_resources.preprocess=2", "groups.cpu.ray_labels.tier=cpu" })
    assert.equal(a.head, b.head)
    assert.equal(a.worker, b.worker)
    assert.equal(a.io, b.io)
    assert.are_not.equal(a.cpu, b.cpu)
    assert.truthy(b.cpu:find([[RAY_RESOURCES = '{"preprocess": 2}']], 1, true))
    assert.truthy(b.cpu:find([[RAY_LABELS = 'tier=cpu']], 1, true))
    local c = scripts(r, { "head.ray_labels.node=head" })
    assert.are_not.equal(a.head, c.head)
    assert.equal(a.cpu, c.cpu)
  end)
end)


describe("template variables", function()
  it("are named after their parameters: worker.cpu/gpu of the group, head.cpu", function()
    local r = ray.recipe { name = "m", defaults = { head = { cpu = 3 }, groups = { cpu = { cpu = 6, gpu = 0 } } } }
    local v = assert(r:values())
    local venv = { dir = "d", fingerprint = "f", log = "l", job = "j" }
    local gs = groups.of(v)
    local vars = text.vars(v, venv, gs[2])
    assert.same({ 6, 0, "cpu" }, { vars.worker.cpu, vars.worker.gpu, vars.worker.group })
    assert.equal(3, vars.head.cpu)
    assert.same({ 8, 1, "worker" }, { text.vars(v, venv, gs[1]).worker.cpu, text.vars(v, venv, gs[1]).worker.gpu,
                                      text.vars(v, venv, gs[1]).worker.group })
    -- the deprecated names (before issue 13) carry the same values, for launcher overrides
    assert.same({ 6, 0, 3 }, { vars.worker.cpus, vars.worker.gpus, vars.head.cpus })
  end)

  it("keep a launcher override that uses the deprecated worker.cpus rendering", function()
    local dir = assert(fs.tempdir("raycai-vars-"))
    assert(fs.write(fs.join(dir, "w.tmpl"), "cpus={{ worker.cpus }} cpu={{ worker.cpu }} gpus={{ worker.gpus }}\n"))
    local r = ray.recipe { name = "m", launchers = { cpu = fs.join(dir, "w.tmpl") },
                           defaults = { groups = { cpu = { cpu = 6, gpu = 0 } } } }
    local all = scripts(r)
    fs.remove(dir, { recursive = true })
    assert.equal("cpus=6 cpu=6 gpus=0\n", all.cpu)
  end)
end)


describe("launcher overrides and ray_resources/ray_labels", function()
  it("refuse an override that would drop the role's resources or labels, naming both", function()
    local dir = assert(fs.tempdir("raycai-over-"))
    local old = fs.join(dir, "old.tmpl")
    assert(fs.write(old, "cpus={{ worker.cpus }} args={{ ray.args }}\n"))
    local r = ray.recipe { name = "m", launchers = { worker = old }, defaults = { groups = { cpu = {} } } }
    assert.truthy(r:values())  -- nothing to drop
    local v, err = r:values({ "groups.cpu.ray_labels.tier=cpu" })
    assert.is_nil(v)
    assert.matches("^groups%.cpu%.ray_labels is set but the launcher override .*old%.tmpl never uses ray%.labels", err)
    -- the head's own template is raycai's: its resources pass
    assert.truthy(r:values({ "head.ray_resources.pool=1" }))
    assert.matches("ray_start_spec%.lua:%d+: worker%.ray_resources is set", raised(function()
      return ray.recipe { name = "m", launchers = { worker = old }, defaults = { worker = { ray_resources = { x = 1 } } } }
    end))
    fs.remove(dir, { recursive = true })
  end)
end)


describe("recipe:with{} adding a worker group", function()
  local base = ray.recipe { name = "gpu", defaults = { workers = 1 } }

  it("adds the group's parameters, names and validation as if the recipe declared it", function()
    local r = base:with { defaults = { groups = { cpu = { workers = 2, cpu = 4, ray_labels = { tier = "cpu" } } } } }
    local v = assert(r:values({ "groups.cpu.workers=3", "groups.cpu.memory=8" }))
    local list = groups.of(v)
    assert.same({ "worker", "cpu" }, { list[1].name, list[2].name })
    assert.same({ 3, 4, 8, 0, "Standard" }, { list[2].workers, list[2].cpu, list[2].memory, list[2].gpu, list[2].edition })
    assert.same({ tier = "cpu" }, list[2].ray_labels)
    assert.equal("raycai-gpu-cpu-1", naming.for_cluster("gpu", "pid").group_app("cpu", 1))
    -- the original is unchanged
    assert.same({}, assert(base:values()).groups)
    assert.matches("no such parameter", select(2, base:values({ "groups.cpu.workers=1" })))
  end)

  it("adds a group to a recipe that has groups, and changes an existing one by its defaults", function()
    local two = ray.recipe { name = "mix", defaults = { groups = { cpu = { workers = 1 } } } }
    local r = two:with { defaults = { groups = { cpu = { workers = 5 }, io = { workers = 2, cpu = 1 } } } }
    local v = assert(r:values())
    assert.same({ 5, 2, 1 }, { v.groups.cpu.workers, v.groups.io.workers, v.groups.io.cpu })
    -- composes: a with{} of the copy adds another
    local v3 = assert(r:with { defaults = { groups = { net = {} } } }:values())
    assert.same({ 5, 2, 1 }, { v3.groups.cpu.workers, v3.groups.io.workers, v3.groups.net.workers })
  end)

  it("refuses a bad group at the caller's line, like the recipe would", function()
    assert.matches("ray_start_spec%.lua:%d+: with%(%): group name 'head' is a raycai role", raised(function()
      return base:with { defaults = { groups = { head = { workers = 1 } } } } end))
    assert.matches("ray_start_spec%.lua:%d+: with%(%): group name \"CPU\" is not valid", raised(function()
      return base:with { defaults = { groups = { CPU = {} } } } end))
    assert.matches("ray_start_spec%.lua:%d+: with%(%): .*default group", raised(function()
      return base:with { defaults = { groups = { worker = {} } } } end))
    assert.matches("ray_start_spec%.lua:%d+: group 'cpu': no setting 'cpus'", raised(function()
      return base:with { defaults = { groups = { cpu = { cpus = 4 } } } } end))
    assert.matches("ray_start_spec%.lua:%d+: with%(%): parameter groups%.cpu%.workers is %-1", raised(function()
      return base:with { defaults = { groups = { cpu = { workers = -1 } } } } end))
    assert.matches("ray_start_spec%.lua:%d+: with%(%): group 'cpu' must be a table", raised(function()
      return base:with { defaults = { groups = { cpu = 3 } } } end))
    assert.matches("ray_start_spec%.lua:%d+: with%(%): groups%.cpu%.ray_args has", raised(function()
      return base:with { defaults = { groups = { cpu = { ray_args = { "--labels=a=b" },
                                                         ray_labels = { a = "c" } } } } } end))
  end)

  it("leaves other parameter groups closed: an unknown key is still refused with a suggestion", function()
    assert.matches("no parameter 'ray%.versoin'", raised(function()
      return base:with { defaults = { ray = { versoin = "2.54.0" } } } end))
  end)
end)
