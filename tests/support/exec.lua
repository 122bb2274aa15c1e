-- What the exec-mode end-to-end specs share: a folder of stub Ray wheels (tests/support/
-- stub_wheel.py) for pip's --find-links, and the simulator delays that keep a real deploy short.
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local versions = require "raycai.ray.versions"

local M = {}

--- cml-sim delays (ms) for exec mode: the scripts' own run time is what a deploy waits for.
M.DELAYS = { app_start = 10, app_stop = 10, job_scheduling = 10, job_starting = 10 }


--- A new temporary folder holding a stub wheel of each Ray version (default: the default Ray);
--- remove it with fs.remove(dir, { recursive = true }).
function M.wheels(...)
  local dir = fs.tempdir("raycai-wheels")
  local list = select("#", ...) > 0 and { ... } or { versions.DEFAULT }
  for _, v in ipairs(list) do
    local p = assert(proc.spawn { "python3", "tests/support/stub_wheel.py", dir, v, stdout = "null" })
    assert(p:wait(60) == 0, "stub_wheel.py failed for Ray " .. v)
    p:close()
  end
  return dir
end


--- A simulator in exec mode with M.DELAYS (opts: more sim.start options).
function M.sim(opts)
  local o = { exec = true, delays = M.DELAYS }
  for k, v in pairs(opts or {}) do o[k] = v end
  return require("support.sim").start(o)
end


return M
