-- raycai.clock: monotonic and wall time, an interruptible sleep.
local clock = require "raycai.clock"
local proc = require "raycai.proc"


describe("raycai.clock", function()
  after_each(function() clock.clear_interrupt() end)

  it("monotonic() never goes back and sleep() waits at least as long as asked", function()
    local t0 = clock.monotonic()
    assert.is_true(clock.sleep(0.05))
    local t1 = clock.monotonic()
    assert.is_true(t1 - t0 >= 0.05)
  end)

  it("time() is the epoch time and iso8601() formats it in UTC with milliseconds", function()
    assert.is_true(math.abs(clock.time() - os.time()) < 2)
    assert.equal("1970-01-01T00:00:00.000Z", clock.iso8601(0))
    assert.equal("2026-11-21T23:42:55.250Z", clock.iso8601(1795304575.25))
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", clock.iso8601())
  end)

  it("sleep() returns nil, 'interrupted' at once when an interrupt is pending", function()
    clock.raise_interrupt()
    assert.same({ nil, "interrupted" }, { clock.sleep(600) })  -- a hang here would be the bug
    assert.is_true(clock.interrupted())
  end)

  it("a real SIGINT ends a long sleep", function()
    clock.trap_interrupts()
    local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
    -- a helper process sends SIGINT to us 0.2 s from now
    local p = assert(proc.spawn { "sh", "-c", "sleep 0.2; kill -INT " .. pid })
    local ok, err = clock.sleep(600)  -- only the interrupt ends it early
    p:wait(5)
    assert.is_nil(ok)
    assert.equal("interrupted", err)
  end)

  it("rejects a non-number", function()
    assert.has_error(function() clock.sleep("soon") end)
  end)
end)
