-- raycai.ray.head: the start_head step. One application with a stable name and subdomain; kept
-- while it runs with the same spec, replaced (with a new generation) when the spec changed or it
-- is not alive. Ready means APPLICATION_RUNNING; head.json's address is shown when present.
local cluster = require "raycai.ray.cluster"
local apps = require "raycai.ray.apps"
local poll = require "raycai.cml.poll"
local setup = require "raycai.ray.setup"
local ui = require "raycai.ui"
local cjson = require "cjson.safe"
local overlap = require "raycai.ray.overlap"  -- issue 17
local state = require "raycai.ray.state"

local M = {}


--- The head application we want: body, spec. Needs scripts and runtimes.
local function want(ctx, st)
  local s, err = setup.scripts(ctx, st)
  if not s then return nil, err end
  local rt, rerr = cluster.runtimes(ctx)
  if not rt then return nil, rerr end
  return apps.desired(ctx, st, "head", rt)
end


--- head.json of this generation, if the head has written it (never waits). `data` (optional):
--- its content as read before (false: it was missing), instead of downloading it now.
function M.head_info(st, generation, data)
  if data == nil then data = st.client:download_file(st.project.id, st.names.files.head_json) end
  if not data then return nil end
  local info = cjson.decode(data)  -- cjson.safe: a torn or hand-edited file is no address
  if type(info) ~= "table" or info.generation ~= generation then return nil end
  return info
end


