-- raycai.proc: child processes with pipes, environment, signals and exit codes.
local proc = require "raycai.proc"
local fs = require "raycai.fs"


describe("raycai.proc", function()
  it("reads lines from stdout and returns the exit code", function()
    local p = assert(proc.spawn { "sh", "-c", "echo one; printf 'two\\nthree'; exit 7", stdout = "pipe" })
    assert.equal("one", p:read_line(5))
    assert.equal("two", p:read_line(5))
    assert.equal("three", p:read_line(5))
    assert.same({ nil, "eof" }, { p:read_line(5) })
    assert.equal(7, p:wait(5))
    p:close()
  end)

  it("adds, replaces and removes environment variables", function()
    local p = assert(proc.spawn { "sh", "-c", 'echo "$A|$HOME|${PATH:+path}"', stdout = "pipe",
                                  env = { A = "a b", HOME = "/nowhere" } })
    assert.equal("a b|/nowhere|path", p:read_line(5))
    p:wait(5)
    -- removal only shows on a variable the child would inherit: PATH (it found sh). env(1)
    -- prints the environment as received (sh would set a default PATH of its own)
    assert.is_string(os.getenv("PATH"))
    p = assert(proc.spawn { "env", stdout = "pipe", env = { PATH = false, A = "a b" } })
    local seen = {}
    for line in function() return p:read_line(5) end do
      seen[line:match("^[^=]*")] = true
    end
    assert.equal(0, p:wait(5))
    assert.is_true(seen.A, "env did not list A")
    assert.is_nil(seen.PATH)
  end)

  it("runs in the given folder and writes output to a file", function()
    local dir = fs.tempdir("proc-spec")
    local out = fs.join(dir, "out.txt")
    local p = assert(proc.spawn { "pwd", cwd = dir, stdout = out })
    assert.equal(0, p:wait(5))
    assert.equal(fs.absolute(dir), (fs.read(out):gsub("\n$", "")))
    fs.remove(dir, { recursive = true })
  end)

  it("times out a read and a wait, then kills the whole group", function()
    local p = assert(proc.spawn { "sh", "-c", "sleep 30 & sleep 30", stdout = "pipe", new_group = true })
    assert.same({ nil, "timeout" }, { p:read_line(0.05) })
    assert.same({ nil, "timeout" }, { p:wait(0.05) })
    assert.is_true(p:running())
    assert.is_true(p:kill("TERM"))
    assert.equal(128 + 15, p:wait(5))
    assert.is_false(p:running())
  end)

  it("reports a program that does not exist, and a bad folder", function()
    assert.same({ nil, "no-such-program-x: command not found" }, { proc.spawn { "no-such-program-x" } })
    local p, err = proc.spawn { "true", cwd = "/no/such/dir" }
    assert.is_nil(p)
    assert.matches("No such file or directory", err)
  end)

  it("kills the child on close when asked", function()
    local p = assert(proc.spawn { "sleep", "30", kill_on_close = true })
    local pid = p:pid()
    p:close()
    assert.is_nil(io.open("/proc/" .. pid .. "/cmdline"), "the child is gone")
    assert.has_error(function() p:wait(1) end, "attempt to use a closed process handle")
  end)

  it("needs a program, and a cwd that is a string", function()
    assert.has_error(function() proc.spawn {} end)
    assert.has_error(function() proc.spawn { "true", cwd = {} } end, "bad cwd (string expected, got table)")
    assert.has_error(function() proc.spawn { "true", cwd = 7 } end, "bad cwd (string expected, got number)")
  end)
end)
