-- recipes/mixed_cluster.lua: a Ray cluster with two worker groups: CPU nodes for preprocessing on
-- Standard runtimes beside GPU trainers on Nvidia GPU runtimes (KubeRay's workerGroupSpecs).
--   raycai-run recipes/mixed_cluster.lua                          # up
--   raycai-run --set groups.cpu.workers=8 recipes/mixed_cluster.lua
-- The GPU trainers are the default group `worker` (raycai-mixed-worker-<i>); the CPU group's
-- applications are raycai-mixed-cpu-<i>. Each group advertises a Ray resource of its own, so
-- tasks can ask for it (@ray.remote(resources={"preprocess": 1})), and a node label (Ray 2.49+
-- label selectors: @ray.remote(label_selector={"tier": "cpu"})).
local ray = require "raycai.ray"

return ray.recipe {
  name = "mixed_cluster",
  doc = "Ray cluster: a CPU head, GPU trainers (group worker) and CPU preprocessing nodes (group cpu)",
  defaults = {
    cluster = "mixed",
    workers = 1,
    head = { cpu = 2, memory = 8, gpu = 0, edition = "Standard" },
    worker = { cpu = 8, memory = 32, gpu = 1, edition = "Nvidia GPU",
               ray_resources = { train = 1 }, ray_labels = { tier = "gpu" } },
    groups = {
      cpu = { workers = 2, cpu = 4, memory = 16, gpu = 0, edition = "Standard",
              env = { RAYCAI_NODE_KIND = "preprocess" },
              ray_resources = { preprocess = 1 }, ray_labels = { tier = "cpu" } },
    },
    python = { kernel = "Python 3.11" },
  },
}
