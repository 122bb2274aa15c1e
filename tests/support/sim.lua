-- support.sim: start cml-sim for a spec and talk to it (control API and raw /api/v2 calls).
--   local sim = require "support.sim"
--   local s = sim.start { exec = false, api_key = "k", state_dir = dir, delays = { app_start = 50 },
--                         quota = { gpu = 2 }, capacity = { gpu = 2 }, runtimes = "pbj",
--                         tls_cert = c, tls_key = k, args = { "--domain", "x" } }
--   s.url, s.api_key, s:control(method, path, body) -> status, decoded
--   s:api(method, path, body, opts) -> status, decoded, raw, headers   (authenticated /api/v2)
--   s:requests(), s:clear_requests(), s:fault{...}, s:clear_faults(), s:state(), s:log(kind, id)
--   s:wait_for(fn, timeout, what), s:stop(), s:restart()
-- HTTP goes through the curl command line (test-only; the product's client is raycai.cml).
local proc = require "raycai.proc"
local clock = require "raycai.clock"
local cjson = require "cjson"

local M = {}

--- The API key every spec's simulator accepts unless told otherwise: recognisable, so that
--- support.run can check that raycai-run never prints it.
M.TEST_KEY = "raycai-test-SECRET-4b7e1d9c2a6f"

--- A runtime from the simulator's catalog (Python 3.11, Workbench, Standard).
M.RUNTIME = "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-workbench-python3.11-standard:2025.09.1-b5"

--- Delays (ms) short enough for specs that bring whole clusters up and down many times.
M.QUICK_DELAYS = { app_start = 30, app_stop = 10, job_scheduling = 10, job_starting = 10, job_running = 20 }

local Sim = {}
Sim.__index = Sim


function M.urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end


--- "?k=v&..." from a table (sorted keys); table values are JSON-encoded (search_filter).
function M.query(t)
  local keys, parts = {}, {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = t[k]
    if type(v) == "table" then v = cjson.encode(v) end
    parts[#parts + 1] = M.urlencode(k) .. "=" .. M.urlencode(v)
  end
  return #parts > 0 and "?" .. table.concat(parts, "&") or ""
end


local function sh(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end


local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end


local function write_all(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end


--- Decoded JSON, or the text itself when it is not JSON.
local function decode(text)
  if not text or text == "" then return nil end
  local ok, v = pcall(cjson.decode, text)
  if ok then return v end
  return text
end


function M.exe()
  return (os.getenv("RAYCAI_BUILD_DIR") or "build") .. "/cml-sim"
end


local function argv_of(opts)
  local argv = { M.exe(), "--listen", opts.listen or "127.0.0.1:0" }
  local function add(...) for _, a in ipairs { ... } do argv[#argv + 1] = a end end
  if opts.api_key then add("--api-key", opts.api_key) end
  if opts.state_dir then add("--state-dir", opts.state_dir) end
  if opts.exec then add("--exec") end
  if opts.python then add("--python", opts.python) end
  if opts.workload_key then add("--workload-key", opts.workload_key) end
  if opts.tls_cert then add("--tls-cert", opts.tls_cert, "--tls-key", opts.tls_key) end
  local names = {}
  for name in pairs(opts.delays or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do add("--delay", ("%s=%d"):format(name, opts.delays[name])) end
  for _, flag in ipairs { "quota", "capacity" } do   -- { cpu = N, memory = N, gpu = N }, any subset
    local r = opts[flag]
    if r then
      local parts = {}
      for _, k in ipairs { "cpu", "memory", "gpu" } do
        if r[k] then parts[#parts + 1] = ("%s=%s"):format(k, r[k]) end
      end
      add("--" .. flag, table.concat(parts, ","))
    end
  end
  if opts.runtimes then add("--runtimes", opts.runtimes) end
  for _, a in ipairs(opts.args or {}) do add(a) end
  return argv
end


local function launch(self)
  local errlog = os.tmpname()
  self.stderr_path = errlog
  local p, err = proc.spawn(self.argv_with { stdout = "pipe", stderr = errlog, new_group = true,
                                             kill_on_close = true })
  if not p then error("cannot start cml-sim (" .. M.exe() .. "): " .. tostring(err), 3) end
  local line, rerr = p:read_line(15)
  if not line or not line:match("^https?://127%.0%.0%.1:%d+$") then
    p:kill("KILL")
    p:wait(5)
    error(("cml-sim did not print its URL (%s): %s"):format(tostring(line or rerr),
      read_all(errlog) or ""), 3)
  end
  self.proc, self.url = p, line
end


--- Start a simulator; raises when it does not come up.
function M.start(opts)
  opts = opts or {}
  if opts.api_key == nil then opts.api_key = M.TEST_KEY end
  local self = setmetatable({ opts = opts, api_key = opts.api_key,
                              state_dir = opts.state_dir }, Sim)
  local argv = argv_of(opts)
  -- under the sanitizer build, the simulator reports leaks at exit (the Lua host cannot)
  local env = { CML_SIM_API_KEY = "", ASAN_OPTIONS = os.getenv("RAYCAI_CHILD_ASAN_OPTIONS") }
  self.argv_with = function(extra)
    local t = { env = env }
    for i, a in ipairs(argv) do t[i] = a end
    if self.listen then t[3] = self.listen end      -- argv[2], argv[3] are "--listen", address
    for k, v in pairs(extra) do t[k] = v end
    return t
  end
  launch(self)
  return self
end


--- A handle on a simulator started elsewhere (no process to manage).
function M.attach(url, api_key)
  return setmetatable({ url = url, api_key = api_key or "cml-sim-dev-key" }, Sim)
end


--- One HTTP request with curl: status, body text, headers text.
function Sim:http(method, url, body, headers, opts)
  opts = opts or {}
  local out, hdr = os.tmpname(), os.tmpname()
  -- env -u LD_PRELOAD: under the sanitizer build the ASan runtime is preloaded into busted, and
  -- a preloaded runtime can deadlock curl at start-up (setlocale); curl is not what we test.
  local cmd = { "env", "-u", "LD_PRELOAD", "curl", "-sS", "-g", "-X", sh(method), "-o", sh(out), "-D", sh(hdr),
                "-w", "'%{http_code}'", "--max-time", tostring(opts.timeout or 30) }
  if self.url:match("^https") then cmd[#cmd + 1] = "-k" end
  for _, h in ipairs(headers or {}) do cmd[#cmd + 1] = "-H " .. sh(h) end
  local inp
  if opts.form then
    for _, f in ipairs(opts.form) do cmd[#cmd + 1] = "-F " .. sh(f) end
  elseif body ~= nil then
    inp = os.tmpname()
    write_all(inp, type(body) == "table" and cjson.encode(body) or body)
    cmd[#cmd + 1] = "--data-binary @" .. sh(inp)
    if type(body) == "table" then cmd[#cmd + 1] = "-H 'Content-Type: application/json'" end
  end
  cmd[#cmd + 1] = sh(url)
  local pipe = io.popen(table.concat(cmd, " ") .. " 2>&1")
  local status_text = pipe:read("a")
  pipe:close()
  local text, head = read_all(out), read_all(hdr)
  os.remove(out)
  os.remove(hdr)
  if inp then os.remove(inp) end
  local status = tonumber(status_text:match("(%d%d%d)$")) or 0
  return status, text or "", head or "", status_text
end


--- Control API: status, decoded body.
function Sim:control(method, path, body)
  local status, text = self:http(method, self.url .. path, body == nil and nil or body)
  return status, decode(text)
end


--- An authenticated /api/v2 request: status, decoded body, raw body, response headers.
--- opts: key (another API key, or false for none), form (curl -F list), headers, timeout.
function Sim:api(method, path, body, opts)
  opts = opts or {}
  local headers = {}
  local key = opts.key
  if key == nil then key = self.api_key end
  if key then headers[#headers + 1] = "Authorization: Bearer " .. key end
  for _, h in ipairs(opts.headers or {}) do headers[#headers + 1] = h end
  if not path:match("^/") then path = "/api/v2/" .. path end
  local status, text, head = self:http(method, self.url .. path, body, headers, opts)
  return status, decode(text), text, head
end


--- Upload content to dest (multipart, field name = destination path): status, decoded.
function Sim:upload(pid, dest, content)
  local tmp = os.tmpname()
  write_all(tmp, content)
  local base = dest:match("([^/]+)$") or dest
  local status, body = self:api("POST", "projects/" .. pid .. "/files", nil,
    { form = { ("%s=@%s;filename=%s"):format(dest, tmp, base) } })
  os.remove(tmp)
  return status, body
end


--- Create a project (body fields merged) and upload files { [dest] = content }; returns the project.
function Sim:new_project(name, files, body)
  local req = { name = name }
  for k, v in pairs(body or {}) do req[k] = v end
  local status, p = self:api("POST", "projects", req)
  assert(status == 200, "create project " .. name .. ": " .. tostring(status) .. " " .. cjson.encode(p or {}))
  for dest, content in pairs(files or {}) do
    local st, b = self:upload(p.id, dest, content)
    assert(st == 200, "upload " .. dest .. ": " .. tostring(st) .. " " .. cjson.encode(b or {}))
  end
  return p
end


function Sim:requests()
  local status, list = self:control("GET", "/_sim/requests")
  assert(status == 200, "GET /_sim/requests: " .. tostring(status))
  return list
end


function Sim:clear_requests()
  assert(self:control("DELETE", "/_sim/requests") == 200)
end


--- Add a fault rule (or a list of rules); raises when the simulator refuses it.
function Sim:fault(rule)
  local status, body = self:control("POST", "/_sim/faults", rule)
  assert(status == 200, "POST /_sim/faults: " .. tostring(status) .. " " .. cjson.encode(body or {}))
  return body
end


function Sim:clear_faults()
  assert(self:control("DELETE", "/_sim/faults") == 200)
end


function Sim:state()
  local status, st = self:control("GET", "/_sim/state")
  assert(status == 200, "GET /_sim/state: " .. tostring(status))
  return st
end


--- Output of a workload in exec mode ("applications" or "runs"), or nil.
function Sim:log(kind, id)
  local status, text = self:http("GET", ("%s/_sim/logs/%s/%s"):format(self.url, kind, id))
  if status ~= 200 then return nil end
  return text
end


--- Poll fn() until it returns a truthy value (returned), or raise after timeout seconds.
function Sim:wait_for(fn, timeout, what) -- luacheck: ignore self
  local deadline = clock.monotonic() + (timeout or 10)
  local last
  repeat
    last = table.pack(fn())
    if last[1] then return table.unpack(last, 1, last.n) end
    clock.sleep(0.02)
  until clock.monotonic() > deadline
  error(("timed out after %gs waiting for %s (last: %s)"):format(timeout or 10, what or "a condition",
    tostring(last[2] or last[1])), 2)
end


function Sim:stop()
  if not self.proc then return end
  local p = self.proc
  self.proc = nil
  p:kill("TERM")
  local code = p:wait(15)
  if not code then
    p:kill("KILL")
    code = p:wait(5)
  end
  p:close()
  if self.stderr_path then os.remove(self.stderr_path) end
  return code
end


--- Stop and start again with the same options (and so the same state dir), on the same port
--- when it is still free (else on a new one: read s.url again).
function Sim:restart()
  local port = self.url:match(":(%d+)$")
  self:stop()
  self.listen = "127.0.0.1:" .. port
  local ok = pcall(launch, self)
  self.listen = nil
  if not ok then launch(self) end
  return self
end


--- The simulator's stderr so far (for assertion messages).
function Sim:stderr()
  return read_all(self.stderr_path) or ""
end


return M
