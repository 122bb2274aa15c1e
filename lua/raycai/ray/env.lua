-- raycai.ray.env: `raycai-run RECIPE env` (issue 15): the shell lines a CML session in the same
-- project needs to connect a Ray driver to the cluster: RAY_ADDRESS from head.json, the folder of
-- the cluster's files (where its credentials live: project files, never printed) and the venv's
-- bin folder first on PATH. Paths start at $HOME: a CML session runs with the project there.
local subs = require "raycai.ray.submissions"
local apps = require "raycai.ray.apps"
local head = require "raycai.ray.head"
local setup = require "raycai.ray.setup"
local ui = require "raycai.ui"
local term = require "raycai.term"

local M = {}


local function quote(v) return "'" .. tostring(v):gsub("'", "'\\''") .. "'" end


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
  if ui.is_json() then
    ui.event("env", { RAY_ADDRESS = v.RAY_ADDRESS, RAYCAI_CLUSTER_DIR = "$HOME/" .. v.RAYCAI_CLUSTER_DIR,
                      venv = "$HOME/" .. v.venv, generation = v.generation,
                      RAY_AUTH_MODE = v.token_path and "token" or nil,
                      RAY_AUTH_TOKEN_PATH = v.token_path and ("$HOME/" .. v.token_path) or nil })
    return 0
  end
  term.write("stdout", table.concat({
    "# cluster " .. ctx.params.cluster .. " (generation " .. tostring(v.generation) .. "): eval \"$(raycai-run ... env)\"",
    "export RAY_ADDRESS=" .. quote(v.RAY_ADDRESS),
    "export RAYCAI_CLUSTER_DIR=\"$HOME\"/" .. quote(v.RAYCAI_CLUSTER_DIR),
    "export VIRTUAL_ENV=\"$HOME\"/" .. quote(v.venv),
    "export PATH=\"$VIRTUAL_ENV/bin:$PATH\"",
    -- Ray's token authentication: the driver reads the token from the file (never printed)
    v.token_path and "export RAY_AUTH_MODE=token" or "unset RAY_AUTH_MODE",
    v.token_path and ("export RAY_AUTH_TOKEN_PATH=\"$HOME\"/" .. quote(v.token_path)) or "unset RAY_AUTH_TOKEN_PATH",
    "" }, "\n"))
  return 0
end


return M
