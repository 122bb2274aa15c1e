-- The launcher templates, rendered and run for real: the setup script builds a venv from a wheel
-- of the stub ray (tests/fixtures/ray_stub), then head and worker launchers form a cluster on
-- loopback. Every wait is a condition with a deadline.
local template = require "raycai.template"
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local clock = require "raycai.clock"
local http = require "raycai.http"
local cjson = require "cjson"
local procs = require "support.procs"

local TEMPLATES = "lua/raycai/templates/"
local RAY_VERSION = require("raycai.ray.versions").DEFAULT
local OLD_RAY = "2.40.0"  -- its dashboard answers 500 to a request without a User-Agent
local WAIT = 60  -- seconds: generous deadline for anything to happen


-- Every process a test starts, closed (and so TERMed, then KILLed) after the test, and every
-- log file a launcher writes, removed then.
local spawned, logs = {}, {}

local function spawn(argv)
  -- Python children need no sanitizer runtime even when the spec runs under an ASan build.
  argv.env = argv.env or {}
  if argv.env.LD_PRELOAD == nil then argv.env.LD_PRELOAD = false end
  argv.kill_on_close = true
  argv.new_group = true
  argv.stdin = "null"
  local p = assert(proc.spawn(argv))
  spawned[#spawned + 1] = p
  return p
end


local function close_all()
  for i = #spawned, 1, -1 do
    spawned[i]:close()
    spawned[i] = nil
  end
  for i = #logs, 1, -1 do
    os.remove(logs[i])
    logs[i] = nil
  end
end


local function read(path)
  return fs.read(path) or ""
end


--- Wait until fn() returns a truthy value and return it; fail the test with `what` at the deadline.
local function wait_for(what, fn, timeout)
  local deadline = clock.monotonic() + (timeout or WAIT)
  while true do
    local v = fn()
    if v then return v end
    if clock.monotonic() > deadline then
      error("timed out waiting for " .. what, 2)
    end
    clock.sleep(0.05)
  end
end


--- Run argv to completion; returns exit code and combined output.
local function run(argv, timeout)
  local out = os.tmpname()
  argv.stdout, argv.stderr = out, out
  local p = spawn(argv)
  local code = p:wait(timeout or WAIT * 2)
  local text = read(out)
  os.remove(out)
  assert(code, "timed out running " .. argv[1] .. " " .. tostring(argv[2]) .. ":\n" .. text)
  return code, text
end


local HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"  -- two "pods" on one machine


local alive, group_pids = procs.alive, procs.tree


local handed_out = {}

--- A free TCP port on 127.0.0.1 not handed out before in this run (the kernel may offer a port
--- again once its probe socket is closed, before the test's server has bound it).
local function free_port()
  while true do
    local code, out = run { "python3", "-c", [[
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
]] }
    assert(code == 0, out)
    local port = tonumber(out:match("%d+"))
    if not handed_out[port] then
      handed_out[port] = true
      return port
    end
  end
end


local client = assert(http.new { timeout = 5, connect_timeout = 2 })

--- GET http://127.0.0.1:port/ -> decoded JSON body, or nil when nothing answers with 200.
local function get_json(port)
  local res = client:request { method = "GET", url = "http://127.0.0.1:" .. port .. "/",
                               headers = { ["User-Agent"] = "raycai-tests" } }
  if not res or res.status ~= 200 then return nil end
  return cjson.decode(res.body)
end


local function render(name, vars)
  local text = assert(fs.read(TEMPLATES .. name .. ".tmpl"))
  return assert(template.render(text, vars, { name = name .. ".tmpl" }))
end


--- Template variables for cluster `name` with venv `venv`; `over` replaces top-level groups.
local function vars_for(name, over)
  local v = {
    cluster = { name = name, gcs_port = 6379 },
    project = { dir = "/nonexistent/home/cdsw" },
    venv = { dir = ".raycai/venvs/fp-test", python = "python3" },
    setup = { packages = { "ray==" .. RAY_VERSION }, find_links = "", fingerprint = "fp-test",
              log = ".raycai/" .. name .. "/setup.log" },
    head = { cpu = 1 },
    worker = { cpu = 2, gpu = 0 },
    timeouts = { head_wait = WAIT, ray_start = WAIT },
    ray_start_retries = 3,
  }
  for k, val in pairs(over or {}) do v[k] = val end
  return v
end


--- Render template `name` into <project>/.raycai/<cluster>/<name>; returns the script path.
local function install(project, name, vars)
  local dir = fs.join(project, ".raycai", vars.cluster.name)
  assert(fs.mkdir(dir))
  local path = fs.join(dir, name)
  assert(fs.write(path, render(name, vars)))
  return path
end


-- pip must see only the find-links folder the test gives it, not the machine's configuration.
local PIP_ENV = { PIP_CONFIG_FILE = "/dev/null", PIP_FIND_LINKS = false, PIP_INDEX_URL = false,
                  PIP_EXTRA_INDEX_URL = false, PIP_NO_INDEX = false }

local function run_setup(project, vars)
  local script = install(project, "setup_venv.py", vars)
  return run { "python3", script, env = PIP_ENV, cwd = project }
end


local links = assert(fs.tempdir("raycai-links-"))

local function build_wheel()
  for _, version in ipairs { RAY_VERSION, OLD_RAY } do
    local code, out = run { "python3", "tests/support/stub_wheel.py", links, version }
    assert(code == 0, out)
  end
end


describe("launcher templates", function()
  setup(build_wheel)
  after_each(close_all)
  teardown(function() fs.remove(links, { recursive = true }) end)

  describe("rendering", function()
    local hostile = "it's \"x\" $(touch /tmp/raycai-pwned) `id`\nline2 \\ \\n \u{e9}\u{1F600}'''"
    local vars = vars_for(hostile, {
      venv = { dir = ".raycai/venvs/a b'\"$(x)\n", python = "python3 $(id)" },
      setup = { packages = { "ray[default]==2.40.0", "x'; import os; os.system('id') #",
                             "y\"\"\"\n\\", "--index-url=http://evil" },
                index_url = "https://mirror/simple?a='b'", find_links = "/links/$(x)",
                fingerprint = "fp\"'\n", log = ".raycai/log'\"\\n" },
    })

    for _, name in ipairs { "setup_venv.py", "head.py", "worker.py" } do
      it("compiles " .. name .. " and keeps hostile values intact", function()
        local dir = assert(fs.tempdir("raycai-render-"))
        local path = fs.join(dir, name)
        assert(fs.write(path, render(name, vars)))
        local code, out = run { "python3", "-m", "py_compile", path }
        assert.equal(0, code, out)
        code, out = run { "python3", path, "--print-config", cwd = dir }
        assert.equal(0, code, out)
        local cfg = cjson.decode(out)
        assert.equal(hostile, cfg.cluster)
        assert.equal(vars.venv.dir, cfg.venv_dir)
        assert.equal(vars.setup.fingerprint, cfg.fingerprint)
        assert.equal(vars.setup.log, cfg.setup_log)
        if name == "setup_venv.py" then
          assert.same(vars.setup.packages, cfg.packages)
          assert.equal(vars.venv.python, cfg.venv_python)
          assert.equal(vars.setup.index_url, cfg.index_url)
          assert.equal(vars.setup.find_links, cfg.find_links)
        end
        assert.is_false(fs.exists("/tmp/raycai-pwned"))
        fs.remove(dir, { recursive = true })
      end)
    end

    it("renders numbers for ray start as whole counts, rounding up", function()
      local v = vars_for("nums", { worker = { cpu = 4.0, gpu = 0.5 }, head = { cpu = 1.5 },
                                   timeouts = { head_wait = 2.5, ray_start = 7 },
                                   ray_start_retries = 5 })
      v.cluster.gcs_port = 7000.0
      local dir = assert(fs.tempdir("raycai-render-"))
      local cfg = {}
      for _, name in ipairs { "worker.py", "head.py" } do
        local path = fs.join(dir, name)
        assert(fs.write(path, render(name, v)))
        local code, out = run { "python3", path, "--print-config" }
        assert.equal(0, code, out)
        for k, val in pairs(cjson.decode(out)) do cfg[k] = val end
      end
      assert.same({ "4", "1", "2", 7000, 2.5, 7, 5 },
                  { cfg.worker_cpus, cfg.worker_gpus, cfg.head_cpus, cfg.gcs_port, cfg.head_wait,
                    cfg.ray_start_timeout, cfg.ray_start_retries })
      fs.remove(dir, { recursive = true })
    end)
  end)

  describe("setup_venv.py", function()
    local project

    before_each(function()
      project = assert(fs.tempdir("raycai-proj-"))
    end)

    after_each(function()
      fs.remove(project, { recursive = true })
    end)

    local function setup_vars(packages, fingerprint)
      return vars_for("c1", { setup = { packages = packages, find_links = links,
                                        fingerprint = fingerprint,
                                        log = ".raycai/c1/setup.log" },
                              venv = { dir = ".raycai/venvs/" .. fingerprint,
                                       python = "python3" } })
    end

    it("builds the venv from the stub wheel and writes the marker last", function()
      local code, out = run_setup(project, setup_vars({ "ray==" .. RAY_VERSION }, "fp-one"))
      assert.equal(0, code, out)
      local venv = fs.join(project, ".raycai/venvs/fp-one")
      assert.equal("fp-one\n", read(fs.join(venv, ".raycai-complete")))
      local log = read(fs.join(project, ".raycai/c1/setup.log"))
      assert.matches("=== raycai setup [^\n]*fingerprint fp%-one", log)
      assert.matches("pip install [^\n]*%-%-find%-links [^\n]*%-%-no%-index", log)
      assert.matches("Successfully installed ray%-" .. RAY_VERSION:gsub("%.", "%%."), log)
      -- the marker is the newest file in the venv
      code, out = run { "python3", "-c", [[
import os, sys
venv = sys.argv[1]
marker = os.path.getmtime(os.path.join(venv, ".raycai-complete"))
newer = [os.path.join(d, f) for d, _, fs in os.walk(venv) for f in fs
         if f != ".raycai-complete" and os.path.getmtime(os.path.join(d, f)) > marker]
print("\n".join(newer))
sys.exit(1 if newer else 0)
]], venv }
      assert.equal(0, code, "files newer than the marker:\n" .. out)
      code, out = run { fs.join(venv, "bin/ray"), "--version" }
      assert.equal(0, code, out)
      assert.equal("ray, version " .. RAY_VERSION .. "\n", out)
    end)

    it("installs from setup.index_url, without --no-index", function()
      local index = fs.join(project, "simple")
      local code, out = run { "python3", "tests/support/stub_wheel.py", fs.join(index, "ray"),
                              RAY_VERSION }
      assert.equal(0, code, out)
      local wheel = fs.basename((out:gsub("%s+$", "")))
      assert(fs.write(fs.join(index, "ray/index.html"),
                      ('<a href="%s">%s</a>\n'):format(wheel, wheel)))
      local vars = setup_vars({ "ray==" .. RAY_VERSION }, "fp-index")
      vars.setup.find_links, vars.setup.index_url = nil, "file://" .. index
      code, out = run_setup(project, vars)
      assert.equal(0, code, out)
      assert.matches("pip install [^\n]*%-%-index%-url file://", out)
      assert.not_matches("%-%-no%-index", out)
      assert.not_matches("%-%-find%-links", out)
      assert.equal("fp-index\n", read(fs.join(project, ".raycai/venvs/fp-index/.raycai-complete")))
    end)

    it("leaves a complete venv alone on a second run", function()
      local vars = setup_vars({ "ray==" .. RAY_VERSION }, "fp-two")
      local code, out = run_setup(project, vars)
      assert.equal(0, code, out)
      local marker = fs.join(project, ".raycai/venvs/fp-two/.raycai-complete")
      local before = assert(fs.stat(marker))
      code, out = run_setup(project, vars)
      assert.equal(0, code, out)
      assert.matches("nothing to do", out)
      assert.not_matches("pip install", out)
      assert.same(before, assert(fs.stat(marker)))
      local log = read(fs.join(project, ".raycai/c1/setup.log"))
      local _, headers = log:gsub("=== raycai setup", "")
      local _, installs = log:gsub("pip install", "")
      assert.same({ 2, 1 }, { headers, installs })
    end)

    it("fails with the reason in the log when a package cannot be installed", function()
      local code, out = run_setup(project, setup_vars({ "ray==9.9.9" }, "fp-bad"))
      assert.equal(1, code, out)
      local log = read(fs.join(project, ".raycai/c1/setup.log"))
      assert.matches("No matching distribution found for ray==9%.9%.9", log)
      assert.matches("setup failed: pip install exited with status %d+", log)
      assert.is_false(fs.exists(fs.join(project, ".raycai/venvs/fp-bad/.raycai-complete")))
    end)

    it("fails with the tail of its output when the venv's ray command does not run", function()
      local broken = fs.join(project, "broken-links")
      local code, out = run { "python3", "tests/support/stub_wheel.py", broken, RAY_VERSION,
                              "--broken-cli" }
      assert.equal(0, code, out)
      local vars = setup_vars({ "ray==" .. RAY_VERSION }, "fp-broken")
      vars.setup.find_links = broken
      code, out = run_setup(project, vars)
      assert.equal(1, code, out)
      local log = read(fs.join(project, ".raycai/c1/setup.log"))
      assert.matches("import ray; print%(ray%.__version__%)'\n" .. RAY_VERSION:gsub("%.", "%%."), log)
      assert.matches("last lines of 'ray %-%-version':\n[^\n]*\n| .*is not a valid Sentinel", log)
      assert.matches("setup failed: the venv's ray command does not run %('ray %-%-version' "
                     .. "exited with status 1: ValueError: <object object at 0x%x+> is not a valid "
                     .. "Sentinel%)", log)
      assert.is_false(fs.exists(fs.join(project, ".raycai/venvs/fp-broken/.raycai-complete")))
    end)

    it("rebuilds a venv left incomplete by an earlier run", function()
      local venv = fs.join(project, ".raycai/venvs/fp-partial")
      assert(fs.mkdir(venv))
      assert(fs.write(fs.join(venv, "leftover"), "x"))
      local code, out = run_setup(project, setup_vars({ "ray==" .. RAY_VERSION }, "fp-partial"))
      assert.equal(0, code, out)
      assert.matches("removing incomplete venv", out)
      assert.is_false(fs.exists(fs.join(venv, "leftover")))
      assert.equal("fp-partial\n", read(fs.join(venv, ".raycai-complete")))
    end)
  end)

  describe("head and worker launchers", function()
    local project
    local n = 0

    setup(function()
      project = assert(fs.tempdir("raycai-cluster-"))
      local code, out = run_setup(project, vars_for("setup", {
        setup = { packages = { "ray==" .. RAY_VERSION }, find_links = links,
                  fingerprint = "fp-test", log = ".raycai/setup/setup.log" } }))
      assert(code == 0, out)
      code, out = run_setup(project, vars_for("setup", {
        venv = { dir = ".raycai/venvs/fp-old", python = "python3" },
        setup = { packages = { "ray==" .. OLD_RAY }, find_links = links,
                  fingerprint = "fp-old", log = ".raycai/setup/setup.log" } }))
      assert(code == 0, out)
    end)

    teardown(function()
      fs.remove(project, { recursive = true })
    end)

    --- A fresh cluster: its name, its scripts, its GCS port, its head.json path.
    local function new_cluster(over)
      n = n + 1
      local c = { name = "c" .. n }
      c.gcs = free_port()
      local vars = vars_for(c.name, over)
      vars.cluster.gcs_port = c.gcs
      c.head = install(project, "head.py", vars)
      c.worker = install(project, "worker.py", vars)
      c.head_json = fs.join(project, ".raycai", c.name, "head.json")
      return c
    end

    --- Start a launcher; returns the handle, its app port and its log path.
    local function launch(script, generation, extra_env)
      local port = free_port()
      local log = os.tmpname()
      logs[#logs + 1] = log
      local env = { CDSW_APP_PORT = tostring(port),
                    CDSW_IP_ADDRESS = script:match("head%.py$") and HEAD_IP or WORKER_IP,
                    RAYCAI_GENERATION = generation, HOME = project, RAY_HEAD_ADDRESS = false,
                    CDSW_ENGINE_ID = "eng-" .. port }
      for k, v in pairs(extra_env or {}) do env[k] = v end
      local p = spawn { "python3", script, env = env, cwd = project, stdout = log, stderr = log }
      return { p = p, port = port, log = log }
    end

    local function head_json(c)
      local text = fs.read(c.head_json)
      return text and cjson.decode(text)
    end

    local function start_head(c, generation)
      local h = launch(c.head, generation)
      wait_for("head.json of " .. generation, function()
        local info = head_json(c)
        return info and info.generation == generation
      end)
      return h
    end

    local function node_count(head)
      local dash = get_json(head.port)
      return dash and #dash.nodes
    end

    it("writes head.json with its address and generation and serves the dashboard", function()
      local c = new_cluster()
      local h = start_head(c, "g1")
      local info = head_json(c)
      assert.same({ HEAD_IP .. ":" .. c.gcs, "g1", "eng-" .. h.port, c.name },
                  { info.address, info.generation, info.engine_id, info.cluster })
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", info.started_at)
      local dash = get_json(h.port)
      assert.is_true(dash.head)
      assert.same({}, dash.nodes)
    end)

    it("lets two workers started before the head wait for it and join", function()
      local c = new_cluster()
      local w1, w2 = launch(c.worker, "g1"), launch(c.worker, "g1")
      for _, w in ipairs { w1, w2 } do
        wait_for("the worker to wait", function()
          return read(w.log):match("waiting up to [^\n]*head%.json of generation g1")
        end)
        assert.is_nil(get_json(w.port))
      end
      local h = start_head(c, "g1")
      wait_for("2 nodes on the dashboard", function() return node_count(h) == 2 end)
      for _, w in ipairs { w1, w2 } do
        local health = wait_for("worker health page", function() return get_json(w.port) end)
        assert.same({ "worker", "g1", HEAD_IP .. ":" .. c.gcs, c.name },
                    { health.role, health.generation, health.head_address, health.cluster })
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT", health.joined_at)
      end
      local dash = get_json(h.port)
      assert.same({ 2, 2 }, { dash.nodes[1].num_cpus, dash.nodes[2].num_cpus })
    end)

    it("ignores a head.json of an older generation until its own appears", function()
      local c = new_cluster()
      local dead = free_port()
      assert(fs.write(c.head_json, cjson.encode { address = "127.0.0.1:" .. dead,
                                                  generation = "g0" }))
      local w = launch(c.worker, "g1")
      wait_for("the worker to report the stale file", function()
        return read(w.log):match("ignoring [^\n]*head%.json of generation g0")
      end)
      assert.is_true(w.p:running())
      assert.is_nil(get_json(w.port))
      local h = start_head(c, "g1")
      wait_for("the worker to join", function() return node_count(h) == 1 end)
      assert.equal("g1", wait_for("health", function() return get_json(w.port) end).generation)
    end)

    for _, sig in ipairs { { "TERM", 15 }, { "INT", 2 } } do
      it("stops Ray on SIG" .. sig[1] .. ": Ray exits 1, the launcher's stop is clean (0)", function()
        local c = new_cluster()
        local h = start_head(c, "g1")
        local pids = group_pids(h.p:pid())
        assert.is_true(#pids >= 3, "the launcher, ray start and its subprocess: " .. #pids)
        assert(h.p:kill(sig[1]))
        local code = h.p:wait(WAIT)
        assert.equal(0, code, read(h.log))
        assert.is_nil(get_json(h.port))
        assert.is_false(fs.exists(c.head_json))
        local log = read(h.log)
        assert.matches("Ray stopped %(status 1%) after signal " .. sig[2], log)
        assert.matches("exiting with status 0", log)
        -- Ray's group (ray start and its subprocess) is gone too
        wait_for("Ray's processes to end", function()
          for _, pid in ipairs(pids) do if alive(pid) then return false end end
          return true
        end)
      end)
    end

    it("leaves no stub Ray behind when the launcher is killed outright", function()
      local c = new_cluster()
      local h = start_head(c, "g1")
      assert(h.p:kill("KILL"))
      assert.equal(128 + 9, h.p:wait(WAIT))
      wait_for("the orphaned stub to exit", function() return not get_json(h.port) end)
    end)

    it("exits non-zero when a worker's head stays away longer than Ray's reconnect grace", function()
      local c = new_cluster()
      local h = start_head(c, "g1")
      local w = launch(c.worker, "g1", { RAY_gcs_rpc_server_reconnect_timeout_s = "1" })
      wait_for("the worker to join", function() return node_count(h) == 1 end)
      assert(h.p:kill("TERM"))
      assert.equal(0, h.p:wait(WAIT))
      local code = w.p:wait(WAIT)
      assert.is_not_nil(code)
      assert.not_equal(0, code)
      local log = read(w.log)
      assert.matches("reconnecting for up to 1s", log)
      assert.matches("Failed to connect to GCS at [%d.]+:%d+ within 1 seconds", log)
      assert.matches("Ray exited on its own with status 1", log)
    end)

    it("leaves the cluster on SIGTERM to a worker", function()
      local c = new_cluster()
      local h = start_head(c, "g1")
      local w = launch(c.worker, "g1")
      wait_for("the worker to join", function() return node_count(h) == 1 end)
      assert(w.p:kill("TERM"))
      assert.equal(0, w.p:wait(WAIT), read(w.log))
      wait_for("the node to leave", function() return node_count(h) == 0 end)
    end)

    it("joins RAY_HEAD_ADDRESS without waiting for head.json", function()
      local c = new_cluster()
      local h = start_head(c, "g1")
      assert(os.remove(c.head_json))
      local w = launch(c.worker, "other", { RAY_HEAD_ADDRESS = HEAD_IP .. ":" .. c.gcs })
      wait_for("the worker to join", function() return node_count(h) == 1 end)
      assert.equal(HEAD_IP .. ":" .. c.gcs,
                   wait_for("health", function() return get_json(w.port) end).head_address)
    end)

    it("retries ray start and gives up after ray_start_retries attempts", function()
      local c = new_cluster { ray_start_retries = 2 }
      local w = launch(c.worker, "g1", { RAY_HEAD_ADDRESS = "127.0.0.1:" .. free_port() })
      local code = w.p:wait(WAIT)
      local log = read(w.log)
      assert.equal(1, code, log)
      assert.matches("attempt 1 of 2", log)
      assert.matches("attempt 2 of 2", log)
      assert.matches("could not join the head at 127%.0%.0%.1:%d+ after 2 attempts", log)
    end)

    it("gives up when no head.json of its generation appears in time", function()
      local c = new_cluster { timeouts = { head_wait = 0.5, ray_start = WAIT } }
      local w = launch(c.worker, "g1")
      assert.equal(1, w.p:wait(WAIT))
      assert.matches("no [^\n]*head%.json of generation g1 after 0%.5s", read(w.log))
    end)

    it("stops waiting for the head on SIGTERM", function()
      local c = new_cluster()
      local w = launch(c.worker, "g1")
      wait_for("the worker to wait", function()
        return read(w.log):match("waiting up to [^\n]*head%.json of generation g1")
      end)
      assert(w.p:kill("TERM"))
      assert.equal(0, w.p:wait(WAIT))
      assert.matches("stopped by signal 15 before joining", read(w.log))
    end)

    it("rejoins a head that comes back at its address within Ray's reconnect grace", function()
      local c = new_cluster()
      local h = start_head(c, "g1")
      local w = launch(c.worker, "g1", { RAY_gcs_rpc_server_reconnect_timeout_s = "60" })
      wait_for("the worker to join", function() return node_count(h) == 1 end)
      assert(h.p:kill("TERM"))
      assert.equal(0, h.p:wait(WAIT))
      wait_for("the worker's Ray to notice", function()
        return read(w.log):match("lost the GCS at [^\n]*reconnecting for up to 60s")
      end)
      local h2 = start_head(c, "g1")  -- the same pod address and GCS port, as after a restart
      wait_for("the worker to rejoin", function() return node_count(h2) == 1 end)
      assert.is_true(w.p:running())
      assert.matches("reconnected to the GCS at " .. HEAD_IP:gsub("%.", "%%.") .. ":" .. c.gcs, read(w.log))
      assert.equal("g1", assert(get_json(w.port)).generation)
    end)

    it("never publishes a loopback address when CDSW_IP_ADDRESS is missing", function()
      local c = new_cluster()
      local h = launch(c.head, "g1", { CDSW_IP_ADDRESS = false })
      wait_for("head.json or the launcher's end", function()
        return head_json(c) or not h.p:running()
      end)
      local info = head_json(c)
      if info then  -- this machine has a non-loopback address: the head uses it
        assert.is_nil(info.address:match("^127%."), info.address)
        assert.is_nil(info.address:match("^0%.0%.0%.0"), info.address)
        assert.matches("CDSW_IP_ADDRESS is not set; using this pod's address", read(h.log))
      else          -- it has none: the head refuses with one clear line
        assert.equal(1, h.p:wait(WAIT))
        assert.matches("CDSW_IP_ADDRESS is not set and this pod has no address but loopback",
                       read(h.log))
      end
    end)

    it("fails and publishes nothing when the dashboard cannot serve the app port", function()
      local c = new_cluster()
      local port = free_port()
      local blocker = spawn { "python3", "-c", ([[
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(500)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", %d), H).serve_forever()
]]):format(port) }
      wait_for("the port to be taken", function()
        local res = client:request { method = "GET", url = "http://127.0.0.1:" .. port .. "/" }
        return res and res.status == 500
      end)
      local h = launch(c.head, "g1", { CDSW_APP_PORT = tostring(port) })
      assert.equal(1, h.p:wait(WAIT))
      local log = read(h.log)
      assert.matches("Failed to start the dashboard on 127%.0%.0%.1:" .. port, log)
      assert.matches("ray start exited with status 1 before the head was up", log)
      assert.is_false(fs.exists(c.head_json))
      blocker:close()
    end)

    it("fails with one line when the dashboard answers GET / with an error, and publishes nothing", function()
      -- a "Ray" whose GCS is up but whose dashboard answers 503 to everything
      local venv = fs.join(project, ".raycai/venvs/fp-503")
      assert(fs.mkdir(fs.join(venv, "bin")))
      assert(fs.write(fs.join(venv, ".raycai-complete"), "fp-503\n"))
      local ray = fs.join(venv, "bin/ray")
      assert(fs.write(ray, [[#!/usr/bin/env python3
import http.server, socket, sys, threading
args = sys.argv[1:]
opt = lambda name: args[args.index(name) + 1]
gcs = socket.create_server((opt("--node-ip-address"), int(opt("--port"))))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(503)
    def log_message(self, *a):
        pass
dash = http.server.HTTPServer(("127.0.0.1", int(opt("--dashboard-port"))), H)
print("Ray runtime started.", flush=True)
dash.serve_forever()
]]))
      assert(fs.chmod(ray, tonumber("755", 8)))
      local c = new_cluster { venv = { dir = ".raycai/venvs/fp-503", python = "python3" },
                              setup = { packages = {}, fingerprint = "fp-503",
                                        log = ".raycai/setup/setup.log" },
                              timeouts = { head_wait = WAIT, ray_start = 3 } }
      local h = launch(c.head, "g1")
      assert.equal(1, h.p:wait(WAIT))
      local log = read(h.log)
      assert.matches("the Ray dashboard does not answer GET / on 127%.0%.0%.1:" .. h.port
                     .. " %(last answer: HTTP 503%) within 3s", log)
      assert.is_false(fs.exists(c.head_json))
      assert.matches("exiting with status 1", log)
    end)

    it("serves a Ray 2.40 head: its dashboard fails a probe without User-Agent, not the launcher's", function()
      local c = new_cluster { venv = { dir = ".raycai/venvs/fp-old", python = "python3" },
                              setup = { packages = {}, fingerprint = "fp-old",
                                        log = ".raycai/setup/setup.log" } }
      local h = start_head(c, "g1")
      assert.matches("%-%-include%-dashboard true", read(h.log))
      local code, out = run { "python3", "-c", [[
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.putrequest("GET", "/", skip_accept_encoding=True)
c.endheaders()
print(c.getresponse().status)
]], tostring(h.port) }
      assert.equal(0, code, out)
      assert.equal("500", (out:gsub("%s+$", "")))
      assert.equal(OLD_RAY, assert(get_json(h.port)).version)
    end)

    it("waits for the venv at most timeouts.setup, saying so, then names the setup job", function()
      -- issue 17: a launcher started during the setup job waits for its venv's marker
      local c = new_cluster { venv = { dir = ".raycai/venvs/missing", python = "python3" },
                              timeouts = { head_wait = WAIT, ray_start = WAIT, setup = 1 } }
      local h = launch(c.head, "g1")
      assert.equal(1, h.p:wait(WAIT))
      local log = read(h.log)
      assert.matches("waiting for the venv %.raycai/venvs/missing %(fingerprint fp%-test%)", log)
      assert.matches("venv %.raycai/venvs/missing is not ready", log)
      assert.matches("setup job of cluster '" .. c.name .. "'", log)
      assert.matches("timeouts%.setup", log)
      assert.is_false(fs.exists(c.head_json))
    end)

    it("ends the venv wait at once on the setup job's failure marker, quoting it", function()
      -- timeouts.setup is far beyond the test's deadline: only the marker can end the wait
      local c = new_cluster { venv = { dir = ".raycai/venvs/failed", python = "python3" },
                              timeouts = { head_wait = WAIT, ray_start = WAIT, setup = 3600 } }
      assert(fs.mkdir(project .. "/.raycai/venvs/failed"))
      assert(fs.write(project .. "/.raycai/venvs/failed/.raycai-failed",
                      "setup failed: pip install exited with status 1; last lines of setup.log:\nERROR: no-such-pkg\n"))
      for _, script in ipairs { c.head, c.worker } do
        local h = launch(script, "g1")
        assert.equal(1, h.p:wait(WAIT))
        local log = read(h.log)
        assert.matches("the setup job failed, so Ray cannot start: setup failed: pip install exited", log)
        assert.matches("ERROR: no%-such%-pkg", log)
      end
    end)

    -- (issue 16) the head's autostop watcher on its own: its API (CDSW_API_URL) is a port where
    -- nothing listens, so a teardown it attempts fails and is counted (attempts) and logged.
    describe("autostop watcher", function()
      local function dir_of(c) return fs.join(project, ".raycai", c.name) end

      local function watcher_state(c)
        local text = fs.read(fs.join(dir_of(c), "autostop.state.json"))
        return text and cjson.decode(text), text
      end

      local function settings(c, t)
        t.cluster = c.name
        assert(fs.write(fs.join(dir_of(c), "autostop.json"), cjson.encode(t)))
      end

      local function start_watched(c, extra)
        local env = { CDSW_API_URL = "http://127.0.0.1:" .. free_port() .. "/api/v1",
                      CDSW_APIV2_KEY = "workload-key-for-tests", CDSW_PROJECT_ID = "p1" }
        for k, v in pairs(extra or {}) do env[k] = v end
        local h = launch(c.head, "g1", env)
        wait_for("head.json of g1", function()
          local info = fs.read(c.head_json)
          return info and cjson.decode(info).generation == "g1"
        end)
        return h
      end

      --- Wait for a state that `ok` accepts; returns it and its text.
      local function wait_state(c, what, ok)
        return wait_for(what, function()
          local st, text = watcher_state(c)
          if st and ok(st) then return { st, text } end
        end)
      end

      it("writes its state file only when what it says changes (off: nothing every 2 s)", function()
        local c = new_cluster()
        settings(c, { idle_minutes = 0, generation = "probe-0" })
        start_watched(c)
        local last = wait_state(c, "the watcher to see probe-0", function(st)
          return st.verdict == "off" and st.settings and st.settings.generation == "probe-0"
        end)
        -- each probe (a change of the off settings) makes it write once, with its cycle count:
        -- a gap of 2 or more between two writes is a look that changed nothing and wrote nothing
        local gap, k = 0, 0
        while gap < 2 do
          k = k + 1
          assert(k <= 20, "the watcher's cycle count never advanced by 2 between two probes")
          clock.sleep(3)  -- longer than the 2 s between two looks while off
          assert.equal(last[2], select(2, watcher_state(c)), "the state file was rewritten with no change")
          settings(c, { idle_minutes = 0, generation = "probe-" .. k })
          local now = wait_state(c, "the watcher to see probe-" .. k, function(st)
            return st.settings and st.settings.generation == "probe-" .. k
          end)
          assert.equal("off", now[1].verdict)
          gap = math.max(gap, now[1].cycles - last[1].cycles)
          last = now
        end
        -- `true` is no number of minutes (raycai's status shows it off): off
        settings(c, { idle_minutes = true, generation = "g1" })
        local off = wait_state(c, "the watcher to read idle_minutes = true", function(st)
          return st.settings and st.settings.generation == "g1"
        end)
        assert.equal("off", off[1].verdict)
        -- not armed (another generation) with a tiny period: it looks again soon, but at most
        -- once per 0.05 s (AUTOSTOP_CHECK_MIN), not in a tight loop
        settings(c, { idle_minutes = 1e-6, generation = "other-1" })
        local t1 = clock.monotonic()
        local first = wait_state(c, "the watcher to be not armed", function(st)
          return st.settings and st.settings.generation == "other-1"
        end)
        assert.equal("not armed", first[1].verdict)
        clock.sleep(1)
        settings(c, { idle_minutes = 1e-6, generation = "other-2" })
        local second = wait_state(c, "the watcher to read other-2", function(st)
          return st.settings and st.settings.generation == "other-2"
        end)
        local looks = second[1].cycles - first[1].cycles
        assert.truthy(looks >= 1 and looks <= (clock.monotonic() - t1) / 0.05 + 2, second[2])
        -- armed but kept busy by a live lock: many looks (every 0.06 s), one write
        settings(c, { idle_minutes = 0.01, generation = "g1", lock_stale_after = 600 })
        assert(fs.write(fs.join(dir_of(c), "lock.json"), cjson.encode {
          token = "t-live", holder = "spec@test", action = "up", beat_at = math.floor(clock.time()), stale_after = 600 }))
        local busy = wait_state(c, "the watcher to see the lock", function(st) return st.verdict == "busy" end)
        clock.sleep(1)
        assert.equal(busy[2], select(2, watcher_state(c)), "the state file was rewritten with no change")
        os.remove(fs.join(dir_of(c), "lock.json"))
        local idle = wait_state(c, "the watcher to count idle time", function(st) return st.verdict ~= "busy" end)
        assert.truthy(idle[1].cycles - busy[1].cycles >= 2, idle[2])
      end)

      it("honours a lock as raycai does: while its silence is below the longer of its stale_after and timeouts.lock", function()
        local c = new_cluster()
        local d = dir_of(c)
        local function lock(t)
          t.holder, t.action = "spec@test", "up"
          assert(fs.write(fs.join(d, "lock.json"), cjson.encode(t)))
        end
        local now = math.floor(clock.time())
        -- the holder's own stale_after (1 s) passed 29 s ago; raycai's timeouts.lock (120 s) has not
        lock { token = "t1", beat_at = now - 30, stale_after = 1 }
        settings(c, { idle_minutes = 0.01, generation = "g1", lock_stale_after = 120 })
        start_watched(c)
        local busy = wait_state(c, "the watcher to honour the lock", function(st) return st.verdict == "busy" end)
        assert.matches("holds the cluster's lock %(up of spec@test%)", busy[1].reason)
        clock.sleep(1)  -- ~16 periods of 0.6 s / 10: still nothing attempted
        local st = watcher_state(c)
        assert.same({ "busy", 0 }, { st.verdict, st.attempts })
        -- a heartbeat of that lock 10 s ago does not change that; a malformed one does not count
        assert(fs.write(fs.join(d, "lock.beat.t1." .. (now - 10) .. ".json"), "{}"))
        assert(fs.write(fs.join(d, "lock.beat.t1.99999999999.5.json"), "{}"))
        -- the holder's stale_after is the longer one: 1000 s
        lock { token = "t1", beat_at = now - 200, stale_after = 1000 }
        clock.sleep(1)
        assert.same({ "busy", 0 }, { watcher_state(c).verdict, watcher_state(c).attempts })
        -- without lock_stale_after in autostop.json, raycai's default (600 s) is the watcher's own
        os.remove(fs.join(d, "lock.beat.t1." .. (now - 10) .. ".json"))
        lock { token = "t1", beat_at = now - 200, stale_after = 1 }
        settings(c, { idle_minutes = 0.01, generation = "g1" })
        clock.sleep(1)
        assert.same({ "busy", 0 }, { watcher_state(c).verdict, watcher_state(c).attempts })
        -- silent longer than both (120 s, as autostop.json says again, and 1 s): stale, so idle,
        -- and after the idle period the watcher tries to stop the cluster (its API is away)
        settings(c, { idle_minutes = 0.01, generation = "g1", lock_stale_after = 120 })
        wait_state(c, "the watcher to try a teardown", function(s) return s.attempts >= 1 end)
        local log = read(fs.join(d, "logs", "autostop.log"))
        assert.matches("could not stop the cluster: GET /projects/p1/applications: the API is unreachable", log)
      end)

      it("never writes a key that an HTTP header cannot carry, and keeps the head running", function()
        local c = new_cluster()
        settings(c, { idle_minutes = 0.01, generation = "g1" })
        local key = "s3cret-part-one\ns3cret-part-two"
        local h = start_watched(c, { CDSW_APIV2_KEY = key })
        wait_state(c, "two failed attempts", function(st) return st.attempts >= 2 end)
        local log = read(fs.join(dir_of(c), "logs", "autostop.log"))
        assert.matches("could not stop the cluster: CDSW_APIV2_KEY of this workload has characters an HTTP "
                       .. "header cannot carry", log)
        local token = read(fs.join(dir_of(c), "auth", "g1.token")):match("%x+")
        assert.truthy(token)
        for _, text in ipairs { log, read(h.log), read(fs.join(dir_of(c), "logs", "head.log")),
                                read(fs.join(dir_of(c), "autostop.state.json")) } do
          for _, secret in ipairs { "s3cret-part-one", "s3cret-part-two", token } do
            assert.is_nil(text:find(secret, 1, true))
          end
        end
        -- a Ray token with a line break: http.client refuses the dashboard request quoting the
        -- header; the watcher counts that as not idle and writes the reason without the token
        local bad = { "0123abcd4567ef89", "fedc9876ba543210" }
        assert(fs.write(fs.join(dir_of(c), "auth", "g1.token"), bad[1] .. "\n" .. bad[2] .. "\n"))
        local st = wait_state(c, "the watcher to see Ray's activity as unknown", function(x)
          return x.verdict == "unknown"
        end)
        assert.matches("did not answer", st[1].reason)
        for _, text in ipairs { st[2], read(fs.join(dir_of(c), "logs", "autostop.log")), read(h.log) } do
          for _, secret in ipairs(bad) do assert.is_nil(text:find(secret, 1, true), text) end
        end
        assert.is_true(h.p:running())
        assert.equal(200, (client:request { method = "GET", url = "http://127.0.0.1:" .. h.port .. "/",
                                            headers = { ["User-Agent"] = "raycai-tests" } }).status)
      end)
    end)
  end)

  -- CML may run a script inside the runtime's kernel: exec() of its text, no __file__, a
  -- SystemExit caught by the runner. The scripts are run here from a copy outside the project,
  -- with HOME and the current folder elsewhere too, so only the rendered project path leads to
  -- the project.
  describe("under a kernel-style runner", function()
    local project, elsewhere, runner

    local RUNNER = [[
import sys
path = sys.argv[1]
sys.argv = ["kernel"] + sys.argv[2:]
ns = {"__name__": "__main__"}
try:
    exec(compile(open(path).read(), "<cell>", "exec"), ns)
except SystemExit as e:
    print("runner: caught SystemExit(%r)" % (e.code,), flush=True)
print("runner: the script returned", flush=True)
sys.exit(99)
]]

    local function vars(over)
      local v = vars_for("k1", over)
      v.project = { dir = project }
      v.setup.find_links = links
      return v
    end

    --- Render `name` into the project (as raycai uploads it) and a copy outside it; run the copy.
    local function kernel_run(name, v, env)
      install(project, name, v)
      local copy = fs.join(elsewhere, name)
      assert(fs.write(copy, render(name, v)))
      local log = os.tmpname()
      logs[#logs + 1] = log
      env = env or {}
      for k, val in pairs(PIP_ENV) do env[k] = val end
      env.HOME = elsewhere
      local p = spawn { "python3", runner, copy, env = env, cwd = elsewhere, stdout = log, stderr = log }
      return { p = p, log = log }
    end

    setup(function()
      project = assert(fs.tempdir("raycai-kproj-"))
      elsewhere = assert(fs.tempdir("raycai-kelse-"))
      runner = fs.join(elsewhere, "runner.py")
      assert(fs.write(runner, RUNNER))
    end)

    teardown(function()
      fs.remove(project, { recursive = true })
      fs.remove(elsewhere, { recursive = true })
    end)

    it("setup_venv.py builds the project's venv and exits 0, then 1 for a package it cannot get", function()
      local r = kernel_run("setup_venv.py", vars())
      assert.equal(0, r.p:wait(WAIT * 2), read(r.log))
      assert.equal("fp-test\n", read(fs.join(project, ".raycai/venvs/fp-test/.raycai-complete")))
      assert.matches("setup complete", read(fs.join(project, ".raycai/k1/setup.log")))
      assert.not_matches("runner:", read(r.log))
      local bad = vars { venv = { dir = ".raycai/venvs/fp-bad", python = "python3" } }
      bad.setup.packages, bad.setup.fingerprint = { "ray==9.9.9" }, "fp-bad"
      r = kernel_run("setup_venv.py", bad)
      assert.equal(1, r.p:wait(WAIT * 2), read(r.log))
      assert.not_matches("runner:", read(r.log))
    end)

    it("head.py and worker.py find the project, run, and stop cleanly (0); a failure stays 1", function()
      local v = vars()
      v.cluster.gcs_port = free_port()
      local hport, wport = free_port(), free_port()
      local h = kernel_run("head.py", v, { CDSW_APP_PORT = tostring(hport), CDSW_IP_ADDRESS = HEAD_IP,
                                           RAYCAI_GENERATION = "g1", RAY_HEAD_ADDRESS = false })
      local head_json = fs.join(project, ".raycai/k1/head.json")
      wait_for("head.json in the project", function() return fs.exists(head_json) end)
      local w = kernel_run("worker.py", v, { CDSW_APP_PORT = tostring(wport), CDSW_IP_ADDRESS = WORKER_IP,
                                             RAYCAI_GENERATION = "g1", RAY_HEAD_ADDRESS = false })
      wait_for("the worker's health page", function() return get_json(wport) end)
      for _, r in ipairs { w, h } do
        assert(r.p:kill("TERM"))
        assert.equal(0, r.p:wait(WAIT), read(r.log))
        assert.matches("exiting with status 0", read(r.log))
        assert.not_matches("runner:", read(r.log))
      end
      local bad = kernel_run("head.py", v, { CDSW_APP_PORT = tostring(hport), RAYCAI_GENERATION = false })
      assert.equal(1, bad.p:wait(WAIT), read(bad.log))
      assert.matches("RAYCAI_GENERATION is not set", read(bad.log))
      assert.not_matches("runner:", read(bad.log))
    end)
  end)
end)
