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
  describe("in recipe values", function()
    local PW = support.INDEX_PASSWORD
    local TOKEN = "hf_TOKEN-VALUE-8d2c4e6a"
    local PROXY_PW = "proxy-PW/with%slash"
    local INDEX = "ray.index_url=https://mirror-user:" .. PW .. "@mirror.example.com/simple"
    local LINKS = "ray.find_links=https://files.example.com/wheels/?token=" .. PW
    local SETS = { "--set", INDEX, "--set", "env.HF_TOKEN=" .. TOKEN,
                   "--set", "env.HTTPS_PROXY=http://me:" .. PROXY_PW:gsub("/", "%%2F") .. "@proxy:3128" }

    setup(function()
      table.insert(support.secrets, TOKEN)
      table.insert(support.secrets, PROXY_PW)
      table.insert(support.secrets, (PROXY_PW:gsub("/", "%%2F")))
    end)
    teardown(function()
      for _ = 1, 3 do table.remove(support.secrets) end
    end)

    local function with_sets(...)
      local args = {}
      for _, a in ipairs(SETS) do args[#args + 1] = a end
      for _, a in ipairs { ... } do args[#args + 1] = a end
      return args
    end

    it("are masked by params, plan, up, status and down, verbose or JSON", function()
      -- support.run raises if the password, the token or the proxy password shows anywhere
      local r = raycai(with_sets(GPU, "params"))
      assert.equal(0, r.code, r.stderr)
      assert.matches("https://%*%*%*@mirror%.example%.com/simple", r.stdout)
      assert.matches("HF_TOKEN=%*%*%*", r.stdout)
      assert.matches("HTTPS_PROXY=http://%*%*%*@proxy:3128", r.stdout)
      for _, args in ipairs { with_sets("-v", GPU, "plan"), with_sets("--json", GPU, "plan"),
                              with_sets("-v", GPU), with_sets("--json", "-v", GPU, "status"),
                              with_sets("-v", "--set", LINKS, GPU, "plan"), with_sets("-v", GPU, "down") } do
        r = raycai(args)
        assert.is_true(r.code == 0 or r.code == 3, table.concat(args, " ") .. ": " .. r.stderr)
      end
    end)

    it("are masked in the -v request log, where the environment goes to CML", function()
      local r = raycai(with_sets("-v", "--set", "workers=1", GPU))
      assert.equal(0, r.code, r.stderr)
      assert.matches("POST /api/v2/projects/[%w-]+/applications", r.stderr)
      raycai { "-v", GPU, "down" }
    end)

    it("are masked in the message that refuses a value", function()
      local r = raycai { "--set", "ray.index_url=https://u:" .. PW .. "@mirror.example.com/ simple", GPU, "plan" }
      assert.equal(2, r.code)
      assert.matches("'https://%*%*%*@mirror%.example%.com/ simple' contains white space", r.stderr)
      r = raycai { "--set", "env.DB-PASSWORD=" .. PW, GPU, "plan" }
      assert.equal(2, r.code)
      assert.matches("not a valid environment variable name", r.stderr)
    end)

    it("are masked in the setup log's tail when the setup job fails", function()
      assert.equal(0, raycai { "--set", "workers=1", GPU }.code)
      local pid = s:state().projects[1].id
      -- what pip would have logged, index URL and all
      local log = "Looking in indexes: https://mirror-user:" .. PW .. "@mirror.example.com/simple\n"
        .. "ERROR: no matching distribution for torch==9.9 (from https://mirror-user:" .. PW .. "@mirror.example.com)\n"
      local c = assert(require("raycai.cml").client { host = s.url, api_key = KEY, retries = 0 })
      c:delete_file(pid, ".raycai/gpu/setup.log")
      assert(c:upload_file(pid, ".raycai/gpu/setup.log", log))
      c:close()
      s:control("POST", "/_sim/fail_job", { name = "raycai-gpu-setup" })
      local r = raycai(with_sets("--set", "workers=1", "--set", "ray.packages=torch==9.9", GPU))
      assert.equal(1, r.code)
      assert.matches("last lines of %.raycai/gpu/setup%.log", r.stderr)
      assert.matches("Looking in indexes: https://%*%*%*@mirror%.example%.com/simple", r.stderr)
      raycai { GPU, "down" }
    end)
  end)
end)
