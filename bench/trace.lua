-- bench/trace.lua: the timeline of one fresh `up` against cml-sim with the benchmark's delays:
-- every request the simulator handled, in ms from the first one, and the gap before it. For
-- finding what sits on the critical path. Run from the source root:
--   RAYCAI_BUILD_DIR=build lua5.4 bench/trace.lua [N] [overlap]      (overlap: none, head, all)
dofile("tests/support/helper.lua")
package.path = "bench/?.lua;" .. package.path

local sim = require "support.sim"
local proc = require "raycai.proc"
local clock = require "raycai.clock"
local critical = require "critical"
local delays = require("delays")

local BUILD = os.getenv("RAYCAI_BUILD_DIR") or "build"
local n = math.tointeger(tonumber(arg[1] or "32"))
local mode = arg[2] or "head"

local s = sim.start { delays = delays }
local ok, err = pcall(function()
  local out = os.tmpname()
  local argv = { BUILD .. "/raycai-run", "--set", "workers=" .. n, "--set", "overlap=" .. mode, "recipes/gpu_cluster.lua",
                 env = { CML_HOST = s.url, CML_API_KEY = s.api_key, NO_COLOR = "1" },
                 stdout = out, stderr = out, kill_on_close = true }
  local t0 = clock.time() * 1000
  local p = assert(proc.spawn(argv))
  local code = p:wait()
  local t1 = clock.time() * 1000
  p:close()
  local text = require("raycai.fs").read(out) or ""
  os.remove(out)
  assert(code == 0, "up exited " .. tostring(code) .. ":\n" .. text)
  print("overlap=" .. mode .. ": " .. (text:match("time:%s+([^\n]+)") or "(no time line)"))
  local prev = t0
  local burst
  for _, r in ipairs(s:requests()) do
    local what = r.method .. " " .. r.path:gsub("^/api/v2/projects/[^/]+", "P")
      .. (r.query ~= "" and ("?" .. r.query:sub(1, 60)) or "")
    local create = r.method == "POST" and r.path:match("/applications$") ~= nil
    if not (create and burst) then  -- of a run of application creates, only the first is shown
      print(("%7.0f %+6.0f  %s%s"):format(r.at_ms - t0, r.at_ms - prev, what,
        create and " (first of a run of creates)" or ""))
    end
    burst = create
    prev = r.at_ms
  end
  local crit = critical.ms(n, delays, 16, mode)
  print(("%7.0f          exit (wall %.2f s, critical of overlap=%s %.2f s, ratio %.3f)"):format(t1 - t0,
    (t1 - t0) / 1000, mode, crit / 1000, (t1 - t0) / crit))
end)
s:stop()
if not ok then error(err, 0) end
