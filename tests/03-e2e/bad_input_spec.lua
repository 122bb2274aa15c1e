-- Bad input: recipes and arguments that must be refused with one clear line (file:line where
-- there is one), exit code 2, and no request to CML at all (read from the simulator's log).
local sim = require "support.sim"
local run = require("support.run").raycai

local GPU = "recipes/gpu_cluster.lua"
local BAD = "tests/fixtures/bad/"
local RECIPES = "tests/fixtures/recipes/"


describe("bad input", function()
  local s

  setup(function() s = sim.start {} end)
  teardown(function() if s then s:stop() end end)
  before_each(function() s:clear_requests() end)

  --- raycai-run with args must exit 2 with one stderr line matching each pattern, sending nothing.
  local function refused(args, patterns, env)
    local e = { CML_HOST = s.url, CML_API_KEY = s.api_key, RAYCAI_PATH = "recipes" }
    for k, v in pairs(env or {}) do e[k] = v end  -- false removes a variable
    local r = run(args, { env = e })
    assert.equal(2, r.code, r.stderr .. r.stdout)
    local lines = {}
    for line in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(1, #lines, "one line, got:\n" .. r.stderr)
    for _, p in ipairs(type(patterns) == "table" and patterns or { patterns }) do
      assert.matches(p, lines[1])
    end
    assert.same({}, s:requests())
    return r
  end

  describe("recipes", function()
    it("a syntax error, with file:line", function()
      refused({ RECIPES .. "syntax_error.lua" }, "syntax_error%.lua:5:")
    end)

    it("a runtime error, with file:line", function()
      refused({ RECIPES .. "runtime_error.lua" }, "runtime_error%.lua:4:")
    end)

    it("a stray global, with file:line", function()
      refused({ RECIPES .. "stray_global.lua" }, "stray_global%.lua:3: assignment to undeclared global 'workers'")
    end)

    it("a NUL byte in a default that reaches a template", function()
      refused({ BAD .. "hostile_default.lua" },
        { "hostile_default%.lua:4:", "ray%.packages contains a NUL" })
    end)

    it("an unknown parameter in with(), suggesting the closest", function()
      refused({ BAD .. "unknown_default.lua" }, { "unknown_default%.lua:3:", "did you mean 'workers'" })
    end)

    it("an absurd size in a default", function()
      refused({ BAD .. "absurd_default.lua" }, { "absurd_default%.lua:3:", "worker%.memory .* at most 4096" })
    end)

    it("a step without a name", function()
      refused({ BAD .. "nameless_step.lua" }, { "nameless_step%.lua:3:", "recipe step 1 needs a name" })
    end)

    it("a recipe that cannot be read", function()
      refused({ "tests/fixtures" }, "tests/fixtures")
    end)
  end)

  describe("--set", function()
    local cases = {
      { "workers=abc", "'abc' is not a whole number" },
      { "head.cpu=four", "'four' is not a number" },
      { "bypass_authentication=maybe", "'maybe' is not a boolean" },
      { "wokers=3", "did you mean 'workers'" },
      { "workers=-1", "workers is %-1; it must be at least 0" },
      { "workers=100000", "it must be at most 1024" },
      { "head.cpu=0", "head%.cpu is 0; it must be at least 0%.1" },
      { "head.memory=1e9", "head%.memory .* at most 4096" },
      { "worker.gpu=-2", "worker%.gpu is %-2" },
      { "cluster=Bad_Name", "cluster name \"Bad_Name\" is not valid" },
      { "cluster=-gpu", "is not valid" },
      { "cluster=a--b", "is not valid" },
      { "cluster=gpu.cluster", "is not valid" },
      { "cluster=" .. string.rep("x", 40), "is 40 characters; use at most 30" },
      { "cluster=", "cluster name is empty" },
      { "cluster=$(rm -rf ~)", "is not valid" },
      { "cluster=a'b", "is not valid" },
      { "cluster=a\nb", "contains a newline" },
      { "project=a/b", "cannot contain '/'" },
      { "project=p\nq", "contains a newline" },
      { "ray.version=2.40.0\"; import os", "give a version such as" },
      { "ray.packages=ray; $(id)", "not a pip requirement" },
      { "ray.packages=--index-url=http://evil", "looks like a pip option" },
      { "ray.packages=torch`id`", "not a pip requirement" },
      { "ray.index_url=http://x y", "contains white space" },
      { "env.BAD-NAME=x", "not a valid environment variable name" },
      { "env.FOO=a\nb", "contains a newline" },
      { "timeouts.head=0", "at least 1" },
      { "venv.root=../outside", "is not a folder inside the project" },
      { "venv.root=/opt/venvs", "is not a folder inside the project" },
      { "venv.python=python3; rm -rf ~", "give a command or path" },
      -- (issue 13) Ray custom resources and node labels
      { "worker.ray_resources.CPU=2", "parameter worker%.ray_resources: 'CPU' is one of Ray's default resources" },
      { "head.ray_resources.pool=lots", "parameter head%.ray_resources: resource 'pool' is \"lots\"" },
      { "worker.ray_labels.tier=-x", "parameter worker%.ray_labels: label tier = '%-x': the value is not valid" },
      { "worker.ray_labels.bad key=x", "parameter worker%.ray_labels: label key 'bad key' is not valid" },
    }
    for _, c in ipairs(cases) do
      it(("refuses %q"):format(c[1]), function()
        refused({ "--set", c[1], GPU }, c[2])
      end)
    end
  end)

  describe("--set across parameters (issue 13)", function()
    it("refuses a flag given both as ray_resources and in ray_args, naming both", function()
      refused({ "--set", 'worker.ray_args=--resources={"a": 1}', "--set", "worker.ray_resources.b=1", GPU },
        "^error: worker%.ray_args has '%-%-resources={\"a\": 1}' and worker%.ray_resources is set")
    end)

    it("refuses ray_labels for a Ray without --labels key=value", function()
      refused({ "--set", "ray.version=2.48.0", "--set", "insecure_ray=true", "--set", "worker.ray_labels.tier=gpu", GPU },
        "^error: worker%.ray_labels: Ray 2%.48%.0 takes no `%-%-labels key=value` %(Ray 2%.49 and later do%); "
        .. "set ray%.version to 2%.49%.0 or later")
    end)
  end)

  describe("environment", function()
    it("CML_HOST without a key names CML_API_KEY", function()
      refused({ GPU }, "CML_API_KEY is not set", { CML_API_KEY = false })
    end)

    it("an unreadable key file names CML_API_KEY_FILE", function()
      refused({ GPU }, "CML_API_KEY_FILE: cannot read", { CML_API_KEY = false, CML_API_KEY_FILE = "/nonexistent/key" })
    end)

    it("an empty key file says so", function()
      local f = os.tmpname()
      refused({ GPU }, "is empty; put the API key in it", { CML_API_KEY = false, CML_API_KEY_FILE = f })
      os.remove(f)
    end)

    it("a key with a line break inside (a pasted key file) names CML_API_KEY and is not shown", function()
      local r = refused({ GPU }, { "API key contains white space or a control character", "CML_API_KEY" },
        { CML_API_KEY = "part-one-of-the-key\nX-Injected: yes" })
      assert.is_nil((r.stdout .. r.stderr):find("part-one", 1, true))
      local f = os.tmpname()
      local h = assert(io.open(f, "w"))
      h:write("part-one-of-the-key part-two\n")
      h:close()
      r = refused({ GPU }, "CML_API_KEY_FILE", { CML_API_KEY = false, CML_API_KEY_FILE = f })
      assert.is_nil((r.stdout .. r.stderr):find("part-one", 1, true))
      os.remove(f)
    end)

    it("a missing CA bundle names CML_CA_BUNDLE", function()
      refused({ GPU }, "CML_CA_BUNDLE: cannot read", { CML_CA_BUNDLE = "/nonexistent/ca.pem" })
    end)

    it("a bad CML_TIMEOUT says what is expected", function()
      refused({ GPU }, "CML_TIMEOUT=soon is not a positive number of seconds", { CML_TIMEOUT = "soon" })
    end)
  end)
end)
