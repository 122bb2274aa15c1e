-- raycai.ui.day2_report: what the day-2 actions (issue 15/16: list, job, submit, logs, env,
-- suspend, autostop) print, as raycai.ui.report is for plan/status/up. The actions gather data
-- and hand it here; each function emits the JSON events of docs/json-events.md and, without
-- --json, the human text. The streamed text of a follow (a log or a submission's output as it
-- grows) goes through log_output/job_output/log_header here too: one place prints it.
-- A sibling of report.lua, not part of it, to keep each file to one purpose (and report.lua
-- short): the day-2 output has its own tables and no recipe hooks.
local ui = require "raycai.ui"
local term = require "raycai.term"
local report = require "raycai.ui.report"
local tables = require "raycai.tables"
local autostop = require "raycai.ray.autostop"  -- its pure text(); it requires this lazily

local M = {}


-- job list ----------------------------------------------------------------------------------

M.JOB_COLUMNS = {
  { "SUBMISSION", "id" },
  { "STATUS", "status" },
  { "START", "start_time" },
  { "DURATION", "duration" },
  { "EXIT", "exit_code" },
  { "ENTRYPOINT", "entrypoint" },
}


--- `job list`: rows { id, status, entrypoint, start_time, end_time, duration, exit_code,
--- message } as a table, "no submissions", or the jobs event.
function M.jobs(rows)
  if ui.is_json() then ui.event("jobs", { jobs = rows }) return end
  if #rows == 0 then ui.out("no submissions") return end
  ui.table(report.cells(M.JOB_COLUMNS, rows))
end


--- `job status ID`: the job_status event (the row of M.jobs) or "ID: STATUS (message)".
function M.job_status(r)
  ui.event("job_status", r)
  ui.out(("%s: %s%s"):format(r.id, r.status, r.message and (" (" .. r.message .. ")") or ""))
end


--- `job stop ID`: "stopping ID", or "ID already ended: STATE" when ended (state given).
function M.job_stop(sid, ended_state)
  if ended_state then ui.out(("%s already ended: %s"):format(sid, ended_state))
  else ui.out(("stopping %s"):format(sid)) end
end


--- A submission's output text (all of it, or what a follow found new): the job_output event
--- or the text as is on stdout.
function M.job_output(sid, text)
  if ui.is_json() then ui.event("job_output", { submission_id = sid, text = text })
  else term.write("stdout", text) end
end


--- A followed submission ended: the job_finished event and "submission ID SUCCEEDED", or the
--- error naming its state and message (and, head_note given, the head's state and its logs).
function M.job_finished(sid, final, head_note, recipe)
  ui.event("job_finished", { submission_id = sid, status = final.status, message = final.message,
                             exit_code = final.exit_code })
  if final.status ~= "SUCCEEDED" then
    local msg = ("submission %s %s: %s"):format(sid, final.status, tostring(final.message or ""))
    if head_note then msg = ("%s (%s); see raycai-run %s logs head"):format(msg, head_note, recipe) end
    ui.error(msg)
  elseif not ui.is_json() then
    ui.info(("submission %s SUCCEEDED"):format(sid))
  end
end


-- submit ------------------------------------------------------------------------------------

--- submit found the submission running and attaches to it (follows it unless --detach).
function M.job_attached(sid, job, run, status)
  ui.info(("submission %s is running (%s): attaching to it"):format(sid, status))
  ui.event("job_attached", { submission_id = sid, job = job, run = run })
end


--- submit started the submitter job's run; with detach the line that says how to follow it.
function M.job_submitted(sid, job, run, entrypoint, recipe, detach)
  ui.event("job_submitted", { submission_id = sid, job = job, run = run, entrypoint = entrypoint })
  ui.info(("submission %s: %s (CML job %s, run %s)"):format(sid, entrypoint, job, run))
  if detach then ui.out(("submitted %s; follow it with: raycai-run %s job logs -f %s"):format(sid, recipe, sid)) end
end


-- run (up, submit, then down by --down) ----------------------------------------------------

--- The job of `run` ended: the run_job_finished event (r: submission_id, exit_code, policy,
--- down, ttl), and, when the cluster stays, the line saying why and how to remove it; when it
--- goes down after a --ttl, the line saying how long it waits.
function M.run_job_finished(r)
  ui.event("run_job_finished", { submission_id = r.submission_id, exit_code = r.exit_code, policy = r.policy,
                                 down = r.down, ttl = r.ttl })
  if not r.down then
    ui.out(("cluster %s kept (--down=%s, the job %s): its logs: raycai-run %s logs job %s; remove it: "
      .. "raycai-run %s down"):format(r.cluster, r.policy, r.exit_code == 0 and "succeeded" or "did not succeed",
      r.recipe, r.submission_id, r.recipe))
  elseif r.ttl > 0 then
    ui.info(("keeping cluster %s %g s for a follow-up submit (--ttl), then down"):format(r.cluster, r.ttl))
  end
end


--- `run` took the cluster down after its job.
function M.run_down(cluster, recipe, sid)
  ui.out(("cluster %s down; the job's logs stay in the project: raycai-run %s logs job %s"):format(cluster, recipe,
    sid))
end


-- logs --------------------------------------------------------------------------------------

--- A log file's text (or what a follow found new): the log_output event or the text on stdout.
function M.log_output(path, text)
  if ui.is_json() then ui.event("log_output", { path = path, text = text }) return end
  term.write("stdout", text)
end


--- The `==> path <==` line before a file's text when several are printed (not with --json);
--- after = true when text was printed before it (a blank line first).
function M.log_header(path, after)
  if ui.is_json() then return end
  term.write("stdout", (after and "\n" or "") .. "==> " .. path .. " <==\n")
end


--- logs --out-dir D: how many files were written where.
function M.logs_written(count, dir)
  ui.out(("wrote %d log file(s) to %s"):format(count, dir))
end


-- env ---------------------------------------------------------------------------------------

local function quote(v) return "'" .. tostring(v):gsub("'", "'\\''") .. "'" end


--- `env`: v = raycai.ray.env.values (paths relative to $HOME) as the env event or the shell
--- lines for eval.
function M.env(cluster, v)
  if ui.is_json() then
    ui.event("env", { RAY_ADDRESS = v.RAY_ADDRESS, RAYCAI_CLUSTER_DIR = "$HOME/" .. v.RAYCAI_CLUSTER_DIR,
                      venv = "$HOME/" .. v.venv, generation = v.generation,
                      RAY_AUTH_MODE = v.token_path and "token" or nil,
                      RAY_AUTH_TOKEN_PATH = v.token_path and ("$HOME/" .. v.token_path) or nil })
    return
  end
  term.write("stdout", table.concat({
    "# cluster " .. cluster .. " (generation " .. tostring(v.generation) .. "): eval \"$(raycai-run ... env)\"",
    "export RAY_ADDRESS=" .. quote(v.RAY_ADDRESS),
    "export RAYCAI_CLUSTER_DIR=\"$HOME\"/" .. quote(v.RAYCAI_CLUSTER_DIR),
    "export VIRTUAL_ENV=\"$HOME\"/" .. quote(v.venv),
    "export PATH=\"$VIRTUAL_ENV/bin:$PATH\"",
    -- Ray's token authentication: the driver reads the token from the file (never printed)
    v.token_path and "export RAY_AUTH_MODE=token" or "unset RAY_AUTH_MODE",
    v.token_path and ("export RAY_AUTH_TOKEN_PATH=\"$HOME\"/" .. quote(v.token_path)) or "unset RAY_AUTH_TOKEN_PATH",
    "" }, "\n"))
end


-- suspend, autostop -------------------------------------------------------------------------

--- suspend stopped the cluster's `stopped` live applications.
function M.suspended(cluster, stopped, recipe)
  ui.event("cluster_suspended", { cluster = cluster, stopped = stopped })
  ui.out(("cluster %s suspended: its applications are stopped (no CPU/GPU held); the project, venv and files "
    .. "are kept. Bring it back with: raycai-run %s resume"):format(cluster, recipe))
end


--- `autostop` without options: the cluster's settings (raycai.ray.autostop.read: a table or
--- false for none).
function M.autostop_shown(cluster, cur)
  ui.event("autostop", { cluster = cluster, idle_minutes = cur and cur.idle_minutes or 0,
                         down = cur and cur.down or false, generation = cur and cur.generation or nil })
  ui.out(("autostop of cluster %s: %s"):format(cluster, autostop.text(cur)))
