-- raycai.ray.setup: the setup_venv step. A CML job builds the cluster's Python venv into a folder
-- named by its fingerprint; the job runs only when that venv's completion marker is missing.
local cluster = require "raycai.ray.cluster"
local files = require "raycai.cml.files"
local scripts = require "raycai.ray.launcher_text"
local poll = require "raycai.cml.poll"
local ui = require "raycai.ui"
local clock = require "raycai.clock"
local overlap = require "raycai.ray.overlap"  -- issue 17
local apps = require "raycai.ray.apps"
local venv_owners = require "raycai.ray.venv_owners"
local state = require "raycai.ray.state"
local sorted_keys = require("raycai.tables").sorted_keys

local M = {}

local MARKER = ".raycai-complete"
local FINISHED = { ENGINE_SUCCEEDED = true, ENGINE_FAILED = true, ENGINE_TIMEDOUT = true,
                   ENGINE_STOPPED = true, ENGINE_SKIPPED = true }


--- The cluster's scripts, rendered once per run (they need the runtimes: a venv is per runtime);
--- or nil, err[, 2 for a recipe error: a launcher that does not render].
function M.scripts(ctx, st)
  if st.scripts then return st.scripts end
  local rt, rerr, rcode = cluster.runtimes(ctx)
  if not rt then return nil, rerr, rcode end
  local s, err, code = scripts.all(ctx.params, st.names, rt, ctx.recipe and ctx.recipe.launchers)
  if not s then return nil, err, code end
  st.scripts = s
  return s
end


--- Is the venv for this fingerprint complete (its marker present)?
local function venv_ready(client, pid, venv_dir)
  local entries, err = files.list(client, pid, venv_dir)
  if not entries then return nil, err end
  return entries[MARKER] ~= nil
end


--- The job body raycai wants for venv v: it runs on the runtime the venv is for.
local function desired_job(ctx, v)
  local p = ctx.params
  return {
    name = v.job,
    script = v.script,
    cpu = p.setup.cpu,
    memory = p.setup.memory,
    nvidia_gpu = 0,
    runtime_identifier = v.runtime,
    timeout = p.timeouts.setup,
    kill_on_timeout = true,   -- the swagger's default is false: a hung pip would run on
    environment = { RAYCAI_FINGERPRINT = v.fingerprint, RAYCAI_CLUSTER = p.cluster },
  }
end


--- Fields of the existing job that differ from the desired body.
local function job_diff(job, want)
  local diff = {}
  for _, k in ipairs({ "script", "cpu", "memory", "nvidia_gpu", "runtime_identifier" }) do
    if job[k] ~= want[k] then diff[k] = want[k] end
  end
  if tonumber(job.timeout) ~= want.timeout then diff.timeout = want.timeout end
  if job.kill_on_timeout ~= want.kill_on_timeout then diff.kill_on_timeout = want.kill_on_timeout end
  local env = type(job.environment) == "table" and job.environment or {}
  for k, v in pairs(want.environment) do
    if env[k] ~= v then diff.environment = want.environment end
  end
  return diff
end


local function find_job(client, pid, name)
  return client:find_named("list_jobs", { pid }, name)
end


--- The newest run of the job, or false when it has none.
local function last_run(client, pid, job_id)
  local runs, err = client:list_job_runs(pid, job_id, { sort = "-created_at", page_size = 1 })
  if not runs then return nil, err end
  return runs.job_runs[1] or false
end


local function log_tail(client, pid, log)
  local tail = files.tail(client, pid, log, 20)
  if not tail or tail == "" then
    return (" (no log at %s: the script did not start; check the job's runtime and its output in CML)")
      :format(log)
  end
  return ("; last lines of %s:\n%s"):format(log, tail)
end


