-- recipes/team_example.lua: a team recipe. It reuses the GPU cluster with the team's own
-- defaults (from a shared module) and adds a custom step after the cluster is up.
local gpu = require "gpu_cluster"           -- the recipe next to this one
local team = require "team.conventions"     -- a shared module (recipes/team/conventions.lua)

local base = gpu:with({
  project = team.project,
  cluster = "team-gpu",
  workers = 4,
  env = team.env,
  ray = { packages = team.packages },
}, { name = "team_example", doc = "the team's GPU cluster: 4 workers, team packages and environment" })

return base:with({}, { steps = {
  require("raycai.ray").setup_venv,
  require("raycai.ray").write_launchers,
  require("raycai.ray").start_head,
  require("raycai.ray").start_workers,
  team.announce_step("team cluster ready"),
} })
