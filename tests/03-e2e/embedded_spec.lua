-- With no CML_HOST, raycai-run deploys to its built-in simulator, says so, and keeps the
-- simulator's state so that status and down see the same cluster later.
local run = require("support.run")
local proc = require "raycai.proc"
local fs = require "raycai.fs"

local GPU = "recipes/gpu_cluster.lua"


describe("the built-in simulator", function()
  local dir

  before_each(function() dir = fs.tempdir("raycai-embedded") end)
  after_each(function() fs.remove(dir, { recursive = true }) end)

  local function raycai(args)
    return run.raycai(args, { env = { CML_HOST = false, CML_API_KEY = false, RAYCAI_SIM_STATE = dir } })
  end

  it("is the target when CML_HOST is unset, says so, and keeps the cluster between runs", function()
    local r = raycai { GPU }
    assert.equal(0, r.code, r.stderr)
    assert.matches("no CML_HOST set: deploying to the built%-in simulator", r.stderr)
    assert.matches("set CML_HOST and CML_API_KEY to target a real workspace", r.stderr)
    assert.matches("workers:%s+2/2 running", r.stdout)
    r = raycai { GPU, "status" }
    assert.equal(0, r.code, r.stderr)
    assert.matches("raycai%-gpu%-worker%-2%s+worker%s+APPLICATION_RUNNING", r.stdout)
    assert.equal(0, raycai({ GPU, "down" }).code)
    r = raycai { GPU, "status" }
    assert.equal(3, r.code)
    assert.matches("raycai%-gpu%-head%s+head%s+absent", r.stdout)
  end)

  it("refuses, clearly, to share its state with a simulator already running on it", function()
    local sim = assert(proc.spawn { run.build .. "/cml-sim", "--state-dir", dir, stdout = "pipe", stderr = "null",
                                    kill_on_close = true })
    assert.matches("^http://", sim:read_line(10))
    local r = raycai { GPU, "status" }
    sim:close()
    assert.equal(2, r.code)
    assert.matches("is in use by another raycai%-run; wait for it to finish, or set RAYCAI_SIM_STATE", r.stderr)
  end)
end)
