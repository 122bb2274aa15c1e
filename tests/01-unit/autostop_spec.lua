-- raycai.ray.autostop's pure parts (issue 16): the autostop.* parameters and their checks, the
-- settings file's text, the AUTOSTOP column, and the autostop action's own arguments.
local ray = require "raycai.ray"
local autostop = require "raycai.ray.autostop"
local day2 = require "raycai.day2"
local cjson = require "cjson"


describe("raycai.ray.autostop", function()
  it("declares autostop.idle_minutes (0: off) and autostop.down (false) with fractions allowed", function()
    local r = ray.recipe { name = "a" }
    local v = assert(r:values())
    assert.equal(0, v.autostop.idle_minutes)
    assert.is_false(v.autostop.down)
    v = assert(r:values({ "autostop.idle_minutes=0.01", "autostop.down=true" }))
    assert.equal(0.01, v.autostop.idle_minutes)
    assert.is_true(v.autostop.down)
    v = assert(ray.recipe { name = "b", defaults = { autostop = { idle_minutes = 10 } } }:values())
    assert.equal(10, v.autostop.idle_minutes)
  end)

  it("refuses a negative or absurd idle period naming the key", function()
    local r = ray.recipe { name = "a" }
    for _, bad in ipairs { "-1", "-0.5", "1e9", "43201", "nan", "inf", "ten" } do
      local v, err = r:values({ "autostop.idle_minutes=" .. bad })
      assert.is_nil(v, bad)
      assert.matches("autostop%.idle_minutes", err)
      assert.not_matches("\n", err)
    end
    assert.matches("autostop%.down", select(2, r:values({ "autostop.down=maybe" })))
    -- in a recipe's own defaults: an error at the recipe's line
    assert.has_error(function() ray.recipe { name = "c", defaults = { autostop = { idle_minutes = -3 } } } end)
    assert.is_true(autostop.check_minutes(autostop.MAX_MINUTES))
    assert.is_nil(autostop.check_minutes(autostop.MAX_MINUTES + 1))
    assert.is_nil(autostop.check_minutes(0 / 0))
  end)

  it("writes the same bytes for the same settings, in a fixed key order", function()
    local a = autostop.content("gpu", 10, true, "g1", 600)
    assert.equal(a, autostop.content("gpu", 10, true, "g1", 600))
    assert.equal('{"cluster":"gpu","idle_minutes":10,"down":true,"generation":"g1","lock_stale_after":600}\n', a)
    local d = cjson.decode(autostop.content("gpu", 0.01, false, "g2", 45))
    assert.same({ cluster = "gpu", idle_minutes = 0.01, down = false, generation = "g2", lock_stale_after = 45 }, d)
  end)

  it("shows 10m, 10m (down), seconds below a minute, and — when off", function()
    assert.equal("10m", autostop.text { idle_minutes = 10, down = false })
    assert.equal("10m (down)", autostop.text { idle_minutes = 10, down = true })
    assert.equal("30s", autostop.text { idle_minutes = 0.5 })
    assert.equal("—", autostop.text { idle_minutes = 0, down = true })
    assert.equal("—", autostop.text(false))
    assert.equal("—", autostop.text(nil))
  end)

  it("parses the action's own options", function()
    local a = assert(day2.parse("autostop", { "--idle-minutes", "5", "--down" }, {}))
    assert.equal("5", a.idle_minutes)
    assert.is_true(a.down)
    a = assert(day2.parse("autostop", { "--cancel" }, {}))
    assert.is_true(a.cancel)
    a = assert(day2.parse("autostop", { "--idle-minutes=0.5", "--no-down" }, {}))
    assert.equal("0.5", a.idle_minutes)
    assert.is_true(a.no_down)
    assert.same({ nil, "unknown option '--ttl' for autostop" }, { day2.parse("autostop", { "--ttl", "3" }, {}) })
    assert.same({ nil, "--idle-minutes needs a value" }, { day2.parse("autostop", { "--idle-minutes" }, {}) })
  end)
end)
