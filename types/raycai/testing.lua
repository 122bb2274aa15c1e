---@meta raycai.testing
-- LuaLS definitions of raycai.testing (lua/raycai/testing.lua): recipe specs against a local
-- cml-sim, run by `raycai-run test [DIR]` (docs/recipes.md, "Test your recipe").

---@class raycai.testing
---@field QUICK table<string, integer> delays (ms) for a timer-mode deploy well under a second
---@field API_KEY string the simulators' key; sim:run raises if raycai-run prints it
local testing = {}

---@class raycai.testing.SimOptions
---@field exec? boolean really run the scripts (exec mode)
---@field python? string interpreter for exec mode
---@field delays? table<string, integer> state durations in ms (docs/cml-sim.md)
---@field quota? {cpu?: number, memory?: number, gpu?: integer}
---@field args? string[] more cml-sim flags

---@class raycai.testing.RunOptions
---@field set? table<string, any> --set KEY=VALUE pairs (a list value is joined with commas)
---@field args? string[] more raycai-run options
---@field env? table<string, string|false> environment changes (false removes)
---@field json? boolean run with --json and decode the events into result.events
---@field timeout? number seconds the run may take (default 300)

---@class raycai.testing.Result
---@field code integer exit code
---@field stdout string
---@field stderr string
---@field events? table[] with opts.json: the decoded events

---@class raycai.testing.Cluster
---@field project table the project
---@field head? table the head application
---@field workers table[] the default group's workers by index
---@field groups table<string, table[]> every group's applications by index
---@field setup_job? table
---@field setup_jobs table[]
---@field apps table<string, table> every application of the cluster by name

--- Start a cml-sim on an ephemeral loopback port.
---@param opts? raycai.testing.SimOptions
---@return raycai.testing.Sim
function testing.sim(opts) end

--- A path under the folder `raycai-run test` runs (no argument: the folder itself).
---@param ... string
---@return string
function testing.path(...) end

--- Set by `raycai-run test`: the folder the specs test.
---@param dir string
function testing.set_test_dir(dir) end

--- The raycai-run the specs run (RAYCAI_RUN overrides).
---@return string
function testing.raycai_run_path() end

--- The cml-sim the specs start (RAYCAI_CML_SIM overrides).
---@return string
function testing.cml_sim_path() end

---@class raycai.testing.Sim
---@field url string
---@field api_key string
local Sim = {}

--- Stop the simulator (idempotent).
function Sim:stop() end

--- Run raycai-run RECIPE ACTION against this simulator.
---@param recipe string
---@param action? string default "up"
---@param opts? raycai.testing.RunOptions
---@return raycai.testing.Result
function Sim:run(recipe, action, opts) end

--- A CML API v2 request (path relative to /api/v2/).
---@param method string
---@param path string
---@param body? table
---@return integer status
---@return table? decoded
function Sim:api(method, path, body) end

--- A control request (/_sim/...).
---@param method string
---@param path string
---@param body? table
---@return integer status
---@return table? decoded
function Sim:control(method, path, body) end

--- The request log, oldest first.
---@return table[]
function Sim:requests() end

--- Clear the request log.
function Sim:clear_requests() end

--- The logged requests that change something (not GET, not a download).
---@return table[]
function Sim:mutations() end

--- Add a fault rule.
---@param rule table
function Sim:fault(rule) end

--- Change delays at run time.
---@param t table<string, integer>
function Sim:delays(t) end

--- Change the quota at run time.
---@param t table
function Sim:quota(t) end

--- The project with this name or id.
---@param name_or_id string
---@return table?
function Sim:project(name_or_id) end

--- A project's applications (environment decoded).
---@param project string|table
---@return table[]
function Sim:applications(project) end

--- A project's jobs (environment decoded).
---@param project string|table
---@return table[]
function Sim:jobs(project) end

--- The entries of a project folder, nil when it does not exist.
---@param project string|table
---@param path? string
---@return table[]?
function Sim:files(project, path) end

--- A project file's content, nil when absent.
---@param project string|table
---@param path string
---@return string?
function Sim:read_file(project, path) end

--- The cluster as raycai finds it (by name), nil when the project does not exist.
---@param cluster string
---@param opts? {project?: string}
---@return raycai.testing.Cluster?
function Sim:cluster(cluster, opts) end

return testing
