-- raycai.ray.setup: the setup_venv step. A CML job builds the cluster's Python venv into a folder
-- named by its fingerprint; the job runs only when that venv's completion marker is missing.
local cluster = require "raycai.ray.cluster"
local files = require "raycai.ray.files"
local scripts = require "raycai.ray.launcher_text"
local poll = require "raycai.ray.poll"
local ui = require "raycai.ui"

local M = {}

local MARKER = ".raycai-complete"
local FINISHED = { ENGINE_SUCCEEDED = true, ENGINE_FAILED = true, ENGINE_TIMEDOUT = true,
                   ENGINE_STOPPED = true, ENGINE_SKIPPED = true }


--- The cluster's scripts, rendered once per run.
function M.scripts(ctx, st)
  if st.scripts then return st.scripts end
  local s, err = scripts.all(ctx.params, st.names)
  if not s then return nil, err end
  st.scripts = s
  return s
end


--- Is the venv for this fingerprint complete (its marker present)?
local function venv_ready(client, pid, venv_dir)
  local entries, err = files.list(client, pid, venv_dir)
  if not entries then return nil, err end
  return entries[MARKER] ~= nil
end


--- The job body raycai wants for this cluster.
local function desired_job(ctx, st, rt)
  local p = ctx.params
  return {
    name = st.names.job,
    script = st.names.files.setup,
    cpu = p.setup.cpu,
    memory = p.setup.memory,
    nvidia_gpu = 0,
    runtime_identifier = rt.head,
    timeout = p.timeouts.setup,
    environment = { RAYCAI_FINGERPRINT = st.scripts.fingerprint, RAYCAI_CLUSTER = p.cluster },
  }
end


--- Fields of the existing job that differ from the desired body.
local function job_diff(job, want)
  local diff = {}
  for _, k in ipairs({ "script", "cpu", "memory", "nvidia_gpu", "runtime_identifier" }) do
    if job[k] ~= want[k] then diff[k] = want[k] end
  end
  if tonumber(job.timeout) ~= want.timeout then diff.timeout = want.timeout end
  local env = type(job.environment) == "table" and job.environment or {}
  for k, v in pairs(want.environment) do
    if env[k] ~= v then diff.environment = want.environment end
  end
  return diff
end


local function find_job(client, pid, name)
  return cluster.find_named(client, "list_jobs", { pid }, name)
end


--- The newest run of the job, or false when it has none.
local function last_run(client, pid, job_id)
  local runs, err = client:list_job_runs(pid, job_id, { sort = "-created_at", page_size = 1 })
  if not runs then return nil, err end
  return runs.job_runs[1] or false
end


--- An unfinished run of the job (left by an interrupted up), or false.
local function active_run(client, pid, job_id)
  -- one job has at most one active run, and it is the newest: one request, not one per status
  local last, err = last_run(client, pid, job_id)
  if last == nil then return nil, err end
  if last and not FINISHED[last.status] then return last end
  return false
end


local function log_tail(client, pid, st)
  local tail = files.tail(client, pid, st.names.files.setup_log, 20)
  if not tail or tail == "" then
    return (" (no log at %s: the script did not start; check the job's runtime and its output in CML)")
      :format(st.names.files.setup_log)
  end
  return ("; last lines of %s:\n%s"):format(st.names.files.setup_log, tail)
end


--- Wait for a run to finish; returns the final run or nil, err. The run's state is known when
--- the wait starts, so the first look is after a pause; a phase change (scheduling, starting,
--- running) is not a reason to poll fast again: only the end matters, and the running phase
--- (pip installing Ray) is the long one.
local function wait_run(ctx, client, pid, run)
  local last = run.status
  local ok, err = poll.wait(function()
    local r, gerr = client:get_job_run(pid, run.job_id, run.id)
    if not r then return nil, gerr end
    if r.status ~= last then ui.detail(("setup job run %s: %s"):format(r.id, r.status)) end
    last = r.status
    run = r
    return FINISHED[r.status] or false, false
  end, { timeout = ctx.params.timeouts.setup + 60, initial = poll.SETTLE, first = poll.SETTLE,
         meanwhile = function() ctx:idle() end,  -- the later steps' early work (the launchers)
         on_timeout = function()
    return ("the setup job run %s is still %s after %d s"):format(run.id, last, ctx.params.timeouts.setup)
  end })
  if not ok then return nil, err end
  return run
end


