-- raycai.ray.overlap (issue 17): start applications while the setup job builds the venv.
-- An application's start (pod scheduling, image pull) does not need the venv, only Ray's start
-- does; the launchers wait for their venv's completion marker (wait_for_venv in the templates).
-- overlap = none (setup, then head, then workers), head (the head is created as soon as its
-- launcher is in place, during the setup wait) or all (the workers of every group too). Only
-- when the cluster has no application at all (a project this run created, a new cluster in an
-- existing project, a cluster after down; M.allowed): otherwise the launchers are rewritten
-- after the setup job succeeds, so that a running cluster is not disturbed while a new venv
-- builds (docs/performance.md).
-- Also keeps the phase timings of up (setup, head start, workers) for the summary line and the
-- summary event.
local apps = require "raycai.ray.apps"
local cluster = require "raycai.ray.cluster"
local clock = require "raycai.clock"
local ui = require "raycai.ui"

local M = {}


--- The overlap mode: the parameter, "none" for a recipe whose parameters lack it.
function M.mode(ctx)
  return ctx.params.overlap or "none"
end


local function state(st)
  st.overlap = st.overlap or { workers = {} }
  return st.overlap
end


--- May applications start (and launchers be written) during the setup wait? Only when the
--- cluster has no application: in a project this run created (nothing to look at), else when
--- setup_venv's listing just before its wait (M.note_cluster) found none. A cluster with any
--- application, even a stopped or failed one, keeps today's order: its launchers must match the
--- venv it runs on until the new one exists, and an early create would meet its names (409).
function M.allowed(st)
  return st.fresh or (st.overlap ~= nil and st.overlap.quiet == true)
end


--- setup_venv, before it waits for a run in an existing project: list the cluster's
--- applications (one request, only when a setup job runs and overlap is on) so M.allowed knows
--- whether the cluster has none. A failed listing only means no overlap in this run.
function M.note_cluster(ctx, st)
  if st.fresh or M.mode(ctx) == "none" then return end
  local list = apps.list(st)
  state(st).quiet = list ~= nil and next(list) == nil
end


