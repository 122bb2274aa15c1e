-- What a spec asks of a cluster in the simulator: its applications, requests that mutated.
local cjson = require "cjson"

local M = {}

local MUTATING = { POST = true, PATCH = true, DELETE = true, PUT = true }


--- Requests in the simulator's log that change something (a :download is a POST that only reads).
function M.mutations(s)
  local out = {}
  for _, r in ipairs(s:requests()) do
    if MUTATING[r.method] and not r.path:match(":download$") then out[#out + 1] = r.method .. " " .. r.path end
  end
  return out
end


--- The simulator's applications whose names start with prefix, by name.
function M.apps_of(s, prefix)
  local out = {}
  for _, a in ipairs(s:state().applications or {}) do
    if a.name:sub(1, #prefix) == prefix then out[a.name] = a end
  end
  return out
end


--- The application called name, or nil.
function M.app_named(s, name)
  for _, a in ipairs(s:state().applications or {}) do
    if a.name == name then return a end
  end
end


--- Number of entries of a table.
function M.count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end


--- An object's environment as a table (the simulator's state keeps CML's JSON string).
function M.env_of(obj)
  local e = obj.environment
  if type(e) == "string" then e = cjson.decode(e) end
  return e or {}
end


return M
