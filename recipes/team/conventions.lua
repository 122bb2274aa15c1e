-- recipes/team/conventions.lua: a module a team shares between its recipes (require "team.conventions"
-- from a recipe in recipes/, or put the folder on RAYCAI_PATH to share it across projects).
local ui = require "raycai.ui"

local M = {}

M.project = "ml-platform-ray"
M.env = { TEAM = "ml-platform", RAY_DEDUP_LOGS = "0" }
M.packages = { "pandas==2.2.3", "pyarrow==17.0.0" }


--- A step that only reports: teams add their own checks or notifications the same way.
function M.announce_step(message)
  return {
    name = "announce",
    plan = function() return {} end,
    apply = function(ctx)
      ui.info(("%s (cluster %s, %d workers)"):format(message, ctx.params.cluster, ctx.params.workers))
      return true, "announced"
    end,
  }
end


return M
