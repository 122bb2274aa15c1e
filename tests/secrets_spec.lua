-- The API key never appears in any output, -v log, --json event, plan, status, error, generated
-- file or workload environment. (Every spec that runs raycai-run through support.run also checks
-- its output for the simulators' test key.)
local sim = require "support.sim"
local support = require "support.run"
local fs = require "raycai.fs"
local cjson = require "cjson"

local GPU = "recipes/gpu_cluster.lua"
local KEY = "sk-RECOGNISABLE-7d1e4b9a0c3f5e2d"
local WRONG = "sk-WRONG-KEY-0a9b8c7d6e5f4a3b"


--- Every file below dir, recursively.
local function files_under(dir, out)
  out = out or {}
  for _, name in ipairs(fs.list(dir) or {}) do
    local path = fs.join(dir, name)
    local st = fs.stat(path)
    if st and st.type == "directory" then files_under(path, out)
    elseif st and st.type == "file" then out[#out + 1] = path end
  end
  return out
end


describe("secrets", function()
  local s, state_dir, key_file

  setup(function()
    table.insert(support.secrets, KEY)
    table.insert(support.secrets, WRONG)
    state_dir = fs.tempdir("raycai-secrets")
    s = sim.start { api_key = KEY, state_dir = state_dir, delays = { app_start = 20 } }
    key_file = fs.join(state_dir, "..", fs.basename(state_dir) .. ".key")
    assert(fs.write(key_file, KEY .. "\n", tonumber("600", 8)))
  end)

  teardown(function()
    if s then s:stop() end
    fs.remove(state_dir, { recursive = true })
    os.remove(key_file)
    table.remove(support.secrets)
    table.remove(support.secrets)
  end)

  local function raycai(args, env)
    local e = { CML_HOST = s.url, CML_API_KEY = KEY }
    for k, v in pairs(env or {}) do e[k] = v end
    return support.raycai(args, { env = e })
  end

  it("is never printed by up, plan, status and down, verbose or JSON", function()
    -- support.run raises if the key shows up anywhere in stdout or stderr
    for _, args in ipairs({ { "-v", GPU }, { "--json", GPU }, { "-v", GPU, "plan" }, { "--json", GPU, "status" },
                            { "-v", "--set", "workers=3", GPU }, { "-v", GPU, "down" } }) do
      local r = raycai(args)
      assert.is_true(r.code == 0 or r.code == 3, table.concat(args, " ") .. ": " .. r.stderr)
    end
  end)

  it("shows Bearer *** in the verbose request log", function()
    local r = raycai { "-v", GPU, "status" }
    assert.matches("Bearer %*%*%*", r.stderr)
  end)

  it("is not printed when read from CML_API_KEY_FILE", function()
    local r = raycai({ "-v", GPU, "status" }, { CML_API_KEY = false, CML_API_KEY_FILE = key_file })
    assert.is_true(r.code == 0 or r.code == 3, r.stderr)
  end)

  it("is not printed when the workspace rejects it, verbose or JSON", function()
    for _, flag in ipairs({ "-v", "--json" }) do
      local r = raycai({ flag, GPU }, { CML_API_KEY = WRONG })
      assert.equal(1, r.code)
      assert.matches("CML_API_KEY", r.stderr)
    end
  end)

  it("is not printed in errors from failing requests", function()
    s:fault { match = { method = "GET" }, action = "status", status = 500, count = 1000 }
    local r = raycai({ "-v", GPU }, { CML_RETRY_DEADLINE = "2" })
    s:clear_faults()
    assert.equal(1, r.code)
  end)

  it("is in no file written to the project and no workload environment", function()
    assert.equal(0, raycai({ GPU }).code)
    local state = cjson.encode(s:state())
    assert.is_nil(state:find(KEY, 1, true), "the simulator's objects hold the key")
    local checked = 0
    for _, path in ipairs(files_under(state_dir)) do
      local data = fs.read(path) or ""
      assert.is_nil(data:find(KEY, 1, true), path)
      checked = checked + 1
    end
    assert.is_true(checked > 3, "the project files were searched")
  end)

  it("keeps bypass_authentication off unless the recipe asks", function()
    local r = raycai { GPU }
    assert.equal(0, r.code, r.stderr)
    local apps = s:state().applications or {}
    assert.is_true(#apps >= 3, "the head and two workers are there to check")
    for _, a in ipairs(apps) do
      assert.equal(false, a.bypass_authentication or false, a.name)
    end
  end)
end)
