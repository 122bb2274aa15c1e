-- cml-sim: projects, runtimes, and the List* conventions (page_size, page_token, search_filter, sort).
local sim = require "support.sim"
local cjson = require "cjson"

local ID = "^[a-z0-9][a-z0-9][a-z0-9][a-z0-9]%-[a-z0-9][a-z0-9][a-z0-9][a-z0-9]%-"
  .. "[a-z0-9][a-z0-9][a-z0-9][a-z0-9]%-[a-z0-9][a-z0-9][a-z0-9][a-z0-9]$"
local ISO = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+Z$"


describe("cml-sim projects", function()
  local s

  setup(function()
    s = sim.start { delays = { project_create = 100 } }
  end)

  teardown(function()
    s:stop()
  end)

  it("creates a project that is 'creating' and then 'success'", function()
    local status, p = s:api("POST", "projects", { name = "alpha", description = "d" })
    assert.equal(200, status)
    assert.matches(ID, p.id)
    assert.equal("creating", p.creation_status)
    assert.equal("ml_runtime", p.default_engine_type)
    assert.equal("private", p.visibility)
    assert.equal("alpha", p.slug)
    assert.equal("simuser", p.owner.username)
    assert.equal("simuser", p.creator.username)
    assert.matches(ISO, p.created_at)
    assert.equal(64, p.shared_memory_limit)
    assert.is_true(p.permissions.admin)
    s:wait_for(function()
      local _, g = s:api("GET", "projects/" .. p.id)
      return g.creation_status == "success", g.creation_status
    end, 5, "creation_status success")
  end)

  it("takes environment as a map and answers it as a JSON string", function()
    local _, p = s:api("POST", "projects", { name = "envs", environment = { A = "1", B = "two" } })
    assert.equal("string", type(p.environment))
    assert.same({ A = "1", B = "two" }, cjson.decode(p.environment))
    local _, g = s:api("GET", "projects/" .. p.id)
    assert.same({ A = "1", B = "two" }, cjson.decode(g.environment))
  end)

  it("accepts environment as a JSON string on update (cmlapi form)", function()
    local _, p = s:api("POST", "projects", { name = "envpatch" })
    assert.equal("{}", p.environment)
    local status, u = s:api("PATCH", "projects/" .. p.id, { environment = cjson.encode { IP = "10.0.0.1" } })
    assert.equal(200, status)
    assert.same({ IP = "10.0.0.1" }, cjson.decode(u.environment))
    status, u = s:api("PATCH", "projects/" .. p.id, { environment = { IP = "10.0.0.2" } })
    assert.equal(200, status)
    assert.same({ IP = "10.0.0.2" }, cjson.decode(u.environment))
  end)

  it("rejects environment values that are not strings", function()
    local status, body = s:api("POST", "projects", { name = "badenv", environment = { N = 3 } })
    assert.equal(400, status)
    assert.matches("environment", body.message)
    status = s:api("PATCH", "projects/none-none-none-none", { environment = "not json" })
    assert.equal(404, status)
    -- the string form of an update is checked like the map form
    local _, p = s:api("POST", "projects", { name = "badenv-patch", environment = { K = "v" } })
    for _, env in ipairs { "not json", cjson.encode { N = 3 }, "[]" } do
      status, body = s:api("PATCH", "projects/" .. p.id, { environment = env })
      assert.equal(400, status, env)
      assert.matches("environment", body.message)
    end
    local _, g = s:api("GET", "projects/" .. p.id)
    assert.same({ K = "v" }, cjson.decode(g.environment))
  end)

  it("updates name, description and engine type", function()
    local _, p = s:api("POST", "projects", { name = "upd" })
    local status, u = s:api("PATCH", "projects/" .. p.id,
      { name = "upd2", description = "new", default_engine_type = "legacy_engine", shared_memory_limit = 128 })
    assert.equal(200, status)
    assert.equal("upd2", u.name)
    assert.equal("new", u.description)
    assert.equal("legacy_engine", u.default_engine_type)
    assert.equal(128, u.shared_memory_limit)
  end)

  it("requires a name and refuses a duplicate with 409 ALREADY_EXISTS", function()
    local status, body = s:api("POST", "projects", { description = "x" })
    assert.equal(400, status)
    assert.equal(3, body.code)
    s:api("POST", "projects", { name = "twin" })
    status, body = s:api("POST", "projects", { name = "twin" })
    assert.equal(409, status)
    assert.equal(6, body.code)
  end)

  it("rejects an unknown engine type or visibility", function()
    assert.equal(400, (s:api("POST", "projects", { name = "e1", default_project_engine_type = "gpu" })))
    assert.equal(400, (s:api("POST", "projects", { name = "e2", visibility = "secret" })))
  end)

  it("deletes a project with its applications, jobs and files", function()
    local p = s:new_project("doomed", { ["app.py"] = "print(1)\n" })
    local st = s:api("POST", "projects/" .. p.id .. "/applications",
      { name = "a", subdomain = "doomed-a", script = "app.py", runtime_identifier = sim.RUNTIME })
    assert.equal(200, st)
    local jst, j = s:api("POST", "projects/" .. p.id .. "/jobs",
      { name = "j", script = "app.py", runtime_identifier = sim.RUNTIME })
    assert.equal(200, jst, cjson.encode(j))
    assert.equal(200, (s:api("POST", "projects/" .. p.id .. "/jobs/" .. j.id .. "/runs", {})))
    local status, body = s:api("DELETE", "projects/" .. p.id)
    assert.equal(200, status)
    assert.same({}, body)
    assert.equal(404, (s:api("GET", "projects/" .. p.id)))
    assert.equal(404, (s:api("GET", "projects/" .. p.id .. "/files/")))
    -- nothing of the project is left: ListAllJobs does not show its job, the store has no
    -- application, job or run of it
    local _, all = s:api("GET", "jobs?page_size=100")
    for _, other in ipairs(all.jobs) do assert.are_not.equal(j.id, other.id) end
    local state = s:state()
    for _, kind in ipairs { "applications", "jobs", "runs" } do
      for _, o in ipairs(state[kind]) do
        assert.are_not.equal(p.id, o._project_id or o.project_id, kind)
      end
    end
    -- the subdomain is free again
    local q = s:new_project("reborn", { ["app.py"] = "print(1)\n" })
    assert.equal(200, (s:api("POST", "projects/" .. q.id .. "/applications",
      { name = "a", subdomain = "doomed-a", script = "app.py", runtime_identifier = sim.RUNTIME })))
  end)

  it("answers 404 NOT_FOUND for an unknown project", function()
    local status, body = s:api("GET", "projects/abcd-abcd-abcd-abcd")
    assert.equal(404, status)
    assert.equal(5, body.code)
    assert.equal(404, (s:api("DELETE", "projects/abcd-abcd-abcd-abcd")))
  end)
end)


