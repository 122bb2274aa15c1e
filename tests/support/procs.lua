-- support.procs: which processes a test's launchers left (from ps), for "nothing is left
-- running" assertions. Linux ps only.
local M = {}


--- Whether process `pid` exists (kill -0).
function M.alive(pid)
  return os.execute(("env -u LD_PRELOAD kill -0 %d 2>/dev/null"):format(pid)) == true
end


--- `pid` and the pids of all its descendants, whatever their process group or session (a
--- launcher starts Ray in a session of its own).
function M.tree(pid)
  -- without the sanitizer runtime the ASan build's specs preload: ps hangs under it
  local f = assert(io.popen("env -u LD_PRELOAD ps -e -o pid= -o ppid="))
  local parent = {}
  for line in f:lines() do
    local p, pp = line:match("(%d+)%s+(%d+)")
    if p then parent[tonumber(p)] = tonumber(pp) end
  end
  f:close()
  local out = { pid }
  for p in pairs(parent) do
    local q, depth = p, 0
    while q and q ~= pid and depth < 50 do q, depth = parent[q], depth + 1 end
    if q == pid and p ~= pid then out[#out + 1] = p end
  end
  return out
end


--- The pids of `list` still alive.
function M.living(list)
  local out = {}
  for _, pid in ipairs(list) do if M.alive(pid) then out[#out + 1] = pid end end
  return out
end


return M
