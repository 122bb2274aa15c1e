-- `logs <group> -f` follows every node log of the group, like `tail -f` over several files: the
-- logs are project files (the launchers tee into .raycai/<cluster>/logs/), so a timer-mode
-- simulator with files uploaded as a launcher would leave them is enough here.
local sim = require "support.sim"
local run = require "support.run"
local proc = require "raycai.proc"
local fs = require "raycai.fs"

local GPU = "recipes/gpu_cluster.lua"
local LOGS = ".raycai/gpu/logs/"


describe("logs -f", function()
  local s, env, project

  setup(function()
    s = sim.start()
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    project = s:new_project("ray-gpu", {
      [LOGS .. "head.log"] = "head line 1\n",
      [LOGS .. "worker-1.log"] = "w1 line 1\n",
      [LOGS .. "worker-2.log"] = "w2 line 1\n",
    })
  end)

  teardown(function() if s then s:stop() end end)

  --- Replace a project file (the files API never overwrites: delete, then upload).
  local function rewrite(path, content)
    local status = s:api("DELETE", "projects/" .. project.id .. "/files/" .. sim.urlencode(path))
    assert.equal(200, status)
    assert.equal(200, (s:upload(project.id, path, content)))
  end

  local function follow(target)
    local out = os.tmpname()
    local argv = { run.exe, GPU, "logs", target, "-f", env = env, stdout = out, stderr = out,
                   kill_on_close = true }
    return assert(proc.spawn(argv)), out
  end

  local function finish(p, out)
    p:kill("INT")
    local code = p:wait(60)
    p:close()
    local text = fs.read(out) or ""
    os.remove(out)
    return code, text
  end

  it("follows every node of the group, with a header when the output switches node", function()
    local p, out = follow("worker")
    s:wait_for(function() return (fs.read(out) or ""):find("w2 line 1", 1, true) end, 60, "both logs printed")
    rewrite(LOGS .. "worker-1.log", "w1 line 1\nw1 line 2\n")
    s:wait_for(function() return (fs.read(out) or ""):find("w1 line 2", 1, true) end, 60, "worker-1's new line")
    rewrite(LOGS .. "worker-2.log", "w2 line 1\nw2 line 2\n")
    s:wait_for(function() return (fs.read(out) or ""):find("w2 line 2", 1, true) end, 60, "worker-2's new line")
    local code, text = finish(p, out)
    assert.equal(130, code, text)
    assert.equal("==> " .. LOGS .. "worker-1.log <==\nw1 line 1\n\n==> " .. LOGS .. "worker-2.log <==\nw2 line 1\n"
      .. "\n==> " .. LOGS .. "worker-1.log <==\nw1 line 2\n"
      .. "\n==> " .. LOGS .. "worker-2.log <==\nw2 line 2\n", text)
    assert.is_nil(text:find("head line", 1, true))
  end)

  it("one node: no headers; a rotated (shorter) log is printed again from its start", function()
    local p, out = follow("head")
    s:wait_for(function() return (fs.read(out) or ""):find("head line 1", 1, true) end, 60, "the head's log")
    rewrite(LOGS .. "head.log", "new\n")
    s:wait_for(function() return (fs.read(out) or ""):find("\nnew\n", 1, true) end, 60, "the rotated log")
    local code, text = finish(p, out)
    assert.equal(130, code, text)
    assert.equal("head line 1\nnew\n", text)
  end)
end)
