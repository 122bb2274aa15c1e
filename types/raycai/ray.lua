---@meta raycai.ray
-- LuaLS definitions of raycai.ray (lua/raycai/ray/init.lua): Ray clusters on CML. The shared
-- parameters, the four steps and ray.recipe{...} that puts them together.

---@class raycai.ray
---@field setup_venv raycai.Step finds or creates the project; builds the venv with a setup job
---@field write_launchers raycai.Step renders head.py and worker.py into .raycai/<cluster>/
---@field start_head raycai.Step the head application (a new generation when replaced)
---@field start_workers raycai.Step the worker applications, bound to the head's generation
local ray = {}

--- Defaults of a Ray cluster: any subset of the parameter tree (see docs/recipes.md).
---@class raycai.ray.Defaults
---@field project? string
---@field cluster? string
---@field workers? integer
---@field head? { cpu?: number, memory?: number, gpu?: integer, edition?: string, runtime?: string }
---@field worker? { cpu?: number, memory?: number, gpu?: integer, edition?: string, runtime?: string }
---@field python? { kernel?: string, editor?: string }
---@field ray? { version?: string, packages?: string[], index_url?: string, find_links?: string, gcs_port?: integer, start_retries?: integer }
---@field setup? { cpu?: number, memory?: number }
---@field env? table<string, string>
---@field bypass_authentication? boolean
---@field keep_partial? boolean
---@field parallel? integer
---@field timeouts? { project?: integer, setup?: integer, head?: integer, workers?: integer, head_wait?: integer, ray_start?: integer, lock?: integer }

---@class raycai.ray.RecipeDef
---@field name string
---@field doc? string
---@field defaults? raycai.ray.Defaults
---@field extra_steps? raycai.Step[] run after the four Ray steps

--- A Ray cluster recipe: the four steps, the summary after up, the status table and the lock.
---@param def raycai.ray.RecipeDef
---@return raycai.Recipe
function ray.recipe(def) end

--- The parameter tree every Ray recipe shares, with these defaults.
---@param d? raycai.ray.Defaults
---@return table tree of raycai.Param
function ray.params(d) end

return ray
