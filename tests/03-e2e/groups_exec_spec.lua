-- Worker groups for real (issue 13): cml-sim in exec mode runs recipes/mixed_cluster.lua. The
-- head and the CPU group share the Standard runtime (one venv), the GPU trainers get the venv of
-- their own runtime (one setup job per distinct runtime, as issue 11 made it); every worker joins
-- with its group's Ray resources and labels; a re-run sends no mutating request; down leaves nothing.
local exec = require "support.exec"
local run = require("support.run").raycai
local fs = require "raycai.fs"
local http = require "raycai.http"
local cjson = require "cjson"
local cluster = require "support.cluster"

local MIXED = "recipes/mixed_cluster.lua"
local mutations, app_named, apps_of, count = cluster.mutations, cluster.app_named, cluster.apps_of, cluster.count


describe("worker groups run by cml-sim in exec mode", function()
  local s, wheels

  setup(function()
    wheels = exec.wheels()
    s = exec.sim()
  end)

  teardown(function()
    if s then s:stop() end
    if wheels then fs.remove(wheels, { recursive = true }) end
  end)

  it("deploys both groups on their runtimes with their Ray resources and labels; a re-run changes "
     .. "nothing; down leaves nothing", function()
    local gcs = require("support.ports").free()
    local args = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. gcs,
                   "--set", "timeouts.head=120", "--set", "timeouts.workers=120", MIXED }
    local env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    local r = run(args, { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("workers:%s+3/3 running", r.stdout)
    -- one setup job per distinct runtime: the head's (shared with the CPU group) and the GPU one
    local jobs = {}
    for _, j in ipairs(s:state().jobs or {}) do
      if j.name:match("^raycai%-mixed%-setup") then jobs[#jobs + 1] = j.name end
    end
    table.sort(jobs)
    assert.same({ "raycai-mixed-setup", "raycai-mixed-setup-worker" }, jobs)
    local cpu, gpu = app_named(s, "raycai-mixed-cpu-1"), app_named(s, "raycai-mixed-worker-1")
    assert.equal("APPLICATION_RUNNING", cpu.status)
    assert.equal("APPLICATION_RUNNING", gpu.status)
    assert.equal(app_named(s, "raycai-mixed-head").runtime_identifier, cpu.runtime_identifier)
    assert.are_not.equal(cpu.runtime_identifier, gpu.runtime_identifier)
    -- each group's ray start got its own ray_resources
    local cpu_log, gpu_log = assert(s:log("applications", cpu.id)), assert(s:log("applications", gpu.id))
    assert.truthy(cpu_log:find('{"preprocess": 1}', 1, true), cpu_log)
    assert.truthy(gpu_log:find('{"train": 1}', 1, true), gpu_log)
    assert.falsy(cpu_log:find('{"train": 1}', 1, true))
    -- the head's dashboard lists the three workers
    local head = app_named(s, "raycai-mixed-head")
    local client = http.new { timeout = 5 }
    local nodes
    s:wait_for(function()
      local res = client:request { method = "GET", url = ("http://127.0.0.1:%d/"):format(head._app_port), timeout = 2 }
      nodes = res and res.status == 200 and cjson.decode(res.body).nodes
      return nodes and #nodes == 3
    end, 60, "three workers in the head's dashboard")
    -- (issue 13) each node joined with its group's ray_resources and ray_labels, as the stub's
    -- `ray start` parsed them (--resources JSON, --labels k=v)
    local seen = {}
    for _, n in ipairs(nodes) do
      local tier = n.labels.tier
      seen[#seen + 1] = tier
      assert.same(tier == "cpu" and { preprocess = 1 } or { train = 1 }, n.resources)
    end
    table.sort(seen)
    assert.same({ "cpu", "cpu", "gpu" }, seen)

    s:clear_requests()
    r = run(args, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    assert.matches("nothing to change", r.stderr)
    assert.same({}, mutations(s))

    r = run({ MIXED, "down" }, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    assert.equal(0, count(apps_of(s, "raycai-mixed-")))
  end)
end)
