-- Specs of recipes/gpu_cluster.lua, run with `raycai-run test recipes` (docs/recipes.md, "Test
-- your recipe"). Copy this file beside your own recipe and change the names and numbers.
local t = require "raycai.testing"

local RECIPE = t.path("gpu_cluster.lua")


describe("gpu_cluster", function()
  local sim

  before_each(function() sim = t.sim { delays = t.QUICK } end)
  after_each(function() sim:stop() end)

  it("deploys a CPU head and GPU workers on their runtimes", function()
    local r = sim:run(RECIPE, "up", { set = { workers = 3 } })
    assert.equal(0, r.code, r.stderr)
    local c = sim:cluster("gpu")
    assert.equal("APPLICATION_RUNNING", c.head.status)
    assert.equal(0, c.head.nvidia_gpu)
    assert.equal(3, #c.workers)
    for _, w in ipairs(c.workers) do
      assert.equal("APPLICATION_RUNNING", w.status)
      assert.equal(1, w.nvidia_gpu)
      assert.equal(8, w.cpu)
      assert.equal(32, w.memory)
      assert.matches("cuda", w.runtime_identifier)
    end
    assert.not_matches("cuda", c.head.runtime_identifier)
    assert.is_not_nil(c.setup_job)
  end)

  it("keeps every application on a second up", function()
    assert.equal(0, sim:run(RECIPE, "up").code)
    local before = sim:cluster("gpu")
    sim:clear_requests()
    local r = sim:run(RECIPE, "up")
    assert.equal(0, r.code, r.stderr)
    local after = sim:cluster("gpu")
    assert.equal(before.head.id, after.head.id)
    for i, w in ipairs(before.workers) do assert.equal(w.id, after.workers[i].id) end
    -- no application was created, changed or deleted (the timer-mode simulator never builds the
    -- venv, so the setup job runs again: in exec mode nothing changes at all)
    for _, m in ipairs(sim:mutations()) do assert.not_matches("/applications", m.path) end
  end)

  it("scales the workers down with --set and removes everything with down", function()
    assert.equal(0, sim:run(RECIPE, "up", { set = { workers = 3 } }).code)
    assert.equal(0, sim:run(RECIPE, "up", { set = { workers = 1 } }).code)
    -- a deleted application may stay listed a while (APPLICATION_STOPPING) before CML removes it
    local live = {}
    for i, w in pairs(sim:cluster("gpu").workers) do
      if w.status ~= "APPLICATION_STOPPING" and w.status ~= "APPLICATION_STOPPED" then live[#live + 1] = i end
    end
    table.sort(live)
    assert.same({ 1 }, live)
    assert.equal(0, sim:run(RECIPE, "down").code)
    local c = sim:cluster("gpu")
    assert.is_nil(c.head)
    assert.equal(0, #c.workers)
  end)
end)
