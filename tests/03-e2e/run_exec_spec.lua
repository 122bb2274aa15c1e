-- One-shot run (issue 16) for real: up, submit, down by policy, against cml-sim in exec mode with
-- the stub Ray. The exit status is the job's; policy success keeps a failed job's cluster.
local exec = require "support.exec"
local run = require("support.run").raycai
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local cl = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local free_port = require("support.ports").free


describe("run: up, submit, down", function()
  local s, wheels, env, base

  setup(function()
    wheels = exec.wheels()
    s = exec.sim()
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    base = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. free_port(), "--set", "workers=1",
             "--set", "timeouts.head=120", "--set", "timeouts.workers=120", GPU }
  end)

  teardown(function()
    if s then
      local a = { table.unpack(base) }
      a[#a + 1] = "down"
      run(a, { env = env, timeout = 120 })
      s:stop()
    end
    if wheels then fs.remove(wheels, { recursive = true }) end
  end)

  local function raycai(words, timeout)
    local a = { table.unpack(base) }
    for _, w in ipairs(words) do a[#a + 1] = w end
    return run(a, { env = env, timeout = timeout or 300 })
  end

  it("a bad --down or --ttl exits 2 and creates nothing", function()
    local r = raycai { "run", "--down=sometimes", "--", "true" }
    assert.equal(2, r.code, r.stderr)
    assert.matches("%-%-down=sometimes: give always, success or never", r.stderr)
    r = raycai { "run", "--ttl", "-5", "--", "true" }
    assert.equal(2, r.code, r.stderr)
    assert.matches("%-%-ttl %-5", r.stderr)
    assert.same({}, s:state().applications or {})
  end)

  it("run -- python -c \"print(1)\" prints 1, exits 0 and leaves no application behind", function()
    local r = raycai { "run", "--name", "one", "--", "python", "-c", "print(1)" }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("\n?1\n", r.stdout)
    assert.matches("down", r.stdout)
    assert.equal(0, cl.count(cl.apps_of(s, "raycai-gpu-")))
    -- the job's logs stay in the project after the down
    local logs = raycai({ "logs", "job", "one" }, 60)
    assert.equal(0, logs.code, logs.stderr)
    assert.matches("1\n", logs.stdout)
  end)

  it("run of a failing entrypoint exits 1 and keeps the cluster, printing the logs and down commands", function()
    local r = raycai { "run", "--name", "bad", "--", "python", "-c", "import sys; sys.exit(3)" }
    assert.equal(1, r.code, r.stderr .. r.stdout)
    assert.matches("logs job bad", r.stdout)
    assert.matches("down", r.stdout)
    local apps = cl.apps_of(s, "raycai-gpu-")
    assert.equal(2, cl.count(apps))
    for name, a in pairs(apps) do assert.equal("APPLICATION_RUNNING", a.status, name) end
  end)

  it("--down=always downs the cluster after a failed job too, and keeps it --ttl seconds first", function()
    local r = raycai { "run", "--down=always", "--ttl", "0.2", "--name", "bad2", "--", "sh", "-c", "exit 2" }
    assert.equal(1, r.code, r.stderr .. r.stdout)
    assert.matches("%-%-ttl", r.stderr)
    assert.equal(0, cl.count(cl.apps_of(s, "raycai-gpu-")))
  end)

  it("Ctrl-C stops the job, exits 130 and applies the policy (always: down)", function()
    local out = os.tmpname()
    local argv = { require("support.run").exe }
    for _, a in ipairs(base) do argv[#argv + 1] = a end
    for _, a in ipairs { "run", "--down=always", "--name", "sleepy", "--", "python", "-c",
                         "import time; print('started', flush=True); time.sleep(60)" } do
      argv[#argv + 1] = a
    end
    argv.env, argv.stdout, argv.stderr, argv.kill_on_close = env, out, out, true
    local p = assert(proc.spawn(argv))
    s:wait_for(function() return (fs.read(out) or ""):find("\nstarted\n", 1, true) end, 120, "the entrypoint's output")
    p:kill("INT")
    local code = p:wait(120)
    p:close()
    local text = fs.read(out) or ""
    os.remove(out)
    assert.equal(130, code, text)
    assert.matches("stopped submission sleepy", text)
    assert.equal(0, cl.count(cl.apps_of(s, "raycai-gpu-")), text)
  end)
end)
