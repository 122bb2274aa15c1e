-- Inside a CML workload (a session terminal, a job) raycai-run needs no configuration: with
-- CML_HOST and CML_API_KEY unset it targets the workspace and key CML gives every workload
-- (CDSW_API_URL, CDSW_APIV2_KEY) and deploys into the current project (CDSW_PROJECT_ID).
-- CML_* always win; a half-set environment is a usage error; --sim rehearses locally.
local sim = require "support.sim"
local run = require "support.run"
local fs = require "raycai.fs"

local CPU = "recipes/cpu_cluster.lua"

-- what a CML workload's environment holds, for a workspace played by simulator s
local function workload_env(s, project)
  return { CML_HOST = false, CML_API_KEY = false, CML_API_KEY_FILE = false,
           CDSW_API_URL = s.url .. "/api/v1", CDSW_APIV2_KEY = s.api_key, CDSW_DOMAIN = "ml-sim.example.com",
           CDSW_PROJECT_ID = project.id, CDSW_PROJECT = project.name }
end


local function count(requests, pred)
  local n = 0
  for _, r in ipairs(requests) do if pred(r) then n = n + 1 end end
  return n
end


describe("inside CML", function()
  local s, project

  before_each(function()
    s = sim.start { delays = sim.QUICK_DELAYS }
    project = s:new_project("my-ml")
    s:clear_requests()
  end)
  after_each(function() s:stop() end)

  it("targets the workload's workspace with its key and deploys into the current project", function()
    local r = run.raycai({ CPU }, { env = workload_env(s, project) })
    assert.equal(0, r.code, r.stderr)
    assert.matches(("inside CML: workspace %s, project my%%-ml %%(the current project, %s%%)")
      :format(s.url:gsub("%p", "%%%0"), project.id:gsub("%p", "%%%0")), r.stderr)
    assert.matches("Ray cluster 'cpu' is up in project my%-ml", r.stdout)
    -- every request carried the workload's key, and the cluster is in the current project
    local reqs = s:requests()
    assert.is_true(#reqs > 0)
    assert.equal(#reqs, count(reqs, function(q) return q.authorization == "Bearer ***" and q.status ~= 401 end))
    local status, apps = s:api("GET", "projects/" .. project.id .. "/applications")
    assert.equal(200, status)
    local names = {}
    for _, a in ipairs(apps.applications) do names[#names + 1] = a.name end
    table.sort(names)
    assert.same({ "raycai-cpu-head", "raycai-cpu-worker-1", "raycai-cpu-worker-2" }, names)
    -- no second project was created
    local _, projects = s:api("GET", "projects")
    assert.equal(1, #projects.projects)
  end)

  it("defaults params' project to the current project, and --set still wins", function()
    local r = run.raycai({ CPU, "params" }, { env = workload_env(s, project) })
    assert.equal(0, r.code, r.stderr)
    assert.matches("project%s+string%s+" .. project.id:gsub("%p", "%%%0"), r.stdout)
    r = run.raycai({ "--set", "project=other", CPU, "plan" }, { env = workload_env(s, project) })
    assert.equal(3, r.code, r.stderr)
    assert.matches("inside CML: workspace [^,]+, project other;", r.stderr)
    assert.matches("create%s+project%s+other", r.stdout)
  end)

  it("lets CML_HOST and CML_API_KEY win over the workload's own workspace", function()
    local other = sim.start { delays = sim.QUICK_DELAYS }
    local env = workload_env(s, project)
    env.CML_HOST, env.CML_API_KEY = other.url, other.api_key
    local r = run.raycai({ CPU, "plan" }, { env = env })
    other:stop()
    assert.equal(3, r.code, r.stderr)
    assert.not_matches("inside CML", r.stderr)
    -- the recipe's own default project, not the current one
    assert.matches("create%s+project%s+ray%-cpu", r.stdout)
    assert.equal(0, #s:requests())
  end)

  it("refuses a half-set environment in one line with exit 2, sending nothing", function()
    local env = workload_env(s, project)
    env.CDSW_APIV2_KEY = false
    local r = run.raycai({ CPU, "plan" }, { env = env })
    assert.equal(2, r.code)
    assert.matches("^error: CDSW_API_URL is set but CDSW_APIV2_KEY is not: .*CML_API_KEY", r.stderr)
    assert.equal(1, select(2, r.stderr:gsub("\n", "")))
    env = workload_env(s, project)
    env.CDSW_API_URL, env.CDSW_DOMAIN = false, false
    r = run.raycai({ CPU, "status" }, { env = env })
    assert.equal(2, r.code)
    assert.matches("CDSW_APIV2_KEY is set but neither CDSW_API_URL nor CDSW_DOMAIN: set CML_HOST", r.stderr)
    assert.equal(0, #s:requests())
  end)

  it("rehearses on the built-in simulator with --sim, whose project is the recipe's", function()
    local dir = fs.tempdir("raycai-inside-sim")
    local env = workload_env(s, project)
    env.RAYCAI_SIM_STATE = dir
    local r = run.raycai({ "--sim", CPU, "plan" }, { env = env })
    fs.remove(dir, { recursive = true })
    assert.equal(3, r.code, r.stderr)
    assert.matches("deploying to the built%-in simulator", r.stderr)
    assert.matches("create%s+project%s+ray%-cpu", r.stdout)
    assert.equal(0, #s:requests())
  end)
end)
