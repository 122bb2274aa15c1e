---@meta raycai.clock
-- LuaLS definitions of raycai.clock (engine/lclock.c): monotonic and wall time, and a sleep that
-- SIGINT/SIGTERM interrupt (the host installs the handler and exits 130 after an interrupt).

---@class raycai.clock
local clock = {}

--- Seconds from an arbitrary origin, never going back (for deadlines and durations).
---@return number seconds
function clock.monotonic() end

--- Seconds since the epoch (wall clock).
---@return number seconds
function clock.time() end

--- "YYYY-MM-DDThh:mm:ss.mmmZ" (UTC) for t, or for now.
---@param t? number seconds since the epoch
---@return string
function clock.iso8601(t) end

--- Sleep; an interrupt (Ctrl-C) ends it early.
---@param seconds number
---@return true? ok
---@return "interrupted"? err
function clock.sleep(seconds) end

--- Has SIGINT or SIGTERM arrived?
---@return boolean
function clock.interrupted() end

--- Install the SIGINT/SIGTERM handler (raycai-run does this at start-up).
function clock.trap_interrupts() end

--- Forget an interrupt (to let clean-up requests through; tests).
function clock.clear_interrupt() end

--- Behave as if SIGINT had arrived (restores an interrupt cleared for clean-up).
function clock.raise_interrupt() end

return clock
