-- Autostop across a head restart (issue 16, docs/reliability.md row A3): cml-sim in exec mode
-- restarts the head application (`:restart`: SIGTERM to its process group, then a new process of
-- the same generation); the watcher in the new process counts idle time from zero, so it does not
-- stop the cluster early because of what the old process had counted, and still stops it after a
-- full idle period of its own. The idle period is 0.5 minute; the old process counts a third of it
-- before the restart. Every wait is on a condition with a generous deadline; the assertions are
-- lower bounds (no :stop before ...), never a speed.
local exec = require "support.exec"
local run = require "support.run"
local fs = require "raycai.fs"
local clock = require "raycai.clock"
local cjson = require "cjson"
local cl = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local free_port = require("support.ports").free
local PERIOD = 30  -- seconds: autostop.idle_minutes = 0.5
local OLD_COUNT = PERIOD / 3  -- seconds of idle time the old head process counts before its restart


describe("autostop when the head restarts", function()
  local s, wheels, env, base, home

  setup(function()
    wheels = exec.wheels()
    s = exec.sim()
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    base = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. free_port(), "--set", "workers=1",
             "--set", "timeouts.head=120", "--set", "timeouts.workers=120", GPU }
    local r = run.raycai(base, { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    for _, pr in ipairs(s:state().projects or {}) do
      if pr.name == "ray-gpu" then home = s:state().work_dir .. "/projects/" .. pr.id end
    end
  end)

  teardown(function()
    if s then s:stop() end
    if wheels then fs.remove(wheels, { recursive = true }) end
  end)

  local function watcher_state()
    local text = fs.read(home .. "/.raycai/gpu/autostop.state.json")
    return text and cjson.decode(text)
  end

  local function stops()
    local out = {}
    for _, r in ipairs(s:requests()) do
      if r.method == "POST" and r.path:match(":stop$") then out[#out + 1] = r end
    end
    return out
  end

  it("the new head process counts idle time from zero, then stops the cluster after a full period", function()
    local argv = { table.unpack(base) }
    for _, a in ipairs { "autostop", "--idle-minutes", tostring(PERIOD / 60) } do argv[#argv + 1] = a end
    local r = run.raycai(argv, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    local old = s:wait_for(function()
      local x = watcher_state()
      return x and x.verdict == "idle" and x.idle_since and clock.time() - x.idle_since >= OLD_COUNT and x
    end, 120, "the first head process to count idle time")
    assert.equal(0, #stops())
    local head = cl.app_named(s, "raycai-gpu-head")
    local restarted_at = clock.time()
    local status = s:api("POST", ("projects/%s/applications/%s:restart"):format(head._project_id, head.id))
    assert.equal(200, status)
    -- the new process (another pid, the same generation: still armed) starts its own count
    local new = s:wait_for(function()
      local x = watcher_state()
      return x and x.pid ~= old.pid and x.verdict == "idle" and x
    end, 180, "the restarted head's watcher to count idle time")
    assert.equal(old.generation, new.generation)
    assert.truthy(new.idle_since >= restarted_at, cjson.encode(new))
    assert.equal(head.id, cl.app_named(s, "raycai-gpu-head").id)
    -- and after a whole period of its own it suspends the cluster
    assert.truthy(s:wait_for(function()
      local got = cl.apps_of(s, "raycai-gpu-")
      if cl.count(got) == 0 then return false end
      for _, a in pairs(got) do if a.status ~= "APPLICATION_STOPPED" then return false end end
      return true
    end, 240, "autostop to suspend the cluster after the restart"))
    -- no :stop before the new count had run a full period: the old process's count (it would
    -- have ended PERIOD - OLD_COUNT seconds after the restart) was not carried over
    local sent = stops()
    assert.truthy(#sent >= 2, "a :stop for the worker and one for the head")
    for _, q in ipairs(sent) do
      assert.truthy(q.at_ms >= (new.idle_since + PERIOD) * 1000 - 50, cjson.encode(q))
      assert.truthy(q.at_ms >= (restarted_at + PERIOD) * 1000, cjson.encode(q))
    end
    local log = fs.read(home .. "/.raycai/gpu/logs/autostop.log") or ""
    assert.equal(2, select(2, log:gsub("armed: 0%.5 minute%(s%) without Ray driver activity suspends", "")), log)
    assert.matches("no Ray driver activity for [%d%.]+ s %(autostop%.idle_minutes = 0%.5%): stopping 1 worker", log)
  end)
end)
