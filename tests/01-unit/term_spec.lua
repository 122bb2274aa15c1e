-- raycai.term: the one door to the terminal; every registered secret is masked.
local term = require "raycai.term"
local proc = require "raycai.proc"
local fs = require "raycai.fs"


describe("raycai.term", function()
  it("masks a registered secret everywhere in a string", function()
    term.secret("s3cr3t-value-123")
    assert.equal("key=*** and again ***!", term.redact("key=s3cr3t-value-123 and again s3cr3t-value-123!"))
  end)

  it("masks the longer of two overlapping secrets whole", function()
    term.secret("abcdef")  -- the shorter first: masking in registration order would cut the longer
    term.secret("abcdef-long-secret")
    assert.equal("[***] [***]", term.redact("[abcdef-long-secret] [abcdef]"))
  end)

  it("leaves text without secrets alone and ignores empty secrets", function()
    term.secret("")
    assert.equal("plain text", term.redact("plain text"))
    assert.equal("", term.redact(""))
  end)

  it("writes to stdout and stderr with secrets masked", function()
    local out = os.tmpname()
    local code = [[
      package.loadlib(os.getenv("RAYCAI_BUILD_DIR") .. "/raycai_core.so", "luaopen_raycai_core")()
      local term = require "raycai.term"
      term.secret("TOPSECRETVALUE")
      term.write("stdout", "out TOPSECRETVALUE\n")
      term.write("stderr", "err TOPSECRETVALUE\n")
      io.stdout:write(tostring(term.isatty("stdout")), " ", term.width("stdout"), "\n")
    ]]
    local p = assert(proc.spawn { "lua5.4", "-e", code, stdout = out, stderr = out,
                                  env = { RAYCAI_BUILD_DIR = os.getenv("RAYCAI_BUILD_DIR") or "build" } })
    assert.equal(0, p:wait(10))
    local text = fs.read(out)
    os.remove(out)
    assert.matches("out %*%*%*", text)
    assert.matches("err %*%*%*", text)
    assert.not_matches("TOPSECRET", text)
    assert.matches("false 80", text)
  end)

  it("rejects an unknown stream", function()
    assert.has_error(function() term.write("stdin", "x") end)
  end)
end)
