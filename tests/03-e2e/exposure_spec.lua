-- What a recipe's settings expose is said on every run (issue 14, item 2): bypass_authentication
-- makes plan and up warn, in one line, that the dashboard and its job submission are open to
-- anyone with the URL.
local sim = require "support.sim"
local support = require "support.run"
local cjson = require "cjson"

local GPU = "recipes/gpu_cluster.lua"
local BYPASS = "bypass_authentication=true"


describe("bypass_authentication", function()
  local s

  setup(function() s = sim.start { delays = { app_start = 20 } } end)
  teardown(function() if s then s:stop() end end)

  local function raycai(args)
    return support.raycai(args, { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } })
  end

  local function warnings(text)
    local out = {}
    for line in text:gmatch("[^\n]+") do
      if line:find("bypass_authentication", 1, true) then out[#out + 1] = line end
    end
    return out
  end

  it("makes plan and every up warn in one line what it exposes", function()
    for _, args in ipairs { { "--set", BYPASS, GPU, "plan" }, { "--set", BYPASS, GPU, "up" },
                            { "--set", BYPASS, GPU, "up" } } do  -- the last has nothing to change
      local r = raycai(args)
      assert.is_true(r.code == 0 or r.code == 3, r.stderr)
      local w = warnings(r.stderr .. r.stdout)
      assert.equal(1, #w, r.stderr)
      assert.matches("^warning: bypass_authentication = true: ", w[1])
      assert.matches("Ray dashboard", w[1])
      assert.matches("job submission", w[1])
      assert.matches("anyone who has its URL", w[1])
      -- with Ray's token authentication on (the default Ray), the note says the API still needs it
      assert.matches("still require the cluster's Ray token", w[1])
    end
    -- an open Ray (insecure_ray) says the dashboard asks for no token either
    local r = raycai { "--set", BYPASS, "--set", "ray.version=2.40.0", "--set", "insecure_ray=true", GPU, "plan" }
    assert.is_true(r.code == 0 or r.code == 3, r.stderr)
    local w = warnings(r.stderr .. r.stdout)
    assert.equal(1, #w, r.stderr)
    assert.matches("Ray itself asks for no token either %(insecure_ray%)", w[1])
    local heads = 0
    for _, a in ipairs(s:state().applications or {}) do
      if a.name:match("%-head$") then
        heads = heads + 1
        assert.is_true(a.bypass_authentication, a.name)
      end
    end
    assert.equal(1, heads)
  end)

  it("is a warning event with --json", function()
    local r = raycai { "--json", "--set", BYPASS, GPU, "plan" }
    local seen = 0
    for line in r.stdout:gmatch("[^\n]+") do
      local ev = cjson.decode(line)
      if ev.event == "warning" and ev.message:find("bypass_authentication", 1, true) then seen = seen + 1 end
    end
    assert.equal(1, seen, r.stdout)
  end)

  it("says nothing when off (the default), nor for status and down", function()
    for _, args in ipairs { { GPU, "plan" }, { "--set", BYPASS, GPU, "status" }, { GPU, "down" } } do
      local r = raycai(args)
      assert.same({}, warnings(r.stderr .. r.stdout))
    end
  end)
end)
