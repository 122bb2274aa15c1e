-- raycai.ray.oneshot: `raycai-run RECIPE run [--down=always|success|never] [--ttl SECONDS]
-- [SUBMIT-OPTIONS] -- ENTRYPOINT...` (issue 16): up, then submit, then down according to the
-- policy, like KubeRay's RayJob shutdownAfterJobFinishes/ttlSecondsAfterFinished. The exit status
-- is the job's (0 succeeded, 1 failed or stopped, 130 Ctrl-C: the job is stopped and the policy
-- applied). The job's logs stay in the project after the down (raycai-run RECIPE logs job ID).
local submit = require "raycai.ray.submit"
local ui = require "raycai.ui"
local report = require "raycai.ui.day2_report"
local clock = require "raycai.clock"

local M = {}

M.POLICIES = { always = true, success = true, never = true }
M.MAX_TTL = 7 * 24 * 3600  -- a week: longer is a cluster to keep, not a ttl


--- The policy and ttl of the arguments, or nil, message.
local function options(args)
  local policy = args.down or "success"
  if not M.POLICIES[policy] then
    return nil, ("--down=%s: give always, success or never"):format(policy)
  end
  local ttl = 0
  if args.ttl then
    ttl = tonumber(args.ttl)
    if not ttl or ttl < 0 or ttl > M.MAX_TTL then
      return nil, ("--ttl %s: give seconds from 0 to %d"):format(args.ttl, M.MAX_TTL)
    end
  end
  return policy, ttl
end


function M.run(ctx, args)
  local policy, ttl = options(args)
  if not policy then ui.error(ttl) return 2 end
  local words = args.entrypoint or {}
  if #words == 0 or (#words == 1 and not words[1]:match("%S")) then
    ui.error("run needs an entrypoint after --, e.g. raycai-run RECIPE run -- python train.py")
    return 2
  end
  local recipe = ctx.options.recipe or "RECIPE"
  local ok, err, ucode = require("raycai.actions").up.run(ctx)  -- up and its summary (raycai.runner prints it)
  if not ok then
    -- up removes what it could not finish (unless keep_partial): nothing ran, nothing to down
    ui.error(tostring(err))
    return clock.interrupted() and 130 or ucode or 1  -- (2: a recipe error up found before any change)
  end
  args.name = args.name or submit.new_id()
  local code = submit.run(ctx, args)
  clock.clear_interrupt()  -- submit stopped the job on Ctrl-C: the policy's requests go through
  local succeeded = code == 0
  local down = policy == "always" or (policy == "success" and succeeded)
  report.run_job_finished { cluster = ctx.params.cluster, submission_id = args.name, exit_code = code,
                             policy = policy, down = down, ttl = ttl, recipe = recipe }
  if not down then return code end
  if ttl > 0 then
    clock.sleep(ttl)
    clock.clear_interrupt()  -- Ctrl-C during the ttl ends it early: down goes on
  end
  ctx.state.ray = nil  -- down looks at the cluster afresh (up's listings are stale now)
  local dok, derr = ctx.recipe:down(ctx)
  if not dok then
    -- (it said "down after the job failed" also after a job that succeeded)
    ui.error(("could not take cluster %s down after the job: %s; run raycai-run %s down"):format(ctx.params.cluster,
      tostring(derr), recipe))
    return code ~= 0 and code or 1
  end
  report.run_down(ctx.params.cluster, recipe, args.name)
  return code
end


return M
