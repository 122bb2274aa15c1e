-- raycai.ray.env: `raycai-run RECIPE env` (issue 15): the shell lines a CML session in the same
-- project needs to connect a Ray driver to the cluster: RAY_ADDRESS from head.json, the folder of
-- the cluster's files (where its credentials live: project files, never printed) and the venv's
-- bin folder first on PATH. Paths start at $HOME: a CML session runs with the project there.
local subs = require "raycai.ray.submissions"
local apps = require "raycai.ray.apps"
local head = require "raycai.ray.head"
local setup = require "raycai.ray.setup"
local ui = require "raycai.ui"
local report = require "raycai.ui.day2_report"

local M = {}


--- The variables for a driver: { RAY_ADDRESS, RAYCAI_CLUSTER_DIR, venv } or nil, message.
function M.values(ctx, st)
  local list, err = apps.list(st)
  if not list then return nil, "could not list the cluster's applications: " .. tostring(err) end
  local h = list[st.names.head]
  if not h or h.status ~= "APPLICATION_RUNNING" then
    return nil, ("cluster %s is not up (head %s is %s); run raycai-run %s up first"):format(ctx.params.cluster,
      st.names.head, h and h.status or "absent", ctx.options.recipe or "RECIPE")
  end
  local info = head.head_info(st, apps.env_of(h).RAYCAI_GENERATION)
  if not info then return nil, ("the head has not published %s yet"):format(st.names.files.head_json) end
  local s, serr = setup.scripts(ctx, st)
  if not s then return nil, serr end
  -- the credentials' location (the head's token file of its generation), never their content
  local token = require("raycai.ray.versions").has_token_auth(ctx.params.ray.version)
    and ("%s/auth/%s.token"):format(st.names.dir, info.generation) or nil
  return { RAY_ADDRESS = info.address, RAYCAI_CLUSTER_DIR = st.names.dir, venv = s.by_role.head.dir,
           generation = info.generation, token_path = token }
end


function M.run(ctx, args)
  if #args.words > 0 then ui.error(("unexpected argument '%s'"):format(args.words[1])) return 2 end
  local st, err = subs.cluster(ctx)
  if not st then ui.error(err) return 2 end
  local v, verr = M.values(ctx, st)
  if not v then ui.error(verr) return 2 end
  report.env(ctx.params.cluster, v)
  return 0
end


return M
