-- recipe:with{}: composition in one call (issue 13 item 1). Pure Lua: no simulator.
local recipe = require "raycai.recipe"
local ray = require "raycai.ray"

local function step(name) return { name = name, plan = function() return {} end, apply = function() return true end } end

local function names(r, values)
  local out = {}
  for i, s in ipairs(r:step_list(values or {})) do out[i] = s.name end
  return table.concat(out, ",")
end

local function base()
  return ray.recipe { name = "base", defaults = { cluster = "gpu", workers = 2 } }
end

local function raised(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  return tostring(err)
end


describe("recipe:with{}", function()
  it("adds a step after another, by name, and changes nothing else", function()
    local b = base()
    local r = b:with { name = "team", after = { start_workers = step("announce") } }
    assert.equal("setup_venv,write_launchers,start_head,start_workers,announce", names(r))
    assert.equal("setup_venv,write_launchers,start_head,start_workers", names(b))
    assert.equal("team", r.name)
    assert.equal(b.doc, r.doc)
  end)

  it("inserts before, replaces and removes by name; a list inserts several in order", function()
    local r = base():with {
      before = { setup_venv = { step("check"), step("quota") } },
      replace = { write_launchers = step("my_launchers") },
      remove = { "start_workers" },
    }
    assert.equal("check,quota,setup_venv,my_launchers,start_head", names(r))
  end)

  it("takes remove as a set too", function()
    assert.equal("setup_venv,write_launchers,start_head", names(base():with { remove = { start_workers = true } }))
  end)

  it("refuses an unknown step name with the caller's line and the step names", function()
    for _, key in ipairs({ "before", "after", "replace" }) do
      local err = raised(function() return base():with { [key] = { start_worker = step("x") } } end)
      assert.matches("with_spec%.lua:%d+: with%(%): " .. key .. ": no step named 'start_worker'", err)
      assert.matches("the steps are: setup_venv, write_launchers, start_head, start_workers", err)
    end
    local err = raised(function() return base():with { remove = { "nope" } } end)
    assert.matches("with_spec%.lua:%d+: .*remove: no step named 'nope'", err)
  end)

  it("refuses two steps of one name, a step without a name and a step that is not a table", function()
    assert.matches("two steps are named 'start_head'",
      raised(function() return base():with { after = { start_workers = step("start_head") } } end))
    assert.matches("needs a name", raised(function() return base():with { after = { start_workers = { {} } } } end))
    assert.matches("must be a step or a list",
      raised(function() return base():with { after = { start_workers = 3 } } end))
    assert.matches("both replaced and removed", raised(function()
      return base():with { replace = { start_head = step("h") }, remove = { "start_head" } } end))
  end)

  it("sets defaults, checked against the parameters, with a suggestion for a typo", function()
    local r = base():with { defaults = { workers = 4, head = { cpu = 8 } } }
    local v = assert(r:values())
    assert.equal(4, v.workers)
    assert.equal(8, v.head.cpu)
    assert.equal(2, assert(base():values()).workers)
    assert.matches("no parameter 'wokers'; did you mean 'workers'",
      raised(function() return base():with { defaults = { wokers = 3 } } end))
    assert.matches("worker%.memory", raised(function() return base():with { defaults = { worker = { memory = 1e9 } } } end))
  end)

  it("refuses a table mixing the two forms with a hint to defaults =", function()
    assert.matches("unknown key 'workers'.*defaults = { workers = ...",
      raised(function() return base():with { name = "x", workers = 3 } end))
  end)

  it("still takes the older with(defaults, { name, doc, steps }) form", function()
    local r = base():with({ workers = 5 }, { name = "old", steps = { step("only") } })
    assert.equal("old", r.name)
    assert.equal(5, assert(r:values()).workers)
    assert.equal("only", names(r))
    assert.equal(3, assert(base():with { workers = 3 }:values()).workers)
  end)

  it("shares nothing mutable with the original: parameters, steps and hooks", function()
    local b = base()
    local r = b:with { defaults = { workers = 3 } }
    assert.are_not.equal(b.params.workers, r.params.workers)
    assert.are_not.equal(b.params.head.cpu, r.params.head.cpu)
    r.params.head.cpu.default = 99
    assert.equal(4, b.params.head.cpu.default)
    r:step_list({})[1].apply = nil
    assert.is_function(b:step_list({})[1].apply)
    assert.are_not.equal(b.hooks, r.hooks)
    assert.equal(b.hooks.summary, r.hooks.summary)
    r.hooks.summary = nil
    assert.is_function(b.hooks.summary)
    -- the library's own step tables are not the copies'
    assert.are_not.equal(ray.start_head, r:step_list({})[3])
  end)

  it("applies the edits to a step list chosen by parameter values", function()
    local r = recipe.new { name = "f", steps = function() return { step("a"), step("b") } end }
    local c = r:with { after = { a = step("x") } }
    assert.equal("a,x,b", names(c))
    local bad = r:with { after = { z = step("x") } }
    assert.matches("no step named 'z'; the steps are: a, b", raised(function() return bad:step_list({}) end))
  end)
end)


describe("recipes/team_example.lua", function()
  it("is gpu_cluster with its step after start_workers and nothing else changed", function()
    local sandbox = require "raycai.sandbox"
    local team = sandbox.run_file(sandbox.new("recipes/team_example.lua"), "recipes/team_example.lua")
    local gpu = sandbox.run_file(sandbox.new("recipes/gpu_cluster.lua"), "recipes/gpu_cluster.lua")
    assert.equal("setup_venv,write_launchers,start_head,start_workers,announce", names(team))
    for i, s in ipairs(gpu:step_list({})) do
      local t = team:step_list({})[i]
      for _, fn in ipairs({ "plan", "apply", "destroy", "status", "early" }) do assert.equal(s[fn], t[fn]) end
    end
    local tv, gv = assert(team:values()), assert(gpu:values())
    assert.equal("team-gpu", tv.cluster)
    assert.equal(4, tv.workers)
    assert.same(gv.head, tv.head)
    assert.same(gv.worker, tv.worker)
    assert.equal(gpu.hooks.summary, team.hooks.summary)
  end)
end)
