-- fuzz/cml_response.lua: the Lua half of fuzz_cml_response. Returns function(input) that feeds
-- arbitrary server responses to raycai.cml (lua/raycai/cml/init.lua, cml/call.lua: judge, retries,
-- recover, response shaping) through a fake transport, and every response body to lua-cjson.
--
-- Input: the first line names a client operation (see OPS; an unknown name picks one by the
-- bytes), then responses separated by a line "~~~", each like an HTTP response:
--   200                      status line: a number, or a transport failure kind
--   retry-after: 0           headers
--                            empty line
--   {"projects": []}         body
-- When the responses run out, the transport fails to connect.
-- Oracle: nothing raises; a call returns a value, or nil and an error that prints.
local cjson = require "cjson"
local cjson_safe = require "cjson.safe"
local clock = require "raycai.clock"
local cml = require "raycai.cml"

-- Retries wait on clock.sleep; in the fuzzer they must not wait.
clock.sleep = function() return true end

local PID, JOB, RUN, APP = "p1", "j1", "r1", "a1"

local OPS = {
  validate_key = function(c) return c:validate_key() end,
  list_projects = function(c) return c:list_projects({ search_filter = { name = "x" }, page_size = 10 }) end,
  get_project = function(c) return c:get_project(PID) end,
  create_project = function(c) return c:create_project({ name = "ray-gpu" }) end,
  update_project = function(c) return c:update_project(PID, { description = "d" }) end,
  delete_project = function(c) return c:delete_project(PID) end,
  list_runtimes = function(c) return c:list_runtimes() end,
  list_jobs = function(c) return c:list_jobs(PID) end,
  create_job = function(c) return c:create_job(PID, { name = "job", script = "s.py" }) end,
  get_job = function(c) return c:get_job(PID, JOB) end,
  create_job_run = function(c) return c:create_job_run(PID, JOB, { environment = { A = 1 } }) end,
  get_job_run = function(c) return c:get_job_run(PID, JOB, RUN) end,
  stop_job_run = function(c) return c:stop_job_run(PID, JOB, RUN) end,
  list_applications = function(c) return c:list_applications(PID) end,
  create_application = function(c)
    return c:create_application(PID, { name = "raycai-gpu-head", subdomain = "gpu-head", script = "h.py",
                                       environment = { RAYCAI = "1" } })
  end,
  get_application = function(c) return c:get_application(PID, APP) end,
  update_application = function(c) return c:update_application(PID, APP, { environment = { A = "b" } }) end,
  delete_application = function(c) return c:delete_application(PID, APP) end,
  restart_application = function(c) return c:restart_application(PID, APP) end,
  create_applications = function(c)
    local out = c:create_applications(PID, { { name = "w1" }, { name = "w2" } }, { parallel = 2 })
    return out
  end,
  delete_applications = function(c) return c:delete_applications(PID, { "a1", "a2" }, { parallel = 2 }) end,
  list_files = function(c) return c:list_files(PID, ".raycai/gpu") end,
  upload_file = function(c) return c:upload_file(PID, ".raycai/gpu/head.py", "print(1)\n") end,
  download_file = function(c) return c:download_file(PID, ".raycai/gpu/head.json") end,
  delete_file = function(c) return c:delete_file(PID, ".raycai/gpu/head.py") end,
  all_applications = function(c) return c:all("list_applications", PID) end,
  all_job_runs = function(c) return c:all("list_job_runs", PID, JOB) end,
}
local NAMES = {}
for name in pairs(OPS) do NAMES[#NAMES + 1] = name end
table.sort(NAMES)

local TRANSPORT = { timeout = true, connect = true, dropped = true, tls = true, too_large = true, other = true }


--- One response chunk -> res, terr as raycai.http returns them.
local function response(chunk)
  local head, body = chunk:match("^(.-)\n\n(.*)$")
  if not head then head, body = chunk, "" end
  local first, rest = head:match("^([^\n]*)\n?(.*)$")
  local status = tonumber(first:match("^%s*(%d%d%d)%s*$"))
  if not status then
    local kind = first:match("^%s*(%a[%w_]*)")
    return nil, { kind = TRANSPORT[kind] and kind or "other", message = "fuzz: " .. first }
  end
  local headers = {}
  for k, v in rest:gmatch("([^:\n]+):%s*([^\n]*)") do headers[k:lower()] = v end
  return { status = status, body = body, headers = headers, time = 0 }
end


--- A raycai.http stand-in answering from a queue of chunks.
local function fake_http(chunks)
  local i = 0
  local h = {}
  function h.request(_, req)
    assert(type(req) == "table" and type(req.url) == "string" and type(req.method) == "string",
      "the client sent a malformed request table")
    i = i + 1
    if i > #chunks then return nil, { kind = "connect", message = "fuzz: no more responses" } end
    return response(chunks[i])
  end
  function h.request_many(self, reqs)
    local out = {}
    for k, req in ipairs(reqs) do out[k] = { self:request(req) } end
    return out
  end
  function h.close() end
  return h
end


--- lua-cjson on one body: decode (both flavours), and encode what decoded, then decode that.
local function json_roundtrip(body)
  local v = cjson_safe.decode(body)
  local ok = pcall(cjson.decode, body)
  assert(ok == (v ~= nil) or body:match("^%s*null%s*$"), "cjson and cjson.safe disagree")
  if v ~= nil then
    local text = cjson_safe.encode(v)
    if text then assert(cjson_safe.decode(text) ~= nil or text == "null", "re-encoded JSON does not decode") end
  end
end


--- A call's outcome must be a value, or nil and an error that prints.
local function check_outcome(name, res, err)
  if res ~= nil then return end
  assert(err ~= nil, name .. ": nil result without an error")
  local text = tostring(err)
  assert(type(text) == "string" and text ~= "", name .. ": an error that does not print")
end


-- One client for every input (its transport is swapped for each).
local client = assert(cml.client { host = "https://fuzz.invalid", api_key = "fuzz-key", retries = 3,
                                   deadline = 3600, timeout = 30 })
client._http:close()


return function(input)
  local first, rest = input:match("^([^\n]*)\n?(.*)$")
  local name = OPS[first] and first
  if not name then
    local sum = 0
    for k = 1, math.min(#first, 64) do sum = sum + first:byte(k) end
    name = NAMES[sum % #NAMES + 1]
  end
  local chunks = {}
  local pos = 1
  while pos <= #rest and #chunks < 32 do
    local s, e = rest:find("\n~~~\n", pos, true)
    chunks[#chunks + 1] = rest:sub(pos, (s or #rest + 1) - 1)
    pos = e and e + 1 or #rest + 1
  end
  for _, chunk in ipairs(chunks) do
    local res = response(chunk)
    if res then json_roundtrip(res.body) end
  end
  client._http = fake_http(chunks)
  local res, err = OPS[name](client)
  if name == "create_applications" or name == "delete_applications" then
    assert(type(res) == "table", name .. ": no result list")
    for k = 1, 2 do check_outcome(name, res[k] and res[k][1], res[k] and res[k][2]) end
  else
    check_outcome(name, res, err)
  end
end
