---@meta raycai.recipe
-- LuaLS definitions of raycai.recipe (lua/raycai/recipe.lua): the recipe model, the step table
-- and the run context the steps receive. See docs/recipes.md.

---@class raycai.recipe
---@field NEEDS table<string, raycai.NeedProvider> what the runner provides to every recipe: client
local recipe = {}

--- One change a step's plan would make.
---@class raycai.Change
---@field action "create"|"update"|"delete"|"keep"
---@field kind? string e.g. "application", "job", "file"
---@field name? string
---@field detail? string
---@field pending? boolean a "keep" that still needs the step's apply (counts as a change)
---@field step? string set by the runner: the step that planned it

--- One row of a step's status.
---@class raycai.StatusRow
---@field kind? string
---@field name? string
---@field role? string
---@field state? string
---@field healthy? boolean false marks the cluster not healthy
---@field cpu? number
---@field memory? number GB
---@field gpu? number
---@field created_at? string ISO 8601
---@field step? string set by the runner

--- A step of a recipe. Every function receives the run context; all are optional.
--- `plan` must not change anything; `apply` runs on up (in order), `destroy` on down (in
--- reverse order). Failures return `nil, "what failed and what to do"`.
---@class raycai.Step
---@field name string shown in progress lines
---@field plan? fun(ctx: raycai.Context): raycai.Change[]?, string?
---@field apply? fun(ctx: raycai.Context): true?, string? returns true, summary or nil, err
---@field destroy? fun(ctx: raycai.Context): true?, string? returns true, summary or nil, err
---@field status? fun(ctx: raycai.Context): raycai.StatusRow[]?, string?
---@field early? fun(ctx: raycai.Context) up only: work needing nothing from earlier steps, run while one of them waits (ctx:idle()); keep its result in ctx.state for apply, never raise
---@field needs? raycai.StepNeeds what the runner prepares before the first step that needs it

--- What a step needs: names of recipe.NEEDS or of the recipe's providers (a Ray recipe: cluster,
--- project, runtimes, scripts). A list entry is needed by every function, a keyed list by that
--- function only: { "client", "cluster", plan = { "runtimes" } }. An unknown name is a recipe
--- error at load (file:line).
---@class raycai.StepNeeds
---@field plan? string[]
---@field apply? string[]
---@field destroy? string[]
---@field status? string[]

