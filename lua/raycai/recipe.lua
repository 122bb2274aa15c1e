-- raycai.recipe: the recipe model and the runner of its actions.
--
-- A recipe is a table made by recipe.new{ name, doc, params, steps }. Each step is a table
-- { name, plan, apply, destroy, status } of functions taking the run context `ctx`:
--   plan(ctx)    -> list of changes { action = "create"|"update"|"delete"|"keep", kind, name, detail }
--   apply(ctx)   -> true, summary | nil, err     (up, in order)
--   destroy(ctx) -> true, summary | nil, err     (down, in reverse order)
--   status(ctx)  -> list of rows { kind, name, role, state, ... } | nil, err
--   early(ctx)   -> nothing (optional, up only): work that needs nothing from the steps before,
--                   run while one of them waits (ctx:idle()); apply then finds its result in ctx.state
-- ctx.params holds the parameter values, ctx.state is shared between the steps of one run.
-- r.hooks (set by recipe builders such as raycai.ray): lock(ctx, action) -> release | nil, err;
-- summary(ctx) after up; print_status(ctx, rows) -> healthy; warnings(ctx) on every plan and up.
local params = require "raycai.params"
local ui = require "raycai.ui"
local clock = require "raycai.clock"

local M = {}

local Recipe = {}
Recipe.__index = Recipe

M.param = params.param


--- Raise a mistake in a recipe at the recipe's own line: the first frame outside raycai's
--- library. When the recipe tail-called us (`return recipe.new{...}`) that frame is gone; the
--- sandbox then prefixes the recipe's file name.
local function user_error(msg)
  for level = 2, 30 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.what ~= "C" and not info.short_src:find("raycai/[%w_/]+%.lua$") and info.currentline > 0 then
      error(("%s:%d: %s"):format(info.short_src, info.currentline, msg), 0)
    end
  end
  error(msg, 0)
end
M.user_error = user_error


local function check_step(step, i)
  if type(step) ~= "table" then user_error(("recipe step %d must be a table"):format(i)) end
  if type(step.name) ~= "string" or step.name == "" then
    user_error(("recipe step %d needs a name"):format(i))
  end
  for _, fn in ipairs({ "plan", "apply", "destroy", "status", "early" }) do
    if step[fn] ~= nil and type(step[fn]) ~= "function" then
      user_error(("recipe step '%s': %s must be a function"):format(step.name, fn))
    end
  end
end


--- Make a recipe.
---@param def {name:string, doc?:string, params?:table, steps:table|fun(p:table):table}
function M.new(def)
  if type(def) ~= "table" then user_error("recipe.new expects a table") end
  if type(def.name) ~= "string" or def.name == "" then user_error("recipe.new: name is required") end
  if type(def.steps) ~= "table" and type(def.steps) ~= "function" then
    user_error("recipe.new: steps must be a list of steps or a function returning one")
  end
  if type(def.steps) == "table" then
    for i, s in ipairs(def.steps) do check_step(s, i) end
  end
  params.flatten(def.params or {})  -- raises on a malformed tree
  return setmetatable({ name = def.name, doc = def.doc or "", params = def.params or {},
                        steps = def.steps, hooks = def.hooks or {} }, Recipe)
end


function M.is_recipe(v) return getmetatable(v) == Recipe end


--- Copy a recipe with other parameter defaults (teams reuse a recipe with their own defaults).
---@param overrides table  nested { path = value } of new defaults, e.g. { workers = 4, head = { cpu = 8 } }
---@param extra? {name?:string, doc?:string, steps?:table}
function Recipe:with(overrides, extra)
  local function retree(tree, over, prefix)
    local out = {}
    for k, v in pairs(tree) do
      local path = prefix and (prefix .. "." .. k) or k
      local o = over and over[k]
      if params.is_param(v) then
        if o ~= nil then
          local p = setmetatable({}, getmetatable(v))
          for pk, pv in pairs(v) do p[pk] = pv end
          p.default = o
          local ok, err = params.check(p, path, o)
          if not ok then user_error(err) end
          out[k] = p
        else
          out[k] = v
        end
      else
        out[k] = retree(v, o, path)
      end
    end
    for k in pairs(over or {}) do
      if tree[k] == nil then
        local hint = params.suggest(tree, (prefix and prefix .. "." or "") .. k)
        user_error(("with(): no parameter '%s'%s"):format(k, hint and ("; did you mean '" .. hint .. "'?") or ""))
      end
    end
    return out
  end
  extra = extra or {}
  return M.new { name = extra.name or self.name, doc = extra.doc or self.doc,
                 params = retree(self.params, overrides), steps = extra.steps or self.steps,
                 hooks = self.hooks }
