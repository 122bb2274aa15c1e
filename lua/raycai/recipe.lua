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
--   reads(ctx, phase) -> functions (optional; phase "plan" or "status"): reads that the step's
--                   plan or status needs and that need nothing from the other steps; every step's
--                   go out side by side in one client:together round before the phase's first
--                   step, whose functions then find their results in ctx.state
--   needs        -> { "client", ..., plan = { ... }, apply = { ... } } (optional): what the runner
--                   prepares before the first step that needs it (M.NEEDS and the recipe's own
--                   providers, def.needs); a list entry is needed by every function, a keyed list
--                   only by that one. A need that cannot be had is the run's returned error.
-- A step function may return a third value, the exit code of its failure (2: a recipe error
-- found before anything changed).
-- ctx.params holds the parameter values, ctx.state is shared between the steps of one run.
-- r.hooks (set by recipe builders such as raycai.ray), all returning data the runner prints
-- through raycai.ui.report: lock(ctx, action) -> release | nil, err; summary(ctx) -> the summary
-- table after up; status_info(ctx, rows) -> { healthy, ... } for status; warnings(ctx) -> true |
-- nil, err, code on every plan and up; check(values) -> true | nil, message: rules across several
-- parameters, on every action's values.
local params = require "raycai.params"
local ui = require "raycai.ui"
local clock = require "raycai.clock"
local sorted_keys = require("raycai.tables").sorted_keys

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


--- What the runner provides to every recipe: the CML client of the run (raycai.target;
--- a missing or wrong setting is a usage error, exit 2). Recipe builders add their own
--- (recipe.new{ needs = { name = provider } }, raycai.ray: cluster, project, runtimes, scripts).
--- A provider is fun(ctx) -> true | nil, message, exit code.
M.NEEDS = {
  client = function(ctx)
    local client, err, code = ctx:client()
    if not client then return nil, err, code end
    return true
  end,
}

local STEP_FUNCTIONS = { "plan", "apply", "destroy", "status", "early", "reads" }
local NEED_KEYS = { plan = true, apply = true, destroy = true, status = true }


--- A step's needs: a list of known names, plus keyed lists by step function.
local function check_needs(step, known)
  local needs = step.needs
  if needs == nil then return end
  local function bad(msg) user_error(("recipe step '%s': needs: %s"):format(step.name, msg)) end
  if type(needs) ~= "table" then bad("give a list of names such as { \"client\" }") end
  local function names(list, where)
    if type(list) ~= "table" then bad(("%s must be a list of names"):format(where)) end
    for _, n in ipairs(list) do
      if not known[n] then
        bad(("no need named '%s'%s; the needs are: %s"):format(tostring(n), where == "" and "" or (" in " .. where),
          table.concat(sorted_keys(known), ", ")))
      end
    end
  end
  names(needs, "")
  for k, v in pairs(needs) do
    if not math.type(k) then
      if not NEED_KEYS[k] then bad(("'%s' is not a step function (plan, apply, destroy, status)"):format(tostring(k))) end
      names(v, k)
    end
  end
end


local function check_step(step, i, known)
  if type(step) ~= "table" then user_error(("recipe step %d must be a table"):format(i)) end
  if type(step.name) ~= "string" or step.name == "" then
    user_error(("recipe step %d needs a name"):format(i))
  end
  for _, fn in ipairs(STEP_FUNCTIONS) do
    if step[fn] ~= nil and type(step[fn]) ~= "function" then
      user_error(("recipe step '%s': %s must be a function"):format(step.name, fn))
    end
  end
  check_needs(step, known or M.NEEDS)
end


--- The providers of a recipe: the runner's (M.NEEDS) and the builder's own `extra`.
local function providers(extra)
  if extra ~= nil and type(extra) ~= "table" then user_error("recipe.new: needs must be a table { name = provider }") end
  local out = {}
  for k, v in pairs(M.NEEDS) do out[k] = v end
  for k, v in pairs(extra or {}) do
    if type(v) ~= "function" then user_error(("recipe.new: need '%s' must be a function"):format(tostring(k))) end
    out[k] = v
  end
  return out
end


