-- raycai.cml: the Cloudera AI (CML) REST API v2 client.
--
--   local cml = require("raycai.cml")
--   local opts = assert(cml.config_from_env(os.getenv))
--   local client = assert(cml.client(opts))
--   local app, err = client:create_application(project_id, { name = "x", subdomain = "x", ... })
--   if not app then return nil, "could not create the head: " .. tostring(err) end
--
-- Methods take path ids as arguments and bodies as tables shaped like the swagger definitions.
-- An `environment` given as a table is sent as a JSON map (a JSON string in PATCH bodies, where
-- the API types it so); every `environment` in a response is decoded into a table. Failures are
-- `nil, err` (see raycai.cml.errors); retries and the no-duplicate rule live in raycai.cml.call.
local cjson = require("cjson.safe")
local clock = require("raycai.clock")
local http = require("raycai.http")
local term = require("raycai.term")
local call = require("raycai.cml.call")
local errors = require("raycai.cml.errors")

local M = {}


M.errors = errors
-- raycai's page size for every list it walks (the swagger gives no maximum; FACTS.md is silent)
M.PAGE_SIZE = 100
local API = "/api/v2"
local ARRAY_FIELDS = {
  runtime_addon_identifiers = true, attachments = true, recipients = true,
}

-- List methods: number of path arguments before opts, the items key, extra query options.
local LISTS = {
  list_projects = { nargs = 0, key = "projects",
    extra = { include_public_projects = true, include_all_projects = true } },
  list_runtimes = { nargs = 0, key = "runtimes" },
  list_jobs = { nargs = 1, key = "jobs" },
  list_job_runs = { nargs = 2, key = "job_runs" },
  list_applications = { nargs = 1, key = "applications" },
}

local Client = {}
Client.__index = Client

-- an API key with a line break or space inside would break (or inject) the Authorization header
local BAD_KEY = "the API key contains white space or a control character: set CML_API_KEY (or the "
  .. "file CML_API_KEY_FILE names) to the key alone, as User Settings > API Keys shows it"

local keys = setmetatable({}, { __mode = "k" })  -- client -> API key, off the client table
local PATHS = {}  -- list method name -> function(path ids) -> path


-- ------------------------------------------------------------------ helpers

--- The host name of a URL ("http://[::1]:80/x" -> "::1"), lower case; nil when there is none.
local function url_host(url)
  local rest = url:match("^%a[%w+.-]*://(.*)$")
  if not rest then return nil end
  local authority = rest:match("^[^/?#]*")
  authority = authority:match("^.*@(.*)$") or authority  -- drop userinfo
  local v6 = authority:match("^%[([^%]]+)%]")
  if v6 then return v6:lower() end
  return (authority:match("^[^:]*")):lower()
end


--- Is this host name the loopback interface: 127.0.0.0/8, localhost or ::1?
function M.is_loopback(name)
  if not name then return false end
  if name == "localhost" or name:match("%.localhost$") or name == "::1" or name == "0:0:0:0:0:0:0:1" then
    return true
  end
  local a, b, c, d = name:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return false end
  for _, octet in ipairs { a, b, c, d } do
    if tonumber(octet) > 255 then return false end
  end
  return tonumber(a) == 127
end


--- The transport policy: https:// always; http:// only to loopback, or with insecure (warned).
--- Returns true, or nil, the one-line refusal. Redirects are never followed (raycai.http does not
--- set CURLOPT_FOLLOWLOCATION; call.lua turns a 3xx into an error naming its Location), so the
--- check made here on CML_HOST holds for every request of the client.
local function check_transport(host, insecure, warn)
  local scheme = host:match("^(%a[%w+.-]*)://"):lower()
  if scheme == "https" then return true end
  if scheme ~= "http" then
    return nil, ("CML_HOST=%s: unsupported scheme '%s'; use https://<your workspace domain>"):format(host, scheme)
  end
  if M.is_loopback(url_host(host)) then return true end
  if not insecure then
    return nil, ("CML_HOST=%s would send the API key in clear text: use https://%s (or --insecure, "
      .. "which warns, for a test gateway)"):format(host, host:gsub("^%a+://", ""))
  end
  if warn then
    warn("CML_HOST is http:// (--insecure): the API key goes in clear text to " .. host
      .. "; anyone on the network path can read it; use https://")
  end
  return true
end

