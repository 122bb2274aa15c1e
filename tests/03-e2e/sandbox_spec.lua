-- The recipe sandbox holds (issue 14, item 5): what a recipe assigns never reaches raycai, the
-- library a recipe gets is an allow-list, runaway recipe code is stopped by SIGINT/SIGTERM
-- (exit 130) and, in params and plan, by an instruction budget (exit 2); --trust-recipe is the
-- escape hatch and warns. Every case runs raycai-run on a recipe written to a temporary folder.
local support = require "support.run"
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local clock = require "raycai.clock"

local HEAD = 'local ray = require "raycai.ray"\n'
local TAIL = '\nreturn ray.recipe { name = "evil", defaults = { project = "p", cluster = "c" } }\n'


describe("the recipe sandbox", function()
  local dir

  setup(function() dir = fs.tempdir("raycai-sandbox") end)
  teardown(function() fs.remove(dir, { recursive = true }) end)

  local n = 0
  local function recipe(body, whole)
    n = n + 1
    local path = fs.join(dir, ("r%d.lua"):format(n))
    assert(fs.write(path, whole and body or (HEAD .. body .. TAIL)))
    return path
  end

  local function raycai(args, env)
    local e = { RAYCAI_SIM_STATE = fs.join(dir, "sim") }
    for k, v in pairs(env or {}) do e[k] = v end
    return support.raycai(args, { env = e })
  end

  local function lines(text)
    local out = {}
    for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
    return out
  end

  -- exit 2 with exactly one line on stderr, at the recipe's line, matching `pattern`
  local function refused(path, pattern, args)
    local argv = {}
    for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
    argv[#argv + 1] = path
    argv[#argv + 1] = "params"
    local r = raycai(argv)
    assert.equal(2, r.code, r.stderr)
    local l = lines(r.stderr)
    assert.equal(1, #l, r.stderr)
    assert.matches("^error: " .. path:gsub("%p", "%%%0") .. ":%d+: ", l[1])
    assert.matches(pattern, l[1])
    assert.is_nil(r.stdout:find("HIJACKED", 1, true))
    return l[1]
  end

  describe("shared libraries", function()
    it("refuses an assignment to string.format at the recipe's line", function()
      refused(recipe('string.format = function() return "HIJACKED" end'),
        "string is read%-only in a recipe: cannot assign string%.format")
    end)

    it("refuses one through the string metatable", function()
      refused(recipe('getmetatable("").__index.format = function() return "HIJACKED" end'),
        "string is read%-only in a recipe: cannot assign string%.format")
    end)

    it("refuses assignments to table, math and raycai's modules", function()
      refused(recipe('table.concat = nil'), "table is read%-only")
      refused(recipe('math.floor = nil'), "math is read%-only")
      refused(recipe('ray.setup_venv.apply = function() return nil, "HIJACKED" end'),
        "raycai%.ray%.setup_venv is read%-only")
      refused(recipe('getmetatable(ray.recipe { name = "x" }).up = nil'), "metatable is read%-only")
    end)

    it("leaves raycai's own messages unchanged after a caught attempt", function()
      local path = recipe([[
pcall(function() string.format = function() return "HIJACKED" end end)
pcall(function() getmetatable("").__index.format = function() return "HIJACKED" end end)
pcall(function() string.rep = function() return "HIJACKED" end end)]])
      local r = raycai { "--set", "workers=lots", path, "params" }
      assert.equal(2, r.code)
      assert.same({ "error: --set workers: 'lots' is not a whole number (workers is an integer parameter)" },
        lines(r.stderr))
      assert.is_nil((r.stdout .. r.stderr):find("HIJACKED", 1, true))
      -- and the values shown are formatted by the real string.format
      r = raycai { path, "params" }
      assert.equal(0, r.code, r.stderr)
      assert.matches("workers%s+integer%s+2%s+2", r.stdout)
    end)

    it("lets a recipe keep its own tables, metatables and local copies", function()
      local path = recipe([[
local Class = {}
Class.__index = Class
function Class.twice(self) return self.v * 2 end
local obj = setmetatable({ v = 21 }, Class)
getmetatable(obj).thrice = function(self) return self.v * 3 end
local mystring = {}
for k, v in pairs(string) do mystring[k] = v end
mystring.format = function() return "mine" end
assert(obj:twice() == 42 and obj:thrice() == 63 and mystring.format() == "mine")
assert(("%d"):format(7) == "7" and string.format("%s", "x") == "x")
assert(os.getenv("HOME") and os.time() and os.date("!%Y") and os.clock())
local co = coroutine.wrap(function() coroutine.yield(1) end)
assert(co() == 1)
assert(load("return 1 + 1")() == 2)
assert(require("cjson").encode({ 1 }) == "[1]")
assert(#require("raycai.hash").hex("x") > 0)]])
      local r = raycai { path, "params" }
      assert.equal(0, r.code, r.stderr)
    end)
  end)

  describe("the allow-list", function()
    it("gives os without execute", function()
      local marker = fs.join(dir, "PWNED")
      refused(recipe(('require "os".execute("touch %s")'):format(marker)),
        "os%.execute is not available to recipes %(only os%.getenv, os%.time, os%.date and os%.clock%)")
      assert.is_false(fs.exists(marker))
      refused(recipe('os.remove("/tmp/x")'), "os%.remove is not available")
    end)

    it("has no io, debug, package or loadfile", function()
      refused(recipe('local f = io.open("/etc/passwd")'), "'io' is not available to recipes")
      refused(recipe('debug.sethook(function() end, "l")'), "'debug' is not available to recipes")
      refused(recipe('package.loadlib("x", "y")'), "'package' is not available to recipes")
      refused(recipe('loadfile("/etc/passwd")'), "'loadfile' is not available to recipes")
      refused(recipe('require "io"'), "module 'io' is not available to recipes")
      refused(recipe('require "debug"'), "module 'debug' is not available to recipes")
    end)

    it("requires only the raycai modules meant for recipes", function()
      refused(recipe('require "raycai.fs"'), "module 'raycai%.fs' is not available to recipes")
      refused(recipe('require "raycai.proc"'), "module 'raycai%.proc' is not available to recipes")
      refused(recipe('require "raycai.target"'), "module 'raycai%.target' is not available")
      refused(recipe('require("raycai.clock").clear_interrupt()'),
        "raycai%.clock%.clear_interrupt is not available to recipes")
    end)

    it("loads no binary chunk", function()
      refused(recipe('load(string.dump(function() end))'), "string%.dump is not available")
      refused(recipe('load("return 1", "x", "b")'), "binary chunks are refused")
      refused(recipe('load(("").dump(function() end), "x", "bt")'), "binary chunks are refused")
      -- a text-only load given a binary chunk fails like Lua does, without running it
      refused(recipe('assert(load(("").dump(function() end)))'), "attempt to load a binary chunk")
    end)

    it("gives a text chunk the sandbox, not raycai's globals", function()
      refused(recipe('load("io.open(\'/etc/passwd\')")()'), "'io' is not available to recipes")
    end)

    it("does not let a loaded chunk pose as raycai's own code to escape the budget", function()
      local host_file = "@" .. fs.absolute(support.build .. "/lua/raycai/ui.lua")
      local path = recipe(('load("while true do end", %q)()'):format(host_file))
      local r = raycai({ path, "params" }, { RAYCAI_RECIPE_BUDGET = "5000000" })
      assert.equal(2, r.code, r.stderr)
      assert.matches("instructions without finishing", r.stderr)
    end)
  end)

  describe("--trust-recipe", function()
    it("gives the full library, with a warning on every run", function()
      local path = recipe('local f = assert(io.open("/etc/hostname")); f:close(); assert(debug.getinfo(1))')
      for _ = 1, 2 do
        local r = raycai { "--trust-recipe", path, "params" }
        assert.equal(0, r.code, r.stderr)
        local l = lines(r.stderr)
        assert.equal(1, #l, r.stderr)
        assert.matches("^warning: %-%-trust%-recipe: .* runs with the full Lua library", l[1])
      end
    end)
  end)

  describe("runaway recipe code", function()
    it("is stopped by the instruction budget in params, with one line and exit 2", function()
      local path = recipe("local n = 0\nwhile true do n = n + 1 end", true)
      local r = raycai({ path, "params" }, { RAYCAI_RECIPE_BUDGET = "5000000" })
      assert.equal(2, r.code)
      assert.same({ "error: " .. path .. ":2: the recipe ran 5000000 instructions without finishing (an "
        .. "endless loop?); fix it, or allow more with RAYCAI_RECIPE_BUDGET" }, lines(r.stderr))
    end)

    it("is stopped by the budget in plan (a step's plan that never returns)", function()
      local path = recipe([[
local recipe = require "raycai.recipe"
return recipe.new { name = "spin", steps = { { name = "spin", plan = function()
  while true do end
end } } }]], true)
      local r = raycai({ path, "plan" }, { RAYCAI_RECIPE_BUDGET = "5000000" })
      assert.equal(2, r.code, r.stderr)
      local l = lines(r.stderr)
      assert.equal(1, #l, r.stderr)
      assert.matches("^error: .*:3: the recipe ran 5000000 instructions", l[1])
    end)

    it("cannot catch the budget with pcall, nor escape it in a coroutine", function()
      for _, body in ipairs { "while true do pcall(function() while true do end end) end",
                              "coroutine.wrap(function() while true do end end)()" } do
        local r = raycai({ recipe(body, true), "params" }, { RAYCAI_RECIPE_BUDGET = "5000000" })
        assert.equal(2, r.code, body)
        assert.equal(1, #lines(r.stderr), r.stderr)
        assert.matches("instructions without finishing", r.stderr)
      end
    end)

    -- start raycai-run on a recipe that prints "spinning" then loops; signal it once it spins
    local function interrupt(body, sig, action)
      local out, err = os.tmpname(), os.tmpname()
      local p = assert(proc.spawn { support.exe, recipe('print("spinning")\n' .. body, true), action or "params",
        env = { RAYCAI_RECIPE_BUDGET = "1000000000000", RAYCAI_SIM_STATE = fs.join(dir, "sim") },
        stdout = out, stderr = err, kill_on_close = true })
      local deadline = clock.monotonic() + 60  -- only catches a hang
      while not (fs.read(out) or ""):find("spinning", 1, true) and not (fs.read(err) or ""):find("spinning", 1, true) do
        assert(clock.monotonic() < deadline, "the recipe never started")
        clock.sleep(0.05)
      end
      p:kill(sig)
      local code = p:wait(60)
      p:close()
      local text = (fs.read(out) or "") .. (fs.read(err) or "")
      os.remove(out)
      os.remove(err)
      return code, text
    end

    it("ends with exit 130 on SIGTERM and on SIGINT", function()
      for _, sig in ipairs { "TERM", "INT" } do
        local code, text = interrupt("while true do end", sig)
        assert.equal(130, code, text)
        assert.matches("error: interrupted: nothing was changed", text)
      end
    end)

    it("ends with exit 130 inside a coroutine and inside pcall", function()
      for _, body in ipairs { "coroutine.wrap(function() while true do end end)()",
                              "while true do pcall(function() while true do end end) end",
                              "local n = 0\nwhile true do n = n + #string.rep('x', 10) end" } do
        local code, text = interrupt(body, "TERM")
        assert.equal(130, code, body .. "\n" .. text)
      end
    end)
  end)

  describe("the shipped recipes", function()
    it("load and list their parameters", function()
      for _, path in ipairs { "recipes/gpu_cluster.lua", "recipes/cpu_cluster.lua", "recipes/team_example.lua" } do
        local r = raycai { path, "params" }
        assert.equal(0, r.code, path .. ": " .. r.stderr)
        assert.matches("workers", r.stdout)
      end
    end)

    it("find shared modules on RAYCAI_PATH, which run in the sandbox too", function()
      local shared = fs.join(dir, "shared")
      assert(fs.mkdir(fs.join(shared, "team")))
      assert(fs.write(fs.join(shared, "team", "evil.lua"), 'string.format = nil\nreturn {}\n'))
      assert(fs.write(fs.join(shared, "team", "good.lua"), 'return { workers = 3 }\n'))
      local good = recipe('local t = require "team.good"\nassert(t.workers == 3)')
      assert.equal(0, raycai({ good, "params" }, { RAYCAI_PATH = shared }).code)
      local bad = recipe('require "team.evil"')
      local r = raycai({ bad, "params" }, { RAYCAI_PATH = shared })
      assert.equal(2, r.code)
      assert.matches("team/evil%.lua:1: string is read%-only", r.stderr)
    end)
  end)
end)
