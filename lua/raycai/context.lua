-- raycai.context: one run of one action. Holds the parameter values, the options, the state the
-- steps share, and (on first use) the connection to CML. raycai.runner runs actions on it.

local M = {}

local Context = {}
Context.__index = Context

--- A new run context.
function M.new(recipe, values, opts)
  return setmetatable({ recipe = recipe, params = values, options = opts or {}, state = {},
                        closers = {} }, Context)
end


--- The CML client for this run, connecting on first use (see raycai.target); or nil, message, 2:
--- a wrong or missing setting is the user's to fix (exit 2, like any other bad input). Steps
--- declare `needs = { "client" }` and the runner connects before them.
function Context:client()
  if self.cml then return self.cml end
  local target = require "raycai.target"
  local client, err = target.connect(self)
  if not client then return nil, err, 2 end
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


return M
