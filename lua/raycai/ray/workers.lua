-- raycai.ray.workers: the start_workers step. Worker i of group g is application <prefix><g>-i
-- (raycai.ray.groups; the default group is "worker") bound to the head's generation. Every group
-- is reconciled in the same batches: missing or stale workers of all groups are (re)created
-- concurrently, surplus ones (and those of groups no longer in the recipe) deleted, and all are
-- waited for with one list request per poll. Never a silent head-only cluster.
local cluster = require "raycai.ray.cluster"
local apps = require "raycai.ray.apps"
local poll = require "raycai.cml.poll"
local ui = require "raycai.ui"
local groups = require "raycai.ray.groups"
local overlap = require "raycai.ray.overlap"  -- issue 17
local sorted_keys = require("raycai.tables").sorted_keys

local M = {}

local MAX_SETTLE = 10  -- seconds at most before the first look at new workers


--- Every wanted worker: { group, index, name } of each group in order.
local function wanted(p, names)
  local out = {}
  for _, g in ipairs(groups.of(p)) do
    for i = 1, g.workers do out[#out + 1] = { group = g.name, index = i, name = names.group_app(g.name, i) } end
  end
  return out
end
M.wanted = wanted


--- Sort the cluster's existing workers against every group's wanted count: keep, replace,
--- create, delete (surplus of a group, or any worker of a group no longer in the recipe).
local function reconcile(ctx, st, list, generation)
  local rt, err = cluster.runtimes(ctx)
  if not rt then return nil, err end
  local want = wanted(ctx.params, st.names)
  local r = { keep = {}, replace = {}, create = {}, delete = {}, bodies = {}, want = want }
  local wanted_names = {}
  for k, w in ipairs(want) do
    wanted_names[w.name] = true
    local body, spec = apps.desired(ctx, st, w.group, rt, w.index)
    r.bodies[k] = { body = body, spec = spec, want = w }
    local app = list[body.name]
    if not app then r.create[#r.create + 1] = k
    elseif generation and apps.matches(app, spec, generation) then r.keep[#r.keep + 1] = app
    else r.replace[#r.replace + 1] = { index = k, app = app } end
  end
  local current = {}
  for _, g in ipairs(groups.of(ctx.params)) do current[g.name] = true end
  for _, name in ipairs(sorted_keys(list)) do
    local g = apps.group_of_app(st, list[name])
    if g and not wanted_names[name] then
      list[name].raycai_group = g
      r.delete[#r.delete + 1] = list[name]
      r.delete[#r.delete].removed_group = not current[g]
    end
  end
  return r
end


--- Delete applications concurrently; returns true or nil, err naming the ones that failed.
local function delete_all(ctx, st, list)
  if #list == 0 then return true end
  local ids = {}
  for i, a in ipairs(list) do ids[i] = a.id end
  local results = st.client:delete_applications(st.project.id, ids, { parallel = ctx.params.parallel })
  local failed = {}
  for i, res in ipairs(results) do
    if res[1] or (res[2] and res[2].status == 404) then
      ui.object("deleted", "application", list[i].name, { id = list[i].id })
    else
      failed[#failed + 1] = ("%s: %s"):format(list[i].name, tostring(res[2]))
    end
  end
  if #failed > 0 then return nil, "could not delete " .. table.concat(failed, "; ") end
  return true
end


function M.plan(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  local changes = {}
  if not st.project then
    for _, w in ipairs(wanted(ctx.params, st.names)) do
      changes[#changes + 1] = { action = "create", kind = "application", name = w.name, detail = "worker", group = w.group }
    end
    return changes
  end
  local list, lerr = apps.listed(st)
  if not list then return nil, lerr end
  local r, rerr = reconcile(ctx, st, list, st.generation)
  if not r then return nil, rerr end
  local running = 0
  for _, a in ipairs(r.keep) do
    local starting = a.status ~= "APPLICATION_RUNNING"
    if not starting then running = running + 1 end
    changes[#changes + 1] = { action = "keep", kind = "application", name = a.name, pending = starting,
                              group = apps.group_of_app(st, a),
                              detail = starting and (a.status .. ": up waits for it") or a.status }
  end
  st.workers_ready = running
  for _, x in ipairs(r.replace) do
    changes[#changes + 1] = { action = "update", kind = "application", name = x.app.name,
                              detail = x.app.status == "APPLICATION_STOPPED" and "suspended: re-created with the head"
                                       or "replace worker",
                              group = r.bodies[x.index].want.group }
  end
  for _, k in ipairs(r.create) do
    local w = r.bodies[k].want
    changes[#changes + 1] = { action = "create", kind = "application", name = w.name, detail = "worker", group = w.group }
  end
  for _, a in ipairs(r.delete) do
    changes[#changes + 1] = { action = "delete", kind = "application", name = a.name, group = a.raycai_group,
                              detail = a.removed_group and "group no longer in the recipe" or "surplus worker" }
  end
  table.sort(changes, function(a, b) return a.name < b.name end)
  return changes
end


--- While the setup job runs: the workers' bodies and spec hashes (CPU work that would
--- otherwise sit between the head's start and the first create).
function M.early(ctx)
  local st = ctx.state.ray
  if not (st and st.project and st.scripts) then return end
  local rt = cluster.runtimes(ctx)
  if not rt then return end  -- apply reports it
  for _, w in ipairs(wanted(ctx.params, st.names)) do apps.desired(ctx, st, w.group, rt, w.index) end
end


function M.apply(ctx)
  local st, err = cluster.prepare(ctx, true)
  if not st then return nil, err end
  if not st.generation then return nil, "start_workers needs start_head to run first" end
  -- the listing where start_head saw its head running (issues 13, 17): every group reconciles
  -- from it; without one (a recipe whose head step is its own), list now, unless this run
  -- created the project (no workers yet)
  local head_listing = st.head_listing
  st.head_listing = nil
  local list, lerr = head_listing or {}, nil
  if not head_listing and not st.fresh then list, lerr = apps.list(st) end
  if list then list, lerr = overlap.with_workers(ctx, st, list) end  -- issue 17: created early
  if not list then return nil, lerr end
  local r, rerr = reconcile(ctx, st, list, st.generation)
  if not r then return nil, rerr end
  -- surplus and stale workers go first: they hold quota
  local doomed = {}
  for _, a in ipairs(r.delete) do doomed[#doomed + 1] = a end
  for _, x in ipairs(r.replace) do doomed[#doomed + 1] = x.app end
  local ok, derr = delete_all(ctx, st, doomed)
  if not ok then return nil, derr end
  -- replacements reuse the names and subdomains: wait until the deleted ones are gone
  local reused = {}
  for _, x in ipairs(r.replace) do reused[#reused + 1] = x.app end
  local gone, gerr = apps.wait_gone(st, reused, ctx.params.timeouts.workers, "workers",
    { initial = poll.SETTLE, meanwhile = function() ctx:idle() end })
  if not gone then return nil, gerr end
  for _, a in ipairs(r.keep) do ui.object("kept", "application", a.name, { id = a.id, status = a.status }) end

  local todo = {}
  for _, i in ipairs(r.create) do todo[#todo + 1] = i end
  for _, x in ipairs(r.replace) do todo[#todo + 1] = x.index end
  table.sort(todo)
  local bodies = {}
  for k, i in ipairs(todo) do
    bodies[k] = apps.stamp(r.bodies[i].body, r.bodies[i].spec, st.generation)
    bodies[k].environment.RAYCAI_WORKER_INDEX = tostring(r.bodies[i].want.index)
  end
  local settle = 0
  if #bodies > 0 then
    overlap.phase_start(st, "workers")  -- issue 17
    local results = st.client:create_applications(st.project.id, bodies, { parallel = ctx.params.parallel })
    -- a worker starts in about the time the head took (same workspace, same launcher), so the
    -- last one created is due that long after the batch: look first then, then poll adaptively
    -- (looking earlier costs a request and a whole interval; a little late costs less)
    -- (capped: a slow head must not hide a worker that fails at once)
    settle = math.min(MAX_SETTLE, math.max(poll.SETTLE, st.app_start_seconds or 0))
    local created, failed = {}, {}
    local now_listed  -- listed once for every 409's explanation
    for k, res in ipairs(results) do
      if res[1] then
        created[#created + 1] = res[1]
        ui.object("created", "application", bodies[k].name, { id = res[1].id, generation = st.generation })
      else
        local hint = ""
        if res[2] and res[2].status == 409 then
          now_listed = now_listed or apps.list(st) or {}
          hint = apps.conflict_hint(st, bodies[k], now_listed)
        end
        failed[#failed + 1] = ("%s: %s%s"):format(bodies[k].name, tostring(res[2]), hint)
      end
    end
    if #failed > 0 then
      -- do not leave a half-created batch running (GPU applications are costly)
      if #created > 0 and not ctx.params.keep_partial then
        ui.warn(("removing the %d worker(s) created in this run because %d could not be created "
          .. "(set keep_partial=true to keep them)"):format(#created, #failed))
        delete_all(ctx, st, created)
      end
      return nil, ("could not create %d of %d worker(s): %s"):format(#failed, #bodies, table.concat(failed, "; "))
    end
  end

  local names = {}
  for k, w in ipairs(r.want) do names[k] = w.name end
  local p = ctx.params
  -- nothing created or deleted since start_head's listing (issue 17: every worker created
  -- early, or all kept): that listing is the wait's first look
  local given = (#bodies == 0 and #doomed == 0) and head_listing or nil
  if given then
    -- when that look finds some still starting, the next comes when they are due (created
    -- early, they start in about the head's time), not at once and fast
    settle = math.min(MAX_SETTLE, overlap.workers_due(st, st.app_start_seconds or poll.SETTLE))
  end
  -- after a pause as long as the head's start, they are due: a first look that comes a tick
  -- too early is followed by fast ones (50 ms, growing), not by a whole SETTLE interval
  local first = settle > 0 and (st.app_start_seconds and poll.FIRST or poll.SETTLE) or nil
  local wok, werr, pending, listing = apps.wait_running(st, names, p.timeouts.workers, "workers",
    { initial = settle, first = first, meanwhile = function() ctx:idle() end,
      listing = given,
      pending = not p.keep_partial and p.timeouts.pending or nil })
  if not wok then
    if werr == "interrupted" then return nil, werr end
    if pending then
      -- GPU applications that start later would burn GPUs nobody uses: remove them
      local doomed_pending = {}
      for _, name in ipairs(pending) do doomed_pending[#doomed_pending + 1] = listing[name] end
      local dok, derr2 = delete_all(ctx, st, doomed_pending)
      return nil, ("%s; %s; free GPU/CPU in the workspace, or lower workers/worker.gpu, then run up "
        .. "again (keep_partial=true keeps them waiting until timeouts.workers)"):format(werr,
        dok and ("removed the %d pending worker(s)"):format(#pending) or tostring(derr2))
    end
    return nil, werr .. require("raycai.ray.logs").hint(ctx, st, werr)  -- (issue 15)
      .. "; the head is up: run up again to replace failed workers, or down to remove the cluster"
  end
  st.workers_ready = #names
  overlap.phase_end(st, "workers")  -- issue 17
  -- every application now uses this run's venvs: the cluster's older ones can go
  require("raycai.ray.venv_owners").collect(ctx, st)
  return true, ("%d/%d workers running"):format(#names, #names)
end


function M.destroy(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  if not st.project then return true, "no project" end
  local list, lerr = apps.list(st)
  if not list then return nil, lerr end
  st.app_list = list  -- start_head's destroy finds the head here
  local doomed = {}
  for _, name in ipairs(sorted_keys(list)) do
    if apps.group_of_app(st, list[name]) then doomed[#doomed + 1] = list[name] end
  end
  local ok, derr = delete_all(ctx, st, doomed)
  if not ok then return nil, derr end
  st.deleted_workers = doomed  -- start_head's destroy waits until they are gone
  return true, ("%d worker(s) deleted"):format(#doomed)
end


function M.status(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st or not st.project then return st and {} or nil, err end
  local list, lerr = apps.listed(st)
  if not list then return nil, lerr end
  local rows = {}
  local wanted_names = {}
  for _, w in ipairs(wanted(ctx.params, st.names)) do
    wanted_names[w.name] = true
    local a = list[w.name]
    if a then
      local stale = st.generation and apps.env_of(a).RAYCAI_GENERATION ~= st.generation
      rows[#rows + 1] = apps.row(a, "worker", { state = a.status .. (stale and " (stale generation)" or ""),
                                                healthy = a.status == "APPLICATION_RUNNING" and not stale,
                                                group = w.group })
    else
      rows[#rows + 1] = { kind = "application", role = "worker", name = w.name, state = "absent", healthy = false,
                          group = w.group }
    end
  end
  for _, name in ipairs(sorted_keys(list)) do
    local g = apps.group_of_app(st, list[name])
    if g and not wanted_names[name] then
      rows[#rows + 1] = apps.row(list[name], "surplus", { group = g })
    end
  end
  return rows
end


M.step = { name = "start_workers", plan = M.plan, apply = M.apply, destroy = M.destroy, status = M.status,
           early = M.early }

return M
