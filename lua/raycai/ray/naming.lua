-- raycai.ray.naming: every CML object of a cluster is found by a name derived from the cluster
-- name (and, for workspace-wide subdomains, the project id). No local state file.
local hash = require "raycai.hash"

local M = {}

M.PREFIX = "raycai-"
M.MAX_CLUSTER = 30
local LABEL = "^[a-z0-9]+$"


--- Check a cluster name before any request. Returns true or nil, message naming the fix.
function M.check_cluster(name)
  if type(name) ~= "string" or name == "" then
    return nil, "cluster name is empty; set one with --set cluster=NAME"
  end
  if #name > M.MAX_CLUSTER then
    return nil, ("cluster name '%s' is %d characters; use at most %d (it becomes part of a DNS name)")
      :format(name, #name, M.MAX_CLUSTER)
  end
  local ok = true
  for part in (name .. "-"):gmatch("(.-)%-") do
    if not part:match(LABEL) then ok = false end
  end
  if not ok or name:find("%-%-") then
    return nil, ("cluster name %q is not valid: use lowercase letters a-z, digits 0-9 and single "
      .. "hyphens between them (it becomes part of the application subdomain)"):format(name)
  end
  return true
end


--- The names of one cluster's objects.
---@param cluster string  a checked cluster name
---@param project_id string
function M.for_cluster(cluster, project_id)
  local tag = hash.hex(project_id):sub(1, 6)
  local n = {
    cluster = cluster,
    app_prefix = M.PREFIX .. cluster .. "-",
    job = M.PREFIX .. cluster .. "-setup",
    head = M.PREFIX .. cluster .. "-head",
    head_subdomain = ("%s-%s-head"):format(cluster, tag),
    dir = ".raycai/" .. cluster,
  }
  n.files = {
    setup = n.dir .. "/setup_venv.py",
    head = n.dir .. "/head.py",
    worker = n.dir .. "/worker.py",
    head_json = n.dir .. "/head.json",
    setup_log = n.dir .. "/setup.log",
  }
  n.worker = function(i) return ("%sworker-%d"):format(n.app_prefix, i) end
  n.worker_subdomain = function(i) return ("%s-%s-w%d"):format(cluster, tag, i) end
  --- The worker index of an application name of this cluster, or nil.
  n.worker_index = function(name)
    local i = name:match("^" .. n.app_prefix:gsub("%p", "%%%0") .. "worker%-(%d+)$")
    return i and tonumber(i)
  end
  -- worker groups (raycai.ray.groups): the default group "worker" keeps the names above
  --- Application name of worker i of a group.
  n.group_app = function(group, i)
    if group == "worker" then return n.worker(i) end
    return ("%s%s-%d"):format(n.app_prefix, group, i)
  end
  --- Subdomain of worker i of a group: <cluster>-<tag>-<group>-<i> (at most 30+6+20+4+3 = 63).
  n.group_subdomain = function(group, i)
    if group == "worker" then return n.worker_subdomain(i) end
    return ("%s-%s-%s-%d"):format(cluster, tag, group, i)
  end
  --- The launcher of a group: worker.py for the default group, worker-<group>.py for the others.
  n.group_script = function(group)
    if group == "worker" then return n.files.worker end
    return ("%s/worker-%s.py"):format(n.dir, group)
  end
  --- The index of an application name of this group, or nil.
  n.group_index = function(group, name)
    local i = name:match("^" .. n.group_app(group, 0):gsub("0$", ""):gsub("%p", "%%%0") .. "(%d+)$")
    return i and tonumber(i)
  end
  return n
end


return M
