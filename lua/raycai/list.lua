-- raycai.list: `raycai-run list [--project P | --all-projects]` (issue 15): every raycai cluster,
-- found by name as always (applications raycai-<cluster>-head and raycai-<cluster>-<group>-<i>,
-- and the RAYCAI_CLUSTER/RAYCAI_ROLE the engine sets on them). No recipe needed.
-- WORKERS ready/desired: the recipe's worker count is not stored in CML, so "desired" is the
-- number of worker applications that exist; ready are those RUNNING in the head's generation.
local context = require "raycai.context"
local apps = require "raycai.ray.apps"
local ui = require "raycai.ui"
local clock = require "raycai.clock"
local autostop = require "raycai.ray.autostop"
local naming = require "raycai.ray.naming"

local M = {}


local function age(created_at)
  local t = apps.seconds(created_at)
  if not t then return "" end
  local secs = math.max(0, math.floor(clock.time() - t))
  if secs < 120 then return secs .. "s" end
  if secs < 7200 then return (secs // 60) .. "m" end
  if secs < 172800 then return (secs // 3600) .. "h" end
  return (secs // 86400) .. "d"
end


--- The clusters of one project: a list of { cluster, project, head, workers = {group = {ready, desired}}, ... }.
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
    local all_ready, any = true, false
    for _, a in ipairs(c.apps) do
      if a ~= c.head then
        local group = a.name:sub(#("raycai-" .. c.cluster .. "-") + 1):match("^(.-)%-%d+$") or "worker"
        local g = c.groups[group] or { ready = 0, desired = 0 }
        c.groups[group] = g
        g.desired = g.desired + 1
        any = true
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
    c.head_status = hs or "absent"
    c.age = c.head and age(c.head.created_at) or ""
    c.created_at = c.head and c.head.created_at
    c.any_workers = any
    out[#out + 1] = c
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


local function groups_text(c)
  local parts, names = {}, {}
  for g in pairs(c.groups) do names[#names + 1] = g end
  table.sort(names)
  for _, g in ipairs(names) do
    local x = c.groups[g]
    parts[#parts + 1] = (#names == 1 and g == "worker") and ("%d/%d"):format(x.ready, x.desired)
      or ("%s %d/%d"):format(g, x.ready, x.desired)
  end
  return #parts > 0 and table.concat(parts, ", ") or "0/0"
end


--- Run list; returns the exit code.
function M.run(opts)
  local args = opts.day2
  if #args.words > 0 then ui.error(("unexpected argument '%s' (see raycai-run --help)"):format(args.words[1])) return 2 end
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
  local rows = { { "CLUSTER", "PROJECT", "HEAD", "WORKERS", "GPUS", "STATUS", "AGE", "AUTOSTOP" } }
  local all = {}
  if not plist then
    ui.error(perr)
    code = pcode or 1
  else
    for _, p in ipairs(plist) do
      local cs, cerr = clusters_of(client, p)
      if not cs then ui.warn(cerr) code = 1 else
        for _, c in ipairs(cs) do
          -- (issue 16) the cluster's autostop.json, read from the project (nil: unreadable)
          local auto = autostop.read(client, p.id, naming.for_cluster(c.cluster, p.id))
          rows[#rows + 1] = { c.cluster, c.project, (c.head_status:gsub("^APPLICATION_", "")), groups_text(c),
                              ("%g"):format(c.gpus), c.status, c.age, auto == nil and "?" or autostop.text(auto) }
          local groups = {}
          for g, x in pairs(c.groups) do groups[g] = { ready = x.ready, desired = x.desired } end
          all[#all + 1] = { cluster = c.cluster, project = c.project, head = c.head_status, workers = groups,
                            gpus = c.gpus, status = c.status, created_at = c.created_at,
                            autostop = auto and { idle_minutes = auto.idle_minutes, down = auto.down } or nil }
        end
      end
    end
    if ui.is_json() then ui.event("clusters", { clusters = all })
    elseif #all == 0 then ui.out("no raycai clusters")
    else ui.table(rows) end
  end
  ui.finish()
  context.close(ctx)
  ui.event("run_finished", { action = "list", exit_code = code })
  return code
end


return M
