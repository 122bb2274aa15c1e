-- raycai-run list (issue 15): every raycai cluster of every project, found by name, without a
-- recipe; --project narrows, --json for scripts.
local sim = require "support.sim"
local run = require("support.run").raycai
local cjson = require "cjson"

local GPU = "recipes/gpu_cluster.lua"


describe("raycai-run list", function()
  local s, env

  setup(function()
    s = sim.start { exec = false, delays = { app_start = 10, app_stop = 10, job_scheduling = 10,
                                             job_starting = 10, job_running = 10 } }
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    for _, c in ipairs { { "alpha", "one", "1" }, { "beta", "two", "2" } } do
      local r = run({ "--set", "project=" .. c[1], "--set", "cluster=" .. c[2], "--set", "workers=" .. c[3], GPU },
                    { env = env, timeout = 120 })
      assert.equal(0, r.code, r.stderr)
    end
  end)

  teardown(function() if s then s:stop() end end)

  it("shows two clusters in two projects, with workers ready/desired, GPUs and status", function()
    local r = run({ "list" }, { env = env })
    assert.equal(0, r.code, r.stderr)
    assert.matches("CLUSTER%s+PROJECT%s+HEAD%s+WORKERS%s+GPUS%s+STATUS%s+AGE", r.stdout)
    assert.matches("\none%s+alpha%s+RUNNING%s+1/1%s+1%s+healthy", r.stdout)
    assert.matches("\ntwo%s+beta%s+RUNNING%s+2/2%s+2%s+healthy", r.stdout)
  end)

  it("--project P shows that project's clusters only; --json lists them", function()
    local r = run({ "list", "--project", "beta", "--json" }, { env = env })
    assert.equal(0, r.code, r.stderr)
    local ev
    for line in r.stdout:gmatch("[^\n]+") do
      local e = cjson.decode(line)
      if e.event == "clusters" then ev = e end
    end
    assert.truthy(ev, r.stdout)
    assert.equal(1, #ev.clusters)
    assert.same({ cluster = "two", project = "beta", status = "healthy", gpus = 2,
                  workers = { worker = { ready = 2, desired = 2 } } },
                { cluster = ev.clusters[1].cluster, project = ev.clusters[1].project, status = ev.clusters[1].status,
                  gpus = ev.clusters[1].gpus, workers = ev.clusters[1].workers })
  end)

  it("reads every cluster's autostop.json side by side (one round), after every project's listing", function()
    -- each download is held 3 s: read one after another, the second would arrive 3 s after the
    -- first; read together, every one arrives while the first is still held
    s:fault { match = { method = "POST", path_suffix = "autostop.json:download" }, action = "slow", delay_ms = 3000,
              count = -1 }
    s:clear_requests()
    local r = run({ "list", "--all-projects" }, { env = env })
    s:clear_faults()
    assert.equal(0, r.code, r.stderr)
    assert.matches("\none%s+alpha", r.stdout)
    assert.matches("\ntwo%s+beta", r.stdout)
    local reads, last_listing, first_read = {}, 0, nil
    for i, q in ipairs(s:requests()) do
      if q.path:match("autostop%.json:download$") then
        reads[#reads + 1] = q
        first_read = first_read or i
      elseif q.method == "GET" and q.path:match("/applications$") then last_listing = i end
    end
    assert.equal(2, #reads)
    assert.is_true(last_listing < first_read, "an autostop.json was read before every project was listed")
    assert.is_true(reads[2].at_ms - reads[1].at_ms < 3000, "the second autostop.json waited for the first")
  end)

  it("submit to a timer-mode simulator says it runs no scripts and creates nothing", function()
    local before = #(s:state().jobs or {})
    local r = run({ "--set", "project=alpha", "--set", "cluster=one", GPU, "submit", "--", "python", "-c", "print(1)" },
                  { env = env })
    assert.equal(2, r.code, r.stderr)
    assert.matches("runs no scripts", r.stderr)
    assert.matches("exec mode", r.stderr)
    assert.equal(before, #(s:state().jobs or {}))
  end)

  it("a stopped worker makes the cluster degraded; an unknown project exits 2", function()
    local st = s:state()
    for _, a in ipairs(st.applications) do
      if a.name == "raycai-two-worker-1" then
        assert.equal(200, (s:api("POST", ("projects/%s/applications/%s:stop"):format(a._project_id, a.id))))
      end
    end
    s:wait_for(function()
      local r = run({ "list", "--project", "beta" }, { env = env })
      return r.stdout:match("\ntwo%s+beta%s+RUNNING%s+1/2%s+2%s+degraded")
    end, 30, "a degraded cluster")
    local r = run({ "list", "--project", "nope" }, { env = env })
    assert.equal(2, r.code)
    assert.matches("no project nope", r.stderr)
  end)
end)