end


--- `autostop --cancel | --idle-minutes N`: the settings written for the head's generation.
function M.autostop_set(cluster, minutes, down, generation)
  ui.event("autostop", { cluster = cluster, idle_minutes = minutes, down = down, generation = generation })
  if minutes <= 0 then
    ui.out(("autostop of cluster %s cancelled: it runs until down or suspend (the next up or resume "
      .. "applies the recipe's autostop.idle_minutes again)"):format(cluster))
  else
    ui.out(("autostop of cluster %s: %s: after %g minute(s) without Ray driver activity the head %s the "
      .. "cluster"):format(cluster, autostop.text { idle_minutes = minutes, down = down }, minutes,
      down and "deletes the applications of" or "suspends"))
  end
end


-- list --------------------------------------------------------------------------------------

--- "1/2", or "cpu 1/1, gpu 0/2" for named groups; "0/0" without workers.
local function groups_text(groups)
  local parts, names = {}, tables.sorted_keys(groups)
  for _, g in ipairs(names) do
    local x = groups[g]
    parts[#parts + 1] = (#names == 1 and g == "worker") and ("%d/%d"):format(x.ready, x.desired)
      or ("%s %d/%d"):format(g, x.ready, x.desired)
  end
  return #parts > 0 and table.concat(parts, ", ") or "0/0"
end


M.CLUSTER_COLUMNS = {
  { "CLUSTER", "cluster" },
  { "PROJECT", "project" },
  { "HEAD", "head", function(v) return (v:gsub("^APPLICATION_", "")) end },
  { "WORKERS", "workers", groups_text },
  { "GPUS", "gpus", function(v) return ("%g"):format(v) end },
  { "STATUS", "status" },
  { "AGE", "age_seconds", report.age },
  -- (issue 16) the cluster's autostop.json: settings, false (none) or nil (unreadable: "?")
  { "AUTOSTOP", "autostop", function(v) return v == nil and "?" or autostop.text(v) end },
}


--- `list`: clusters { cluster, project, head (its status or "absent"), workers = { group =
--- { ready, desired } }, gpus, status, created_at, age_seconds, autostop } as a table, "no
--- raycai clusters", or the clusters event.
function M.clusters(list)
  if ui.is_json() then
    local out = {}
    for i, c in ipairs(list) do
      local a = c.autostop
      out[i] = { cluster = c.cluster, project = c.project, head = c.head, workers = c.workers, gpus = c.gpus,
                 status = c.status, created_at = c.created_at,
                 autostop = a and { idle_minutes = a.idle_minutes, down = a.down } or nil }
    end
    ui.event("clusters", { clusters = out })
    return
  end
  if #list == 0 then ui.out("no raycai clusters") return end
  ui.table(report.cells(M.CLUSTER_COLUMNS, list))
end


return M
