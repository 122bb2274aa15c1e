-- recipes/gpu_cluster.lua: a Ray cluster on Cloudera AI with a CPU head and GPU workers.
--   raycai-run recipes/gpu_cluster.lua                      # up
--   raycai-run recipes/gpu_cluster.lua plan|status|down
--   raycai-run --set workers=4 --set project=my-project recipes/gpu_cluster.lua
-- Copy it and change the defaults below, or build on it from another recipe (see team_example.lua).
local ray = require "raycai.ray"

return ray.recipe {
  name = "gpu_cluster",
  doc = "Ray cluster: a 4 vCPU / 16 GB head on a Standard runtime, GPU workers on an Nvidia GPU runtime",
  defaults = {
    cluster = "gpu",
    workers = 2,
    head = { cpu = 4, memory = 16, gpu = 0, edition = "Standard" },
    worker = { cpu = 8, memory = 32, gpu = 1, edition = "Nvidia GPU" },
    python = { kernel = "Python 3.11" },  -- any editor: an application needs none
    ray = { version = "2.54.0" },
  },
}
