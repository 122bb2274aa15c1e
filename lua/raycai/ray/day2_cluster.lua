-- raycai.ray.day2_cluster: how the day-2 actions (job, submit, logs, env, suspend, resume,
-- autostop) find the cluster they act on, each failure with its exit code: 2 for what the user
-- gives or must do first (a bad cluster name, wrong CML settings, a cluster that is not there
-- or not up: nothing changed, the message names the fix), 1 when CML failed to answer (the
-- world failed: the same command may work later). suspend, resume and autostop exit 1 for a
-- cluster that does not exist (docs/jobs.md "Suspend"), job, submit, logs and env 2.
local cluster = require "raycai.ray.cluster"
local naming = require "raycai.ray.naming"
local apps = require "raycai.ray.apps"

local M = {}


--- The cluster's state (raycai.ray.cluster.prepare, creating nothing; st.project false when
--- its project does not exist), or nil, message, exit code.
local function prepared(ctx)
  local ok, nerr = naming.check_cluster(ctx.params.cluster)
  if not ok then return nil, nerr, 2 end
  local st, err, code = cluster.prepare(ctx, false)
  if not st then return nil, err, code or 1 end  -- (no code: a lookup that CML did not answer)
  return st
end


--- The cluster's state when its project exists; else nil, message, exit code.
function M.state(ctx)
  local st, err, code = prepared(ctx)
  if not st then return nil, err, code end
  if not st.project then
    return nil, ("project %s has no cluster %s; run up first"):format(ctx.params.project, ctx.params.cluster), 2
  end
  return st
end


--- The cluster's applications by name (raycai.ray.apps.list), or nil, message, 1.
function M.apps(st)
  local list, err = apps.list(st)
  if not list then return nil, "could not list the cluster's applications: " .. tostring(err), 1 end
  return list
end


--- The state and the applications (by name) of a cluster that has a head application; else
--- nil, a line naming what is missing, exit code (1 for a cluster that does not exist).
function M.existing(ctx)
  local st, err, code = prepared(ctx)
  if not st then return nil, err, code end
  local list
  if st.project then
    list, err = M.apps(st)
    if not list then return nil, err, 1 end
  end
  if not list or not list[st.names.head] then
    return nil, ("cluster %s does not exist in project %s (%s)"):format(ctx.params.cluster, ctx.params.project,
      list and "no head application" or ("project %s has no cluster %s"):format(ctx.params.project,
      ctx.params.cluster)), 1
  end
  return st, list
end


--- The head of a cluster that is up: its application RUNNING and head.json of its generation.
--- Returns the application and head.json's info, or nil, message, exit code.
function M.running_head(ctx, st)
  local action = ctx.options.action or "submit"
  local list, err = M.apps(st)
  if not list then return nil, err, 1 end
  local h = list[st.names.head]
  local recipe = ctx.options.recipe or "RECIPE"
  if not h or h.status ~= "APPLICATION_RUNNING" then
    return nil, ("cluster %s is not up (head %s is %s); run raycai-run %s up first"):format(
      ctx.params.cluster, st.names.head, h and h.status or "absent", recipe), 2
  end
  local info = require("raycai.ray.head").head_info(st, apps.env_of(h).RAYCAI_GENERATION)
  if not info then
    -- the simulator in timer mode (the built-in default) runs no script, so never has head.json
    return nil, ("cluster %s's head is RUNNING but has not published %s yet; wait, or see raycai-run %s logs head "
      .. "(a simulator without --exec, like the built-in default, runs no scripts: nothing can run on its "
      .. "clusters; rehearse %s in exec mode, see docs/jobs.md)")
      :format(ctx.params.cluster, st.names.files.head_json, recipe, action), 2
  end
  return h, info
end


return M
