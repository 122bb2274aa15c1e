-- raycai.ray.cluster: what every Ray step needs first: the CML client, the project (found by
-- name or id, created by `up` when missing), the cluster's names and the resolved runtimes.
-- Computed once per run and kept in ctx.state.ray.
local naming = require "raycai.ray.naming"
local ui = require "raycai.ui"
local poll = require "raycai.ray.poll"
local versions = require "raycai.ray.versions"
local context = require "raycai.context"

local M = {}

local RUNTIMES_NEEDED = { up = true, plan = true }  -- actions whose steps resolve runtimes
local PROJECT_ID = "^" .. string.rep("[a-z0-9][a-z0-9][a-z0-9][a-z0-9]", 4, "%-") .. "$"


--- Every item of a list, all pages: the client's own walker with raycai's page size (100).
function M.list_all(client, method, args, opts)
  local o = { page_size = 100 }
  for k, v in pairs(opts or {}) do o[k] = v end
  local call_args = { table.unpack(args) }
  call_args[#call_args + 1] = o
  return client:all(method, table.unpack(call_args))
end


--- The item of a list named exactly `name` (the API's name filter matches substrings), or
--- false when there is none, or nil, err.
function M.find_named(client, method, args, name)
  local list, err = M.list_all(client, method, args, { search_filter = { name = name } })
  if not list then return nil, err end
  for _, item in ipairs(list) do
    if item.name == name then return item end
  end
  return false
end


--- The project with this exact name or id, or false when there is none.
local function find_project(client, ref)
  if ref:match(PROJECT_ID) then
    local p, err = client:get_project(ref)
    if p then return p end
    if err.status ~= 404 and err.status ~= 403 then return nil, err end
  end
  return M.find_named(client, "list_projects", {}, ref)
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


local function newer(a, b)
  local ka, kb = version_key(a), version_key(b)
  for i = 1, math.max(#ka, #kb) do
    local x, y = ka[i] or -1, kb[i] or -1
    if x ~= y then return x > y end
  end
  return (a.image_identifier or "") > (b.image_identifier or "")
end


--- Resolve a runtime: the identifier when given (checked), else the newest ENABLED runtime of
--- that edition, kernel and editor.
--- candidates: runtimes already listed (a superset of the matching ones), or nil to list them.
function M.resolve_runtime(client, cache, spec, candidates)
  local key = table.concat({ spec.runtime or "", spec.edition or "", spec.kernel or "", spec.editor or "" }, "|")
  if cache[key] then return cache[key] end
  local filter = {}
  if spec.runtime and spec.runtime ~= "" then
    filter.image_identifier = spec.runtime
  else
    filter.edition, filter.kernel, filter.editor = spec.edition, spec.kernel, spec.editor
  end
  local list, err = candidates, nil
  if not list then list, err = M.list_all(client, "list_runtimes", {}, { search_filter = filter }) end
  if not list then return nil, "could not list runtimes: " .. tostring(err) end
  local best
  for _, rt in ipairs(list) do
    local exact = not (spec.runtime and spec.runtime ~= "") or rt.image_identifier == spec.runtime
    local enabled = rt.status == nil or rt.status == "" or rt.status == "ENABLED"
    if exact and enabled and (spec.runtime ~= "" or (rt.edition == spec.edition and rt.kernel == spec.kernel
        and (not spec.editor or spec.editor == "" or rt.editor == spec.editor))) then
      if not best or newer(rt, best) then best = rt end
    end
  end
  if not best then
    if spec.runtime and spec.runtime ~= "" then
      return nil, ("runtime %s is not available (or not enabled) in this workspace; "
        .. "check the identifier, or leave it empty to pick the newest %s %s runtime"):format(
        spec.runtime, spec.edition or "", spec.kernel or "")
    end
    return nil, ("no enabled runtime with edition %q, kernel %q and editor %q in this workspace; "
      .. "set a runtime identifier (--set %s.runtime=...) or another edition/kernel"):format(
      spec.edition or "", spec.kernel or "", spec.editor or "", spec.role or "head")
  end
  cache[key] = best.image_identifier
  cache.kernels = cache.kernels or {}  -- the kernel of each resolved runtime (Ray's wheels need it)
  cache.kernels[best.image_identifier] = best.kernel
  return best.image_identifier
end


--- Prepare the cluster for a step. With create=true (up) a missing project is created; without
--- it (plan, status, down) a missing project is reported as state.project == false.
function M.prepare(ctx, create)
  local st = ctx.state.ray
  if st and (st.project or not create) then return st end
  local p = ctx.params
  local ok, err = naming.check_cluster(p.cluster)
  if not ok then return nil, err end
  local client = ctx:client()
  st = st or { client = client, runtimes = {} }
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
      if not res[2][1] then st.runtime_error = res[2][2] end
    else
      project, perr = find_project(client, p.project)
    end
  end
  if project == nil then return nil, ("could not look up project %s: %s"):format(p.project, tostring(perr)) end
  -- a runtime that cannot be resolved fails the run anyway: before creating anything
  if not project and create and st.runtime_error then return nil, st.runtime_error end
  if not project and create then
    if p.project:match(PROJECT_ID) then
      return nil, ("project %s does not exist; give a project name to create one"):format(p.project)
    end
    local created, cerr = client:create_project { name = p.project, template = "local",
      description = "Ray clusters deployed by raycai", default_project_engine_type = "ml_runtime" }
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
  st.project = project
  if project then
    st.names = naming.for_cluster(p.cluster, project.id)
  else
    st.names = naming.for_cluster(p.cluster, p.project)
  end
  return st
end


--- The runtime identifiers of head and workers: { head = id, worker = id } or nil, err.
function M.runtimes(ctx)
  local st = ctx.state.ray
  if st.runtime_ids then return st.runtime_ids end
  if st.runtime_error then return nil, st.runtime_error end
  local p = ctx.params
  local candidates, err
  if p.head.runtime == "" and p.worker.runtime == "" and p.head.edition ~= p.worker.edition then
    -- both by edition: one list of this kernel and editor serves both (one request, not two)
    candidates, err = M.list_all(st.client, "list_runtimes", {},
      { search_filter = { kernel = p.python.kernel, editor = p.python.editor } })
    if not candidates then return nil, "could not list runtimes: " .. tostring(err) end
  end
  local head
  head, err = M.resolve_runtime(st.client, st.runtimes, { runtime = p.head.runtime,
    edition = p.head.edition, kernel = p.python.kernel, editor = p.python.editor, role = "head" }, candidates)
  if not head then return nil, err end
  local worker
  worker, err = M.resolve_runtime(st.client, st.runtimes, { runtime = p.worker.runtime,
    edition = p.worker.edition, kernel = p.python.kernel, editor = p.python.editor, role = "worker" }, candidates)
  if not worker then return nil, err end
  for _, id in ipairs { head, worker } do
    local problem = versions.python_problem(p.ray.version, st.runtimes.kernels[id] or p.python.kernel)
    -- the recipe cannot work on this runtime: a usage error (exit 2), raised before any change
    if problem then error(setmetatable({ usage = true, message = problem }, context.UsageError), 0) end
  end
  st.runtime_ids = { head = head, worker = worker }
  return st.runtime_ids
end


return M
