-- raycai.ray.logs: `raycai-run RECIPE logs [setup|head|<group>-<i>|<group>|job ID] [-f] [--tail N]
-- [--out-dir D]` (issue 15). The launchers tee their output to .raycai/<cluster>/logs/<node>.log
-- and copy Ray's session logs to .raycai/<cluster>/logs/<node>.ray/ when they stop; the setup job
-- logs to .raycai/<cluster>/setup*.log; a submission to jobs/<id>/output.log. All are project
-- files, read through the files API, so they outlive the applications and `down` (not --purge).
local subs = require "raycai.ray.submissions"
local lookup = require "raycai.ray.day2_cluster"
local files = require "raycai.cml.files"
local poll = require "raycai.cml.poll"
local ui = require "raycai.ui"
local report = require "raycai.ui.day2_report"
local clock = require "raycai.clock"
local fs = require "raycai.fs"
local tables = require "raycai.tables"

local M = {}


local function logs_dir(st) return st.names.dir .. "/logs" end


--- A folder's entries (raycai.cml.files.list: {} when it does not exist), or nil, a message.
local function listing(st, dir)
  local entries, err = files.list(st.client, st.project.id, dir)
  if not entries then return nil, ("could not list %s: %s"):format(dir, tostring(err)) end
  return entries
end