--- Make a recipe.
---@param def {name:string, doc?:string, params?:table, steps:table|fun(p:table):table, hooks?:table,
---  launchers?:table, needs?:table<string,function>}
function M.new(def)
  if type(def) ~= "table" then user_error("recipe.new expects a table") end
  if type(def.name) ~= "string" or def.name == "" then user_error("recipe.new: name is required") end
  if type(def.steps) ~= "table" and type(def.steps) ~= "function" then
    user_error("recipe.new: steps must be a list of steps or a function returning one")
  end
  local needs = providers(def.needs)
  if type(def.steps) == "table" then
    for i, s in ipairs(def.steps) do check_step(s, i, needs) end
  end
  params.flatten(def.params or {})  -- raises on a malformed tree
  local hooks = {}
  for k, v in pairs(def.hooks or {}) do hooks[k] = v end
  return setmetatable({ name = def.name, doc = def.doc or "", params = def.params or {},
                        steps = def.steps, hooks = hooks, launchers = def.launchers, needs = needs }, Recipe)
end


function M.is_recipe(v) return getmetatable(v) == Recipe end


-- The keys of the one-table form of Recipe:with.
local WITH_KEYS = { name = true, doc = true, defaults = true, before = true, after = true,
                    replace = true, remove = true, steps = true, hooks = true }


--- A copy of a parameter tree with new defaults `over` (checked against the parameters), sharing
--- no table with the original: every leaf is a new param.
local function retree(tree, over, prefix)
  local out = {}
  for k, v in pairs(tree) do
    local path = prefix and (prefix .. "." .. k) or k
    local o = over and over[k]
    if params.is_param(v) then
      local p = setmetatable({}, getmetatable(v))
      for pk, pv in pairs(v) do p[pk] = pv end
      if o ~= nil then
        p.default = o
        local ok, err = params.check(p, path, o)
        if not ok then user_error(err) end
      end
      out[k] = p
    else
      if o ~= nil and type(o) ~= "table" then
        user_error(("with(): '%s' is a group of parameters; give a table such as %s = { ... }"):format(path, k))
      end
      out[k] = retree(v, o, path)
    end
  end
  local grow = params.grower(tree)
  if grow then params.growable(out, grow) end
  for k, o in pairs(over or {}) do
    if tree[k] == nil and grow then
      -- an open group (worker groups): the new child is declared by the group's own rules
      local name = k
      if type(k) == "number" and type(o) == "table" then name = o.name end
      if type(name) ~= "string" then
        user_error(("with(): %s[%s] needs a name"):format(prefix or "defaults", tostring(k)))
      end
      if out[name] ~= nil then user_error(("with(): '%s.%s' is given twice"):format(prefix, name)) end
      local def = o
      if type(k) == "number" then
        def = {}
        for dk, dv in pairs(o) do if dk ~= "name" then def[dk] = dv end end
      end
      out[name] = grow(name, def)
    elseif tree[k] == nil then
      local hint = params.suggest(tree, (prefix and prefix .. "." or "") .. k)
      user_error(("with(): no parameter '%s'%s"):format((prefix and prefix .. "." or "") .. tostring(k),
        hint and ("; did you mean '" .. hint .. "'?") or ""))
    end
  end
  return out
end


