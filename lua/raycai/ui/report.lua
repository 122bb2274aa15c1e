-- raycai.ui.report: the results of actions as the user sees them: plan's table of changes,
-- status's table of objects, up's summary, the parameter table. The runner (raycai.runner and
-- raycai.actions) prints through here; steps and hooks only return the data. Each function
-- emits the JSON events of docs/json-events.md and, without --json, the human text.
local ui = require "raycai.ui"

local M = {}


local function num(v) return v and ("%g"):format(v) or "" end


--- "42s", "5m", "3h", "2d" for an age in seconds; "" when unknown.
function M.age(secs)
  if not secs then return "" end
  secs = math.max(0, math.floor(secs))
  if secs < 120 then return secs .. "s" end
  if secs < 7200 then return (secs // 60) .. "m" end
  if secs < 172800 then return (secs // 3600) .. "h" end
  return (secs // 86400) .. "d"
end


--- The columns of the status table of a recipe whose hooks describe its objects (status_info):
--- { header, field of the row, format }. The rows are open tables: a new column is one entry here
--- (and, for --json, its field in STATUS_EVENT_FIELDS and docs/json-events.md).
M.STATUS_COLUMNS = {
  { "OBJECT", "name" },
  { "ROLE", "role", function(v, row) return v or row.kind end },
  { "STATUS", "state" },
  { "CPU", "cpu", num },
  { "MEMORY", "memory", function(v) return v and (num(v) .. " GB") or "" end },
  { "GPU", "gpu", num },
  { "AGE", "age_seconds", M.age },
  { "GROUP", "group" },
  { "AUTOSTOP", "autostop" },  -- issue 16: on the head's row
}

--- The status table of a recipe without status_info.
M.BASIC_STATUS_COLUMNS = { { "KIND", "kind" }, { "NAME", "name" }, { "STATE", "state" } }

--- The fields of each object_status event.
M.STATUS_EVENT_FIELDS = { "kind", "role", "name", "state", "cpu", "memory", "gpu", "created_at", "group" }


--- Rows of cells under the headers of `columns` ({ header, field, format(value, row) }), for
--- ui.table (raycai.ui.day2_report's tables use it too).
local function cells(columns, rows)
  local t = { {} }
  for i, c in ipairs(columns) do t[1][i] = c[1] end
  for _, row in ipairs(rows) do
    local line = {}
    for i, c in ipairs(columns) do
      local v = row[c[2]]
      if c[3] then v = c[3](v, row) end
      line[i] = v == nil and "" or tostring(v)
    end
    t[#t + 1] = line
  end
  return t
end
M.cells = cells


--- plan's changes: the table, one plan_change event each, the closing line and plan_summary.
--- pending: how many are pending (raycai.recipe.pending).
function M.plan(changes, pending)
  for _, c in ipairs(changes) do
    ui.event("plan_change", { action = c.action, kind = c.kind, name = c.name, detail = c.detail, step = c.step,
                              group = c.group })
  end
  ui.table(cells({ { "ACTION", "action" }, { "KIND", "kind" }, { "NAME", "name" }, { "DETAIL", "detail" },
                   { "GROUP", "group" } }, changes))
  ui.out(pending == 0 and "No changes: the cluster matches the recipe."
         or ("%d change(s) pending; run 'up' to apply."):format(pending))
  ui.event("plan_summary", { pending = pending })
end


--- status: the rows as a table (one object_status event each with info), then what `info`
--- (a recipe's hooks.status_info: { healthy, suspended, dashboard, head_address, ray_auth,
--- ray_auth_text }) says. Without info only the basic table. Returns whether it is healthy.
function M.status(rows, info)
  if not info then
    local healthy = true
    for _, row in ipairs(rows) do if row.healthy == false then healthy = false end end
    ui.table(cells(M.BASIC_STATUS_COLUMNS, rows))
    return healthy
  end
  for _, row in ipairs(rows) do
    local ev = {}
    for _, f in ipairs(M.STATUS_EVENT_FIELDS) do ev[f] = row[f] end
    ui.event("object_status", ev)
  end
  ui.table(cells(M.STATUS_COLUMNS, rows))
  if info.dashboard then ui.out("dashboard: " .. info.dashboard) end
  if info.head_address then ui.out("head address: " .. info.head_address) end
  if info.ray_auth_text then ui.out("ray auth: " .. info.ray_auth_text) end
  ui.out(info.healthy and "cluster healthy" or info.suspended and "cluster suspended (resume brings it back)"
         or "cluster not healthy")
  ui.event("status_summary", { healthy = info.healthy, suspended = info.suspended, dashboard = info.dashboard,
                               head_address = info.head_address, ray_auth = info.ray_auth,
                               autostop = info.autostop })
  return info.healthy
end


--- up's summary (a recipe's hooks.summary): the summary event and the lines
---   Ray cluster 'gpu' is up in project ray-gpu (generation ...)
---     head: / dashboard: / workers: / ray auth: / time:
--- s: { cluster, project, generation, head_address, head_pending, dashboard, workers_ready,
--- workers, ray_auth, ray_auth_text, phases (text), phases_json }.
function M.summary(s)
  ui.event("summary", { cluster = s.cluster, project = s.project, head_address = s.head_address,
                        dashboard = s.dashboard, generation = s.generation, workers_ready = s.workers_ready,
                        workers = s.workers, ray_auth = s.ray_auth, phases = s.phases_json })
  ui.out(("Ray cluster '%s' is up in project %s (generation %s)"):format(s.cluster, s.project, s.generation or "?"))
  ui.out("  head:      " .. (s.head_address or ("running (address not published yet in " .. tostring(s.head_pending) .. ")")))
  if s.dashboard then ui.out("  dashboard: " .. s.dashboard) end
  ui.out(("  workers:   %d/%d running"):format(s.workers_ready, s.workers))
  ui.out("  ray auth:  " .. s.ray_auth_text)
  if s.phases then ui.out("  time:      " .. s.phases) end
end


--- --list-recipes: { name, doc } of each shipped recipe, as a table or the recipes event.
function M.recipes(list)
  if ui.is_json() then
    ui.event("recipes", { recipes = list })
    return
  end
  ui.table(cells({ { "RECIPE", "name" }, { "DESCRIPTION", "doc" } }, list))
end


--- A parameter value in the table: lists and maps comma-joined and sorted, "-" for none.
local function show(v)
  if type(v) == "table" then
    local parts = {}
    for k, x in pairs(v) do
      parts[#parts + 1] = math.type(k) and tostring(x) or (tostring(k) .. "=" .. tostring(x))
    end
    table.sort(parts)
    return #parts > 0 and table.concat(parts, ",") or "-"
  end
  if v == nil then return "-" end
  if v == "" then return '""' end
  return tostring(v)
end


--- params (and help about a recipe): every parameter with type, default, value and doc; a
--- secret's value and default are shown as ***. The `params` event with --json.
function M.params(r, values)
  local params = require "raycai.params"
  local rows = { { "PARAMETER", "TYPE", "DEFAULT", "VALUE", "DOC" } }
  local list = {}
  for _, leaf in ipairs(params.flatten(r.params)) do
    local v = params.lookup(values, leaf.path)
    local shown = leaf.param.secret and (v and "***" or "-") or show(v)
    rows[#rows + 1] = { leaf.path, leaf.param.type, leaf.param.secret and "***" or show(leaf.param.default),
                        shown, leaf.param.doc }
    local hidden = leaf.param.secret and "***" or nil
    list[#list + 1] = { name = leaf.path, type = leaf.param.type, default = hidden or leaf.param.default,
                        value = hidden or v, doc = leaf.param.doc }
  end
  if ui.is_json() then
    ui.event("params", { recipe = r.name, params = list })
    return
  end
  ui.table(rows)
end


return M
