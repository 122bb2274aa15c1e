-- Recipe modules shared as LuaRocks packages: a rock installed with Debian's luarocks into the
-- user tree (--local) is found by a recipe's require, runs in the recipe sandbox, and a module
-- that is nowhere gives the usual module-not-found error listing where raycai looked.
local run = require "support.run"
local fs = require "raycai.fs"

local SOURCE = os.getenv("RAYCAI_SOURCE_DIR") or "."
local ROCK = SOURCE .. "/contrib/rocks/acme-ray-defaults"


local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local text = p:read("a")
  return p:close(), text
end


describe("recipe modules from LuaRocks", function()
  local home, work

  setup(function()
    home = fs.tempdir("raycai-rocks-home")
    work = fs.tempdir("raycai-rocks-work")
    -- build and install the example rock from a copy, as a team member would (luarocks make
    -- writes nothing but the tree, but the source folder is the repository's)
    local copy = fs.join(work, "acme-ray-defaults")
    assert(sh(("cp -R %s %s"):format(ROCK, copy)))
    local ok, text = sh(("cd %s && HOME=%s luarocks --lua-version 5.4 make --local"):format(copy, home))
    assert(ok, "luarocks make failed: " .. text)
    assert.is_true(fs.exists(fs.join(home, ".luarocks/share/lua/5.4/acme/ray_defaults.lua")))
    assert(fs.write(fs.join(work, "acme_cluster.lua"), [[
local ray = require "raycai.ray"
local acme = require "acme.ray_defaults"
return ray.recipe { name = "acme_cluster", doc = "acme's cluster", defaults = acme.defaults("acme") }
]]))
    assert(fs.write(fs.join(work, "missing_rock.lua"), [[
local ray = require "raycai.ray"
local nope = require "acme.not_installed"
return ray.recipe { name = "x", defaults = nope }
]]))
    assert(fs.write(fs.join(home, ".luarocks/share/lua/5.4/acme/escape.lua"), [[
local got_execute = pcall(function() return os.execute end)
return { exec = rawget(_ENV, "io") and "io" or got_execute and "os.execute" or "sandboxed" }
]]))
    assert(fs.write(fs.join(work, "escaping.lua"), [[
local ray = require "raycai.ray"
local e = require "acme.escape"
return ray.recipe { name = "x", doc = tostring(e.exec) }
]]))
  end)

  teardown(function()
    fs.remove(home, { recursive = true })
    fs.remove(work, { recursive = true })
  end)

  local function raycai(args)
    return run.raycai(args, { env = { HOME = home, LUA_PATH = false, LUA_PATH_5_4 = false } })
  end

  it("finds a rock installed with luarocks --local", function()
    local r = raycai { fs.join(work, "acme_cluster.lua"), "params" }
    assert.equal(0, r.code, r.stderr)
    assert.matches("project%s+string%s+acme%-ray", r.stdout)
    assert.matches("ray%.packages%s+list%s+pyarrow==17%.0%.0", r.stdout)
  end)

  it("runs rocks in the recipe sandbox", function()
    local r = raycai { "--help", fs.join(work, "escaping.lua") }
    assert.equal(0, r.code, r.stderr)
    assert.matches("x: sandboxed", r.stdout)
  end)

  it("names where it looked for a module that is not installed", function()
    local r = raycai { fs.join(work, "missing_rock.lua"), "params" }
    assert.equal(2, r.code)
    assert.matches("missing_rock%.lua:2: module 'acme%.not_installed' not found %(looked in .*, then the "
      .. "raycai library, then the LuaRocks trees .*/%.luarocks/share/lua/5%.4/%?%.lua", r.stderr)
  end)
end)
