-- raycai.sandbox: recipes and their modules run in their own strict _ENV. Reading an undefined
-- global or assigning one is an error with file:line. What a recipe can reach is an allow-list
-- (docs/recipes.md "Recipes run in a sandbox" is the contract):
--   * the shared libraries (string, table, math, utf8, coroutine) and the raycai modules meant
--     for recipes, as read-only proxies: an assignment raises, and nothing a recipe assigns
--     reaches raycai (getmetatable("").__index is the read-only string too);
--   * os.getenv/time/date/clock only; no io, debug, package, dofile, loadfile; load of text only;
--   * require: the recipe's folder, then each folder of RAYCAI_PATH (run in the sandbox too),
--     then the allow-listed modules below, then pure Lua modules of the LuaRocks trees
--     (raycai.lua_trees; run in the sandbox too). A recipe's folder may be inside the relocatable
--     binary ("bundle:recipes", raycai.resource).
-- trusted = true (raycai-run --trust-recipe) gives the recipe the host's globals and require.
local resource = require "raycai.resource"
local lua_trees = require "raycai.lua_trees"
local ui = require "raycai.ui"
local clock = require "raycai.clock"

local M = {}

-- What a recipe may see besides require, print, load, pcall, xpcall and the metatable functions.
local ALLOWED = {
  "assert", "error", "ipairs", "next", "pairs", "select", "tonumber", "tostring",
  "type", "rawequal", "rawget", "rawlen", "rawset", "_VERSION",
}
local LIBRARIES = { "string", "table", "math", "utf8", "coroutine" }
local LIBRARY_NAMES = {}
for _, name in ipairs(LIBRARIES) do LIBRARY_NAMES[name] = true end
local OS_ALLOWED = { getenv = true, time = true, date = true, clock = true }

-- Modules `require` hands to a recipe from raycai's library (read-only), and the fields of
-- each that a recipe does not get (reading them raises with the reason).
local MODULES = {
  ["raycai.ray"] = {}, ["raycai.recipe"] = {}, ["raycai.params"] = {}, ["raycai.hash"] = {},
  ["raycai.cml"] = {}, cjson = {}, ["cjson.safe"] = {},
  ["raycai.ui"] = { configure = "it belongs to raycai-run's options" },
  ["raycai.template"] = { render_file = "it reads local files; read the template into a string" },
  ["raycai.clock"] = { clear_interrupt = "Ctrl-C must stay in force", raise_interrupt = "internal",
                       trap_interrupts = "internal", budget = "internal", over_budget = "internal",
                       track_lines = "internal", last_line = "internal" },
}

-- Globals that exist in Lua but not for recipes: the message says why.
local WITHHELD = {
  io = "files", debug = "the debugger", package = "the module system", dofile = "files",
  loadfile = "files", collectgarbage = "the collector",
}

local HATCH = "run raycai-run with --trust-recipe to give a recipe you trust the full Lua library"


local function withheld_message(what)
  return ("'%s' is not available to recipes (see docs/recipes.md, \"Recipes run in a sandbox\"); %s")
    :format(what, HATCH)
end


--- A read-only view of t (tables inside are wrapped on access, cached in `views`): reads pass
--- through, assignments raise, `hidden` fields raise with their reason.
local function readonly(t, name, views, hidden)
  if views[t] then return views[t] end
  local view = {}
  views[t] = view
  setmetatable(view, {
    __index = function(_, k)
      if hidden and hidden[k] then
        error(("%s.%s is not available to recipes (%s)"):format(name, tostring(k), hidden[k]), 2)
      end
      local v = t[k]
      if type(v) == "table" then return readonly(v, name .. "." .. tostring(k), views) end
      return v
    end,
    __newindex = function(_, k)
      error(("%s is read-only in a recipe: cannot assign %s.%s (make a local copy instead)")
        :format(name, name, tostring(k)), 2)
    end,
    __pairs = function()
      return function(_, k)
        local nk, nv = next(t, k)
        while nk ~= nil and hidden and hidden[nk] do nk, nv = next(t, nk) end
        if type(nv) == "table" then nv = readonly(nv, name .. "." .. tostring(nk), views) end
        return nk, nv
      end, view, nil
    end,
    __len = function() return #t end,
    __metatable = false,
  })
  return view