--- start_head's early work: while the setup job runs (write_launchers.early has uploaded the
--- launchers), create the head, and with overlap=all the workers. Errors are kept for the
--- steps' apply to report (early work must not raise).
function M.early(ctx)
  local st = ctx.state.ray
  local mode = M.mode(ctx)
  if mode == "none" or not (st and st.project and st.scripts and st.setup_waiting and M.allowed(st)) then return end
  local written = st.launchers_written
  if not (written and written[1]) then return end  -- write_launchers' apply reports it
  local rt = cluster.runtimes(ctx)
  if not rt then return end
  local ov = state(st)
  if ov.head or ov.head_err then return end
  local client, pid = st.client, st.project.id
  local body, spec = apps.desired(ctx, st, "head", rt)
  local generation = apps.new_generation()
  M.phase_start(st, "head start")
  local created, cerr = client:create_application(pid, apps.stamp(body, spec, generation))
  if not created then
    local hint = cerr.status == 409 and apps.conflict_hint(st, body) or ""
    ov.head_err = ("could not create the head application %s: %s%s"):format(body.name, tostring(cerr), hint)
    return
  end
  ui.object("created", "application", body.name, { id = created.id, generation = generation })
  st.generation = generation
  ov.head = created
  if mode ~= "all" then return end
  -- every group's workers, in start_workers' order (lazy require: workers requires this module)
  local bodies = {}
  for i, w in ipairs(require("raycai.ray.workers").wanted(ctx.params, st.names)) do
    local b, s = apps.desired(ctx, st, w.group, rt, w.index)
    bodies[i] = apps.stamp(b, s, generation)
    bodies[i].environment.RAYCAI_WORKER_INDEX = tostring(w.index)
  end
  if #bodies == 0 then return end
  M.phase_start(st, "workers")
  local results = client:create_applications(pid, bodies, { parallel = ctx.params.parallel })
  local failed = {}
  for i, res in ipairs(results) do
    if res[1] then
      -- as start_workers' listing would show it: reconcile keeps it (same spec and generation)
      ov.workers[bodies[i].name] = { id = res[1].id, name = bodies[i].name, environment = bodies[i].environment,
                                      status = res[1].status or "APPLICATION_STARTING" }
      ui.object("created", "application", bodies[i].name, { id = res[1].id, generation = generation })
    else
      failed[#failed + 1] = ("%s: %s"):format(bodies[i].name, tostring(res[2]))
    end
  end
  ov.workers_done = clock.monotonic()  -- M.workers_due
  if #failed > 0 then
    ov.workers_err = ("could not create %d of %d worker(s): %s"):format(#failed, #bodies, table.concat(failed, "; "))
  end
end


--- Was an application created early in this run (the head, at least)?
function M.started_early(st)
  return st.overlap ~= nil and st.overlap.head ~= nil
end


--- setup_venv, once its first run has ended: list the cluster's applications when some were
--- started early (the caller sends this beside its last looks at the other runs). The listing
--- serves as start_head's first look (M.listing).
function M.list_early(st)
  if not M.started_early(st) then return end
  st.overlap.listing = apps.list(st) or nil
end


--- The listing of the applications started early taken at the setup's end (or by start_head's
--- wait, for start_workers'), to use as a wait's first look instead of a request, or nil.
--- Taken once: a later wait lists again.
function M.listing(st)
  local ov = st.overlap
  local list = ov and ov.listing
  if ov then ov.listing = nil end
  return list
end


--- Seconds from now until the workers created early are due, `start` seconds (an application's
--- start) after their creates came back; 0 when that has passed or none were created early.
function M.workers_due(st, start)
  local done = st.overlap and st.overlap.workers_done
  if not done then return 0 end
  return math.max(0, done + start - clock.monotonic())
end


--- start_head's apply: the head created early, or nil; nil, err when its create failed.
function M.created_head(st)
  local ov = st.overlap
  if not ov then return nil end
  if ov.head_err then return nil, ov.head_err end
  return ov.head
end


--- start_workers' apply: its listing with the workers created early added (so they are kept,
--- not created again); nil, err when some could not be created (the others are removed first
--- unless keep_partial).
function M.with_workers(ctx, st, list)
  local ov = st.overlap
  if not ov or not next(ov.workers) and not ov.workers_err then return list end
  if ov.workers_err then
    -- as for a batch created after the head: the head stays, the workers created go
    local note = M.remove(ctx, st, true)
    return nil, ov.workers_err .. (note and ("; " .. note) or "")
  end
  local out = {}
  for k, v in pairs(list) do out[k] = v end
  for name, a in pairs(ov.workers) do out[name] = a end
  return out
end


--- Delete the applications created early (the workers, and the head unless keep_head), or
--- keep them with keep_partial. Returns a phrase for the error message, or nil when none.
function M.remove(ctx, st, keep_head)
  local ov = st.overlap
  if not ov then return nil end
  local doomed = {}
  if ov.head and not keep_head then doomed[#doomed + 1] = ov.head end
  for _, a in pairs(ov.workers) do doomed[#doomed + 1] = a end
  if #doomed == 0 then return nil end
  if ctx.params.keep_partial then
    return ("kept the %d application(s) started early (keep_partial)"):format(#doomed)
  end
  table.sort(doomed, function(a, b) return a.name < b.name end)
  local ids = {}
  for i, a in ipairs(doomed) do ids[i] = a.id end
  local results = st.client:delete_applications(st.project.id, ids, { parallel = ctx.params.parallel })
  local failed = 0
  for i, res in ipairs(results) do
    if res[1] or (res[2] and res[2].status == 404) then
      ui.object("deleted", "application", doomed[i].name, { id = doomed[i].id })
    else
      failed = failed + 1
    end
  end
  ov.workers = {}
  if not keep_head then ov.head = nil end
  if failed > 0 then
    return ("could not remove %d of the %d application(s) started early; run down"):format(failed, #doomed)
  end
  -- up ends with nothing left: a deleted application may linger STOPPING with its name taken
  local gone, gerr = apps.wait_gone(st, doomed, ctx.params.timeouts.head, "applications",
    { initial = require("raycai.cml.poll").SETTLE })
  if not gone then
    return ("deleted the %d application(s) started early, but: %s"):format(#doomed, tostring(gerr))
  end
  return ("removed the %d application(s) started early (overlap=%s)"):format(#doomed, M.mode(ctx))
end


--- setup_venv's apply, when the setup failed (not interrupted): err with what became of the
--- applications started early.
function M.setup_failed(ctx, st, err)
  local note = M.remove(ctx, st, false)
  if not note then return err end
  if ctx.params.keep_partial then note = note .. ": their launchers exit on the setup's failure marker" end
  return ("%s\n(%s)"):format(err, note)
end


--- The head's venv was built by this run (its finished_at, CML's clock).
function M.setup_ended(st, run)
  state(st).setup_finished = apps.seconds(run.finished_at)
end


--- How long an application takes to start, from the head `app` (its starting_at and
--- running_at): a head started early may have waited for the venv (its launcher opens the port
--- only once Ray runs), which says nothing about the workers' start; its time counts only when
--- it was RUNNING before the setup run that builds its venv finished (both times are CML's).
function M.start_estimate(st, early, app)
  local secs = apps.start_seconds(app)
  if not early or not secs then return secs end
  local running, finished = apps.seconds(app and app.running_at), st.overlap and st.overlap.setup_finished
  if running and finished and running < finished then return secs end
  return nil
end


--- ---- phase timings (the summary line and the summary event) ----

function M.phase_start(st, name)
  local ov = state(st)
  ov.phases = ov.phases or {}
  for _, ph in ipairs(ov.phases) do if ph.name == name then return end end
  ov.phases[#ov.phases + 1] = { name = name, t0 = clock.monotonic() }
end


function M.phase_end(st, name)
  local ov = st.overlap
  for _, ph in ipairs(ov and ov.phases or {}) do
    if ph.name == name and not ph.t1 then ph.t1 = clock.monotonic() end
  end
end


--- The phases of this up: { {name, seconds, overlapped = boolean} } in order of start, and the
--- total seconds since the run first looked at the cluster. A phase overlaps when it started
--- before the one before it ended.
function M.phases(st)
  local list = {}
  for _, ph in ipairs(st.overlap and st.overlap.phases or {}) do
    if ph.t1 then list[#list + 1] = ph end
  end
  table.sort(list, function(a, b) return a.t0 < b.t0 end)
  local out = {}
  for i, ph in ipairs(list) do
    out[i] = { name = ph.name, seconds = ph.t1 - ph.t0, overlapped = i > 1 and ph.t0 < list[i - 1].t1 }
  end
  return out, st.t0 and (clock.monotonic() - st.t0) or nil
end


--- "setup 3.2 s ‖ head start 2.0 s, workers 2.1 s, total 5.6 s" (‖: ran alongside the one before).
function M.phases_line(st)
  local list, total = M.phases(st)
  if #list == 0 then return nil end
  local parts = {}
  for i, ph in ipairs(list) do
    local text = ("%s %.1f s"):format(ph.name, ph.seconds)
    parts[#parts + 1] = (i == 1 and "" or (ph.overlapped and " ‖ " or ", ")) .. text
  end
  if total then parts[#parts + 1] = (", total %.1f s"):format(total) end
  return table.concat(parts)
end


--- The same for --json: { setup = s, head_start = s, workers = s, total = s, overlapped = {names} }.
function M.phases_json(st, mode)
  local list, total = M.phases(st)
  local out = { total = total, overlap = mode }
  local overlapped = {}
  for _, ph in ipairs(list) do
    out[(ph.name:gsub(" ", "_"))] = math.floor(ph.seconds * 1000 + 0.5) / 1000
    if ph.overlapped then overlapped[#overlapped + 1] = ph.name end
  end
  if total then out.total = math.floor(total * 1000 + 0.5) / 1000 end
  out.overlapped = overlapped
  return out
end


return M
