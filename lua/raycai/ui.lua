-- raycai.ui: what the user sees.
--   * on a terminal: one live line per running step (spinner, elapsed time, progress such as
--     "workers 12/32 running"), redrawn in place; finished steps and messages scroll above it;
--     colours unless NO_COLOR;
--   * without a terminal: plain lines stamped with the time of day;
--   * with --json: one JSON object per event on stdout instead (docs/json-events.md);
--   * with -q: only the summary and errors.
-- Everything goes through raycai.term.write, which masks every registered secret.
local term = require "raycai.term"
local clock = require "raycai.clock"
local cjson = require "cjson"

local M = {}

local config = { json = false, verbose = false, quiet = false, color = false, live = false }
local started = clock.monotonic()

local COLORS = { red = "\27[31m", green = "\27[32m", yellow = "\27[33m", blue = "\27[34m",
                 dim = "\27[2m", bold = "\27[1m", reset = "\27[0m" }
local SPINNER = { "|", "/", "-", "\\" }
local CLEAR = "\r\27[K"

-- the live line: the running step, its start, the progress text, and whether it is drawn
local live = { step = nil, t0 = 0, text = nil, drawn = false, frame = 0, last_draw = 0 }
local changes = {}


--- Configure output for this run.
---@param opts {json?:boolean, verbose?:boolean, quiet?:boolean, color?:boolean, live?:boolean}
function M.configure(opts)
  config.json = opts.json and true or false
  config.verbose = opts.verbose and true or false
  config.quiet = opts.quiet and true or false
  local tty = term.isatty("stderr")
  local no_color = os.getenv("NO_COLOR")
  if opts.color == nil then
    config.color = tty and not (no_color and no_color ~= "")
  else
    config.color = opts.color
  end
  if opts.live == nil then
    local dumb = os.getenv("TERM") == "dumb"
    config.live = tty and not dumb and not config.json and not config.quiet
  else
    config.live = opts.live
  end
end


function M.is_json() return config.json end
function M.is_verbose() return config.verbose end


--- Register a value that must never be shown (an API key): every output masks it as ***.
function M.secret(value)
  if type(value) == "string" and value ~= "" then term.secret(value) end
end


local function paint(color, text)
  if not config.color then return text end
  return COLORS[color] .. text .. COLORS.reset
end
M.paint = paint


--- Emit one JSON event on stdout (only with --json).
function M.event(kind, fields)
  if not config.json then return end
  local ev = { event = kind, time = clock.iso8601() }
  for k, v in pairs(fields or {}) do ev[k] = v end
  term.write("stdout", cjson.encode(ev) .. "\n")
end


--- The prefix of a message line: elapsed time on a terminal, the time of day otherwise.
local function stamp()
  if config.live then return paint("dim", ("%5.1fs"):format(clock.monotonic() - started)) end
  return os.date("%H:%M:%S")
end


local function draw_live()
  if not (config.live and live.step) then return end
  live.frame = live.frame % #SPINNER + 1
  local text = ("%s %s %s %s"):format(paint("blue", SPINNER[live.frame]), paint("bold", live.step),
    paint("dim", ("%.1fs"):format(clock.monotonic() - live.t0)), live.text or "")
  local width = term.width("stderr")
  if #text > width + 40 then text = text:sub(1, width + 40) end  -- colour codes are not columns
  term.write("stderr", CLEAR .. text)
  live.drawn = true
  live.last_draw = clock.monotonic()
end


local function clear_live()
  if live.drawn then
    term.write("stderr", CLEAR)
    live.drawn = false
  end
end


--- Print a line above the live line.
local function line(text)
  clear_live()
  term.write("stderr", text .. "\n")
  draw_live()
end


--- Redraw the live line (spinner, elapsed); cheap, call it while waiting.
function M.tick()
  if config.live and live.step and clock.monotonic() - live.last_draw >= 0.1 then draw_live() end
end


--- Set the progress text of the running step ("workers 12/32 running").
function M.progress(text)
  if text == live.text then return end
  live.text = text
  if config.live then draw_live() end
end


--- A step begins.
function M.step_start(name, detail)
  M.event("step_started", { step = name, detail = detail })
  if config.json or config.quiet then return end
  live.step, live.t0, live.text = name, clock.monotonic(), detail
  if config.live then
    draw_live()
  else
    line(stamp() .. " " .. paint("blue", "==>") .. " " .. paint("bold", name)
         .. (detail and detail ~= "" and (" " .. detail) or ""))
  end
end


--- A step ended; ok=false marks failure.
function M.step_done(name, ok, summary)
  M.event("step_finished", { step = name, ok = ok and true or false, summary = summary })
  if config.json or config.quiet then return end
  clear_live()
  live.step, live.text = nil, nil
  local mark = ok and paint("green", config.live and "ok " or "ok") or paint("red", "failed")
  line(stamp() .. " " .. (config.live and (mark .. " " .. paint("bold", name)) or ("    " .. name .. ": " .. mark))
       .. (summary and summary ~= "" and (" - " .. summary) or ""))
end


function M.info(msg, fields)
  M.event("info", { message = msg, data = fields })
  if config.json or config.quiet then return end
  line(stamp() .. "     " .. msg)
end


--- Only with -v.
function M.detail(msg)
  if not config.verbose then return end
  M.event("debug", { message = msg })
  if config.json then return end
  line(stamp() .. paint("dim", "     " .. msg))
end


function M.warn(msg)
  M.event("warning", { message = msg })
  if config.json then return end
  line(paint("yellow", "warning: ") .. msg)
end


--- A one-line error, printed whatever -q says (on stderr also with --json).
function M.error(msg)
  M.event("error", { message = msg })
  line(paint("red", "error: ") .. msg)
end


--- Plain output for the user's result (summary, tables), on stdout; silent with --json.
function M.out(text)
  if config.json then return end
  clear_live()
  term.write("stdout", text .. "\n")
  draw_live()
end


--- Print rows of cells as an aligned table on stdout (two spaces between columns); silent
--- with --json. The last column is not padded.
function M.table(rows)
  local widths = {}
  for _, row in ipairs(rows) do
    for c, cell in ipairs(row) do widths[c] = math.max(widths[c] or 0, #cell) end
  end
  for _, row in ipairs(rows) do
    local cells = {}
    for c, cell in ipairs(row) do
      cells[c] = c < #row and (cell .. string.rep(" ", widths[c] - #cell)) or cell
    end
    M.out((table.concat(cells, "  "):gsub(" +$", "")))  -- no padding after the last non-empty cell
  end
end


--- What this run changed so far: a list of "created application raycai-gpu-head", ...
function M.changes()
  return changes
end


--- Object lifecycle events: created/updated/deleted/kept.
function M.object(change, kind, name, fields)
  if change ~= "kept" then changes[#changes + 1] = ("%s %s %s"):format(change, kind, name) end
  local ev = { change = change, kind = kind, name = name }
  for k, v in pairs(fields or {}) do ev[k] = v end
  M.event("object_" .. change, ev)
  if config.json or config.quiet then return end
  if change == "kept" and not config.verbose then return end
  line(stamp() .. "     " .. change .. " " .. kind .. " " .. name)
end


--- Clear the live line before the program ends.
function M.finish()
  clear_live()
end


return M
