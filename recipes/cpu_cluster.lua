-- recipes/cpu_cluster.lua: a CPU-only Ray cluster on Cloudera AI (Standard runtimes everywhere).
local ray = require "raycai.ray"

return ray.recipe {
  name = "cpu_cluster",
  doc = "Ray cluster: a 2 vCPU head and CPU-only workers on Standard runtimes",
  defaults = {
    cluster = "cpu",
    workers = 2,
    head = { cpu = 2, memory = 8, gpu = 0, edition = "Standard" },
    worker = { cpu = 4, memory = 16, gpu = 0, edition = "Standard" },
    python = { kernel = "Python 3.11" },  -- any editor: an application needs none
  },
}
