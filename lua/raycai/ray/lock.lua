-- raycai.ray.lock: one `up` or `down` at a time per cluster, through the project itself (no
-- local state). docs/reliability.md "The cluster lock" explains the protocol and the CML
-- behaviours it relies on; in short, in .raycai/<cluster>/:
--   lock.json                 the holder: a token unique to the run, who, since when. Written
--                             once: CML's upload never overwrites (an occupied path stores the
--                             upload as lock(1).json), so uploading it is create-if-absent, and
--                             the run whose token is read back from lock.json holds the lock.
--   lock.beat.<token>.<t>.json the holder's heartbeat (t: its wall clock, seconds), renewed while
--                             it waits. A lock whose newest beat (or, before the first, its
--                             beat_at) is older than stale_after is stale: its holder is dead.
--   lock.claim.<token>.json   a takeover of the stale lock <token>, again create-if-absent: only
--                             the run whose token is read back from the claim may delete that
--                             lock.json (and only while it still holds <token>); then it uploads
--                             its own lock.json like any run. A claim older than stale_after is
--                             itself taken over the same way (its claimer died mid-takeover).
-- A run never rewrites lock.json (an overwrite is delete + upload, and in between the lock would
-- be free), never deletes a lock.json that does not hold its own token or the stale token it
-- claimed, and removes every copy CML made of its own uploads.
local cluster = require "raycai.ray.cluster"
local files = require "raycai.cml.files"
local poll = require "raycai.cml.poll"
local hash = require "raycai.hash"
local clock = require "raycai.clock"
local ui = require "raycai.ui"
local cjson = require "cjson.safe"

local M = {}

local RELEASE_MARGIN = 60  -- seconds: a release later than stale_after - this reads the lock first
local ATTEMPTS = 4         -- rounds of acquire (a lock released or taken over under our feet)
local CLAIM_DEPTH = 3      -- claims of claims followed at most


--- A token no other run has: 16 random bytes, hex (the time and an address without /dev/urandom).
function M.new_token()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(16)
  if f then f:close() end
  if not bytes or #bytes < 16 then
    bytes = tostring(clock.time()) .. tostring({}) .. tostring(clock.monotonic()) .. tostring(os.clock())
  end
  return hash.hex(bytes:sub(1, 8) .. "a") .. hash.hex(bytes:sub(9) .. "b") .. hash.hex(bytes)
end


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


--- Heartbeat period and staleness for a lock that goes stale after `stale` seconds.
function M.beat_every(stale)
  return math.max(1, math.min(60, stale / 5))
end


local function read_json(client, pid, path)
  local data, err = client:download_file(pid, path)
  if not data then
    if err.status == 404 then return false end
    return nil, err
  end
  local info = cjson.decode(data)
  if type(info) ~= "table" or type(info.token) ~= "string" then
    -- unreadable: its content stands for its token, so a claim can still name it
    return { token = "x" .. hash.hex(data), unreadable = true }
  end
  return info
end


local function escape(s) return (s:gsub("%p", "%%%0")) end


