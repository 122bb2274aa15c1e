-- The raycai-run command-line contract: options, exit codes, messages, --set typing, the sandbox.
local run = require("support.run").raycai
local cjson = require "cjson"

local FIX = "tests/fixtures/recipes/"


describe("raycai-run", function()
  describe("options", function()
    it("prints the version with --version", function()
      local r = run { "--version" }
      assert.equal(0, r.code)
      assert.matches("^raycai%-run %d+%.%d+%.%d+", r.stdout)
    end)

    it("prints usage with --help", function()
      local r = run { "--help" }
      assert.equal(0, r.code)
      assert.matches("usage: raycai%-run %[OPTIONS%] RECIPE %[ACTION%]", r.stdout)
    end)

    it("exits 2 and says so when no recipe is given", function()
      local r = run {}
      assert.equal(2, r.code)
      assert.matches("no recipe given", r.stderr)
    end)

    it("exits 2 on an unknown option and names it", function()
      local r = run { "--frobnicate", FIX .. "minimal.lua" }
      assert.equal(2, r.code)
      assert.matches("unknown option '%-%-frobnicate'", r.stderr)
    end)

    it("exits 2 on an unknown action and lists the valid ones", function()
      local r = run { FIX .. "minimal.lua", "launch" }
      assert.equal(2, r.code)
      assert.matches("unknown action 'launch'; use up, plan, status, down, params, suspend, resume, autostop, run, submit, job, "
        .. "logs or env", r.stderr)
    end)

    it("exits 2 when the recipe file does not exist", function()
      local r = run { "no/such/recipe.lua" }
      assert.equal(2, r.code)
      assert.matches("recipe 'no/such/recipe.lua' not found", r.stderr)
    end)

    it("rejects --purge without down", function()
      local r = run { FIX .. "minimal.lua", "up", "--purge" }
      assert.equal(2, r.code)
      assert.matches("%-%-purge goes with the down action", r.stderr)
    end)
  end)

  describe("recipe errors", function()
    it("reports a syntax error with file:line and no traceback", function()
      local r = run { FIX .. "syntax_error.lua" }
      assert.equal(2, r.code)
      assert.matches("syntax_error%.lua:5:", r.stderr)
      assert.not_matches("stack traceback", r.stderr)
    end)

    it("reports a runtime error with file:line", function()
      local r = run { FIX .. "runtime_error.lua" }
      assert.equal(2, r.code)
      assert.matches("runtime_error%.lua:4: attempt to index a nil value", r.stderr)
      assert.not_matches("stack traceback", r.stderr)
    end)

    it("shows the traceback of a recipe error with -v", function()
      local r = run { "-v", FIX .. "runtime_error.lua" }
      assert.equal(2, r.code)
      assert.matches("stack traceback", r.stderr)
    end)

    it("refuses assignment to an undeclared global, naming it and the line", function()
      local r = run { FIX .. "stray_global.lua" }
      assert.equal(2, r.code)
      assert.matches("stray_global%.lua:3: assignment to undeclared global 'workers'", r.stderr)
    end)

    it("refuses reading an undefined global, naming it and the line", function()
      local r = run { FIX .. "undefined_global.lua" }
      assert.equal(2, r.code)
      assert.matches("undefined_global%.lua:3: undefined global 'undefined_thing'", r.stderr)
    end)

    it("requires the recipe to return a recipe", function()
      local r = run { FIX .. "not_a_recipe.lua" }
      assert.equal(2, r.code)
      assert.matches("the recipe must return recipe%.new", r.stderr)
    end)
  end)

  describe("--set", function()
    local function params_of(args)
      local argv = {}
      for _, a in ipairs(args) do argv[#argv + 1] = a end
      for _, a in ipairs({ "--json", FIX .. "minimal.lua", "params" }) do argv[#argv + 1] = a end
      local r = run(argv)
      assert.equal(0, r.code, r.stderr)
      local values = {}
      for line in r.stdout:gmatch("[^\n]+") do
        local ev = cjson.decode(line)
        if ev.event == "params" then
          for _, p in ipairs(ev.params) do values[p.name] = p.value end
        end
      end
      return values
    end

    it("parses values by the type of the default", function()
      local v = params_of { "--set", "workers=7", "--set", "ratio=0.25", "--set", "enabled=true",
                            "--set", "label=hello world", "--set", "packages=ray[default]==2.40.0, torch",
                            "--set", "head.cpu=8", "--set=env.FOO=bar=baz" }
      assert.equal(7, v.workers)
      assert.equal(0.25, v.ratio)
      assert.equal(true, v.enabled)
      assert.equal("hello world", v.label)
      assert.same({ "ray[default]==2.40.0", "torch" }, v.packages)
      assert.equal(8, v["head.cpu"])
      assert.same({ FOO = "bar=baz" }, v.env)
    end)

    it("exits 2 naming the parameter when a number is not a number", function()
      local r = run { "--set", "workers=abc", FIX .. "minimal.lua" }
      assert.equal(2, r.code)
      assert.matches("workers", r.stderr)
      assert.matches("'abc' is not a whole number", r.stderr)
    end)

    it("exits 2 on a value out of range", function()
      local r = run { "--set", "workers=-1", FIX .. "minimal.lua" }
      assert.equal(2, r.code)
      assert.matches("parameter workers is %-1; it must be at least 0", r.stderr)
    end)

    it("suggests the closest parameter for an unknown key", function()
      local r = run { "--set", "worker=3", FIX .. "minimal.lua" }
      assert.equal(2, r.code)
      assert.matches("no such parameter; did you mean 'workers'%?", r.stderr)
    end)

    it("suggests dotted parameters too", function()
      local r = run { "--set", "head.cpus=3", FIX .. "minimal.lua" }
      assert.equal(2, r.code)
      assert.matches("did you mean 'head%.cpu'%?", r.stderr)
    end)

    it("rejects a boolean that is not one", function()
      local r = run { "--set", "enabled=maybe", FIX .. "minimal.lua" }
      assert.equal(2, r.code)
      assert.matches("'maybe' is not a boolean", r.stderr)
    end)

    it("rejects a --set without =", function()
      local r = run { "--set", "workers", FIX .. "minimal.lua" }
      assert.equal(2, r.code)
      assert.matches("expected KEY=VALUE", r.stderr)
    end)

    it("passes the values to the steps", function()
      local r = run { "--set", "workers=5", "--set", "head.cpu=2", FIX .. "minimal.lua" }
      assert.equal(0, r.code, r.stderr)
      assert.matches("workers=5 cpu=2 label=abc", r.stdout)
    end)
  end)

  describe("modules", function()
    it("finds modules in the recipe's folder and on RAYCAI_PATH", function()
      local r = run({ FIX .. "uses_module.lua" }, { env = { RAYCAI_PATH = FIX .. "teamlib" } })
      assert.equal(0, r.code, r.stderr)
      assert.matches("team%-x ml%-platform", r.stdout)
    end)

    it("says which module is missing", function()
      local r = run { FIX .. "uses_module.lua" }
      assert.equal(2, r.code)
      assert.matches("module 'teamdefaults' not found", r.stderr)
    end)
  end)

  describe("actions", function()
    it("exits 1 and names the failing step's error", function()
      local r = run { FIX .. "step_fails.lua" }
      assert.equal(1, r.code)
      assert.matches("the second step could not finish", r.stderr)
    end)

    it("runs later steps' early work while a step waits, and deferred work at the next wait or the end", function()
      local r = run { FIX .. "early_work.lua" }
      assert.equal(0, r.code, r.stderr)
      local lines = {}
      for line in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.same({ "waits: before idle", "deferred by waits", "uploads: early", "last: early", "waits: after idle",
                    "uploads: apply finds early", "last: apply", "deferred by uploads" }, lines)
    end)

    it("emits JSON events with --json", function()
      local r = run { "--json", FIX .. "step_fails.lua" }
      assert.equal(1, r.code)
      local kinds = {}
      for line in r.stdout:gmatch("[^\n]+") do
        local ev = cjson.decode(line)
        assert.is_string(ev.time)
        kinds[#kinds + 1] = ev.event
      end
      assert.same({ "run_started", "step_started", "step_finished", "step_started", "step_finished", "error",
                    "run_finished" }, kinds)
    end)

    it("shows the recipe's description and parameters with --help after a recipe", function()
      local r = run { "--set", "head.cpu=2", FIX .. "minimal.lua", "--help" }
      assert.equal(0, r.code, r.stderr)
      assert.matches("usage: raycai%-run %[OPTIONS%] .*minimal%.lua", r.stdout)
      assert.matches("head%.cpu%s+integer%s+4%s+2%s+head vCPU", r.stdout)
    end)

    it("lists parameters with their docs", function()
      local r = run { FIX .. "minimal.lua", "params" }
      assert.equal(0, r.code, r.stderr)
      assert.matches("head%.cpu%s+integer%s+4%s+4%s+head vCPU", r.stdout)
    end)
  end)
end)
