-- Autostop's watcher when the API rejects the workload's key (issue 16): cml-sim in exec mode
-- hands workloads a wrong CDSW_APIV2_KEY (--workload-key); the watcher logs why, retries with
-- backoff and never stops the head, and writes no secret.
local exec = require "support.exec"
local run = require "support.run"
local fs = require "raycai.fs"
local cjson = require "cjson"
local cl = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"
local free_port = require("support.ports").free


local function home_of(s)
  for _, pr in ipairs(s:state().projects or {}) do
    if pr.name == "ray-gpu" then return s:state().work_dir .. "/projects/" .. pr.id end
  end
end
describe("autostop with a key the API rejects", function()
  local s, wheels, env, base, home

  setup(function()
    wheels = exec.wheels()
    s = exec.sim { workload_key = "wrong-workload-key" }
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    base = { "--set", "ray.find_links=" .. wheels, "--set", "ray.gcs_port=" .. free_port(), "--set", "workers=1",
             "--set", "timeouts.head=120", "--set", "timeouts.workers=120", "--set", "autostop.idle_minutes=0.01", GPU }
  end)

  teardown(function()
    if s then s:stop() end
    if wheels then fs.remove(wheels, { recursive = true }) end
  end)

  it("up arms it; the watcher logs why and retries with backoff; the head keeps running", function()
    local r = run.raycai(base, { env = env, timeout = 300 })
    assert.equal(0, r.code, r.stderr .. r.stdout)
    home = assert(home_of(s))
    local function log() return fs.read(home .. "/.raycai/gpu/logs/autostop.log") or "" end
    assert.truthy(s:wait_for(function()
      return select(2, log():gsub("could not stop the cluster", "")) >= 3,
        log() .. (fs.read(home .. "/.raycai/gpu/logs/head.log") or "")
    end, 120, "three failed attempts in the log"))
    local text = log()
    assert.matches("HTTP 401 .*the workload's API key was rejected%); trying again in [%d%.]+ s", text)
    for name, a in pairs(cl.apps_of(s, "raycai-gpu-")) do assert.equal("APPLICATION_RUNNING", a.status, name) end
    -- no secret in what the watcher wrote: not the key, not the Ray token
    local head_log = fs.read(home .. "/.raycai/gpu/logs/head.log") or ""
    local gen = cl.env_of(cl.app_named(s, "raycai-gpu-head")).RAYCAI_GENERATION
    local token = assert((fs.read(home .. "/.raycai/gpu/auth/" .. gen .. ".token") or ""):match("%x+"),
                         "the head's Ray token file")
    for _, secret in ipairs { "wrong-workload-key", s.api_key, token } do
      assert.is_nil(text:find(secret, 1, true))
      assert.is_nil(head_log:find(secret, 1, true))
      assert.is_nil((fs.read(home .. "/.raycai/gpu/autostop.state.json") or ""):find(secret, 1, true))
    end
    local st = cjson.decode((assert(fs.read(home .. "/.raycai/gpu/autostop.state.json"))))
    assert.truthy(st.attempts >= 3)
  end)
end)
