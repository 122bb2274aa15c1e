-- raycai.testing: test a recipe offline, with busted, against a local CML simulator.
--
--   local t = require "raycai.testing"
--   describe("my recipe", function()
--     local sim
--     before_each(function() sim = t.sim { delays = t.QUICK } end)
--     after_each(function() sim:stop() end)
--     it("deploys 4 workers", function()
--       local r = sim:run("recipes/my_cluster.lua", "up", { set = { workers = 4 } })
--       assert.equal(0, r.code, r.stderr)
--       assert.equal(4, #sim:cluster("mine").workers)
--     end)
--   end)
--
-- Run the specs with `raycai-run test [DIR]` (docs/recipes.md, "Test your recipe"). Everything
-- goes over real HTTP to a real cml-sim on an ephemeral loopback port, started per call of
-- t.sim and ended by sim:stop(); recipes run in a real raycai-run, as a user would run them.
local cjson = require "cjson.safe"
local fs = require "raycai.fs"
local http = require "raycai.http"
local proc = require "raycai.proc"

local M = {}

--- Delays (ms) that make a timer-mode deploy take well under a second.
M.QUICK = { project_create = 10, app_start = 30, app_stop = 10, job_scheduling = 10, job_starting = 10,
            job_running = 20 }

-- The simulator's key for these tests: the runs must never print it (sim:run checks).
M.API_KEY = "raycai-testing-key-" .. tostring(os.time())


--- The folder of the raycai-run that runs these specs (raycai.host), else RAYCAI_BUILD_DIR.
local function exe_dir()
  local ok, host = pcall(require, "raycai.host")
  if ok and host.exe_dir and host.exe_dir ~= "" then return host.exe_dir end
  return os.getenv("RAYCAI_BUILD_DIR") or "build"
end


--- Paths of raycai-run and cml-sim (RAYCAI_RUN and RAYCAI_CML_SIM override them).
function M.raycai_run_path()
  local v = os.getenv("RAYCAI_RUN")
  return v and v ~= "" and v or fs.join(exe_dir(), "raycai-run")
end

function M.cml_sim_path()
  local v = os.getenv("RAYCAI_CML_SIM")
  return v and v ~= "" and v or fs.join(exe_dir(), "cml-sim")
end


local function slurp(path)
  local text = fs.read(path) or ""
  os.remove(path)
  return text
end


local test_dir


--- The folder `raycai-run test` runs (absolute), for specs to name their recipes:
--- t.path("my_cluster.lua"). Outside `raycai-run test`: the current folder.
function M.path(...)
  local base = test_dir or fs.cwd()
  if select("#", ...) == 0 then return base end
  return fs.join(base, ...)
end


--- Set by `raycai-run test`.
function M.set_test_dir(dir) test_dir = dir end


local Sim = {}
Sim.__index = Sim


--- Start a simulator. opts: exec (run the scripts), python, delays {name = ms}, quota
--- {cpu, memory, gpu}, args (more cml-sim flags, e.g. { "--capacity", "gpu=2" }).
---@param opts? {exec?: boolean, python?: string, delays?: table<string, integer>, quota?: table, args?: string[]}
function M.sim(opts)
  opts = opts or {}
  local exe = M.cml_sim_path()
  if not fs.exists(exe) then error(("raycai.testing: cml-sim not found at %s (set RAYCAI_CML_SIM)"):format(exe), 2) end
  local argv = { exe, "--listen", "127.0.0.1:0", "--api-key", M.API_KEY }
  if opts.exec then argv[#argv + 1] = "--exec" end
  if opts.python then argv[#argv + 1] = "--python"; argv[#argv + 1] = opts.python end
  local names = {}
  for name in pairs(opts.delays or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    argv[#argv + 1] = "--delay"
    argv[#argv + 1] = ("%s=%d"):format(name, opts.delays[name])
  end
  if opts.quota then
    local parts = {}
    for _, k in ipairs { "cpu", "memory", "gpu" } do
      if opts.quota[k] then parts[#parts + 1] = ("%s=%s"):format(k, opts.quota[k]) end
    end
    argv[#argv + 1] = "--quota"
    argv[#argv + 1] = table.concat(parts, ",")
  end
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  local log = os.tmpname()
  argv.stdout, argv.stderr, argv.new_group, argv.kill_on_close = "pipe", log, true, true
  argv.env = { CML_SIM_API_KEY = false }
  local p, err = proc.spawn(argv)
  if not p then error("raycai.testing: cannot start cml-sim: " .. tostring(err), 2) end
  local url = p:read_line(15)
  if not url or not url:match("^https?://") then
    p:close()
    error("raycai.testing: cml-sim did not start: " .. slurp(log), 2)
  end
  local self = setmetatable({ url = url, api_key = M.API_KEY, proc = p, log = log,
                              http = http.new { timeout = 30 } }, Sim)
  return self
end


--- Stop the simulator (idempotent).
function Sim:stop()
  if not self.proc then return end
  self.proc:close()
  self.proc = nil
  self.http:close()
  os.remove(self.log)
end


local function request(self, method, path, body, auth)
  local headers = { ["Content-Type"] = "application/json" }
  if auth then headers.Authorization = "Bearer " .. self.api_key end
  local res, err = self.http:request { method = method, url = self.url .. path, headers = headers,
                                       body = body and cjson.encode(body) or nil }
  if not res then error(("raycai.testing: %s %s: %s"):format(method, path, err.message), 3) end
  return res.status, cjson.decode(res.body)
end


--- A CML API v2 request (path relative to /api/v2/): status, decoded body.
function Sim:api(method, path, body) return request(self, method, "/api/v2/" .. path, body, true) end


--- A simulator control request (/_sim/...): status, decoded body.
function Sim:control(method, path, body) return request(self, method, path, body, false) end


--- Every /api/v2 request the simulator has answered, oldest first; and clear the log.
function Sim:requests() return select(2, self:control("GET", "/_sim/requests")) or {} end
function Sim:clear_requests() self:control("DELETE", "/_sim/requests") end


--- The requests that change something (not GET), e.g. to check a re-run changes nothing.
function Sim:mutations()
  local out = {}
  for _, r in ipairs(self:requests()) do
    if r.method ~= "GET" and not r.path:match(":download$") then out[#out + 1] = r end
  end
  return out
end


--- Add a fault rule (docs/cml-sim.md), change delays or the quota at run time.
function Sim:fault(rule) return self:control("POST", "/_sim/faults", rule) end
function Sim:delays(t) return self:control("POST", "/_sim/delays", t) end
function Sim:quota(t) return self:control("POST", "/_sim/quota", t) end


--- Run raycai-run against this simulator: sim:run(recipe, action, opts) with opts.set
--- ({ key = value }, as --set key=value), opts.args (more options), opts.env, opts.json (parse
--- --json events into r.events). Returns { code, stdout, stderr, events }. Raises if the output
--- shows the simulator's key.
---@param opts? {set?: table<string, any>, args?: string[], env?: table<string, string|false>, json?: boolean, timeout?: number}
function Sim:run(recipe, action, opts)
  opts = opts or {}
  local argv = { M.raycai_run_path() }
  local keys = {}
  for k in pairs(opts.set or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = opts.set[k]
    if type(v) == "table" then v = table.concat(v, ",") end
    argv[#argv + 1] = "--set"
    argv[#argv + 1] = ("%s=%s"):format(k, tostring(v))
  end
  if opts.json then argv[#argv + 1] = "--json" end
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = recipe
  argv[#argv + 1] = action or "up"
  -- this simulator is the workspace, whatever the caller's environment says
  argv.env = { CML_HOST = self.url, CML_API_KEY = self.api_key, CML_API_KEY_FILE = false,
               CDSW_API_URL = false, CDSW_DOMAIN = false, CDSW_APIV2_KEY = false, NO_COLOR = "1" }
  for k, v in pairs(opts.env or {}) do argv.env[k] = v end
  local out, err = os.tmpname(), os.tmpname()
  argv.stdout, argv.stderr, argv.kill_on_close = out, err, true
  local p = assert(proc.spawn(argv))
  local code = p:wait(opts.timeout or 300)
  p:close()
  local r = { code = code, stdout = slurp(out), stderr = slurp(err) }
  if (r.stdout .. r.stderr):find(self.api_key, 1, true) then
    error("raycai-run printed the API key:\n" .. r.stdout .. r.stderr, 2)
  end
  if opts.json then
    r.events = {}
    for line in r.stdout:gmatch("[^\n]+") do r.events[#r.events + 1] = cjson.decode(line) end
  end
  return r
end


--- Every item of a paginated list (path relative to /api/v2/, key the list's field).
local function list_all(self, path, key)
  local items, token = {}, ""
  repeat
    local sep = path:find("?", 1, true) and "&" or "?"
    local status, page = self:api("GET", ("%s%spage_size=100&page_token=%s"):format(path, sep, token))
    if status ~= 200 then error(("raycai.testing: GET %s answered %d"):format(path, status), 3) end
    for _, it in ipairs(page[key] or {}) do items[#items + 1] = it end
    token = page.next_page_token or ""
  until token == ""
  return items
end


--- The project with this name or id, or nil.
function Sim:project(name_or_id)
  for _, p in ipairs(list_all(self, "projects", "projects")) do
    if p.name == name_or_id or p.id == name_or_id then return p end
  end
  return nil
end


local function project_id(self, project)
  local p = type(project) == "table" and project or self:project(project)
  if not p then error(("raycai.testing: no project %s"):format(tostring(project)), 3) end
  return p.id
end


--- Applications and jobs of a project (name or id), with environment decoded to a table.
function Sim:applications(project)
  local apps = list_all(self, "projects/" .. project_id(self, project) .. "/applications", "applications")
  for _, a in ipairs(apps) do
    if type(a.environment) == "string" then a.environment = cjson.decode(a.environment) or {} end
  end
  return apps
end

function Sim:jobs(project)
  local jobs = list_all(self, "projects/" .. project_id(self, project) .. "/jobs", "jobs")
  for _, j in ipairs(jobs) do
    if type(j.environment) == "string" then j.environment = cjson.decode(j.environment) or {} end
  end
  return jobs
end


--- The entries (FileInfo) of a project folder, and a project file's content (nil if absent).
function Sim:files(project, path)
  local status, body = self:api("GET", "projects/" .. project_id(self, project) .. "/files/"
    .. (path or ""):gsub("/", "%%2F"))
  if status == 404 then return nil end
  return body and body.files or {}
end

function Sim:read_file(project, path)
  local res, err = self.http:request { method = "POST", url = ("%s/api/v2/projects/%s/files/%s:download")
    :format(self.url, project_id(self, project), (path:gsub("/", "%%2F"))),
    headers = { Authorization = "Bearer " .. self.api_key } }
  if not res then error("raycai.testing: download " .. path .. ": " .. err.message, 2) end
  return res.status == 200 and res.body or nil
end


--- What a cluster is on the simulator, found by name as raycai finds it:
--- { project, head, workers = {worker apps by index}, groups = { <group> = {apps by index} },
---   setup_job, setup_jobs = {every setup job}, apps = {by name} }; each application as the API returns it (cpu, memory,
--- nvidia_gpu, runtime_identifier, status, environment). opts.project: the project (name or
--- id; default ray-<cluster>). nil when there is no such project.
---@param cluster string
---@param opts? {project?: string}
function Sim:cluster(cluster, opts)
  opts = opts or {}
  local project = self:project(opts.project or ("ray-" .. cluster))
  if not project then return nil end
  local prefix = "raycai-" .. cluster .. "-"
  local c = { project = project, workers = {}, groups = {}, apps = {} }
  for _, a in ipairs(self:applications(project)) do
    if a.name:sub(1, #prefix) == prefix then
      c.apps[a.name] = a
      local rest = a.name:sub(#prefix + 1)
      local group, index = rest:match("^([a-z0-9-]-)%-(%d+)$")
      if rest == "head" then c.head = a
      elseif group then
        c.groups[group] = c.groups[group] or {}
        c.groups[group][tonumber(index)] = a
      end
    end
  end
  c.workers = c.groups.worker or {}
  c.setup_jobs = {}
  for _, j in ipairs(self:jobs(project)) do
    if j.name:sub(1, #prefix + 5) == prefix .. "setup" then c.setup_jobs[#c.setup_jobs + 1] = j end
    if j.name == prefix .. "setup" then c.setup_job = j end
  end
  return c
end


return M
