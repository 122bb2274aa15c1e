-- raycai.tables: small table helpers the runner and the Ray steps share.
local M = {}


--- The keys of t, sorted (for output and messages that must not depend on hash order).
function M.sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end


return M
