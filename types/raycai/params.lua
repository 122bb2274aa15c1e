---@meta raycai.params
-- LuaLS definitions of raycai.params (lua/raycai/params.lua): typed recipe parameters.

---@class raycai.params
local params = {}

---@alias raycai.ParamType "string"|"integer"|"number"|"boolean"|"list"|"map"

--- Options of a parameter declaration.
---@class raycai.ParamOpts
---@field type? raycai.ParamType default: the type of the default value
---@field min? number smallest allowed value
---@field max? number largest allowed value
---@field choices? any[] the allowed values
---@field pattern? string a Lua pattern the value must match
---@field hint? string shown after a pattern mismatch
---@field check? fun(v: any): boolean?, string? a custom check: true, or nil, message
---@field secret? boolean

---@class raycai.Param
---@field default any
---@field doc string
---@field type raycai.ParamType
---@field min? number
---@field max? number
---@field choices? any[]
---@field pattern? string
---@field hint? string
---@field check? fun(v: any): boolean?, string?
---@field secret? boolean

---@class raycai.ParamLeaf
---@field path string dotted path, e.g. "head.cpu"
---@field param raycai.Param

--- Declare a parameter.
---@param default any the default; its type is the parameter's type unless opts.type
---@param doc string one line shown by `raycai-run RECIPE params`
---@param opts? raycai.ParamOpts
---@return raycai.Param
function params.param(default, doc, opts) end

--- Is v a parameter made by params.param?
---@param v any
---@return boolean
function params.is_param(v) end

--- Every leaf of a parameter tree, sorted by path. Raises on a malformed tree.
---@param tree table
---@param prefix? string
---@param out? raycai.ParamLeaf[]
---@return raycai.ParamLeaf[]
function params.flatten(tree, prefix, out) end

--- The default values, in the same tree shape.
---@param tree table
---@return table
function params.defaults(tree) end

--- (issue 13) Mark a group of a parameter tree open: recipe:with{ defaults } may add a child
--- `name` to it, made by grow(name, defaults). Returns node.
---@param node table
---@param grow fun(name: string, defaults: table): table
---@return table
function params.growable(node, grow) end

--- The grow function of an open group (params.growable), or nil.
---@param node table
---@return (fun(name: string, defaults: table): table)?
function params.grower(node) end

--- The closest known parameter path to key, if one is close enough.
---@param tree table
---@param key string
---@return string?
function params.suggest(tree, key) end

--- Check one value against its declaration.
---@param p raycai.Param
---@param path string
---@param v any
---@return true? ok
---@return string? err
function params.check(p, path, v) end

--- Apply "key=value" assignments (--set) to values.
---@param tree table
---@param values table
---@param sets string[]
---@return true? ok
---@return string? err
function params.apply_sets(tree, values, sets) end

--- Validate every value of the tree.
---@param tree table
---@param values table
---@return true? ok
---@return string? err
function params.validate(tree, values) end

--- The node at a dotted path of a tree, or nil.
---@param tree table
---@param path string
---@return any
function params.lookup(tree, path) end

return params
