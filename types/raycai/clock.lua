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

--- Count up to n instructions of recipe code (the host's guard; nil stops counting). Past the
--- budget, the recipe's code raises. Not available to sandboxed recipes.
---@param n? integer
function clock.budget(n) end

--- Did the budget run out (since the last clock.budget(n))?
---@return boolean
function clock.over_budget() end

--- Follow the lines run in the chunk named source ("@path") on this thread; nil stops.
---@param source? string
---@param line? integer the last line to start from
---@return string|nil, integer previous source (nil: none), and its last line
function clock.track_lines(source, line) end

--- The last line run in the tracked source, or nil.
---@return integer?
function clock.last_line() end

return clock
