-- recipes/team_example.lua: a team recipe. It reuses the GPU cluster with the team's own
-- defaults (from a shared module) and adds one step after the workers are up; everything else
-- is gpu_cluster's.
local team = require "team.conventions"     -- a shared module (recipes/team/conventions.lua)

return require("gpu_cluster"):with {       -- the recipe next to this one
  name = "team_example",
  doc = "the team's GPU cluster: 4 workers, team packages and environment",
  defaults = { project = team.project, cluster = "team-gpu", workers = 4, env = team.env,
               ray = { packages = team.packages } },
  after = { start_workers = team.announce_step("team cluster ready") },
}
