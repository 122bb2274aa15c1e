-- The LuaLS definitions under types/ must not go stale: every function a module (or one of its
-- objects) really exports has an annotated definition, every annotated function still exists,
-- and every named argument has its ---@param line.
local fs = require "raycai.fs"

local TYPES = "types/raycai"


--- Parse a ---@meta file. Returns { [class] = { functions = { [name] = { params, doc } },
--- fields = { [name] = true } } }, and the class of each `local X = {}`.
local function parse(path)
  local classes, var_class = {}, {}
  local block, block_class = {}, nil  -- the annotation lines above the current code line
  local n = 0
  for line in io.lines(path) do
    n = n + 1
    if line:match("^%-%-%-") then
      block[#block + 1] = line
      local cname = line:match("^%-%-%-@class%s+([%w_.]+)")
      if cname then
        classes[cname] = classes[cname] or { functions = {}, fields = {} }
        block_class = cname
      end
      local field = line:match("^%-%-%-@field%s+([%w_]+)")
      if field and block_class then classes[block_class].fields[field] = true end
    else
      local var = line:match("^local%s+([%w_]+)%s*=%s*{}%s*$")
      if var and block_class then var_class[var] = block_class end
      local obj, name, args = line:match("^function%s+([%w_]+)[.:]([%w_]+)%s*%(([^)]*)%)")
      if obj then
        local cname = var_class[obj]
        assert(cname, ("%s:%d: function on '%s', which is no ---@class table"):format(path, n, obj))
        local params = {}
        for a in args:gmatch("[^,%s]+") do params[#params + 1] = a end
        classes[cname].functions[name] = { params = params, doc = block, line = n }
      end
      block, block_class = {}, nil
    end
  end
  return classes
end


local parsed = {}
local function types_of(file)
  local path = ("%s/%s.lua"):format(TYPES, file)
  parsed[file] = parsed[file] or parse(path)
  return parsed[file], path
end


--- Check that the exports of `real` (a module table or a method table) match class cname.
local function check_exports(real, file, cname)
  local classes, path = types_of(file)
  local cls = classes[cname]
  assert(cls, ("%s: no ---@class %s"):format(path, cname))
  local missing, stale = {}, {}
  for k, v in pairs(real) do
    if type(k) == "string" and not k:match("^_") then
      if type(v) == "function" then
        if not cls.functions[k] then missing[#missing + 1] = k .. "()" end
      elseif not cls.fields[k] and not cls.functions[k] then
        missing[#missing + 1] = k
      end
    end
  end
  for name in pairs(cls.functions) do
    if type(real[name]) ~= "function" then stale[#stale + 1] = name .. "()" end
  end
  table.sort(missing)
  table.sort(stale)
  assert.are.same({}, missing, ("%s: %s exports these, but they are not annotated"):format(path, cname))
  assert.are.same({}, stale, ("%s: %s annotates these, but they are not exported"):format(path, cname))
end


-- The module tables.
local MODULES = {
  { module = "raycai.fs", file = "fs" },
  { module = "raycai.template", file = "template" },
  { module = "raycai.clock", file = "clock" },
  { module = "raycai.term", file = "term" },
  { module = "raycai.proc", file = "proc" },
  { module = "raycai.http", file = "http" },
  { module = "raycai.recipe", file = "recipe" },
  { module = "raycai.params", file = "params" },
  { module = "raycai.ray", file = "ray" },
  { module = "raycai.ui", file = "ui" },
  { module = "raycai.cml", file = "cml" },
  { module = "raycai.cml.errors", file = "cml" },
  { module = "raycai.testing", file = "testing" },
}


-- The objects the modules hand out: a function returning the real method table.
local OBJECTS = {
  { class = "raycai.proc.Process", file = "proc", methods = function()
      local p = assert(require("raycai.proc").spawn { "true" })
      p:wait(10)
      p:close()
      return getmetatable(p).__index
    end },
  { class = "raycai.http.Client", file = "http", methods = function()
      local h = require("raycai.http").new()
      h:close()
      return getmetatable(h).__index
    end },
  { class = "raycai.cml.Client", file = "cml", methods = function()
      local c = assert(require("raycai.cml").client { host = "http://127.0.0.1:9", api_key = "types-spec-key" })
      c:close()
      return getmetatable(c).__index
    end },
  { class = "raycai.testing.Sim", file = "testing", methods = function()
      local sim = require("raycai.testing").sim()
      sim:stop()
      return getmetatable(sim).__index
    end },
  { class = "raycai.Recipe", file = "recipe", methods = function()
      return getmetatable(require("raycai.recipe").new { name = "t", steps = {} }).__index
    end },
  { class = "raycai.Context", file = "recipe", methods = function()
      return getmetatable(require("raycai.context").new(nil, {}, {})).__index
    end },
}


describe("types/ (LuaLS definitions)", function()
  it("every file is a loadable ---@meta file returning its module's table", function()
    local names = assert(fs.list(TYPES))
    assert.is_true(#names >= 11)
    for _, name in ipairs(names) do
      local path = TYPES .. "/" .. name
      local chunk, err = loadfile(path, "t", {})
      assert(chunk, err)
      assert.is_truthy(assert(fs.read(path)):match("^%-%-%-@meta raycai%.[%w_.]+\n"), path .. ": no ---@meta header")
      local t = chunk()
      assert.are.equal("table", type(t), path .. " must return the module table")
    end
  end)

  it("every types file describes a module the host exports", function()
    local described = {}
    for _, m in ipairs(MODULES) do described[m.file .. ".lua"] = true end
    for _, name in ipairs(assert(fs.list(TYPES))) do
      assert.is_true(described[name] or false, TYPES .. "/" .. name .. " matches no module")
    end
  end)

  for _, m in ipairs(MODULES) do
    it("annotates every export of " .. m.module, function()
      check_exports(require(m.module), m.file, m.module)
    end)
  end

  for _, o in ipairs(OBJECTS) do
    it("annotates every method of " .. o.class, function()
      check_exports(o.methods(), o.file, o.class)
    end)
  end

  it("the module table a types file returns holds the annotated functions", function()
    for _, m in ipairs(MODULES) do
      if m.module:match("^raycai%.[%w_]+$") then
        local t = assert(loadfile(("%s/%s.lua"):format(TYPES, m.file), "t", {}))()
        local cls = types_of(m.file)[m.module]
        for name in pairs(cls.functions) do
          assert.are.equal("function", type(t[name]), m.file .. ".lua does not return " .. name)
        end
      end
    end
  end)

  it("every function has a doc comment and a ---@param line for each argument", function()
    local problems = {}
    for _, name in ipairs(assert(fs.list(TYPES))) do
      local file = name:gsub("%.lua$", "")
      for cname, cls in pairs(types_of(file)) do
        for fname, f in pairs(cls.functions) do
          local doc = table.concat(f.doc, "\n")
          if doc == "" then problems[#problems + 1] = ("%s.%s: no comment"):format(cname, fname) end
          for _, p in ipairs(f.params) do
            local pat = "%-%-%-@param%s+" .. p:gsub("%p", "%%%0") .. "%??%s"
            if not doc:match(pat) then
              problems[#problems + 1] = ("%s.%s: no ---@param %s"):format(cname, fname, p)
            end
          end
        end
      end
    end
    table.sort(problems)
    assert.are.same({}, problems)
  end)

  it("a function that can fail (a named optional first result) annotates its err result", function()
    local problems, seen = {}, 0
    for _, name in ipairs(assert(fs.list(TYPES))) do
      for cname, cls in pairs(types_of((name:gsub("%.lua$", "")))) do
        for fname, f in pairs(cls.functions) do
          local returns = {}
          for _, l in ipairs(f.doc) do
            local r = l:match("^%-%-%-@return%s+(.*)")
            if r then returns[#returns + 1] = r end
          end
          if returns[1] and returns[1]:match("^[%w_.]+%?%s+[%w_]+") then
            seen = seen + 1
            if not (returns[2] and returns[2]:match("%?")) then
              problems[#problems + 1] = ("%s.%s: nil, err without an optional err result"):format(cname, fname)
            end
          end
        end
      end
    end
    assert.is_true(seen >= 20, "expected many functions following the nil, err convention")
    table.sort(problems)
    assert.are.same({}, problems)
  end)

  it(".luarc.json points LuaLS at types/ for Lua 5.4", function()
    local cjson = require "cjson"
    local rc = cjson.decode((assert(fs.read(".luarc.json"))))
    assert.are.equal("Lua 5.4", rc["runtime.version"])
    assert.are.same({ "types" }, rc["workspace.library"])
  end)
end)