end


local function strict_env(base)
  return setmetatable({}, {
    __index = function(_, name)
      local v = base[name]
      if v == nil then
        if WITHHELD[name] then error(withheld_message(name), 2) end
        error(("undefined global '%s' (declare it with 'local')"):format(tostring(name)), 2)
      end
      return v
    end,
    __newindex = function(_, name)
      error(("assignment to undeclared global '%s' (use 'local %s = ...')"):format(tostring(name),
        tostring(name)), 2)
    end,
  })
end


--- pcall/xpcall for recipes: an interrupt or a spent budget cannot be caught, it goes on up.
local function uncatchable(ok, ...)
  if not ok and (clock.interrupted() or clock.over_budget()) then error((...), 0) end
  return ok, ...
end


--- The globals of a sandboxed recipe (self: the loader context, for require).
local function sandbox_globals(self)
  local views = self.views
  local base = {}
  for _, name in ipairs(ALLOWED) do base[name] = _G[name] end
  for _, name in ipairs(LIBRARIES) do
    base[name] = readonly(_G[name], name, views, name == "string" and { dump = "binary chunks" } or nil)
    views[base[name]] = base[name]  -- a view seen again (getmetatable("").__index) is itself
  end
  local os_t = {}
  for name in pairs(OS_ALLOWED) do os_t[name] = os[name] end
  base.os = setmetatable({}, {
    __index = function(_, k)
      if os_t[k] then return os_t[k] end
      error(("os.%s is not available to recipes (only os.getenv, os.time, os.date and os.clock); %s")
        :format(tostring(k), HATCH), 2)
    end,
    __newindex = function(_, k) error(("os is read-only in a recipe: cannot assign os.%s"):format(tostring(k)), 2) end,
    __metatable = false,
  })
  local own = setmetatable({}, { __mode = "k" })  -- metatables the recipe set: its own to change
  base.setmetatable = function(t, mt)
    if type(mt) == "table" then own[mt] = true end
    return setmetatable(t, mt)
  end
  base.getmetatable = function(v)
    local mt = getmetatable(v)
    if type(v) == "string" then return self.string_mt end
    if type(mt) ~= "table" or own[mt] then return mt end
    return readonly(mt, "metatable", views)  -- raycai's classes stay raycai's
  end
  base.pcall = function(f, ...) return uncatchable(pcall(f, ...)) end
  base.xpcall = function(f, h, ...) return uncatchable(xpcall(f, h, ...)) end
  base.load = function(chunk, name, mode, env)
    if mode ~= nil and mode ~= "t" then
      error("load: recipes may load text chunks only (mode 't'); binary chunks are refused", 2)
    end
    -- "=name": a chunk name never poses as a file, least of all one of raycai's own (the guard
    -- tells recipe code from raycai's by its source)
    local display = "=" .. (type(name) == "string" and name:gsub("^[@=]", "") or "load")
    return load(chunk, display, "t", env or strict_env(base))
  end
  base.print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
    ui.info(table.concat(parts, "\t"))
  end
  base.require = function(name) return M.require(self, name, 3) end
  self.string_mt = readonly({ __index = base.string }, "string metatable", views)
  return base
end