local function check_id(v, what)
  if type(v) ~= "string" or v == "" then
    error(string.format("bad %s (non-empty string expected, got %s)", what, type(v)), 3)
  end
  return call.escape(v)
end


-- A project file path relative to /home/cdsw without "." segments or extra slashes.
local function normalize(p)
  if type(p) ~= "string" then
    error("bad file path (string expected, got " .. type(p) .. ")", 4)
  end
  local segs = {}
  for s in p:gmatch("[^/]+") do
    if s ~= "." then
      segs[#segs + 1] = s
    end
  end
  return table.concat(segs, "/")
end


-- The same path with each segment escaped for a URL; "" for the root.
local function file_path(p)
  local segs = {}
  for s in normalize(p):gmatch("[^/]+") do
    segs[#segs + 1] = call.escape(s)
  end
  return table.concat(segs, "/")
end


local function decode_env(obj)
  if type(obj) == "table" and type(obj.environment) == "string" then
    local env = obj.environment:match("^%s*$") and {} or cjson.decode(obj.environment)
    obj.environment = type(env) == "table" and env or {}
  end
  return obj
end


local function post_list(key)
  return function(data)
    if type(data[key]) ~= "table" then
      data[key] = {}
    end
    -- keep only well-formed items: a server's garbage must not become the caller's crash
    local items = {}
    for _, item in ipairs(data[key]) do
      if type(item) == "table" and (item.name == nil or type(item.name) == "string") then
        decode_env(item)
        items[#items + 1] = item
      end
    end
    data[key] = items
    if type(data.next_page_token) ~= "string" then
      data.next_page_token = ""
    end
    return data
  end
end


-- Environment map values must be strings: { N = 4 } is sent as {"N":"4"}.
local function env_map(env)
  local m = {}
  for k, v in pairs(env) do
    if type(k) ~= "string" then
      error("bad environment (string keys expected)", 4)
    end
    m[k] = tostring(v)
  end
  return m
end


-- JSON body from a caller's table: copies, drops empty array fields (cjson would send {}),
-- sends environment as a map (create) or as a JSON string (patch, where the API wants that).
local function encode_body(body, patch)
  if body == nil then
    return "{}"
  end
  if type(body) ~= "table" then
    error("bad request body (table expected, got " .. type(body) .. ")", 4)
  end
  local out = {}
  for k, v in pairs(body) do
    if k == "environment" and type(v) == "table" then
      out[k] = patch and cjson.encode(env_map(v)) or env_map(v)
      if not patch and next(out[k]) == nil then
        out[k] = nil  -- an empty map would be fine, but cjson cannot tell it from an array
      end
    elseif not (ARRAY_FIELDS[k] and type(v) == "table" and next(v) == nil) then
      out[k] = v
    end
  end
  local json, err = cjson.encode(out)
  if not json then
    error("bad request body: " .. err, 4)
  end
  return json
end


-- Query table for a list call: search_filter (table -> JSON), sort, page_size, page_token.
local function list_query(opts, extra)
  local q = {}
  if opts == nil then
    return q
  end
  if type(opts) ~= "table" then
    error("bad list options (table expected, got " .. type(opts) .. ")", 4)
  end
  for k, v in pairs(opts) do
    if k == "search_filter" then
      q[k] = type(v) == "table" and assert(cjson.encode(v)) or tostring(v)
    elseif k == "sort" or k == "page_size" or k == "page_token" or (extra and extra[k]) then
      if v ~= "" then
        q[k] = tostring(math.tointeger(v) or v)  -- page_size 2.0 goes as "2"
      end
    else
      error("bad list option '" .. tostring(k) .. "'", 4)
    end
  end
  return q
end


-- ------------------------------------------------------------------- specs
-- Each builder returns the call spec of one endpoint (see raycai.cml.call).

local specs = {}


function specs.list(name, path, opts)
  local info = LISTS[name]
  return { method = "GET", path = path, query = list_query(opts, info.extra), class = "safe",
    post = post_list(info.key) }
end


local function get(path)
  return { method = "GET", path = path, class = "safe", post = decode_env }
end


local function delete(path)
  return { method = "DELETE", path = path, class = "safe", gone_ok = true }
end


local function patch(path, fields)
  -- PATCH sets the given fields: repeating it is harmless, so it retries like a read.
  return { method = "PATCH", path = path, body = encode_body(fields, true), class = "safe",
    post = decode_env }
end


-- A custom method (":stop", ":restart"): POST without a body, as the spec declares none.
local function action(path, class)
  return { method = "POST", path = path, class = class, post = decode_env }
end


-- Iterate every page of a list (specs.list) within deadline_at; yields page or false, err.
local function iterate(client, name, args, opts, deadline_at)
  local info = LISTS[name]
  local o = {}
  for k, v in pairs(opts or {}) do
    o[k] = v
  end
  local finished, seen = false, {}
  return function()
    if finished then
      return nil
    end
    local path = PATHS[name](table.unpack(args, 1, info.nargs))
    local page, err = call.one(client, specs.list(name, path, o), deadline_at)
    if not page then
      finished = true
      return false, err
    end
    local token = page.next_page_token
    if token == "" or seen[token] then
      finished = true
    else
      seen[token] = true
      o.page_token = token
    end
    return page
  end
end


-- Every item of a list whose `name` equals name exactly (the filter matches substrings).
local function find_named(client, name, args, wanted, deadline_at)
  local items = {}
  local key = LISTS[name].key
  for page, err in iterate(client, name, args, { search_filter = { name = wanted.name },
    page_size = M.PAGE_SIZE }, deadline_at) do
    if not page then
      return nil, err
    end
    for _, item in ipairs(page[key]) do
      if type(item) == "table" and item.name == wanted.name
        and (wanted.subdomain == nil or item.subdomain == wanted.subdomain) then
        items[#items + 1] = item
      end
    end
  end
  return items
end


-- A create spec that, after an ambiguous failure, looks for the object by name.
local function create(list_name, args, path, body)
  if type(body) ~= "table" or type(body.name) ~= "string" or body.name == "" then
    error("bad create body (a table with a non-empty name expected)", 3)
  end
  return {
    method = "POST", path = path, body = encode_body(body, false), class = "create",
    post = decode_env,
    recover = function(c, deadline_at)
      local found, err = find_named(c, list_name, args, body, deadline_at)
      if not found then
        return nil, err
      end
      return found[1] or false
    end,
  }
end


-- ---------------------------------------------------------------- the client

--- Build a client. Returns client, or nil, message.
---@param opts { host: string, api_key: string, ca_bundle: string?, insecure: boolean?,
---  timeout: number?, retries: integer?, deadline: number?, log: function?, warn: function?,
---  max_body: integer? }
function M.client(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'client' (table expected, got " .. type(opts) .. ")", 2)
  end
  local host, key = opts.host, opts.api_key
  if type(host) ~= "string" or host == "" then
    return nil, "no CML host: set CML_HOST to the workspace URL (https://ml-....cloudera.site)"
  end
  if type(key) ~= "string" or key == "" then
    return nil, "no API key: set CML_API_KEY (or CML_API_KEY_FILE) to a key from User Settings > API Keys"
  end
  if key:find("[%c%s]") then
    return nil, BAD_KEY
  end
  term.secret(key)
  host = host:gsub("%s+$", ""):gsub("^%s+", "")
  if not host:match("^%a[%w+.-]*://") then
    host = "https://" .. host
  end
  host = host:gsub("/+$", ""):gsub("/api/v2$", "")
  local tok, terr = check_transport(host, opts.insecure, opts.warn)
  if not tok then return nil, terr end
  if opts.insecure and opts.warn and host:match("^[Hh][Tt][Tt][Pp][Ss]://") then
    opts.warn("TLS certificate verification is disabled (--insecure) for " .. host
      .. ": anyone on the network path can read the API key; prefer CML_CA_BUNDLE")
  end
  local timeout = opts.timeout or 30
  local h = http.new {
    timeout = timeout, connect_timeout = math.min(timeout, 10), ca_bundle = opts.ca_bundle,
    insecure = opts.insecure and true or false, max_body = opts.max_body,
  }
  local self = setmetatable({
    base = host, timeout = timeout, retries = opts.retries or 5, deadline = opts.deadline or 120,
    log = opts.log, _http = h,
  }, Client)
  keys[self] = key
  return self
end


function Client:_key()
  return keys[self]
end


--- Close the connections (idempotent).
function Client:close()
  self._http:close()
end


-- Run one spec with the client's deadline.
local function run(self, spec)
  return call.one(self, spec, clock.monotonic() + self.deadline)
end


function Client:validate_key()
  return run(self, { method = "POST", path = API .. "/auth/validate_key",
    body = cjson.encode({ audience = "API" }), class = "safe" })
end


-- Projects ------------------------------------------------------------------

function PATHS.list_projects()
  return API .. "/projects"
end


function Client:list_projects(opts)
  return run(self, specs.list("list_projects", PATHS.list_projects(), opts))
end


function Client:get_project(id)
  return run(self, get(API .. "/projects/" .. check_id(id, "project id")))
end


function Client:create_project(body)
  return run(self, create("list_projects", {}, API .. "/projects", body))
end


function Client:update_project(id, fields)
  return run(self, patch(API .. "/projects/" .. check_id(id, "project id"), fields))
end


function Client:delete_project(id)
  return run(self, delete(API .. "/projects/" .. check_id(id, "project id")))
end


function PATHS.list_runtimes()
  return API .. "/runtimes"
end


function Client:list_runtimes(opts)
  return run(self, specs.list("list_runtimes", PATHS.list_runtimes(), opts))
end


-- Jobs and runs ----------------------------------------------------------------

function PATHS.list_jobs(pid)
  return API .. "/projects/" .. check_id(pid, "project id") .. "/jobs"
end


local function job_path(pid, id)
  return API .. "/projects/" .. check_id(pid, "project id") .. "/jobs/" .. check_id(id, "job id")
end


function Client:list_jobs(pid, opts)
  return run(self, specs.list("list_jobs", PATHS.list_jobs(pid), opts))
end


function Client:create_job(pid, body)
  return run(self, create("list_jobs", { pid }, PATHS.list_jobs(pid), body))
end


function Client:get_job(pid, id)
  return run(self, get(job_path(pid, id)))
end


function Client:update_job(pid, id, fields)
  return run(self, patch(job_path(pid, id), fields))
end


function Client:delete_job(pid, id)
  return run(self, delete(job_path(pid, id)))
end


function PATHS.list_job_runs(pid, job_id)
  return job_path(pid, job_id) .. "/runs"
end


-- Ids of every run of the job, or nil, err.
local function run_ids(client, pid, job_id, deadline_at)
  local ids = {}
  for page, err in iterate(client, "list_job_runs", { pid, job_id }, { page_size = 100 },
    deadline_at) do
    if not page then
      return nil, err
    end
    for _, r in ipairs(page.job_runs) do
      if type(r) == "table" and type(r.id) == "string" then
        ids[#ids + 1] = r
      end
    end
  end
  return ids
end


--- Start a run of the job. A run has no name, so the client notes the existing runs first; after
--- an ambiguous failure a run that was not there before is the one this call started.
--- opts.no_runs: the caller knows the job has no runs (it has just created it): nothing to note.
function Client:create_job_run(pid, job_id, body, opts)
  local path = PATHS.list_job_runs(pid, job_id)
  local before = {}
  return run(self, {
    method = "POST", path = path, body = encode_body(body or {}, false), class = "create",
    post = decode_env,
    before = not (opts and opts.no_runs) and function(c, deadline_at)
      local runs, err = run_ids(c, pid, job_id, deadline_at)
      if not runs then
        return nil, err
      end
      for _, r in ipairs(runs) do
        before[r.id] = true
      end
      return true
    end,
    recover = function(c, deadline_at)
      local runs, err = run_ids(c, pid, job_id, deadline_at)
      if not runs then
        return nil, err
      end
      for _, r in ipairs(runs) do
        if not before[r.id] then
          return decode_env(r)
        end
      end
      return false
    end,
  })
end


function Client:get_job_run(pid, job_id, run_id)
  return run(self, get(job_path(pid, job_id) .. "/runs/" .. check_id(run_id, "run id")))
end


function Client:list_job_runs(pid, job_id, opts)
  return run(self, specs.list("list_job_runs", PATHS.list_job_runs(pid, job_id), opts))
end


function Client:stop_job_run(pid, job_id, run_id)
  return run(self, action(job_path(pid, job_id) .. "/runs/" .. check_id(run_id, "run id")
    .. ":stop", "safe"))
end


-- Applications -------------------------------------------------------------------

function PATHS.list_applications(pid)
  return API .. "/projects/" .. check_id(pid, "project id") .. "/applications"
end


local function app_path(pid, id)
  return API .. "/projects/" .. check_id(pid, "project id") .. "/applications/"
    .. check_id(id, "application id")
end


function Client:list_applications(pid, opts)
  return run(self, specs.list("list_applications", PATHS.list_applications(pid), opts))
end


function Client:create_application(pid, body)
  return run(self, create("list_applications", { pid },
    PATHS.list_applications(pid), body))
end


function Client:get_application(pid, id)
  return run(self, get(app_path(pid, id)))
end


function Client:update_application(pid, id, fields)
  return run(self, patch(app_path(pid, id), fields))
end


function Client:delete_application(pid, id)
  return run(self, delete(app_path(pid, id)))
end


function Client:stop_application(pid, id)
  return run(self, action(app_path(pid, id) .. ":stop", "safe"))
end


function Client:restart_application(pid, id)
  return run(self, action(app_path(pid, id) .. ":restart", "unsafe"))
end


local function parallel_of(opts)
  local p = math.tointeger(opts and opts.parallel or 16)
  if not p or p < 1 then
    error("bad parallel (positive integer expected)", 3)
  end
  return p
end


--- Create many applications at once (request_many); same retry and no-duplicate rules per item.
--- Returns an array, in input order, of { application } or { nil, err }.
function Client:create_applications(pid, bodies, opts)
  local list = {}
  for i, body in ipairs(bodies) do
    list[i] = create("list_applications", { pid }, PATHS.list_applications(pid), body)
  end
  return call.run(self, list, parallel_of(opts), clock.monotonic() + self.deadline)
end


--- Delete many applications at once. Returns an array of { {} } or { nil, err } in order.
function Client:delete_applications(pid, ids, opts)
  local list = {}
  for i, id in ipairs(ids) do
    list[i] = delete(app_path(pid, id))
  end
  return call.run(self, list, parallel_of(opts), clock.monotonic() + self.deadline)
end


--- Run functions side by side: the requests they make go out together, so two lookups cost
--- one round trip. `client:together(function() return a() end, function() return b() end)`
--- returns, in order, each function's results packed ({ n = count, ... }). See
--- raycai.cml.call.together.
function Client:together(...)
  local fns = table.pack(...)
  for i = 1, fns.n do
    if type(fns[i]) ~= "function" then
      error(("bad argument #%d to 'together' (function expected, got %s)"):format(i, type(fns[i])), 2)
    end
  end
  return call.together(self, fns)
end


-- Project files -------------------------------------------------------------------

local function files_path(pid, path)
  return API .. "/projects/" .. check_id(pid, "project id") .. "/files/" .. file_path(path)
end


--- List a directory (relative to /home/cdsw; "" or "." for the root): { files = { FileInfo } }.
function Client:list_files(pid, path)
  -- the root is ".../files/" (an empty path lists /home/cdsw)
  return run(self, { method = "GET", path = files_path(pid, path or ""), class = "safe",
    post = function(data)
      if type(data.files) ~= "table" then
        data.files = {}
      end
      return data
    end })
end


--- Upload data to dest_path (relative to /home/cdsw). CML never overwrites: an occupied path
--- makes "name(1).ext". After an ambiguous failure the client checks whether the file arrived
--- (same size) before sending it again.
function Client:upload_file(pid, dest_path, data)
  if type(data) ~= "string" then
    error("bad file data (string expected, got " .. type(data) .. ")", 2)
  end
  local dest = normalize(dest_path)
  if dest == "" then
    error("bad destination path (empty)", 2)
  end
  local dir, base = dest:match("^(.*)/([^/]+)$")
  if not dir then
    dir, base = "", dest
  end
  local path = API .. "/projects/" .. check_id(pid, "project id") .. "/files"
  return run(self, {
    method = "POST", path = path, class = "create",
    multipart = { { name = dest, filename = base, data = data,
      content_type = "application/octet-stream" } },
    post = function() return { path = dest, file_size = tostring(#data) } end,
    recover = function(c, deadline_at)
      local listing, err = call.one(c, { method = "GET", class = "safe",
        path = files_path(pid, dir) }, deadline_at)
      if not listing then
        if err.status == 404 then
          return false
        end
        return nil, err
      end
      for _, f in ipairs(type(listing.files) == "table" and listing.files or {}) do
        local name = type(f) == "table" and type(f.path) == "string" and f.path:match("([^/]+)$")
        if name == base and not f.is_dir then
          if tostring(f.file_size) == tostring(#data) then
            return { path = dest, file_size = tostring(#data) }
          end
          return nil, "the file exists with another size (" .. tostring(f.file_size)
            .. " bytes); delete it before uploading again"
        end
      end
      return false
    end,
  })
end


--- Download a project file: its bytes, or nil, err.
function Client:download_file(pid, path)
  return run(self, { method = "POST", path = files_path(pid, path) .. ":download",
    class = "safe", raw = true })
end


function Client:delete_file(pid, path)
  return run(self, delete(files_path(pid, path)))
end


-- Pagination ------------------------------------------------------------------------

--- Iterate the pages of a list: `for page, err in client:pages("list_applications", pid,
--- { page_size = 50 }) do if not page then return nil, err end ... end`. The same filter and
--- page size go with every page; it stops after the page whose next_page_token is empty.
function Client:pages(name, ...)
  local info = LISTS[name]
  if not info then
    error("pages: not a list method: " .. tostring(name), 2)
  end
  local args = table.pack(...)
  return iterate(self, name, args, args[info.nargs + 1], nil)  -- each page: a full deadline
end


--- Iterate every item of every page: `for item, err in client:each("list_jobs", pid) do`.
function Client:each(name, ...)
  local info = LISTS[name]
  if not info then
    error("each: not a list method: " .. tostring(name), 2)
  end
  local pages = self:pages(name, ...)
  local items, i = {}, 0
  return function()
    while true do
      i = i + 1
      if items[i] ~= nil then
        return items[i]
      end
      local page, err = pages()
      if page == nil then
        return nil
      end
      if not page then
        return false, err
      end
      items, i = page[info.key], 0
    end
  end
end


--- All items of a list as one array, or nil, err.
function Client:all(name, ...)
  local out = {}
  for item, err in self:each(name, ...) do
    if not item then
      return nil, err
    end
    out[#out + 1] = item
  end
  return out
end


--- Every item of a list, all pages of M.PAGE_SIZE: `client:list_all("list_jobs", { pid },
--- { search_filter = { name = "raycai-" } })`, or nil, err.
function Client:list_all(name, args, opts)
  local o = { page_size = M.PAGE_SIZE }
  for k, v in pairs(opts or {}) do
    o[k] = v
  end
  local call_args = { table.unpack(args) }
  call_args[#call_args + 1] = o
  return self:all(name, table.unpack(call_args))
end


--- The item of a list named exactly `wanted` (the API's name filter matches substrings), or
--- false when there is none, or nil, err: `client:find_named("list_jobs", { pid }, name)`.
function Client:find_named(name, args, wanted)
  local items, err = find_named(self, name, args, { name = wanted }, nil)
  if not items then
    return nil, err
  end
  return items[1] or false
end


-- Configuration -----------------------------------------------------------------------

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end


--- Client options from the environment: CML_HOST, CML_API_KEY or CML_API_KEY_FILE,
--- CML_CA_BUNDLE. Returns { host, api_key, ca_bundle } or nil, message naming the variable.
---@param getenv fun(name: string): string?
function M.config_from_env(getenv)
  getenv = getenv or os.getenv
  local host = getenv("CML_HOST")
  if not host or trim(host) == "" then
    return nil, "CML_HOST is not set: export CML_HOST=https://<your workspace domain>"
  end
  local key = getenv("CML_API_KEY")
  if key and trim(key) ~= "" then
    key = trim(key)
  else
    local file = getenv("CML_API_KEY_FILE")
    if not file or file == "" then
      return nil, "CML_API_KEY is not set: create a key under User Settings > API Keys in the"
        .. " workspace, then export CML_API_KEY=<key> (or CML_API_KEY_FILE=<file holding it>)"
    end
    local f, err = io.open(file, "rb")
    if not f then
      return nil, "CML_API_KEY_FILE: cannot read " .. err
    end
    key = trim(f:read("a") or "")
    f:close()
    if key == "" then
      return nil, "CML_API_KEY_FILE: " .. file .. " is empty; put the API key in it"
    end
  end
  term.secret(key)
  if key:find("[%c%s]") then
    return nil, BAD_KEY
  end
  local ca = getenv("CML_CA_BUNDLE")
  if ca == "" then
    ca = nil
  end
  if ca then
    local f, err = io.open(ca, "rb")
    if not f then
      return nil, "CML_CA_BUNDLE: cannot read " .. err
    end
    f:close()
  end
  return { host = trim(host), api_key = key, ca_bundle = ca }
end


return M
