-- raycai.params: typed recipe parameters. A recipe declares a tree of parameters; each leaf has a
-- default, a one-line doc and a type taken from the default (or given). `--set a.b=v` values are
-- parsed by that type and checked; unknown keys get the closest name suggested.
local M = {}

local Param = {}
Param.__index = Param

local TYPES = { string = true, integer = true, number = true, boolean = true, list = true, map = true }


--- Declare a parameter.
---@param default any  the default value (its type is the parameter's type unless opts.type)
---@param doc string   one line shown by `raycai-run RECIPE params`
---@param opts? ParamOpts  type, min, max, choices, pattern (+ hint), check(v) -> ok, message
function M.param(default, doc, opts)
  opts = opts or {}
  local t = opts.type
  if not t then
    local lt = type(default)
    if lt == "number" then t = math.type(default) == "integer" and "integer" or "number"
    elseif lt == "table" then t = (#default > 0 or next(default) == nil) and "list" or "map"
    elseif lt == "string" or lt == "boolean" then t = lt
    else error("param: cannot tell the type of a " .. lt .. " default; give opts.type", 2) end
  end
  if not TYPES[t] then error("param: unknown type '" .. tostring(t) .. "'", 2) end
  if type(doc) ~= "string" then error("param: a one-line doc string is required", 2) end
  return setmetatable({ default = default, doc = doc, type = t, min = opts.min, max = opts.max,
                        choices = opts.choices, pattern = opts.pattern, hint = opts.hint, check = opts.check,
                        secret = opts.secret }, Param)
end


function M.is_param(v)
  return getmetatable(v) == Param
end


--- (issue 13) Mark the group `node` of a parameter tree open: recipe:with{ defaults } may add a
--- child `name` to it, made by grow(name, defaults) -> a subtree (raising a recipe error for a bad
--- one). Worker groups use it. Returns node.
function M.growable(node, grow)
  return setmetatable(node, { grow = grow })
end


--- The grow function of an open group (M.growable), or nil.
function M.grower(node)
  local mt = not M.is_param(node) and getmetatable(node)
  return mt and mt.grow or nil
end


local function copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end


--- Every leaf as { path = "head.cpu", param = p }, sorted by path.
function M.flatten(tree, prefix, out)
  out = out or {}
  for k, v in pairs(tree) do
    local path = prefix and (prefix .. "." .. k) or k
    if M.is_param(v) then
      out[#out + 1] = { path = path, param = v }
    elseif type(v) == "table" then
      M.flatten(v, path, out)
    else
      error("params: '" .. path .. "' is neither a parameter nor a group", 2)
    end
  end
  table.sort(out, function(a, b) return a.path < b.path end)
  return out
end


--- The values table: the defaults, mirrored into the same tree shape.
function M.defaults(tree)
  local values = {}
  for k, v in pairs(tree) do
    if M.is_param(v) then values[k] = copy(v.default)
    else values[k] = M.defaults(v) end
  end
  return values
end


local function levenshtein(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end


--- The closest known path to `key`, if any is close enough.
function M.suggest(tree, key)
  local best, best_d
  for _, leaf in ipairs(M.flatten(tree)) do
    local d = levenshtein(key, leaf.path)
    local short = leaf.path:match("[^.]+$")
    d = math.min(d, levenshtein(key, short) + 1)
    if not best_d or d < best_d then best, best_d = leaf.path, d end
  end
  if best and best_d <= math.max(2, #key // 3) then return best end
  return nil
end


local function parse_value(p, path, text)
  local t = p.type
  if t == "string" then return text end
  if t == "integer" then
    local n = math.tointeger(tonumber(text))
    if not n then return nil, ("--set %s: '%s' is not a whole number (%s is an integer parameter)"):format(path, text, path) end
    return n
  end
  if t == "number" then
    local n = tonumber(text)
    if not n or n ~= n or n == math.huge or n == -math.huge then
      return nil, ("--set %s: '%s' is not a number"):format(path, text)
    end
    return n
  end
  if t == "boolean" then
    local l = text:lower()
    if l == "true" or l == "yes" or l == "1" or l == "on" then return true end
    if l == "false" or l == "no" or l == "0" or l == "off" then return false end
    return nil, ("--set %s: '%s' is not a boolean (use true or false)"):format(path, text)
  end
  if t == "list" then
    local out = {}
    if text == "" then return out end
    for item in (text .. ","):gmatch("(.-),") do
      item = item:match("^%s*(.-)%s*$")
      if item ~= "" then out[#out + 1] = item end
    end
    return out
  end
  return nil, ("--set %s: a map parameter takes --set %s.KEY=VALUE"):format(path, path)
end


--- The first control character (newline, NUL, escape...) in s, described, or nil.
local function control_char(s)
  local pos = s:find("[%z\1-\8\10-\31\127]")
  if not pos then return nil end
  local b = s:byte(pos)
  local names = { [0] = "NUL", [10] = "newline", [13] = "carriage return", [27] = "escape" }
  return names[b] or ("byte 0x%02x"):format(b)
end


--- Check one value against its declaration; returns true or nil, message.
function M.check(p, path, v)
  if v == nil then return true end
  local t = p.type
  local lt = type(v)
  local ok_type = (t == "string" and lt == "string") or (t == "boolean" and lt == "boolean")
    or (t == "integer" and math.type(v) == "integer") or (t == "number" and lt == "number")
    or ((t == "list" or t == "map") and lt == "table")
  if not ok_type then
    return nil, ("parameter %s must be %s %s, got %s"):format(path, t == "integer" and "an" or "a", t, lt)
  end
  if p.min and v < p.min then
    return nil, ("parameter %s is %s; it must be at least %s"):format(path, tostring(v), tostring(p.min))
  end
  if p.max and v > p.max then
    return nil, ("parameter %s is %s; it must be at most %s"):format(path, tostring(v), tostring(p.max))
  end
  if p.choices then
    local found = false
    for _, c in ipairs(p.choices) do if c == v then found = true end end
    if not found then
      return nil, ("parameter %s is '%s'; choose one of: %s"):format(path, tostring(v), table.concat(p.choices, ", "))
    end
  end
  if p.pattern and not tostring(v):match(p.pattern) then
    return nil, ("parameter %s is '%s', which is not allowed%s"):format(path, tostring(v),
      p.hint and ("; " .. p.hint) or "")
  end
  if t == "string" then
    local bad = control_char(v)
    if bad then return nil, ("parameter %s contains a %s; control characters are not allowed"):format(path, bad) end
  end
  if t == "list" or t == "map" then
    for k, x in pairs(v) do
      if type(x) ~= "string" and type(x) ~= "number" and type(x) ~= "boolean" then
        return nil, ("parameter %s has a %s at %s; only strings are allowed"):format(path, type(x), tostring(k))
      end
      local bad = control_char(tostring(x)) or (type(k) == "string" and control_char(k))
      if bad then
        return nil, ("parameter %s contains a %s at %s; control characters are not allowed")
          :format(path, bad, tostring(k))
      end
    end
  end
  if p.check then
    local ok, msg = p.check(v)
    if not ok then return nil, ("parameter %s: %s"):format(path, msg or "invalid value") end
  end
  return true
end


local function lookup(tree, path)
  local node = tree
  for part in path:gmatch("[^.]+") do
    if type(node) ~= "table" or M.is_param(node) then return nil end
    node = node[part]
  end
  return node
end


local function assign(values, path, v)
  local parts = {}
  for part in path:gmatch("[^.]+") do parts[#parts + 1] = part end
  local node = values
  for i = 1, #parts - 1 do
    if type(node[parts[i]]) ~= "table" then node[parts[i]] = {} end
    node = node[parts[i]]
  end
  node[parts[#parts]] = v
end


--- Apply "key=value" assignments to values (a tree from defaults). Returns true or nil, message.
function M.apply_sets(tree, values, sets)
  for _, s in ipairs(sets) do
    local key, text = s:match("^([^=]+)=(.*)$")
    if not key then
      return nil, ("--set '%s': expected KEY=VALUE, for example --set workers=4"):format(s)
    end
    key = key:match("^%s*(.-)%s*$")
    local p = lookup(tree, key)
    if M.is_param(p) then
      local v, err = parse_value(p, key, text)
      if v == nil then return nil, err end
      assign(values, key, v)
    else
      -- a map entry: --set env.KEY=VALUE
      local parent, entry = key:match("^(.+)%.([^.]+)$")
      local mp = parent and lookup(tree, parent)
      if M.is_param(mp) and mp.type == "map" then
        local m = lookup(values, parent)
        if type(m) ~= "table" then m = {}; assign(values, parent, m) end
        m[entry] = text
      else
        local hint = M.suggest(tree, key)
        return nil, ("--set %s: no such parameter%s (list them with: raycai-run RECIPE params)")
          :format(key, hint and ("; did you mean '" .. hint .. "'?") or "")
      end
    end
  end
  return true
end


--- Validate every value; returns true or nil, message.
function M.validate(tree, values)
  for _, leaf in ipairs(M.flatten(tree)) do
    local ok, err = M.check(leaf.param, leaf.path, lookup(values, leaf.path))
    if not ok then return nil, err end
  end
  return true
end


M.lookup = lookup


return M
