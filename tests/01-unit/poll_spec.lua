-- raycai.cml.poll's schedule (issue 17: opts.due), on a virtual clock: clock.monotonic and
-- clock.sleep are replaced for the test, so the looks' times are exact and nothing sleeps.
local clock = require "raycai.clock"
local poll = require "raycai.cml.poll"

describe("poll.wait", function()
  local real_monotonic, real_sleep, now
  before_each(function()
    real_monotonic, real_sleep = clock.monotonic, clock.sleep
    now = 1000
    clock.monotonic = function() return now end
    clock.sleep = function(secs) now = now + secs return true end
  end)
  after_each(function() clock.monotonic, clock.sleep = real_monotonic, real_sleep end)

  --- The times (since the start) of the looks of a wait whose condition holds from `ready` on.
  local function looks(ready, opts)
    local t0, at = now, {}
    opts.timeout = opts.timeout or 600
    assert(poll.wait(function()
      at[#at + 1] = now - t0
      return now - t0 >= ready, false
    end, opts))
    return at
  end

  it("backs off to MAX when nothing changes, so an end is seen up to MAX late", function()
    local at = looks(9.1, { initial = 0.25, first = 0.25 })
    assert.is_true(at[#at] - 9.1 > 0.3, "the default schedule saw the end within 0.3 s: the next case proves nothing")
  end)

  it("with due, looks at the expected time and fast after it", function()
    local at = looks(9.12, { initial = 0.25, first = 0.25, due = 9.1 })
    local landed = false
    for _, t in ipairs(at) do if math.abs(t - 9.1) < 1e-6 then landed = true end end
    assert.is_true(landed, "no look at the expected time")
    assert.is_true(at[#at] - 9.12 < poll.FIRST * poll.FACTOR + 1e-6, "the end was seen late: " .. at[#at])
    -- before the expected time the schedule is the usual one: no look is closer than FIRST
    for i = 2, #at do assert.is_true(at[i] - at[i - 1] >= poll.FIRST - 1e-9) end
  end)

  it("with due, an end long after the expected time goes back to backing off", function()
    local at = looks(30, { initial = 0.25, first = 0.25, due = 10 })
    local after = 0
    for _, t in ipairs(at) do if t > 10 then after = after + 1 end end
    -- FIRST growing by FACTOR reaches MAX within a few looks: about 20 s at most 1 a second
    assert.is_true(after < 20 + 10, "too many looks after the expected time: " .. after)
    assert.is_true(at[#at] - at[#at - 1] >= poll.MAX - 1e-9)
  end)
end)
