-- raycai.cml retry policy against cml-sim faults: Retry-After, 5xx bursts, drops, deadlines,
-- no duplicate after an ambiguous create, no retry storm on 401, SIGINT during a wait.
local cml = require("raycai.cml")
local clock = require("raycai.clock")
local proc = require("raycai.proc")
local sim = require("support.sim")

local KEY = "retry-spec-key-9876543210"


describe("raycai.cml retries", function()
  local s, c, pid, runtime

  -- Requests in the sim's log with this method whose path ends with suffix.
  local function count(method, suffix)
    local n = 0
    for _, r in ipairs(s:requests()) do
      if r.method == method and r.path:sub(-#suffix) == suffix then
        n = n + 1
      end
    end
    return n
  end

  local function app_body(name)
    return { name = name, subdomain = name, script = "app.py", runtime_identifier = runtime }
  end

  local function apps_named(name)
    local n = 0
    for item in c:each("list_applications", pid, { search_filter = { name = name } }) do
      if item.name == name then
        n = n + 1
      end
    end
    return n
  end

  setup(function()
    s = sim.start { exec = false, api_key = KEY }
    c = assert(cml.client { host = s.url, api_key = KEY, timeout = 5, retries = 5, deadline = 30 })
    pid = assert(c:create_project { name = "retry" }).id
    assert(c:upload_file(pid, "app.py", "print(1)\n"))
    runtime = assert(c:list_runtimes()).runtimes[1].image_identifier
  end)

  teardown(function()
    c:close()
    s:stop()
  end)

  before_each(function()
    s:clear_requests()
  end)

  describe("safe calls", function()
    it("honour Retry-After on 429", function()
      s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" }, action = "status",
        status = 429, retry_after = 1, count = 1 }
      local t0 = clock.monotonic()
      assert(c:list_projects())
      local elapsed = clock.monotonic() - t0
      assert.is_true(elapsed >= 1.0, "elapsed " .. elapsed)
      assert.equal(2, count("GET", "/api/v2/projects"))
    end)

    it("retry a burst of 503, 502 and 504 with backoff", function()
      for _, status in ipairs { 503, 502, 504 } do
        s:clear_requests()
        s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" }, action = "status",
          status = status, count = 3 }
        assert(c:get_project(pid))
        assert.equal(4, count("GET", "/api/v2/projects/" .. pid))
      end
    end)

    it("retry dropped connections", function()
      s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" }, action = "drop",
        count = 2 }
      assert(c:get_project(pid))
      assert.equal(3, count("GET", "/api/v2/projects/" .. pid))
    end)

    it("give up after `retries` retries and say so", function()
      local few = assert(cml.client { host = s.url, api_key = KEY, retries = 2 })
      s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" }, action = "status",
        status = 503, count = 3 }
      local r, err = few:get_project(pid)
      assert.is_nil(r)
      assert.equal(503, err.status)
      assert.is_true(err.retryable)
      assert.equal(3, err.attempts)
      assert.matches("gave up after 3 attempts", tostring(err))
      assert.equal(3, count("GET", "/api/v2/projects/" .. pid))
      few:close()
    end)

    it("do not wait past the deadline for a long Retry-After", function()
      local short = assert(cml.client { host = s.url, api_key = KEY, deadline = 2 })
      s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" }, action = "status",
        status = 429, retry_after = 600, count = 1 }
      local r, err = short:list_projects()
      assert.is_nil(r)
      assert.equal(429, err.status)
      -- it gave up instead of waiting: the throttled request was the only one sent
      assert.equal(1, count("GET", "/api/v2/projects"))
      short:close()
    end)

    it("treat 404 after an ambiguous DELETE as done", function()
      -- app_stop=0: the delete removes the application at once (no lingering STOPPING), so the
      -- retried DELETE meets a 404
      s:control("POST", "/_sim/delays", { app_stop = 0 })
      local app = assert(c:create_application(pid, app_body("del-once")))
      s:fault { match = { method = "DELETE", path_prefix = "/api/v2/projects/" .. pid
        .. "/applications/" }, action = "drop", apply = true, count = 1 }
      assert(c:delete_application(pid, app.id))
      assert.equal(2, count("DELETE", "/applications/" .. app.id))
      assert.equal(0, apps_named("del-once"))
      s:control("POST", "/_sim/delays", { app_stop = 100 })
    end)
  end)

  describe("401", function()
    it("is never retried", function()
      local bad = assert(cml.client { host = s.url, api_key = "not-the-key", retries = 5 })
      local r, err = bad:list_projects()
      assert.is_nil(r)
      assert.equal(401, err.status)
      assert.equal(1, count("GET", "/api/v2/projects"))
      bad:close()
    end)
  end)

  describe("creates", function()
    it("find the application after a timeout when the server did create it", function()
      local quick = assert(cml.client { host = s.url, api_key = KEY, timeout = 0.5 })
      s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "slow",
        delay_ms = 1500, apply = true, count = 1 }
      local app, err = quick:create_application(pid, app_body("slow-app"))
      assert(app, tostring(err))
      assert.equal("slow-app", app.name)
      assert.equal(1, count("POST", "/applications"))
      assert.equal(1, apps_named("slow-app"))
      quick:close()
    end)

    it("find the application after a dropped connection when the server did create it", function()
      s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "drop",
        apply = true, count = 1 }
      local app, err = c:create_application(pid, app_body("drop-app"))
      assert(app, tostring(err))
      assert.equal(1, count("POST", "/applications"))
      assert.equal(1, apps_named("drop-app"))
    end)

    it("find the application after a 502 from a server that did create it", function()
      s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "status",
        status = 502, apply = true, count = 1 }
      local app, err = c:create_application(pid, app_body("gw-app"))
      assert(app, tostring(err))
      assert.equal(1, count("POST", "/applications"))
      assert.equal(1, apps_named("gw-app"))
    end)

    it("create again after a drop when the server did nothing", function()
      s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "drop",
        count = 1 }
      local app, err = c:create_application(pid, app_body("lost-app"))
      assert(app, tostring(err))
      assert.equal(2, count("POST", "/applications"))
      assert.equal(1, apps_named("lost-app"))
    end)

    it("retry a 503 without looking up", function()
      s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "status",
        status = 503, count = 2 }
      local app, err = c:create_application(pid, app_body("busy-app"))
      assert(app, tostring(err))
      assert.equal(3, count("POST", "/applications"))
      assert.equal(0, count("GET", "/applications"))
      assert.equal(1, apps_named("busy-app"))
    end)

    it("make no duplicate in a concurrent create with ambiguous failures", function()
      s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "drop",
        apply = true, count = 3 }
      local bodies = {}
      for i = 1, 6 do
        bodies[i] = app_body("par-" .. i)
      end
      local out = c:create_applications(pid, bodies, { parallel = 6 })
      for i = 1, 6 do
        assert(out[i][1], tostring(out[i][2]))
        assert.equal("par-" .. i, out[i][1].name)
        assert.equal(1, apps_named("par-" .. i))
      end
      assert.equal(6, count("POST", "/applications"))
    end)

    it("find the project after a timeout", function()
      local quick = assert(cml.client { host = s.url, api_key = KEY, timeout = 0.5 })
      s:fault { match = { method = "POST", path_suffix = "/api/v2/projects" }, action = "slow",
        delay_ms = 1500, apply = true, count = 1 }
      local p, err = quick:create_project { name = "slow-project" }
      assert(p, tostring(err))
      assert.equal(1, count("POST", "/api/v2/projects"))
      assert.equal(1, #assert(c:all("list_projects", { search_filter = { name = "slow-project" } })))
      quick:close()
    end)

    it("find the job run after a dropped connection", function()
      local job = assert(c:create_job(pid, { name = "j", script = "app.py",
        runtime_identifier = runtime }))
      s:clear_requests()
      s:fault { match = { method = "POST", path_suffix = "/runs" }, action = "drop",
        apply = true, count = 1 }
      local run, err = c:create_job_run(pid, job.id)
      assert(run, tostring(err))
      assert.equal(1, count("POST", "/runs"))
      assert.equal(1, #assert(c:list_job_runs(pid, job.id)).job_runs)
    end)

    it("do not upload a file twice after a dropped upload that arrived", function()
      s:fault { match = { method = "POST", path_suffix = "/files" }, action = "drop",
        apply = true, count = 1 }
      assert(c:upload_file(pid, "once/data.txt", "0123456789"))
      assert.equal(1, count("POST", "/files"))
      local l = assert(c:list_files(pid, "once"))
      assert.equal(1, #l.files)
    end)
  end)

  describe("unsafe calls", function()
    it("do not retry a restart after a dropped connection", function()
      local app = assert(c:create_application(pid, app_body("restart-once")))
      s:clear_requests()
      s:fault { match = { method = "POST", path_suffix = ":restart" }, action = "drop",
        count = 1 }
      local r, err = c:restart_application(pid, app.id)
      assert.is_nil(r)
      assert.equal("dropped", err.kind)
      assert.equal(1, count("POST", ":restart"))
    end)
  end)

  describe("interruption", function()
    it("stops a retry wait on SIGINT", function()
      clock.trap_interrupts()
      clock.clear_interrupt()
      s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" }, action = "status",
        status = 429, retry_after = 10, count = 1 }  -- within the client's deadline
      local killer = assert(proc.spawn { "sh", "-c", "sleep 0.3; kill -INT $PPID" })
      -- the retry would wait 10 s: only the interrupt ends the call early
      local r, err = c:list_projects()
      killer:wait(5)
      killer:close()
      clock.clear_interrupt()
      assert.is_nil(r)
      assert.equal("interrupted", err.kind)
      assert.equal(1, count("GET", "/api/v2/projects"))
    end)
  end)
end)
