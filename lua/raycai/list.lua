-- raycai.list: `raycai-run list [--project P | --all-projects]` (issue 15): every raycai cluster,
-- found by name as always (applications raycai-<cluster>-head and raycai-<cluster>-<group>-<i>,
-- and the RAYCAI_CLUSTER/RAYCAI_ROLE the engine sets on them). No recipe needed.
-- WORKERS ready/desired: the recipe's worker count is not stored in CML, so "desired" is the
-- number of worker applications that exist; ready are those RUNNING in the head's generation.
local context = require "raycai.context"
local apps = require "raycai.ray.apps"
local ui = require "raycai.ui"
local report = require "raycai.ui.day2_report"
local clock = require "raycai.clock"
local autostop = require "raycai.ray.autostop"
local naming = require "raycai.ray.naming"

local M = {}


--- The clusters of one project: a list of { cluster, project, project_id, head (its status or
--- "absent"), workers = { group = { ready, desired } }, gpus, status, created_at, age_seconds },
--- sorted by name (the rows of raycai.ui.day2_report.clusters, but autostop).
local function clusters_of(client, project)
  local list, err = client:list_all("list_applications", { project.id },
    { search_filter = { name = "raycai-" } })
  if not list then return nil, ("could not list the applications of project %s: %s"):format(project.name, tostring(err)) end
  local by = {}
  local function get(name)
    by[name] = by[name] or { cluster = name, project = project.name, groups = {}, gpus = 0, apps = {} }
    return by[name]
  end
  for _, a in ipairs(list) do
    local env = apps.env_of(a)
    local name, role = env.RAYCAI_CLUSTER, env.RAYCAI_ROLE
    if not name then name = a.name:match("^raycai%-(.+)%-head$") role = name and "head" end
    if name and a.name:sub(1, #("raycai-" .. name .. "-")) == "raycai-" .. name .. "-" then
      local c = get(name)
      c.gpus = c.gpus + (tonumber(a.nvidia_gpu) or 0)
      c.apps[#c.apps + 1] = a
      if role == "head" or a.name == "raycai-" .. name .. "-head" then c.head = a end
    end
  end
  local out = {}
  for _, c in pairs(by) do
    local gen = c.head and apps.env_of(c.head).RAYCAI_GENERATION
    local all_ready = true
    for _, a in ipairs(c.apps) do
      if a ~= c.head then
        local group = a.name:sub(#("raycai-" .. c.cluster .. "-") + 1):match("^(.-)%-%d+$") or "worker"
        local g = c.groups[group] or { ready = 0, desired = 0 }
        c.groups[group] = g
        g.desired = g.desired + 1
        if a.status == "APPLICATION_RUNNING" and apps.env_of(a).RAYCAI_GENERATION == gen then
          g.ready = g.ready + 1
        else
          all_ready = false
        end
      end
    end
    local hs = c.head and c.head.status
    if hs == "APPLICATION_RUNNING" then c.status = all_ready and "healthy" or "degraded"
    elseif hs == "APPLICATION_STOPPED" or hs == "APPLICATION_STOPPING" then c.status = "suspended"
    elseif hs == "APPLICATION_STARTING" then c.status = "starting"
    else c.status = "failed" end
    local created = c.head and apps.seconds(c.head.created_at)
    out[#out + 1] = { cluster = c.cluster, project = c.project, project_id = project.id, head = hs or "absent",
                      workers = c.groups, gpus = c.gpus, status = c.status, created_at = c.head and c.head.created_at,
                      age_seconds = created and (clock.time() - created) or nil }
  end
  table.sort(out, function(a, b) return a.cluster < b.cluster end)
  return out
end


--- The projects to look in: --project P, --all-projects, else the current project inside CML,
--- else every project the key can see.
local function projects(client, args)
  if args.project then
    local p, err = client:find_named("list_projects", {}, args.project)
    if p == nil then return nil, ("could not look up project %s: %s"):format(args.project, tostring(err)) end
    if not p then
      local ok, got = pcall(client.get_project, client, args.project)
      if ok and got then return { got } end
      return nil, ("no project %s; raycai-run list --all-projects shows every cluster"):format(args.project), 2
    end
    return { p }
  end
  local current = require("raycai.cml.workload").current_project()
  if current and not args.all_projects then
    local p, err = client:get_project(current)
    if not p then return nil, tostring(err) end
    return { p }
  end
  local list, err = client:list_all("list_projects", {})
  if not list then return nil, "could not list projects: " .. tostring(err) end
  return list
end


-- reads sent side by side at most (like raycai.ray.submissions' job list): a round of 32
local TOGETHER = 32


--- Run fns with client:together, TOGETHER at a time; their first two results, in order.
local function together(client, fns)
  local out = {}
  for first = 1, #fns, TOGETHER do
    local res = client:together(table.unpack(fns, first, math.min(#fns, first + TOGETHER - 1)))
    for k, r in ipairs(res) do out[first + k - 1] = { r[1], r[2] } end
  end
  return out
end


--- The clusters of every project of plist, their applications listed side by side (one round
--- for up to TOGETHER projects); a project whose listing failed is warned about. Returns the
--- clusters and whether every listing worked.
local function all_clusters(client, plist)
  local fns = {}
  for i, p in ipairs(plist) do fns[i] = function() return clusters_of(client, p) end end
  local all, ok = {}, true
  for _, r in ipairs(together(client, fns)) do
    if not r[1] then
      ui.warn(r[2])
      ok = false
    else
      for _, c in ipairs(r[1]) do all[#all + 1] = c end
    end
  end
  return all, ok
end


--- (issue 16) each cluster's autostop.json into its autostop field (settings, false: none, nil:
--- unreadable), read side by side in one client:together round (of up to TOGETHER): a list of
--- many clusters costs one round trip for them, not one each.
local function read_autostop(client, clusters)
  local fns = {}
  for i, c in ipairs(clusters) do
    fns[i] = function() return autostop.read(client, c.project_id, naming.for_cluster(c.cluster, c.project_id)) end
  end
  for i, r in ipairs(together(client, fns)) do clusters[i].autostop = r[1] end
end


--- Run list; returns the exit code.
function M.run(opts)
  local args = opts.day2
  if #args.words > 0 then
    ui.error(("unexpected argument '%s' for list; it takes --project P or --all-projects"):format(args.words[1]))
    return 2
  end
  if args.project and args.all_projects then ui.error("give --project P or --all-projects, not both") return 2 end
  ui.event("run_started", { action = "list", version = require("raycai.host").version })
  local ctx = context.new({ name = "list" }, {}, opts)
  local client, client_err = ctx:client()  -- nil, message, 2: wrong CML settings
  if not client then
    ui.error(tostring(client_err))
    context.close(ctx)
    ui.event("run_finished", { action = "list", exit_code = 2 })
    return 2
  end
  local code = 0
  local plist, perr, pcode = projects(client, args)
  if not plist then
    ui.error(perr)
    code = pcode or 1
  else
    local all, listed = all_clusters(client, plist)
    if not listed then code = 1 end
    read_autostop(client, all)
    report.clusters(all)
  end
  ui.finish()
  context.close(ctx)
  ui.event("run_finished", { action = "list", exit_code = code })
  return code
end


return M
