-- raycai.actions: the table of actions raycai-run runs (issue 13 item 5). Pure Lua.
local actions = require "raycai.actions"
local context = require "raycai.context"
local runner = require "raycai.runner"
local recipe = require "raycai.recipe"


describe("raycai.actions", function()
  it("has one documented entry per action, each runnable or offline", function()
    for _, name in ipairs(actions.ORDER) do
      local a = actions[name]
      assert.is_table(a, name)
      assert.is_string(a.doc[1], name)
      assert.is_true(type(a.run) == "function" or a.offline == true, name)
      assert.matches("\n?  " .. name .. " +", actions.usage())
    end
    assert.equal("up, plan, status, down, params, suspend, resume, autostop, run, submit, job, logs or env", actions.names())
  end)

  it("dispatches through the table and passes a returned nil, message, exit code on", function()
    local r = recipe.new { name = "t", steps = { { name = "s", plan = function() return nil, "no way", 2 end } } }
    local ctx = context.new(r, {}, {})
    local code, err = runner.run(ctx, "plan")
    assert.is_nil(code)
    assert.matches("no way", err)
    assert.has_error(function() runner.run(ctx, "nope") end)
  end)

  it("runs an added action with no other change", function()
    actions.hello = { doc = { "say hello" }, run = function() return 7 end }
    local ctx = context.new(recipe.new { name = "t", steps = {} }, {}, {})
    assert.equal(7, runner.run(ctx, "hello"))
    actions.hello = nil
  end)
end)