--- The nodes that have a log: { "head", "worker-1", ... } (sorted), and the folder's entries;
--- or nil, message.
local function nodes(st)
  local entries, err = listing(st, logs_dir(st))
  if not entries then return nil, err end
  local out = {}
  for name in pairs(entries) do
    local node = name:match("^(.+)%.log$")
    if node then out[#out + 1] = node end
  end
  table.sort(out)
  return out, entries
end


--- The setup logs present: { "setup.log", "setup_worker.log" }, or nil, message.
local function setup_logs(st)
  local entries, err = listing(st, st.names.dir)
  if not entries then return nil, err end
  local out = {}
  for name in pairs(entries) do
    if name:match("^setup.*%.log$") then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end


--- The valid targets of a cluster whose nodes (nodes()) have these logs, for a message.
local function valid(st, node_list)
  local list = { "setup" }
  local groups = {}
  for _, n in ipairs(node_list) do
    list[#list + 1] = n
    local g = n:match("^(.-)%-%d+$")
    if g and not groups[g] then groups[g] = true list[#list + 1] = g end
  end
  for _, id in ipairs(subs.ids(st) or {}) do list[#list + 1] = "job " .. id end
  return table.concat(list, ", ")
end


--- A node's files: its log, then its Ray session logs (copied at stop: a folder of entries,
--- the logs folder's listing), or nil, message.
local function node_paths(st, n, entries)
  local out = { logs_dir(st) .. "/" .. n .. ".log" }
  if entries[n .. ".ray"] then
    local ray, err = listing(st, logs_dir(st) .. "/" .. n .. ".ray")
    if not ray then return nil, err end
    for _, f in ipairs(tables.sorted_keys(ray)) do out[#out + 1] = logs_dir(st) .. "/" .. n .. ".ray/" .. f end
  end
  return out
end


--- The files of a target: a list of project paths (a node's log, then its Ray session logs);
--- false when the target has none, nil, message when CML did not answer.
local function paths_of(st, target, id)
  if target == "setup" then
    local logs, err = setup_logs(st)
    if not logs then return nil, err end
    local out = {}
    for _, n in ipairs(logs) do out[#out + 1] = st.names.dir .. "/" .. n end
    return out
  end
  if target == "job" then
    if not id then return false end
    local sub, err = subs.get(st, id)
    if err then return nil, err end
    if not sub then return false end
    return { subs.dir(st, id) .. "/output.log" }
  end
  local list, entries = nodes(st)
  if not list then return nil, entries end
  local out = {}
  for _, n in ipairs(list) do
    if n == target or n:match("^(.-)%-%d+$") == target then
      local ps, err = node_paths(st, n, entries)
      if not ps then return nil, err end
      table.move(ps, 1, #ps, #out + 1, out)
    end
  end
  return #out > 0 and out or false
end


local function last_lines(text, n)
  if not n then return text end
  local lines = {}
  for line in text:gmatch("[^\n]*\n?") do if line ~= "" then lines[#lines + 1] = line end end
  return table.concat(lines, "", math.max(1, #lines - n + 1))
end


--- Follow project files of one folder (a node's log, or every node of a group) like
--- `tail -f`: one listing per turn, a file downloaded only when the listing shows it grew or
--- shrank (rotated: printed again from its start), a `==> path <==` header when the output
--- switches file (more than one followed). Runs until Ctrl-C (exit 130).
---@param shown table<string, integer> bytes of each path already printed
local function follow(st, paths, shown)
  local dir = paths[1]:match("^(.*)/[^/]+$")
  local last = paths[#paths]  -- the initial print ended with it
  local function print_from(path, text)
    if last ~= path then report.log_header(path, true) end
    last = path
    report.log_output(path, text)
  end
  local _, werr = poll.wait(function()
    local entries, err = listing(st, dir)
    if not entries then return nil, err end
    local progressed = false
    for _, path in ipairs(paths) do
      local f = entries[path:match("([^/]+)$")]
      local size = f and tonumber(f.file_size) or 0
      if f and size ~= shown[path] then
        local data = st.client:download_file(st.project.id, path)
        if data and #data < shown[path] then shown[path] = 0 end  -- rotated: the new file
        if data and #data > shown[path] then
          print_from(path, data:sub(shown[path] + 1))
          shown[path] = #data
          progressed = true
        end
      end
    end
    return false, progressed
  end, { timeout = math.huge, first = 0.2, max = 1.0 })
  if werr ~= "interrupted" then  -- CML stopped answering: not the user's Ctrl-C
    ui.error(("could not follow %s: %s; try again, or see the files without -f"):format(dir, tostring(werr)))
    return 1
  end
  clock.clear_interrupt()
  return 130
end


--- --out-dir D: download every log of the cluster into D (logs/, setup*.log, jobs/<id>/).
--- Exit 2 when D cannot be made (nothing downloaded), 1 when a file could not be had or written.
local function download_tree(st, out_dir)
  local made, merr = fs.mkdir(out_dir)
  if not made then
    ui.error(("--out-dir %s: %s; give a folder you can write"):format(out_dir, tostring(merr)))
    return 2
  end
  local setup, serr = setup_logs(st)
  if not setup then ui.error(serr) return 1 end
  local list, entries = nodes(st)
  if not list then ui.error(entries) return 1 end
  local want = {}  -- project paths, in the order written
  for _, n in ipairs(setup) do want[#want + 1] = st.names.dir .. "/" .. n end
  for _, n in ipairs(list) do
    local ps, err = node_paths(st, n, entries)
    if not ps then ui.error(err) return 1 end
    table.move(ps, 1, #ps, #want + 1, want)
  end
  local ids, ierr = subs.ids(st)
  if not ids then ui.error(ierr) return 1 end
  for _, id in ipairs(ids) do want[#want + 1] = subs.dir(st, id) .. "/output.log" end
  local count, failed = 0, {}
  for _, path in ipairs(want) do
    local data, derr = st.client:download_file(st.project.id, path)
    if data then
      local dest = fs.join(out_dir, path:sub(#st.names.dir + 2))
      local ok, werr = fs.mkdir(dest:match("^(.*)/[^/]+$"))
      if ok then ok, werr = fs.write(dest, data) end
      if not ok then
        ui.error(("could not write %s: %s (%d log file(s) written to %s)"):format(dest, tostring(werr), count, out_dir))
        return 1
      end
      count = count + 1
    elseif not (type(derr) == "table" and derr.status == 404) then  -- 404: a submission without output yet
      failed[#failed + 1] = ("%s (%s)"):format(path, tostring(derr))
    end
  end
  report.logs_written(count, out_dir)
  if #failed > 0 then
    ui.error(("could not download %s; run logs --out-dir again"):format(table.concat(failed, ", ")))
    return 1
  end
  return 0
end


--- For a failure of up naming applications of the cluster: "; logs: raycai-run R logs worker-2, ..."
--- (the launchers' logs in the project), or "".
function M.hint(ctx, st, text)
  local prefix = st.names.app_prefix
  local seen, out = {}, {}
  for name in tostring(text):gmatch("(" .. prefix:gsub("%p", "%%%0") .. "[%w%-]+)") do
    local node = name:sub(#prefix + 1)
    if node ~= "setup" and not seen[node] then
      seen[node] = true
      out[#out + 1] = ("raycai-run %s logs %s"):format(ctx.options.recipe or "RECIPE", node)
    end
  end
  return #out > 0 and ("; logs: " .. table.concat(out, ", ")) or ""
end


--- Print each file (its last `tail` lines), under a `==> path <==` header when there are several;
--- returns the bytes printed of each path, for follow, or nil, message when CML did not answer
--- (a file gone since the listing is printed empty).
local function print_files(st, paths, tail)
  local shown = {}
  for i, p in ipairs(paths) do
    local data, err = st.client:download_file(st.project.id, p)
    if not data then
      if not (type(err) == "table" and err.status == 404) then
        return nil, ("could not download %s: %s"):format(p, tostring(err))
      end
      data = ""
    end
    if #paths > 1 then report.log_header(p, i > 1) end
    report.log_output(p, last_lines(data, tail))
    shown[p] = #data
  end
  return shown
end


function M.run(ctx, args)
  local st, err, code = lookup.state(ctx)
  if not st then ui.error(err) return code end
  if args.out_dir then return download_tree(st, args.out_dir) end
  local target, id = args.words[1] or "head", args.words[2]
  local paths, perr = paths_of(st, target, id)
  if paths == nil then ui.error(perr) return 1 end
  if not paths then
    local list, lerr = nodes(st)
    if not list then ui.error(lerr) return 1 end
    local none = #list == 0 and " (no launcher has written a log yet; a simulator without --exec runs no "
      .. "scripts, so none ever does there)" or ""
    ui.error(("no logs for '%s'%s; valid targets: %s%s"):format(target, id and (" " .. id) or "", valid(st, list),
      none))
    return 2
  end
  if args.follow and target == "job" then  -- a submission: follow it to its end, like job logs -f
    return subs.follow(ctx, st, id, { recipe = ctx.options.recipe })
  end
  if args.follow then  -- every node log of the target (not Ray's session logs, copied at stop)
    local logs = {}
    for _, p in ipairs(paths) do
      if p:match("%.log$") and not p:find("%.ray/") then logs[#logs + 1] = p end
    end
    local shown, serr = print_files(st, logs, args.tail)
    if not shown then ui.error(serr) return 1 end
    return follow(st, logs, shown)
  end
  local shown, serr = print_files(st, paths, args.tail)
  if not shown then ui.error(serr) return 1 end
  return 0
end


return M
