-- Every request raycai.cml sends, read back from cml-sim's request log, conforms to the CML API
-- spec (../shared/cml-api/swagger.json): the path and method exist, query keys are declared
-- parameters, and every JSON body field is a property of the operation's body definition with
-- the right JSON type.
local cjson = require("cjson")
local cml = require("raycai.cml")
local sim = require("support.sim")

local KEY = "conformance-key-5555"
local SWAGGER = "../shared/cml-api/swagger.json"


local function load_spec()
  local f = assert(io.open(SWAGGER, "rb"), "cannot read " .. SWAGGER)
  local spec = cjson.decode(f:read("a"))
  f:close()
  return spec
end


-- Path template -> Lua pattern: {x} matches one segment, {path} (file paths) anything.
local function template_pattern(t)
  local p = t:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
  p = p:gsub("{path}", ".*"):gsub("{[^}]+}", "[^/]+")
  return "^" .. p .. "$"
end


local function ref_name(schema)
  return schema and schema["$ref"] and schema["$ref"]:match("^#/definitions/(.+)$")
end


-- Does JSON value v (decoded) have the type that property schema s declares?
local function type_ok(v, s)
  if ref_name(s) then
    return type(v) == "table"
  end
  local t = s.type
  if t == "string" then
    return type(v) == "string"
  elseif t == "integer" then  -- JSON has one number type; cjson decodes it as a float
    return type(v) == "number" and v == math.floor(v)
  elseif t == "number" then
    return type(v) == "number"
  elseif t == "boolean" then
    return type(v) == "boolean"
  elseif t == "array" then
    return type(v) == "table" and (next(v) == nil or v[1] ~= nil)
  elseif t == "object" then
    return type(v) == "table" and (next(v) == nil or v[1] == nil)
  end
  return true
end


