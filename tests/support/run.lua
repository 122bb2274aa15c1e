-- Run build/raycai-run as a user would: returns { code, stdout, stderr }.
local proc = require "raycai.proc"

local M = {}

M.build = os.getenv("RAYCAI_BUILD_DIR") or "build"
M.exe = M.build .. "/raycai-run"

--- A package index password specs put in index URLs (tests/03-e2e/secrets_spec.lua): like the key,
--- no output of any spec may show it.
M.INDEX_PASSWORD = "idx-PASSWORD-3c5e7a9b"

--- Strings raycai-run must never print (the simulator's test key, the index password, and any
--- a spec adds).
M.secrets = { require("support.sim").TEST_KEY, M.INDEX_PASSWORD }


--- The content of a file (or ""), which is then removed: for a child's captured output.
function M.slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end


--- Raise (at the caller's caller) if text shows any of M.secrets.
function M.assert_no_secret(text)
  for _, key in ipairs(M.secrets) do
    if text:find(key, 1, true) then error("raycai-run printed a secret (" .. key:sub(1, 4) .. "...):\n" .. text, 3) end
  end
end


--- Run raycai-run with args; opts.env adds environment variables (false removes one),
--- opts.timeout bounds the run, opts.wrap is a command line raycai-run runs under (valgrind).
function M.raycai(args, opts)
  opts = opts or {}
  local out, err = os.tmpname(), os.tmpname()
  local argv = {}
  for _, a in ipairs(opts.wrap or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = M.exe
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  argv.env = {}
  for k, v in pairs(opts.env or {}) do argv.env[k] = v end
  -- under the sanitizer build, raycai-run reports leaks at exit (the Lua host cannot)
  argv.env.ASAN_OPTIONS = argv.env.ASAN_OPTIONS or os.getenv("RAYCAI_CHILD_ASAN_OPTIONS")
  argv.stdout, argv.stderr = out, err
  argv.cwd = opts.cwd
  argv.kill_on_close = true
  local p = assert(proc.spawn(argv))
  local code = p:wait(opts.timeout or 120)
  p:close()
  local r = { code = code, stdout = M.slurp(out), stderr = M.slurp(err) }
  M.assert_no_secret(r.stdout .. r.stderr)  -- every spec that runs raycai-run is also a secrets check
  return r
end


return M
