-- cml-sim --state-dir: state written after each mutation, and a restarted simulator knows
-- projects, files, applications, jobs and runs; workloads that were starting carry on.
local sim = require "support.sim"
local clock = require "raycai.clock"
local cjson = require "cjson"


local function tempdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p '" .. d .. "'"))
  return d
end


local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end


describe("cml-sim persistence", function()
  local dir

  before_each(function()
    dir = tempdir()
  end)

  after_each(function()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("writes state.json after each mutation", function()
    local s = sim.start { state_dir = dir }
    local p = s:new_project("saved")
    local st = cjson.decode((assert(read(dir .. "/state.json"))))
    assert.equal(p.id, st.projects[1].id)
    assert.is_nil(read(dir .. "/state.json.tmp"))
    s:stop()
  end)

  it("saves a change it could not write at the next request, keeping the last good state meanwhile", function()
    -- no timer may change the state behind the test's back (a project 'creating' → 'success')
    local s = sim.start { state_dir = dir, delays = { project_create = 0 } }
    s:new_project("first")
    local good = assert(read(dir .. "/state.json"))
    -- a folder where the temporary file goes makes the next save fail
    assert(os.execute("mkdir '" .. dir .. "/state.json.tmp'"))
    s:new_project("second")
    assert.equal(good, read(dir .. "/state.json"))
    clock.sleep(0.2)          -- the ticker tries again every 10 ms meanwhile
    assert(os.execute("rmdir '" .. dir .. "/state.json.tmp'"))
    s:api("GET", "projects")  -- a read: nothing new to save but the change that failed
    local names = {}
    for _, p in ipairs(cjson.decode((assert(read(dir .. "/state.json")))).projects) do names[#names + 1] = p.name end
    table.sort(names)
    assert.same({ "first", "second" }, names)
    -- the failure is reported once, not at every try, and so is the recovery
    local err = s:stderr()
    assert.equal(1, select(2, err:gsub("cannot write", "")), err)
    assert.matches("state saved to .* again", err)
    s:stop()
  end)

  it("knows projects, files, applications, jobs and runs after a restart", function()
    local s = sim.start { state_dir = dir, delays = { app_start = 20, job_scheduling = 10, job_starting = 10,
                                                      job_running = 10 } }
    local p = s:new_project("keep", { ["app.py"] = "print('kept')\n" }, { environment = { K = "v" } })
    local base = "projects/" .. p.id
    local _, a = s:api("POST", base .. "/applications",
      { name = "app", subdomain = "keep-app", script = "app.py", runtime_identifier = sim.RUNTIME })
    local _, j = s:api("POST", base .. "/jobs", { name = "job", script = "app.py", runtime_identifier = sim.RUNTIME })
    local _, r = s:api("POST", base .. "/jobs/" .. j.id .. "/runs", {})
    s:wait_for(function()
      local _, g = s:api("GET", base .. "/jobs/" .. j.id .. "/runs/" .. r.id)
      return g.status == "ENGINE_SUCCEEDED"
    end, 5, "run done")
    s:wait_for(function()
      local _, g = s:api("GET", base .. "/applications/" .. a.id)
      return g.status == "APPLICATION_RUNNING"
    end, 5, "app running")

    local url = s.url
    s:restart()
    assert.equal(url, s.url)
    local status, g = s:api("GET", base)
    assert.equal(200, status)
    assert.same({ K = "v" }, cjson.decode(g.environment))
    local _, raw = nil, select(3, s:api("POST", base .. "/files/app.py:download"))
    assert.equal("print('kept')\n", raw)
    local _, ga = s:api("GET", base .. "/applications/" .. a.id)
    assert.equal("APPLICATION_RUNNING", ga.status)
    local _, gj = s:api("GET", base .. "/jobs/" .. j.id)
    assert.equal("job", gj.name)
    local _, gr = s:api("GET", base .. "/jobs/" .. j.id .. "/runs/" .. r.id)
    assert.equal("ENGINE_SUCCEEDED", gr.status)
    -- the subdomain is still taken
    assert.equal(409, (s:api("POST", base .. "/applications",
      { name = "again", subdomain = "keep-app", script = "app.py", runtime_identifier = sim.RUNTIME })))
    s:stop()
  end)

  it("lets an application that was starting finish starting after a restart", function()
    local s = sim.start { state_dir = dir, delays = { app_start = 800 } }
    local p = s:new_project("mid", { ["app.py"] = "x" })
    local base = "projects/" .. p.id .. "/applications"
    local _, a = s:api("POST", base, { name = "mid", subdomain = "mid", script = "app.py", runtime_identifier = sim.RUNTIME })
    assert.equal("APPLICATION_STARTING", a.status)
    s:restart()
    local _, g = s:api("GET", base .. "/" .. a.id)
    assert.equal("APPLICATION_STARTING", g.status)
    s:wait_for(function()
      local _, cur = s:api("GET", base .. "/" .. a.id)
      return cur.status == "APPLICATION_RUNNING", cur.status
    end, 5, "running after restart")
    s:stop()
  end)

  it("starts empty without a state dir", function()
    local s = sim.start {}
    s:new_project("fleeting")
    s:restart()
    local _, l = s:api("GET", "projects")
    assert.same({}, l.projects)
    s:stop()
  end)

  it("refuses a state file that is not JSON", function()
    local f = assert(io.open(dir .. "/state.json", "w"))
    f:write("garbage")
    f:close()
    assert.has_error(function() sim.start { state_dir = dir } end)
  end)
end)
