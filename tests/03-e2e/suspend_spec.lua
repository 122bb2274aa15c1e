-- suspend / resume (issue 16): suspend stops every application (workers first) and keeps them;
-- a second suspend sends no mutating request; status says suspended; plan says what resume
-- does; resume brings the cluster back RUNNING with a new generation. Timer mode.
local sim = require "support.sim"
local run = require("support.run").raycai
local cl = require "support.cluster"

local GPU = "recipes/gpu_cluster.lua"


describe("suspend and resume", function()
  local s, env
  local args = { "--set", "project=susp", "--set", "cluster=sc", "--set", "workers=2", GPU }
  local function with(...)
    local a = { table.unpack(args) }
    for _, w in ipairs { ... } do a[#a + 1] = w end
    return a
  end

  setup(function()
    s = sim.start { exec = false, delays = { app_start = 10, app_stop = 10, job_scheduling = 10,
                                             job_starting = 10, job_running = 10 } }
    env = { CML_HOST = s.url, CML_API_KEY = s.api_key }
    local r = run(args, { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
  end)

  teardown(function() if s then s:stop() end end)

  it("suspend stops every application, workers first, and keeps them", function()
    local before = cl.apps_of(s, "raycai-sc-")
    assert.equal(3, cl.count(before))
    s:clear_requests()
    local r = run(with("suspend"), { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    local after = cl.apps_of(s, "raycai-sc-")
    assert.equal(3, cl.count(after))
    for name, a in pairs(after) do
      assert.equal("APPLICATION_STOPPED", a.status, name)
      assert.equal(before[name].id, a.id, name)
    end
    local stops = {}
    for _, m in ipairs(cl.mutations(s)) do
      -- the rest is the cluster's lock (.raycai/sc/lock.json and its heartbeat)
      if m:match(":stop$") then stops[#stops + 1] = m else assert.matches("/files", m, 1, true) end
    end
    assert.equal(3, #stops)
    -- the head last
    local head = before["raycai-sc-head"]
    assert.truthy(head, "raycai-sc-head")
    assert.equal(#stops[3] - #head.id - 5 + 1, stops[3]:find(head.id .. ":stop", 1, true))
  end)

  it("a second suspend sends no mutating request", function()
    s:clear_requests()
    local r = run(with("suspend"), { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    assert.same({}, cl.mutations(s))
  end)

  it("status says suspended; plan says resume re-creates the applications", function()
    local r = run(with("status"), { env = env })
    assert.matches("cluster suspended", r.stdout)
    assert.not_matches("not healthy", r.stdout)
    assert.matches("APPLICATION_STOPPED", r.stdout)
    local l = run({ "list", "--project", "susp" }, { env = env })
    assert.equal(0, l.code, l.stderr)
    assert.matches("\nsc%s+susp%s+STOPPED%s+[^\n]*suspended", l.stdout)
    s:clear_requests()
    local p = run(with("plan"), { env = env })
    assert.equal(3, p.code, p.stderr)
    assert.matches("suspended: resume re%-creates it", p.stdout)
    assert.matches("suspended: re%-created with the head", p.stdout)
    assert.same({}, cl.mutations(s))
  end)

  it("resume brings every application back RUNNING with a new generation", function()
    local gen_before = cl.env_of(cl.app_named(s, "raycai-sc-head")).RAYCAI_GENERATION
    local r = run(with("resume"), { env = env, timeout = 120 })
    assert.equal(0, r.code, r.stderr)
    local after = cl.apps_of(s, "raycai-sc-")
    assert.equal(3, cl.count(after))
    local gen = cl.env_of(after["raycai-sc-head"]).RAYCAI_GENERATION
    assert.is_not.equal(gen_before, gen)
    for name, a in pairs(after) do
      assert.equal("APPLICATION_RUNNING", a.status, name)
      assert.equal(gen, cl.env_of(a).RAYCAI_GENERATION, name)
    end
    local st = run(with("status"), { env = env })
    assert.equal(0, st.code, st.stdout)
    assert.matches("cluster healthy", st.stdout)
  end)

  it("suspend of a cluster that does not exist exits 1 naming it", function()
    local r = run({ "--set", "project=susp", "--set", "cluster=nosuch", GPU, "suspend" }, { env = env })
    assert.equal(1, r.code, r.stderr)
    assert.matches("cluster nosuch does not exist", r.stderr)
  end)

  it("resume of a cluster that does not exist exits 1 naming it and creates nothing", function()
    s:clear_requests()
    local r = run({ "--set", "project=susp", "--set", "cluster=nosuch", GPU, "resume" }, { env = env })
    assert.equal(1, r.code, r.stderr)
    assert.matches("cluster nosuch does not exist[^\n]*run up to create it", r.stderr)
    assert.same({}, cl.mutations(s))
  end)
end)
