-- The cluster lock (raycai.ray.lock) against cml-sim: taken through CML's never-overwriting
-- upload and read back, refused while its holder's heartbeat is fresh, taken over once stale
-- through a claim file, released only while it holds our token. Races are driven from here:
-- each run's client yields before every request, and a scheduler interleaves two runs in every
-- order with up to two switches between them, and many with three (docs/reliability.md, "The cluster lock").
local sim = require "support.sim"
local cml = require "raycai.cml"
local context = require "raycai.context"
local ray = require "raycai.ray"
local cluster = require "raycai.ray.cluster"
local lock = require "raycai.ray.lock"
local poll = require "raycai.cml.poll"
local clock = require "raycai.clock"
local cjson = require "cjson"

local DIR = ".raycai/lk"
local PATH = DIR .. "/lock.json"


describe("the cluster lock", function()
  local s, client

  setup(function()
    s = sim.start {}
    client = assert(cml.client { host = s.url, api_key = s.api_key, retries = 0 })
  end)

  teardown(function()
    client:close()
    s:stop()
  end)

  -- A run context of a Ray recipe on project "lockp", cluster "lk", with --set assignments.
  local function new_ctx(sets)
    local r = ray.recipe { name = "lock-test", defaults = { project = "lockp", cluster = "lk" } }
    local ctx = context.new(r, assert(r:values(sets or {})), { action = "up" })
    ctx.cml = client
    return ctx
  end

  local pid
  local function pid_of(ctx)
    pid = pid or assert(cluster.prepare(ctx, true)).project.id
    return pid
  end

  local function names()
    local res = client:list_files(pid, DIR)
    local out = {}
    for _, f in ipairs(res and res.files or {}) do out[#out + 1] = f.path:match("([^/]+)/?$") end
    table.sort(out)
    return out
  end

  local function holder()
    local data = client:download_file(pid, PATH)
    return data and cjson.decode(data)
  end

  local function clear()
    for _, name in ipairs(names()) do assert(client:delete_file(pid, DIR .. "/" .. name)) end
  end

  local function put(name, info)
    assert(client:upload_file(pid, DIR .. "/" .. name, cjson.encode(info)))
  end

  local function stale_lock(token, extra)
    local info = { token = token or "old", holder = "someone@elsewhere", host = "elsewhere", action = "up",
                   started_at = "2026-01-01T00:00:00Z", beat_at = math.floor(clock.time()) - 7200 }
    for k, v in pairs(extra or {}) do info[k] = v end
    put("lock.json", info)
    return info
  end

  before_each(function()
    pid_of(new_ctx())
    clear()
  end)

  it("is a file with a token, the holder and a heartbeat, deleted on release", function()
    local ctx = new_ctx()
    local release = assert(lock.acquire(ctx, "up"))
    local info = holder()
    assert.is_string(info.token)
    assert.is_true(#info.token >= 32)
    assert.equal("up", info.action)
    assert.matches("@", info.holder)
    assert.is_true(math.abs(info.beat_at - clock.time()) < 5)
    assert.equal(600, info.stale_after)
    release(true)
    assert.same({}, names())
  end)

  it("gives every run its own token", function()
    local seen = {}
    for _ = 1, 50 do
      local t = lock.new_token()
      assert.is_nil(seen[t])
      seen[t] = true
    end
  end)

  it("stops a second run while the first holds it, naming the holder, without writing", function()
    local release = assert(lock.acquire(new_ctx(), "up"))
    local mine = holder()
    s:clear_requests()
    local ok, err = lock.acquire(new_ctx(), "up")
    assert.is_nil(ok)
    assert.matches("cluster lk is locked: held by " .. mine.holder:gsub("%p", "%%%0"), err)
    assert.matches("last seen %d+s ago", err)
    for _, q in ipairs(s:requests()) do
      assert.is_true(q.method == "GET" or q.path:match(":download$") ~= nil, q.method .. " " .. q.path)
    end
    assert.equal(mine.token, holder().token)
    release(true)
  end)

  it("takes over a lock whose holder's heartbeat is older than timeouts.lock, and tidies up", function()
    stale_lock("old")
    put("lock.beat.old.1000.json", { token = "old", at = 1000 })
    local release = assert(lock.acquire(new_ctx(), "up"))
    local info = holder()
    assert.are_not.equal("old", info.token)
    assert.same({ "lock.json" }, names())  -- the claim and the dead holder's beats are gone
    release(true)
  end)

  it("judges the holder by its heartbeat, not by its host or process", function()
    -- started long ago, on this very host, by a process that is gone: but it beat a moment ago
    local f = io.open("/etc/hostname")
    local host = f and f:read("l") or "unknown host"
    if f then f:close() end
    stale_lock("live", { host = host, pid = 999999999 })
    put(("lock.beat.live.%d.json"):format(math.floor(clock.time())), { token = "live" })
    local ok, err = lock.acquire(new_ctx(), "up")
    assert.is_nil(ok)
    assert.matches("is locked", err)
    assert.equal("live", holder().token)
  end)

  it("respects a lock written before heartbeats until it expires", function()
    put("lock.json", { token = "legacy", holder = "a@b", expires = math.floor(clock.time()) + 3600 })
    assert.is_nil((lock.acquire(new_ctx(), "up")))
    clear()
    put("lock.json", { token = "legacy", holder = "a@b", expires = math.floor(clock.time()) - 10 })
    local release = assert(lock.acquire(new_ctx(), "up"))
    release(true)
  end)

  it("leaves a stale lock alone while another run's fresh claim is taking it over", function()
    stale_lock("old")
    put("lock.claim.old.json", { token = "other", at = clock.time(), holder = "other@host" })
    local ok, err = lock.acquire(new_ctx(), "up")
    assert.is_nil(ok)
    assert.matches("being taken over by another run %(other@host%)", err)
    assert.same({ "lock.claim.old.json", "lock.json" }, names())  -- our claim's copy is removed
    assert.equal("old", holder().token)
  end)

  it("takes over a stale lock whose claimer died mid-takeover", function()
    stale_lock("old")
    put("lock.claim.old.json", { token = "dead", at = clock.time() - 7200, holder = "dead@host" })
    local release = assert(lock.acquire(new_ctx(), "up"))
    assert.are_not.equal("old", holder().token)
    assert.same({ "lock.json" }, names())
    release(true)
  end)

  it("releases with one request well before it could go stale", function()
    local release = assert(lock.acquire(new_ctx(), "up"))
    s:clear_requests()
    release(true)
    local log = s:requests()
    assert.equal(1, #log)
    assert.equal("DELETE", log[1].method)
  end)

  it("late in its life, releases only a lock that is still its own", function()
    local ctx = new_ctx { "timeouts.lock=30" }  -- within a minute of going stale from the start
    local release = assert(lock.acquire(ctx, "up"))
    clear()
    stale_lock("theirs", { beat_at = math.floor(clock.time()) })  -- another run took it over
    release(true)
    assert.equal("theirs", holder().token)
  end)

  describe("heartbeat", function()
    it("is renewed during waits, replacing the previous beat", function()
      local ctx = new_ctx { "timeouts.lock=1" }  -- a beat due every second
      local release = assert(lock.acquire(ctx, "up"))
      local token = holder().token
      local n = 0
      assert(poll.wait(function() n = n + 1; return n > 2 end, { timeout = 30, first = 1.2, max = 1.2 }))
      local beats = {}
      for _, name in ipairs(names()) do
        if name:match("^lock%.beat%.") then beats[#beats + 1] = name end
      end
      assert.equal(1, #beats)
      assert.matches("^lock%.beat%." .. token .. "%.%d+%.json$", beats[1])
      release(true)
      assert.same({}, names())
    end)

    it("ends the wait when the lock was lost to another run", function()
      local ctx = new_ctx { "timeouts.lock=1" }
      local release = assert(lock.acquire(ctx, "up"))
      clear()
      stale_lock("thief", { holder = "thief@host", beat_at = math.floor(clock.time()) })
      local n = 0
      local ok, err = poll.wait(function() n = n + 1; return false end, { timeout = 30, first = 1.2, max = 1.2 })
      assert.is_nil(ok)
      assert.matches("lost the lock of cluster lk: held by thief@host", err)
      release(false)
      assert.equal("thief", holder().token)
      -- released: waits no longer beat
      assert(poll.wait(function() return true end, { timeout = 5 }))
    end)
  end)

  describe("two runs racing", function()
    -- A client that yields before every request: each request is one step of the run.
    local function stepping(real)
      return setmetatable({}, { __index = function(_, k)
        local v = real[k]
        if type(v) ~= "function" then return v end
        return function(_, ...)
          coroutine.yield(k)
          return v(real, ...)
        end
      end })
    end

    -- Run fn (which uses a stepping client) to its end.
    local function drain(fn, ...)
      local co = coroutine.create(fn)
      local r = table.pack(coroutine.resume(co, ...))
      while coroutine.status(co) ~= "dead" do
        assert(r[1], r[2])
        r = table.pack(coroutine.resume(co))
      end
      assert(r[1], r[2])
      return table.unpack(r, 2, r.n)
    end

    -- A run's context, its project already looked up (a copy of one lookup: the race is the lock's)
    local prepared
    local function racer()
      prepared = prepared or assert(cluster.prepare(new_ctx(), true))
      local ctx = new_ctx()
      local st = {}
      for k, v in pairs(prepared) do st[k] = v end
      st.client, st.fresh = stepping(client), false
      ctx.state.ray = st
      return ctx
    end

    -- Run two acquisitions; `plan` lists { run, steps } slices (steps nil: to the end), then
    -- both run to the end. Returns each run's { release | nil, err } and its step count.
    local function race(plan)
      local ctxs = { racer(), racer() }
      local cos, results, steps = {}, {}, { 0, 0 }
      for i = 1, 2 do cos[i] = coroutine.create(function() return lock.acquire(ctxs[i], "up") end) end
      local function step(i)
        if results[i] then return false end
        local r = table.pack(coroutine.resume(cos[i]))
        assert(r[1], r[2])
        steps[i] = steps[i] + 1
        if coroutine.status(cos[i]) == "dead" then
          results[i] = { r[2], r[3] }
          return false
        end
        return true
      end
      for _, slice in ipairs(plan) do
        local i, n = slice[1], slice[2]
        for _ = 1, n do if not step(i) then break end end
      end
      while step(1) do end
      while step(2) do end
      return results, steps
    end

    -- Exactly one run holds the lock, the other says it is locked; the folder holds the
    -- winner's lock.json only; after the release, nothing.
    local function check(results, label)
      local winners, loser_err = 0, nil
      for i = 1, 2 do
        if type(results[i][1]) == "function" then winners = winners + 1
        else loser_err = results[i][2] end
      end
      assert.equal(1, winners, label .. ": " .. tostring(loser_err))
      assert.matches("is locked", tostring(loser_err), label)
      assert.same({ "lock.json" }, names(), label)
      for i = 1, 2 do
        if type(results[i][1]) == "function" then drain(results[i][1], true) end
      end
      assert.same({}, names(), label)
    end

    -- Every order with up to two switches (a runs k1 steps, b k2, then run 1 and run 2 to the
    -- end), and those with a third switch after a short slice k3 of a (one to three requests).
    local function every_interleaving(setup_state, max)
      local count = 0
      for first = 1, 2 do
        local a, b = first, 3 - first
        for k1 = 0, max do
          for k2 = 0, max do
            for k3 = 0, 3 do
              clear()
              setup_state()
              local results = race { { a, k1 }, { b, k2 }, { a, k3 } }
              check(results, ("run %d: %d, run %d: %d, run %d: %d"):format(a, k1, b, k2, a, k3))
              count = count + 1
            end
          end
        end
      end
      return count
    end

    -- how many steps one run takes alone (the interleavings need go no further)
    local function solo_steps(setup_state)
      clear()
      setup_state()
      local ctx = racer()
      local co = coroutine.create(function() return lock.acquire(ctx, "up") end)
      local n = 0
      local r
      repeat
        r = table.pack(coroutine.resume(co))
        assert(r[1], r[2])
        n = n + 1
      until coroutine.status(co) == "dead"
      assert.is_function(r[2], tostring(r[3]))
      drain(r[2], true)
      return n
    end

    it("for a free lock: exactly one holds it, whatever the order", function()
      local function nothing() end
      local n = solo_steps(nothing)
      assert.is_true(every_interleaving(nothing, n) > 100)
    end)

    it("for a stale lock: exactly one takes it over, whatever the order", function()
      local function stale() stale_lock("old"); put("lock.beat.old.1000.json", { token = "old" }) end
      local n = solo_steps(stale)
      assert.is_true(n >= 8, "a takeover is several requests: " .. n)
      assert.is_true(every_interleaving(stale, n) > 500)
    end)
  end)
end)
