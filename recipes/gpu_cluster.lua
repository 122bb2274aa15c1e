-- recipes/gpu_cluster.lua: a Ray cluster on Cloudera AI with a CPU head and GPU workers.
-- (Placeholder until the Ray steps land: it validates its parameters and says so.)
local recipe = require "raycai.recipe"
local ui = require "raycai.ui"
local param = recipe.param

return recipe.new {
  name = "gpu_cluster",
  doc = "Ray cluster: a 4 CPU head and GPU workers",
  params = {
    cluster = param("gpu", "cluster name (a DNS label: a-z, 0-9, -)"),
    workers = param(2, "number of worker applications", { min = 0, max = 512 }),
  },
  steps = {
    {
      name = "placeholder",
      apply = function(ctx)
        ui.info(("would deploy cluster '%s' with %d workers: the Ray steps are not built yet")
          :format(ctx.params.cluster, ctx.params.workers))
        return true
      end,
    },
  },
}
