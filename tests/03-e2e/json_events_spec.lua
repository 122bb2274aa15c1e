-- --json: every line is one JSON object with event and time; every event type and field is
-- documented in docs/json-events.md (read by this spec), and the stream tells the story of the run.
local sim = require "support.sim"
local run = require("support.run").raycai
local fs = require "raycai.fs"
local cjson = require "cjson"

local GPU = "recipes/gpu_cluster.lua"


--- { [event] = { [field] = true } } from the table in docs/json-events.md.
local function documented()
  local doc = assert(fs.read("docs/json-events.md"))
  local out = {}
  for line in doc:gmatch("[^\n]+") do
    local name, fields = line:match("^| `([%w_]+)` | [^|]+ | (.+) |$")
    if name then
      out[name] = {}
      for f in fields:gmatch("`([%w_]+)`") do out[name][f] = true end
    end
  end
  return out
end


local function events_of(text)
  local list = {}
  for line in text:gmatch("[^\n]+") do
    local ok, ev = pcall(cjson.decode, line)
    assert(ok and type(ev) == "table", "not a JSON object: " .. line)
    list[#list + 1] = ev
  end
  return list
end


describe("--json events", function()
  local s, doc

  setup(function()
    doc = documented()
    s = sim.start { delays = { app_start = 20, job_running = 20 } }
  end)

  teardown(function() if s then s:stop() end end)

  local function json_run(args)
    local argv = { "--json" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local r = run(argv, { env = { CML_HOST = s.url, CML_API_KEY = s.api_key } })
    local evs = events_of(r.stdout)
    for _, ev in ipairs(evs) do
      assert.is_string(ev.time)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", ev.time)
      local fields = doc[ev.event]
      assert.is_table(fields, "undocumented event " .. tostring(ev.event))
      for k in pairs(ev) do
        assert.truthy(k == "event" or k == "time" or fields[k], ("field %s of %s is undocumented"):format(k, ev.event))
      end
    end
    assert.equal("run_started", evs[1].event)
    assert.equal("run_finished", evs[#evs].event)
    assert.equal(r.code, evs[#evs].exit_code)
    return r, evs
  end

  local function find(evs, kind, pred)
    local out = {}
    for _, ev in ipairs(evs) do
      if ev.event == kind and (not pred or pred(ev)) then out[#out + 1] = ev end
    end
    return out
  end

  it("documents every event the library emits, and no event it does not", function()
    local emitted = {}
    local function scan(dir)
      for _, name in ipairs(assert(fs.list(dir))) do
        local path = dir .. "/" .. name
        if assert(fs.stat(path)).type == "directory" then
          scan(path)
        elseif name:match("%.lua$") then
          local text = assert(fs.read(path))
          for kind in text:gmatch('event%("([%w_]+)"%s*[,)]') do emitted[kind] = path end
          -- ui.object(change, ...) emits "object_" .. change
          for change in text:gmatch('ui%.object%("(%a+)"') do emitted["object_" .. change] = path end
        end
      end
    end
    scan("lua/raycai")
    local undocumented, stale = {}, {}
    for kind, path in pairs(emitted) do
      if not doc[kind] then undocumented[#undocumented + 1] = kind .. " (" .. path .. ")" end
    end
    for kind in pairs(doc) do
      if not emitted[kind] then stale[#stale + 1] = kind end
    end
    table.sort(undocumented)
    table.sort(stale)
    assert.same({}, undocumented, "emitted but not in docs/json-events.md")
    assert.same({}, stale, "in docs/json-events.md but emitted nowhere")
    assert.is_true(doc.summary.workers_ready)
  end)

  it("tells plan's changes and their count", function()
    local r, evs = json_run { GPU, "plan" }
    assert.equal(3, r.code)
    local pending = find(evs, "plan_summary")[1].pending
    assert.is_true(pending >= 6)
    assert.equal(1, #find(evs, "plan_change", function(e) return e.name == "raycai-gpu-head" and e.action == "create" end))
  end)

  it("tells up's steps, created objects, state changes and summary", function()
    local r, evs = json_run { GPU }
    assert.equal(0, r.code, r.stderr)
    assert.equal("", r.stderr:gsub("warning:[^\n]*\n", ""), "no human output besides warnings")
    assert.equal(4, #find(evs, "step_started"))
    assert.equal(4, #find(evs, "step_finished", function(e) return e.ok end))
    local created = find(evs, "object_created", function(e) return e.kind == "application" end)
    assert.equal(3, #created)
    assert.is_string(created[1].id)
    assert.is_true(#find(evs, "state_changed", function(e) return e.state == "APPLICATION_RUNNING" end) >= 3)
    local summary = find(evs, "summary")[1]
    assert.equal(2, summary.workers_ready)
    assert.equal("gpu", summary.cluster)
    assert.matches("^https://", summary.dashboard)
    -- issue 17: the phase timings of the summary line (default overlap=head: the head started
    -- while the setup job ran)
    assert.is_table(summary.phases)
    assert.equal("head", summary.phases.overlap)
    for _, k in ipairs { "setup", "head_start", "workers", "total" } do assert.is_number(summary.phases[k], k) end
    assert.same({ "head start" }, summary.phases.overlapped)
  end)

  it("tells status per object and whether the cluster is healthy", function()
    local r, evs = json_run { GPU, "status" }
    assert.equal(0, r.code, r.stderr)
    -- two setup jobs (the head's Standard runtime, the workers' GPU one), the head, two workers
    assert.equal(5, #find(evs, "object_status"))
    assert.equal(2, #find(evs, "object_status", function(e) return e.kind == "job" end))
    assert.is_true(find(evs, "status_summary")[1].healthy)
  end)

  it("tells autostop's setting (issue 16), also in status and list", function()
    local r, evs = json_run { GPU, "autostop", "--idle-minutes", "10", "--down" }
    assert.equal(0, r.code, r.stderr)
    local ev = find(evs, "autostop")[1]
    assert.same({ "gpu", 10, true }, { ev.cluster, ev.idle_minutes, ev.down })
    assert.is_string(ev.generation)
    r, evs = json_run { GPU, "status" }
    assert.equal(0, r.code, r.stderr)
    assert.equal("10m (down)", find(evs, "status_summary")[1].autostop)
    r, evs = json_run { "list" }
    assert.equal(0, r.code, r.stderr)
    assert.same({ idle_minutes = 10, down = true }, find(evs, "clusters")[1].clusters[1].autostop)
    r, evs = json_run { GPU, "autostop", "--cancel" }
    assert.equal(0, r.code, r.stderr)
    assert.equal(0, find(evs, "autostop")[1].idle_minutes)
    -- an up that changes nothing else re-arms it with the recipe's setting, for the head's generation
    r, evs = json_run { "--set", "autostop.idle_minutes=3", GPU }
    assert.equal(0, r.code, r.stderr)
    ev = find(evs, "autostop")[1]
    assert.same({ 3, false, find(evs, "summary")[1].generation }, { ev.idle_minutes, ev.down, ev.generation })
    assert.is_string(ev.generation)
  end)

  it("tells down's deletions", function()
    local r, evs = json_run { GPU, "down" }
    assert.equal(0, r.code, r.stderr)
    assert.equal(3, #find(evs, "object_deleted", function(e) return e.kind == "application" end))
  end)

  it("ends a failure with an error event and the exit code", function()
    local r, evs = json_run { "--set", "worker.edition=Nope", GPU }
    assert.equal(1, r.code)
    assert.matches("no enabled runtime", find(evs, "error")[1].message)
  end)
end)
