-- The cluster lock (raycai.ray.lock) against cml-sim: taken through CML's never-overwriting
-- upload and read back, refused while another run holds it, taken over once stale, released.
local sim = require "support.sim"
local cml = require "raycai.cml"
local context = require "raycai.context"
local ray = require "raycai.ray"
local lock = require "raycai.ray.lock"
local clock = require "raycai.clock"
local cjson = require "cjson"

local PATH = ".raycai/lk/lock.json"


describe("the cluster lock", function()
  local s, client

  before_each(function()
    s = sim.start {}
    client = assert(cml.client { host = s.url, api_key = s.api_key, retries = 0 })
  end)

  after_each(function()
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

  local function pid_of(ctx) return ctx.state.ray.project.id end

  local function holder(ctx)
    local data = client:download_file(pid_of(ctx), PATH)
    return data and cjson.decode(data)
  end

  local function write_lock(ctx, info)
    client:delete_file(pid_of(ctx), PATH)
    assert(client:upload_file(pid_of(ctx), PATH, cjson.encode(info)))
  end

  it("is a file with a token, the holder and an expiry, deleted on release", function()
    local ctx = new_ctx()
    local release = assert(lock.acquire(ctx, "up"))
    local info = holder(ctx)
    assert.is_string(info.token)
    assert.equal("up", info.action)
    assert.matches("@", info.holder)
    assert.is_true(info.expires > clock.time() + 7000)
    release(true)
    local gone, err = client:download_file(pid_of(ctx), PATH)
    assert.is_nil(gone)
    assert.equal(404, err.status)
  end)

  it("stops a second run while the first holds it, naming the holder, without writing", function()
    local first = new_ctx()
    local release = assert(lock.acquire(first, "up"))
    local mine = holder(first)
    s:clear_requests()
    local ok, err = lock.acquire(new_ctx(), "up")
    assert.is_nil(ok)
    assert.matches("cluster lk is locked: held by " .. mine.holder:gsub("%p", "%%%0"), err)
    for _, q in ipairs(s:requests()) do
      assert.is_true(q.method == "GET" or q.path:match(":download$") ~= nil, q.method .. " " .. q.path)
    end
    assert.equal(mine.token, holder(first).token)
    release(true)
  end)

  it("takes over a lock whose expiry has passed", function()
    local ctx = new_ctx()
    local release = assert(lock.acquire(ctx, "up"))
    release(true)
    write_lock(ctx, { token = "old", holder = "someone@elsewhere", host = "elsewhere", action = "up",
                      started_at = "2026-01-01T00:00:00Z", expires = math.floor(clock.time()) - 10 })
    local again = new_ctx()
    release = assert(lock.acquire(again, "up"))
    assert.are_not.equal("old", holder(again).token)
    release(true)
  end)

  it("releases with one request before its expiry", function()
    local ctx = new_ctx()
    local release = assert(lock.acquire(ctx, "up"))
    s:clear_requests()
    release(true)
    local log = s:requests()
    assert.equal(1, #log)
    assert.equal("DELETE", log[1].method)
  end)

  it("near its expiry, releases only a lock that is still its own", function()
    local ctx = new_ctx { "timeouts.lock=30" }  -- within a minute of expiring from the start
    local release = assert(lock.acquire(ctx, "up"))
    -- another run took the lock over meanwhile
    write_lock(ctx, { token = "theirs", holder = "other@host", host = "host", action = "up",
                      started_at = "2026-01-01T00:00:00Z", expires = math.floor(clock.time()) + 3600 })
    release(true)
    assert.equal("theirs", holder(ctx).token)
  end)
end)
