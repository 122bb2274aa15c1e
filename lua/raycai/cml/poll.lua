-- raycai.cml.poll: wait on a condition with a deadline and an adaptive interval: fast at first,
-- backing off while nothing changes, back to fast on progress. Ctrl-C ends the wait at once.
local clock = require "raycai.clock"
local ui = require "raycai.ui"

local M = {}

-- the interval grows by FACTOR up to MAX: a state is seen at most about a second late, for at
-- most one request a second per wait (2 s was measured to cost ~0.3 s on a 3 s job run)
M.FIRST, M.MAX, M.FACTOR = 0.05, 1.0, 1.5
-- first look at a workload that was just created or started: CML states last seconds at least,
-- so looking sooner only spends requests (see docs/performance.md)
M.SETTLE = 0.25


-- Functions every wait calls between two looks (the cluster lock's heartbeat). Each returns
-- true, or nil, err to end the wait with err.
local waiters = {}


--- Call fn() at every turn of every wait until remove_on_wait(fn).
function M.on_wait(fn) waiters[#waiters + 1] = fn end


function M.remove_on_wait(fn)
  for i = #waiters, 1, -1 do
    if waiters[i] == fn then table.remove(waiters, i) end
  end
end


--- Sleep `secs` (not past deadline) in short slices so the live line keeps moving; false when
--- interrupted.
local function nap(secs, deadline)
  local wake = clock.monotonic() + math.max(0, math.min(secs, deadline - clock.monotonic()))
  repeat
    local ok = clock.sleep(math.min(0.1, math.max(0, wake - clock.monotonic())))
    if not ok then return false end
    ui.tick()
  until clock.monotonic() >= wake
  return true
end


--- Call check() until it says done. check returns (done, progressed) or nil, err.
--- Returns true, or nil, err: err is "interrupted", check's error, or a timeout message built
--- by opts.on_timeout() (default "timed out after N s").
--- opts.initial: seconds to wait before the first check, for a caller that knows the state
--- right now (it has just created the object), so the first request can tell something new.
--- opts.meanwhile: run once first, its time counting toward opts.initial (work that overlaps).
--- opts.due: seconds after the start when the condition is expected to hold (the last run of
--- the same job took that long, say): a look is made then rather than up to an interval later,
--- and the looks after it are fast again (FIRST, growing), so an end near the expected time is
--- seen within about FIRST instead of up to MAX late.
---@param check fun():(boolean|nil, any)
---@param opts {timeout:number, on_timeout?:fun():string, first?:number, max?:number, initial?:number,
---  meanwhile?:fun(), due?:number}
function M.wait(check, opts)
  local start = clock.monotonic()
  local deadline = start + opts.timeout
  local interval = opts.first or M.FIRST
  local max = opts.max or M.MAX
  local due = opts.due and start + opts.due
  if opts.meanwhile then opts.meanwhile() end
  local initial = (opts.initial or 0) - (clock.monotonic() - start)
  if initial > 0 and not nap(initial, deadline) then return nil, "interrupted" end
  while true do
    local done, progressed = check()
    if done == nil then return nil, progressed end
    if done then return true end
    if clock.monotonic() >= deadline then
      return nil, opts.on_timeout and opts.on_timeout() or ("timed out after %d s"):format(opts.timeout)
    end
    for _, fn in ipairs(waiters) do
      local ok, werr = fn()
      if not ok then return nil, werr end
    end
    if progressed then interval = opts.first or M.FIRST
    else interval = math.min(interval * M.FACTOR, max) end
    local pause = interval
    if due then
      local now = clock.monotonic()
      if now >= due then
        -- the expected time has come: look fast from now on (growing again by FACTOR)
        due, interval, pause = nil, M.FIRST, M.FIRST
      elseif now + interval > due then
        pause = due - now  -- the next look lands on the expected time
      end
    end
    if not nap(pause, deadline) then return nil, "interrupted" end
  end
end


return M
