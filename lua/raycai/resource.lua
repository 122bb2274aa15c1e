-- raycai.resource: files of raycai's own (recipes, templates, the library) wherever this
-- raycai-run keeps them: on disk (the build tree, an installed tree), or compiled into the
-- relocatable binary of `make dist`, whose paths read "bundle:<name>" (bundle:recipes/gpu_cluster.lua).
-- Any other path is the file system's. A recipe on disk always wins over a bundled one: callers
-- look on disk first.
local fs = require "raycai.fs"

local M = {}

local PREFIX = "bundle:"


--- The bundle module, when this binary has one.
local function bundle()
  local ok, b = pcall(require, "raycai.bundle")
  return ok and b or nil
end


--- Is this a path inside the binary?
function M.bundled(path)
  return type(path) == "string" and path:sub(1, #PREFIX) == PREFIX
end


--- "bundle:lua/raycai/ray/../templates/x" -> "lua/raycai/templates/x": the bundle's own name.
local function bundle_name(path)
  local parts = {}
  for part in path:sub(#PREFIX + 1):gmatch("[^/]+") do
    if part == ".." then parts[#parts] = nil
    elseif part ~= "." then parts[#parts + 1] = part end
  end
  return table.concat(parts, "/")
end


--- The content of a file, or nil, "<path>: <reason>".
function M.read(path)
  if not M.bundled(path) then return fs.read(path) end
  local b = bundle()
  if not b then return nil, path .. ": this raycai-run has no bundled files" end
  return b.read(bundle_name(path))
end


--- Does the file exist?
function M.exists(path)
  if not M.bundled(path) then return fs.exists(path) end
  local b = bundle()
  return b ~= nil and b.read(bundle_name(path)) ~= nil
end


--- The folder of a path (absolute for a file-system path), for a recipe's own module folder.
function M.dirname(path)
  if not M.bundled(path) then return fs.dirname(fs.absolute(path)) end
  local name = bundle_name(path)
  return PREFIX .. (name:match("^(.*)/[^/]*$") or "")
end


--- A path inside a folder: fs.join's rules, and "bundle:" folders stay bundled.
function M.join(dir, ...)
  if not M.bundled(dir) then return fs.join(dir, ...) end
  local parts = { bundle_name(dir) }
  for _, p in ipairs({ ... }) do parts[#parts + 1] = p end
  return PREFIX .. table.concat(parts, "/"):gsub("^/+", "")
end


--- The names of the files directly in a folder (sorted), or nil, err.
function M.list(dir)
  if not M.bundled(dir) then return fs.list(dir) end
  local b = bundle()
  if not b then return {} end
  local base = bundle_name(dir)
  base = base == "" and "" or base .. "/"
  local names = {}
  for _, name in ipairs(b.names()) do
    local rest = name:sub(1, #base) == base and name:sub(#base + 1)
    if rest and not rest:find("/", 1, true) then names[#names + 1] = rest end
  end
  return names
end


return M
