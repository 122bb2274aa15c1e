-- raycai.ray.files: project files that must hold exactly our content. CML's upload never
-- overwrites (a second upload lands as name(1).ext), so compare first, delete then upload when
-- different, and remove any name(N).ext left behind by an earlier interrupted run.
local M = {}


local function split(path)
  local dir, base = path:match("^(.*)/([^/]+)$")
  if not dir then return ".", path end
  return dir, base
end


--- Entries of a project folder as { [basename] = FileInfo }; an absent folder is empty.
function M.list(client, pid, dir)
  local res, err = client:list_files(pid, dir)
  if not res then
    if err.status == 404 then return {} end
    return nil, err
  end
  local out = {}
  for _, f in ipairs(res.files or {}) do
    local name = f.path:match("([^/]+)/?$") or f.path
    out[name] = f
  end
  return out
end


local function escape(s) return (s:gsub("%p", "%%%0")) end


--- Names in `entries` that are copies CML made of `base`: stem(N).ext
local function stray_copies(entries, base)
  local stem, ext = base:match("^(.-)(%.[^.]*)$")
  if not stem then stem, ext = base, "" end
  local pattern = "^" .. escape(stem) .. "%(%d+%)" .. escape(ext) .. "$"
  local out = {}
  for name in pairs(entries) do
    if name:match(pattern) then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end


--- The folder's entries: those given (already listed in this run), else listed now.
local function entries_of(client, pid, dir, entries)
  if entries then return entries end
  return M.list(client, pid, dir)
end


--- What sync would do: "create", "update" or "keep" (reads only).
function M.compare(client, pid, path, content, entries)
  local dir, base = split(path)
  local err
  entries, err = entries_of(client, pid, dir, entries)
  if not entries then return nil, err end
  local f = entries[base]
  if not f then return "create" end
  if tonumber(f.file_size) ~= #content then return "update" end
  local data
  data, err = client:download_file(pid, path)
  if not data then return nil, err end
  if data ~= content then return "update" end
  if #stray_copies(entries, base) > 0 then return "update" end
  return "keep"
end


--- Make the project file at `path` hold `content`. Returns the change made
--- ("create", "update" or "keep") or nil, err.
function M.sync(client, pid, path, content, entries)
  local dir, base = split(path)
  local lerr
  entries, lerr = entries_of(client, pid, dir, entries)
  if not entries then return nil, lerr end
  local change, cerr = M.compare(client, pid, path, content, entries)
  if not change then return nil, cerr end
  for _, copy in ipairs(stray_copies(entries, base)) do
    local ok, err = client:delete_file(pid, dir .. "/" .. copy)
    if not ok and err.status ~= 404 then return nil, err end
  end
  if change == "keep" then return "keep" end
  if change == "update" then
    local ok, err = client:delete_file(pid, path)
    if not ok and err.status ~= 404 then return nil, err end
  end
  local ok, err = client:upload_file(pid, path, content)
  if not ok then return nil, err end
  return change
end


--- The last n lines of a project file, or nil, err.
function M.tail(client, pid, path, n)
  local data, err = client:download_file(pid, path)
  if not data then return nil, err end
  local lines = {}
  for line in data:gmatch("[^\n]+") do lines[#lines + 1] = line end
  local first = math.max(1, #lines - n + 1)
  return table.concat(lines, "\n", first)
end


return M
