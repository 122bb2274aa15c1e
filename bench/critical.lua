-- bench/critical.lua: the critical-path lower bound of a fresh `up` implied by cml-sim's delays.
--
-- Model (cml-sim, see sim/server.c): a request is processed when it arrives (loopback transit is
-- ~0), its object's timers start then, and the reply leaves L = delay.request ms later. So the
-- latency of a create overlaps the state timer it starts, and observing a state reached at time
-- T needs a GET processed at T or later, whose reply arrives at T + L. Requests that depend on an
-- earlier reply (an id, a confirmation) are sequential; the worker creates run `parallel` at a
-- time, so the last of R = ceil(N / parallel) rounds is processed (R - 1)·L after the first.
--
-- The dependencies any correct deployer has (not just raycai):
--   project create → creation_status "success" observed → setup script uploaded → setup job
--   created → run started → run end observed → head created → head RUNNING observed →
--   worker creates (R rounds) → every worker RUNNING observed.
--
--   t_a   = max(L, D_project) + L             project created and its success observed
--   t_run = t_a + 2L                           upload script (L), create job (L), run processed
--   t_h   = t_run + D_run_total + L            run phases, end observed; head create processed
--   t_w   = t_h + D_app + L                    head RUNNING observed; first worker round processed
--   C(N)  = t_w + (R - 1)·L + D_app + L        last round processed, started, observed
--         = max(L, D_project) + (R + 5)·L + D_sched + D_start + D_run + 2·D_app
--
-- With overlap (issue 17) the applications need only the project and their launcher (one upload,
-- L), not the venv; in cml-sim's timer mode nothing waits for the venv, in exec mode the
-- launchers do, and Ray's start (the stub's, `stub_ms`) follows the venv. S is the setup chain
-- after t_a (2L + D_run_total + L), A = L + D_app + L the head's (upload, start, observed):
--   head: C = t_a + max(S, A) + (R - 1)·L + D_app + L      workers once the head runs
--   all:  C = t_a + max(S, A) + (R - 1)·L + L + stub_ms    every create overlaps the setup; the
--         issue's form (rounds after the max: conservative when R·L < S - A)
--
-- Left out on purpose (they are raycai's choices, not forced by the API): looking the project
-- up, the cluster lock, runtime lookups, comparing files, uploading the launchers, reading
-- head.json, process start-up. They are what wall / critical measures.
local M = {}

M.MODES = { "none", "head", "all" }


--- C(N) in milliseconds for delays d (cml-sim names), the client's parallelism and the overlap
--- mode (default "none", today's sequential chain); stub_ms: Ray's start after the venv (exec
--- mode only, 0 in timer mode).
---@param n integer workers
---@param d table delays in ms: request, project_create, job_scheduling, job_starting, job_running, app_start
---@param parallel integer concurrent creates
---@param mode? string none, head or all
---@param stub_ms? number
function M.ms(n, d, parallel, mode, stub_ms)
  local L = d.request
  local rounds = n > 0 and math.ceil(n / parallel) or 0
  local run = d.job_scheduling + d.job_starting + d.job_running
  local t_a = math.max(L, d.project_create) + L
  local setup = 2 * L + run + L
  mode = mode or "none"
  if mode == "none" then
    local workers = n > 0 and ((rounds - 1) * L + d.app_start + L) or 0
    return t_a + setup + d.app_start + L + workers
  end
  local ready = t_a + math.max(setup, L + d.app_start + L)
  if mode == "head" then
    return ready + (n > 0 and ((rounds - 1) * L + d.app_start + L) or 0)
  end
  assert(mode == "all", "critical.ms: unknown overlap mode " .. tostring(mode))
  return ready + (n > 0 and ((rounds - 1) * L + L) or 0) + (stub_ms or 0)
end


--- The formula as text, with these delays filled in (for the report).
function M.describe(d, parallel)
  return ("C(N) = max(L, D_project) + (ceil(N/P) + 5)·L + D_sched + D_start + D_run + 2·D_app"
    .. " (overlap=none; head and all: see bench/critical.lua)"
    .. " with L=%d, D_project=%d, D_sched=%d, D_start=%d, D_run=%d, D_app=%d ms, P=%d"):format(
    d.request, d.project_create, d.job_scheduling, d.job_starting, d.job_running, d.app_start, parallel)
end


return M
