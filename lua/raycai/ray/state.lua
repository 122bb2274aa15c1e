-- raycai.ray.state: the run state the Ray steps share (ctx.state.ray), in one place: every
-- field, what it holds and which module writes it. raycai.ray.cluster.prepare makes it (the
-- runner's `cluster` need); a step reads only what the steps before it (or its own plan) wrote.
-- Writing a field that is not declared here is a programming error (it raises), so a new field
-- is one line in FIELDS and one ---@field below.

local M = {}

--- The run state of the Ray steps. Writer in parentheses.
---@class raycai.ray.RayRunState
---@field client raycai.cml.Client the CML client of the run (cluster.prepare, from the client need)
---@field t0 number             clock.monotonic() when the state was made: up's total time (cluster.prepare)
---@field names table           raycai.ray.naming.for_cluster(cluster, project id) (cluster.prepare)
---@field project table|false|nil the project ({ id, name, ... }); false: looked up and missing (cluster.prepare)
---@field fresh? boolean        the project was created by this run: it holds nothing yet (cluster.prepare)
---@field shm_raised? boolean   up raised the project's shared memory already (cluster.prepare)
---@field runtimes table        runtime resolution cache, with .kernels by identifier (cluster.resolve_runtime)
---@field runtime_ids? table<string,string> identifier by role: head, worker, <group> (cluster.runtimes)
---@field runtime_error? string why the runtimes could not be resolved (cluster.prepare)
---@field runtime_code? integer the exit code of runtime_error: 2 when the recipe cannot work on it (cluster.prepare)
---@field scripts? table        rendered setup script and launchers: launcher_text.all (setup.scripts)
---@field plan_entries? table   the cluster folder's listing from setup_venv's plan (setup)
---@field job? table            the setup job (setup)
---@field owners? table         venv ownership records (setup)
---@field setup_waiting? boolean the setup job is running and up waits for it (setup; overlap reads it)
---@field launchers_written? table write_launchers' early result (launchers)
---@field overlap? table        what started during the setup wait, and the phases' times (overlap)
---@field generation? string    the head's generation (head, overlap)
---@field head? table           the head application (head)
---@field head_address? string  host:port from head.json (head, ray summary)
---@field head_json_read? boolean head.json was read once this run (ray summary)
---@field app_start_seconds? number how long the head took to start (head; workers' first look)
---@field head_listing? table  start_head's last listing (its head running): start_workers' read and first look (head, workers)
---@field app_list? table       the cluster's applications by name, listed once (apps.listed, head, workers)
---@field reads? table          the phase's early reads (a step's reads, raycai.recipe; M.reads): listed, head_json,
---                              autostop, setup (head.reads, setup.reads)
---@field head_json_early? string|false head.json as up's plan read it (head.reads; the summary checks its generation)
---@field desired? table        memoized bodies and spec hashes by role#index (apps.desired)
---@field script_hashes? table  hash of each role's launcher (apps)
---@field workers_ready? integer workers RUNNING (workers)
---@field deleted_workers? table workers deleted by down, for the head's wait (workers.destroy)

--- The fields of raycai.ray.RayRunState (the class above, as data).
M.FIELDS = {
  "client", "t0", "names", "project", "fresh", "shm_raised", "runtimes", "runtime_ids", "runtime_error",
  "runtime_code", "scripts", "plan_entries", "job", "owners", "setup_waiting", "launchers_written", "overlap",
  "generation", "head", "head_address", "head_json_read", "app_start_seconds", "head_listing", "app_list",
  "reads", "head_json_early", "desired", "script_hashes", "workers_ready", "deleted_workers",
}
local DECLARED = {}
for _, f in ipairs(M.FIELDS) do DECLARED[f] = true end

local State = {
  __newindex = function(t, k, v)
    if not DECLARED[k] then
      error(("ctx.state.ray.%s is not a field of raycai.ray.RayRunState: declare it in raycai/ray/state.lua")
        :format(tostring(k)), 2)
    end
    rawset(t, k, v)
  end,
}


--- A new run state for a run talking to CML through client.
---@param client raycai.cml.Client
---@param t0 number clock.monotonic() at its start
---@return raycai.ray.RayRunState
function M.new(client, t0)
  return setmetatable({ client = client, runtimes = {}, t0 = t0 }, State)
end


--- The early reads of ctx's current phase (plan, status: the steps' reads, raycai.recipe): one
--- table per phase, so a later phase never takes an earlier one's answers for its own.
function M.reads(st, ctx)
  local r = st.reads
  if not (r and r.phase == ctx.ready) then
    r = { phase = ctx.ready }  -- ctx.ready is new in each phase (raycai.recipe begin_phase)
    st.reads = r
  end
  return r
end


--- The run state of ctx (nil before the cluster need was prepared).
---@return raycai.ray.RayRunState?
function M.of(ctx)
  return ctx.state.ray
end


return M
