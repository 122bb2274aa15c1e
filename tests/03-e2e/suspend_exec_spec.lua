-- suspend / resume for real (issue 16): cml-sim in exec mode runs the launchers with the stub
-- Ray; suspend really stops the processes (the head's dashboard stops answering), resume brings
-- the head back with a new generation and the workers join that new head.
local exec = require "support.exec"
local run = require("support.run").raycai
local fs = require "raycai.fs"
local http = require "raycai.http"
local cjson = require "cjson"
local cl = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local free_port = require("support.ports").free


describe("suspend and resume in exec mode", function()
  local s, wheels, client, env, base

  setup(function()
    wheels = exec.wheels()
    s = exec.sim()
    client = http.new { timeout = 5 }
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    base = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. free_port(), "--set", "workers=2",
             "--set", "timeouts.head=120", "--set", "timeouts.workers=120", GPU }
    local r = run(base, { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
  end)

  teardown(function()
    if s then
      run({ table.unpack(base) , "down" }, { env = env, timeout = 120 })
      s:stop()
    end
    if wheels then fs.remove(wheels, { recursive = true }) end
  end)

  local function with(word)
    local a = { table.unpack(base) }
    a[#a + 1] = word
    return a
  end

  --- The head's dashboard page (the stub's JSON on CDSW_APP_PORT), or nil.
  local function dashboard(port)
    local res = client:request { method = "GET", url = ("http://127.0.0.1:%d/"):format(port), timeout = 2 }
    if not res or res.status ~= 200 then return nil end
    return cjson.decode(res.body)
  end

  it("suspend stops the processes; resume brings a new head generation the workers join", function()
    local head = cl.app_named(s, "raycai-gpu-head")
    local port = assert(head._app_port)
    assert.truthy(s:wait_for(function() local d = dashboard(port) return d and #d.nodes == 2 end, 60,
                             "two workers in the dashboard"))
    local gen = cl.env_of(head).RAYCAI_GENERATION

    local r = run(with("suspend"), { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    for name, a in pairs(cl.apps_of(s, "raycai-gpu-")) do assert.equal("APPLICATION_STOPPED", a.status, name) end
    -- the head's process is gone: its port no longer answers
    assert.truthy(s:wait_for(function() return dashboard(port) == nil end, 60, "the head's dashboard to stop"))

    r = run(with("resume"), { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("workers:%s+2/2 running", r.stdout)
    head = cl.app_named(s, "raycai-gpu-head")
    local gen2 = cl.env_of(head).RAYCAI_GENERATION
    assert.is_not.equal(gen, gen2)
    for name, a in pairs(cl.apps_of(s, "raycai-gpu-")) do
      assert.equal("APPLICATION_RUNNING", a.status, name)
      assert.equal(gen2, cl.env_of(a).RAYCAI_GENERATION, name)
    end
    local page = s:wait_for(function()
      local d = head._app_port and dashboard(head._app_port)
      return d and #d.nodes == 2 and d
    end, 60, "both workers in the new head's dashboard")
    assert.equal(2, #page.nodes)
  end)
end)
