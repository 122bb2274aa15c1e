-- Autostop never tears down what an `up` is waiting for (issue 16): the head's watcher counts no
-- idle time while a raycai run holds the cluster's lock. Here an armed, idle cluster is scaled
-- by an `up` whose new worker stays pending for want of a GPU (the simulator's capacity): the
-- watcher must not stop anything until that up has given up and released the lock, and then
-- suspends the cluster as armed. Exec mode, stub Ray, sub-second idle periods.
local exec = require "support.exec"
local run = require "support.run"
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local cjson = require "cjson"
local cl = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local free_port = require("support.ports").free


describe("autostop while an up holds the lock", function()
  local s, wheels, env, base, home

  setup(function()
    wheels = exec.wheels()
    s = exec.sim { capacity = { gpu = 1 } }  -- the head has no GPU; one worker fits, a second does not
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    base = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. free_port(),
             "--set", "timeouts.head=120", "--set", "timeouts.workers=120" }
    local argv = { table.unpack(base) }
    for _, a in ipairs { "--set", "workers=1", GPU } do argv[#argv + 1] = a end
    local r = run.raycai(argv, { env = env, timeout = 300 })
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

  it("counts no idle time while up waits for a pending worker, then suspends once it gave up", function()
    -- an up that cannot finish: worker-2 needs a second GPU; it waits timeouts.pending, holding the lock
    local out = os.tmpname()
    local argv = { run.exe }
    for _, a in ipairs(base) do argv[#argv + 1] = a end
    for _, a in ipairs { "--set", "workers=2", "--set", "timeouts.pending=6", GPU } do argv[#argv + 1] = a end
    argv.env, argv.stdout, argv.stderr, argv.kill_on_close = env, out, out, true
    -- arm the watcher (0.6 s idle) only now, so it starts idle; the up starts right after
    local arm_argv = { table.unpack(base) }
    for _, a in ipairs { "--set", "workers=1", GPU, "autostop", "--idle-minutes", "0.01" } do
      arm_argv[#arm_argv + 1] = a
    end
    -- a connected driver keeps the cluster busy until the up holds the lock (no race with it)
    local release = home .. "/release"
    local sub_argv = { table.unpack(base) }
    for _, a in ipairs { "--set", "workers=1", GPU, "submit", "--detach", "--", "python", "-c",
      ("import os, time, ray; ray.init()\nwhile not os.path.exists(%q): time.sleep(0.05)"):format(release) } do
      sub_argv[#sub_argv + 1] = a
    end
    local sub = run.raycai(sub_argv, { env = env, timeout = 120 })
    assert.equal(0, sub.code, sub.stderr .. sub.stdout)
    local armed = run.raycai(arm_argv, { env = env, timeout = 120 })
    assert.equal(0, armed.code, armed.stderr .. armed.stdout)
    assert.truthy(s:wait_for(function()
      local x = watcher_state()
      return x and x.verdict == "busy" and tostring(x.reason):find("driver", 1, true)
    end, 120, "the watcher to see the driver"))
    local p = assert(proc.spawn(argv))
    assert.truthy(s:wait_for(function()
      local x = watcher_state()
      return x and x.verdict == "busy" and tostring(x.reason):find("holds the cluster's lock", 1, true)
    end, 120, "the watcher to see the up's lock"))
    assert(fs.write(release, "go"))  -- idle from now on, but for the lock
    local code = p:wait(180)
    p:close()
    local text = fs.read(out) or ""
    os.remove(out)
    assert.equal(1, code, text)
    assert.matches("pending", text)
    -- the lock's release is the up's last word; no :stop went out before it
    local released_at
    for _, r in ipairs(s:requests()) do
      if r.method == "DELETE" and r.path:find("lock", 1, true) then released_at = r.at_ms end
    end
    assert.truthy(released_at, "the up released its lock")
    for _, r in ipairs(stops()) do assert.is_true(r.at_ms > released_at, cjson.encode(r)) end
    -- and then the armed watcher does its job: the idle cluster is suspended
    assert.truthy(s:wait_for(function()
      local got = cl.apps_of(s, "raycai-gpu-")
      if cl.count(got) == 0 then return false end
      for _, a in pairs(got) do if a.status ~= "APPLICATION_STOPPED" then return false end end
      return true
    end, 120, "autostop to suspend the cluster after the up"))
    assert.truthy(#stops() > 0)
  end)
end)
