-- raycai.lua_trees: where this machine keeps Lua 5.4 modules, as LuaRocks and Debian lay them
-- out: LUA_PATH_5_4 / LUA_PATH when set (`eval "$(luarocks path)"` sets them), else the folders
-- `luarocks --lua-version 5.4 path` reports, in its order: /usr/local (LuaRocks' system tree),
-- /usr/share/lua/5.4 (Debian's lua-* packages), then the user tree (~/.luarocks, `--local`).
-- `raycai-run test` finds busted there, and recipes find modules installed with `luarocks
-- install` (pure Lua only: the sandbox loads no C).
local fs = require "raycai.fs"

local M = {}


local function home_tree()
  local home = os.getenv("HOME")
  return home and home ~= "" and fs.join(home, ".luarocks") or nil
end


--- The templates of LUA_<kind>_5_4 (else LUA_<kind>) that `keep` accepts, never the current
--- folder's; and whether the defaults follow (unset, or a ";;" in it, as Lua's own rule).
local function from_env(kind, keep)
  local env = os.getenv("LUA_" .. kind .. "_5_4") or os.getenv("LUA_" .. kind)
  local out = {}
  if not env or env == "" then return out, true end
  for t in env:gmatch("[^;]+") do
    if keep(t) and not t:match("^%./") then out[#out + 1] = t end
  end
  return out, env:find(";;", 1, true) ~= nil
end


--- The ?.lua templates, in search order (the ones of folders that exist).
function M.path()
  local out, defaults = from_env("PATH", function(t) return t:match("%.lua$") end)
  if not defaults then return out end
  -- the order `luarocks --lua-version 5.4 path` reports: the system tree, Debian's, the user's
  local dirs = { "/usr/local/share/lua/5.4", "/usr/local/lib/lua/5.4", "/usr/share/lua/5.4" }
  local home = home_tree()
  if home then dirs[#dirs + 1] = fs.join(home, "share", "lua", "5.4") end
  for _, dir in ipairs(dirs) do
    if fs.exists(dir) then
      out[#out + 1] = dir .. "/?.lua"
      out[#out + 1] = dir .. "/?/init.lua"
    end
  end
  return out
end


--- The ?.so templates of C modules (for busted's own dependencies, never for recipes).
function M.cpath()
  local out, defaults = from_env("CPATH", function() return true end)
  if not defaults then return out end
  local dirs = {}
  local home = home_tree()
  if home then dirs[#dirs + 1] = fs.join(home, "lib", "lua", "5.4") end
  dirs[#dirs + 1] = "/usr/local/lib/lua/5.4"
  for _, name in ipairs(fs.list("/usr/lib") or {}) do
    if name:match("%-linux%-gnu%w*$") then dirs[#dirs + 1] = fs.join("/usr/lib", name, "lua", "5.4") end
  end
  dirs[#dirs + 1] = "/usr/lib/lua/5.4"
  for _, dir in ipairs(dirs) do
    if fs.exists(dir) then out[#out + 1] = dir .. "/?.so" end
  end
  return out
end


--- The first file that package.searchpath finds for module name over templates, or nil.
function M.find(name, templates)
  return package.searchpath(name, table.concat(templates, ";"))
end


return M
