-- raycai.test_runner: `raycai-run test [DIR]` runs the *_spec.lua files under DIR (default: the
-- current folder) with busted, inside this raycai-run: the specs get raycai.testing (a cml-sim
-- per spec, recipes run by a real raycai-run) and the C primitives, with no Lua setup of their
-- own. busted is the one installed on the machine (Debian's lua-busted, or LuaRocks'), found
-- in the Lua trees raycai.lua_trees lists.
local fs = require "raycai.fs"
local trees = require "raycai.lua_trees"

local M = {}

local HOW_TO_INSTALL = "install busted for Lua 5.4: apt-get install lua-busted (Debian, Ubuntu), or "
  .. "luarocks --lua-version 5.4 install --local busted"


--- Does DIR hold any *_spec.lua (at any depth)?
local function has_specs(dir)
  local entries = fs.list(dir)
  if not entries then return false end
  for _, name in ipairs(entries) do
    local p = fs.join(dir, name)
    if name:match("_spec%.lua$") then return true end
    if not name:match("^%.") and (fs.stat(p) or {}).type == "directory" and has_specs(p) then return true end
  end
  return false
end


--- Run the specs; returns an exit code, or does not return (busted exits the process).
--- opts.dir, opts.verbose; returns nil, message, 2 for a folder without specs or no busted.
function M.run(opts)
  local dir = opts.dir or "."
  if not fs.exists(dir) then
    return nil, ("%s: no such folder; raycai-run test [DIR] runs DIR's *_spec.lua files"):format(dir), 2
  end
  if not has_specs(dir) then
    return nil, ("no *_spec.lua files under %s: put specs beside your recipes, e.g. %s/spec/my_cluster_spec.lua "
      .. "(docs/recipes.md, \"Test your recipe\")"):format(dir, dir), 2
  end
  local path, cpath = trees.path(), trees.cpath()
  if not trees.find("busted.runner", path) then
    return nil, ("busted not found (looked in %s): %s"):format(
      #path > 0 and table.concat(path, ";") or "no Lua 5.4 module folders", HOW_TO_INSTALL), 2
  end
  -- raycai's own library first (preloaded or on its path), then the machine's trees
  package.path = package.path .. (package.path ~= "" and ";" or "") .. table.concat(path, ";")
  package.cpath = table.concat(cpath, ";")
  local abs = fs.absolute(dir)
  -- specs find the folder they test through RAYCAI_TEST_DIR (raycai.testing.path)
  require("raycai.testing").set_test_dir(abs)
  -- busted runs in DIR (so a .busted file there applies, and specs name recipes relative to it)
  _G.arg = { [0] = "raycai-run test", "--directory=" .. abs, "--pattern=_spec", "--lpath=", "--cpath=" }
  if opts.verbose then _G.arg[#_G.arg + 1] = "--verbose" end
  _G.arg[#_G.arg + 1] = "."
  require("busted.runner")({ standalone = false })
  return 0
end


return M
