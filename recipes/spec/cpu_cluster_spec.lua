-- Specs of recipes/cpu_cluster.lua, run with `raycai-run test recipes`.
local t = require "raycai.testing"

local RECIPE = t.path("cpu_cluster.lua")


describe("cpu_cluster", function()
  local sim

  before_each(function() sim = t.sim { delays = t.QUICK } end)
  after_each(function() sim:stop() end)

  it("runs head and workers on Standard runtimes without GPUs", function()
    local r = sim:run(RECIPE, "up", { json = true })
    assert.equal(0, r.code, r.stderr)
    local c = sim:cluster("cpu")
    assert.equal(2, #c.workers)
    for _, a in pairs(c.apps) do
      assert.equal(0, a.nvidia_gpu)
      assert.matches("standard", a.runtime_identifier)
    end
    -- the run's events say the same
    local summary
    for _, e in ipairs(r.events) do if e.event == "summary" then summary = e end end
    assert.equal(2, summary.workers_ready)
  end)

  it("refuses a bad parameter before sending anything", function()
    local r = sim:run(RECIPE, "up", { set = { workers = -1 } })
    assert.equal(2, r.code)
    assert.equal(0, #sim:requests())
  end)
end)
