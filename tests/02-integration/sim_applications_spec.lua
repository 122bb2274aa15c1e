-- cml-sim: applications: create → STARTING → RUNNING, stop, restart, delete, validation,
-- fail_application, quota.
local sim = require "support.sim"
local cjson = require "cjson"

local GPU_RUNTIME = "docker.repository.cloudera.com/cloudera/cdsw/ml-runtime-workbench-python3.11-cuda:2025.09.1-b5"


describe("cml-sim applications", function()
  local s, pid, base

  setup(function()
    s = sim.start { delays = { app_start = 150, app_stop = 100 } }
    pid = s:new_project("apps", { ["app.py"] = "print(1)\n", ["bin/run.py"] = "print(2)\n" }).id
    base = "projects/" .. pid .. "/applications"
  end)

  teardown(function()
    s:stop()
  end)

  local function body(name, extra)
    local b = { name = name, subdomain = name, script = "app.py", runtime_identifier = sim.RUNTIME }
    for k, v in pairs(extra or {}) do b[k] = v end
    return b
  end

  local function create(name, extra)
    local status, a = s:api("POST", base, body(name, extra))
    assert.equal(200, status, cjson.encode(a))
    return a
  end

  local function get(id)
    local _, a = s:api("GET", base .. "/" .. id)
    return a
  end

  local function wait_status(id, want)
    return s:wait_for(function()
      local a = get(id)
      return a.status == want and a, a.status
    end, 5, want)
  end

  it("starts on create and is RUNNING after the start delay", function()
    local a = create("web", { cpu = 2, memory = 4.5, environment = { K = "v" }, description = "d" })
    assert.equal("APPLICATION_STARTING", a.status)
    assert.is_string(a.starting_at)
    assert.is_nil(a.running_at)
    assert.equal(2, a.cpu)
    assert.equal(4.5, a.memory)
    assert.equal(0, a.nvidia_gpu)
    assert.same({ K = "v" }, cjson.decode(a.environment))
    assert.equal("simuser", a.creator.username)
    local r = wait_status(a.id, "APPLICATION_RUNNING")
    assert.is_string(r.running_at)
    assert.is_true(r.running_at >= r.starting_at)
  end)

  it("stops through STOPPING to STOPPED with stopped_at", function()
    local a = create("stopper")
    wait_status(a.id, "APPLICATION_RUNNING")
    local status, st = s:api("POST", base .. "/" .. a.id .. ":stop")
    assert.equal(200, status)
    assert.equal("APPLICATION_STOPPING", st.status)
    local stopped = wait_status(a.id, "APPLICATION_STOPPED")
    assert.is_string(stopped.stopped_at)
    -- stopping again changes nothing
    local _, again = s:api("POST", base .. "/" .. a.id .. ":stop")
    assert.equal("APPLICATION_STOPPED", again.status)
  end)

  it("restarts from STOPPED and from RUNNING", function()
    local a = create("phoenix")
    wait_status(a.id, "APPLICATION_RUNNING")
    local _, r = s:api("POST", base .. "/" .. a.id .. ":restart")
    assert.equal("APPLICATION_STARTING", r.status)
    wait_status(a.id, "APPLICATION_RUNNING")
    s:api("POST", base .. "/" .. a.id .. ":stop")
    wait_status(a.id, "APPLICATION_STOPPED")
    _, r = s:api("POST", base .. "/" .. a.id .. ":restart")
    assert.equal("APPLICATION_STARTING", r.status)
    assert.is_nil(r.stopped_at)
    wait_status(a.id, "APPLICATION_RUNNING")
  end)

  it("deletes an application: a live one lingers STOPPING for app_stop with name and subdomain taken", function()
    -- long enough to look at it lingering on a slow (sanitizer) build
    s:control("POST", "/_sim/delays", { app_stop = 1500 })
    local a = create("gone")
    local status, b = s:api("DELETE", base .. "/" .. a.id)
    assert.equal(200, status)
    assert.same({}, b)
    assert.equal("APPLICATION_STOPPING", get(a.id).status)
    local again, err = s:api("POST", base, body("gone"))
    assert.equal(409, again, cjson.encode(err))
    assert.matches("being deleted", err.message)
    assert.equal(400, (s:api("POST", base .. "/" .. a.id .. ":restart")))
    assert.equal(200, (s:api("DELETE", base .. "/" .. a.id)))   -- deleting again is harmless
    s:control("POST", "/_sim/delays", { app_stop = 100 })
    s:wait_for(function() return (s:api("GET", base .. "/" .. a.id)) == 404 end, 10, "the deleted app gone")
    assert.equal(404, (s:api("POST", base .. "/" .. a.id .. ":stop")))
    local status2, c = s:api("POST", base, body("gone"))
    assert.equal(200, status2, cjson.encode(c))
  end)

  it("deletes a stopped application at once", function()
    local a = create("gone-now")
    wait_status(a.id, "APPLICATION_RUNNING")
    assert.equal(200, (s:api("POST", base .. "/" .. a.id .. ":stop")))
    wait_status(a.id, "APPLICATION_STOPPED")
    assert.equal(200, (s:api("DELETE", base .. "/" .. a.id)))
    assert.equal(404, (s:api("GET", base .. "/" .. a.id)))
  end)

  it("updates fields, with environment as a map or a JSON string", function()
    local a = create("patchy")
    local status, u = s:api("PATCH", base .. "/" .. a.id,
      { description = "new", cpu = 3, environment = cjson.encode { A = "b" }, script = "bin/run.py" })
    assert.equal(200, status, cjson.encode(u))
    assert.equal("new", u.description)
    assert.equal(3, u.cpu)
    assert.equal("bin/run.py", u.script)
    assert.same({ A = "b" }, cjson.decode(u.environment))
    status, u = s:api("PATCH", base .. "/" .. a.id, { environment = { C = "d" } })
    assert.equal(200, status)
    assert.same({ C = "d" }, cjson.decode(u.environment))
  end)

  it("keeps the kernel blank in a runtime project and checks it in a legacy engine project", function()
    local a = create("kernel-rt")
    local status, u = s:api("PATCH", base .. "/" .. a.id, { kernel = "python3" })
    assert.equal(200, status, cjson.encode(u))
    assert.equal("", u.kernel)
    local legacy = s:new_project("apps-legacy", { ["app.py"] = "print(1)\n" },
      { default_project_engine_type = "legacy_engine" }).id
    local lbase = "projects/" .. legacy .. "/applications"
    local l
    status, l = s:api("POST", lbase, { name = "old", subdomain = "kernel-old", script = "app.py", kernel = "python3" })
    assert.equal(200, status, cjson.encode(l))
    assert.equal("python3", l.kernel)
    status, u = s:api("PATCH", lbase .. "/" .. l.id, { kernel = "cobol" })
    assert.equal(400, status)
    assert.equal("invalid kernel 'cobol': use python3, python2, r or scala", u.message)
    status, u = s:api("PATCH", lbase .. "/" .. l.id, { kernel = "r" })
    assert.equal(200, status, cjson.encode(u))
    assert.equal("r", u.kernel)
  end)

  it("rejects a subdomain that is not a DNS label", function()
    for _, sub in ipairs { "Upper", "under_score", "-lead", "trail-", "dou--ble", "", "dot.ted" } do
      local status, b = s:api("POST", base, body("x", { subdomain = sub }))
      assert.equal(400, status, sub)
      assert.equal("Problem with field Subdomain: invalid pattern", b.message)
    end
  end)

  it("keeps subdomains unique across the workspace (409 ALREADY_EXISTS)", function()
    create("shared-sub")
    local other = s:new_project("apps-other", { ["app.py"] = "print(1)\n" }).id
    local status, b = s:api("POST", "projects/" .. other .. "/applications", body("x", { subdomain = "shared-sub" }))
    assert.equal(409, status)
    assert.equal(6, b.code)
    local a = create("renamed")
    status = s:api("PATCH", base .. "/" .. a.id, { subdomain = "shared-sub" })
    assert.equal(409, status)
  end)

  it("requires a runtime in a runtime project", function()
    local status, b = s:api("POST", base, body("nort", { runtime_identifier = "" }))
    assert.equal(400, status)
    assert.equal("runtime image must be specified", b.message)
  end)

  it("rejects unknown and disabled runtimes", function()
    assert.equal(400, (s:api("POST", base, body("unk", { runtime_identifier = "docker.example.com/nope:1" }))))
    local _, rts = s:api("GET", "runtimes?page_size=100")
    local tested = 0
    for _, r in ipairs(rts.runtimes) do
      if r.status ~= "ENABLED" then
        local status, b = s:api("POST", base, body("dis", { runtime_identifier = r.image_identifier }))
        assert.equal(400, status)
        assert.matches("is " .. r.status .. "$", b.message)
        tested = tested + 1
      end
    end
    assert.is_true(tested >= 1)
  end)

  it("fails the create with 400 when the script is not in the project files", function()
    local status, b = s:api("POST", base, body("noscript", { script = "missing.py" }))
    assert.equal(400, status)
    assert.matches("missing.py", b.message, 1, true)
    assert.equal(400, (s:api("POST", base, body("noscript2", { script = "" }))))
  end)

  it("requires a name and positive resources", function()
    assert.equal(400, (s:api("POST", base, body("", { subdomain = "noname" }))))
    assert.equal(400, (s:api("POST", base, body("zero", { cpu = 0 }))))
    assert.equal(400, (s:api("POST", base, body("neg", { memory = -1 }))))
  end)

  it("lists with status words in search_filter and enum names in bodies", function()
    local lp = s:new_project("apps-list", { ["app.py"] = "x" }).id
    local lb = "projects/" .. lp .. "/applications"
    local ids = {}
    for i = 1, 3 do
      local _, a = s:api("POST", lb, body("lst-" .. i))
      ids[i] = a.id
    end
    s:api("POST", lb .. "/" .. ids[2] .. ":stop")
    s:wait_for(function()
      local _, l = s:api("GET", lb .. sim.query { search_filter = { status = "running" } })
      return #l.applications == 2, #l.applications
    end, 5, "two running")
    local _, l = s:api("GET", lb .. sim.query { search_filter = { status = "stopped" } })
    assert.equal(1, #l.applications)
    assert.equal(ids[2], l.applications[1].id)
    assert.equal("APPLICATION_STOPPED", l.applications[1].status)
    _, l = s:api("GET", lb .. sim.query { search_filter = { subdomain = "lst-3" } })
    assert.equal(1, #l.applications)
    assert.equal(400, (s:api("GET", lb .. sim.query { search_filter = { status = "sleeping" } })))
    _, l = s:api("GET", lb .. sim.query { sort = "-name" })
    assert.equal("lst-3", l.applications[1].name)
  end)

  it("answers 404 for an application of another project", function()
    local a = create("mine")
    local other = s:new_project("apps-foreign").id
    assert.equal(404, (s:api("GET", "projects/" .. other .. "/applications/" .. a.id)))
  end)
end)


describe("cml-sim fail_application", function()
  local s, base

  setup(function()
    s = sim.start { delays = { app_start = 100 } }
    local pid = s:new_project("fails", { ["app.py"] = "x" }).id
    base = "projects/" .. pid .. "/applications"
  end)

  teardown(function()
    s:stop()
  end)

  local function create(name)
    local _, a = s:api("POST", base, { name = name, subdomain = name, script = "app.py", runtime_identifier = sim.RUNTIME })
    return a
  end

  local function final_status(id)
    return s:wait_for(function()
      local _, a = s:api("GET", base .. "/" .. id)
      return a.status ~= "APPLICATION_STARTING" and a.status
    end, 5, "start to end")
  end

  it("fails the next start of a named application, once", function()
    assert.equal(200, (s:control("POST", "/_sim/fail_application", { name = "doomed" })))
    local a = create("doomed")
    assert.equal("APPLICATION_STARTING", a.status)
    assert.equal("APPLICATION_FAILED", final_status(a.id))
    s:api("POST", base .. "/" .. a.id .. ":restart")
    assert.equal("APPLICATION_RUNNING", final_status(a.id))
  end)

  it("fails a running application now", function()
    local a = create("victim")
    assert.equal("APPLICATION_RUNNING", final_status(a.id))
    s:control("POST", "/_sim/fail_application", { name = "victim" })
    local _, g = s:api("GET", base .. "/" .. a.id)
    assert.equal("APPLICATION_FAILED", g.status)
  end)

  it("fails every start with count -1 until cleared", function()
    s:control("POST", "/_sim/fail_application", { name = "cursed", count = -1 })
    local a = create("cursed")
    assert.equal("APPLICATION_FAILED", final_status(a.id))
    s:api("POST", base .. "/" .. a.id .. ":restart")
    assert.equal("APPLICATION_FAILED", final_status(a.id))
    s:control("DELETE", "/_sim/fail_application")
    s:api("POST", base .. "/" .. a.id .. ":restart")
    assert.equal("APPLICATION_RUNNING", final_status(a.id))
  end)
end)


describe("cml-sim quota", function()
  local s, base

  setup(function()
    s = sim.start { quota = { cpu = 8, memory = 32, gpu = 2 }, delays = { app_start = 20, app_stop = 20 } }
    local pid = s:new_project("quota", { ["app.py"] = "x" }).id
    base = "projects/" .. pid .. "/applications"
  end)

  teardown(function()
    s:stop()
  end)

  local function create(name, gpu, cpu)
    return s:api("POST", base, { name = name, subdomain = name, script = "app.py", runtime_identifier = GPU_RUNTIME,
      nvidia_gpu = gpu, cpu = cpu or 1, memory = 1 })
  end

  it("refuses a create beyond the GPU quota with 429 RESOURCE_EXHAUSTED", function()
    assert.equal(200, (create("g1", 1)))
    local _, g2 = create("g2", 1)
    local status, b = create("g3", 1)
    assert.equal(429, status)
    assert.equal(8, b.code)
    assert.equal("GPU quota exceeded: requested 1, in use 2 of 2", b.message)
    -- a stopped application frees its share; restarting it needs the share back
    s:api("POST", base .. "/" .. g2.id .. ":stop")
    s:wait_for(function()
      local _, a = s:api("GET", base .. "/" .. g2.id)
      return a.status == "APPLICATION_STOPPED"
    end, 5, "g2 stopped")
    assert.equal(200, (create("g3", 1)))
    assert.equal(429, (s:api("POST", base .. "/" .. g2.id .. ":restart")))
  end)

  it("counts CPU and can be changed at run time", function()
    local status, b = create("big", 0, 20)
    assert.equal(429, status)
    assert.matches("^CPU quota exceeded", b.message)
    local st, q = s:control("POST", "/_sim/quota", { cpu = cjson.null, gpu = 10 })
    assert.equal(200, st)
    assert.equal(cjson.null, q.cpu)
    assert.equal(10, q.gpu)
    assert.equal(200, (create("big", 0, 20)))
  end)
end)
