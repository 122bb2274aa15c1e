---@meta raycai.ui
-- LuaLS definitions of raycai.ui (lua/raycai/ui.lua): what the user sees. Human lines on
-- stderr, or with --json one JSON object per event on stdout. Secrets are always masked.

---@class raycai.ui
local ui = {}

---@alias raycai.ui.Color "red"|"green"|"yellow"|"blue"|"dim"|"bold"

--- Configure output for this run (raycai-run does this from its options).
---@param opts { json?: boolean, verbose?: boolean, quiet?: boolean, color?: boolean }
function ui.configure(opts) end

--- Is output JSON events (--json)?
---@return boolean
function ui.is_json() end

--- Is output verbose (-v)?
---@return boolean
function ui.is_verbose() end

--- Register a value (an API key) that every output masks as ***.
---@param value string
function ui.secret(value) end

--- text in a colour (only when colours are on).
---@param color raycai.ui.Color
---@param text string
---@return string
function ui.paint(color, text) end

--- Emit one JSON event on stdout (only with --json).
---@param kind string
---@param fields? table
function ui.event(kind, fields) end

--- Redraw the live progress line (spinner, elapsed time); cheap, call it while waiting.
function ui.tick() end

--- Set the progress text of the running step ("workers 12/32 running").
---@param text string
function ui.progress(text) end

--- A step begins.
---@param name string
---@param detail? string
function ui.step_start(name, detail) end

--- A step ended; ok = false marks a failure.
---@param name string
---@param ok boolean
---@param summary? string
function ui.step_done(name, ok, summary) end

--- A progress line.
---@param msg string
---@param fields? table extra data for the JSON event
function ui.info(msg, fields) end

--- A line shown only with -v.
---@param msg string
function ui.detail(msg) end

--- A warning line.
---@param msg string
function ui.warn(msg) end

--- A one-line error, shown even with -q.
---@param msg string
function ui.error(msg) end

--- The user's result (summary, tables) on stdout; silent with --json.
---@param text string
function ui.out(text) end

--- Print rows of cells as an aligned table on stdout (the last column unpadded); silent with --json.
---@param rows string[][]
function ui.table(rows) end

--- What this run changed so far: "created application raycai-gpu-head", ...
---@return string[]
function ui.changes() end

--- An object lifecycle event.
---@param change "created"|"updated"|"deleted"|"kept"
---@param kind string
---@param name string
---@param fields? table
function ui.object(change, kind, name, fields) end

--- Clear the live line before the program ends.
function ui.finish() end

return ui
