-- On a terminal, up shows one live line per step (spinner, elapsed time, progress) redrawn in
-- place, and colours unless NO_COLOR; run under a real pseudo-terminal.
local sim = require "support.sim"
local support = require "support.run"
local proc = require "raycai.proc"
local fs = require "raycai.fs"

local GPU = "recipes/gpu_cluster.lua"


--- Run raycai-run under a pseudo-terminal; returns exit code and everything the terminal got.
local function on_terminal(s, args, env)
  local out = os.tmpname()
  local argv = { "python3", "tests/support/pty_run.py", out, support.exe }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  -- a person's terminal: colours allowed (ctest sets NO_COLOR for the other specs)
  argv.env = { CML_HOST = s.url, CML_API_KEY = s.api_key, TERM = "xterm", LD_PRELOAD = false, NO_COLOR = false }
  for k, v in pairs(env or {}) do argv.env[k] = v end
  argv.stdout, argv.stderr, argv.kill_on_close = "null", "null", true
  local p = assert(proc.spawn(argv))
  local code = p:wait(120)
  p:close()
  local text = fs.read(out) or ""
  os.remove(out)
  support.assert_no_secret(text)
  return code, text
end


describe("on a terminal", function()
  local s

  before_each(function()
    s = sim.start { delays = { app_start = 1200, job_running = 300 } }
  end)

  after_each(function() if s then s:stop() end end)

  it("draws live step lines with a spinner and the workers' progress, in colour", function()
    local code, text = on_terminal(s, { GPU })
    assert.equal(0, code, text)
    assert.truthy(text:find("\r\27[K", 1, true), "the live line is redrawn in place")
    local frames = 0
    for _ in text:gmatch("\r\27%[K[^\r\n]-start_workers") do frames = frames + 1 end
    assert.is_true(frames >= 3, "the workers' live line was redrawn " .. frames .. " times")
    assert.matches("workers %d/2 running", text)
    assert.truthy(text:find("\27[32mok", 1, true), "finished steps are marked ok in green")
    assert.matches("workers:%s+2/2 running", text)
  end)

  it("has no colours with NO_COLOR", function()
    local code, text = on_terminal(s, { GPU }, { NO_COLOR = "1" })
    assert.equal(0, code, text)
    assert.is_nil(text:find("\27%[3%dm"), "no colour codes")
  end)

  it("prints only the summary with -q", function()
    local code, text = on_terminal(s, { "-q", GPU })
    assert.equal(0, code, text)
    assert.is_nil(text:find("\r\27[K", 1, true))
    assert.not_matches("==>", text)
    assert.matches("workers:%s+2/2 running", text)
  end)
end)
