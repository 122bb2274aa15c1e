-- raycai.context: one run of one action. Holds the parameter values, the options, the state the
-- steps share, and (on first use) the connection to CML; prints plan and status results.
local ui = require "raycai.ui"

local M = {}

local Context = {}
Context.__index = Context

M.UsageError = { __tostring = function(e) return tostring(e.message) end }


--- A new run context.
function M.new(recipe, values, opts)
  return setmetatable({ recipe = recipe, params = values, options = opts or {}, state = {},
                        closers = {} }, Context)
end


--- The CML client for this run, connecting on first use (see raycai.target).
function Context:client()
  if self.cml then return self.cml end
  local target = require "raycai.target"
  local client, err = target.connect(self)
  -- a wrong or missing setting is the user's to fix: exit 2, like any other bad input
  if not client then error(setmetatable({ usage = true, message = err }, M.UsageError), 0) end
  self.cml = client
  return client
end


--- A step is about to wait (for a CML workload, say): run the work deferred by earlier steps
--- (ctx:defer) and the `early` work of the steps after it, once each, so that work overlaps the
--- wait. Outside `up` there are no later steps.
function Context:idle()
  local deferred = self.deferred or {}
  self.deferred = nil
  for _, fn in ipairs(deferred) do fn() end
  local later = self.later
  if not later then return end
  self.early_done = self.early_done or {}
  for _, step in ipairs(later) do
    if step.early and not self.early_done[step] then
      self.early_done[step] = true
      step.early(self)
    end
  end
end


--- Work that need not hold up the next step (a check whose outcome is a warning): it runs at
--- the next ctx:idle(), at the latest when up has applied every step. It must not raise.
function Context:defer(fn)
  self.deferred = self.deferred or {}
  self.deferred[#self.deferred + 1] = fn
end


--- Register a function to run when the context closes (stop the embedded simulator...).
function Context:on_close(fn)
  self.closers[#self.closers + 1] = fn
end


function M.close(ctx)
  for i = #ctx.closers, 1, -1 do pcall(ctx.closers[i]) end
  ctx.closers = {}
end


local function print_plan(changes)
  local pending = require("raycai.recipe").pending(changes)
  local rows = { { "ACTION", "KIND", "NAME", "DETAIL", "GROUP" } }
  for _, c in ipairs(changes) do
    rows[#rows + 1] = { c.action, c.kind or "", c.name or "", c.detail or "", c.group or "" }
    ui.event("plan_change", { action = c.action, kind = c.kind, name = c.name, detail = c.detail, step = c.step,
                              group = c.group })
  end
  ui.table(rows)
  ui.out(pending == 0 and "No changes: the cluster matches the recipe."
         or ("%d change(s) pending; run 'up' to apply."):format(pending))
  ui.event("plan_summary", { pending = pending })
  return pending
end


--- Run `action` on ctx. Returns the exit code, or nil, err for a failure.
function M.run(ctx, action)
  local r = ctx.recipe
  -- what the recipe's settings expose, said on every plan and up (hooks.warnings)
  if r.hooks.warnings and (action == "up" or action == "plan") then r.hooks.warnings(ctx) end
  if action == "up" then
    local ok, err = r:up(ctx)
    if not ok then return nil, err end
    return 0
  elseif action == "down" then
    local ok, err = r:down(ctx)
    if not ok then return nil, err end
    return 0
  elseif action == "plan" then
    local changes, err = r:plan(ctx)
    if not changes then return nil, err end
    return print_plan(changes) == 0 and 0 or 3
  elseif action == "status" then
    local rows, err = r:status(ctx)
    if not rows then return nil, err end
    local healthy = r.hooks.print_status and r.hooks.print_status(ctx, rows)
    if healthy == nil then
      healthy = true
      local t = { { "KIND", "NAME", "STATE" } }
      for _, row in ipairs(rows) do
        t[#t + 1] = { row.kind or "", row.name or "", row.state or "" }
        if row.healthy == false then healthy = false end
      end
      ui.table(t)
    end
    return healthy and 0 or 3
  end
  error("unknown action " .. tostring(action))
end


return M
