-- raycai.ray.submissions: the submissions of a cluster, as files in the project and one CML job
-- each. .raycai/<cluster>/jobs/<id>/ holds spec.json (raycai writes it before the run: the
-- entrypoint, working dir, env), status.json (the submitter writes it: Ray's job states) and
-- output.log (the submitter's tee of the entrypoint). The CML job is raycai-<cluster>-submit-<id>.
-- Shared by submit, job and logs.
local files = require "raycai.cml.files"
local apps = require "raycai.ray.apps"
local poll = require "raycai.cml.poll"
local ui = require "raycai.ui"
local clock = require "raycai.clock"
local cjson = require "cjson.safe"

local M = {}

M.TERMINAL = { SUCCEEDED = true, FAILED = true, STOPPED = true }
local RUN_FINISHED = { ENGINE_SUCCEEDED = true, ENGINE_FAILED = true, ENGINE_TIMEDOUT = true,
                       ENGINE_STOPPED = true, ENGINE_SKIPPED = true }
M.RUN_FINISHED = RUN_FINISHED
M.ID = "^[a-z0-9][a-z0-9%-]*$"
M.MAX_ID = 40


function M.dir(st, sid) return ("%s/jobs/%s"):format(st.names.dir, sid) end
function M.job_name(st, sid) return ("%s%s-submit-%s"):format("raycai-", st.names.cluster, sid) end


--- Check a submission id (--name): a DNS-label-like word, it becomes part of a CML job name.
function M.check_id(sid)
  if #sid > M.MAX_ID or not sid:match(M.ID) or sid:find("%-%-") or sid:sub(-1) == "-" then
    return nil, ("submission name %q is not valid: use at most %d of a-z, 0-9 and single hyphens")
      :format(sid, M.MAX_ID)
  end
  return true
end


--- The JSON file at path decoded, or nil.
local function read_json(st, path)
  local data = st.client:download_file(st.project.id, path)
  if not data then return nil end
  local v = cjson.decode(data)
  return type(v) == "table" and v or nil
end
M.read_json = read_json


--- One submission: { id, spec, status (table or nil), state } or nil when it does not exist.
function M.get(st, sid)
  local entries, err = files.list(st.client, st.project.id, M.dir(st, sid))
  if not entries then return nil, ("could not list %s: %s"):format(M.dir(st, sid), tostring(err)) end
  if not entries["spec.json"] then return nil end
  local sub = { id = sid, spec = read_json(st, M.dir(st, sid) .. "/spec.json") or {} }
  sub.status = entries["status.json"] and read_json(st, M.dir(st, sid) .. "/status.json")
  sub.state = sub.status and sub.status.status or "PENDING"
  if not M.TERMINAL[sub.state] then
    -- the submitter may have ended (stopped before it started, killed) without a word
    local job, run = M.job_and_run(st, sid)
    if job and run and RUN_FINISHED[run.status] then
      sub.status = sub.status or {}
      sub.state = run.status == "ENGINE_STOPPED" and "STOPPED" or "FAILED"
      sub.status.message = ("the submitter's CML run %s ended %s without a result"):format(run.id, run.status)
    end
  end
  return sub
end


--- Every submission id of the cluster, sorted; or nil, message when CML did not list them.
function M.ids(st)
  local entries, err = files.list(st.client, st.project.id, st.names.dir .. "/jobs")
  if not entries then return nil, ("could not list %s/jobs: %s"):format(st.names.dir, tostring(err)) end
  local out = {}
  for name, f in pairs(entries) do
    if f.is_dir or f.is_dir == nil then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end


-- submissions read side by side by get_many: each costs a listing and two downloads
local READ_TOGETHER = 32


--- The submissions `ids` (those that exist, in order), read READ_TOGETHER at a time with
--- client:together, so `job list` of many costs a few round trips instead of three per entry.
--- nil, message when one could not be listed.
function M.get_many(st, ids)
  local out = {}
  for first = 1, #ids, READ_TOGETHER do
    local fns = {}
    for i = first, math.min(#ids, first + READ_TOGETHER - 1) do
      fns[#fns + 1] = function() return M.get(st, ids[i]) end
    end
    for _, res in ipairs(st.client:together(table.unpack(fns))) do
      if res[1] then out[#out + 1] = res[1]
      elseif res[2] then return nil, res[2] end
    end
  end
  return out
end


--- "unknown submission X; the cluster's submissions: a, b" (or "it has none").
function M.unknown(st, sid)
  local ids = M.ids(st)
  return ("unknown submission '%s'; %s"):format(sid, not ids and "job list shows the cluster's submissions"
    or #ids == 0 and ("cluster " .. st.names.cluster .. " has no submissions")
    or ("the cluster's submissions: " .. table.concat(ids, ", ")))
end


--- The CML job of a submission and its newest run (false when none), or nil, err.
function M.job_and_run(st, sid)
  local job, err = st.client:find_named("list_jobs", { st.project.id }, M.job_name(st, sid))
  if not job then return job, err end
  local runs, rerr = st.client:list_job_runs(st.project.id, job.id, { sort = "-created_at", page_size = 1 })
  if not runs then return nil, rerr end
  return job, runs.job_runs[1] or false
end


--- Stop the submission's active CML run (the submitter records STOPPED). true or nil, err.
function M.stop(st, sid)
  local job, run = M.job_and_run(st, sid)
  if not job then return nil, "no CML job for submission " .. sid end
  if not run or RUN_FINISHED[run.status] then return true, "not running" end
  local ok, err = st.client:stop_job_run(st.project.id, job.id, run.id)
  if not ok then return nil, ("could not stop the run %s of %s: %s"):format(run.id, job.name, tostring(err)) end
  ui.object("stopped", "job_run", run.id, { submission_id = sid })
  return true
end


--- down --purge: delete the cluster's submitter jobs (raycai-<cluster>-submit-*). Returns the
--- number deleted or nil, err.
function M.purge(st)
  local prefix = M.job_name(st, "")
  local list, err = st.client:list_all("list_jobs", { st.project.id }, { search_filter = { name = prefix } })
  if not list then return nil, "could not list the submitter jobs: " .. tostring(err) end
  local n = 0
  for _, job in ipairs(list) do
    if job.name:sub(1, #prefix) == prefix then
      local ok, derr = st.client:delete_job(st.project.id, job.id)
      if not ok and derr.status ~= 404 then return nil, ("could not delete the job %s: %s"):format(job.name, tostring(derr)) end
      ui.object("deleted", "job", job.name)
      n = n + 1
    end
  end
  return n
end


--- Print new output text (or a json event).
local function emit(sid, text)
  if text == "" then return end
  require("raycai.ui.day2_report").job_output(sid, text)
end


--- The exit code for a final state: 0 SUCCEEDED, 1 otherwise.
function M.exit_code(state) return state == "SUCCEEDED" and 0 or 1 end


--- Follow a submission: print its output.log as it grows (downloaded only when the listing shows
--- it grew) until status.json says it ended, or its CML run ended without saying so.
--- opts.recipe: for messages; opts.stop_on_interrupt: Ctrl-C stops the submission.
--- Returns the exit code (0 succeeded, 1 failed or stopped, 130 interrupted).
function M.follow(_ctx, st, sid, opts)
  opts = opts or {}
  local client, pid, dir = st.client, st.project.id, M.dir(st, sid)
  local shown, last_status_size, final, turns = 0, nil, nil, 0
  local function drain(entries)
    local f = entries["output.log"]
    local size = f and tonumber(f.file_size) or 0
    if size == shown then return false end
    local data = client:download_file(pid, dir .. "/output.log")
    if data and #data < shown then shown = 0 end  -- rotated to output.log.1: the new part
    if not data or #data <= shown then return false end
    emit(sid, data:sub(shown + 1))
    shown = #data
    return true
  end
  local ok, err = poll.wait(function()
    turns = turns + 1
    local entries, lerr = files.list(client, pid, dir)
    if not entries then return nil, lerr end
    local grew = drain(entries)
    local s = entries["status.json"]
    local size = s and tonumber(s.file_size)
    if size and size ~= last_status_size then
      last_status_size = size
      local status = read_json(st, dir .. "/status.json")
      if status and M.TERMINAL[status.status] then
        final = status
        drain(files.list(client, pid, dir) or {})
        return true
      end
    end
    if turns % 5 == 0 then  -- the submitter may have died without a word
      local job, run = M.job_and_run(st, sid)
      if job and run and RUN_FINISHED[run.status] then
        local again = files.list(client, pid, dir) or {}
        drain(again)
        local status = again["status.json"] and read_json(st, dir .. "/status.json")
        final = status and M.TERMINAL[status.status] and status
          or { status = "FAILED", message = ("the submitter's CML run %s ended %s without a result"):format(run.id, run.status) }
        return true
      end
    end
    return false, grew
  end, { timeout = math.huge, first = 0.1, max = 1.0 })
  if not ok then
    if err ~= "interrupted" then
      ui.error(("could not follow submission %s: %s"):format(sid, tostring(err)))
      return 1
    end
    clock.clear_interrupt()  -- let the stop request through
    if opts.stop_on_interrupt then
      local sok, serr = M.stop(st, sid)
      ui.error(sok and ("interrupted: stopped submission %s"):format(sid)
        or ("interrupted: could not stop submission %s: %s"):format(sid, tostring(serr)))
    else
      ui.error(("interrupted: submission %s goes on; follow it with: raycai-run %s job logs -f %s")
        :format(sid, opts.recipe or "RECIPE", sid))
    end
    return 130
  end
  local head_note
  if final.status ~= "SUCCEEDED" and final.reason == "head_unreachable" then
    local list = apps.list(st)
    local head = list and list[st.names.head]
    head_note = ("head application %s is %s"):format(st.names.head, head and head.status or "absent")
  end
  require("raycai.ui.day2_report").job_finished(sid, final, head_note, opts.recipe or "RECIPE")
  return M.exit_code(final.status)
end


return M