--- A loader context for one run: the folders searched and the modules loaded so far.
---@param recipe_path string
---@param opts? {trusted?:boolean}
function M.new(recipe_path, opts)
  local dirs = { resource.dirname(recipe_path) }
  local extra = os.getenv("RAYCAI_PATH")
  if extra and extra ~= "" then
    for dir in extra:gmatch("[^:]+") do dirs[#dirs + 1] = dir end
  end
  local self = { dirs = dirs, loaded = {}, files = {}, views = setmetatable({}, { __mode = "k" }),
                 trusted = opts and opts.trusted or false }
  if self.trusted then
    self.base = setmetatable({ require = function(name) return M.require(self, name, 3) end },
                             { __index = _G })
  else
    self.base = sandbox_globals(self)
  end
  return self
end


--- `require` inside the sandbox: the recipe's folders, then RAYCAI_PATH, then the allow-list.
function M.require(self, name, level)
  if type(name) ~= "string" then error("require: module name must be a string", level) end
  if self.loaded[name] ~= nil then return self.loaded[name] end
  local rel = name:gsub("%.", "/")
  for _, dir in ipairs(self.dirs) do
    for _, cand in ipairs({ resource.join(dir, rel .. ".lua"), resource.join(dir, rel, "init.lua") }) do
      if resource.exists(cand) then
        local mod = M.run_file(self, cand)
        if mod == nil then mod = true end
        self.loaded[name] = mod
        return mod
      end
    end
  end
  if self.trusted then
    if package.loaded[name] ~= nil or package.preload[name] or package.searchpath(name, package.path) then
      return require(name)
    end
  elseif MODULES[name] then
    local mod = require(name)
    return type(mod) == "table" and readonly(mod, name, self.views, MODULES[name]) or mod
  elseif name == "os" or LIBRARY_NAMES[name] then
    return self.base[name]
  elseif package.loaded[name] ~= nil or package.preload[name] or package.searchpath(name, package.path) then
    error(("module '%s' is not available to recipes (they may require their own folders' modules, "
      .. "RAYCAI_PATH, raycai.ray, raycai.recipe, raycai.params, raycai.ui, raycai.template, raycai.clock, "
      .. "raycai.hash, raycai.cml and cjson); %s"):format(name, HATCH), level)
  end
  -- modules installed with LuaRocks (pure Lua), run in the sandbox like the recipe's own
  local rocks = lua_trees.path()
  local rock = #rocks > 0 and package.searchpath(name, table.concat(rocks, ";"))
  if rock then
    local mod = M.run_file(self, rock)
    if mod == nil then mod = true end
    self.loaded[name] = mod
    return mod
  end
  error(("module '%s' not found (looked in %s, then the raycai library, then the LuaRocks trees %s; "
    .. "add a folder with RAYCAI_PATH, or luarocks install --local the module)")
    :format(name, table.concat(self.dirs, ", "), #rocks > 0 and table.concat(rocks, ";") or "(none)"), level)
end


-- The files being run, innermost last (a recipe requiring another recipe nests them).
local running = {}


--- The recipe or module file whose chunk is running now (innermost), or nil: raycai.ray
--- resolves a recipe's launcher templates against its folder.
function M.current_file()
  return running[#running]
end


--- Load and run a file in a fresh strict environment; returns what the chunk returns.
--- Raises "file:line: message" for syntax and runtime errors.
function M.run_file(self, path)
  local text, rerr = resource.read(path)
  if not text then error(rerr, 0) end
  local display = path
  local chunk, err = load(text, "@" .. display, "t", strict_env(self.base))
  if not chunk then error(err, 0) end
  self.files[#self.files + 1] = display
  -- Remember the last line run in this file: when the recipe tail-calls into raycai
  -- (`return recipe.new{...}`) its frame is gone, and an error raised there has no position.
  local source = "@" .. display
  local prev_source, prev_line = clock.track_lines(source)
  running[#running + 1] = display
  local results = table.pack(xpcall(chunk, function(e)
    if type(e) == "string" and not e:match("^[^\n]-%.lua:%d+:") then
      local last_line = clock.last_line()
      e = ("%s:%s %s"):format(display, last_line and (last_line .. ":") or "", e)
    end
    return e
  end))
  running[#running] = nil
  clock.track_lines(prev_source, prev_line)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end


return M
