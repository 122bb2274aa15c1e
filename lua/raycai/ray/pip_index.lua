-- raycai.ray.pip_index: the package index settings of a recipe whose ray.index_url or
-- ray.find_links carry credentials (https://user:token@mirror/simple, ?token=...). The setup
-- script is rendered with those URLs redacted (***) and reads the real ones from the project
-- file .raycai/<cluster>/pip_index.json, which raycai writes beside it: DESIGN.md's trust
-- boundary puts cluster credentials in project files (readable by the project's collaborators),
-- never in a rendered script, an environment (the setup job's is returned by the API and shown
-- in CML's UI) or output. The script hands them to pip through pip's own PIP_INDEX_URL /
-- PIP_FIND_LINKS in pip's process environment and masks them in setup.log. Recipes without
-- credentials keep the plain URLs in the script and get no file.
local cjson = require "cjson"
local secrets = require "raycai.secrets"
local files = require "raycai.cml.files"

local M = {}

M.FILE = "pip_index.json"


--- The credentials in the recipe's index settings (a list, maybe empty).
function M.credentials(p)
  local out = {}
  for _, v in ipairs { p.ray.index_url, p.ray.find_links } do
    for _, c in ipairs(secrets.url_credentials(v)) do out[#out + 1] = c end
  end
  return out
end


local function file_path(p) return ".raycai/" .. p.cluster .. "/" .. M.FILE end


--- The project path of the index file, or nil when the settings carry no credential.
function M.path(p)
  if #M.credentials(p) == 0 then return nil end
  return file_path(p)
end


--- The file's text: the real URLs and the strings the setup script masks in its log
--- (each credential and its percent-decoded form, as pip prints URLs decoded).
function M.text(p)
  local mask = {}
  for _, c in ipairs(M.credentials(p)) do
    mask[#mask + 1] = c
    local decoded = c:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    if decoded ~= c then mask[#mask + 1] = decoded end
  end
  return cjson.encode({ index_url = p.ray.index_url, find_links = p.ray.find_links, mask = mask }) .. "\n"
end


--- Write the index file when the settings need one (compared first, as every upload):
--- true, or nil, err.
function M.sync(client, pid, p, entries)
  local path = M.path(p)
  if not path then return true end
  local change, err = files.sync(client, pid, path, M.text(p), entries)
  if not change then return nil, ("could not write %s: %s"):format(path, tostring(err)) end
  return true
end


--- What up would do to the index file: "create", "update", "keep", "delete" (a file left by an
--- earlier run whose recipe no longer carries credentials) or nil when there is none to have.
--- entries: the cluster folder's listing (nil: the folder does not exist yet). Judged by the
--- listing's size, as a built venv's setup script (raycai.ray.setup): the file is read only by
--- a build, and every build writes it first, so a re-run downloads nothing for it.
function M.plan(p, entries)
  local path = M.path(p)
  if not path then return entries and entries[M.FILE] and "delete" or nil end
  if not entries then return "create" end
  return files.compare_listed(path, M.text(p), entries)
end


--- Remove the index file of an earlier run when the recipe no longer carries credentials (the
--- old ones should not outlive their use in the project). entries: the cluster folder's
--- listing. true, or nil, err.
function M.prune(client, pid, p, entries)
  if M.path(p) or not (entries and entries[M.FILE]) then return true end
  local path = file_path(p)
  local ok, err = client:delete_file(pid, path)
  if not ok and err.status ~= 404 then return nil, ("could not remove %s: %s"):format(path, tostring(err)) end
  require("raycai.ui").object("deleted", "file", path)
  return true
end


return M