function M.plan(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  local p = ctx.params
  local changes = {}
  if not st.project then
    changes[#changes + 1] = { action = "create", kind = "project", name = p.project }
  end
  local s, serr = M.scripts(ctx, st)
  if not s then return nil, serr end
  -- listed with the project lookup: a runtime the workspace lacks fails the plan, project or not
  local rt, rerr = cluster.runtimes(ctx)
  if not rt then return nil, rerr end
  if not st.project then
    changes[#changes + 1] = { action = "create", kind = "file", name = st.names.files.setup }
    changes[#changes + 1] = { action = "create", kind = "job", name = st.names.job }
    changes[#changes + 1] = { action = "create", kind = "venv", name = s.venv_dir, detail = "run the setup job" }
    return changes
  end
  local pid = st.project.id
  -- three independent reads, side by side: the cluster folder (its listing also serves
  -- write_launchers' plan) and the setup script in it, the job, the venv marker
  local res = st.client:together(function()
    local entries, lerr = files.list(st.client, pid, st.names.dir)
    if not entries then return nil, lerr end
    st.plan_entries = entries
    return files.compare(st.client, pid, st.names.files.setup, s.setup, entries)
  end, function() return find_job(st.client, pid, st.names.job) end,
  function() return venv_ready(st.client, pid, s.venv_dir) end)
  local fchange, job, ready = res[1][1], res[2][1], res[3][1]
  if not fchange then return nil, res[1][2] end
  if job == nil then return nil, res[2][2] end
  if ready == nil then return nil, res[3][2] end
  changes[#changes + 1] = { action = fchange, kind = "file", name = st.names.files.setup }
  local want = desired_job(ctx, st, rt)
  if not job then
    changes[#changes + 1] = { action = "create", kind = "job", name = st.names.job }
  else
    local diff = job_diff(job, want)
    local keys = {}
    for k in pairs(diff) do keys[#keys + 1] = k end
    table.sort(keys)
    changes[#changes + 1] = { action = #keys > 0 and "update" or "keep", kind = "job", name = st.names.job,
                              detail = #keys > 0 and table.concat(keys, ", ") or nil }
  end
  changes[#changes + 1] = { action = ready and "keep" or "create", kind = "venv", name = s.venv_dir,
                            detail = not ready and "run the setup job" or nil }
  return changes
end


function M.apply(ctx)
  local st, err = cluster.prepare(ctx, true)
  if not st then return nil, err end
  local client, pid = st.client, st.project.id
  local s, serr = M.scripts(ctx, st)
  if not s then return nil, serr end
  local rt, rerr = cluster.runtimes(ctx)
  if not rt then return nil, rerr end
  -- in a project this run created, the cluster folder holds only the lock: nothing to compare
  local change, ferr = files.sync(client, pid, st.names.files.setup, s.setup, st.fresh and {} or nil)
  if not change then return nil, "could not write the setup script: " .. tostring(ferr) end
  if change ~= "keep" then ui.object(change == "create" and "created" or "updated", "file", st.names.files.setup) end

  local want = desired_job(ctx, st, rt)
  local job, jerr = false, nil  -- a project this run created has no jobs
  if not st.fresh then job, jerr = find_job(client, pid, st.names.job) end
  if job == nil then return nil, jerr end
  local new_job = not job
  if not job then
    job, jerr = client:create_job(pid, want)
    if not job then return nil, ("could not create the setup job %s: %s"):format(want.name, tostring(jerr)) end
    ui.object("created", "job", want.name, { id = job.id })
  else
    local diff = job_diff(job, want)
    if next(diff) then
      local updated, uerr = client:update_job(pid, job.id, diff)
      if not updated then return nil, ("could not update the setup job %s: %s"):format(want.name, tostring(uerr)) end
      job = updated
      ui.object("updated", "job", want.name, { id = job.id })
    else
      ui.object("kept", "job", want.name, { id = job.id })
    end
  end
  st.job = job

  local ready, verr = false, nil  -- no venv in a project this run created
  if not st.fresh then ready, verr = venv_ready(client, pid, s.venv_dir) end
  if ready == nil then return nil, verr end
  if ready then
    ui.object("kept", "venv", s.venv_dir)
    return true, "venv " .. s.fingerprint .. " ready"
  end
  local run, aerr = false, nil  -- a job created just now has no run in progress
  if not new_job then run, aerr = active_run(client, pid, job.id) end
  if run == nil then return nil, aerr end
  if run then
    ui.info(("waiting for the setup job run %s already in progress"):format(run.id))
  else
    run, aerr = client:create_job_run(pid, job.id, {}, { no_runs = new_job })
    if not run then return nil, ("could not start the setup job %s: %s"):format(job.name, tostring(aerr)) end
    ui.object("created", "job_run", job.name, { id = run.id })
  end
  run, aerr = wait_run(ctx, client, pid, run)
  if not run then return nil, aerr end
  if run.status ~= "ENGINE_SUCCEEDED" then
    return nil, ("setup job %s run %s ended %s%s"):format(job.name, run.id, run.status, log_tail(client, pid, st))
  end
  -- the job succeeded, so its script wrote the marker as its last act; checking only warns, so
  -- it need not hold up the head: it runs while the head starts
  ctx:defer(function()
    local present = venv_ready(client, pid, s.venv_dir)
    if present == false then
      ui.warn(("the setup job succeeded but left no %s/%s, so the next up runs it again (a simulator "
        .. "without exec mode runs no scripts)"):format(s.venv_dir, MARKER))
    end
  end)
  return true, ("setup job run %s succeeded: venv %s"):format(run.id, s.fingerprint)
end


function M.destroy(ctx)
  if not ctx.options.purge then return true, "kept (use --purge to delete the setup job)" end
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  if not st.project then return true, "no project" end
  local job, jerr = find_job(st.client, st.project.id, st.names.job)
  if job == nil then return nil, jerr end
  if job then
    local ok, derr = st.client:delete_job(st.project.id, job.id)
    if not ok and derr.status ~= 404 then return nil, derr end
    ui.object("deleted", "job", job.name)
  end
  return true, job and "job deleted" or "no job"
end


function M.status(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  if not st.project then
    return { { kind = "project", name = ctx.params.project, state = "absent", healthy = false } }
  end
  local job, jerr = find_job(st.client, st.project.id, st.names.job)
  if job == nil then return nil, jerr end
  if not job then return { { kind = "job", role = "setup", name = st.names.job, state = "absent" } } end
  local last, rerr = last_run(st.client, st.project.id, job.id)
  if last == nil then return nil, rerr end
  return { { kind = "job", role = "setup", name = job.name, state = last and last.status or "never run",
             cpu = job.cpu, memory = job.memory, gpu = job.nvidia_gpu, created_at = job.created_at } }
end


M.step = { name = "setup_venv", plan = M.plan, apply = M.apply, destroy = M.destroy, status = M.status }

return M
