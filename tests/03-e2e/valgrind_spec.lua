-- Memory safety: raycai-run under valgrind memcheck against cml-sim (the host under valgrind, the
-- simulator not). Every run must end with no memcheck errors and no definite or indirect leaks,
-- and must still do its job: each test also checks what the run did to the simulator.
-- Skipped (pending) when valgrind is not installed; disabled in the sanitizer build (an ASan
-- binary cannot run under valgrind), see the "memory safety" block of tests/tests.cmake.
local sim = require "support.sim"
local run = require "support.run"
local fs = require "raycai.fs"
local cluster = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local DELAYS = sim.QUICK_DELAYS
local BUILD = run.build
local SUPP = "tests/valgrind.supp"
-- valgrind slows the host down 20-50 times; a whole up takes a few seconds.
local TIMEOUT = 240


--- Path of valgrind: $RAYCAI_VALGRIND (set by CMake), else the first one on PATH, else nil.
local function find_valgrind()
  local explicit = os.getenv("RAYCAI_VALGRIND")
  if explicit and explicit ~= "" and fs.exists(explicit) then return explicit end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local p = dir .. "/valgrind"
    if fs.exists(p) then return p end
  end
  return nil
end


--- True when the build tree was configured with -DRAYCAI_SANITIZE=ON.
local function sanitizer_build()
  return (fs.read(BUILD .. "/CMakeCache.txt") or ""):match("\nRAYCAI_SANITIZE:BOOL=ON") ~= nil
end


local VALGRIND = find_valgrind()
local SKIP = not VALGRIND and "valgrind is not installed (apt-get install valgrind): memcheck skipped"
  or sanitizer_build() and "sanitizer build: raycai-run links ASan and cannot run under valgrind"
  or nil


--- Run raycai-run under memcheck with args and env (through support.run, so its output is also
--- checked for the API key); returns { code, stdout, stderr, report }.
local function memcheck(args, env)
  local report = os.tmpname()
  local wrap = { VALGRIND, "--error-exitcode=99", "--leak-check=full",
                 "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
                 "--track-origins=yes", "--suppressions=" .. SUPP, "--log-file=" .. report }
  -- the host must not inherit a preloaded ASan runtime (busted under a sanitizer build)
  local e = { LD_PRELOAD = false, NO_COLOR = "1" }
  for k, v in pairs(env or {}) do e[k] = v end
  local r = run.raycai(args, { env = e, timeout = TIMEOUT, wrap = wrap })
  r.report = fs.read(report) or ""
  os.remove(report)
  return r
end


--- Asserts the memcheck report is clean: no errors, no definite or indirect leaks.
local function assert_clean(r, what)
  assert.not_equal(99, r.code, what .. ": memcheck found errors:\n" .. r.report)
  assert.matches("ERROR SUMMARY: 0 errors", r.report, what .. ":\n" .. r.report)
  -- either every block was freed, or the leak summary shows none lost
  if not r.report:match("All heap blocks were freed") then
    assert.matches("definitely lost: 0 bytes", r.report, what .. ":\n" .. r.report)
    assert.matches("indirectly lost: 0 bytes", r.report, what .. ":\n" .. r.report)
  end
end


local apps_of, count = cluster.apps_of, cluster.count


describe("raycai-run under valgrind memcheck", function()
  local s

  before_each(function()
    if not SKIP then s = sim.start { delays = DELAYS } end
  end)

  after_each(function()
    if s then s:stop() end
    s = nil
  end)

  local function target()
    return { CML_HOST = s.url, CML_API_KEY = s.api_key }
  end

  it("brings the GPU cluster up, then down, with no memory errors or leaks", function()
    if SKIP then return pending(SKIP) end
    local up = memcheck({ GPU }, target())
    assert_clean(up, "up")
    assert.equal(0, up.code, up.stderr)
    local apps = apps_of(s, "raycai-gpu-")
    assert.equal(3, count(apps))
    for name, a in pairs(apps) do assert.equal("APPLICATION_RUNNING", a.status, name) end

    local down = memcheck({ GPU, "down", "--purge" }, target())
    assert_clean(down, "down")
    assert.equal(0, down.code, down.stderr)
    assert.equal(0, count(apps_of(s, "raycai-gpu-")))
  end)

  it("retries through 5xx bursts and dropped connections with no memory errors or leaks", function()
    if SKIP then return pending(SKIP) end
    s:fault { match = { path_prefix = "/api/v2/projects" }, action = "status", status = 503, count = 3 }
    s:fault { match = { method = "POST" }, action = "status", status = 502, count = 2 }
    s:fault { match = { method = "GET" }, action = "drop", count = 3 }
    local up = memcheck({ GPU }, target())
    assert_clean(up, "up through faults")
    assert.equal(0, up.code, up.stderr)
    assert.same({}, select(2, s:control("GET", "/_sim/faults")), "every injected fault fired")
    assert.equal(3, count(apps_of(s, "raycai-gpu-")))
  end)

  it("fails cleanly on malformed and truncated responses with no memory errors or leaks", function()
    if SKIP then return pending(SKIP) end
    for _, action in ipairs({ "malformed", "truncate" }) do
      s:clear_faults()
      s:fault { match = { method = "GET", path = "/api/v2/projects" }, action = action, count = 1000 }
      local r = memcheck({ GPU }, target())
      assert_clean(r, action)
      assert.equal(1, r.code, action .. ": " .. r.stderr)
      assert.matches("GET /api/v2/projects", r.stderr)
    end
  end)

  it("runs the built-in simulator as a child with no memory errors or leaks", function()
    if SKIP then return pending(SKIP) end
    local state = os.tmpname()
    os.remove(state)
    assert(fs.mkdir(state, tonumber("700", 8)))
    local env = { CML_HOST = false, CML_API_KEY = false, RAYCAI_SIM_STATE = state,
                  RAYCAI_CML_SIM = BUILD .. "/cml-sim",
                  RAYCAI_SIM_ARGS = "--delay app_start=30 --delay job_running=20" }
    local up = memcheck({ GPU, "-q" }, env)
    local status = memcheck({ GPU, "status" }, env)
    local down = memcheck({ GPU, "down", "--purge" }, env)
    os.execute("rm -rf '" .. state .. "'")
    assert_clean(up, "up (built-in simulator)")
    assert.equal(0, up.code, up.stderr)
    assert.matches("workers:%s+2/2 running", up.stdout)
    assert_clean(status, "status (built-in simulator)")
    assert.equal(0, status.code, status.stderr)
    assert_clean(down, "down (built-in simulator)")
    assert.equal(0, down.code, down.stderr)
  end)
end)