describe("cml-sim lists", function()
  local s

  setup(function()
    s = sim.start { delays = { project_create = 0 } }
    for i = 1, 12 do
      s:api("POST", "projects", { name = ("p%02d"):format(i), description = i % 2 == 0 and "Even" or "odd" })
    end
  end)

  teardown(function()
    s:stop()
  end)

  local function list(q)
    local status, body = s:api("GET", "projects" .. sim.query(q or {}))
    assert.equal(200, status, cjson.encode(body))
    return body
  end

  local function names(body)
    local out = {}
    for _, p in ipairs(body.projects) do out[#out + 1] = p.name end
    return out
  end

  it("pages by 10 by default with an opaque token, empty on the last page", function()
    local first = list()
    assert.equal(10, #first.projects)
    assert.is_true(#first.next_page_token > 0)
    local second = list { page_token = first.next_page_token }
    assert.equal(2, #second.projects)
    assert.equal("", second.next_page_token)
  end)

  it("honours page_size and walks every item once", function()
    local seen, token, pages = {}, nil, 0
    repeat
      local body = list { page_size = 5, page_token = token }
      pages = pages + 1
      for _, n in ipairs(names(body)) do
        assert.is_nil(seen[n])
        seen[n] = true
      end
      token = body.next_page_token
    until token == ""
    assert.equal(3, pages)
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.equal(12, n)
  end)

  it("accepts the camelCase spellings pageSize and searchFilter", function()
    assert.equal(3, #list({ pageSize = 3 }).projects)
    assert.same({ "p11" }, names(list { searchFilter = { name = "p11" } }))
  end)

  it("rejects a token it did not make", function()
    local status, body = s:api("GET", "projects?page_token=garbage")
    assert.equal(400, status)
    assert.equal(3, body.code)
  end)

  it("filters by substring, case-sensitively", function()
    assert.same({ "p10", "p11", "p12" }, names(list { search_filter = { name = "p1" }, page_size = 50 }))
    assert.equal(6, #list({ search_filter = { description = "Even" }, page_size = 50 }).projects)
    assert.equal(0, #list({ search_filter = { description = "even" }, page_size = 50 }).projects)
    assert.equal(12, #list({ search_filter = { ["owner.username"] = "sim" }, page_size = 50 }).projects)
  end)

  it("rejects unknown filter keys and a filter that is not a JSON object", function()
    local status, body = s:api("GET", "projects" .. sim.query { search_filter = { colour = "red" } })
    assert.equal(400, status)
    assert.matches("colour", body.message)
    assert.equal(400, (s:api("GET", "projects?search_filter=name")))
  end)

  it("sorts by several keys, ascending and descending", function()
    local body = list { sort = "-name", page_size = 3 }
    assert.same({ "p12", "p11", "p10" }, names(body))
    body = list { sort = "+description,-name", page_size = 2 }
    assert.same({ "p12", "p10" }, names(body))
    assert.equal(400, (s:api("GET", "projects?sort=colour")))
  end)
end)


describe("cml-sim runtimes", function()
  local s

  setup(function()
    s = sim.start {}
  end)

  teardown(function()
    s:stop()
  end)

  local function runtimes(q)
    q.page_size = q.page_size or 100
    local status, body = s:api("GET", "runtimes" .. sim.query(q))
    assert.equal(200, status)
    return body.runtimes
  end

  it("offers Standard and Nvidia GPU editions for Python 3.10 to 3.12 in three editors", function()
    local all = runtimes {}
    local seen = {}
    for _, r in ipairs(all) do
      if r.status == "ENABLED" then seen[r.kernel .. "|" .. r.edition .. "|" .. r.editor] = r end
    end
    for _, py in ipairs { "3.10", "3.11", "3.12" } do
      for _, ed in ipairs { "Standard", "Nvidia GPU" } do
        for _, editor in ipairs { "Workbench", "JupyterLab", "PBJ Workbench" } do
          local r = seen["Python " .. py .. "|" .. ed .. "|" .. editor]
          assert(r, py .. " " .. ed .. " " .. editor)
          assert.matches("^docker%.repository%.cloudera%.com/cloudera/cdsw/ml%-runtime%-", r.image_identifier)
          assert.matches("python" .. py:gsub("%.", "%%.") .. "%-" .. (ed == "Standard" and "standard" or "cuda") .. ":",
            r.image_identifier)
        end
      end
    end
  end)

  it("lists older runtimes that are not enabled", function()
    local other = 0
    for _, r in ipairs(runtimes {}) do
      if r.status ~= "ENABLED" then other = other + 1 end
    end
    assert.is_true(other >= 1)
  end)

  it("filters by kernel, edition, editor and image_identifier", function()
    -- a classic and a PBJ JupyterLab runtime
    local r = runtimes { search_filter = { kernel = "Python 3.11", edition = "Nvidia GPU", editor = "JupyterLab" } }
    assert.equal(2, #r)
    assert.matches("/ml%-runtime%-jupyterlab%-python3%.11%-cuda", r[1].image_identifier)
    assert.matches("/ml%-runtime%-pbj%-jupyterlab%-python3%.11%-cuda", r[2].image_identifier)
    r = runtimes { search_filter = { kernel = "Python 3.11", edition = "Nvidia GPU", editor = "PBJ Workbench" } }
    assert.equal(1, #r)
    assert.matches("pbj%-workbench%-python3%.11%-cuda", r[1].image_identifier)
    assert.equal(1, #runtimes { search_filter = { image_identifier = sim.RUNTIME } })
    assert.equal(400, (s:api("GET", "runtimes" .. sim.query { search_filter = { gpu = "yes" } })))
  end)
end)
