-- cml-sim: fault injection (status, drop, slow, truncate, malformed, oversize; count, apply,
-- matching), the request log, and the rest of the control API.
local sim = require "support.sim"
local clock = require "raycai.clock"
local cjson = require "cjson"


describe("cml-sim faults", function()
  local s, pid

  setup(function()
    s = sim.start {}
    pid = s:new_project("faults", { ["app.py"] = "x" }).id
  end)

  teardown(function()
    s:stop()
  end)

  before_each(function()
    s:clear_faults()
    s:clear_requests()
  end)

  local function app_body(name)
    return { name = name, subdomain = name, script = "app.py", runtime_identifier = sim.RUNTIME }
  end

  local function apps_named(name)
    local _, l = s:api("GET", "projects/" .. pid .. "/applications" .. sim.query { search_filter = { name = name } })
    return #l.applications
  end

  it("answers a status with the error body and Retry-After, for count requests", function()
    s:fault { match = { method = "GET", path_prefix = "/api/v2/projects" }, action = "status", status = 429,
      retry_after = 3, count = 2 }
    for _ = 1, 2 do
      local status, body, _, head = s:api("GET", "projects")
      assert.equal(429, status)
      assert.equal(8, body.code)
      assert.matches("\r\nRetry%-After: 3\r\n", head)
    end
    assert.equal(200, (s:api("GET", "projects")))
  end)

  it("maps other statuses to gRPC codes and does not apply the request by default", function()
    s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "status", status = 503 }
    local status, body = s:api("POST", "projects/" .. pid .. "/applications", app_body("not-made"))
    assert.equal(503, status)
    assert.equal(14, body.code)
    assert.equal(0, apps_named("not-made"))
  end)

  it("applies the request and still answers the status with apply = true", function()
    s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "status", status = 502,
      apply = true }
    assert.equal(502, (s:api("POST", "projects/" .. pid .. "/applications", app_body("made-anyway"))))
    assert.equal(1, apps_named("made-anyway"))
  end)

  it("drops the connection without a response", function()
    s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "drop" }
    local status = s:api("POST", "projects/" .. pid .. "/applications", app_body("dropped"))
    assert.equal(0, status)
    assert.equal(0, apps_named("dropped"))
    local log = s:requests()
    assert.equal(0, log[1].status)
  end)

  it("drops the reply of a request it applied with apply = true", function()
    s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "drop", apply = true }
    assert.equal(0, (s:api("POST", "projects/" .. pid .. "/applications", app_body("ghost"))))
    assert.equal(1, apps_named("ghost"))
  end)

  it("delays a reply; the request takes effect even when the client gives up", function()
    s:fault { match = { method = "POST", path_suffix = "/applications" }, action = "slow", delay_ms = 1200 }
    local status = s:api("POST", "projects/" .. pid .. "/applications", app_body("late"), { timeout = 0.3 })
    assert.equal(0, status)  -- the client gave up before the delayed reply
    assert.equal(1, apps_named("late"))
    s:fault { match = { path = "/api/v2/projects" }, action = "slow", delay_ms = 400 }
    local t0 = clock.monotonic()
    assert.equal(200, (s:api("GET", "projects")))
    assert.is_true(clock.monotonic() - t0 >= 0.4)
  end)

  it("truncates a body in the middle", function()
    s:fault { match = { method = "GET" }, action = "truncate" }
    local status, body, raw, head = s:api("GET", "projects/" .. pid)
    local declared = tonumber(head:match("[Cc]ontent%-[Ll]ength: (%d+)"))
    assert.is_true(status == 200 or status == 0)
    assert.is_string(body)                       -- not JSON
    assert.is_true(declared == nil or #raw < declared)
  end)

  it("answers malformed JSON with 200", function()
    s:fault { match = { method = "GET" }, action = "malformed" }
    local status, body = s:api("GET", "projects/" .. pid)
    assert.equal(200, status)
    assert.is_string(body)
    assert.is_false((pcall(cjson.decode, body)))
  end)

  it("answers an oversized but valid JSON body", function()
    s:fault { match = { method = "GET" }, action = "oversize", size = 3 * 1024 * 1024 }
    local status, body, raw = s:api("GET", "projects/" .. pid)
    assert.equal(200, status)
    assert.equal(3 * 1024 * 1024, #raw)
    assert.equal("table", type(body))
  end)

  it("matches method, prefix, suffix and exact path; others pass", function()
    s:fault { match = { method = "DELETE", path_prefix = "/api/v2/projects/", path_suffix = "/files/x" },
      action = "status", status = 500, count = -1 }
    assert.equal(200, (s:api("GET", "projects/" .. pid)))
    assert.equal(404, (s:api("DELETE", "projects/" .. pid .. "/files/y")))
    assert.equal(500, (s:api("DELETE", "projects/" .. pid .. "/files/x")))
    assert.equal(500, (s:api("DELETE", "projects/" .. pid .. "/files/x")))
    local _, rules = s:control("GET", "/_sim/faults")
    assert.equal(1, #rules)
    assert.equal(-1, rules[1].count)
    s:clear_faults()
    assert.equal(404, (s:api("DELETE", "projects/" .. pid .. "/files/x")))
  end)

  it("refuses a rule with an unknown action or count 0", function()
    assert.equal(400, (s:control("POST", "/_sim/faults", { action = "explode" })))
    assert.equal(400, (s:control("POST", "/_sim/faults", { action = "drop", count = 0 })))
  end)

  it("does not fault the control API", function()
    s:fault { match = {}, action = "status", status = 500, count = -1 }
    assert.equal(200, (s:control("GET", "/_sim/state")))
    assert.equal(500, (s:api("GET", "projects")))
  end)
end)


describe("cml-sim request log", function()
  local s

  setup(function()
    s = sim.start { api_key = "log-key-abc" }
  end)

  teardown(function()
    s:stop()
  end)

  it("logs /api/v2 requests with seq, raw path, query, status, body and a masked key", function()
    s:clear_requests()
    s:api("POST", "projects", { name = "logged" })
    s:api("GET", "projects?page_size=2&search_filter=%7B%7D")
    s:api("GET", "projects/a%2Fb/files/x%2Fy")
    s:api("GET", "projects", nil, { key = false })
    s:control("GET", "/_sim/state")
    local log = s:requests()
    assert.equal(4, #log)
    assert.equal("POST", log[1].method)
    assert.equal("/api/v2/projects", log[1].path)
    assert.equal(200, log[1].status)
    assert.same({ name = "logged" }, cjson.decode(log[1].body))
    assert.equal("Bearer ***", log[1].authorization)
    assert.equal("page_size=2&search_filter=%7B%7D", log[2].query)
    assert.equal("/api/v2/projects/a%2Fb/files/x%2Fy", log[3].path)
    assert.equal(cjson.null, log[4].authorization)
    assert.equal(401, log[4].status)
    assert.is_true(log[1].seq < log[2].seq and log[2].seq < log[3].seq)
    local text = cjson.encode(log)
    assert.is_nil(text:find("log-key-abc", 1, true))
  end)

  it("truncates large bodies", function()
    s:clear_requests()
    s:api("POST", "projects", { name = "big", description = ("x"):rep(10000) })
    local log = s:requests()
    assert.is_true(#log[1].body <= 4096)
    assert.is_true(log[1].body_truncated)
  end)

  it("clears", function()
    s:api("GET", "projects")
    s:clear_requests()
    assert.same({}, s:requests())
  end)
end)


describe("cml-sim control API", function()
  it("reads and changes delays at run time, including request latency", function()
    local s = sim.start { delays = { app_start = 1234 } }
    local _, d = s:control("GET", "/_sim/delays")
    assert.equal(1234, d.app_start)
    assert.equal(0, d.request)
    local status = s:control("POST", "/_sim/delays", { request = 300 })
    assert.equal(200, status)
    local t0 = clock.monotonic()
    s:api("GET", "projects")
    assert.is_true(clock.monotonic() - t0 >= 0.3)
    assert.equal(400, (s:control("POST", "/_sim/delays", { warp = 1 })))
    s:stop()
  end)

  it("dumps the state", function()
    local s = sim.start {}
    local p = s:new_project("dumped", { ["a.py"] = "x" })
    local st = s:state()
    assert.equal(p.id, st.projects[1].id)
    assert.same({}, st.applications)
    assert.same({}, st.jobs)
    assert.same({}, st.runs)
    assert.equal(s.url, st.base_url)
    s:stop()
  end)

  it("shuts down on POST /_sim/shutdown", function()
    local s = sim.start {}
    assert.equal(200, (s:control("POST", "/_sim/shutdown")))
    assert.equal(0, s.proc:wait(10))
    s.proc:close()
    s.proc = nil
  end)

  it("answers 404 for an unknown control route", function()
    local s = sim.start {}
    assert.equal(404, (s:control("GET", "/_sim/nothing")))
    assert.equal(404, (s:control("GET", "/elsewhere")))
    s:stop()
  end)
end)
