-- raycai.ray.ray_start: the settings of one role (head, worker or a group) that go onto its
-- `ray start` command line: ray_args (extra arguments), ray_resources (Ray custom resources,
-- `--resources '<json>'`) and ray_labels (Ray node labels, `--labels k=v,...`). The checks refuse
-- what Ray itself refuses before it starts anything, so a mistake is a recipe error (exit 2,
-- nothing sent) instead of a worker that never joins. Anchors: KubeRay's top-level
-- `resources`/`labels` of a group spec and Ray's available_node_types[...].resources/labels.
local versions = require "raycai.ray.versions"
local sorted_keys = require("raycai.tables").sorted_keys

local M = {}

-- `ray start` flags raycai sets itself (a ray_args entry naming one is refused).
local OWNED_FLAGS = { "--head", "--address", "--port", "--block", "--node-ip-address", "--dashboard-" }

--- Ray's default resources (ray_constants.DEFAULT_RESOURCES, the same at the 2.40 line and
--- master 2026-03): RayParams refuses them in --resources ("cannot be a custom resource"); each
--- has its own flag, or is raycai's (--num-cpus/--num-gpus from cpu/gpu).
M.RESERVED_RESOURCES = {
  CPU = "--num-cpus (raycai sets it from cpu)", GPU = "--num-gpus (raycai sets it from gpu)",
  memory = "--memory in ray_args", object_store_memory = "ray.object_store_mb",
}

--- The flag of each parameter, and the parameter of each flag (a ray_args entry giving the same
--- flag as a parameter is refused: click keeps only the last of a repeated option).
M.FLAGS = { ray_resources = "--resources", ray_labels = "--labels" }


--- The option name of a ray_args word ("--resources={...}" -> "--resources"), or "".
local function flag_of(word)
  return word:match("^(%-%-[%w%-]+)") or ""
end


--- ray_args: extra `ray start` arguments, one list entry per argv word (no shell runs them).
--- Returns true or nil, message.
function M.check_args(list)
  for _, a in ipairs(list) do
    local head = flag_of(a)
    for _, flag in ipairs(OWNED_FLAGS) do
      if head == flag or (flag:sub(-1) == "-" and head:sub(1, #flag) == flag) then
        return nil, ("'%s': raycai sets %s itself; remove it from ray_args"):format(a, flag:sub(-1) == "-"
          and (flag .. "*") or flag)
      end
    end
    if a:find("[%$`;|&<>\\\n\r%z]") then
      return nil, ("'%s' contains shell syntax ($ ` ; | & < > \\ or a line break); give one argument per "
        .. "entry, such as \"--num-cpus=4\""):format(a)
    end
    if a == "" then return nil, "an empty argument; remove it" end
  end
  return true
end


--- A resource quantity as Ray takes it: a finite number >= 0 (Lua number or numeric string,
--- as `--set x.ray_resources.name=2` gives). Returns the number or nil.
local function quantity(v)
  local n = tonumber(v)
  if not n or n ~= n or n == math.huge or n < 0 then return nil end
  return n
end


--- ray_resources: { name = quantity }. Ray's parse_resources_json wants a JSON object of numbers;
--- RayParams refuses its default resources. "node:" names are Ray's own per-node resources
--- (node:<ip>, node:__internal_head__): refused too (inferred, docs/cml-sim.md).
function M.check_resources(map)
  for k, v in pairs(map) do
    if type(k) ~= "string" or k == "" then
      return nil, "a resource needs a name, such as preprocess = 1"
    end
    if M.RESERVED_RESOURCES[k] then
      return nil, ("'%s' is one of Ray's default resources, not a custom one: use %s"):format(k, M.RESERVED_RESOURCES[k])
    end
    if k:sub(1, 5) == "node:" then
      return nil, ("'%s': Ray names its own per-node resources node:...; choose another name"):format(k)
    end
    if not quantity(v) then
      return nil, ("resource '%s' is %q; give a number >= 0, such as %s = 1"):format(k, tostring(v), k)
    end
  end
  return true
end


-- Ray's label syntax (python/ray/_private/label_utils.py, Kubernetes' rules): a name or value
-- of at most 63 characters, alphanumerics at both ends, - _ . and alphanumerics between; a key
-- may have a DNS-subdomain prefix of at most 253 characters before a "/".
local function label_word(s)
  return #s <= 63 and (s:match("^[%w]$") ~= nil or s:match("^[%w][%w_%.%-]*[%w]$") ~= nil)
end

local function label_prefix(s)
  if s == "" or #s > 253 then return false end
  for part in (s .. "."):gmatch("(.-)%.") do
    if part ~= "" and not label_word(part) then return false end
  end
  return true
end


--- ray_labels: { key = value } with Ray's label syntax (validate_label_key, validate_label_value).
function M.check_labels(map)
  for k, v in pairs(map) do
    if type(k) ~= "string" then return nil, "a label needs a name, such as tier = \"cpu\"" end
    local prefix, name = k:match("^(.*)/([^/]*)$")
    if prefix and not label_prefix(prefix) then
      return nil, ("label key prefix '%s' is not valid: DNS labels separated by dots, at most 253 "
        .. "characters"):format(prefix)
    end
    name = name or k
    if not label_word(name) then
      return nil, ("label key '%s' is not valid: at most 63 characters, letters and digits at both ends, "
        .. "- _ . letters and digits between"):format(k)
    end
    v = tostring(v)
    if v ~= "" and not label_word(v) then
      return nil, ("label %s = '%s': the value is not valid: at most 63 characters, letters and digits at "
        .. "both ends, - _ . letters and digits between (or empty)"):format(k, v)
    end
  end
  return true
end


--- The rules that need more than one value of role r (its ray_resources, ray_labels, ray_args)
--- and the cluster's Ray version. key: the role's parameter prefix ("head", "worker",
--- "groups.cpu"). Returns true or nil, message naming the parameter.
function M.check_role(key, r, version)
  for param, flag in pairs(M.FLAGS) do
    if next(r[param] or {}) ~= nil then
      for _, a in ipairs(r.ray_args or {}) do
        if flag_of(a) == flag then
          return nil, ("%s.ray_args has '%s' and %s.%s is set: give %s in one place (%s.%s)")
            :format(key, a, key, param, flag, key, param)
        end
      end
    end
  end
  if next(r.ray_labels or {}) ~= nil and not versions.has_labels(version) then
    local since = table.concat(versions.LABELS_SINCE, ".")
    return nil, ("%s.ray_labels: Ray %s takes no `--labels key=value` (Ray %s and later do); set "
      .. "ray.version to %s.0 or later (default %s), or remove the labels"):format(key, version, since, since,
      versions.DEFAULT)
  end
  return true
end


--- JSON of a resources map with sorted keys (the same text for the same map: a stable spec hash).
function M.resources_json(map)
  local cjson = require "cjson"
  local keys = sorted_keys(map or {})
  if #keys == 0 then return "" end
  local parts = {}
  for i, k in ipairs(keys) do
    local n = quantity(map[k])
    parts[i] = cjson.encode(k) .. ": " .. (math.type(n) == "float" and n == math.floor(n) and ("%d"):format(n)
      or cjson.encode(n))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end


--- "k1=v1,k2=v2" of a labels map, sorted by key ("" when empty).
function M.labels_text(map)
  local parts = {}
  for i, k in ipairs(sorted_keys(map or {})) do parts[i] = k .. "=" .. tostring(map[k]) end
  return table.concat(parts, ",")
end


return M
