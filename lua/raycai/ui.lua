-- raycai.ui: what the user sees. Human lines on stderr (colours only on a terminal and never
-- with NO_COLOR), or with --json one JSON object per event on stdout instead. Everything goes
-- through raycai.term.write, which masks every registered secret.
local term = require "raycai.term"
local clock = require "raycai.clock"
local cjson = require "cjson"

local M = {}

local config = { json = false, verbose = false, quiet = false, color = false }
local started = clock.monotonic()

local COLORS = { red = "\27[31m", green = "\27[32m", yellow = "\27[33m", blue = "\27[34m",
                 dim = "\27[2m", bold = "\27[1m", reset = "\27[0m" }


--- Configure output for this run.
---@param opts {json?:boolean, verbose?:boolean, quiet?:boolean, color?:boolean}
function M.configure(opts)
  config.json = opts.json and true or false
  config.verbose = opts.verbose and true or false
  config.quiet = opts.quiet and true or false
  if opts.color == nil then
    local no_color = os.getenv("NO_COLOR")
    config.color = term.isatty("stderr") and not (no_color and no_color ~= "")
  else
    config.color = opts.color
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


local function line(text)
  term.write("stderr", text .. "\n")
end


local function elapsed()
  return string.format("%5.1fs", clock.monotonic() - started)
end


--- A step begins.
function M.step_start(name, detail)
  M.event("step_started", { step = name, detail = detail })
  if config.json or config.quiet then return end
  line(paint("dim", elapsed()) .. " " .. paint("blue", "==>") .. " " .. paint("bold", name)
       .. (detail and detail ~= "" and (" " .. detail) or ""))
end


--- A step ended; ok=false marks failure.
function M.step_done(name, ok, summary)
  M.event("step_finished", { step = name, ok = ok and true or false, summary = summary })
  if config.json or config.quiet then return end
  local mark = ok and paint("green", "ok") or paint("red", "failed")
  line(paint("dim", elapsed()) .. "     " .. name .. ": " .. mark
       .. (summary and summary ~= "" and (" - " .. summary) or ""))
end


function M.info(msg, fields)
  M.event("info", { message = msg, data = fields })
  if config.json or config.quiet then return end
  line(paint("dim", elapsed()) .. "     " .. msg)
end


--- Only with -v.
function M.detail(msg)
  if not config.verbose then return end
  M.event("debug", { message = msg })
  if config.json then return end
  line(paint("dim", elapsed() .. "     " .. msg))
end


function M.warn(msg)
  M.event("warning", { message = msg })
  if config.json then return end
  line(paint("yellow", "warning: ") .. msg)
end


--- A one-line error, printed whatever -q says.
function M.error(msg)
  M.event("error", { message = msg })
  line(paint("red", "error: ") .. msg)
end


--- Plain output for the user's result (summary, tables), on stdout; silent with --json.
function M.out(text)
  if config.json then return end
  term.write("stdout", text .. "\n")
end


local changes = {}


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
  line(paint("dim", elapsed()) .. "     " .. change .. " " .. kind .. " " .. name)
end


return M
