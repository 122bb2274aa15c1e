-- raycai.cml against cml-sim: every method, pagination, environment decoding, error objects.
local cml = require("raycai.cml")
local sim = require("support.sim")

local KEY = "client-spec-key-0123456789"


describe("raycai.cml", function()
  local s, c, runtime, logged

  -- A project with app.py uploaded; returns its id.
  local function project(name)
    local p = assert(c:create_project { name = name })
    assert(c:upload_file(p.id, "app.py", "print('hi')\n"))
    return p.id
  end

  setup(function()
    s = sim.start { exec = false, api_key = KEY }
    logged = {}
    c = assert(cml.client { host = s.url, api_key = KEY, timeout = 10, retries = 0,
      log = function(line) logged[#logged + 1] = line end })
    local rts = assert(c:list_runtimes { page_size = 100 })
    for _, r in ipairs(rts.runtimes) do
      if r.status == nil or r.status == "ENABLED" then
        runtime = r.image_identifier
        break
      end
    end
    assert(runtime, "the simulator lists no enabled runtime")
  end)

  teardown(function()
    c:close()
    s:stop()
  end)

  describe("client()", function()
    it("adds https:// to a bare domain and strips a trailing /api/v2", function()
      local a = assert(cml.client { host = "ml-x.example.com", api_key = "norm-key-1" })
      assert.equal("https://ml-x.example.com", a.base)
      local b = assert(cml.client { host = "https://ml-x.example.com/api/v2/",
        api_key = "norm-key-2" })
      assert.equal("https://ml-x.example.com", b.base)
    end)

    it("returns nil and a message naming the variable without a key", function()
      local a, err = cml.client { host = "ml-x.example.com" }
      assert.is_nil(a)
      assert.matches("CML_API_KEY", err)
    end)

    it("does not keep the key in a field of the client", function()
      for _, v in pairs(c) do
        assert.not_equal(KEY, v)
      end
    end)
  end)

  describe("config_from_env()", function()
    local function env(t)
      return function(k) return t[k] end
    end

    it("names CML_HOST when it is missing", function()
      local o, err = cml.config_from_env(env { CML_API_KEY = "env-key-1" })
      assert.is_nil(o)
      assert.matches("CML_HOST", err)
    end)

    it("names CML_API_KEY when no key is given", function()
      local o, err = cml.config_from_env(env { CML_HOST = "h" })
      assert.is_nil(o)
      assert.matches("CML_API_KEY", err)
    end)

    it("reads and trims CML_API_KEY_FILE", function()
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write("  file-key-abc\n\n")
      f:close()
      local o = assert(cml.config_from_env(env { CML_HOST = "h", CML_API_KEY_FILE = path }))
      os.remove(path)
      assert.equal("file-key-abc", o.api_key)
      assert.equal("h", o.host)
    end)

    it("names CML_API_KEY_FILE when the file cannot be read", function()
      local o, err = cml.config_from_env(env { CML_HOST = "h", CML_API_KEY_FILE = "/nonexistent/k" })
      assert.is_nil(o)
      assert.matches("CML_API_KEY_FILE", err)
    end)

    it("names CML_CA_BUNDLE when the bundle cannot be read", function()
      local o, err = cml.config_from_env(env { CML_HOST = "h", CML_API_KEY = "env-key-2",
        CML_CA_BUNDLE = "/nonexistent/ca.pem" })
      assert.is_nil(o)
      assert.matches("CML_CA_BUNDLE", err)
    end)

    it("refuses a key with a line break or space inside, without showing it", function()
      for _, key in ipairs { "abc\ndef-key", "abc def-key", "abc\r\nX-Evil: 1" } do
        local o, err = cml.config_from_env(env { CML_HOST = "h", CML_API_KEY = key })
        assert.is_nil(o)
        assert.matches("CML_API_KEY", err)
        assert.is_nil(err:find("abc", 1, true))
        local client, cerr = cml.client { host = "h", api_key = key }
        assert.is_nil(client)
        assert.matches("white space or a control character", cerr)
      end
    end)

    it("registers the key as a secret", function()
      local term = require("raycai.term")
      assert(cml.config_from_env(env { CML_HOST = "h", CML_API_KEY = "env-secret-77" }))
      assert.equal("key=***", term.redact("key=env-secret-77"))
    end)
  end)

  describe("validate_key()", function()
    it("reports the key valid", function()
      local r = assert(c:validate_key())
      assert.is_true(r.valid)
      assert.is_string(r.username)
    end)

    it("fails with 401, not retried, and a message naming CML_API_KEY", function()
      local bad = assert(cml.client { host = s.url, api_key = "wrong-key-xyz", retries = 3 })
      local r, err = bad:validate_key()
      assert.is_nil(r)
      assert.equal(401, err.status)
      assert.is_false(err.retryable)
      assert.equal("UNAUTHENTICATED", err.code_name)
      local text = tostring(err)
      assert.matches("CML_API_KEY", text)
      assert.matches("^POST /api/v2/auth/validate_key: 401 UNAUTHENTICATED: ", text)
      assert.not_matches("wrong%-key%-xyz", text)
      bad:close()
    end)
  end)

  describe("projects", function()
    it("create, get, list by name, update environment, delete", function()
      local p = assert(c:create_project { name = "proj-crud", description = "d",
        environment = { A = "1" } })
      assert.is_string(p.id)
      assert.equal("proj-crud", p.name)
      assert.same({ A = "1" }, p.environment)
      local g = assert(c:get_project(p.id))
      assert.equal(p.id, g.id)
      assert.same({ A = "1" }, g.environment)
      local l = assert(c:list_projects { search_filter = { name = "proj-crud" } })
      assert.equal(1, #l.projects)
      assert.equal(p.id, l.projects[1].id)
      assert.same({ A = "1" }, l.projects[1].environment)
      local u = assert(c:update_project(p.id, { environment = { A = "2", B = "x" } }))
      assert.same({ A = "2", B = "x" }, u.environment)
      assert.same({ A = "2", B = "x" }, assert(c:get_project(p.id)).environment)
      assert(c:delete_project(p.id))
      local gone, err = c:get_project(p.id)
      assert.is_nil(gone)
      assert.equal(404, err.status)
      assert.equal("NOT_FOUND", err.code_name)
      assert.equal(5, err.code)
      assert.equal("GET", err.method)
      assert.equal("/api/v2/projects/" .. p.id, err.path)
    end)
  end)

  describe("pagination", function()
    setup(function()
      for i = 1, 5 do
        assert(c:create_project { name = string.format("page-%02d", i) })
      end
    end)

    it("pages() walks every page with the same filter and page size", function()
      s:clear_requests()
      local names, pages = {}, 0
      for page, err in c:pages("list_projects", { search_filter = { name = "page-" },
        page_size = 2, sort = "name" }) do
        assert(page, tostring(err))
        pages = pages + 1
        for _, p in ipairs(page.projects) do
          names[#names + 1] = p.name
        end
      end
      assert.equal(3, pages)
      assert.same({ "page-01", "page-02", "page-03", "page-04", "page-05" }, names)
      local reqs = s:requests()
      assert.equal(3, #reqs)
      for _, r in ipairs(reqs) do
        assert.matches("page_size=2", r.query)
        assert.matches("search_filter=", r.query)
      end
    end)

    it("each() yields every item and all() collects them", function()
      local n = 0
      for item in c:each("list_projects", { search_filter = { name = "page-" }, page_size = 2 }) do
        assert.matches("^page%-", item.name)
        n = n + 1
      end
      assert.equal(5, n)
      local all = assert(c:all("list_projects", { search_filter = { name = "page-" }, page_size = 3 }))
      assert.equal(5, #all)
    end)

    it("refuses a method that is not a list", function()
      assert.has_error(function() c:pages("get_project") end)
    end)
  end)

  describe("jobs and runs", function()
    it("create, get, list, update, run, stop, delete", function()
      local pid = project("proj-jobs")
      local job = assert(c:create_job(pid, { name = "setup", script = "app.py",
        runtime_identifier = runtime, cpu = 1, memory = 2, environment = { X = "y" } }))
      assert.equal("setup", job.name)
      assert.same({ X = "y" }, job.environment)
      assert.equal(job.id, assert(c:get_job(pid, job.id)).id)
      local l = assert(c:list_jobs(pid, { search_filter = { name = "setup" } }))
      assert.equal(1, #l.jobs)
      local u = assert(c:update_job(pid, job.id, { environment = { X = "z" } }))
      assert.same({ X = "z" }, u.environment)
      local r = assert(c:create_job_run(pid, job.id, { environment = { RUN = "1" } }))
      assert.is_string(r.id)
      assert.is_table(r.environment)
      assert.matches("^ENGINE_", r.status)
      assert.equal(r.id, assert(c:get_job_run(pid, job.id, r.id)).id)
      local runs = assert(c:list_job_runs(pid, job.id))
      assert.equal(1, #runs.job_runs)
      assert(c:stop_job_run(pid, job.id, r.id))
      -- a run is started after a list of the runs (to recognise it after an ambiguous failure),
      -- unless the caller says the job has none
      local function requests_of_a_run(opts)
        local other = assert(c:create_job(pid, { name = "other", script = "app.py", runtime_identifier = runtime }))
        s:clear_requests()
        assert(c:create_job_run(pid, other.id, {}, opts))
        local out = {}
        for _, q in ipairs(s:requests()) do out[#out + 1] = q.method end
        return out
      end
      assert.same({ "GET", "POST" }, requests_of_a_run())
      assert.same({ "POST" }, requests_of_a_run { no_runs = true })
      assert(c:delete_job(pid, job.id))
      local gone, err = c:get_job(pid, job.id)
      assert.is_nil(gone)
      assert.equal(404, err.status)
    end)
  end)

  describe("applications", function()
    local pid

    setup(function()
      pid = project("proj-apps")
    end)

    it("create, get, list, update, stop, restart, delete", function()
      local app = assert(c:create_application(pid, { name = "head", subdomain = "head-abc",
        script = "app.py", runtime_identifier = runtime, cpu = 1, memory = 2,
        environment = { RAYCAI_GENERATION = "g1", N = 4 } }))
      assert.equal("head", app.name)
      assert.same({ RAYCAI_GENERATION = "g1", N = "4" }, app.environment)
      assert.matches("^APPLICATION_", app.status)
      local g = assert(c:get_application(pid, app.id))
      assert.same(app.environment, g.environment)
      local l = assert(c:list_applications(pid, { search_filter = { name = "head" } }))
      assert.equal(1, #l.applications)
      assert.same(app.environment, l.applications[1].environment)
      local u = assert(c:update_application(pid, app.id, { description = "new",
        environment = { RAYCAI_GENERATION = "g2" } }))
      assert.equal("new", u.description)
      assert.same({ RAYCAI_GENERATION = "g2" }, u.environment)
      assert.matches("^APPLICATION_", assert(c:stop_application(pid, app.id)).status)
      assert.matches("^APPLICATION_", assert(c:restart_application(pid, app.id)).status)
      assert(c:delete_application(pid, app.id))
      -- a deleted live application lingers STOPPING (app_stop) before it is gone
      local err = s:wait_for(function()
        local gone, gerr = c:get_application(pid, app.id)
        if gone then return nil, gone.status end
        return gerr
      end, 10, "the deleted application gone")
      assert.equal("NOT_FOUND", err.code_name)
    end)

    it("reads a bad subdomain as a one-line error", function()
      local app, err = c:create_application(pid, { name = "bad", subdomain = "Bad_Sub",
        script = "app.py", runtime_identifier = runtime })
      assert.is_nil(app)
      assert.equal(400, err.status)
      assert.equal(3, err.code)
      assert.is_false(err.retryable)
      assert.equal("POST /api/v2/projects/" .. pid
        .. "/applications: 400 INVALID_ARGUMENT: Problem with field Subdomain: invalid pattern",
        tostring(err))
    end)

    it("creates and deletes many applications concurrently", function()
      local bodies = {}
      for i = 1, 6 do
        bodies[i] = { name = "w-" .. i, subdomain = "w-many-" .. i, script = "app.py",
          runtime_identifier = runtime }
      end
      local out = c:create_applications(pid, bodies, { parallel = 4 })
      local ids = {}
      for i = 1, 6 do
        assert(out[i][1], tostring(out[i][2]))
        assert.equal("w-" .. i, out[i][1].name)
        ids[i] = out[i][1].id
      end
      local del = c:delete_applications(pid, ids, { parallel = 4 })
      for i = 1, 6 do
        assert(del[i][1], tostring(del[i][2]))
      end
      local left = s:wait_for(function()
        local l = assert(c:list_applications(pid, { search_filter = { name = "w-" } }))
        return #l.applications == 0 and l, #l.applications
      end, 10, "the deleted applications gone")
      assert.equal(0, #left.applications)
    end)

    it("reports failures of a concurrent create in place", function()
      local out = c:create_applications(pid, {
        { name = "ok-1", subdomain = "ok-one", script = "app.py", runtime_identifier = runtime },
        { name = "bad-1", subdomain = "NOT OK", script = "app.py", runtime_identifier = runtime },
      })
      assert.equal("ok-1", out[1][1].name)
      assert.is_nil(out[2][1])
      assert.equal(400, out[2][2].status)
    end)
  end)

  describe("files", function()
    local pid

    setup(function()
      pid = assert(c:create_project { name = "proj-files" }).id
    end)

    it("upload, list, download, delete", function()
      local data = "line 1\nline 2\0binary\255\n"
      assert(c:upload_file(pid, ".raycai/c1/head.py", data))
      local root = assert(c:list_files(pid, ""))
      local seen = {}
      for _, f in ipairs(root.files) do
        seen[f.path:match("([^/]+)$")] = f
      end
      assert.is_truthy(seen[".raycai"])
      local dir = assert(c:list_files(pid, ".raycai/c1"))
      assert.equal(1, #dir.files)
      assert.equal(tostring(#data), tostring(dir.files[1].file_size))
      assert.equal(data, assert(c:download_file(pid, ".raycai/c1/head.py")))
      assert(c:delete_file(pid, ".raycai/c1/head.py"))
      local gone, err = c:download_file(pid, ".raycai/c1/head.py")
      assert.is_nil(gone)
      assert.equal(404, err.status)
    end)

    it("reports a missing directory as 404", function()
      local l, err = c:list_files(pid, "no/such/dir")
      assert.is_nil(l)
      assert.equal(404, err.status)
    end)
  end)

  describe("together()", function()
    local pid

    setup(function()
      pid = assert(c:create_project { name = "proj-together" }).id
      assert(c:upload_file(pid, "t/one.txt", "one"))
    end)

    -- the paths of the requests logged since the last clear
    local function logged_paths()
      local out = {}
      for _, r in ipairs(s:requests()) do out[#out + 1] = r.path:match("/files/(.*)$") or r.path end
      return out
    end

    it("sends the functions' requests together and keeps each function's order", function()
      s:clear_requests()
      local res = c:together(function()
        local a = c:download_file(pid, "t/one.txt")
        local l = c:list_files(pid, "t")
        return a, #l.files
      end, function()
        local gone, err = c:download_file(pid, "t/none.txt")
        return gone, err.status
      end)
      assert.same({ "one", 1, n = 2 }, res[1])
      assert.same({ nil, 404, n = 2 }, res[2])
      local paths = logged_paths()
      assert.equal(3, #paths)
      -- the first round holds one request of each function; the list waited for its download
      local first = { paths[1], paths[2] }
      table.sort(first)
      assert.same({ "t/none.txt:download", "t/one.txt:download" }, first)
      assert.equal("t", paths[3])
    end)

    it("a together inside a function joins the enclosing round", function()
      s:clear_requests()
      local res = c:together(function()
        c:download_file(pid, "t/none.txt")
        return #c:list_files(pid, "t").files  -- round 2
      end, function()
        c:download_file(pid, "t/one.txt")
        local inner = c:together(function() return c:download_file(pid, "t/one.txt") end,  -- round 2 too
          function() return select(2, c:download_file(pid, "t/none.txt")).status end)
        return inner[1][1], inner[2][1]
      end)
      assert.same({ 1, n = 1 }, res[1])
      assert.same({ "one", 404, n = 2 }, res[2])
      local paths = logged_paths()
      assert.equal(5, #paths)
      -- a nested round of its own would have gone out before the first function's listing
      assert.equal("t", paths[3])
    end)

    it("walks every page of a list inside a function", function()
      local res = c:together(function()
        return c:all("list_projects", { page_size = 1 })
      end, function()
        return c:list_files(pid, "t")
      end)
      local names = {}
      for _, p in ipairs(res[1][1]) do names[p.name] = true end
      assert.is_true(names["proj-together"])
      assert.equal(1, #res[2][1].files)
    end)

    it("raises a function's error as it was raised, a table included", function()
      local raised = setmetatable({ message = "bad" }, { __tostring = function(e) return e.message end })
      local ok, err = pcall(c.together, c, function() c:list_files(pid, "t") end,
        function() error(raised) end)
      assert.is_false(ok)
      assert.equal(raised, err)
      ok, err = pcall(c.together, c, function() end, "not a function")
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'together' %(function expected, got string%)", err)
    end)
  end)

  describe("errors", function()
    it("reads a transport timeout as one line", function()
      local slow = assert(cml.client { host = s.url, api_key = KEY, timeout = 0.3, retries = 0 })
      s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" }, action = "slow",
        delay_ms = 2000, count = 1 }
      local r, err = slow:list_projects()
      assert.is_nil(r)
      assert.equal("timeout", err.kind)
      assert.equal("GET /api/v2/projects: timed out after 0.3 s", tostring(err))
      slow:close()
    end)

    it("reads a malformed JSON body as a clean error", function()
      s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" },
        action = "malformed", count = 1 }
      local r, err = c:list_projects()
      assert.is_nil(r)
      assert.equal("malformed", err.kind)
      assert.matches("^GET /api/v2/projects: malformed response", tostring(err))
    end)

    it("reads a truncated body as a dropped connection", function()
      s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" },
        action = "truncate", count = 1 }
      local r, err = c:list_projects()
      assert.is_nil(r)
      assert.equal("dropped", err.kind)
    end)

    it("refuses an oversized body", function()
      local small = assert(cml.client { host = s.url, api_key = KEY, retries = 0,
        max_body = 100000 })
      s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" },
        action = "oversize", size = 1000000, count = 1 }
      local r, err = small:list_projects()
      assert.is_nil(r)
      assert.equal("too_large", err.kind)
      small:close()
    end)

    it("never shows the key in log lines", function()
      assert.is_true(#logged > 0)
      local bearer = false
      for _, line in ipairs(logged) do
        assert.is_nil(line:find(KEY, 1, true))
        bearer = bearer or line:find("Bearer ***", 1, true) ~= nil
      end
      assert.is_true(bearer)
    end)
  end)
end)
