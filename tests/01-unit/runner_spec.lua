-- raycai.runner and the needs of steps (issue 13 item 5): a returned nil, message, code is the
-- user's (one line, its code); a thrown error is a bug (internal error, exit 1, traceback only
-- with -v); steps and actions declare needs, prepared once per phase before the first step that
-- needs them; an unknown need is a recipe error at load with file:line. Pure Lua, no simulator.
local runner = require "raycai.runner"
local recipe = require "raycai.recipe"
local context = require "raycai.context"
local actions = require "raycai.actions"
local ui = require "raycai.ui"
local term = require "raycai.term"


--- Run fn with ui.error and term.write captured: returns fn's results, the error lines, and
--- what went to stderr besides them.
local function captured(fn)
  local errors, stderr = {}, {}
  local real_error, real_write = ui.error, term.write
  ui.error = function(msg) errors[#errors + 1] = msg end
  term.write = function(stream, text) if stream == "stderr" then stderr[#stderr + 1] = text end end
  local res = table.pack(pcall(fn))
  ui.error, term.write = real_error, real_write
  assert(res[1], res[2])
  return res[2], errors, table.concat(stderr)
end


local function step(name, fields)
  local s = { name = name }
  for k, v in pairs(fields or {}) do s[k] = v end
  return s
end


describe("raycai.runner.protect", function()
  before_each(function() ui.configure { quiet = true, live = false, color = false } end)

  it("prints a returned error as one line and exits with its code (1 unless given)", function()
    local code, errors = captured(function()
      return runner.protect({}, function() return nil, "project x is missing; run up first", 2 end)
    end)
    assert.equal(2, code)
    assert.same({ "project x is missing; run up first" }, errors)
    code, errors = captured(function() return runner.protect({}, function() return nil, "the job failed" end) end)
    assert.equal(1, code)
    assert.same({ "the job failed" }, errors)
  end)

  it("passes an exit code through, true is 0", function()
    local code, errors = captured(function() return runner.protect({}, function() return 3 end) end)
    assert.equal(3, code)
    assert.same({}, errors)
    assert.equal(0, (captured(function() return runner.protect({}, function() return true end) end)))
  end)

  it("turns a thrown error into exit 1 and an internal-error line, the traceback only with -v", function()
    local function boom() local t = nil; return t.field end  -- a bug
    local code, errors, stderr = captured(function() return runner.protect({}, boom) end)
    assert.equal(1, code)
    assert.equal(1, #errors)
    assert.matches("^internal error: .*attempt to index", errors[1])
    assert.matches("report it", errors[1])
    assert.equal("", stderr)
    code, errors, stderr = captured(function() return runner.protect({ verbose = true }, boom) end)
    assert.equal(1, code)
    assert.matches("^internal error:", errors[1])
    assert.matches("stack traceback:", stderr)
    assert.matches("runner_spec.lua", stderr)  -- where it was raised
  end)

  it("shows the traceback of where a step raised, not of the lock's re-raise", function()
    local r = recipe.new { name = "t", steps = { step("s", { apply = function() error("step bug") end }) },
                           hooks = { lock = function() return function() end end } }
    local ctx = context.new(r, {}, { action = "up" })
    ctx.state = {}
    local code, errors, stderr = captured(function()
      return runner.protect({ verbose = true }, function() return r:up(ctx) end)
    end)
    assert.equal(1, code)
    assert.matches("internal error: .*step bug", errors[1])
    assert.matches("runner_spec.lua:%d+: in ", stderr)
  end)
end)


describe("needs", function()
  it("an unknown need is a recipe error at the recipe's line, naming the known needs", function()
    local ok, err = pcall(recipe.new, { name = "t", steps = { step("s", { needs = { "gpus" } }) } })
    assert.is_false(ok)
    assert.matches("runner_spec%.lua:%d+: recipe step 's': needs: no need named 'gpus'; the needs are: client", err)
    ok, err = pcall(recipe.new, { name = "t", steps = { step("s", { needs = { plan = { "nope" } } }) } })
    assert.is_false(ok)
    assert.matches("runner_spec%.lua:%d+: .*no need named 'nope' in plan", err)
    ok, err = pcall(recipe.new, { name = "t", steps = { step("s", { needs = { up = { "client" } } }) } })
    assert.is_false(ok)
    assert.matches("runner_spec%.lua:%d+: .*'up' is not a step function", err)
  end)

  it("a step added by with{} is checked against the recipe's providers", function()
    local base = recipe.new { name = "b", steps = { step("a") }, needs = { thing = function() return true end } }
    local copy = base:with { after = { a = step("x", { needs = { "thing", "client" } }) } }
    assert.is_function(copy.needs.thing)
    local ok, err = pcall(base.with, base, { after = { a = step("y", { needs = { "other" } }) } })
    assert.is_false(ok)
    assert.matches("runner_spec%.lua:%d+: .*no need named 'other'; the needs are: client, thing", err)
  end)

  it("are prepared once per phase, before the first step that needs them", function()
    local calls, seen = {}, {}
    local r = recipe.new { name = "t",
      needs = { thing = function(ctx) calls[#calls + 1] = ctx.phase return true end },
      steps = {
        step("first", { plan = function() seen[#seen + 1] = "first:" .. #calls return {} end }),
        step("second", { needs = { "thing" }, plan = function() seen[#seen + 1] = "second:" .. #calls return {} end,
                         status = function() return {} end }),
        step("third", { needs = { "thing" }, plan = function() return {} end }),
      } }
    local ctx = context.new(r, {}, {})
    assert.same({}, r:plan(ctx))
    assert.same({ "plan" }, calls)
    assert.same({ "first:0", "second:1" }, seen)
    r:status(ctx)
    assert.same({ "plan", "status" }, calls)
  end)

  it("keyed needs apply to that function only", function()
    local n = 0
    local r = recipe.new { name = "t", needs = { thing = function() n = n + 1 return true end },
      steps = { step("s", { needs = { plan = { "thing" } }, plan = function() return {} end,
                            status = function() return {} end }) } }
    local ctx = context.new(r, {}, {})
    r:status(ctx)
    assert.equal(0, n)
    r:plan(ctx)
    assert.equal(1, n)
  end)

  it("a need that cannot be had is the run's returned error, with its code, and no step runs", function()
    local ran = false
    local r = recipe.new { name = "t",
      needs = { thing = function() return nil, "no CML settings: set CML_HOST", 2 end },
      steps = { step("s", { needs = { "thing" }, apply = function() ran = true return true end }) } }
    local ctx = context.new(r, {}, {})
    ctx.state = {}
    local ok, err, code = r:up(ctx)
    assert.is_nil(ok)
    assert.equal("no CML settings: set CML_HOST", err)
    assert.equal(2, code)
    assert.is_false(ran)
  end)

  it("the client need returns ctx:client()'s error (exit 2 for bad settings) instead of raising", function()
    local ctx = { client = function() return nil, "CML_HOST is set but CML_API_KEY is not", 2 end }
    local ok, err, code = recipe.NEEDS.client(ctx)
    assert.is_nil(ok)
    assert.matches("CML_API_KEY", err)
    assert.equal(2, code)
  end)

  it("the needs of the first step are prepared before the lock is taken", function()
    local order = {}
    local r = recipe.new { name = "t", needs = { thing = function() order[#order + 1] = "need" return true end },
      steps = { step("s", { needs = { "thing" }, destroy = function() order[#order + 1] = "destroy" return true end }) },
      hooks = { lock = function() order[#order + 1] = "lock" return function() end end } }
    local ctx = context.new(r, {}, {})
    assert.is_true(r:down(ctx))
    assert.same({ "need", "lock", "destroy" }, order)
  end)
end)


describe("raycai.runner.run", function()
  before_each(function() ui.configure { quiet = true, live = false, color = false } end)
  after_each(function() actions.probe = nil end)

  it("prepares the action's needs first and returns their error", function()
    local ran = false
    actions.probe = { doc = { "probe" }, needs = { "thing" }, run = function() ran = true return 0 end }
    local r = recipe.new { name = "t", steps = {},
                           needs = { thing = function() return nil, "project p has no cluster c", 1 end } }
    local ok, err, code = runner.run(context.new(r, {}, {}), "probe")
    assert.is_nil(ok)
    assert.equal("project p has no cluster c", err)
    assert.equal(1, code)
    assert.is_false(ran)
  end)

  it("a need the recipe does not provide is a usage error naming what it provides", function()
    actions.probe = { doc = { "probe" }, needs = { "project" }, run = function() return 0 end }
    local ok, err, code = runner.run(context.new(recipe.new { name = "t", steps = {} }, {}, {}), "probe")
    assert.is_nil(ok)
    assert.matches("cannot provide 'project' %(it provides client%)", err)
    assert.equal(2, code)
  end)

  it("a refusing warnings hook stops plan with exit 2 before any step", function()
    local planned = false
    local r = recipe.new { name = "t", steps = { step("s", { plan = function() planned = true return {} end }) },
                           hooks = { warnings = function() return nil, "Ray 2.9 has no token authentication" end } }
    local code, errors = captured(function()
      return runner.protect({}, runner.run, context.new(r, {}, {}), "plan")
    end)
    assert.equal(2, code)
    assert.same({ "Ray 2.9 has no token authentication" }, errors)
    assert.is_false(planned)
  end)

  it("a step's returned code reaches the exit code; its message names the step", function()
    local r = recipe.new { name = "t", steps = { step("s", { plan = function() return nil, "bad template", 2 end }) } }
    local code, errors = captured(function()
      return runner.protect({}, runner.run, context.new(r, {}, {}), "plan")
    end)
    assert.equal(2, code)
    assert.same({ "s: bad template" }, errors)
  end)
end)


describe("raycai.ray.state", function()
  it("declares every field; writing an undeclared one is a bug", function()
    local state = require "raycai.ray.state"
    local st = state.new({}, 0)
    st.generation = "g1"
    assert.equal("g1", st.generation)
    local ok, err = pcall(function() st.genration = "typo" end)
    assert.is_false(ok)
    assert.matches("genration is not a field of raycai.ray.RayRunState", err)
    -- the class annotation and FIELDS list the same fields
    local text = assert(io.open("lua/raycai/ray/state.lua")):read("a")
    local annotated = {}
    for f in text:gmatch("\n%-%-%-@field ([%w_]+)") do annotated[#annotated + 1] = f end
    assert.same(state.FIELDS, annotated)
  end)
end)
