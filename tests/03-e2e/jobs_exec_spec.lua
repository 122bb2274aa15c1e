-- Day-2 commands (issue 15) for real: cml-sim in exec mode runs the setup job, the launchers and
-- the submitter job (the entrypoint as a stub-Ray driver); raycai follows the output through the
-- files API.
local exec = require "support.exec"
local run = require "support.run"
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local cjson = require "cjson"

local GPU = "recipes/gpu_cluster.lua"
local free_port = require("support.ports").free


describe("submit, job, env against a cluster in exec mode", function()
  local s, wheels, env, base

  setup(function()
    wheels = exec.wheels()
    s = exec.sim()
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    base = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. free_port(),
             "--set", "workers=1", "--set", "timeouts.head=120", "--set", "timeouts.workers=120", GPU }
    local r = run.raycai(base, { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
  end)

  teardown(function()
    if s then s:stop() end
    if wheels then fs.remove(wheels, { recursive = true }) end
  end)

  local function raycai(args, opts)
    local argv = { table.unpack(base) }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return run.raycai(argv, { env = env, timeout = (opts and opts.timeout) or 120 })
  end

  --- The simulator's runs of the CML job called name.
  local function runs_of(name)
    local st = s:state()
    local id
    for _, j in ipairs(st.jobs or {}) do if j.name == name then id = j.id end end
    local n = 0
    for _, r in ipairs(st.runs or {}) do if r.job_id == id then n = n + 1 end end
    return n
  end

  it("submit -- python -c \"print('hello')\" prints hello and exits 0", function()
    local r = raycai { "submit", "--name", "hello", "--", "python", "-c", "print('hello')" }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("hello\n", r.stdout)
    local st = raycai { "job", "status", "hello" }
    assert.equal(0, st.code, st.stderr)
    assert.matches("hello: SUCCEEDED", st.stdout)
  end)

  it("the entrypoint is a Ray driver: ray.init() connects with RAY_ADDRESS", function()
    local r = raycai { "submit", "--", "python", "-c", "import ray; ray.init(); print('driver ok')" }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("Connected to Ray cluster at 127%.0%.0%.%d+:%d+", r.stdout)
    assert.matches("driver ok", r.stdout)
  end)

  it("an entrypoint exiting 3 makes submit exit 1 and job status say FAILED", function()
    local r = raycai { "submit", "--name", "three", "--", "python", "-c", "import sys; sys.exit(3)" }
    assert.equal(1, r.code, r.stderr .. r.stdout)
    assert.matches("FAILED", r.stderr)
    local st = raycai { "job", "status", "three" }
    assert.matches("three: FAILED %(entrypoint exited with status 3%)", st.stdout)
    local list = raycai { "job", "list" }
    assert.matches("three%s+FAILED", list.stdout)
    assert.matches("hello%s+SUCCEEDED", list.stdout)
  end)

  it("output.log is rotated past RAYCAI_OUTPUT_LOG_MAX bytes, one previous part kept", function()
    local r = raycai { "submit", "--name", "chatty", "--env", "RAYCAI_OUTPUT_LOG_MAX=64", "--", "python", "-c",
                       "for i in range(20): print('line %02d' % i)" }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    local project
    for _, pr in ipairs(s:state().projects or {}) do if pr.name == "ray-gpu" then project = pr end end
    local dir = s:state().work_dir .. "/projects/" .. project.id .. "/.raycai/gpu/jobs/chatty/"
    local function lines(from, to)
      local t = {}
      for i = from, to do t[#t + 1] = ("line %02d\n"):format(i) end
      return table.concat(t)
    end
    -- 8 bytes a line, 64 a part: 00-07, then 08-15 (output.log.1), then 16-19
    assert.equal(lines(16, 19), fs.read(dir .. "output.log"))
    assert.equal(lines(8, 15), fs.read(dir .. "output.log.1"))
  end)

  it("--working-dir, --env reach the entrypoint; a finished --name needs --rerun", function()
    local r = raycai { "submit", "--name", "wd", "--working-dir", ".raycai", "--env", "GREETING=hi there",
                       "--", "sh", "-c", "echo \"$GREETING from $(basename \"$PWD\")\"" }
    assert.equal(0, r.code, r.stderr .. r.stdout)
    assert.matches("hi there from %.raycai", r.stdout)
    local again = raycai { "submit", "--name", "wd", "--", "true" }
    assert.equal(2, again.code)
    assert.matches("%-%-rerun", again.stderr)
    local rerun = raycai { "submit", "--name", "wd", "--rerun", "--", "echo", "second" }
    assert.equal(0, rerun.code, rerun.stderr)
    assert.matches("second", rerun.stdout)
    assert.equal(2, runs_of("raycai-gpu-submit-wd"))
  end)

  it("--detach, then job logs -f follows to the end; the same --name while running attaches", function()
    local script = "import time\nfor i in range(4):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n"
    local r = raycai { "submit", "--name", "slow", "--detach", "--", "python", "-c", script }
    assert.equal(0, r.code, r.stderr)
    assert.matches("job logs %-f slow", r.stdout)
    local again = raycai { "submit", "--name", "slow", "--", "python", "-c", script }
    assert.equal(0, again.code, again.stderr .. again.stdout)
    assert.matches("attaching", again.stderr)
    assert.equal(1, runs_of("raycai-gpu-submit-slow"))
    local logs = raycai { "job", "logs", "-f", "slow" }
    assert.equal(0, logs.code, logs.stderr)
    assert.matches("tick 0\ntick 1\ntick 2\ntick 3\n", logs.stdout)
  end)

  it("Ctrl-C stops the submission: exit 130, job status STOPPED", function()
    local out = os.tmpname()
    local argv = { run.exe }
    for _, a in ipairs(base) do argv[#argv + 1] = a end
    for _, a in ipairs { "submit", "--name", "sleepy", "--", "python", "-c",
                         "import time; print('started', flush=True); time.sleep(60)" } do

      argv[#argv + 1] = a
    end
    argv.env, argv.stdout, argv.stderr, argv.kill_on_close = env, out, out, true
    local p = assert(proc.spawn(argv))
    s:wait_for(function() return (fs.read(out) or ""):find("\nstarted\n", 1, true) end, 60, "the entrypoint's output")
    p:kill("INT")
    local code = p:wait(60)
    p:close()
    local text = fs.read(out) or ""
    os.remove(out)
    run.assert_no_secret(text)
    assert.equal(130, code, text)
    assert.matches("stopped submission sleepy", text)
    local last
    local ok = pcall(s.wait_for, s, function()
      last = raycai { "job", "status", "sleepy" }
      return last.stdout:find("sleepy: STOPPED", 1, true)
    end, 30, "the submission to be STOPPED")
    if not ok then
      local runs = {}
      for _, r in ipairs(s:state().runs or {}) do
        runs[#runs + 1] = r.id .. " " .. r.status .. "\n" .. (s:log("runs", r.id) or "")
      end
      error(last.stdout .. last.stderr .. table.concat(runs, "\n"))
    end
  end)

  it("bad input: no entrypoint, a working dir outside the project, an unknown id: exit 2", function()
    local before = #(s:state().jobs or {})
    local r = raycai { "submit" }
    assert.equal(2, r.code)
    assert.matches("needs an entrypoint", r.stderr)
    r = raycai { "submit", "--working-dir", "../x", "--", "true" }
    assert.equal(2, r.code)
    assert.matches("outside the project", r.stderr)
    r = raycai { "submit", "--working-dir", "/etc", "--", "true" }
    assert.equal(2, r.code)
    assert.equal(before, #(s:state().jobs or {}))
    r = raycai { "job", "status", "nope" }
    assert.equal(2, r.code)
    assert.matches("unknown submission 'nope'; the cluster's submissions: .*hello", r.stderr)
  end)

  it("env output, eval'ed in a shell, lets a stub driver connect", function()
    local r = raycai { "env" }
    assert.equal(0, r.code, r.stderr)
    assert.matches("export RAY_ADDRESS='127%.0%.0%.%d+:%d+'", r.stdout)
    local j = raycai { "--json", "env" }
    local ev
    for line in j.stdout:gmatch("[^\n]+") do
      local e = cjson.decode(line)
      if e.event == "env" then ev = e end
    end
    assert.truthy(ev and ev.RAY_ADDRESS, j.stdout)
    local project
    for _, pr in ipairs(s:state().projects or {}) do if pr.name == "ray-gpu" then project = pr end end
    local home = s:state().work_dir .. "/projects/" .. project.id
    local sh = os.tmpname()
    local f = assert(io.open(sh, "w"))
    f:write(r.stdout, "\npython -c 'import ray; ray.init(); print(\"session driver ok\")'\n")
    f:close()
    local out = os.tmpname()
    local p = assert(proc.spawn { "sh", sh, env = { HOME = home, PATH = os.getenv("PATH") }, stdout = out, stderr = out })
    assert.equal(0, p:wait(60), fs.read(out))
    p:close()
    assert.matches("session driver ok", fs.read(out))
    -- the cluster runs Ray's token authentication: env names the token file, never the token
    assert.matches("export RAY_AUTH_MODE=token", r.stdout)
    local token_path = r.stdout:match("export RAY_AUTH_TOKEN_PATH=\"%$HOME\"/'([^']+)'")
    assert.truthy(token_path, r.stdout)
    local token = assert(fs.read(home .. "/" .. token_path)):match("%x+")
    assert.equal(64, #token)
    assert.not_matches(token, r.stdout .. j.stdout)
    -- and a driver without the token is refused by the head
    f = assert(io.open(sh, "w"))
    f:write(r.stdout, "\nunset RAY_AUTH_TOKEN_PATH\npython -c 'import ray; ray.init()'\n")
    f:close()
    p = assert(proc.spawn { "sh", sh, env = { HOME = home, PATH = os.getenv("PATH") }, stdout = out, stderr = out })
    assert.are_not.equal(0, p:wait(60))
    p:close()
    assert.matches("AuthenticationError", fs.read(out))
    os.remove(sh)
    os.remove(out)
  end)

  it("a submitter that cannot reach the head: exit 1 naming the head's state and the logs command", function()
    local project
    for _, pr in ipairs(s:state().projects or {}) do if pr.name == "ray-gpu" then project = pr end end
    local path = s:state().work_dir .. "/projects/" .. project.id .. "/.raycai/gpu/head.json"
    local original = assert(fs.read(path))
    local info = cjson.decode(original)
    info.address = info.address:gsub(":%d+$", ":" .. free_port())  -- nothing listens there
    assert(fs.write(path, cjson.encode(info)))
    local r = raycai { "submit", "--", "true" }
    assert(fs.write(path, original))
    assert.equal(1, r.code, r.stderr)
    assert.matches("cannot reach the Ray head at", r.stderr)
    assert.matches("head application raycai%-gpu%-head is APPLICATION_RUNNING%); see raycai%-run .* logs head", r.stderr)
  end)

  it("logs head shows the head launcher's lines; an unknown target lists the valid ones", function()
    local r = raycai { "logs", "head" }
    assert.equal(0, r.code, r.stderr)
    assert.matches("raycai head: Ray head of generation %S+ is up at 127%.0%.0%.%d+", r.stdout)
    local t = raycai { "logs", "head", "--tail", "1" }
    assert.equal(1, select(2, t.stdout:gsub("\n", "")))
    local bad = raycai { "logs", "nope" }
    assert.equal(2, bad.code)
    assert.matches("valid targets: setup, head, worker%-1, worker, job ", bad.stderr)
    local setup_log = raycai { "logs", "setup" }
    assert.matches("setup complete", setup_log.stdout)
  end)

  it("after down, logs worker-1 still shows that worker's lines and Ray session logs", function()
    local d = run.raycai({ GPU, "down" }, { env = env, timeout = 120 })
    assert.equal(0, d.code, d.stderr)
    local r = raycai { "logs", "worker-1" }
    assert.equal(0, r.code, r.stderr)
    assert.matches("raycai worker: joined", r.stdout)
    assert.matches("==> %.raycai/gpu/logs/worker%-1%.ray/raylet%.out <==", r.stdout)
    assert.matches("Ray runtime started", r.stdout:match("raylet%.out <==(.*)$"))
    local out = fs.tempdir("raycai-logs")
    local t = raycai { "logs", "--out-dir", out }
    assert.equal(0, t.code, t.stderr)
    assert.truthy(fs.read(out .. "/logs/head.ray/gcs_server.out"))
    assert.truthy(fs.read(out .. "/jobs/hello/output.log"):find("hello", 1, true))
    fs.remove(out, { recursive = true })
    -- down --purge deletes the submitter jobs with the cluster's files
    local p = run.raycai({ GPU, "down", "--purge" }, { env = env, timeout = 120 })
    assert.equal(0, p.code, p.stderr)
    for _, j in ipairs(s:state().jobs or {}) do assert.falsy(j.name:match("^raycai%-gpu%-submit%-"), j.name) end
  end)
end)
