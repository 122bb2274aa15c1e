-- bench/oracle.lua: a client that knows cml-sim's delays and does only what the API forces,
-- to show that critical.lua's bound C(N) is reachable (so wall / C(N) measures raycai's own
-- overhead, not slack in the formula). It follows the dependency chain of critical.lua:
--   project → success observed → setup script → job → run (the launchers are uploaded while
--   it runs) → end observed → head → RUNNING observed → N worker creates, `parallel` at a time
--   → all RUNNING observed.
-- With overlap (issue 17) "head" creates the head right after the launchers' upload, while the
-- run runs, and "all" the workers too; the run's end and the applications' RUNNING are then
-- awaited in turn (critical.lua's head/all forms).
-- It sleeps until a state is due (plus two ticks of cml-sim's 10 ms ticker) and then polls every
-- 10 ms: a demonstration that the bound is reachable, not a model for a client.
local http = require "raycai.http"
local clock = require "raycai.clock"
local cjson = require "cjson"

local M = {}

local TICK = 0.01
local AWAIT_LIMIT = 30


--- Run the oracle against simulator s (support.sim) for n workers. Returns seconds, requests.
---@param s table support.sim handle (fresh simulator)
---@param d table delays in ms (critical.lua's names)
function M.run(s, n, d, parallel, runtime, mode)
  mode = mode or "none"
  local h = assert(http.new { timeout = 30 })
  local auth = { Authorization = "Bearer " .. s.api_key, ["Content-Type"] = "application/json" }
  local api = s.url .. "/api/v2"
  local requests = 0

  local function call(method, path, body)
    requests = requests + 1
    local res, err = h:request { method = method, url = api .. path, headers = auth,
                                 body = body and cjson.encode(body) or nil }
    assert(res, "oracle: " .. method .. " " .. path .. ": " .. tostring(err and err.message))
    assert(res.status == 200, ("oracle: %s %s: %d %s"):format(method, path, res.status, res.body))
    return cjson.decode(res.body)
  end

  local function upload_many(pid, files)
    local reqs = {}
    for dest, text in pairs(files) do
      reqs[#reqs + 1] = { method = "POST", url = api .. "/projects/" .. pid .. "/files",
        headers = { Authorization = auth.Authorization },
        multipart = { { name = dest, filename = dest:match("[^/]+$"), data = text } } }
    end
    requests = requests + #reqs
    for _, r in ipairs(h:request_many(reqs, { parallel = #reqs })) do
      assert(r[1] and r[1].status == 200, "oracle: upload failed")
    end
  end

  --- Sleep until `due` (monotonic) plus two ticks (the simulator moves states on a 10 ms
  --- ticker, so a state is up to a tick late; a probe that comes too early costs a whole
  --- request latency), then call probe() every TICK until it returns true; an error if the state
  --- is not reached within AWAIT_LIMIT seconds of `due` (a failed run never succeeds).
  local function await(due, probe)
    clock.sleep(math.max(0, due + 2 * TICK - clock.monotonic()))
    while not probe() do
      if clock.monotonic() > due + AWAIT_LIMIT then
        error(("oracle: state not reached %d s after it was due"):format(AWAIT_LIMIT), 0)
      end
      clock.sleep(TICK)
    end
  end

  local L = d.request / 1000
  local t0 = clock.monotonic()
  local project = call("POST", "/projects", { name = "oracle", template = "local" })
  local pid = project.id
  await(t0 + math.max(L, d.project_create / 1000), function()
    return call("GET", "/projects/" .. pid).creation_status == "success"
  end)
  upload_many(pid, { ["setup.py"] = "print('setup')\n" })
  local job = call("POST", "/projects/" .. pid .. "/jobs", { name = "setup", script = "setup.py",
    runtime_identifier = runtime, cpu = 1, memory = 2 })
  local t_run = clock.monotonic()
  local run = call("POST", "/projects/" .. pid .. "/jobs/" .. job.id .. "/runs", {})
  upload_many(pid, { ["head.py"] = "print('head')\n", ["worker.py"] = "print('worker')\n" })
  local run_total = (d.job_scheduling + d.job_starting + d.job_running) / 1000
  local function await_run()
    await(t_run + run_total, function()
      return call("GET", "/projects/" .. pid .. "/jobs/" .. job.id .. "/runs/" .. run.id).status == "ENGINE_SUCCEEDED"
    end)
  end
  local t_head, head
  local function create_head()
    t_head = clock.monotonic()
    head = call("POST", "/projects/" .. pid .. "/applications", { name = "head", subdomain = "oracle-head",
      script = "head.py", runtime_identifier = runtime, cpu = 1, memory = 2 })
  end
  local t_w
  local function create_workers()
    local reqs = {}
    for i = 1, n do
      reqs[i] = { method = "POST", url = api .. "/projects/" .. pid .. "/applications", headers = auth,
        body = cjson.encode { name = "worker-" .. i, subdomain = "oracle-worker-" .. i, script = "worker.py",
                              runtime_identifier = runtime, cpu = 1, memory = 2 } }
    end
    t_w = clock.monotonic()
    requests = requests + n
    for _, r in ipairs(h:request_many(reqs, { parallel = parallel })) do
      assert(r[1] and r[1].status == 200, "oracle: worker create failed")
    end
  end
  local function await_head()
    await(t_head + d.app_start / 1000, function()
      return call("GET", "/projects/" .. pid .. "/applications/" .. head.id).status == "APPLICATION_RUNNING"
    end)
  end
  local function await_workers()
    local rounds = math.ceil(n / parallel)
    await(t_w + (rounds - 1) * L + d.app_start / 1000, function()
      local list = call("GET", "/projects/" .. pid .. "/applications?page_size=" .. (n + 1))
      local running = 0
      for _, a in ipairs(list.applications) do
        if a.status == "APPLICATION_RUNNING" then running = running + 1 end
      end
      return running == n + 1
    end)
  end
  if mode == "none" then
    await_run()
    create_head()
    await_head()
    if n > 0 then create_workers(); await_workers() end
  elseif mode == "head" then
    create_head()
    await_run()
    await_head()
    if n > 0 then create_workers(); await_workers() end
  else
    create_head()
    if n > 0 then create_workers() end
    await_run()
    if n > 0 then await_workers() else await_head() end
  end
  local secs = clock.monotonic() - t0
  h:close()
  return secs, requests
end


return M
