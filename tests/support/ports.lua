-- A free TCP port on loopback (asked from the kernel through python3).
local proc = require "raycai.proc"

local M = {}


function M.free()
  local p = assert(proc.spawn { "python3", "-c",
    "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])", stdout = "pipe" })
  local line = p:read_line(10)
  p:wait(10)
  return assert(math.tointeger(tonumber(line)), "no free port")
end


return M
