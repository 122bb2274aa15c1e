---@meta raycai.term
-- LuaLS definitions of raycai.term (engine/lterm.c): the one door to the terminal. Everything
-- written through it has every registered secret replaced by "***".

---@class raycai.term
local term = {}

---@alias raycai.term.Stream "stdout"|"stderr"

--- Register a value (an API key) that no output may show. Empty values are ignored.
---@param value string
function term.secret(value) end

--- s with every registered secret replaced by "***".
---@param s string
---@return string
function term.redact(s) end

--- Write s, secrets masked, then flush.
---@param stream raycai.term.Stream
---@param s string
---@return true? ok
---@return string? err
function term.write(stream, s) end

--- Is the stream a terminal?
---@param stream raycai.term.Stream
---@return boolean
function term.isatty(stream) end

--- Columns of the terminal, or 80 when the stream is not a terminal.
---@param stream raycai.term.Stream
---@return integer
function term.width(stream) end

return term
