-- Specs of recipes/team_example.lua: a team recipe built on gpu_cluster with its own defaults and
-- a shared module. Run with `raycai-run test recipes`.
local t = require "raycai.testing"

local RECIPE = t.path("team_example.lua")


describe("team_example", function()
  local sim

  before_each(function() sim = t.sim { delays = t.QUICK } end)
  after_each(function() sim:stop() end)

  it("deploys the team's cluster into the team's project with the team's environment", function()
    local r = sim:run(RECIPE, "up", { set = { workers = 2 } })
    assert.equal(0, r.code, r.stderr)
    assert.matches("team cluster ready", r.stdout .. r.stderr)
    local c = sim:cluster("team-gpu", { project = "ml-platform-ray" })
    assert.equal(2, #c.workers)
    assert.equal("APPLICATION_RUNNING", c.head.status)
    assert.is_string(c.head.environment.RAYCAI_GENERATION)
  end)

  it("documents its parameters", function()
    local r = sim:run(RECIPE, "params")
    assert.equal(0, r.code, r.stderr)
    assert.matches("project%s+string%s+ml%-platform%-ray", r.stdout)
  end)
end)
