-- The day-2 actions' arguments (issue 15): raycai.day2.parse and the entrypoint's shell quoting.
local day2 = require "raycai.day2"
local submit = require "raycai.ray.submit"
local proc = require "raycai.proc"

describe("raycai.day2", function()
  describe("parse()", function()
    it("splits options, words and the entrypoint after --", function()
      local opts = {}
      local a = assert(day2.parse("submit", { "--name", "n1", "--env", "A=b c", "--env=B=", "--cpu", "2",
                                              "--json", "--detach", "--", "python", "--version" }, opts))
      assert.same({ "python", "--version" }, a.entrypoint)
      assert.same({ A = "b c", B = "" }, a.env)
      assert.equal("n1", a.name)
      assert.equal(2, a.cpu)
      assert.is_true(a.detach)
      assert.is_true(opts.json)
    end)

    it("refuses bad values and unknown options with the fix", function()
      assert.same({ nil, "--env 1A=x: give NAME=VALUE (NAME: letters, digits, _)" },
                  { day2.parse("submit", { "--env", "1A=x" }, {}) })
      assert.same({ nil, "--cpu lots: give a positive number" }, { day2.parse("submit", { "--cpu", "lots" }, {}) })
      assert.same({ nil, "--tail 1.5: give a positive number" }, { day2.parse("logs", { "--tail", "1.5" }, {}) })
      assert.same({ nil, "unknown option '--detach' for logs" }, { day2.parse("logs", { "--detach" }, {}) })
      assert.same({ nil, "--name needs a value" }, { day2.parse("submit", { "--name" }, {}) })
    end)
  end)

  describe("submit.entrypoint()", function()
    it("keeps each word one word for the shell; one word is a command line as written", function()
      local words = { "printf", "%s|", "it's", "a b", "$HOME", "`x`" }
      local line = submit.entrypoint(words)
      local out = os.tmpname()
      local p = assert(proc.spawn { "sh", "-c", line, stdout = out })
      assert.equal(0, p:wait(10))
      p:close()
      local f = assert(io.open(out))
      local got = f:read("a")
      f:close()
      os.remove(out)
      assert.equal("it's|a b|$HOME|`x`|", got)
      assert.equal("echo a | tr a b", submit.entrypoint { "echo a | tr a b" })
    end)
  end)
end)
