-- raycai.runner: runs one action of raycai.actions on a loaded recipe, LuaRocks' way.
--   * An action returns an exit code, or nil, message[, exit code]: the user's failure. The
--     runner prints it as one line; its exit code is the one given, else 1 (a failure of the
--     world). 2 is for usage and recipe errors found before anything changed.
--   * A thrown error is a bug (in raycai, or in a recipe's own code): one "internal error" line
--     that says to report it, exit 1, and its traceback with -v.
--   * Ctrl-C: what the run changed and how to converge, exit 130.
-- Before the action it prepares what the action declares it needs (actions[name].needs, the
-- recipe's providers: raycai.recipe NEEDS); the steps' own needs are prepared by the recipe
-- before the first step that needs them. All printing goes through raycai.ui (ui.report for
-- the results).
local ui = require "raycai.ui"
local clock = require "raycai.clock"
local term = require "raycai.term"

local M = {}

M.EXIT = { ok = 0, failed = 1, usage = 2, pending = 3, interrupted = 130 }
local EXIT = M.EXIT

M.REPORT = "please report it with the output of -v"


--- After Ctrl-C: say what this run changed and how to converge.
function M.report_interrupt(detail)
  local done = ui.changes()
  local what = #done == 0 and "nothing was changed" or ("this run had " .. table.concat(done, ", "))
  ui.error(("interrupted%s: %s; run up again to converge, or down to remove the cluster")
    :format(detail and detail ~= "interrupted" and (" (" .. tostring(detail) .. ")") or "", what))
  return EXIT.interrupted
end


--- Instructions of recipe code that loading a recipe, params and plan may run (the sandbox's
--- guard, raycai.clock): far more than any real recipe needs, a second or two of an endless loop.
--- RAYCAI_RECIPE_BUDGET overrides it.
function M.recipe_budget()
  local v = os.getenv("RAYCAI_RECIPE_BUDGET")
  local n = v and math.tointeger(tonumber(v))
  if n and n > 0 then return n end
  return 200000000
end


--- Call fn(...) under the runner's rules; returns the exit code. fn returns an exit code (or
--- true: 0), or nil, message[, code]. opts.budget: the recipe-code budget it runs under
--- (raycai.clock); running out of it is the recipe's error (exit 2).
function M.protect(opts, fn, ...)
  opts = opts or {}
  local trace
  if opts.budget then clock.budget(opts.budget) end
  local ok, result, err, code = xpcall(fn, function(e)
    trace = type(e) == "table" and e.traceback or debug.traceback(tostring(e), 2)
    return e
  end, ...)
  local over_budget = clock.over_budget()
  if opts.budget then clock.budget(nil) end
  if not ok then
    if clock.interrupted() then return M.report_interrupt() end
    if over_budget then  -- the recipe's code ran away: its message names the recipe's line
      ui.error(tostring(result))
      return EXIT.usage
    end
    ui.error(("internal error: %s (a bug: %s)"):format(tostring(result), M.REPORT))
    if opts.verbose and trace then term.write("stderr", trace .. "\n") end
    return EXIT.failed
  end
  if clock.interrupted() then return M.report_interrupt(result == nil and err or nil) end
  if result == nil or result == false then
    ui.error(tostring(err))
    return math.tointeger(code) or EXIT.failed
  end
  if result == true then return EXIT.ok end
  return result
end


--- Run action `name` on ctx: its needs, the recipe's warnings (hooks.warnings, actions with
--- warns), then its run. Returns what the action returns (exit code | nil, message, code).
function M.run(ctx, name)
  local a = require("raycai.actions")[name]
  if type(a) ~= "table" or not a.run then error("unknown action " .. tostring(name)) end
  local r = ctx.recipe
  local ok, err, code = r:prepare(ctx, a.needs)
  if not ok then return nil, err, code end
  if r.hooks.warnings and a.warns then
    ok, err, code = r.hooks.warnings(ctx)
    if not ok then return nil, err, code or EXIT.usage end
  end
  return a.run(ctx)
end


--- Run action `name` of recipe r with parameter values and the command line's options: the
--- run_started/run_finished events around it, the context closed after it. Returns the exit code.
function M.main(r, name, values, opts)
  local a = require("raycai.actions")[name]
  if a.offline then  -- params: no context, no CML
    return M.protect({ verbose = opts.verbose }, a.run, r, values)
  end
  local context = require "raycai.context"
  ui.event("run_started", { recipe = r.name, action = name, version = require("raycai.host").version })
  local ctx = context.new(r, values, opts)
  local budget = a.budget and M.recipe_budget() or nil  -- plan runs recipe code only
  local code = M.protect({ verbose = opts.verbose, budget = budget }, M.run, ctx, name)
  context.close(ctx)
  ui.finish()
  ui.event("run_finished", { recipe = r.name, action = name, exit_code = code })
  return code
end


return M
