-- raycai.ray.apps: the cluster's CML applications: desired bodies, one-request listing, and the
-- list-based wait until they are RUNNING (ready means RUNNING: the launchers open their port only
-- once Ray is really up).
local hash = require "raycai.hash"
local poll = require "raycai.cml.poll"
local ui = require "raycai.ui"
local clock = require "raycai.clock"

local M = {}

M.LIVE = { APPLICATION_STARTING = true, APPLICATION_RUNNING = true }
M.DEAD = { APPLICATION_FAILED = true, APPLICATION_STOPPED = true, APPLICATION_STOPPING = true }


--- All applications of the cluster, by name, in one list request per page.
function M.list(st)
  local apps, err = st.client:list_all("list_applications", { st.project.id },
    { search_filter = { name = st.names.app_prefix }, page_size = 200 })
  if not apps then return nil, err end
  local by_name = {}
  for _, a in ipairs(apps) do
    if type(a.name) == "string" and a.name:sub(1, #st.names.app_prefix) == st.names.app_prefix then
      by_name[a.name] = a
    end
  end
  return by_name
end


--- A status row for an application of the cluster.
function M.row(app, role, extra)
  local row = { kind = "application", role = role, name = app.name, state = app.status, cpu = app.cpu,
                memory = app.memory, gpu = app.nvidia_gpu, created_at = app.created_at }
  for k, v in pairs(extra or {}) do row[k] = v end
  return row
end


--- The cluster's applications listed earlier in this run (plan, or another step of down), or now.
function M.listed(st)
  if st.app_list then return st.app_list end
  local list, err = M.list(st)
  if not list then return nil, err end
  st.app_list = list
  return list
end


local function env_of(app)
  return type(app.environment) == "table" and app.environment or {}
end
M.env_of = env_of


--- A new deploy generation id.
function M.new_generation()
  return os.date("!%Y%m%d%H%M%S") .. "-" .. hash.hex(tostring(clock.monotonic()) .. tostring({})):sub(1, 6)
end


--- The hash of a role's launcher script ("head" or a group name), computed once per run (not
--- once per worker).
local function script_hash(st, role)
  st.script_hashes = st.script_hashes or {}
  local h = st.script_hashes[role]
  if not h then
    h = hash.hex(st.scripts[role])
    st.script_hashes[role] = h
  end
  return h
end


--- The group of this name among the run's groups.
local function group_of(st, name)
  for _, g in ipairs(st.scripts.groups) do if g.name == name then return g end end
  error("no worker group " .. tostring(name))
end


