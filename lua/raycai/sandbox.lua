-- raycai.sandbox: recipes and their modules run in their own strict _ENV. Reading an undefined
-- global or assigning one is an error with file:line. `require` looks in the recipe's folder, then
-- each folder of RAYCAI_PATH, then the installed library, then the LuaRocks trees (pure Lua
-- modules installed with `luarocks install`, run in the sandbox too).
local resource = require "raycai.resource"
local ui = require "raycai.ui"

local M = {}

-- What a recipe may see besides require and print.
local ALLOWED = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring",
  "type", "xpcall", "rawequal", "rawget", "rawlen", "rawset", "setmetatable", "getmetatable",
  "string", "table", "math", "utf8", "_VERSION",
}
local OS_ALLOWED = { "getenv", "time", "date", "clock" }


local function strict_env(base)
  return setmetatable({}, {
    __index = function(_, name)
      local v = base[name]
      if v == nil then
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


--- A loader context for one run: the folders searched and the modules loaded so far.
---@param recipe_path string
function M.new(recipe_path)
  local dirs = { resource.dirname(recipe_path) }
  local extra = os.getenv("RAYCAI_PATH")
  if extra and extra ~= "" then
    for dir in extra:gmatch("[^:]+") do dirs[#dirs + 1] = dir end
  end
  local self = { dirs = dirs, loaded = {}, files = {} }

  local base = {}
  for _, name in ipairs(ALLOWED) do base[name] = _G[name] end
  local os_t = {}
  for _, name in ipairs(OS_ALLOWED) do os_t[name] = os[name] end
  base.os = os_t
  base.print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
    ui.info(table.concat(parts, "\t"))
  end
  base.require = function(name)
    if type(name) ~= "string" then error("require: module name must be a string", 2) end
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
    if package.loaded[name] ~= nil or package.preload[name] or package.searchpath(name, package.path) then
      return require(name)
    end
    -- modules installed with LuaRocks (pure Lua), run in the sandbox like the recipe's own
    local rocks = require("raycai.lua_trees").path()
    local rock = #rocks > 0 and package.searchpath(name, table.concat(rocks, ";"))
    if rock then
      local mod = M.run_file(self, rock)
      if mod == nil then mod = true end
      self.loaded[name] = mod
      return mod
    end
    error(("module '%s' not found (looked in %s, then the raycai library, then the LuaRocks trees %s; "
      .. "add a folder with RAYCAI_PATH, or luarocks install --local the module)")
      :format(name, table.concat(self.dirs, ", "), #rocks > 0 and table.concat(rocks, ";") or "(none)"), 2)
  end
  self.base = base
  return self
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
  local source, last_line = "@" .. display, nil
  local old_hook, old_mask, old_count = debug.gethook()
  debug.sethook(function(_, line)
    if debug.getinfo(2, "S").source == source then last_line = line end
  end, "l")
  local results = table.pack(xpcall(chunk, function(e)
    if type(e) == "string" and not e:match("^[^\n]-%.lua:%d+:") then
      e = ("%s:%s %s"):format(display, last_line and (last_line .. ":") or "", e)
    end
    return e
  end))
  debug.sethook(old_hook, old_mask, old_count)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end


return M