--- Wait for a run to finish; returns the final run or nil, err. The run's state is known when
--- the wait starts, so the first look is after a pause; a phase change (scheduling, starting,
--- running) is not a reason to poll fast again: only the end matters, and the running phase
--- (pip installing Ray) is the long one. When raycai gives up (the job's timeout and a grace
--- passed: CML should have ended it), it stops the run so the next up does not wait on it.
--- `due_at` (optional, clock.monotonic): when the run is likely to end (start_build's estimate).
local function wait_run(ctx, client, pid, run, due_at)
  local last = run.status
  local due = due_at and math.max(0, due_at - clock.monotonic())
  local timeout = ctx.params.timeouts.setup
  local limit = timeout + math.min(60, timeout)
  local ok, err = poll.wait(function()
    local r, gerr = client:get_job_run(pid, run.job_id, run.id)
    if not r then return nil, gerr end
    if r.status ~= last then ui.detail(("setup job run %s: %s"):format(r.id, r.status)) end
    last = r.status
    run = r
    return FINISHED[r.status] or false, false
  end, { timeout = limit, initial = poll.SETTLE, first = poll.SETTLE, due = due,
         meanwhile = function() ctx:idle() end,  -- the later steps' early work (the launchers)
         on_timeout = function()
    return ("the setup job run %s is still %s after %d s"):format(run.id, last, math.floor(limit))
  end })
  if not ok then
    if err == "interrupted" then return nil, err end
    local stopped, serr = client:stop_job_run(pid, run.job_id, run.id)
    ui.object("stopped", "job_run", run.id, { status = last })
    return nil, ("%s; %s; raise timeouts.setup if the workspace is slow, or look at the job in CML")
      :format(err, stopped and "raycai stopped it" or ("could not stop it: " .. tostring(serr)))
  end
  return run
end


--- plan's independent reads, as functions for client:together: the cluster folder (its listing
--- also serves write_launchers' plan), the jobs, the venv markers. Their results, packed, are
--- what M.plan takes.
local function plan_reads(st, s)
  local pid = st.project.id
  local fns = { function()
    local entries, lerr = files.list(st.client, pid, st.names.dir)
    if not entries then return nil, lerr end
    st.plan_entries = entries
    return entries
  end }
  -- every venv's job in one listing: the name filter matches substrings, and each job name
  -- starts with the head's (raycai-<c>-setup, raycai-<c>-setup-worker)
  fns[2] = function()
    return st.client:list_all("list_jobs", { pid }, { search_filter = { name = st.names.job } })
  end
  for _, v in ipairs(s.venvs) do
    fns[#fns + 1] = function() return venv_ready(st.client, pid, v.dir) end
  end
  return table.unpack(fns)
end


function M.plan(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  local p = ctx.params
  local changes = {}
  if not st.project then
    changes[#changes + 1] = { action = "create", kind = "project", name = p.project,
                              detail = ("shared_memory_limit %d MB"):format(cluster.shm_mb(p)) }
  else
    local have, want = cluster.shm_change(p, st.project)
    if have then
      changes[#changes + 1] = { action = "update", kind = "project", name = st.project.name,
                                detail = ("shared_memory_limit %d -> %d MB"):format(have, want) }
    end
  end
  -- listed with the project lookup: a runtime the workspace lacks fails the plan, project or not
  local s, serr = M.scripts(ctx, st)
  if not s then return nil, serr end
  for _, v in ipairs(s.venvs) do
    changes[#changes + 1] = { action = "keep", kind = "runtime", name = v.runtime,
                              detail = table.concat(v.roles, ", ") }
  end
  if not st.project then
    for _, v in ipairs(s.venvs) do
      changes[#changes + 1] = { action = "create", kind = "file", name = v.script }
      changes[#changes + 1] = { action = "create", kind = "job", name = v.job }
      changes[#changes + 1] = { action = "create", kind = "venv", name = v.dir, detail = "run the setup job" }
    end
    return changes
  end
  local pid = st.project.id
  local res = state.reads(st, ctx).setup or st.client:together(plan_reads(st, s))  -- (M.reads)
  if not res[1][1] then return nil, res[1][2] end
  if not res[2][1] then return nil, res[2][2] end
  -- a setup script matters only when its venv is built, and every build writes it first
  -- (ensure_job): for a ready venv the listing's size is the check; the others' scripts are
  -- compared byte for byte (issue 17: an idempotent re-run downloads no setup script)
  local entries, script_change, compares, which = res[1][1], {}, {}, {}
  for i, v in ipairs(s.venvs) do
    if res[2 + i][1] == nil then return nil, res[2 + i][2] end
    if res[2 + i][1] then
      script_change[i] = files.compare_listed(v.script, v.text, entries)
    else
      compares[#compares + 1] = function() return files.compare(st.client, pid, v.script, v.text, entries) end
      which[#compares] = i
    end
  end
  if #compares > 0 then
    local cres = st.client:together(table.unpack(compares))
    for k, i in pairs(which) do
      if not cres[k][1] then return nil, cres[k][2] end
      script_change[i] = cres[k][1]
    end
  end
  for i, v in ipairs(s.venvs) do
    local job, ready = false, res[2 + i][1]
    for _, j in ipairs(res[2][1]) do if j.name == v.job then job = j end end
    changes[#changes + 1] = { action = script_change[i], kind = "file", name = v.script }
    local want = desired_job(ctx, v)
    if not job then
      changes[#changes + 1] = { action = "create", kind = "job", name = v.job }
    else
      local diff = job_diff(job, want)
      local keys = sorted_keys(diff)
      changes[#changes + 1] = { action = #keys > 0 and "update" or "keep", kind = "job", name = v.job,
                                detail = #keys > 0 and table.concat(keys, ", ") or nil }
    end
    changes[#changes + 1] = { action = ready and "keep" or "create", kind = "venv", name = v.dir,
                              detail = not ready and "run the setup job" or nil }
  end
  return changes
end


--- Make the setup script and job of venv v; returns the job and whether it is new, or nil, err.
local function ensure_job(ctx, st, v)
  local client, pid = st.client, st.project.id
  -- in a project this run created, the cluster folder holds only the lock: nothing to compare
  local change, ferr = files.sync(client, pid, v.script, v.text, st.fresh and {} or nil)
  if not change then return nil, ("could not write the setup script %s: %s"):format(v.script, tostring(ferr)) end
  if change ~= "keep" then ui.object(change == "create" and "created" or "updated", "file", v.script) end
  local want = desired_job(ctx, v)
  local job, jerr = false, nil  -- a project this run created has no jobs
  if not st.fresh then job, jerr = find_job(client, pid, v.job) end
  if job == nil then return nil, jerr end
  if not job then
    job, jerr = client:create_job(pid, want)
    if not job then return nil, ("could not create the setup job %s: %s"):format(want.name, tostring(jerr)) end
    ui.object("created", "job", want.name, { id = job.id })
    return job, true
  end
  local diff = job_diff(job, want)
  if next(diff) then
    local updated, uerr = client:update_job(pid, job.id, diff)
    if not updated then return nil, ("could not update the setup job %s: %s"):format(want.name, tostring(uerr)) end
    ui.object("updated", "job", want.name, { id = job.id })
    return updated, false
  end
  ui.object("kept", "job", want.name, { id = job.id })
  return job, false
end


--- Start (or find) the run that builds venv v with job; returns the run and when it is likely to
--- end (clock.monotonic, or nil when unknown), or false when the venv is ready, or nil, err.
local function start_build(st, v, job, new_job)
  local client, pid = st.client, st.project.id
  local ready, verr = false, nil  -- no venv in a project this run created
  if not st.fresh then ready, verr = venv_ready(client, pid, v.dir) end
  if ready == nil then return nil, verr end
  if ready then
    ui.object("kept", "venv", v.dir)
    return false
  end
  local last, aerr = false, nil  -- a job created just now has no runs
  if not new_job then last, aerr = last_run(client, pid, job.id) end
  if last == nil then return nil, aerr end
  if last and not FINISHED[last.status] then
    -- one job has at most one active run, and it is the newest (left by an interrupted up)
    ui.info(("waiting for the setup job run %s already in progress"):format(last.id))
    return last
  end
  local run
  run, aerr = client:create_job_run(pid, job.id, {}, { no_runs = new_job })
  if not run then return nil, ("could not start the setup job %s: %s"):format(job.name, tostring(aerr)) end
  ui.object("created", "job_run", job.name, { id = run.id })
  -- issue 17: the job's last successful run says how long a build takes on this workspace
  -- (same runtime, mostly the same packages): the wait looks fast around that time
  local took = last and last.status == "ENGINE_SUCCEEDED" and apps.seconds(last.finished_at)
  took = took and apps.seconds(last.created_at) and took - apps.seconds(last.created_at)
  return run, took and took > 0 and clock.monotonic() + took or nil
end


--- The warning for a build that succeeded without leaving its venv's marker.
local function warn_unmarked(b)
  ui.warn(("the setup job succeeded but left no %s/%s, so the next up runs it again (a simulator "
    .. "without exec mode runs no scripts)"):format(b.venv.dir, MARKER))
end


function M.apply(ctx)
  local st, err = cluster.prepare(ctx, true)
  if not st then return nil, err end
  local client, pid = st.client, st.project.id
  local s, serr = M.scripts(ctx, st)
  if not s then return nil, serr end
  local owners, oerr = {}, nil  -- a project this run created has no venvs
  if not st.fresh then owners, oerr = venv_owners.read(client, pid, ctx.params) end
  if not owners then return nil, "could not list the venv owners: " .. tostring(oerr) end
  st.owners = owners
  -- (issue 14) index credentials go in a project file beside the scripts (raycai.ray.pip_index)
  local iok, ierr = require("raycai.ray.pip_index").sync(client, pid, ctx.params, st.fresh and {} or nil)
  if not iok then return nil, ierr end
  -- each venv's chain (script, job, run) side by side with the others' (issue 17): one round
  -- per step for every runtime, so the last run starts as early as the first
  local chains = {}
  for i, v in ipairs(s.venvs) do
    chains[i] = function()
      local job, new_job = ensure_job(ctx, st, v)
      if not job then return nil, new_job end
      local run, due_at = start_build(st, v, job, new_job)
      if run == nil then return nil, due_at end
      return job, run, due_at
    end
  end
  local built = client:together(table.unpack(chains))
  local runs = {}
  for i, v in ipairs(s.venvs) do
    local job, run, due_at = built[i][1], built[i][2], built[i][3]
    if not job then return nil, run end
    if i == 1 then st.job = job end
    if run then runs[#runs + 1] = { run = run, venv = v, job = job, due_at = due_at } end
  end
  -- the venvs are in use from now on (a failed build leaves a record too: purge removes it)
  local rok, rerr = venv_owners.record(ctx, st, owners)
  if not rok then return nil, rerr end
  if #runs == 0 then
    return true, "venv " .. s.venvs[1].fingerprint .. " ready"
  end
  -- the builds run side by side; waiting for each in turn takes as long as the slowest
  local done = {}
  overlap.note_cluster(ctx, st)  -- issue 17: may the applications start during the wait?
  overlap.phase_start(st, "setup")  -- issue 17: phase timing
  st.setup_waiting = true  -- issue 17: the applications may start during this wait (overlap)
  -- the runs started together: once the first has ended, the others have likely ended too:
  -- look at them all in one round, with the applications started early (issue 17: that listing
  -- is start_head's first look, so the head seen RUNNING costs no round of its own) and every
  -- venv's marker (the check below, which then needs no round of its own either)
  local first, ferr = wait_run(ctx, client, pid, runs[1].run, runs[1].due_at)
  local ended, marked = { first }, {}
  if first and first.status == "ENGINE_SUCCEEDED" and (#runs > 1 or overlap.started_early(st)) then
    local looks = {}
    for k = 2, #runs do
      looks[#looks + 1] = function()
        local r = client:get_job_run(pid, runs[k].run.job_id, runs[k].run.id)
        if r and FINISHED[r.status] then ended[k] = r end
      end
    end
    looks[#looks + 1] = function() overlap.list_early(st) end
    for k = 1, #runs do
      looks[#looks + 1] = function() marked[k] = venv_ready(client, pid, runs[k].venv.dir) end
    end
    client:together(table.unpack(looks))
  end
  for i, b in ipairs(runs) do
    local run, aerr = ended[i], ferr
    if not run and i > 1 then run, aerr = wait_run(ctx, client, pid, b.run, b.due_at) end
    if not run then
      st.setup_waiting = nil
      if aerr == "interrupted" then return nil, aerr end
      return nil, overlap.setup_failed(ctx, st, aerr)  -- issue 17: remove what started early
    end
    if run.status ~= "ENGINE_SUCCEEDED" then
      st.setup_waiting = nil
      return nil, overlap.setup_failed(ctx, st, ("setup job %s run %s ended %s%s"):format(b.job.name, run.id,
        run.status, log_tail(client, pid, b.venv.log)))
    end
    done[#done + 1] = run.id
    if i == 1 then overlap.setup_ended(st, run) end  -- issue 17: the head's venv run (the first)
  end
  st.setup_waiting = nil
  overlap.phase_end(st, "setup")
  -- the jobs succeeded, so their scripts wrote the markers as their last act; checking only
  -- warns, so it need not hold up the head: it runs while the head starts
  -- (the round above looked at the markers already: a script writes its marker before it
  -- exits, and CML ends the run only after that, so a run seen ended in that round had its
  -- marker there when it was looked for, save a race of the request's own sub-millisecond
  -- spread; only the venvs not looked at there are looked at now)
  local unmarked = {}
  for i, b in ipairs(runs) do
    if marked[i] == false then
      warn_unmarked(b)
    elseif marked[i] == nil then
      unmarked[#unmarked + 1] = b
    end
  end
  if #unmarked == 0 then
    return true, ("setup job run(s) %s succeeded: venv %s"):format(table.concat(done, ", "), s.venvs[1].fingerprint)
  end
  ctx:defer(function()
    local checks = {}
    for i, b in ipairs(unmarked) do checks[i] = function() return venv_ready(client, pid, b.venv.dir) end end
    local res = client:together(table.unpack(checks))  -- one round trip for every venv
    for i, b in ipairs(unmarked) do
      local present = res[i][1]
      if present == false then
        warn_unmarked(b)
      end
    end
  end)
  return true, ("setup job run(s) %s succeeded: venv %s"):format(table.concat(done, ", "), s.venvs[1].fingerprint)
end


--- The names of every setup job this cluster may have (the head's, a worker runtime's).
local function job_names(st)
  return { st.names.job, st.names.job .. "-worker" }
end


--- The cluster's setup jobs by name, in one listing (the name filter matches substrings, and
--- every name starts with the head's job name).
local function find_jobs(st)
  local list, err = st.client:list_all("list_jobs", { st.project.id }, { search_filter = { name = st.names.job } })
  if not list then return nil, err end
  local out = {}
  for _, name in ipairs(job_names(st)) do
    for _, j in ipairs(list) do if j.name == name then out[name] = j end end
  end
  return out
end


function M.destroy(ctx)
  if not ctx.options.purge then return true, "kept (use --purge to delete the setup job)" end
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  if not st.project then return true, "no project" end
  local deleted = 0
  local jobs, jerr = find_jobs(st)
  if not jobs then return nil, jerr end
  for _, name in ipairs(job_names(st)) do
    local job = jobs[name]
    if job then
      local ok, derr = st.client:delete_job(st.project.id, job.id)
      if not ok and derr.status ~= 404 then return nil, derr end
      ui.object("deleted", "job", job.name)
      deleted = deleted + 1
    end
  end
  -- (issue 15) the submitter jobs of `submit`: raycai-<cluster>-submit-<id>
  local subs, serr = require("raycai.ray.submissions").purge(st)
  if not subs then return nil, serr end
  deleted = deleted + subs
  -- the cluster's venvs, unless another cluster's record names them
  local released, rerr = venv_owners.purge(ctx, st)
  if not released then return nil, rerr end
  return true, ("%d job(s) deleted, %d venv record(s) released"):format(deleted, released)
end


--- The setup jobs and each one's last run: { jobs, lasts } or nil, err.
local function read_jobs(st)
  local jobs, jerr = find_jobs(st)
  if not jobs then return nil, jerr end
  local names, fns = {}, {}
  for _, name in ipairs(job_names(st)) do
    if jobs[name] then
      names[#names + 1] = name
      fns[#fns + 1] = function() return last_run(st.client, st.project.id, jobs[name].id) end
    end
  end
  local lasts = {}
  for k, res in ipairs(st.client:together(table.unpack(fns))) do  -- side by side (in status' round)
    if res[1] == nil then return nil, res[2] end
    lasts[names[k]] = res[1]
  end
  return { jobs = jobs, lasts = lasts }
end


--- The step's early reads (raycai.recipe: in one round with the other steps', issue 17): plan's
--- folder, jobs and markers (their results packed in one function's, as plan's own round
--- gives them), status' jobs and their last runs.
function M.reads(ctx, phase)
  local st = cluster.prepare(ctx, false)
  if not (st and st.project) then return end
  local read = state.reads(st, ctx)
  if phase == "status" then
    return function() read.setup = { read_jobs(st) } end
  end
  local s = M.scripts(ctx, st)
  if not s then return end  -- plan reports it
  return function() read.setup = st.client:together(plan_reads(st, s)) end
end


function M.status(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  if not st.project then
    return { { kind = "project", name = ctx.params.project, state = "absent", healthy = false } }
  end
  local rows = {}
  local read = state.reads(st, ctx).setup or { read_jobs(st) }
  if not read[1] then return nil, read[2] end
  local jobs, lasts = read[1].jobs, read[1].lasts
  for i, name in ipairs(job_names(st)) do
    local job = jobs[name]
    if not job then
      -- the worker runtime's job exists only when the workers run on a runtime of their own
      if i == 1 then rows[#rows + 1] = { kind = "job", role = "setup", name = name, state = "absent" } end
    else
      local last = lasts[name]
      rows[#rows + 1] = { kind = "job", role = "setup", name = job.name, state = last and last.status or "never run",
                          cpu = job.cpu, memory = job.memory, gpu = job.nvidia_gpu, created_at = job.created_at }
    end
  end
  return rows
end


M.step = { name = "setup_venv", plan = M.plan, apply = M.apply, destroy = M.destroy, status = M.status,
           reads = M.reads }

return M
