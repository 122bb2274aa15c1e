-- raycai.ray.logs: `raycai-run RECIPE logs [setup|head|<group>-<i>|<group>|job ID] [-f] [--tail N]
-- [--out-dir D]` (issue 15). The launchers tee their output to .raycai/<cluster>/logs/<node>.log
-- and copy Ray's session logs to .raycai/<cluster>/logs/<node>.ray/ when they stop; the setup job
-- logs to .raycai/<cluster>/setup*.log; a submission to jobs/<id>/output.log. All are project
-- files, read through the files API, so they outlive the applications and `down` (not --purge).
local subs = require "raycai.ray.submissions"
local files = require "raycai.cml.files"
local poll = require "raycai.cml.poll"
local ui = require "raycai.ui"
local report = require "raycai.ui.day2_report"
local clock = require "raycai.clock"
local fs = require "raycai.fs"

local M = {}


local function logs_dir(st) return st.names.dir .. "/logs" end


--- The nodes that have a log: { "head", "worker-1", ... } (sorted), and the folder's entries.
local function nodes(st)
  local entries = files.list(st.client, st.project.id, logs_dir(st)) or {}
  local out = {}
  for name in pairs(entries) do
    local node = name:match("^(.+)%.log$")
    if node then out[#out + 1] = node end
  end
  table.sort(out)
  return out, entries
end


--- The setup logs present: { "setup.log", "setup_worker.log" }.
local function setup_logs(st)
  local entries = files.list(st.client, st.project.id, st.names.dir) or {}
  local out = {}
  for name in pairs(entries) do
    if name:match("^setup.*%.log$") then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end


--- The valid targets, for a message.
local function valid(st)
  local list = { "setup" }
  local groups = {}
  for _, n in ipairs((nodes(st))) do
    list[#list + 1] = n
    local g = n:match("^(.-)%-%d+$")
    if g and not groups[g] then groups[g] = true list[#list + 1] = g end
  end
  local ids = subs.ids(st)
  for _, id in ipairs(ids) do list[#list + 1] = "job " .. id end
  return table.concat(list, ", ")
end


--- The files of a target: a list of project paths (a node's log, then its Ray session logs).
local function paths_of(st, target, id)
  if target == "setup" then
    local out = {}
    for _, n in ipairs(setup_logs(st)) do out[#out + 1] = st.names.dir .. "/" .. n end
    return out
  end
  if target == "job" then
    if not id then return nil end
    if not subs.get(st, id) then return nil end
    return { subs.dir(st, id) .. "/output.log" }
  end
  local list, entries = nodes(st)
  local out = {}
  for _, n in ipairs(list) do
    if n == target or n:match("^(.-)%-%d+$") == target then
      out[#out + 1] = logs_dir(st) .. "/" .. n .. ".log"
      if entries[n .. ".ray"] then
        local ray = files.list(st.client, st.project.id, logs_dir(st) .. "/" .. n .. ".ray") or {}
        local names = {}
        for f in pairs(ray) do names[#names + 1] = f end
        table.sort(names)
        for _, f in ipairs(names) do out[#out + 1] = logs_dir(st) .. "/" .. n .. ".ray/" .. f end
      end
    end
  end
  return #out > 0 and out or nil
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
  poll.wait(function()
    local entries, err = files.list(st.client, st.project.id, dir)
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
  clock.clear_interrupt()
  return 130
end


--- --out-dir D: download every log of the cluster into D (logs/, setup*.log, jobs/<id>/).
local function download_tree(st, out_dir)
  local count = 0
  local function save(rel, path)
    local data = st.client:download_file(st.project.id, path)
    if not data then return end
    local dest = fs.join(out_dir, rel)
    local parent = dest:match("^(.*)/[^/]+$")
    if parent then fs.mkdir(parent) end
    assert(fs.write(dest, data))
    count = count + 1
  end
  for _, n in ipairs(setup_logs(st)) do save(n, st.names.dir .. "/" .. n) end
  local list = nodes(st)
  for _, n in ipairs(list) do
    for _, p in ipairs(paths_of(st, n) or {}) do save(p:sub(#st.names.dir + 2), p) end
  end
  for _, id in ipairs(subs.ids(st)) do
    save("jobs/" .. id .. "/output.log", subs.dir(st, id) .. "/output.log")
  end
  report.logs_written(count, out_dir)
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
--- returns the bytes printed of each path, for follow.
local function print_files(st, paths, tail)
  local shown = {}
  for i, p in ipairs(paths) do
    local data = st.client:download_file(st.project.id, p) or ""
    if #paths > 1 then report.log_header(p, i > 1) end
    report.log_output(p, last_lines(data, tail))
    shown[p] = #data
  end
  return shown
end


function M.run(ctx, args)
  local st, err = subs.cluster(ctx)
  if not st then ui.error(err) return 2 end
  if args.out_dir then return download_tree(st, args.out_dir) end
  local target, id = args.words[1] or "head", args.words[2]
  local paths = paths_of(st, target, id)
  if not paths then
    local none = #(nodes(st)) == 0 and " (no launcher has written a log yet; a simulator without --exec runs no "
      .. "scripts, so none ever does there)" or ""
    ui.error(("no logs for '%s'%s; valid targets: %s%s"):format(target, id and (" " .. id) or "", valid(st), none))
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
    return follow(st, logs, print_files(st, logs, args.tail))
  end
  print_files(st, paths, args.tail)
  return 0
end


return M
