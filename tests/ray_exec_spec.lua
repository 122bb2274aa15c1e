-- The whole product for real: cml-sim in exec mode runs the setup job and the launchers with
-- python3; the setup job builds the venv from a wheel of the stub ray (tests/fixtures/ray_stub);
-- the head starts "Ray", publishes head.json; the workers find it and join. Then an idempotent
-- re-run sends no mutating request, and down ends every process.
local sim = require "support.sim"
local run = require("support.run").raycai
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local http = require "raycai.http"
local cjson = require "cjson"
local cluster = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"


local free_port = require("support.ports").free


local mutations, app_named = cluster.mutations, cluster.app_named


describe("a Ray cluster run by cml-sim in exec mode", function()
  local s, wheels, client

  setup(function()
    wheels = fs.tempdir("raycai-wheels")
    local p = assert(proc.spawn { "python3", "tests/support/stub_wheel.py", wheels, "2.40.0", stdout = "null" })
    assert.equal(0, p:wait(60))
    s = sim.start { exec = true, delays = { app_start = 10, job_scheduling = 10, job_starting = 10 } }
    client = http.new { timeout = 5 }
  end)

  teardown(function()
    if s then s:stop() end
    if wheels then fs.remove(wheels, { recursive = true }) end
  end)

  it("builds the venv, starts the head, and the workers join it; a re-run changes nothing; down ends it", function()
    local gcs = free_port()
    local args = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. gcs,
                   "--set", "timeouts.head=120", "--set", "timeouts.workers=120", GPU }
    local env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    local r = run(args, { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("head:%s+127%.0%.0%.1:" .. gcs, r.stdout)
    assert.matches("workers:%s+2/2 running", r.stdout)

    -- the head's "dashboard" (the stub's HTTP page on CDSW_APP_PORT) lists both workers
    local head = app_named(s, "raycai-gpu-head")
    local port = assert(head._app_port, "the simulator's state shows the head's CDSW_APP_PORT")
    local nodes = s:wait_for(function()
      local res = client:request { method = "GET", url = ("http://127.0.0.1:%d/"):format(port) }
      if not res or res.status ~= 200 then return nil end
      local page = cjson.decode(res.body)
      return #page.nodes == 2 and page.nodes
    end, 60, "two workers in the head's dashboard")
    assert.equal(2, #nodes)

    -- idempotent: the second up only reads
    s:clear_requests()
    r = run(args, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    assert.matches("nothing to change", r.stderr)
    assert.same({}, mutations(s))

    -- down: no application left, the head's Ray is gone
    r = run({ GPU, "down" }, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    for _, a in ipairs(s:state().applications or {}) do
      assert.is_nil(a.name:match("^raycai%-gpu%-"), a.name)
    end
    s:wait_for(function()
      local res = client:request { method = "GET", url = ("http://127.0.0.1:%d/"):format(port), timeout = 1 }
      return not res
    end, 60, "the head's Ray port to close")
  end)
end)
