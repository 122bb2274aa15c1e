-- raycai.ray.submit: `raycai-run RECIPE submit [OPTIONS] -- ENTRYPOINT...` (issue 15).
-- A CML job in the project (like KubeRay's submitter pod) runs the entrypoint as a Ray driver
-- with RAY_ADDRESS from head.json, in the cluster's venv, and tees its output to a project file
-- that raycai follows through the files API. Why a driver and not Ray's Jobs API: the head's
-- dashboard (which serves the Jobs API) listens on 127.0.0.1:$CDSW_APP_PORT only, reachable from
-- other pods only through CML's authenticated application proxy, while the GCS port is what the
-- workers already reach inside the cluster's network; a driver in its own job also gets the
-- resources --cpu/--memory give it instead of taking the head's, and its state lives in project
-- files, so it outlives the head (see docs/jobs.md).
local files = require "raycai.cml.files"
local setup = require "raycai.ray.setup"
local launcher_text = require "raycai.ray.launcher_text"
local subs = require "raycai.ray.submissions"
local lookup = require "raycai.ray.day2_cluster"
local ui = require "raycai.ui"
local report = require "raycai.ui.day2_report"
local clock = require "raycai.clock"
local hash = require "raycai.hash"
local cjson = require "cjson"

local M = {}

M.DEFAULT_CPU, M.DEFAULT_MEMORY = 1, 2


--- A word for the shell: as is when plain, else in single quotes.
local function shell_word(w)
  if w:match("^[%w%._/:=@%%+,%-]+$") then return w end
  return "'" .. w:gsub("'", "'\\''") .. "'"
end


--- The entrypoint as one shell command (Ray's entrypoint is a shell string too): a single word
--- is taken as a command line as written; several are quoted so each stays one word.
function M.entrypoint(words)
  if #words == 1 then return words[1] end
  local out = {}
  for i, w in ipairs(words) do out[i] = shell_word(w) end
  return table.concat(out, " ")
end


--- A working dir inside the project: relative, no "..", or nil, message.
local function check_working_dir(wd)
  if wd:sub(1, 1) == "/" or wd:find("%.%.") or wd:find("^~") then
    return nil, ("--working-dir %s is outside the project: give a folder relative to the project "
      .. "root, without '..'"):format(wd)
  end
  return true
end


local function usage(msg) ui.error(msg) return 2 end


--- A fresh submission id, like Ray's raysubmit_<random> (a hyphen: it is part of a job name).
function M.new_id()
  local f = io.open("/dev/urandom", "rb")
  local seed = (f and f:read(16) or "") .. tostring(clock.time())
  if f then f:close() end
  return "raysubmit-" .. hash.hex(seed):sub(1, 12)
end


--- Replace a project file with content (delete, then upload: uploads never overwrite).
local function put(st, path, content)
  local ok, err = st.client:delete_file(st.project.id, path)
  if not ok and err.status ~= 404 then return nil, err end
  return st.client:upload_file(st.project.id, path, content)
end


function M.run(ctx, args)
  local words = args.entrypoint or {}
  if #words == 0 or (#words == 1 and not words[1]:match("%S")) then
    return usage("submit needs an entrypoint after --, e.g. raycai-run RECIPE submit -- python train.py")
  end
  if #args.words > 0 then
    return usage(("unexpected argument '%s' before --; the entrypoint goes after --"):format(args.words[1]))
  end
  local wd = args.working_dir or "."
  local okw, werr = check_working_dir(wd)
  if not okw then return usage(werr) end
  local sid = args.name or M.new_id()
  local okid, iderr = subs.check_id(sid)
  if not okid then return usage(iderr) end
  local st, err, code = lookup.state(ctx)
  if not st then ui.error(err) return code end
  local h, info, hcode = lookup.running_head(ctx, st)
  if not h then ui.error(info) return hcode end
  local recipe = ctx.options.recipe or "RECIPE"
  local job, run = subs.job_and_run(st, sid)
  if job == nil then ui.error("could not look up the submitter job: " .. tostring(run)) return 1 end
  local existing, gerr
  if job then existing, gerr = subs.get(st, sid) end
  if gerr then ui.error(gerr) return 1 end
  if job and run and not subs.RUN_FINISHED[run.status] and not args.rerun then
    report.job_attached(sid, job.name, run.id, run.status)
    if args.detach then return 0 end
    return subs.follow(ctx, st, sid, { recipe = recipe, stop_on_interrupt = true })
  end
  if job and run and not subs.RUN_FINISHED[run.status] then
    return usage(("submission %s is still running; stop it first (raycai-run %s job stop %s)"):format(sid, recipe, sid))
  end
  if existing and not args.rerun then
    return usage(("submission %s already ran (%s); add --rerun to run it again, or give another --name")
      :format(sid, existing.state))
  end
  local s, serr = setup.scripts(ctx, st)
  if not s then ui.error(serr) return 1 end
  local v = s.by_role.head
  local text, terr = launcher_text.render("submit.py.tmpl", ctx.params, v)
  if not text then ui.error(terr) return 1 end
  local client, pid = st.client, st.project.id
  local dir = subs.dir(st, sid)
  local script = st.names.dir .. "/submit.py"
  local synced, yerr = files.sync(client, pid, script, text)
  if not synced then ui.error("could not upload the submitter script: " .. tostring(yerr)) return 1 end
  for _, f in ipairs { "status.json", "output.log" } do
    local ok, derr = client:delete_file(pid, dir .. "/" .. f)
    if not ok and derr.status ~= 404 then ui.error(("could not clear %s/%s: %s"):format(dir, f, tostring(derr))) return 1 end
  end
  local spec = { submission_id = sid, entrypoint = M.entrypoint(words), working_dir = wd, env = args.env,
                 submitted_at = clock.iso8601(clock.time()), generation = info.generation }
  if not next(spec.env) then spec.env = nil end
  local okp, perr = put(st, dir .. "/spec.json", cjson.encode(spec) .. "\n")
  if not okp then ui.error("could not write the submission's spec: " .. tostring(perr)) return 1 end
  local body = { name = subs.job_name(st, sid), script = script, arguments = sid,
                 cpu = args.cpu or M.DEFAULT_CPU, memory = args.memory or M.DEFAULT_MEMORY, nvidia_gpu = 0,
                 runtime_identifier = v.runtime, kill_on_timeout = false,
                 environment = { RAYCAI_CLUSTER = ctx.params.cluster, RAYCAI_SUBMISSION_ID = sid } }
  local fresh = not job
  if job then
    local ok, uerr = client:update_job(pid, job.id, { script = body.script, cpu = body.cpu, memory = body.memory,
      runtime_identifier = body.runtime_identifier, arguments = body.arguments })
    if not ok then ui.error(("could not update the job %s: %s"):format(job.name, tostring(uerr))) return 1 end
  else
    local created, cerr = client:create_job(pid, body)
    if not created then ui.error(("could not create the submitter job %s: %s"):format(body.name, tostring(cerr))) return 1 end
    job = created
    ui.object("created", "job", body.name, { id = job.id })
  end
  local r, rerr = client:create_job_run(pid, job.id, {}, { no_runs = fresh })
  if not r then ui.error(("could not start the submitter job %s: %s"):format(job.name, tostring(rerr))) return 1 end
  report.job_submitted(sid, job.name, r.id, spec.entrypoint, recipe, args.detach)
  if args.detach then return 0 end
  return subs.follow(ctx, st, sid, { recipe = recipe, stop_on_interrupt = true })
end


return M