--- A copy of a step (the tables of a module's step are shared by every recipe using it).
local function copy_step(step)
  local out = {}
  for k, v in pairs(step) do out[k] = v end
  return out
end


--- One step or a list of steps, as a list of copies; `what` names the edit for an error.
local function step_values(v, what, known)
  if type(v) ~= "table" then user_error(("with(): %s must be a step or a list of steps"):format(what)) end
  local list = v.name ~= nil and { v } or v
  local out = {}
  for i, s in ipairs(list) do
    check_step(s, i, known)
    out[i] = copy_step(s)
  end
  if #out == 0 then user_error(("with(): %s is an empty list of steps"):format(what)) end
  return out
end


local function step_names(steps)
  local names = {}
  for i, s in ipairs(steps) do names[i] = s.name end
  return table.concat(names, ", ")
end


--- Apply before/after/replace/remove (maps keyed by step name; remove: a list of names or a
--- set) to a step list. Every name must be a step of the list. Returns a new list of copies.
local function compose(steps, edit, raise, needs_known)
  local index = {}
  for i, s in ipairs(steps) do index[s.name] = i end
  local function known(name, key)
    if type(name) ~= "string" or not index[name] then
      raise(("with(): %s: no step named '%s'; the steps are: %s"):format(key, tostring(name), step_names(steps)))
    end
  end
  local removed, before, after, replace = {}, {}, {}, {}
  for k, v in pairs(edit.remove or {}) do
    local name = type(k) == "number" and v or k
    known(name, "remove")
    removed[name] = true
  end
  for key, into in pairs({ before = before, after = after, replace = replace }) do
    local map = edit[key]
    if map ~= nil and type(map) ~= "table" then
      raise(("with(): %s must be a table { step_name = step }"):format(key))
    end
    for name, v in pairs(map or {}) do
      known(name, key)
      into[name] = step_values(v, ("%s.%s"):format(key, name), needs_known)
    end
  end
  for name in pairs(replace) do
    if removed[name] then raise(("with(): step '%s' is both replaced and removed"):format(name)) end
  end
  local out = {}
  local function add(list) for _, s in ipairs(list) do out[#out + 1] = s end end
  for _, s in ipairs(steps) do
    add(before[s.name] or {})
    if replace[s.name] then add(replace[s.name])
    elseif not removed[s.name] then add({ copy_step(s) }) end
    add(after[s.name] or {})
  end
  local seen = {}
  for _, s in ipairs(out) do
    if seen[s.name] then
      raise(("with(): two steps are named '%s'; step names must be unique (the steps are: %s)")
        :format(s.name, step_names(out)))
    end
    seen[s.name] = true
  end
  return out
end


--- A copy of the recipe, changed (teams reuse a recipe with their own defaults and steps):
---   recipe:with { name=, doc=, defaults = { ... }, before = { step = s }, after = { step = s },
---                 replace = { step = s }, remove = { "step" }, steps = {...}, hooks = {...} }
--- Steps are addressed by name; an unknown name is a recipe error at the caller's line. The copy
--- shares no mutable table with the original (parameters, steps, hooks are copied).
--- The older form with(defaults, { name, doc, steps }) still works: a table without any of the
--- keys above is taken as defaults (docs/recipes.md).
---@param def table
---@param extra? {name?:string, doc?:string, steps?:table}
function Recipe:with(def, extra)
  if type(def) ~= "table" then user_error("with() expects a table: recipe:with { defaults = { ... }, after = { ... } }") end
  local known, other = false, nil
  for k in pairs(def) do
    if WITH_KEYS[k] then known = true else other = other or k end
  end
  if extra == nil and known and other ~= nil then
    -- a table mixing the two forms is a mistake, not old-style defaults
    user_error(("with(): unknown key '%s' (keys: name, doc, defaults, before, after, replace, remove, "
      .. "steps, hooks); parameter defaults go in defaults = { %s = ... }"):format(tostring(other), tostring(other)))
  end
  local new_form = extra == nil and other == nil
  if not new_form then
    extra = extra or {}
    if type(extra) ~= "table" then user_error("with(defaults, extra): extra must be a table { name, doc, steps }") end
    def = { defaults = def, name = extra.name, doc = extra.doc, steps = extra.steps }
  end
  if def.defaults ~= nil and type(def.defaults) ~= "table" then user_error("with(): defaults must be a table") end
  if def.name ~= nil and (type(def.name) ~= "string" or def.name == "") then user_error("with(): name must be a string") end
  local steps = self.steps
  if def.steps ~= nil then
    if type(def.steps) ~= "table" then user_error("with(): steps must be a list of steps") end
    steps = def.steps
  end
  local edit = { before = def.before, after = def.after, replace = def.replace, remove = def.remove }
  local provided = self.needs
  if type(steps) == "table" then
    for i, s in ipairs(steps) do check_step(s, i, provided) end
    steps = compose(steps, edit, user_error, provided)
  else
    -- steps chosen by parameter values: the edits apply to each list it returns
    local f = steps
    if next(edit) ~= nil then
      steps = function(values)
        return compose(f(values), edit, function(msg) error(msg, 0) end, provided)
      end
    end
  end
  local hooks = {}
  for k, v in pairs(self.hooks) do hooks[k] = v end
  for k, v in pairs(def.hooks or {}) do hooks[k] = v end
  local tree = retree(self.params, def.defaults)
  if hooks.check and def.defaults ~= nil then
    -- the rules across parameters, on the new defaults: an error at the caller's line
    local ok, err = hooks.check(params.defaults(tree))
    if not ok then user_error("with(): " .. err) end
  end
  local own = {}  -- the builder's providers (M.new adds the runner's again)
  for k, v in pairs(self.needs) do if M.NEEDS[k] ~= v then own[k] = v end end
  return M.new { name = def.name or self.name, doc = def.doc or self.doc,
                 params = tree, steps = steps, hooks = hooks, launchers = self.launchers, needs = own }
end


--- The steps for these parameter values.
function Recipe:step_list(values)
  local steps = self.steps
  if type(steps) == "function" then
    steps = steps(values)
    if type(steps) ~= "table" then error("recipe '" .. self.name .. "': steps() must return a list", 2) end
    for i, s in ipairs(steps) do check_step(s, i, self.needs) end
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
  if self.hooks.check then
    ok, err = self.hooks.check(values)
    if not ok then return nil, err end
  end
  return values
end


--- Begin a phase of an action (plan, apply, destroy, status): what steps need is prepared
--- afresh once in it (a project missing in up's plan is created for its apply).
local function begin_phase(ctx, phase)
  ctx.phase, ctx.ready = phase, {}
end


--- Prepare the needs `names` (a list) of the recipe for ctx, each once per phase (ctx.ready).
--- Returns true or nil, message, exit code (the provider's; 1 unless it gave one).
function Recipe:prepare(ctx, names)
  ctx.ready = ctx.ready or {}
  for _, name in ipairs(names or {}) do
    if not ctx.ready[name] then
      local provider = self.needs[name]
      if not provider then
        return nil, ("recipe '%s' cannot provide '%s' (it provides %s)"):format(self.name, tostring(name),
          table.concat(sorted_keys(self.needs), ", ")), 2
      end
      local ok, err, code = provider(ctx)
      if not ok then return nil, err, code or 1 end
      ctx.ready[name] = true
    end
  end
  return true
end


--- What a step's function `fname` needs: its list entries, then its keyed ones.
local function step_needs(step, fname)
  local needs = step.needs or {}
  local out = { table.unpack(needs) }
  for _, n in ipairs(needs[fname] or {}) do out[#out + 1] = n end
  return out
end


local function run_step(self, step, fname, ctx)
  local ready, nerr, ncode = self:prepare(ctx, step_needs(step, fname))
  if not ready then return nil, nerr, ncode end
  local t0 = clock.monotonic()
  ui.step_start(step.name)
  local ok, summary, code = step[fname](ctx)
  local secs = clock.monotonic() - t0
  if not ok then
    ui.step_done(step.name, false, tostring(summary))
    return nil, summary, code
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


local Rethrown = { __tostring = function(e) return tostring(e.message) end }


--- Raise again an error caught with its traceback (the runner shows that one with -v, not
--- the place it was raised again: raycai.runner reads e.traceback). It stays a thrown error.
local function rethrow(e, trace)
  if type(e) == "table" or not trace then error(e, 0) end
  error(setmetatable({ message = e, traceback = trace }, Rethrown), 0)
end


--- The first step of `steps` (in the order given) that has function `fname`.
local function first_with(steps, fname, reverse)
  local from, to, by = 1, #steps, 1
  if reverse then from, to, by = #steps, 1, -1 end
  for i = from, to, by do
    if steps[i][fname] then return steps[i] end
  end
end


--- Run fn while holding the recipe's lock (hooks.lock), releasing it even after Ctrl-C. The
--- release function is told whether fn succeeded. The lock is taken for the steps: the needs of
--- the first step of the phase (`first`) are prepared before it (the lock lives in the project).
local function locked(self, ctx, action, first, fn)
  local release
  if first then
    local ok, err, code = self:prepare(ctx, step_needs(first.step, first.fname))
    if not ok then return nil, err, code end
  end
  if self.hooks.lock then
    local err, code
    release, err, code = self.hooks.lock(ctx, action)
    if not release then return nil, err, code end
  end
  local trace
  local ok, res, err, code = xpcall(fn, function(e)
    trace = debug.traceback(tostring(e), 2)
    return e
  end)
  if release then
    local was_interrupted = clock.interrupted()
    clock.clear_interrupt()  -- let the release requests through
    pcall(release, ok and res and true or false)
    if was_interrupted then clock.raise_interrupt() end
  end
  if not ok then rethrow(res, trace) end
  return res, err, code
end


--- Run `up`: a read-only plan first; when nothing is pending, stop there (an idempotent re-run
--- mutates nothing). Otherwise, under the lock, every step's apply in order.
--- Returns true or nil, err, code (the failing step's or need's error).
function Recipe:up(ctx)
  local changes, perr, pcode = self:plan(ctx)
  if not changes then return nil, perr, pcode end
  local steps = self:step_list(ctx.params)
  local all_planned = true  -- a step that cannot plan must always apply
  for _, step in ipairs(steps) do
    if step.apply and not step.plan then all_planned = false end
  end
  if all_planned and M.pending(changes) == 0 then
    ui.info("nothing to change: the cluster matches the recipe")
    ctx.state.unchanged = true
    return true
  end
  begin_phase(ctx, "apply")
  local first = first_with(steps, "apply")
  return locked(self, ctx, "up", first and { step = first, fname = "apply" }, function()
    for i, step in ipairs(steps) do
      if step.apply then
        ctx.later = { table.unpack(steps, i + 1) }  -- whose early work ctx:idle() may run
        local sok, serr, scode = run_step(self, step, "apply", ctx)
        ctx.later = nil
        if not sok then return nil, serr, scode end
      end
    end
    ctx:idle()  -- deferred work no wait has run yet
    return true
  end)
end


--- Run `down`: every step's destroy, in reverse order, under the lock.
function Recipe:down(ctx)
  local steps = self:step_list(ctx.params)
  begin_phase(ctx, "destroy")
  local first = first_with(steps, "destroy", true)
  return locked(self, ctx, "down", first and { step = first, fname = "destroy" }, function()
    for i = #steps, 1, -1 do
      if steps[i].destroy then
        local ok, err, code = run_step(self, steps[i], "destroy", ctx)
        if not ok then return nil, err, code end
      end
    end
    return true
  end)
end


--- plan, status: every step's reads for the phase, side by side in one round (one round trip
--- where each step would read in its turn). Returns true or nil, err, code (a need that failed).
local function early_reads(self, ctx, phase)
  local fns = {}
  for _, step in ipairs(self:step_list(ctx.params)) do
    if step.reads and step[phase] then
      local ready, nerr, ncode = self:prepare(ctx, step_needs(step, phase))
      if not ready then return nil, nerr, ncode end
      for _, fn in ipairs({ step.reads(ctx, phase) }) do fns[#fns + 1] = fn end
    end
  end
  if #fns == 0 then return true end
  local client, err, code = ctx:client()
  if not client then return nil, err, code end
  client:together(table.unpack(fns))  -- each read keeps its own result (or failure) for its status
  return true
end


--- Every step's `fname` list (plan's changes, status's rows), each item tagged with its step.
local function collect(self, ctx, fname)
  begin_phase(ctx, fname)
  local read, rerr, rcode = early_reads(self, ctx, fname)
  if not read then return nil, rerr, rcode end
  local out = {}
  for _, step in ipairs(self:step_list(ctx.params)) do
    if step[fname] then
      local ready, nerr, ncode = self:prepare(ctx, step_needs(step, fname))
      if not ready then return nil, nerr, ncode end
      local list, err, code = step[fname](ctx)
      if not list then return nil, ("%s: %s"):format(step.name, tostring(err)), code end
      for _, item in ipairs(list) do
        item.step = step.name
        out[#out + 1] = item
      end
    end
  end
  return out
end


--- Run `plan`: the changes every step would make. Returns the list or nil, err, code.
function Recipe:plan(ctx)
  return collect(self, ctx, "plan")
end


--- Run `status`: every step's rows. Returns the rows or nil, err, code.
function Recipe:status(ctx)
  return collect(self, ctx, "status")
end


return M