--- The application body for the head (role "head") or worker i of a group (role: the group's
--- name, "worker" for the default group), without generation; and its spec hash.
local function desired(ctx, st, role, rt, i)
  local p = ctx.params
  local env = {}
  for k, v in pairs(p.env) do env[k] = tostring(v) end
  local body
  if role == "head" then
    body = { name = st.names.head, subdomain = st.names.head_subdomain, script = st.names.files.head,
             cpu = p.head.cpu, memory = p.head.memory, gpu = p.head.gpu }
  else
    local g = group_of(st, role)
    for k, v in pairs(g.env) do env[k] = tostring(v) end
    -- the default group's applications keep their historic environment (and so their spec hash)
    if role ~= "worker" then env.RAYCAI_GROUP = role end
    body = { name = st.names.group_app(role, i), subdomain = st.names.group_subdomain(role, i),
             script = st.names.group_script(role), cpu = g.cpu, memory = g.memory, gpu = g.gpu }
  end
  env.RAYCAI_CLUSTER = p.cluster
  env.RAYCAI_ROLE = role == "head" and "head" or "worker"
  body = {
    name = body.name,
    subdomain = body.subdomain,
    description = ("Ray %s of cluster %s (managed by raycai)"):format(
      role == "head" and "head" or role == "worker" and "worker" or ("worker (group " .. role .. ")"), p.cluster),
    script = body.script,
    cpu = body.cpu,
    memory = body.memory,
    nvidia_gpu = body.gpu,  -- CML's name for the GPU count: only here, where the body is built
    runtime_identifier = rt[role],
    bypass_authentication = p.bypass_authentication,
    environment = env,
  }
  -- (issue 15) the launcher's log name in .raycai/<cluster>/logs/: head, worker-1, <group>-<i>
  env.RAYCAI_NODE = body.name:sub(#st.names.app_prefix + 1)
  local spec = hash.of({ body = body, script = script_hash(st, role), venv = st.scripts.by_role[role].fingerprint }, 12)
  return body, spec
end


--- desired(), computed once per run and role (and worker index): its inputs do not change
--- within a run.
function M.desired(ctx, st, role, rt, i)
  st.desired = st.desired or {}
  local key = role .. "#" .. (i or "")
  local memo = st.desired[key]
  if not memo then
    memo = { desired(ctx, st, role, rt, i) }
    st.desired[key] = memo
  end
  return memo[1], memo[2]
end


--- The worker group of one of the cluster's applications: a group name, or nil when it is not a
--- worker (the head, or another cluster's application sharing the name prefix). A named group's
--- applications say so in RAYCAI_GROUP; a group removed from the recipe is found the same way.
function M.group_of_app(st, app)
  if st.names.worker_index(app.name) then return "worker" end
  local env = env_of(app)
  local g = env.RAYCAI_GROUP
  if type(g) == "string" and env.RAYCAI_ROLE == "worker" and env.RAYCAI_CLUSTER == st.names.cluster
     and st.names.group_index(g, app.name) then
    return g
  end
  return nil
end


--- Finish a body for creation: generation and spec go into its environment.
function M.stamp(body, spec, generation)
  local out = {}
  for k, v in pairs(body) do out[k] = v end
  out.environment = {}
  for k, v in pairs(body.environment) do out.environment[k] = v end
  out.environment.RAYCAI_SPEC = spec
  out.environment.RAYCAI_GENERATION = generation
  return out
end


--- Is this existing app the one we want (same spec, generation and alive)?
function M.matches(app, spec, generation)
  local env = env_of(app)
  return env.RAYCAI_SPEC == spec and (generation == nil or env.RAYCAI_GENERATION == generation)
    and M.LIVE[app.status] == true
end


local STRAGGLER_AFTER = 20  -- seconds before the wait names the applications it still waits for


--- "name1 (STATE), name2 (STATE) and 3 more": the applications not running yet.
local function stragglers(names, states)
  local late = {}
  for _, name in ipairs(names) do
    if states[name] ~= "APPLICATION_RUNNING" then late[#late + 1] = ("%s (%s)"):format(name, states[name] or "?") end
  end
  if #late > 4 then
    return table.concat(late, ", ", 1, 3) .. (" and %d more"):format(#late - 3)
  end
  return table.concat(late, ", ")
end


--- Seconds since the epoch of an API timestamp ("2026-11-22T00:17:39.123456Z"), or nil.
function M.seconds(ts)
  if type(ts) ~= "string" then return nil end
  local y, mo, d, h, mi, s, frac = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(%.?%d*)")
  if not y then return nil end
  -- os.time reads the fields as local time: compare with os.time(os.date("!*t")), or with another
  -- such value
  local t = os.time { year = y, month = mo, day = d, hour = h, min = mi, sec = s, isdst = false }
  return t + (tonumber("0" .. frac) or 0)
end


--- How long a RUNNING application took to start (running_at - starting_at), or nil.
function M.start_seconds(app)
  local a, b = M.seconds(app and app.starting_at), M.seconds(app and app.running_at)
  if not a or not b or b < a then return nil end
  return b - a
end


--- Wait until the applications with these ids are no longer listed. A deleted running
--- application may linger APPLICATION_STOPPING with its name and subdomain still taken
--- (docs/reliability.md), so a replacement under the same name waits for this first.
--- Returns true, or nil, err ("interrupted", or a line naming the applications still listed).
---@param apps_gone {id:string, name:string}[]
function M.wait_gone(st, apps_gone, timeout, label, opts)
  if #apps_gone == 0 then return true end
  opts = opts or {}
  local left = {}
  local ok, err = poll.wait(function()
    local list, lerr = M.list(st)
    if not list then return nil, lerr end
    local ids = {}
    for _, a in pairs(list) do ids[a.id] = a end
    left = {}
    for _, a in ipairs(apps_gone) do
      local still = ids[a.id]
      if still then left[#left + 1] = ("%s (%s)"):format(a.name, tostring(still.status)) end
    end
    if #left > 0 then
      ui.progress(("waiting for the deleted %s to be gone: %s"):format(label, table.concat(left, ", ")))
    end
    return #left == 0, false
  end, { timeout = timeout, initial = opts.initial, first = poll.SETTLE, meanwhile = opts.meanwhile,
         on_timeout = function()
    return ("the deleted %s still listed after %d s, holding name and subdomain: %s; run up again "
      .. "once CML has removed them"):format(label, math.floor(timeout), table.concat(left, ", "))
  end })
  if not ok then return nil, err end
  return true
end


--- The reason to add to a create that CML refused with 409: the subdomain is still held by one
--- of this cluster's own applications (a deleted one lingering), or by another application.
--- list: the cluster's applications by name when already listed (else listed now).
function M.conflict_hint(st, body, list)
  list = list or M.list(st) or {}
  for _, a in pairs(list) do
    if a.subdomain == body.subdomain or a.name == body.name then
      if a.status == "APPLICATION_STOPPING" then
        return ("; the name/subdomain %s is still held by this cluster's own application %s (%s), "
          .. "deleted but not gone yet: run up again in a moment"):format(body.subdomain, a.name, a.status)
      end
      return ("; the subdomain %s is held by this cluster's application %s (%s), which raycai does not "
        .. "manage under that name: delete it, or choose another cluster name"):format(body.subdomain,
        a.name, tostring(a.status))
    end
  end
  return ("; the subdomain %s is taken by another application in the workspace: choose another "
    .. "cluster name (--set cluster=...)"):format(body.subdomain)
end


--- "3 x (8 vCPU, 32 GB, 1 GPU)" of the named applications in a listing.
local function resources_of(names, listing)
  local kinds, order = {}, {}
  for _, name in ipairs(names) do
    local a = listing[name] or {}
    local k = ("%g vCPU, %g GB, %g GPU"):format(a.cpu or 0, a.memory or 0, a.nvidia_gpu or 0)
    if not kinds[k] then kinds[k] = 0; order[#order + 1] = k end
    kinds[k] = kinds[k] + 1
  end
  local out = {}
  for _, k in ipairs(order) do out[#out + 1] = ("%d x (%s)"):format(kinds[k], k) end
  return table.concat(out, " + ")
end


--- Wait until every named application is RUNNING. Fails fast on a FAILED/STOPPED one.
--- opts.pending: seconds after which applications still STARTING count as pending for want of
--- capacity: the wait ends with err naming them, and the second result lists their names.
--- Returns true and the last listing (by name), or nil, err naming each failed or late
--- application with its state. opts.initial/opts.first: as poll.wait's (for applications just
--- created, whose state is known). opts.listing: a listing taken just before (by name) to use as
--- a first look instead of a request, before opts.initial's pause; ignored unless it holds every
--- named application.
---@param names string[]
---@param opts? {initial?:number, first?:number, pending?:number, listing?:table}
function M.wait_running(st, names, timeout, label, opts)
  if #names == 0 then return true, {} end
  opts = opts or {}
  local given = opts.listing
  for _, name in ipairs(names) do
    if given and not given[name] then given = nil end
  end
  local listing = {}
  local states = {}
  local last_ready = -1
  local t0 = clock.monotonic()
  local next_report = t0 + 15
  local stuck
  local function check()
    local apps, lerr = given, nil
    given = nil
    if not apps then apps, lerr = M.list(st) end
    if not apps then return nil, lerr end
    listing = apps
    local ready, failed = 0, {}
    for _, name in ipairs(names) do
      local a = apps[name]
      local s = a and a.status or "missing"
      if states[name] ~= s and a then
        ui.event("state_changed", { kind = "application", name = name, state = s })
      end
      states[name] = s
      if s == "APPLICATION_RUNNING" then ready = ready + 1
      elseif M.DEAD[s] or s == "missing" then failed[#failed + 1] = ("%s (%s)"):format(name, s) end
    end
    if #failed > 0 then
      return nil, ("%s failed: %s"):format(label, table.concat(failed, ", "))
    end
    if opts.pending and ready < #names and clock.monotonic() - t0 >= opts.pending then
      local pending = {}
      for _, name in ipairs(names) do
        if states[name] == "APPLICATION_STARTING" then pending[#pending + 1] = name end
      end
      if #pending > 0 then
        stuck = pending
        return nil, ("%d of %d %s still APPLICATION_STARTING after %d s (timeouts.pending)%s: %s, %s; the "
          .. "workspace most likely has no free GPU/CPU for them (capacity or quota)"):format(#pending,
          #names, label, math.floor(opts.pending), ready > 0 and (", while %d run"):format(ready) or "",
          table.concat(pending, ", "), resources_of(pending, apps))
      end
    end
    local progressed = ready ~= last_ready
    last_ready = ready
    local waited = clock.monotonic() - t0
    local text = ("%s %d/%d running"):format(label, ready, #names)
    if waited >= STRAGGLER_AFTER and ready < #names then
      text = text .. "; waiting for " .. stragglers(names, states)
    end
    ui.progress(text)
    if progressed and #names > 1 then ui.detail(text) end
    if clock.monotonic() >= next_report then
      ui.info(("%s after %d s"):format(text, math.floor(waited)))
      next_report = clock.monotonic() + 15
    end
    -- progress (poll fast again) is more applications running, not the first look
    return ready == #names, progressed and ready > 0
  end
  local initial = opts.initial
  if given then
    -- the listing given is a look taken just now: before any pause (opts.initial counts after
    -- it, and is at least one interval: the state was just seen)
    local done, cerr = check()
    if done == nil then return nil, cerr, stuck, listing end
    if done then return true, listing end
    initial = math.max(initial or 0, opts.first or poll.FIRST)
  end
  local ok, err = poll.wait(check, { timeout = timeout, initial = initial, first = opts.first,
         meanwhile = opts.meanwhile, on_timeout = function()
    return ("%s not running after %d s: %s"):format(label, math.floor(timeout), stragglers(names, states))
  end })
  if not ok then return nil, err, stuck, listing end
  return true, listing
end


return M