--- Newest heartbeat of `token` in the folder entries, and the names of all its beats.
local function beats_of(entries, token)
  local newest, names = nil, {}
  local pattern = "^lock%.beat%." .. escape(token) .. "%.(%d+)%.json$"
  for name in pairs(entries) do
    local t = tonumber(name:match(pattern))
    if t then
      names[#names + 1] = name
      if not newest or t > newest then newest = t end
    end
  end
  table.sort(names)
  return newest, names
end


--- Seconds since the holder of `info` last showed life, by our clock. A lock from before
--- heartbeats (it has `expires` instead) is live until it expires.
local function silence(info, entries, now)
  local newest = beats_of(entries, info.token)
  if not newest and not info.beat_at and tonumber(info.expires) then
    return now < info.expires and 0 or math.huge
  end
  local last = math.max(newest or 0, tonumber(info.beat_at) or 0)
  return now - last
end


--- How long the holder of `info` may stay silent: its own stale_after or ours, the longer.
--- The autostop watcher (templates/head.py.tmpl, Autostop.lock_holder) applies this same rule
--- (with silence() above), "ours" being timeouts.lock as autostop.json's lock_stale_after: keep
--- the two in step.
local function stale_limit(self, info)
  return math.max(self.stale_after, tonumber(info.stale_after) or 0)
end


local function describe(info)
  if info.unreadable then return "unreadable" end
  return ("held by %s (%s since %s)"):format(tostring(info.holder), tostring(info.action),
    tostring(info.started_at))
end


--- Delete the copies CML made of our upload to `base` in dir: stem(N).ext holding our token.
local function remove_my_copies(client, pid, dir, base, token)
  local entries = files.list(client, pid, dir) or {}
  local stem, ext = base:match("^(.-)(%.[^.]*)$")
  local pattern = "^" .. escape(stem) .. "%(%d+%)" .. escape(ext) .. "$"
  for name in pairs(entries) do
    if name:match(pattern) then
      local copy = read_json(client, pid, dir .. "/" .. name)
      if copy and copy.token == token then client:delete_file(pid, dir .. "/" .. name) end
    end
  end
end


--- Create-if-absent: upload `body` to dir/base and read it back. Returns "mine", or "theirs"
--- and what is there, or "gone" (what was there went away meanwhile), or nil, err. Our copy
--- is removed unless it is ours at dir/base.
local function create(client, pid, dir, base, body)
  local path = dir .. "/" .. base
  local ok, uerr = client:upload_file(pid, path, cjson.encode(body))
  if not ok then return nil, uerr end
  local info, rerr = read_json(client, pid, path)
  if info == nil then return nil, rerr end
  if info and info.token == body.token then return "mine" end
  remove_my_copies(client, pid, dir, base, body.token)
  if not info then return "gone" end
  return "theirs", info
end


--- Take over the stale lock `stale` (read at lock.json): claim `target` (the lock itself, or a
--- stale claim of it), and when the claim is ours, delete lock.json if it still holds the stale
--- token. Returns true when lock.json may be free now (we may try to create it), or nil, err
--- (err.locked: another run is taking it over).
local function take_over(self, stale, target, depth)
  local client, pid, dir = self.client, self.pid, self.dir
  local claim_base = "lock.claim." .. target.token .. ".json"
  local got, other = create(client, pid, dir, claim_base, { token = self.token, at = clock.time(),
                                                            holder = self.mine.holder })
  if not got then return nil, other end
  if got == "gone" then return true end  -- the claim was done and removed: look again
  if got == "theirs" then
    local age = clock.time() - (tonumber(other.at) or 0)
    if age < self.stale_after or depth >= CLAIM_DEPTH then
      return nil, { locked = true, message = ("cluster %s is locked: a stale lock (%s) is being taken over by "
        .. "another run (%s); try again in a minute"):format(self.cluster, describe(stale), tostring(other.holder)) }
    end
    -- its claimer died mid-takeover: claim the claim, then go on with the takeover ourselves
    local ok, err = take_over(self, stale, other, depth + 1)
    if not ok then return nil, err end
    client:delete_file(pid, dir .. "/" .. claim_base)
    return true
  end
  self.claims[#self.claims + 1] = dir .. "/" .. claim_base
  local cur, rerr = read_json(client, pid, self.path)
  if cur == nil then return nil, rerr end
  if cur and cur.token == stale.token then
    local ok, derr = client:delete_file(pid, self.path)
    if not ok and derr.status ~= 404 then return nil, derr end
    local _, beats = beats_of(self.entries or {}, stale.token)  -- the dead holder's heartbeats
    for _, name in ipairs(beats) do client:delete_file(pid, dir .. "/" .. name) end
  end
  return true
end


--- Remove the claims our takeovers left.
local function tidy(self)
  for _, path in ipairs(self.claims) do self.client:delete_file(self.pid, path) end
  self.claims = {}
end


--- One run's lock: the state acquire, beat and release share.
local Lock = {}
Lock.__index = Lock


--- Try to hold the lock. Returns true, or nil, err.
function Lock:acquire()
  local client, pid = self.client, self.pid
  for attempt = 1, ATTEMPTS do
    local entries, lerr = {}, nil
    if not (self.fresh and attempt == 1) then entries, lerr = files.list(client, pid, self.dir) end
    if not entries then return nil, lerr end
    self.entries = entries
    local info
    if entries["lock.json"] then
      local rerr
      info, rerr = read_json(client, pid, self.path)
      if info == nil then return nil, rerr end
    end
    if info then
      local quiet = silence(info, entries, clock.time())
      if quiet < stale_limit(self, info) then
        return nil, ("cluster %s is locked: %s, last seen %ds ago; wait for that run to finish (if it is "
          .. "dead, its lock counts as stale after %ds without a heartbeat)"):format(self.cluster,
          describe(info), math.max(0, math.floor(quiet)), math.floor(stale_limit(self, info)))
      end
      ui.warn(("taking over a stale lock on cluster %s (%s, %s)"):format(self.cluster, describe(info),
        quiet == math.huge and "expired" or ("no heartbeat for %ds"):format(math.floor(quiet))))
      local ok, err = take_over(self, info, info, 1)
      if not ok then
        tidy(self)
        if type(err) == "table" and err.locked then return nil, err.message end
        return nil, err
      end
    end
    self.mine.beat_at = math.floor(clock.time())
    local got, other = create(client, pid, self.dir, "lock.json", self.mine)
    if not got then
      tidy(self)
      return nil, "could not take the cluster lock: " .. tostring(other)
    end
    if got == "mine" then
      self.last_beat = self.mine.beat_at
      tidy(self)
      return true
    end
    if got == "theirs" and silence(other, self.entries, clock.time()) < stale_limit(self, other) then
      tidy(self)
      return nil, ("cluster %s is locked: %s"):format(self.cluster, describe(other))
    end
    -- gone (released meanwhile) or a stale lock that appeared meanwhile: look again
  end
  tidy(self)
  return nil, ("cluster %s is locked: the lock changed hands %d times while this run tried to take it; "
    .. "try again"):format(self.cluster, ATTEMPTS)
end


--- Renew the heartbeat when it is due, and check that the lock is still ours. Returns true, or
--- nil, err when another run holds it now (this run must stop changing the cluster).
function Lock:beat(force)
  local now = math.floor(clock.time())
  if self.released or (not force and now - self.last_beat < self.beat_every) then return true end
  local client, pid = self.client, self.pid
  local cur = read_json(client, pid, self.path)
  if cur == false or (cur and cur.token ~= self.token) then
    return nil, ("lost the lock of cluster %s: %s; stop, and run again once that run is done"):format(self.cluster,
      cur and describe(cur) or "lock.json was deleted by another run")
  end
  local name = ("lock.beat.%s.%d.json"):format(self.token, now)
  local ok = client:upload_file(pid, self.dir .. "/" .. name, cjson.encode({ token = self.token, at = now }))
  if ok then
    if self.beat_name and self.beat_name ~= name then client:delete_file(pid, self.dir .. "/" .. self.beat_name) end
    self.beat_name, self.last_beat = name, now
  end
  return true
end


--- Release: delete lock.json only while it holds our token. Within stale_after - margin of our
--- last heartbeat nobody may take it over (see docs/reliability.md), so one DELETE is enough;
--- later, read it first.
function Lock:release()
  if self.released then return end
  self.released = true
  poll.remove_on_wait(self.waiter)
  local client, pid = self.client, self.pid
  local ours = clock.time() < self.last_beat + self.stale_after - RELEASE_MARGIN
  if not ours then
    local cur = read_json(client, pid, self.path)
    ours = cur and cur.token == self.token
  end
  if ours then client:delete_file(pid, self.path) end
  if self.beat_name then client:delete_file(pid, self.dir .. "/" .. self.beat_name) end
end


--- A lock object for the cluster of ctx (no request yet).
function M.new(ctx, action, st)
  local stale = ctx.params.timeouts.lock
  local token = M.new_token()
  local now = clock.time()
  local self = setmetatable({
    client = st.client, pid = st.project.id, dir = st.names.dir, path = st.names.dir .. "/lock.json",
    cluster = ctx.params.cluster, token = token, stale_after = stale, beat_every = M.beat_every(stale),
    fresh = st.fresh, claims = {}, last_beat = math.floor(now),
    mine = { token = token, holder = holder_name(), action = action, started_at = clock.iso8601(now),
             host = my_host(), beat_at = math.floor(now), stale_after = stale },
  }, Lock)
  return self
end


--- Take the cluster's lock for `action`. Returns a release function, or nil, err. While held,
--- every wait (raycai.cml.poll) renews the heartbeat and stops if the lock is lost.
function M.acquire(ctx, action)
  local st, err = cluster.prepare(ctx, action == "up")
  if not st then return nil, err end
  if not st.project then return function() end end
  local lock = M.new(ctx, action, st)
  local ok, aerr = lock:acquire()
  if not ok then return nil, aerr end
  lock.waiter = function() return lock:beat() end
  poll.on_wait(lock.waiter)
  return function() lock:release() end
end


return M
