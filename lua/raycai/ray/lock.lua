-- raycai.ray.lock: one `up` or `down` at a time per cluster, through the project itself (no
-- local state): the lock is the project file .raycai/<cluster>/lock.json. CML's upload never
-- overwrites, so of two runs uploading at once one lands as lock.json and the other as
-- lock(1).json: the loser sees someone else's token in lock.json, removes its copy and stops.
-- A lock older than its expiry (a crashed run) is taken over with a warning.
local cluster = require "raycai.ray.cluster"
local files = require "raycai.ray.files"
local hash = require "raycai.hash"
local clock = require "raycai.clock"
local ui = require "raycai.ui"
local cjson = require "cjson.safe"

local M = {}

local RELEASE_MARGIN = 60  -- seconds: a release this close to the expiry reads the lock first


local function my_host()
  local f = io.open("/etc/hostname", "r")
  local host = f and f:read("l") or "unknown host"
  if f then f:close() end
  return host
end


local function holder_name()
  local user = os.getenv("USER") or os.getenv("LOGNAME") or "someone"
  return ("%s@%s"):format(user, my_host())
end


local function my_pid()
  local f = io.open("/proc/self/stat", "r")
  local stat = f and f:read("l") or ""
  if f then f:close() end
  return math.tointeger(tonumber(stat:match("^(%d+)")))
end


local function read_lock(client, pid, path)
  local data = client:download_file(pid, path)
  if not data then return nil end
  return cjson.decode(data)
end


--- A lock left by a run on this machine whose process is gone.
local function dead_here(info)
  if info.host ~= my_host() or math.type(info.pid) ~= "integer" then return false end
  local f = io.open("/proc/" .. info.pid .. "/cmdline", "rb")
  if not f then return true end
  local cmd = f:read("a") or ""
  f:close()
  return not cmd:find("raycai", 1, true)
end


local function describe(info)
  return ("held by %s (%s since %s)"):format(tostring(info.holder), tostring(info.action),
    tostring(info.started_at))
end


--- Take the cluster's lock for `action`. Returns a release function, or nil, err.
function M.acquire(ctx, action)
  local st, err = cluster.prepare(ctx, action == "up")
  if not st then return nil, err end
  if not st.project then return function() end end
  local client, pid = st.client, st.project.id
  local path = st.names.dir .. "/lock.json"
  local now = clock.time()
  local token = hash.hex(tostring(now) .. tostring({}) .. tostring(clock.monotonic()))
  local mine = { token = token, holder = holder_name(), action = action, started_at = clock.iso8601(now),
                 host = my_host(), pid = my_pid(),
                 expires = math.floor(now + ctx.params.timeouts.lock) }
  local entries, lerr = {}, nil  -- a project this run created holds no lock
  if not st.fresh then entries, lerr = files.list(client, pid, st.names.dir) end
  if not entries then return nil, lerr end
  if entries["lock.json"] then
    local info = read_lock(client, pid, path)
    if info and type(info.expires) == "number" and info.expires > now and not dead_here(info) then
      return nil, ("cluster %s is locked: %s; wait for that run to finish, or if it is dead delete %s "
        .. "in project %s"):format(ctx.params.cluster, describe(info), path, st.project.name)
    end
    ui.warn(("taking over a stale lock on cluster %s (%s)"):format(ctx.params.cluster,
      info and describe(info) or "unreadable"))
    local ok, derr = client:delete_file(pid, path)
    if not ok and derr.status ~= 404 then return nil, derr end
  end
  local ok, uerr = client:upload_file(pid, path, cjson.encode(mine))
  if not ok then return nil, "could not take the cluster lock: " .. tostring(uerr) end
  local info = read_lock(client, pid, path)
  if not info or info.token ~= token then
    -- we lost the race: our upload landed as lock(N).json; remove it
    local after = files.list(client, pid, st.names.dir) or {}
    for name in pairs(after) do
      if name:match("^lock%(%d+%)%.json$") then
        local copy = read_lock(client, pid, st.names.dir .. "/" .. name)
        if copy and copy.token == token then client:delete_file(pid, st.names.dir .. "/" .. name) end
      end
    end
    return nil, ("cluster %s is locked: %s"):format(ctx.params.cluster, info and describe(info) or "by another run")
  end
  return function()
    -- before its expiry nobody takes a lock over (a live run's lock is never stale): it is still
    -- ours, delete it at once; after, make sure it has not become another run's first
    if clock.time() < mine.expires - RELEASE_MARGIN then
      client:delete_file(pid, path)
      return
    end
    local cur = read_lock(client, pid, path)
    if cur and cur.token == token then client:delete_file(pid, path) end
  end
end


return M
