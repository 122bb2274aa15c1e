-- raycai.ray.autostop.arm against cml-sim: the requests it sends, from the simulator's request
-- log. One listing of the cluster folder at most and one comparison of autostop.json per arm
-- (it used to list and compare twice when autostop is off), none when the run's plan listed it.
local cml = require "raycai.cml"
local sim = require "support.sim"
local autostop = require "raycai.ray.autostop"
local naming = require "raycai.ray.naming"
local files = require "raycai.cml.files"

local KEY = "autostop-arm-key-0123456789"


describe("autostop.arm", function()
  local s, c, pid, names

  setup(function()
    s = sim.start { exec = false, api_key = KEY }
    c = assert(cml.client { host = s.url, api_key = KEY, timeout = 10, retries = 0 })
    pid = assert(c:create_project { name = "arm" }).id
    names = naming.for_cluster("gpu", pid)
    assert(c:upload_file(pid, names.dir .. "/head.py", "print('head')\n"))
  end)

  teardown(function()
    c:close()
    s:stop()
  end)

  local function ctx(minutes, down)
    return { params = { cluster = "gpu", autostop = { idle_minutes = minutes, down = down },
                          timeouts = { lock = 600 } } }
  end

  local function st(entries)
    return { client = c, project = { id = pid }, names = names, plan_entries = entries }
  end

  -- the requests of f(): { lists = n, downloads = n, uploads = n, deletes = n } on the folder/file
  local function counted(f)
    s:clear_requests()
    assert(f())
    local n = { lists = 0, downloads = 0, uploads = 0, deletes = 0 }
    for _, q in ipairs(s:requests()) do
      if q.method == "GET" and q.path:match("/files/%.raycai/gpu/?$") then
        n.lists = n.lists + 1
      elseif q.path:match("autostop%.json:download$") then n.downloads = n.downloads + 1
      elseif q.method == "DELETE" and q.path:match("autostop%.json$") then n.deletes = n.deletes + 1
      elseif q.method == "PUT" or q.method == "POST" then n.uploads = n.uploads + 1 end
    end
    return n
  end

  it("off with no file: one listing, nothing else; with the plan's listing: no request", function()
    assert.same({ lists = 1, downloads = 0, uploads = 0, deletes = 0 },
                counted(function() return autostop.arm(ctx(0, false), st(nil), "g1") end))
    local entries = assert(files.list(c, pid, names.dir))
    assert.same({ lists = 0, downloads = 0, uploads = 0, deletes = 0 },
                counted(function() return autostop.arm(ctx(0, false), st(entries), "g1") end))
    assert.equal(404, select(2, c:download_file(pid, autostop.path(names))).status)
  end)

  it("on: one listing and an upload; the same settings again: one listing and one download", function()
    assert.same({ lists = 1, downloads = 0, uploads = 1, deletes = 0 },
                counted(function() return autostop.arm(ctx(10, true), st(nil), "g1") end))
    assert.equal(autostop.content("gpu", 10, true, "g1", 600), c:download_file(pid, autostop.path(names)))
    assert.same({ lists = 1, downloads = 1, uploads = 0, deletes = 0 },
                counted(function() return autostop.arm(ctx(10, true), st(nil), "g1") end))
  end)

  it("off with a file of the same size: one listing, one download (compared once), the file replaced", function()
    -- idle 1 and idle 0 are the same length: the listing's size cannot tell them apart
    assert(files.sync(c, pid, autostop.path(names), autostop.content("gpu", 1, false, "g2", 600)))
    local want = autostop.content("gpu", 0, false, "g2", 600)
    assert.equal(#want, #c:download_file(pid, autostop.path(names)))
    assert.same({ lists = 1, downloads = 1, uploads = 1, deletes = 1 },
                counted(function() return autostop.arm(ctx(0, false), st(nil), "g2") end))
    assert.equal(want, c:download_file(pid, autostop.path(names)))
  end)

end)
