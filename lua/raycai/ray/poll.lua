-- raycai.ray.poll: wait on a condition with a deadline and an adaptive interval: fast at first,
-- backing off while nothing changes, back to fast on progress. Ctrl-C ends the wait at once.
local clock = require "raycai.clock"
local ui = require "raycai.ui"

local M = {}

M.FIRST, M.MAX, M.FACTOR = 0.05, 2.0, 1.5


--- Call check() until it says done. check returns (done, progressed) or nil, err.
--- Returns true, or nil, err: err is "interrupted", check's error, or a timeout message built
--- by opts.on_timeout() (default "timed out after N s").
---@param check fun():(boolean|nil, any)
---@param opts {timeout:number, on_timeout?:fun():string, first?:number, max?:number}
function M.wait(check, opts)
  local deadline = clock.monotonic() + opts.timeout
  local interval = opts.first or M.FIRST
  local max = opts.max or M.MAX
  while true do
    local done, progressed = check()
    if done == nil then return nil, progressed end
    if done then return true end
    if clock.monotonic() >= deadline then
      return nil, opts.on_timeout and opts.on_timeout() or ("timed out after %d s"):format(opts.timeout)
    end
    if progressed then interval = opts.first or M.FIRST
    else interval = math.min(interval * M.FACTOR, max) end
    -- sleep in short slices so the live line keeps moving
    local wake = clock.monotonic() + math.max(0, math.min(interval, deadline - clock.monotonic()))
    repeat
      local ok = clock.sleep(math.min(0.1, math.max(0, wake - clock.monotonic())))
      if not ok then return nil, "interrupted" end
      ui.tick()
    until clock.monotonic() >= wake
  end
end


return M
