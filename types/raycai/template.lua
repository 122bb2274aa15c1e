---@meta raycai.template
-- LuaLS definitions of raycai.template (engine/ltemplate.c). The template language is described
-- in docs/DEVELOPING.md: {{ name }}, filters (py, sh, json, default), {{#if}}, {{#each}}.
-- Expected failures return `nil, "<name>:<line>: <message>"`; bad arguments raise.

---@class raycai.template
local template = {}

---@class raycai.template.Opts
---@field name? string names the template in error messages

--- Render a template text with variables.
---@param text string
---@param vars table
---@param opts? raycai.template.Opts default name: "template"
---@return string? out
---@return string? err "<name>:<line>: <message>"
function template.render(text, vars, opts) end

--- Render a template file; messages name it by its basename (or opts.name).
---@param path string
---@param vars table
---@param opts? raycai.template.Opts
---@return string? out
---@return string? err "<name>:<line>: <message>", or "<path>: <reason>" when unreadable
function template.render_file(path, vars, opts) end

--- Check a template's syntax (every branch) without rendering it.
---@param text string
---@param opts? raycai.template.Opts
---@return true? ok
---@return string? err "<name>:<line>: <message>"
function template.check(text, opts) end

return template
