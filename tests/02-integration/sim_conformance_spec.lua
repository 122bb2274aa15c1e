-- cml-sim against the spec a live workspace serves (../shared/cml-api/swagger.json): every route
-- the simulator serves exists there with that method, and every field of every response object
-- is a property of its definition, with the declared JSON type (int64 as strings, enums spelled
-- as declared).
local sim = require "support.sim"
local cjson = require "cjson"

local root = os.getenv("RAYCAI_SOURCE_DIR") or "."
local SPEC_PATH = root .. "/../shared/cml-api/swagger.json"


local function load_spec()
  local f = io.open(SPEC_PATH, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return cjson.decode(text)
end

local spec = load_spec()


--- Lua pattern of a path template: {path} spans folders, other parameters one segment.
local function template_pattern(t)
  local p = t:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
  p = p:gsub("{path}", "\1"):gsub("{[^}]+}", "[^/:]+"):gsub("\1", ".*")
  return "^" .. p .. "$"
end


local function find_op(method, path)
  path = path:match("^[^?]*")
  for template, ops in pairs(spec.paths) do
    if path:match(template_pattern(template)) and ops[method:lower()] then
      return template, ops[method:lower()]
    end
  end
end


local function ref_name(ref)
  return ref and ref:match("([^/]+)$")
end


--- Check a decoded value against a schema; errors name the JSON path.
local function check(value, schema, where)
  local ref = ref_name(schema["$ref"])
  if ref then
    local def = assert(spec.definitions[ref], where .. ": no definition " .. ref)
    if def.enum then
      assert.equal("string", type(value), where)
      local ok = false
      for _, e in ipairs(def.enum) do ok = ok or e == value end
      assert(ok, where .. ": '" .. tostring(value) .. "' is not in " .. ref)
      return
    end
    return check(value, def, where .. "<" .. ref .. ">")
  end
  local t = schema.type or "object"
  if t == "object" then
    assert.equal("table", type(value), where)
    for k, v in pairs(value) do
      local prop = (schema.properties or {})[k]
      assert(prop, where .. ": field '" .. k .. "' is not in the spec")
      check(v, prop, where .. "." .. k)
    end
  elseif t == "array" then
    assert.equal("table", type(value), where)
    for i, v in ipairs(value) do check(v, schema.items or {}, where .. "[" .. i .. "]") end
  elseif t == "string" then
    assert.equal("string", type(value), where .. " (" .. (schema.format or "string") .. ")")
  elseif t == "integer" or t == "number" then
    assert.equal("number", type(value), where)
    if t == "integer" then assert.equal(math.floor(value), value, where) end
  elseif t == "boolean" then
    assert.equal("boolean", type(value), where)
  end
end


local function response_schema(op)
  local ok = op.responses and op.responses["200"]
  return ok and ok.schema
end


describe("cml-sim conformance with swagger.json", function()
  if not spec then
    if os.getenv("CI") == "true" then
      it("needs the shared CML API spec", function()
        error(SPEC_PATH .. " is missing: CI must check out the shared CML API spec (cml-api/swagger.json) "
          .. "beside the repository", 0)
      end)
      return
    end
    pending("skipped: " .. SPEC_PATH .. " is absent (the shared CML API spec lives beside the repository)")
    return
  end

  local s, pid, app, job, run

  setup(function()
    s = sim.start { delays = { app_start = 10, job_scheduling = 10, job_starting = 10, job_running = 10 } }
    pid = s:new_project("conf", { ["app.py"] = "x", ["dir/f.txt"] = "y" }, { environment = { A = "b" } }).id
    local base = "projects/" .. pid
    app = select(2, s:api("POST", base .. "/applications",
      { name = "app", subdomain = "conf-app", script = "app.py", runtime_identifier = sim.RUNTIME }))
    job = select(2, s:api("POST", base .. "/jobs",
      { name = "job", script = "app.py", runtime_identifier = sim.RUNTIME, timeout = 30 }))
    run = select(2, s:api("POST", base .. "/jobs/" .. job.id .. "/runs", {}))
    s:wait_for(function()
      local _, r = s:api("GET", base .. "/jobs/" .. job.id .. "/runs/" .. run.id)
      return r.status == "ENGINE_SUCCEEDED"
    end, 5, "run done")
  end)

  teardown(function()
    s:stop()
  end)

  -- Every route the simulator serves, as a concrete request. A route added to the simulator
  -- belongs here too.
  local function routes()
    local p = "/api/v2/projects/" .. pid
    local a, j = p .. "/applications/" .. app.id, p .. "/jobs/" .. job.id
    return {
      { "POST", "/api/v2/auth/validate_key", { audience = "API" } },
      { "GET", "/api/v2/runtimes" },
      { "GET", "/api/v2/jobs" },
      { "GET", "/api/v2/projects" },
      { "POST", "/api/v2/projects", { name = "conf-created" } },
      { "GET", p },
      { "PATCH", p, { description = "patched" } },
      { "GET", p .. "/applications" },
      { "GET", a },
      { "PATCH", a, { description = "patched" } },
      { "POST", a .. ":stop" },
      { "POST", a .. ":restart" },
      { "GET", p .. "/jobs" },
      { "GET", j },
      { "PATCH", j, { description = "patched", timeout = 60 } },
      { "GET", j .. "/runs" },
      { "GET", j .. "/runs/" .. run.id },
      { "POST", j .. "/runs/" .. run.id .. ":stop" },
      { "GET", p .. "/files/" },
      { "GET", p .. "/files/dir" },
      { "POST", p .. "/files/dir/f.txt:download" },
      { "PATCH", p .. "/files/dir/f.txt", { path = "dir/g.txt" } },
      { "DELETE", p .. "/files/dir/g.txt" },
      { "POST", p .. "/applications", { name = "app2", subdomain = "conf-app2", script = "app.py",
                                         runtime_identifier = sim.RUNTIME } },
      { "POST", p .. "/jobs", { name = "job2", script = "app.py", runtime_identifier = sim.RUNTIME } },
      { "POST", j .. "/runs", {} },
      { "DELETE", a },
    }
  end

  it("serves only routes the spec declares, with the declared response fields", function()
    for _, r in ipairs(routes()) do
      local method, path, body = r[1], r[2], r[3]
      local where = method .. " " .. path
      local template, op = find_op(method, path)
      assert(template, where .. " is not in swagger.json")
      local status, decoded, raw = s:api(method, path, body)
      assert.equal(200, status, where .. ": " .. tostring(raw))
      local schema = response_schema(op)
      if schema and op.operationId ~= "DownloadProjectFile" then
        check(decoded, schema, op.operationId)
      end
    end
  end)

  it("serves uploads on the declared multipart route", function()
    local template, op = find_op("POST", "/api/v2/projects/" .. pid .. "/files")
    assert.equal("/api/v2/projects/{project_id}/files", template)
    assert.equal("multipart/form-data", op.consumes[1])
    assert.equal(200, (s:upload(pid, "up/x.txt", "x")))
  end)

  it("deletes on the declared routes", function()
    local p = s:new_project("conf-del", { ["app.py"] = "x" })
    local _, j = s:api("POST", "projects/" .. p.id .. "/jobs",
      { name = "j", script = "app.py", runtime_identifier = sim.RUNTIME })
    for _, path in ipairs { "/api/v2/projects/" .. p.id .. "/jobs/" .. j.id, "/api/v2/projects/" .. p.id } do
      local template, op = find_op("DELETE", path)
      assert(template, "DELETE " .. path)
      local status, body = s:api("DELETE", path)
      assert.equal(200, status)
      check(body, response_schema(op), op.operationId)
    end
  end)

  it("answers errors in the runtimeError shape", function()
    local _, body = s:api("GET", "projects/none-none-none-none")
    check(body, { ["$ref"] = "#/definitions/runtimeError" }, "runtimeError")
  end)

  it("lists every status the objects went through with enum spellings from the spec", function()
    local st = s:state()
    for _, a in ipairs(st.applications) do check(a.status, { ["$ref"] = "#/definitions/ApplicationStatus" }, "app") end
    for _, r in ipairs(st.runs) do check(r.status, { ["$ref"] = "#/definitions/EngineStatus" }, "run") end
  end)
end)
