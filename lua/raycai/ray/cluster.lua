-- raycai.ray.cluster: what every Ray step needs first: the CML client, the project (found by
-- name or id, created by `up` when missing), the cluster's names and the resolved runtimes.
-- Computed once per run and kept in ctx.state.ray (raycai.ray.state.RayRunState).
local naming = require "raycai.ray.naming"
local ui = require "raycai.ui"
local poll = require "raycai.cml.poll"
local versions = require "raycai.ray.versions"
local sorted_set = require("raycai.tables").sorted_keys

local M = {}

local RUNTIMES_NEEDED = { up = true, plan = true }  -- actions whose steps resolve runtimes
local PROJECT_ID = "^" .. string.rep("[a-z0-9][a-z0-9][a-z0-9][a-z0-9]", 4, "%-") .. "$"


--- The project with this exact name or id, or false when there is none.
local function find_project(client, ref)
  if ref:match(PROJECT_ID) then
    local p, err = client:get_project(ref)
    if p then return p end
    if err.status ~= 404 and err.status ~= 403 then return nil, err end
  end
  return client:find_named("list_projects", {}, ref)
end


local function creating(project)
  return project.creation_status == "creating" or project.creation_status == "unknown"
end


--- Wait until a new project has finished creating.
local function wait_project(client, project, timeout)
  if creating(project) then
    local ok, err = poll.wait(function()
      local p, gerr = client:get_project(project.id)
      if not p then return nil, gerr end
      project = p
      return not creating(p), false
    end, { timeout = timeout, initial = poll.FIRST, max = 2, on_timeout = function()
      return ("project %s is still being created after %d s"):format(project.name, timeout)
    end })
    if not ok then return nil, err end
  end
  if project.creation_status ~= "success" and project.creation_status ~= nil and project.creation_status ~= "" then
    return nil, ("project %s could not be created (creation_status %s)"):format(project.name, project.creation_status)
  end
  return project
end