describe("raycai.cml conformance with swagger.json", function()
  local present = io.open(SWAGGER, "rb")
  if not present then
    if os.getenv("CI") == "true" then
      it("needs the shared CML API spec", function()
        error(SWAGGER .. " is missing: CI must check out the shared CML API spec (cml-api/swagger.json) "
          .. "beside the repository", 0)
      end)
      return
    end
    pending("skipped: " .. SWAGGER .. " is absent (the shared CML API spec lives beside the repository)")
    return
  end
  present:close()
  local spec, s, c, ops

  setup(function()
    spec = load_spec()
    ops = {}
    for template, methods in pairs(spec.paths) do
      for method, op in pairs(methods) do
        if type(op) == "table" and op.operationId then
          ops[#ops + 1] = { method = method:upper(), template = template, op = op,
            pattern = template_pattern(template) }
        end
      end
    end
    -- templates with more literal text first, so ":download" beats "{path}"
    table.sort(ops, function(a, b)
      local la = #a.template:gsub("{[^}]+}", "")
      local lb = #b.template:gsub("{[^}]+}", "")
      if la ~= lb then return la > lb end
      return a.template < b.template
    end)
    s = sim.start { exec = false, api_key = KEY }
    c = assert(cml.client { host = s.url, api_key = KEY, retries = 0 })
  end)

  teardown(function()
    c:close()
    s:stop()
  end)

  local function find_op(method, path)
    for _, o in ipairs(ops) do
      if o.method == method and path:match(o.pattern) then
        return o
      end
    end
  end

  -- Call every client method once, as a deploy would.
  local function exercise()
    assert(c:validate_key())
    local rt = assert(c:list_runtimes { page_size = 5, search_filter = { kernel = "Python" },
      sort = "-full_version" }).runtimes[1].image_identifier
    local p = assert(c:create_project { name = "conf", description = "d",
      environment = { A = "1" }, shared_memory_limit = 64 })
    assert(c:list_projects { search_filter = { name = "conf" }, page_size = 10,
      include_public_projects = true })
    assert(c:get_project(p.id))
    assert(c:update_project(p.id, { description = "e", environment = { A = "2" } }))
    assert(c:upload_file(p.id, "dir/app.py", "print(1)\n"))
    assert(c:list_files(p.id, ""))
    assert(c:list_files(p.id, "dir"))
    assert(c:download_file(p.id, "dir/app.py"))
    local job = assert(c:create_job(p.id, { name = "job", script = "dir/app.py",
      runtime_identifier = rt, cpu = 1, memory = 1.5, nvidia_gpu = 0, timeout = 600,
      environment = { J = "1" }, runtime_addon_identifiers = {}, kill_on_timeout = true }))
    assert(c:list_jobs(p.id, { search_filter = { name = "job" } }))
    assert(c:get_job(p.id, job.id))
    assert(c:update_job(p.id, job.id, { cpu = 2, environment = { J = "2" } }))
    local run = assert(c:create_job_run(p.id, job.id, { environment = { R = "1" },
      arguments = "--x" }))
    c:create_job_run(p.id, job.id)  -- a body-less run; the sim may refuse a second active run
    assert(c:get_job_run(p.id, job.id, run.id))
    assert(c:list_job_runs(p.id, job.id, { sort = "-created_at", page_size = 3 }))
    c:stop_job_run(p.id, job.id, run.id)
    local app = assert(c:create_application(p.id, { name = "app", subdomain = "conf-app",
      description = "x", script = "dir/app.py", runtime_identifier = rt, cpu = 1, memory = 2,
      nvidia_gpu = 0, bypass_authentication = false, environment = { E = "1" } }))
    assert(c:list_applications(p.id, { search_filter = { status = "running" } }))
    assert(c:get_application(p.id, app.id))
    assert(c:update_application(p.id, app.id, { description = "y", environment = { E = "2" },
      cpu = 2 }))
    assert(c:stop_application(p.id, app.id))
    assert(c:restart_application(p.id, app.id))
    local many = c:create_applications(p.id, { { name = "w1", subdomain = "conf-w1",
      script = "dir/app.py", runtime_identifier = rt } })
    assert(many[1][1], tostring(many[1][2]))
    assert(c:delete_applications(p.id, { many[1][1].id })[1][1])
    assert(c:delete_application(p.id, app.id))
    assert(c:delete_file(p.id, "dir/app.py"))
    assert(c:delete_job(p.id, job.id))
    assert(c:delete_project(p.id))
  end

  it("sends only requests the spec declares, with declared fields of the right types", function()
    s:clear_requests()
    exercise()
    local reqs = s:requests()
    assert.is_true(#reqs >= 30, "only " .. #reqs .. " requests logged")
    local seen = {}
    for _, r in ipairs(reqs) do
      local where = r.method .. " " .. r.path
      local o = find_op(r.method, r.path)
      assert(o, where .. " is not in swagger.json")
      seen[o.op.operationId] = true
      -- query keys
      local declared = {}
      for _, prm in ipairs(o.op.parameters or {}) do
        declared[prm.name] = prm
      end
      for k in (r.query or ""):gmatch("([^&=]+)=[^&]*") do
        assert(declared[k] and declared[k]["in"] == "query",
          where .. ": query parameter '" .. k .. "' is not declared")
      end
      -- body
      local body_param
      for _, prm in ipairs(o.op.parameters or {}) do
        if prm["in"] == "body" then
          body_param = prm
        end
      end
      local body = r.body or ""
      if o.op.operationId == "UploadFile" then
        assert.matches("Content%-Disposition: form%-data; name=\"dir/app.py\"", body)
      elseif body ~= "" then
        assert(body_param, where .. " sends a body the spec does not declare")
        local def = spec.definitions[ref_name(body_param.schema)]
        local data = cjson.decode(body)
        for field, v in pairs(data) do
          local prop = def.properties[field]
          assert(prop, where .. ": field '" .. field .. "' is not a property of "
            .. ref_name(body_param.schema))
          assert(type_ok(v, prop), where .. ": field '" .. field .. "' has the wrong type ("
            .. type(v) .. ", spec: " .. tostring(prop.type or prop["$ref"]) .. ")")
        end
      end
    end
    for _, id in ipairs { "ValidateAPIKey", "ListRuntimes", "CreateProject", "ListProjects",
      "GetProject", "UpdateProject", "DeleteProject", "UploadFile", "ListProjectFiles",
      "DownloadProjectFile", "DeleteProjectFile", "CreateJob", "ListJobs", "GetJob", "UpdateJob",
      "DeleteJob", "CreateJobRun", "GetJobRun", "ListJobRuns", "StopJobRun", "CreateApplication",
      "ListApplications", "GetApplication", "UpdateApplication", "StopApplication",
      "RestartApplication", "DeleteApplication" } do
      assert(seen[id], id .. " was not exercised")
    end
  end)

  it("sends environment as a map on create and as a JSON string on update", function()
    s:clear_requests()
    local p = assert(c:create_project { name = "envform", environment = { K = "v" } })
    assert(c:update_project(p.id, { environment = { K = "w" } }))
    local reqs = s:requests()
    local create = cjson.decode(reqs[1].body)
    local update = cjson.decode(reqs[2].body)
    assert.same({ K = "v" }, create.environment)
    assert.equal("string", type(update.environment))
    assert.same({ K = "w" }, cjson.decode(update.environment))
  end)
end)
