-- acme/ray_defaults.lua: an example of a team module shared as a LuaRocks package (see the
-- rockspec beside it). Recipes on any machine `require "acme.ray_defaults"` once it is
-- installed (`luarocks --lua-version 5.4 make --local` in this folder).
local M = {}

M.project = "acme-ray"
M.env = { TEAM = "acme", RAY_DEDUP_LOGS = "0" }
M.packages = { "pyarrow==17.0.0" }


--- The defaults table for ray.recipe, with the team's settings and a cluster name.
function M.defaults(cluster)
  return { project = M.project, cluster = cluster, env = M.env, ray = { packages = M.packages } }
end


return M