--- A provider of a need: true, or nil, message, exit code (the run's returned error).
---@alias raycai.NeedProvider fun(ctx: raycai.Context): true?, string?, integer?

--- The run of one action: parameter values, options and the state the steps share.
---@class raycai.Context
---@field recipe raycai.Recipe
---@field params table the parameter values (the tree of the recipe's params)
---@field options table command-line options (purge, insecure, ...)
---@field state table shared between the steps of one run (state.ray after the Ray steps: raycai.ray.RayRunState)
---@field phase? "plan"|"apply"|"destroy"|"status"|string the part of the action running (needs are prepared once per phase)
local Context = {}

--- The CML API client for this run, connecting on first use (CML_HOST, or the built-in
--- simulator); or nil, message, 2 for a missing or wrong setting. Steps declare
--- `needs = { "client" }` so the runner connects before them.
---@return raycai.cml.Client? client
---@return string? err
---@return integer? code
function Context:client() end

--- A step is about to wait: run the deferred work and the `early` work of the later steps
--- (once each) meanwhile.
function Context:idle() end

--- Work that need not hold up the next step (a check that can only warn): it runs at the next
--- ctx:idle(), at the latest when up has applied every step. It must not raise.
---@param fn fun()
function Context:defer(fn) end

--- Run fn when the run ends (stop a process, close a connection).
---@param fn fun()
function Context:on_close(fn) end

--- The hooks return data; the runner prints it (raycai.ui.report).
---@class raycai.Hooks
---@field summary? fun(ctx: raycai.Context): table? after a successful up: the data of the summary (raycai.ui.report.summary)
---@field lock? fun(ctx: raycai.Context, action: "up"|"down"): (fun(succeeded: boolean)?), string? returns a release function (told whether the action succeeded) or nil, err
---@field status_info? fun(ctx: raycai.Context, rows: raycai.StatusRow[]): table status: { healthy, suspended, dashboard, head_address, ray_auth, ray_auth_text } beside the table
---@field warnings? fun(ctx: raycai.Context): true?, string?, integer? plan and up: warns, or refuses with nil, message, 2
---@field check? fun(values: table): true?, string? rules across several parameters, on every action's values (issue 13)

--- What recipe.new takes.
---@class raycai.RecipeDef
---@field name string
---@field doc? string one line shown by `params`
---@field params? table a tree of recipe.param(...) leaves; groups are plain tables
---@field steps raycai.Step[]|fun(values: table): raycai.Step[]
---@field hooks? raycai.Hooks
---@field needs? table<string, raycai.NeedProvider> the builder's own needs (besides recipe.NEEDS)

---@class raycai.Recipe
---@field name string
---@field doc string
---@field params table
---@field steps raycai.Step[]|fun(values: table): raycai.Step[]
---@field hooks raycai.Hooks
---@field needs table<string, raycai.NeedProvider> every need it provides (recipe.NEEDS and its builder's)
local Recipe = {}

--- Declare a parameter (the same function as raycai.params.param).
---@param default any the default; its type is the parameter's type unless opts.type
---@param doc string one line shown by `raycai-run RECIPE params`
---@param opts? raycai.ParamOpts
---@return raycai.Param
function recipe.param(default, doc, opts) end

--- Make a recipe. A malformed definition raises an error at the recipe's own line.
---@param def raycai.RecipeDef
---@return raycai.Recipe
function recipe.new(def) end

--- Is v a recipe made by recipe.new?
---@param v any
---@return boolean
function recipe.is_recipe(v) end

--- How many changes of a plan are pending (not "keep", or a "keep" still marked pending).
---@param changes raycai.Change[]
---@return integer
function recipe.pending(changes) end

--- Raise msg as a mistake in the recipe: at the first line outside raycai's library.
---@param msg string
function recipe.user_error(msg) end

--- What recipe:with takes: a copy's name, doc, defaults and step edits (by step name).
---@class raycai.WithDef
---@field name? string
---@field doc? string
---@field defaults? table nested new defaults, e.g. { workers = 4, head = { cpu = 8 } }
---@field before? table<string, raycai.Step|raycai.Step[]> insert before the named step
---@field after? table<string, raycai.Step|raycai.Step[]> insert after the named step
---@field replace? table<string, raycai.Step|raycai.Step[]> put in the named step's place
---@field remove? string[]|table<string, boolean> drop the named steps
---@field steps? raycai.Step[] a whole new step list (the edits apply to it)
---@field hooks? raycai.Hooks hooks to replace

--- A copy, changed: other defaults (checked against the parameters' types), steps inserted,
--- replaced or removed by name. Shares no mutable table with the original. The older form
--- with(defaults, { name, doc, steps }) still works.
---@param def raycai.WithDef|table
---@param extra? { name?: string, doc?: string, steps?: raycai.Step[] }
---@return raycai.Recipe
function Recipe:with(def, extra) end

--- The steps for these parameter values (calls def.steps when it is a function).
---@param values table
---@return raycai.Step[]
function Recipe:step_list(values) end

--- Parameter values: the defaults, then "key=value" assignments, validated.
---@param sets? string[]
---@return table? values
---@return string? err
function Recipe:values(sets) end

--- Prepare the needs `names` for ctx, each once per phase (ctx.phase).
---@param ctx raycai.Context
---@param names? string[]
---@return true? ok
---@return string? err
---@return integer? code
function Recipe:prepare(ctx, names) end

--- up: plan first; when anything is pending, every step's apply under the lock.
---@param ctx raycai.Context
---@return true? ok
---@return string? err
function Recipe:up(ctx) end

--- down: every step's destroy in reverse order, under the lock.
---@param ctx raycai.Context
---@return true? ok
---@return string? err
function Recipe:down(ctx) end

--- plan: the changes every step would make.
---@param ctx raycai.Context
---@return raycai.Change[]? changes
---@return string? err
function Recipe:plan(ctx) end

--- status: every step's rows.
---@param ctx raycai.Context
---@return raycai.StatusRow[]? rows
---@return string? err
function Recipe:status(ctx) end

return recipe
