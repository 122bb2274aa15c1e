-- raycai.ray.autostop (issue 16): stop or delete an idle cluster from inside it. The watcher is
-- a thread of the head's launcher (templates/head.py.tmpl, "autostop watcher"); this module is
-- the engine's side: the settings file it reads, .raycai/<cluster>/autostop.json, written after
-- every successful up or resume (arm) and by `raycai-run RECIPE autostop` (run), and the
-- AUTOSTOP column of status and list (text). docs/jobs.md "Autostop" says why it is built so.
--
-- autostop.json: {"cluster", "idle_minutes" (0: off), "down" (true: delete the applications,
-- false: :stop them), "generation" (the head generation it is armed for), "lock_stale_after" (the
-- recipe's timeouts.lock: the watcher honours a cluster lock as raycai.ray.lock does, while its
-- holder's silence is below the longer of this and the holder's own stale_after)}. It is a project file,
-- not part of any launcher's text or the applications' spec, so changing it never rolls an
-- application; the watcher re-reads it every cycle. It holds no secret.
local files = require "raycai.cml.files"
local ui = require "raycai.ui"
local cjson = require "cjson.safe"

local M = {}

M.MAX_MINUTES = 43200  -- 30 days: more is a mistake (a typo of hours or seconds), not a policy
M.FILE = "autostop.json"


--- The path of the settings file of the cluster (names: raycai.ray.naming.for_cluster).
function M.path(names) return names.dir .. "/" .. M.FILE end


--- The idle period check shared by the parameter and --idle-minutes: nil, why when bad.
function M.check_minutes(v)
  if type(v) ~= "number" or v ~= v or v < 0 or v > M.MAX_MINUTES then
    return nil, ("'%s' is not a number of minutes from 0 (off) to %d; fractions are allowed (0.5 = 30 s)")
      :format(tostring(v), M.MAX_MINUTES)
  end
  return true
end


--- The file's text: fixed key order, so the same settings are the same bytes (an up that
--- changes nothing uploads nothing). lock_stale: the run's timeouts.lock (seconds).
function M.content(cluster, minutes, down, generation, lock_stale)
  return ('{"cluster":%s,"idle_minutes":%s,"down":%s,"generation":%s,"lock_stale_after":%s}\n'):format(
    cjson.encode(cluster), cjson.encode(minutes), down and "true" or "false", cjson.encode(generation or ""),
    cjson.encode(lock_stale))
end


--- The settings of a cluster's file as a table { idle_minutes, down, generation }, false when
--- there is none, or nil, err.
function M.read(client, pid, names)
  local data, err = client:download_file(pid, M.path(names))
  if not data then
    if type(err) == "table" and err.status == 404 then return false end
    return nil, err
  end
  local v = cjson.decode(data)
  if type(v) ~= "table" then return false end
  return { idle_minutes = tonumber(v.idle_minutes) or 0, down = v.down == true, generation = v.generation }
end


--- "10m", "10m (down)", "30s" below a minute, "—" when off (the AUTOSTOP column).
function M.text(settings)
  local m = settings and settings.idle_minutes or 0
  if m <= 0 then return "—" end
  local t = m >= 1 and ("%gm"):format(m) or ("%gs"):format(m * 60)
  return settings.down and (t .. " (down)") or t
end


