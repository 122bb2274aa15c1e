-- Issue 17: `status` sends its independent reads side by side (client:together): the job
-- listing and the applications listing go out in the first round, each job's last run and
-- head.json after them. Order in the simulator's request log, not durations.
local sim = require "support.sim"
local run = require("support.run")

local GPU = "recipes/gpu_cluster.lua"

describe("status reads", function()
  local s
  before_each(function() s = sim.start { delays = { job_running = 50, app_start = 50 } } end)
  after_each(function() if s then s:stop() end end)

  it("lists the applications beside the jobs, before any job's last run", function()
    local env = { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } }
    local r = run.raycai({ "--set", "workers=2", GPU }, env)
    assert.equal(0, r.code, r.stderr .. r.stdout)
    s:clear_requests()
    r = run.raycai({ "--set", "workers=2", GPU, "status" }, env)
    assert.equal(0, r.code, r.stderr .. r.stdout)
    local apps_list, first_run, jobs_list
    for i, q in ipairs(s:requests()) do
      if q.method == "GET" and q.path:match("/applications$") then apps_list = apps_list or i end
      if q.method == "GET" and q.path:match("/jobs$") then jobs_list = jobs_list or i end
      if q.method == "GET" and q.path:match("/jobs/[^/]+/runs$") then first_run = first_run or i end
    end
    assert.truthy(apps_list, "status should list the applications")
    assert.truthy(jobs_list, "status should list the jobs")
    assert.truthy(first_run, "status should read the setup job's last run")
    assert.is_true(apps_list < first_run, "the applications were listed only after the job runs")
    local json = 0
    for i, q in ipairs(s:requests()) do
      if q.path:match("head%.json:download$") then json = i end
    end
    assert.is_true(json > 0 and json < first_run, "head.json was read only after the job runs")
    assert.matches("raycai%-gpu%-worker%-2", r.stdout)
  end)

  it("reads each thing once: no request is sent twice", function()
    local env = { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } }
    local r = run.raycai({ "--set", "workers=2", "--set", "autostop.idle_minutes=30", GPU }, env)
    assert.equal(0, r.code, r.stderr .. r.stdout)
    s:clear_requests()
    r = run.raycai({ "--set", "workers=2", "--set", "autostop.idle_minutes=30", GPU, "status" }, env)
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("30m", r.stdout)  -- the AUTOSTOP column, from the one read of autostop.json
    local seen = {}
    for _, q in ipairs(s:requests()) do
      local key = q.method .. " " .. q.path .. "?" .. (q.query or "")
      assert.is_nil(seen[key], "status sent twice: " .. key)
      seen[key] = true
    end
    assert.truthy(seen[("POST /api/v2/projects/%s/files/.raycai/gpu/autostop.json:download?"):format(s:state().projects[1].id)],
      "status should read autostop.json")
  end)

  it("an idempotent up reads in three rounds: the applications and head.json beside the setup's reads", function()
    local env = { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } }
    local r = run.raycai({ "--set", "workers=2", GPU }, env)
    assert.equal(0, r.code, r.stderr .. r.stdout)
    -- a simulator without exec mode runs no setup script: write the markers it would have
    local pid = s:state().projects[1].id
    local fps = {}
    for _, q in ipairs(s:requests()) do
      local fp = q.path:match("/files/%.raycai/venvs/(%x+)$")
      if fp then fps[fp] = true end
    end
    assert.truthy(next(fps), "up should have looked at its venvs")
    for fp in pairs(fps) do s:upload(pid, ".raycai/venvs/" .. fp .. "/.raycai-complete", "") end
    s:clear_requests()
    r = run.raycai({ "--set", "workers=2", GPU }, env)
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("nothing to change", r.stdout .. r.stderr)
    local apps_list, head_json, launcher, jobs_list = {}, {}, nil, nil
    for i, q in ipairs(s:requests()) do
      assert.is_true(q.method == "GET" or q.path:match(":download$") ~= nil, "a re-run changed something: " .. q.path)
      if q.method == "GET" and q.path:match("/applications$") then apps_list[#apps_list + 1] = i end
      if q.path:match("head%.json:download$") then head_json[#head_json + 1] = i end
      if q.path:match("/head%.py:download$") then launcher = launcher or i end
      if q.method == "GET" and q.path:match("/jobs$") then jobs_list = i end
    end
    assert.equal(1, #apps_list, "the applications should be listed once")
    assert.equal(1, #head_json, "head.json should be read once")
    assert.truthy(launcher and jobs_list, "the launchers and the jobs should be read")
    assert.is_true(apps_list[1] < launcher, "the applications were listed only after the launchers' downloads")
    assert.is_true(head_json[1] < launcher, "head.json was read only after the launchers' downloads")
  end)

  it("plan reads no head.json (only up's summary shows the address)", function()
    local env = { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } }
    local r = run.raycai({ "--set", "workers=2", GPU }, env)
    assert.equal(0, r.code, r.stderr .. r.stdout)
    s:clear_requests()
    r = run.raycai({ "--set", "workers=2", GPU, "plan" }, env)
    assert.is_true(r.code == 0 or r.code == 3, r.stderr .. r.stdout)
    for _, q in ipairs(s:requests()) do
      assert.is_nil(q.path:match("head%.json:download$"), "plan read head.json")
    end
  end)
end)
