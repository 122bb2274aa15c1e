-- raycai.ray.suspend: `raycai-run RECIPE suspend` (issue 16). Stops every application of the
-- cluster through CML's :stop (workers of every group first, then the head) and keeps everything
-- else: the applications themselves (names, subdomains, spec in their environment), the project,
-- the venv and the files. A stopped application holds no CPU/GPU quota.
-- `resume` is `up`: a STOPPED head is re-created with a new generation and its STOPPED workers
-- with it (see docs/jobs.md for why re-create and not PATCH + :restart).
local apps = require "raycai.ray.apps"
local poll = require "raycai.cml.poll"
local lookup = require "raycai.ray.day2_cluster"
local ui = require "raycai.ui"

local M = {}


--- Is every application of this listing STOPPED (and is there one)? A suspended cluster.
function M.suspended(list)
  local any = false
  for _, a in pairs(list) do
    if a.status ~= "APPLICATION_STOPPED" then return false end
    any = true
  end
  return any
end


--- :stop each live application of the list; returns true or nil, err naming the failed ones.
local function stop_all(st, list)
  local failed = {}
  for _, a in ipairs(list) do
    local ok, err = st.client:stop_application(st.project.id, a.id)
    if ok then
      ui.object("stopped", "application", a.name, { id = a.id })
    else
      failed[#failed + 1] = ("%s: %s"):format(a.name, tostring(err))
    end
  end
  if #failed > 0 then return nil, "could not stop " .. table.concat(failed, "; ") end
  return true
end


--- Wait until every application of the cluster is STOPPED.
local function wait_stopped(ctx, st)
  local left = {}
  return poll.wait(function()
    local list, err = apps.list(st)
    if not list then return nil, err end
    left = {}
    for name, a in pairs(list) do
      if a.status ~= "APPLICATION_STOPPED" and a.status ~= "APPLICATION_FAILED" then
        left[#left + 1] = ("%s (%s)"):format(name, tostring(a.status))
      end
    end
    table.sort(left)
    if #left > 0 then ui.progress("waiting for the applications to stop: " .. table.concat(left, ", ")) end
    return #left == 0, false
  end, { timeout = ctx.params.timeouts.head, initial = poll.SETTLE, first = poll.SETTLE, on_timeout = function()
    return ("applications not stopped after %d s: %s"):format(math.floor(ctx.params.timeouts.head),
      table.concat(left, ", "))
  end })
end


--- resume: true when the cluster exists (it brings back a cluster, it does not create one),
--- else nil, a line naming it and the fix.
function M.exists(ctx)
  local st, err, code = lookup.existing(ctx)
  if not st then return nil, code == 1 and (err .. "; run up to create it") or err, code end
  return true
end


function M.run(ctx, args)
  if args and #args.words > 0 then
    ui.error(("unexpected argument '%s' for suspend; it takes none"):format(args.words[1]))
    return 2
  end
  local recipe = ctx.options.recipe or "RECIPE"
  local st, list, code = lookup.existing(ctx)
  if not st then ui.error(code == 1 and (list .. "; nothing to suspend") or list) return code end
  -- workers of every group first (they would only try to rejoin a stopped head), then the head
  local workers, head = {}, list[st.names.head]
  for _, a in pairs(list) do
    if a ~= head and apps.LIVE[a.status] then workers[#workers + 1] = a end
  end
  table.sort(workers, function(a, b) return a.name < b.name end)
  local live = #workers > 0 or apps.LIVE[head.status]
  -- the cluster's lock while it stops applications (an up at the same time would re-create
  -- them); a cluster stopped already is only read: no lock, no request that changes anything
  local release = function() end
  if live then
    local lerr2
    release, lerr2 = require("raycai.ray.lock").acquire(ctx, "suspend")
    if not release then ui.error(tostring(lerr2)) return 1 end
  end
  local ok, serr = stop_all(st, workers)
  if ok and apps.LIVE[head.status] then ok, serr = stop_all(st, { head }) end
  local done, werr = true, nil
  if ok then done, werr = wait_stopped(ctx, st) end
  release()
  if not ok then ui.error(serr) return 1 end
  if not done then ui.error(werr) return 1 end
  require("raycai.ui.day2_report").suspended(ctx.params.cluster, #workers + (apps.LIVE[head.status] and 1 or 0),
    recipe)
  return 0
end


return M