--- After a successful up or resume: arm the watcher of generation `generation` with the
--- recipe's settings. Off with no file yet: nothing is written. Returns true or nil, err.
--- One listing of the cluster folder at most (none when this run's plan listed it) and one
--- comparison of the file (files.sync's): the off case needs only the listing to see there is
--- no file to turn off.
function M.arm(ctx, st, generation)
  if not (st and st.client and st.project and st.names and generation) then return true end
  local a = ctx.params.autostop
  local content = M.content(ctx.params.cluster, a.idle_minutes, a.down, generation, ctx.params.timeouts.lock)
  local path = M.path(st.names)
  -- the cluster folder as this run's plan listed it (setup_venv), so that an up of a cluster
  -- without autostop sends no request for it; autostop.json is written by nobody else in a run
  local entries = st.plan_entries or (st.fresh and {}) or nil
  if not entries then
    local err
    entries, err = files.list(st.client, st.project.id, st.names.dir)
    if not entries then return nil, err end
  end
  -- off and no file: nothing to turn off (CML's copies "autostop(1).json" beside no file are
  -- left as they were: sync would only have created the file)
  if a.idle_minutes <= 0 and not entries[M.FILE] then return true end
  local change, err = files.sync(st.client, st.project.id, path, content, entries)
  if not change then return nil, err end
  if change ~= "keep" then
    ui.event("autostop", { cluster = ctx.params.cluster, idle_minutes = a.idle_minutes, down = a.down,
                           generation = generation })
  end
  return true
end


--- The AUTOSTOP cell of status: the file's setting of cluster `st`, "?" when unreadable.
function M.status_text(st)
  if not (st and st.client and st.project and st.names) then return "—" end
  local early = st.reads and st.reads.autostop  -- read beside status' other reads (head.reads)
  local s
  if early then s = early[1] else s = M.read(st.client, st.project.id, st.names) end
  if s == nil then return "?" end
  return M.text(s)
end


local USAGE = "give --cancel, or --idle-minutes N [--down|--no-down]"


--- Check autostop's own arguments: { minutes, down } (down nil: the recipe's), false to show
--- the setting, or nil, message.
local function settings_of(args, recipe_down)
  if #args.words > 0 then return nil, ("unexpected argument '%s' for autostop; %s"):format(args.words[1], USAGE) end
  if args.down and args.no_down then return nil, "give --down or --no-down, not both" end
  if args.cancel then
    if args.idle_minutes or args.down or args.no_down then
      return nil, "--cancel turns autostop off; give it alone"
    end
    return { minutes = 0, down = recipe_down }
  end
  if not args.idle_minutes then
    if args.down or args.no_down then return nil, "--down and --no-down go with --idle-minutes N" end
    return false
  end
  local n = tonumber(args.idle_minutes)
  local ok, why = M.check_minutes(n or args.idle_minutes)
  if not ok then return nil, "--idle-minutes " .. why end
  local down = recipe_down
  if args.down then down = true elseif args.no_down then down = false end
  return { minutes = n, down = down }
end


--- `raycai-run RECIPE autostop [--cancel | --idle-minutes N [--down|--no-down]]`: change (or,
--- without options, show) the running cluster's autostop; returns the exit code. The change
--- lasts until the next up or resume, which apply the recipe's autostop settings again.
function M.run(ctx, args)
  local want, aerr = settings_of(args, ctx.params.autostop.down)
  if want == nil then ui.error(aerr) return 2 end
  local st, list, code = require("raycai.ray.day2_cluster").existing(ctx)
  if not st then ui.error(code == 1 and (list .. "; run up first") or list) return code end
  local head = list[st.names.head]
  local cur, rerr = M.read(st.client, st.project.id, st.names)
  if cur == nil then ui.error("could not read " .. M.path(st.names) .. ": " .. tostring(rerr)) return 1 end
  local report = require "raycai.ui.day2_report"  -- (it requires this module: not at the top)
  if want == false then
    report.autostop_shown(ctx.params.cluster, cur)
    return 0
  end
  local generation = require("raycai.ray.apps").env_of(head).RAYCAI_GENERATION
  local ok, werr = files.sync(st.client, st.project.id, M.path(st.names),
    M.content(ctx.params.cluster, want.minutes, want.down, generation, ctx.params.timeouts.lock))
  if not ok then ui.error("could not write " .. M.path(st.names) .. ": " .. tostring(werr)) return 1 end
  report.autostop_set(ctx.params.cluster, want.minutes, want.down, generation)
  return 0
end


return M
