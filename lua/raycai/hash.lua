-- raycai.hash: short stable fingerprints (FNV-1a, 64 bit) for names and change detection.
-- Not cryptographic: it tells "same or different", it does not protect anything.
local M = {}

local OFFSET = -3750763034362895579  -- 0xcbf29ce484222325 as a signed 64-bit integer
local PRIME = 1099511628211


--- 16 lowercase hex digits for the string s.
function M.hex(s)
  local h = OFFSET
  for i = 1, #s do
    h = (h ~ s:byte(i)) * PRIME
  end
  return string.format("%016x", h)
end


--- A canonical text for a value (sorted keys), so equal tables hash equally.
function M.canonical(v)
  local t = type(v)
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. M.canonical(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end


--- Fingerprint of any value: the first n (default 12) hex digits.
function M.of(v, n)
  return M.hex(M.canonical(v)):sub(1, n or 12)
end


return M
