-- raycai.ray: Ray clusters on CML. The parameters every Ray recipe shares, the four steps
-- (setup_venv, write_launchers, start_head, start_workers) with what they need, and
-- ray.recipe{...} that puts them together with the data of a summary and a status table (the
-- runner prints them: raycai.ui.report).
local recipe = require "raycai.recipe"
local ui = require "raycai.ui"
local clock = require "raycai.clock"
local cluster = require "raycai.ray.cluster"
local run_state = require "raycai.ray.state"
local naming = require "raycai.ray.naming"
local apps = require "raycai.ray.apps"
local versions = require "raycai.ray.versions"
local groups = require "raycai.ray.groups"
local ray_start = require "raycai.ray.ray_start"

local M = {}

local param = recipe.param

--- What the Ray steps need (docs/recipes.md "What a step needs"): the CML client and the
--- cluster's run state (ctx.state.ray: project, names) for everything; the runtimes and the
--- rendered launchers to plan and apply (status and down work without them, so a runtime gone
--- from the workspace does not stop a down).
M.STEP_NEEDS = { "client", "cluster", plan = { "runtimes", "scripts" }, apply = { "runtimes", "scripts" } }


--- A Ray step module's step, declaring M.STEP_NEEDS (a copy: the module's table stays as it is).
local function ray_step(step)
  local out = {}
  for k, v in pairs(step) do out[k] = v end
  out.needs = M.STEP_NEEDS
  return out
end

M.setup_venv = ray_step(require("raycai.ray.setup").step)
M.write_launchers = ray_step(require("raycai.ray.launchers").step)
M.start_head = ray_step(require("raycai.ray.head").step)
M.start_workers = ray_step(require("raycai.ray.workers").step)


