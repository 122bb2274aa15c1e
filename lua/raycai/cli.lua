-- raycai.cli: placeholder
local M = {}
function M.main(args)
  local host = require "raycai.host"
  if args[1] == "--version" then io.stdout:write("raycai-run ", host.version, "\n") return 0 end
  return 2
end
return M
