-- Specs of recipes/mixed_cluster.lua: GPU trainers (the default group) beside a CPU group. Run
-- with `raycai-run test recipes`.
local t = require "raycai.testing"

local RECIPE = t.path("mixed_cluster.lua")


describe("mixed_cluster", function()
  local sim

  before_each(function() sim = t.sim { delays = t.QUICK } end)
  after_each(function() sim:stop() end)

  it("deploys the GPU trainers and the CPU group, each on its own runtime and resources", function()
    local r = sim:run(RECIPE, "up", { json = true })
    assert.equal(0, r.code, r.stderr)
    local c = sim:cluster("mixed")
    local gpu, cpu = c.apps["raycai-mixed-worker-1"], c.apps["raycai-mixed-cpu-1"]
    assert.is_table(gpu)
    assert.is_table(cpu)
    assert.is_table(c.apps["raycai-mixed-cpu-2"])
    assert.equal(1, gpu.nvidia_gpu)
    assert.matches("cuda", gpu.runtime_identifier)
    assert.equal(0, cpu.nvidia_gpu)
    assert.equal(4, cpu.cpu)
    assert.not_matches("cuda", cpu.runtime_identifier)
    local summary
    for _, e in ipairs(r.events) do if e.event == "summary" then summary = e end end
    assert.equal(3, summary.workers)
  end)

  it("scales one group from the command line", function()
    local r = sim:run(RECIPE, "plan", { set = { ["groups.cpu.workers"] = 3 } })
    assert.matches("raycai%-mixed%-cpu%-3", r.stdout)
    assert.not_matches("raycai%-mixed%-worker%-2", r.stdout)
  end)
end)
