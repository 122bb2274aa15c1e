-- bench/load.lua: cml-sim's own throughput, so we know it is never the bottleneck of a deploy.
-- A simulator without delays holds one project with `apps` applications; GET list and GET one
-- application are each sent `count` times through raycai.http's request_many at `parallel`
-- concurrency (the product's own transport, connections reused).
local http = require "raycai.http"
local clock = require "raycai.clock"
local sim = require "support.sim"

local M = {}


local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  return sorted[math.max(1, math.ceil(#sorted * p))]
end


--- Send `count` copies of req at `parallel`; returns { rps, p50_ms, p99_ms, errors }.
local function blast(h, req, count, parallel)
  local reqs = {}
  for i = 1, count do reqs[i] = req end
  local t0 = clock.monotonic()
  local results = h:request_many(reqs, { parallel = parallel })
  local secs = clock.monotonic() - t0
  local times, errors = {}, 0
  for _, r in ipairs(results) do
    local res = r[1]
    if res and res.status == 200 then times[#times + 1] = res.time * 1000
    else errors = errors + 1 end
  end
  table.sort(times)
  return { requests = count, seconds = secs, rps = count / secs, p50_ms = percentile(times, 0.5),
           p99_ms = percentile(times, 0.99), errors = errors }
end


--- Measure; opts: apps (default 20), count (default 2000), parallel (default 16).
function M.run(opts)
  opts = opts or {}
  local apps, count, parallel = opts.apps or 20, opts.count or 2000, opts.parallel or 16
  local s = sim.start {}
  local ok, res = pcall(function()
    local p = s:new_project("load", { ["app.py"] = "print('hi')\n" })
    local first
    for i = 1, apps do
      local st, a = s:api("POST", "projects/" .. p.id .. "/applications", {
        name = "app-" .. i, subdomain = "load-app-" .. i, script = "app.py", cpu = 1, memory = 2,
        runtime_identifier = sim.RUNTIME })
      assert(st == 200, "create application: " .. tostring(st))
      first = first or a
    end
    local h = assert(http.new { timeout = 30 })
    local headers = { Authorization = "Bearer " .. s.api_key }
    local base = s.url .. "/api/v2/projects/" .. p.id .. "/applications"
    local out = {
      apps = apps, parallel = parallel,
      list = blast(h, { method = "GET", url = base .. "?page_size=100", headers = headers }, count, parallel),
      get = blast(h, { method = "GET", url = base .. "/" .. first.id, headers = headers }, count, parallel),
    }
    h:close()
    return out
  end)
  s:stop()
  if not ok then error(res, 0) end
  return res
end


return M