local function version_key(rt)
  -- image tags look like ...:2025.09.1-b5; compare numerically part by part
  local tag = (rt.image_identifier or ""):match(":([^:]+)$") or rt.full_version or ""
  local parts = {}
  for n in tag:gmatch("%d+") do parts[#parts + 1] = tonumber(n) end
  return parts
end


--- Among runtimes of the same version, the editor preferred (an application needs no editor, so
--- any will do; the order only makes the choice stable): Workbench, PBJ Workbench, JupyterLab,
--- then any other editor by name.
M.EDITOR_ORDER = { "Workbench", "PBJ Workbench", "JupyterLab" }
local EDITOR_RANK = {}
for i, e in ipairs(M.EDITOR_ORDER) do EDITOR_RANK[e] = i end


--- Is runtime a preferred to b: newer, then the editor order, then the identifier?
local function preferred(a, b)
  local ka, kb = version_key(a), version_key(b)
  for i = 1, math.max(#ka, #kb) do
    local x, y = ka[i] or -1, kb[i] or -1
    if x ~= y then return x > y end
  end
  local ra, rb = EDITOR_RANK[a.editor] or #M.EDITOR_ORDER + 1, EDITOR_RANK[b.editor] or #M.EDITOR_ORDER + 1
  if ra ~= rb then return ra < rb end
  if (a.editor or "") ~= (b.editor or "") then return (a.editor or "") < (b.editor or "") end
  return (a.image_identifier or "") < (b.image_identifier or "")
end


local function enabled(rt)
  return rt.status == nil or rt.status == "" or rt.status == "ENABLED"
end


--- The one-line error when no runtime matches: what the workspace offers for that edition
--- (kernels, editors, a few identifiers) and how to choose.
local function no_match(client, spec)
  local role = spec.role or "head"
  local what = ("edition %q and kernel %q"):format(spec.edition or "", spec.kernel or "")
  if spec.editor and spec.editor ~= "" then what = what .. (" and editor %q"):format(spec.editor) end
  local list = client:list_all("list_runtimes", {}, { search_filter = { edition = spec.edition } })
  if not list then
    return ("no enabled runtime with %s in this workspace for the %s; set python.kernel, %s.edition "
      .. "or %s.runtime=<identifier>"):format(what, role, role, role)
  end
  local kernels, editors, ids = {}, {}, {}
  for _, rt in ipairs(list) do
    if enabled(rt) and rt.edition == spec.edition then
      if rt.kernel then kernels[rt.kernel] = true end
      if rt.editor then editors[rt.editor] = true end
      if #ids < 3 then ids[#ids + 1] = rt.image_identifier end
    end
  end
  local offer
  if not next(kernels) then
    offer = ("it has no enabled %s runtime at all; set %s.edition to an edition it has"):format(
      spec.edition or "", role)
  else
    offer = ("for %s it offers kernels %s, editors %s (e.g. %s); set python.kernel=...%s, "
      .. "or give %s.runtime=<identifier>"):format(spec.edition,
      table.concat(sorted_set(kernels), ", "), table.concat(sorted_set(editors), ", "),
      table.concat(ids, ", "), (spec.editor and spec.editor ~= "") and ", clear python.editor" or "", role)
  end
  return ("no enabled runtime with %s in this workspace for the %s; %s"):format(what, role, offer)
end


--- Resolve a runtime: the identifier when given (checked), else the newest ENABLED runtime of
--- that edition and kernel; the editor is a filter only when spec.editor is set, else a
--- preference among equal versions (M.EDITOR_ORDER).
--- candidates: runtimes already listed (a superset of the matching ones), or nil to list them.
function M.resolve_runtime(client, cache, spec, candidates)
  local key = table.concat({ spec.runtime or "", spec.edition or "", spec.kernel or "", spec.editor or "" }, "|")
  if cache[key] then return cache[key] end
  local by_id = spec.runtime and spec.runtime ~= ""
  local filter = {}
  if by_id then
    filter.image_identifier = spec.runtime
  else
    filter.edition, filter.kernel = spec.edition, spec.kernel
    if spec.editor and spec.editor ~= "" then filter.editor = spec.editor end
  end
  local list, err = candidates, nil
  if not list then list, err = client:list_all("list_runtimes", {}, { search_filter = filter }) end
  if not list then return nil, "could not list runtimes: " .. tostring(err) end
  local best
  for _, rt in ipairs(list) do
    local fits
    if by_id then fits = rt.image_identifier == spec.runtime
    else
      fits = rt.edition == spec.edition and rt.kernel == spec.kernel
        and (not spec.editor or spec.editor == "" or rt.editor == spec.editor)
    end
    if fits and enabled(rt) and (not best or preferred(rt, best)) then best = rt end
  end
  if not best then
    if by_id then
      return nil, ("runtime %s is not available (or not enabled) in this workspace; "
        .. "check the identifier, or leave %s.runtime empty to pick the newest %s %s runtime"):format(
        spec.runtime, spec.role or "head", spec.edition or "", spec.kernel or "")
    end
    return nil, no_match(client, spec)
  end
  cache[key] = best.image_identifier
  cache.kernels = cache.kernels or {}  -- the kernel of each resolved runtime (Ray's wheels need it)
  cache.kernels[best.image_identifier] = best.kernel
  return best.image_identifier
end


--- The project's /dev/shm size raycai wants, in MB: shm_mb, or (0, the default) enough for Ray's
--- object store on the biggest node (ray.object_store_mb, else Ray's default 30% of the node's
--- memory) plus a tenth, at least 8192.
function M.shm_mb(p)
  if p.shm_mb > 0 then return math.floor(p.shm_mb) end
  local biggest = p.head.memory
  for _, g in ipairs(require("raycai.ray.groups").of(p)) do
    if g.workers > 0 then biggest = math.max(biggest, g.memory) end
  end
  local store = p.ray.object_store_mb > 0 and p.ray.object_store_mb or biggest * 1024 * 0.3
  return math.max(8192, math.ceil(store * 1.1))
end


--- The project's shared_memory_limit when raycai would raise it, else nil (it never lowers it).
function M.shm_change(p, project)
  local have = tonumber(project and project.shared_memory_limit) or 64
  local want = M.shm_mb(p)
  if have < want then return have, want end
end


--- Raise the project's shared_memory_limit when lower than wanted; true or nil, err.
local function raise_shm(ctx, client, project)
  local have, want = M.shm_change(ctx.params, project)
  if not have then return true end
  local updated, err = client:update_project(project.id, { shared_memory_limit = want })
  if not updated then
    return nil, ("could not raise the shared memory (/dev/shm) of project %s from %d to %d MB: %s; "
      .. "raise it in the project settings or set shm_mb lower"):format(project.name, have, want, tostring(err))
  end
  project.shared_memory_limit = want
  ui.object("updated", "project", project.name, { shared_memory_limit = want })
  return true
end


--- Prepare the cluster for a step: ctx.state.ray (raycai.ray.state: every field and its
--- writer). With create=true (up) a missing project is created; without it (plan, status,
--- down) a missing project is reported as state.project == false. Returns the state or
--- nil, err[, code].
---@return raycai.ray.RayRunState? st
function M.prepare(ctx, create)
  local st = ctx.state.ray
  if st and st.project and create and not st.shm_raised then
    -- found by an earlier look (the lock, a plan): up still raises its shared memory
    st.shm_raised = true
    local ok, serr = raise_shm(ctx, st.client, st.project)
    if not ok then return nil, serr end
  end
  if st and (st.project or not create) then return st end
  local p = ctx.params
  local ok, err = naming.check_cluster(p.cluster)
  if not ok then return nil, err end
  local client, client_err, client_code = ctx:client()
  if not client then return nil, client_err, client_code end
  st = st or require("raycai.ray.state").new(client, require("raycai.clock").monotonic())
  ctx.state.ray = st
  -- a plan in this run already looked the project up and found none: create it straight away
  -- (a project created meanwhile by another run answers 409 and is adopted below)
  local project, perr = false, nil
  if st.project ~= false then
    if RUNTIMES_NEEDED[ctx.options.action] and not st.runtime_ids then
      -- up and plan resolve the runtimes anyway: list them with the project lookup
      local res = client:together(function() return find_project(client, p.project) end,
        function() return M.runtimes(ctx) end)
      project, perr = res[1][1], res[1][2]
      if not res[2][1] then st.runtime_error, st.runtime_code = res[2][2], res[2][3] end
    else
      project, perr = find_project(client, p.project)
    end
  end
  if project == nil then return nil, ("could not look up project %s: %s"):format(p.project, tostring(perr)) end
  -- a runtime that cannot be resolved fails the run anyway: before creating anything
  if not project and create and st.runtime_error then return nil, st.runtime_error, st.runtime_code end
  if not project and create then
    if p.project:match(PROJECT_ID) then
      return nil, ("project %s does not exist; give a project name to create one"):format(p.project)
    end
    local created, cerr = client:create_project { name = p.project, template = "local",
      description = "Ray clusters deployed by raycai", default_project_engine_type = "ml_runtime",
      shared_memory_limit = M.shm_mb(p) }
    -- fresh: this run made the project, so it holds nothing raycai did not put there in this
    -- run; the steps skip the lookups whose answer is then known (no files, jobs, applications)
    st.fresh = created and true or false
    if not created and cerr.status == 409 then
      -- another run created it a moment ago: use that one
      created, perr = find_project(client, p.project)
      if not created then cerr = perr or cerr end
    end
    if not created then
      return nil, ("project %s does not exist and could not be created: %s"):format(p.project, tostring(cerr))
    end
    ui.object("created", "project", p.project, { id = created.id })
    project, perr = wait_project(client, created, ctx.params.timeouts.project)
    if not project then return nil, perr end
  end
  if project and create then
    st.shm_raised = true
    local raised, serr = raise_shm(ctx, client, project)
    if not raised then return nil, serr end
  end
  st.project = project
  if project then
    st.names = naming.for_cluster(p.cluster, project.id)
  else
    st.names = naming.for_cluster(p.cluster, p.project)
  end
  return st
end


--- The runtime identifiers of the head and each worker group: { head = id, worker = id,
--- [group] = id } or nil, err[, 2 when the recipe cannot work on the runtime].
function M.runtimes(ctx)
  local st = ctx.state.ray
  if st.runtime_ids then return st.runtime_ids end
  if st.runtime_error then return nil, st.runtime_error, st.runtime_code end
  local p = ctx.params
  local list = require("raycai.ray.groups").of(p)
  local candidates, err
  local by_edition, editions = true, { [p.head.edition] = true }
  for _, g in ipairs(list) do
    if g.runtime ~= "" then by_edition = false end
    editions[g.edition] = true
  end
  if p.head.runtime == "" and by_edition and next(editions, next(editions)) ~= nil then
    -- all by edition, several editions: one list of this kernel (and editor) serves them all
    local filter = { kernel = p.python.kernel }
    if p.python.editor ~= "" then filter.editor = p.python.editor end
    candidates, err = st.client:list_all("list_runtimes", {}, { search_filter = filter })
    if not candidates then return nil, "could not list runtimes: " .. tostring(err) end
  end
  local ids = {}
  local head
  head, err = M.resolve_runtime(st.client, st.runtimes, { runtime = p.head.runtime,
    edition = p.head.edition, kernel = p.python.kernel, editor = p.python.editor, role = "head" }, candidates)
  if not head then return nil, err end
  ids.head = head
  for _, g in ipairs(list) do
    local id
    id, err = M.resolve_runtime(st.client, st.runtimes, { runtime = g.runtime, edition = g.edition,
      kernel = p.python.kernel, editor = p.python.editor,
      role = g.name == "worker" and "worker" or ("groups." .. g.name) }, candidates)
    if not id then return nil, err end
    ids[g.name] = id
  end
  for _, id in pairs(ids) do
    local problem = versions.python_problem(p.ray.version, st.runtimes.kernels[id] or p.python.kernel)
    -- the recipe cannot work on this runtime: a usage error (exit 2), found before any change
    if problem then return nil, problem, 2 end
  end
  st.runtime_ids = ids
  return st.runtime_ids
end


return M