--- The needs a Ray recipe provides besides the runner's client (raycai.recipe NEEDS). Each is
--- fun(ctx) -> true | nil, message, exit code.
M.NEEDS = {
  -- ctx.state.ray (raycai.ray.state): the project found (created in up's apply phase), names
  cluster = function(ctx)
    local st, err, code = cluster.prepare(ctx, ctx.phase == "apply")
    if not st then return nil, err, code end
    return true
  end,
  -- as cluster, and the project must exist: a read-only action on a missing one exits 1 naming it
  project = function(ctx)
    local st, err, code = cluster.prepare(ctx, ctx.phase == "apply")
    if not st then return nil, err, code end
    if not st.project then
      return nil, ("project %s has no cluster %s; run up first"):format(ctx.params.project, ctx.params.cluster), 1
    end
    return true
  end,
  -- the runtime of the head and of each group (a Ray without wheels for its Python: exit 2)
  runtimes = function(ctx)
    local ids, err, code = cluster.runtimes(ctx)
    if not ids then return nil, err, code end
    return true
  end,
  -- the rendered setup script and launchers (a launcher override that does not render: exit 2)
  scripts = function(ctx)
    local s, err, code = require("raycai.ray.setup").scripts(ctx, ctx.state.ray)
    if not s then return nil, err, code end
    return true
  end,
}


local function cluster_name(v)
  return naming.check_cluster(v)
end


--- pip requirement strings: no option injection, no shell syntax.
local function requirements(list)
  for _, req in ipairs(list) do
    if req:match("^%s*%-") then
      return nil, ("'%s' looks like a pip option; give requirement strings such as torch==2.5.1"):format(req)
    end
    if req:find("[%$`]") then
      return nil, ("'%s' is not a pip requirement (no $ or ` allowed)"):format(req)
    end
  end
  return true
end


--- A URL or path without spaces (pip index or find-links).
local function location(v)
  if v:find("%s") then return nil, ("'%s' contains white space"):format(v) end
  return true
end


--- A folder inside the project: relative, no "..", plain characters.
local function project_folder(v)
  if v == "" or v:sub(1, 1) == "/" or v:find("%.%.") or not v:match("^[%w%._/%-]+$") then
    return nil, ("'%s' is not a folder inside the project (relative, letters, digits, . _ - /)"):format(v)
  end
  return true
end


--- Environment variable names as a shell would accept them.
local function env_names(map)
  for k in pairs(map) do
    if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
      return nil, ("'%s' is not a valid environment variable name (letters, digits, _)"):format(tostring(k))
    end
  end
  return true
end


local function pick(v, default) if v == nil then return default end return v end


M.check_ray_args = ray_start.check_args


--- The resources of the head or the workers: the recipe's defaults `r`, else `builtin`.
local function resources(role, r, builtin)
  return {
    ray_args = param(pick(r.ray_args, {}), role .. " extra `ray start` arguments, one per entry "
                     .. "(e.g. --memory=8000000000); not the flags raycai sets", { type = "list", check = ray_start.check_args }),
    -- (issue 13) Ray's own view of the node: custom resources and labels (KubeRay's group
    -- resources/labels, Ray's available_node_types); see raycai.ray.ray_start
    ray_resources = param(pick(r.ray_resources, {}), role .. " Ray custom resources, name = quantity "
                          .. "(ray start --resources); not CPU, GPU, memory, object_store_memory",
                          { type = "map", check = ray_start.check_resources }),
    ray_labels = param(pick(r.ray_labels, {}), role .. " Ray node labels, key = value (ray start --labels "
                       .. "k=v,...; Ray 2.49 and later)", { type = "map", check = ray_start.check_labels }),
    cpu = param(pick(r.cpu, builtin.cpu), role .. " vCPU", { min = 0.1, max = 256, type = "number" }),
    memory = param(pick(r.memory, builtin.memory), role .. " memory in GB", { min = 0.1, max = 4096, type = "number" }),
    gpu = param(pick(r.gpu, builtin.gpu), role .. " GPUs", { min = 0, max = 16 }),
    edition = param(pick(r.edition, builtin.edition), role .. " runtime edition (Standard, Nvidia GPU)"),
    runtime = param(pick(r.runtime, ""), role .. " runtime identifier; empty: newest enabled of edition + kernel"),
  }
end


--- A recipe that names no project: inside a CML workload the current project (so a session's
--- files, venv and drivers share the cluster's project), elsewhere ray-<cluster> (ray-gpu).
local function default_project(d)
  return require("raycai.cml.workload").current_project() or (d.cluster and ("ray-" .. d.cluster)) or "ray"
end


--- The parameters of the named group `name` with defaults def: workers, cpu, memory, gpu,
--- edition, runtime, env, ray_args, ray_resources, ray_labels. A key of def that is none of them
--- is a recipe error.
local function group_tree(name, def)
  local label = "group " .. name
  local t = resources(label, def, { cpu = 4, memory = 16, gpu = 0, edition = "Standard" })
  t.workers = param(pick(def.workers, 1), label .. ": number of worker applications", { min = 0, max = 1024 })
  t.env = param(pick(def.env, {}), label .. ": extra environment variables (besides env)",
                { type = "map", check = env_names })
  for k in pairs(def) do
    if t[k] == nil and k ~= "name" then
      recipe.user_error(("group '%s': no setting '%s' (workers, cpu, memory, gpu, edition, runtime, env, "
        .. "ray_args, ray_resources, ray_labels)"):format(name, tostring(k)))
    end
  end
  return t
end


--- (issue 13) A group that recipe:with{ defaults = { groups = { name = def } } } adds: named and
--- checked as if the recipe had declared it (groups.check_name, group_tree, its defaults valid).
local function grow_group(name, def)
  local ok, err = groups.check_name(name)
  if not ok then recipe.user_error("with(): " .. err) end
  if type(def) ~= "table" then
    recipe.user_error(("with(): group '%s' must be a table { workers = ..., cpu = ... }"):format(name))
  end
  local t = group_tree(name, def)
  local params = require "raycai.params"
  local vok, verr = params.validate({ groups = { [name] = t } }, { groups = { [name] = params.defaults(t) } })
  if not vok then recipe.user_error("with(): " .. verr) end
  return t
end


--- The parameters of the named worker groups of defaults d (d.groups): groups.<name>.workers,
--- .cpu, .memory, .gpu, .edition, .runtime, .env, .ray_args, .ray_resources, .ray_labels. A bad
--- group name is a recipe error. The group is open: with{} may add groups (grow_group).
function M.group_params(d)
  local defs, err = groups.definitions(d.groups)
  if not defs then recipe.user_error(err) end
  local out = {}
  for _, g in ipairs(defs) do out[g.name] = group_tree(g.name, g.def) end
  return require("raycai.params").growable(out, grow_group)
end


--- The parameter tree of a Ray cluster, with these defaults (a nested table of values).
function M.params(d)
  d = d or {}
  local py, ry, t, su = d.python or {}, d.ray or {}, d.timeouts or {}, d.setup or {}
  return {
    project = param(pick(d.project, default_project(d)),
                    "CML project name or id (created by up when missing); inside CML: the current project",
                    { pattern = "^[^/]+$", hint = "a project name cannot contain '/'" }),
    cluster = param(pick(d.cluster, "ray"), "cluster name: a-z, 0-9 and single hyphens, at most 30",
                    { check = cluster_name }),
    workers = param(pick(d.workers, 2), "number of worker applications", { min = 0, max = 1024 }),
    head = resources("head", d.head or {}, { cpu = 4, memory = 16, gpu = 0, edition = "Standard" }),
    worker = resources("worker", d.worker or {}, { cpu = 8, memory = 32, gpu = 1, edition = "Nvidia GPU" }),
    groups = M.group_params(d),
    python = {
      kernel = param(pick(py.kernel, "Python 3.11"), "runtime kernel, e.g. Python 3.11"),
      editor = param(pick(py.editor, ""), "only runtimes of this editor (Workbench, PBJ Workbench, "
                     .. "JupyterLab); empty: any, preferring that order among equal versions"),
    },
    ray = {
      version = param(pick(ry.version, versions.DEFAULT), "Ray version installed in the venv "
                        .. "(refused when it has no wheels for the runtime's Python)",
                      { pattern = "^[%w%.%-%+]+$", hint = "give a version such as " .. versions.DEFAULT }),
      packages = param(pick(ry.packages, {}), "extra pip requirements for the venv",
                       { type = "list", check = requirements }),
      index_url = param(pick(ry.index_url, ""), "pip index URL (a private mirror); empty: pip's default",
                        { check = location }),
      find_links = param(pick(ry.find_links, ""), "pip --find-links folder or URL; alone it means --no-index",
                         { check = location }),
      gcs_port = param(pick(ry.gcs_port, 6379), "Ray GCS port on the head", { min = 1024, max = 65535 }),
      start_retries = param(pick(ry.start_retries, 5), "attempts of ray start on a worker", { min = 1, max = 100 }),
      object_store_mb = param(pick(ry.object_store_mb, 0), "Ray object store per node in MB "
                              .. "(--object-store-memory); 0: Ray's default (30% of memory)", { min = 0 }),
    },
    venv = {
      root = param(pick((d.venv or {}).root, ".raycai/venvs"),
                   "project folder holding the venvs, one per fingerprint", { check = project_folder }),
      python = param(pick((d.venv or {}).python, "python3"), "interpreter the setup job builds the venv with",
                     { pattern = "^[%w%._/%-]+$", hint = "give a command or path such as python3.11" }),
      keep = param(pick((d.venv or {}).keep, 2), "unused venvs of this cluster up keeps (the newest)", { min = 0, max = 100 }),
    },
    setup = {
      cpu = param(pick(su.cpu, 2), "setup job vCPU", { min = 0.1, max = 64, type = "number" }),
      memory = param(pick(su.memory, 8), "setup job memory in GB", { min = 0.1, max = 1024, type = "number" }),
    },
    shm_mb = param(pick(d.shm_mb, 0), "project shared memory (/dev/shm) in MB that up raises the project to "
                   .. "(never lowers); 0: Ray's object store on the biggest node + 10%, at least 8192", { min = 0 }),
    env = param(pick(d.env, {}), "extra environment variables of every application",
                { type = "map", check = env_names }),
    bypass_authentication = param(pick(d.bypass_authentication, false),
                                  "serve the dashboard without CML authentication"),
    insecure_ray = param(pick(d.insecure_ray, false), "allow a Ray version without token "
                         .. "authentication (before 2.52): an open cluster, warned on every run"),
    keep_partial = param(pick(d.keep_partial, false), "keep workers created before a failed create, "
                         .. "and keep pending applications waiting until timeouts.workers/head"),
    parallel = param(pick(d.parallel, 16), "concurrent create/delete requests", { min = 1, max = 128 }),
    -- issue 17: see raycai.ray.overlap and docs/performance.md for the default
    overlap = param(pick(d.overlap, "head"), "start applications while the setup job builds the venv "
                    .. "(their launchers wait for it): none, head (the CPU head only) or all (GPU workers too)",
                    { choices = { "none", "head", "all" } }),
    -- issue 16: read by the head's watcher from .raycai/<cluster>/autostop.json (raycai.ray.autostop),
    -- never by a launcher's text or an application's spec: changing them rolls nothing
    autostop = {
      idle_minutes = param(pick((d.autostop or {}).idle_minutes, 0), "minutes without Ray driver activity "
                           .. "after which the head stops the cluster (fractions allowed); 0: never",
                           { type = "number", check = require("raycai.ray.autostop").check_minutes }),
      down = param(pick((d.autostop or {}).down, false), "autostop deletes the applications instead of "
                   .. "suspending them (the venv and project files stay)"),
    },
    timeouts = {
      project = param(pick(t.project, 120), "seconds to wait for a new project", { min = 1 }),
      setup = param(pick(t.setup, 1800), "seconds the setup job may run", { min = 1 }),
      head = param(pick(t.head, 600), "seconds to wait for the head to run", { min = 1 }),
      workers = param(pick(t.workers, 900), "seconds to wait for all workers to run", { min = 1 }),
      pending = param(pick(t.pending, 240), "seconds an application may stay STARTING before it counts as "
                      .. "pending for want of GPU/CPU (removed unless keep_partial)", { min = 1 }),
      head_wait = param(pick(t.head_wait, 900), "seconds a worker waits for head.json", { min = 1 }),
      ray_start = param(pick(t.ray_start, 300), "seconds ray start may take", { min = 1 }),
      lock = param(pick(t.lock, 600), "seconds without a heartbeat after which a run's lock counts as stale",
                   { min = 1 }),
    },
  }
end


--- "token" when the cluster's Ray checks a per-generation token, "none" when it is open.
local function ray_auth(ctx)
  return versions.has_token_auth(ctx.params.ray.version) and "token" or "none"
end


--- The "ray auth:" text of status and the summary.
local function ray_auth_text(ctx)
  if ray_auth(ctx) == "token" then return "token (a fresh one per generation, in the project's files)" end
  return "none (insecure_ray)"
end


local function dashboard_url(ctx, st)
  local domain = ctx.state.domain
  if not domain or not st.names then return nil end
  return ("https://%s.%s"):format(st.names.head_subdomain, domain)
end


--- The head's address for the summary, from head.json unless already known. Workers join only
--- once head.json is written, so after up it is usually there. Plan read it already
--- (head.reads): that read serves when up changed nothing, or when it names this generation.
local function read_head_address(st, unchanged)
  if not st.head_address and st.generation and st.project and not st.head_json_read then
    st.head_json_read = true
    local head = require "raycai.ray.head"
    local early = st.head_json_early
    local info = early ~= nil and head.head_info(st, st.generation, early) or nil
    if not info and not (unchanged and early ~= nil) then info = head.head_info(st, st.generation) end
    st.head_address = info and info.address
  end
end


--- Take the cluster lock; after a successful up, its release reads head.json for the summary
--- in the same round trip.
local function lock(ctx, action)
  local release, err = require("raycai.ray.lock").acquire(ctx, action)
  if not release then return nil, err end
  return function(succeeded)
    local st = run_state.of(ctx)
    if action ~= "up" or not succeeded or not st or not st.client then return release() end
    st.client:together(release, function() read_head_address(st) end)
  end
end


--- After up: the data of the summary (head address, dashboard URL, workers ready, where the
--- time went) for raycai.ui.report.summary; nil when no Ray step ran.
local function summary(ctx)
  local st = run_state.of(ctx)
  if not st then return nil end
  read_head_address(st, ctx.state.unchanged)
  local armed, aerr = require("raycai.ray.autostop").arm(ctx, st, st.generation)  -- issue 16
  if not armed then ui.warn("could not arm autostop: " .. tostring(aerr)) end
  local overlap = require "raycai.ray.overlap"  -- issue 17: where the time went
  local phases = overlap.phases_line(st)
  return { cluster = ctx.params.cluster, project = st.project and st.project.name, generation = st.generation,
           head_address = st.head_address, head_pending = st.names.files.head_json,
           dashboard = dashboard_url(ctx, st), workers_ready = st.workers_ready or 0,
           workers = groups.total(ctx.params), ray_auth = ray_auth(ctx), ray_auth_text = ray_auth_text(ctx),
           phases = phases, phases_json = phases and overlap.phases_json(st, overlap.mode(ctx)) or nil }
end


--- status: the rows get their age (age_seconds); returns what the status says beside the table
--- (raycai.ui.report.status): healthy, suspended, dashboard, head address, ray auth.
local function status_info(ctx, rows)
  local st = run_state.of(ctx)
  local healthy = #rows > 0
  local now = os.time(os.date("!*t", math.floor(clock.time())))
  local autostop = #rows > 0 and require("raycai.ray.autostop").status_text(st) or "—"  -- issue 16
  -- (issue 16) every application STOPPED: suspended (by suspend), not broken
  local napps, nstopped = 0, 0
  for _, r in ipairs(rows) do
    if r.healthy == false then healthy = false end
    local t = apps.seconds(r.created_at)
    r.age_seconds = t and (now - math.floor(t)) or nil
    if r.role == "head" then r.autostop = autostop end  -- the cluster's setting, on the head's row
    if r.kind == "application" then
      napps = napps + 1
      if r.state == "APPLICATION_STOPPED" then nstopped = nstopped + 1 end
    end
  end
  return { healthy = healthy, suspended = napps > 0 and nstopped == napps,
           dashboard = st and st.project and dashboard_url(ctx, st) or nil, autostop = autostop,
           head_address = st and st.head_address, ray_auth = ray_auth(ctx), ray_auth_text = ray_auth_text(ctx) }
end


--- Whether the Ray dashboard asks for Ray's own credential when CML's login is bypassed.
--- Ray's token middleware (dashboard/http_server_head.py) leaves only /, /favicon.ico,
--- /static/, the health checks and the authentication endpoints open.
local function dashboard_ray_auth(ctx)
  if ray_auth(ctx) == "token" then
    return "the dashboard's API and job submission still require the cluster's Ray token (only its "
      .. "start page, static files and health checks are open)"
  end
  return "Ray itself asks for no token either (insecure_ray)"
end


--- plan and up: a Ray without token authentication is refused (nil, message, 2: before any
--- request) unless insecure_ray = true, which then warns on every run.
local function ray_auth_check(ctx)
  local p = ctx.params
  if ray_auth(ctx) == "token" then return true end
  if not p.insecure_ray then
    return nil, ("Ray %s has no token authentication (Ray 2.52 and "
      .. "later have it): its cluster would be open to every workload of the workspace; set ray.version "
      .. "to %s or later (default %s), or insecure_ray=true to run it open"):format(p.ray.version,
      table.concat(versions.TOKEN_AUTH_SINCE, "."), versions.DEFAULT), 2
  end
  ui.warn(("insecure_ray = true: Ray %s has no token authentication; anyone who can reach the head's "
    .. "pod from the workspace can connect a driver and run code as you"):format(p.ray.version))
  return true
end


--- plan and up, every run: one line per setting that opens the cluster to more people; a
--- refusal is nil, message, 2.
local function warnings(ctx)
  local ok, err, code = ray_auth_check(ctx)
  if not ok then return nil, err, code end
  if ctx.params.bypass_authentication then
    local note = dashboard_ray_auth(ctx)
    ui.warn("bypass_authentication = true: the head application serves the Ray dashboard, and with "
      .. "it Ray job submission (running code as you), to anyone who has its URL, without CML login"
      .. (note and ("; " .. note) or ""))
  end
  return true
end


--- The folder of the recipe file being run (raycai.sandbox), else of the first frame outside
--- raycai's library (a recipe loaded some other way), else nil.
local function caller_folder()
  local resource = require "raycai.resource"
  local file = require("raycai.sandbox").current_file()
  if file then return resource.dirname(file) end
  for level = 2, 30 do
    local info = debug.getinfo(level, "S")
    if not info then break end
    local src = info.source or ""
    if info.what ~= "C" and src:sub(1, 1) == "@" and not src:find("raycai/[%w_/]+%.lua$") then
      return resource.dirname(src:sub(2))
    end
  end
  return nil
end


local LAUNCHER_KEYS = { head = true, worker = true, setup = true }


--- launchers = { head = path, worker = path, setup = path, <group> = path }: each template read
--- from the recipe's folder (the engine reads it: the recipe's sandbox has no file access) and
--- checked now, so a missing or broken one is a recipe error at the recipe's line.
local function launcher_overrides(map, group_names)
  if map == nil then return nil end
  if type(map) ~= "table" then recipe.user_error("launchers must be a table { worker = \"templates/worker.py.tmpl\" }") end
  local folder = caller_folder() or "."
  local out = {}
  for key, path in pairs(map) do
    if not LAUNCHER_KEYS[key] and not group_names[key] then
      recipe.user_error(("launchers.%s: not a launcher (head, worker, setup or a group name)"):format(tostring(key)))
    end
    if type(path) ~= "string" or path == "" then recipe.user_error(("launchers.%s must be a file path"):format(key)) end
    local full = path:sub(1, 1) == "/" and path or require("raycai.resource").join(folder, path)
    local text, err = require("raycai.resource").read(full)
    if not text then
      recipe.user_error(("launchers.%s: template %s does not exist or cannot be read (%s); paths are relative "
        .. "to the recipe's folder"):format(key, path, tostring(err)))
    end
    local ok, cerr = require("raycai.template").check(text, { name = path })
    if not ok then recipe.user_error(("launchers.%s: template does not compile: %s"):format(key, cerr)) end
    out[key] = { text = text, name = path, override = true }
  end
  return out
end


--- (issue 13) The rules across the values of one role (raycai.ray.ray_start.check_role: a flag
--- both as parameter and in ray_args, labels for a Ray without them) for the head, the default
--- group and each named group. Runs on every action's values (recipe hooks.check). Returns true
--- or nil, message naming the parameter.
--- launchers: the recipe's launcher overrides (launcher_overrides): one that would drop a role's
--- ray_resources or ray_labels (its text never names ray.resources / ray.labels) is refused too.
local function check_roles(v, launchers)
  local roles = { { "head", v.head, "head" }, { "worker", v.worker, "worker" } }
  local names = {}
  for name in pairs(v.groups or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do roles[#roles + 1] = { "groups." .. name, v.groups[name], name } end
  for _, r in ipairs(roles) do
    local key, values, role = r[1], r[2], r[3]
    local ok, err = ray_start.check_role(key, values, v.ray.version)
    if not ok then return nil, err end
    local src = launchers and (launchers[role] or role ~= "head" and launchers.worker)
    for _, name in ipairs({ "ray_resources", "ray_labels" }) do
      local var = "ray." .. name:sub(5)
      if src and next(values[name] or {}) ~= nil and not src.text:find(var, 1, true) then
        return nil, ("%s.%s is set but the launcher override %s never uses %s: add it as raycai's "
          .. "templates do (lua/raycai/templates/README.md)"):format(key, name, src.name, var)
      end
    end
  end
  return true
end


--- A Ray cluster recipe.
---@param def {name:string, doc?:string, defaults?:table, extra_steps?:table, launchers?:table<string,string>}
function M.recipe(def)
  local steps = { M.setup_venv, M.write_launchers, M.start_head, M.start_workers }
  for _, s in ipairs(def.extra_steps or {}) do steps[#steps + 1] = s end
  local tree = M.params(def.defaults)
  -- the recipe's own defaults are checked now, so a bad one is an error at the recipe's line
  local params = require "raycai.params"
  local ok, verr = params.validate(tree, params.defaults(tree))
  if not ok then recipe.user_error(verr) end
  local launchers = launcher_overrides(def.launchers, tree.groups)
  ok, verr = check_roles(params.defaults(tree), launchers)
  if not ok then recipe.user_error(verr) end
  local r = recipe.new { name = def.name, doc = def.doc, params = tree, steps = steps, launchers = launchers,
                         needs = M.NEEDS }
  r.hooks.summary = summary
  r.hooks.lock = lock
  r.hooks.status_info = status_info
  r.hooks.warnings = warnings
  r.hooks.check = function(values) return check_roles(values, launchers) end
  return r
end


return M
