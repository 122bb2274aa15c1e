-- raycai.ray.env: `raycai-run RECIPE env` (issue 15): the shell lines a CML session in the same
-- project needs to connect a Ray driver to the cluster: RAY_ADDRESS from head.json, the folder of
-- the cluster's files (where its credentials live: project files, never printed) and the venv's
-- bin folder first on PATH. Paths start at $HOME: a CML session runs with the project there.
local lookup = require "raycai.ray.day2_cluster"
local setup = require "raycai.ray.setup"
local ui = require "raycai.ui"
local report = require "raycai.ui.day2_report"

local M = {}


--- The variables for a driver: { RAY_ADDRESS, RAYCAI_CLUSTER_DIR, venv, generation, token_path }
--- or nil, message, exit code.
function M.values(ctx, st)
  local h, info, code = lookup.running_head(ctx, st)
  if not h then return nil, info, code end
  local s, serr = setup.scripts(ctx, st)
  if not s then return nil, serr, 1 end
  -- the credentials' location (the head's token file of its generation), never their content
  local token = require("raycai.ray.versions").has_token_auth(ctx.params.ray.version)
    and ("%s/auth/%s.token"):format(st.names.dir, info.generation) or nil
  return { RAY_ADDRESS = info.address, RAYCAI_CLUSTER_DIR = st.names.dir, venv = s.by_role.head.dir,
           generation = info.generation, token_path = token }
end


function M.run(ctx, args)
  if #args.words > 0 then ui.error(("unexpected argument '%s' for env; it takes none"):format(args.words[1])) return 2 end
  local st, err, code = lookup.state(ctx)
  if not st then ui.error(err) return code end
  local v, verr, vcode = M.values(ctx, st)
  if not v then ui.error(verr) return vcode end
  report.env(ctx.params.cluster, v)
  return 0
end


return M
