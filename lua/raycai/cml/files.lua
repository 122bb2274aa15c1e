-- raycai.cml.files: project files that must hold exactly our content. CML's upload never
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


--- The file at `path` against `content` ("create", "update" or "keep") and the copies CML made
--- of it, which sync removes whatever the file holds (reads only).
local function inspect(client, pid, path, content, entries)
  local dir, base = split(path)
  local err
  entries, err = entries_of(client, pid, dir, entries)
  if not entries then return nil, err end
  local copies = stray_copies(entries, base)
  local f = entries[base]
  if not f then return "create", copies end
  if tonumber(f.file_size) ~= #content then return "update", copies end
  local data
  data, err = client:download_file(pid, path)
  if not data then return nil, err end
  return data == content and "keep" or "update", copies
end


--- What sync would do, judged from the folder's listing alone (no download): "create",
--- "update" (another size, or CML's copies beside it) or "keep" (same size: the content is not
--- compared). For a file whose exact bytes matter only when something else changes too.
function M.compare_listed(path, content, entries)
  local _, base = split(path)
  local f = entries[base]
  if not f then return "create" end
  if tonumber(f.file_size) ~= #content or #stray_copies(entries, base) > 0 then return "update" end
  return "keep"
end


--- What sync would do: "create", "update" or "keep" (reads only).
function M.compare(client, pid, path, content, entries)
  local change, copies = inspect(client, pid, path, content, entries)
  if not change then return nil, copies end
  if change == "keep" and #copies > 0 then return "update" end
  return change
end


--- Make the project file at `path` hold `content`. Returns the change made
--- ("create", "update" or "keep") or nil, err. A file that already holds `content` is not
--- uploaded again: only the copies beside it are removed ("update").
function M.sync(client, pid, path, content, entries)
  local change, copies = inspect(client, pid, path, content, entries)
  if not change then return nil, copies end
  local dir = split(path)
  for _, copy in ipairs(copies) do
    local ok, err = client:delete_file(pid, dir .. "/" .. copy)
    if not ok and err.status ~= 404 then return nil, err end
  end
  if change == "keep" then return #copies > 0 and "update" or "keep" end
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
