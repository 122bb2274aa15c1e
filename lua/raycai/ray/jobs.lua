-- raycai.ray.jobs: `raycai-run RECIPE job list|status|logs [-f]|stop [ID]` (issue 15): the
-- cluster's submissions, from their files in the project (raycai.ray.submissions).
local subs = require "raycai.ray.submissions"
local lookup = require "raycai.ray.day2_cluster"
local ui = require "raycai.ui"
local report = require "raycai.ui.day2_report"
local apps = require "raycai.ray.apps"

local M = {}

local SUBCOMMANDS = { list = true, status = true, logs = true, stop = true }
local USAGE = "use job list, job status ID, job logs [-f] ID or job stop ID"


--- "12s", "3m4s": the seconds between two ISO times, or "".
local function duration(a, b)
  local t0, t1 = apps.seconds(a), apps.seconds(b)
  if not t0 then return "" end
  if not t1 then return "" end
  local s = math.max(0, math.floor(t1 - t0))
  if s < 60 then return s .. "s" end
  return ("%dm%ds"):format(s // 60, s % 60)
end


local function row(sub)
  local s = sub.status or {}
  return { id = sub.id, status = sub.state, entrypoint = sub.spec.entrypoint, start_time = s.start_time,
           end_time = s.end_time, duration = duration(s.start_time, s.end_time), exit_code = s.exit_code,
           message = s.message }
end


--- The rows of `job list` (raycai.ui.day2_report.jobs prints them), or nil, message.
function M.rows(st)
  local ids, err = subs.ids(st)
  if not ids then return nil, err end
  local list, lerr = subs.get_many(st, ids)
  if not list then return nil, lerr end
  local out = {}
  for i, sub in ipairs(list) do out[i] = row(sub) end
  return out
end


function M.run(ctx, args)
  local sub_cmd, sid = args.words[1] or "list", args.words[2]
  if not SUBCOMMANDS[sub_cmd] then
    ui.error(("unknown job command '%s'; %s"):format(sub_cmd, USAGE))
    return 2
  end
  local extra = args.words[sub_cmd == "list" and 2 or 3]  -- (job list takes no id)
  if extra then ui.error(("unexpected argument '%s' for job %s; %s"):format(extra, sub_cmd, USAGE)) return 2 end
  local st, err, code = lookup.state(ctx)
  if not st then ui.error(err) return code end
  if sub_cmd == "list" then
    local rows, rerr = M.rows(st)
    if not rows then ui.error(rerr) return 1 end  -- (not "no submissions": CML did not say)
    report.jobs(rows)
    return 0
  end
  if not sid then
    local ids = subs.ids(st)
    ui.error(("job %s needs a submission id; %s"):format(sub_cmd, not ids and "job list shows them"
      or #ids == 0 and "the cluster has none" or ("the cluster's submissions: " .. table.concat(ids, ", "))))
    return 2
  end
  local sub, gerr = subs.get(st, sid)
  if gerr then ui.error(gerr) return 1 end
  if not sub then ui.error(subs.unknown(st, sid)) return 2 end
  if sub_cmd == "status" then
    report.job_status(row(sub))
    return 0
  elseif sub_cmd == "stop" then
    if subs.TERMINAL[sub.state] then report.job_stop(sid, sub.state) return 0 end
    local ok, serr = subs.stop(st, sid)
    if not ok then ui.error(serr) return 1 end
    report.job_stop(sid)
    return 0
  end
  -- logs
  if args.follow then
    return subs.follow(ctx, st, sid, { recipe = ctx.options.recipe })
  end
  local path = subs.dir(st, sid) .. "/output.log"
  local text, terr = st.client:download_file(st.project.id, path)
  if not text then
    if not (type(terr) == "table" and terr.status == 404) then  -- 404: no output yet
      ui.error(("could not download %s: %s"):format(path, tostring(terr)))
      return 1
    end
    text = ""
  end
  report.job_output(sid, text)
  return 0
end


return M