end


--- The steps for these parameter values.
function Recipe:step_list(values)
  local steps = self.steps
  if type(steps) == "function" then
    steps = steps(values)
    if type(steps) ~= "table" then error("recipe '" .. self.name .. "': steps() must return a list", 2) end
    for i, s in ipairs(steps) do check_step(s, i) end
  end
  return steps
end


--- Parameter values: defaults, then the --set assignments, validated.
function Recipe:values(sets)
  local values = params.defaults(self.params)
  local ok, err = params.apply_sets(self.params, values, sets or {})
  if not ok then return nil, err end
  ok, err = params.validate(self.params, values)
  if not ok then return nil, err end
  return values
end


local function run_step(step, fname, ctx)
  local t0 = clock.monotonic()
  ui.step_start(step.name)
  local ok, summary = step[fname](ctx)
  local secs = clock.monotonic() - t0
  if not ok then
    ui.step_done(step.name, false, tostring(summary))
    return nil, summary
  end
  ui.step_done(step.name, true, (summary and (summary .. ", ") or "") .. string.format("%.1fs", secs))
  return true
end


--- How many changes of a plan are pending: not "keep", or a "keep" still marked pending.
function M.pending(changes)
  local n = 0
  for _, c in ipairs(changes) do if c.action ~= "keep" or c.pending then n = n + 1 end end
  return n
end


--- Run fn while holding the recipe's lock (hooks.lock), releasing it even after Ctrl-C. The
--- release function is told whether fn succeeded.
local function locked(self, ctx, action, fn)
  local release
  if self.hooks.lock then
    local err
    release, err = self.hooks.lock(ctx, action)
    if not release then return nil, err end
  end
  local ok, res, err = pcall(fn)
  if release then
    local was_interrupted = clock.interrupted()
    clock.clear_interrupt()  -- let the release requests through
    pcall(release, ok and res and true or false)
    if was_interrupted then clock.raise_interrupt() end
  end
  if not ok then error(res, 0) end
  return res, err
end


--- Run `up`: a read-only plan first; when nothing is pending, stop there (an idempotent re-run
--- mutates nothing). Otherwise, under the lock, every step's apply in order.
--- Returns true or nil, err (the failing step's error).
function Recipe:up(ctx)
  local changes, perr = self:plan(ctx)
  if not changes then return nil, perr end
  local steps = self:step_list(ctx.params)
  local all_planned = true  -- a step that cannot plan must always apply
  for _, step in ipairs(steps) do
    if step.apply and not step.plan then all_planned = false end
  end
  if all_planned and M.pending(changes) == 0 then
    ui.info("nothing to change: the cluster matches the recipe")
    ctx.state.unchanged = true
    if self.hooks.summary then self.hooks.summary(ctx) end
    return true
  end
  local ok, err = locked(self, ctx, "up", function()
    for i, step in ipairs(steps) do
      if step.apply then
        ctx.later = { table.unpack(steps, i + 1) }  -- whose early work ctx:idle() may run
        local sok, serr = run_step(step, "apply", ctx)
        ctx.later = nil
        if not sok then return nil, serr end
      end
    end
    ctx:idle()  -- deferred work no wait has run yet
    return true
  end)
  if not ok then return nil, err end
  if self.hooks.summary then self.hooks.summary(ctx) end
  return true
end


--- Run `down`: every step's destroy, in reverse order, under the lock.
function Recipe:down(ctx)
  local steps = self:step_list(ctx.params)
  return locked(self, ctx, "down", function()
    for i = #steps, 1, -1 do
      if steps[i].destroy then
        local ok, err = run_step(steps[i], "destroy", ctx)
        if not ok then return nil, err end
      end
    end
    return true
  end)
end


--- Every step's `fname` list (plan's changes, status's rows), each item tagged with its step.
local function collect(self, ctx, fname)
  local out = {}
  for _, step in ipairs(self:step_list(ctx.params)) do
    if step[fname] then
      local list, err = step[fname](ctx)
      if not list then return nil, ("%s: %s"):format(step.name, tostring(err)) end
      for _, item in ipairs(list) do
        item.step = step.name
        out[#out + 1] = item
      end
    end
  end
  return out
end


--- Run `plan`: the changes every step would make. Returns the list or nil, err.
function Recipe:plan(ctx)
  return collect(self, ctx, "plan")
end


--- Run `status`: every step's rows. Returns the rows or nil, err.
function Recipe:status(ctx)
  return collect(self, ctx, "status")
end


return M