function M.plan(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  if not st.project then
    return { { action = "create", kind = "application", name = st.names.head, detail = "head" } }
  end
  local body, spec = want(ctx, st)
  if not body then return nil, spec end
  local list, lerr = state.reads(st, ctx).listed, nil  -- M.reads listed it beside the others' reads
  if not list then list, lerr = apps.list(st) end
  if not list then return nil, lerr end
  st.app_list = list
  local head = list[st.names.head]
  if not head then
    return { { action = "create", kind = "application", name = body.name, detail = "head" } }
  end
  if apps.matches(head, spec) then
    st.generation = apps.env_of(head).RAYCAI_GENERATION
    local starting = head.status ~= "APPLICATION_RUNNING"
    return { { action = "keep", kind = "application", name = body.name, pending = starting,
               detail = starting and (head.status .. ": up waits for it") or head.status } }
  end
  return { { action = "update", kind = "application", name = body.name,
             detail = apps.LIVE[head.status] and "spec changed: replace head and workers"
                      or head.status == "APPLICATION_STOPPED" and "suspended: resume re-creates it (new generation)"
                      or ("replace " .. tostring(head.status)) } }
end


function M.apply(ctx)
  local st, err = cluster.prepare(ctx, true)
  if not st then return nil, err end
  local client, pid = st.client, st.project.id
  local body, spec = want(ctx, st)
  if not body then return nil, spec end
  local early, eerr = overlap.created_head(st)  -- issue 17: created while the setup job ran
  if eerr then return nil, eerr end
  -- a project this run created has no applications; an early head needs no listing either
  -- (its wait's first look is the listing setup_venv made: overlap.listing)
  local list, lerr = {}, nil
  if not st.fresh and not early then list, lerr = apps.list(st) end
  if not list then return nil, lerr end
  local head = list[st.names.head]
  if early then
    head = early
  elseif head and apps.matches(head, spec) then
    st.generation = apps.env_of(head).RAYCAI_GENERATION
    ui.object("kept", "application", head.name, { id = head.id, status = head.status })
  else
    if head then
      local why = apps.LIVE[head.status] and "its spec changed" or ("it is " .. tostring(head.status))
      ui.info(("replacing head %s: %s (its workers are replaced too)"):format(head.name, why))
      local ok, derr = client:delete_application(pid, head.id)
      if not ok and derr.status ~= 404 then
        return nil, ("could not delete the old head %s: %s"):format(head.name, tostring(derr))
      end
      ui.object("deleted", "application", head.name, { id = head.id })
      -- same name and subdomain (the dashboard URL stays): wait until CML has let go of them
      local gone, gerr = apps.wait_gone(st, { head }, ctx.params.timeouts.head, "head",
        { initial = apps.LIVE[head.status] and poll.SETTLE or 0, meanwhile = function() ctx:idle() end })
      if not gone then return nil, gerr end
    end
    st.generation = apps.new_generation()
    overlap.phase_start(st, "head start")  -- issue 17
    local created, cerr = client:create_application(pid, apps.stamp(body, spec, st.generation))
    if not created then
      local hint = cerr.status == 409 and apps.conflict_hint(st, body) or ""
      return nil, ("could not create the head application %s: %s%s"):format(body.name, tostring(cerr), hint)
    end
    ui.object("created", "application", body.name, { id = created.id, generation = st.generation })
    head = created
  end
  -- a head created just now is STARTING: look first after a pause
  local settle = (head == list[st.names.head] or early) and 0 or poll.SETTLE
  -- on success the second result is the last listing, on failure the error
  local p = ctx.params
  local ok, res, pending
  if head == list[st.names.head] and head.status == "APPLICATION_RUNNING" then
    -- (issue 13) an unchanged head, running in the listing just taken: that listing is the
    -- head's check (and, below, start_workers' read). A head that is not running yet is waited
    -- for first, so a head that fails still gets no worker.
    ui.event("state_changed", { kind = "application", name = head.name, state = head.status })
    ok, res = true, list
  else
    ok, res, pending = apps.wait_running(st, { body.name }, p.timeouts.head, "head",
      { initial = settle, first = poll.SETTLE, listing = early and overlap.listing(st) or nil,
        -- issue 17: a head started early is likely running now: the deferred checks wait for the workers' wait
        meanwhile = not early and function() ctx:idle() end or nil,
        pending = not p.keep_partial and math.min(p.timeouts.pending, p.timeouts.head) or nil })
  end
  if not ok then
    if res == "interrupted" then return nil, res end
    if pending then
      -- a head that cannot be scheduled would start later and hold its CPU for nothing
      local dok, derr = client:delete_application(pid, head.id)
      local removed = (dok or derr.status == 404) and ("removed %s"):format(body.name)
        or ("could not remove %s: %s"):format(body.name, tostring(derr))
      return nil, ("%s; %s; free capacity in the workspace or lower head.cpu/head.memory, then run up "
        .. "again (keep_partial=true waits until timeouts.head instead)"):format(res, removed)
    end
    -- (issue 15) the launcher's own log in the project: raycai-run RECIPE logs head
    local recipe = ctx.options.recipe or "RECIPE"
    return nil, ("%s; see raycai-run %s logs head (or, when it has none, the application's logs in CML: "
      .. "project %s, application %s) and the setup log (raycai-run %s logs setup)"):format(res, recipe,
      st.project.name, body.name, recipe)
  end
  st.head = head
  -- the listing where the head was seen running: start_workers reconciles every group from it
  -- (nothing is created or deleted in between), so the groups' read costs no request of its own
  st.head_listing = res
  overlap.phase_end(st, "head start")  -- issue 17
  -- how long this cluster's applications take to start: workers look first after about that
  st.app_start_seconds = overlap.start_estimate(st, early, res[body.name])  -- issue 17
  if require("raycai.ray.groups").total(ctx.params) == 0 then
    -- with workers, the summary reads head.json once they have joined (and so it exists)
    local info = M.head_info(st, st.generation)
    st.head_address = info and info.address
  end
  return true, st.head_address and ("Ray head at " .. st.head_address) or ("generation " .. st.generation)
end


function M.destroy(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  if not st.project then return true, "no project" end
  -- down: start_workers (before us) listed the cluster's applications under the same lock
  local list, lerr = apps.listed(st)
  if not list then return nil, lerr end
  local head = list[st.names.head]
  local doomed = {}
  for _, a in ipairs(st.deleted_workers or {}) do doomed[#doomed + 1] = a end
  if not head then
    -- down means gone: deleted applications may linger STOPPING with their names taken
    local gone, gerr = apps.wait_gone(st, doomed, ctx.params.timeouts.head, "applications", { initial = poll.SETTLE })
    if not gone then return nil, gerr end
    return true, "no head"
  end
  local ok, derr = st.client:delete_application(st.project.id, head.id)
  if not ok and derr.status ~= 404 then
    return nil, ("could not delete the head %s: %s"):format(head.name, tostring(derr))
  end
  ui.object("deleted", "application", head.name, { id = head.id })
  doomed[#doomed + 1] = head
  local gone, gerr = apps.wait_gone(st, doomed, ctx.params.timeouts.head, "applications",
    { initial = poll.SETTLE })
  if not gone then return nil, gerr end
  return true, "head deleted"
end


--- The head's early reads (a step's reads, raycai.recipe: in one round with the other steps'):
--- the cluster's applications (plan's and status' listing, also start_workers'), and head.json,
--- read without waiting for the listing (its generation is checked when it is used): status
--- shows the address; up's summary does (state.head_json_early), so only `plan` goes without.
--- status also reads the AUTOSTOP column's file (issue 16). A failed read is left for the
--- step to repeat.
function M.reads(ctx, phase)
  local st = cluster.prepare(ctx, false)
  if not (st and st.project) then return end
  local read = state.reads(st, ctx)
  local fns = { function() read.listed = apps.list(st) end }
  if phase == "status" or ctx.options.action ~= "plan" then
    fns[#fns + 1] = function()
      local data = st.client:download_file(st.project.id, st.names.files.head_json) or false
      read.head_json = data
      if phase == "plan" then st.head_json_early = data end
    end
  end
  if phase == "status" then
    fns[#fns + 1] = function()
      read.autostop = { require("raycai.ray.autostop").read(st.client, st.project.id, st.names) }
    end
  end
  return table.unpack(fns)
end


function M.status(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st or not st.project then return st and {} or nil, err end
  local read = state.reads(st, ctx)
  local list, lerr = read.listed, nil
  if not list then list, lerr = apps.list(st) end
  if not list then return nil, lerr end
  st.app_list = list
  local head = list[st.names.head]
  if not head then
    return { { kind = "application", role = "head", name = st.names.head, state = "absent", healthy = false } }
  end
  st.generation = apps.env_of(head).RAYCAI_GENERATION
  local info = M.head_info(st, st.generation, read.head_json)
  st.head_address = info and info.address
  return { apps.row(head, "head", { subdomain = head.subdomain, healthy = head.status == "APPLICATION_RUNNING" }) }
end


M.step = { name = "start_head", plan = M.plan, apply = M.apply, destroy = M.destroy, status = M.status,
           reads = M.reads,
           early = overlap.early }  -- issue 17: the head (and workers) start during the setup wait

return M
