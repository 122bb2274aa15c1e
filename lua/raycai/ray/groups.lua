-- raycai.ray.groups: worker groups. Every Ray recipe has the default group `worker` (parameters
-- workers and worker.*, applications raycai-<cluster>-worker-<i>) and any named groups of
-- `groups = { cpu = { workers = 8, cpu = 4, ... } }` (parameters groups.<name>.*, applications
-- raycai-<cluster>-<name>-<i>). Each group has its own resources, runtime, env, ray_args and Ray
-- resources/labels. Design choices (docs/recipes.md "Worker groups"):
--   * a group name is a DNS label of at most MAX_NAME characters (it is part of the application
--     name and subdomain), never a role (head, setup, submit) nor the default group's name;
--   * applications of a named group carry RAYCAI_GROUP in their environment: up deletes those of
--     a group no longer in the recipe, found by name prefix and that variable (so a cluster named
--     like a prefix of another never touches the other's applications).
local M = {}

M.DEFAULT = "worker"
M.MAX_NAME = 20  -- <cluster 30>-<tag 6>-<group>-<index 4> stays within a 63-character DNS label
M.ROLES = { head = true, setup = true, submit = true, worker = true }


--- Check a group name. Returns true or nil, message naming the fix.
function M.check_name(name)
  if type(name) ~= "string" or name == "" then return nil, "a worker group needs a name" end
  if M.ROLES[name] then
    if name == M.DEFAULT then
      return nil, "group 'worker' is the default group: set its size and resources with workers and "
        .. "worker = { ... }, or give the extra group another name"
    end
    return nil, ("group name '%s' is a raycai role (head, setup, submit): choose another name"):format(name)
  end
  if #name > M.MAX_NAME or not name:match("^[a-z0-9]+$") and not name:match("^[a-z0-9][a-z0-9%-]*[a-z0-9]$")
     or name:find("%-%-") then
    return nil, ("group name %q is not valid: use at most %d lowercase letters a-z, digits 0-9 and "
      .. "single hyphens between them (it becomes part of application names and subdomains)"):format(name, M.MAX_NAME)
  end
  return true
end


--- The groups of a recipe's defaults, as a list { name, def } sorted by name: `groups` may be a
--- map { name = def } or a list { { name = ..., ... } }. Returns the list or nil, err.
function M.definitions(groups)
  if groups == nil then return {} end
  if type(groups) ~= "table" then return nil, "groups must be a table { name = { workers = ..., ... } }" end
  local out, seen = {}, {}
  local function add(name, def)
    local ok, err = M.check_name(name)
    if not ok then return nil, err end
    if seen[name] then return nil, ("group '%s' is defined twice: give each group its own name"):format(name) end
    if type(def) ~= "table" then return nil, ("group '%s' must be a table { workers = ..., cpu = ... }"):format(name) end
    seen[name] = true
    out[#out + 1] = { name = name, def = def }
    return true
  end
  for i, def in ipairs(groups) do
    local ok, err = add(type(def) == "table" and def.name or nil, def)
    if not ok then return nil, ("groups[%d]: %s"):format(i, err) end
  end
  for k, def in pairs(groups) do
    if type(k) ~= "number" then
      local ok, err = add(k, def)
      if not ok then return nil, err end
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end


--- The groups of parameter values p: the default group first, then the named ones by name.
--- Each is { name, workers, cpu, memory, gpu, edition, runtime, env, ray_args, ray_resources,
--- ray_labels } (the parameters' own names).
function M.of(p)
  local function group(name, r, env)
    return { name = name, workers = r.workers, cpu = r.cpu, memory = r.memory, gpu = r.gpu, edition = r.edition,
             runtime = r.runtime, env = env or {}, ray_args = r.ray_args or {},
             ray_resources = r.ray_resources or {}, ray_labels = r.ray_labels or {} }
  end
  local list = { group(M.DEFAULT, p.worker) }
  list[1].workers = p.workers
  local names = {}
  for name in pairs(p.groups or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do list[#list + 1] = group(name, p.groups[name], p.groups[name].env) end
  return list
end


--- Workers of every group.
function M.total(p)
  local n = 0
  for _, g in ipairs(M.of(p)) do n = n + g.workers end
  return n
end


return M
