---@meta raycai.ray
-- LuaLS definitions of raycai.ray (lua/raycai/ray/init.lua): Ray clusters on CML. The shared
-- parameters, the four steps and ray.recipe{...} that puts them together.

---@class raycai.ray
---@field setup_venv raycai.Step finds or creates the project; builds the venv with a setup job
---@field write_launchers raycai.Step renders head.py and worker.py into .raycai/<cluster>/
---@field start_head raycai.Step the head application (a new generation when replaced)
---@field start_workers raycai.Step the worker applications, bound to the head's generation
---@field STEP_NEEDS raycai.StepNeeds what the four steps need: client, cluster; runtimes and scripts to plan and apply
---@field NEEDS table<string, raycai.NeedProvider> what a Ray recipe provides: cluster, project, runtimes, scripts
local ray = {}

--- Defaults of a Ray cluster: any subset of the parameter tree (see docs/recipes.md).
---@class raycai.ray.Defaults
---@field project? string
---@field cluster? string
---@field workers? integer
---@field head? { cpu?: number, memory?: number, gpu?: integer, edition?: string, runtime?: string, ray_args?: string[], ray_resources?: table<string, number>, ray_labels?: table<string, string> }
---@field worker? { cpu?: number, memory?: number, gpu?: integer, edition?: string, runtime?: string, ray_args?: string[], ray_resources?: table<string, number>, ray_labels?: table<string, string> }
---@field groups? table<string, raycai.ray.GroupDefaults>|raycai.ray.GroupDefaults[] named worker groups beside the default group `worker`
---@field python? { kernel?: string, editor?: string }
---@field ray? { version?: string, packages?: string[], index_url?: string, find_links?: string, gcs_port?: integer, start_retries?: integer }
---@field setup? { cpu?: number, memory?: number }
---@field env? table<string, string>
---@field bypass_authentication? boolean
---@field keep_partial? boolean
---@field parallel? integer
---@field timeouts? { project?: integer, setup?: integer, head?: integer, workers?: integer, head_wait?: integer, ray_start?: integer, lock?: integer }

--- A named worker group (applications raycai-<cluster>-<name>-<i>); in the list form it has a name.
---@class raycai.ray.GroupDefaults
---@field name? string a DNS label of at most 20 characters, not head, setup, submit or worker
---@field workers? integer
---@field cpu? number
---@field memory? number
---@field gpu? integer
---@field edition? string
---@field runtime? string
---@field env? table<string, string> besides the cluster's env
---@field ray_args? string[] extra `ray start` arguments (e.g. --min-worker-port=10002)
---@field ray_resources? table<string, number> Ray custom resources (ray start --resources)
---@field ray_labels? table<string, string> Ray node labels (ray start --labels k=v,...; Ray 2.49+)

---@class raycai.ray.RecipeDef
---@field name string
---@field doc? string
---@field defaults? raycai.ray.Defaults
---@field extra_steps? raycai.Step[] run after the four Ray steps
---@field launchers? table<string, string> template overrides (head, worker, setup or a group name), relative to the recipe's folder

--- A Ray cluster recipe: the four steps, the summary after up, the status table and the lock.
---@param def raycai.ray.RecipeDef
---@return raycai.Recipe
function ray.recipe(def) end

--- The parameter tree every Ray recipe shares, with these defaults.
---@param d? raycai.ray.Defaults
---@return table tree of raycai.Param
function ray.params(d) end

--- The parameters of the named worker groups of defaults d (groups.<name>.*); a bad group name
--- raises a recipe error.
---@param d raycai.ray.Defaults
---@return table tree of raycai.Param
function ray.group_params(d) end

--- Check a list of extra `ray start` arguments: none of the flags raycai sets, no shell syntax.
---@param list string[]
---@return true|nil ok
---@return string? err
function ray.check_ray_args(list) end

return ray
