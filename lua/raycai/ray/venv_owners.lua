-- raycai.ray.venv_owners: which clusters use which venv (issue 11). A venv folder may serve
-- several clusters (same fingerprint, same venv.root). Each cluster that uses one records it as
-- <venv.root>/.owners/<fingerprint>.<cluster> (a small file); a venv is removed only when no
-- other cluster's record names it. One listing shows them all. setup_venv writes the records,
-- start_workers collects a cluster's unused venvs after a successful up, down --purge releases
-- them all.
local files = require "raycai.cml.files"
local ui = require "raycai.ui"
local clock = require "raycai.clock"

local M = {}

local OWNERS = ".owners"

local function owners_dir(p) return p.venv.root .. "/" .. OWNERS end


--- The records: { [fingerprint] = { [cluster] = true } }, or nil, err.
function M.read(client, pid, p)
  local entries, err = files.list(client, pid, owners_dir(p))
  if not entries then return nil, err end
  local out = {}
  for name in pairs(entries) do
    local fp, who = name:match("^([%w]+)%.([a-z0-9%-]+)$")
    if fp then
      out[fp] = out[fp] or {}
      out[fp][who] = true
    end
  end
  return out
end


--- Record that this cluster uses the venvs of this run (only the missing records are written,
--- side by side). Returns true or nil, err.
function M.record(ctx, st, owners)
  local p = ctx.params
  local fns, todo = {}, {}
  for _, v in ipairs(st.scripts.venvs) do
    if not (owners[v.fingerprint] and owners[v.fingerprint][p.cluster]) and not todo[v.fingerprint] then
      todo[v.fingerprint] = true
      fns[#fns + 1] = function()
        local body = ("cluster %s\nruntime %s\nrecorded %.3f\n"):format(p.cluster, v.runtime, clock.time())
        local ok, err = st.client:upload_file(st.project.id, ("%s/%s.%s"):format(owners_dir(p), v.fingerprint, p.cluster), body)
        if not ok then return nil, "could not record the venv's owner: " .. tostring(err) end
        owners[v.fingerprint] = owners[v.fingerprint] or {}
        owners[v.fingerprint][p.cluster] = true
        return true
      end
    end
  end
  for _, res in ipairs(st.client:together(table.unpack(fns))) do
    if not res[1] then return nil, res[2] end
  end
  return true
end


--- Remove this cluster's record of venv fp, and the venv when no other cluster records it.
local function release(ctx, st, owners, fp)
  local p, client, pid = ctx.params, st.client, st.project.id
  local ok, err = client:delete_file(pid, ("%s/%s.%s"):format(owners_dir(p), fp, p.cluster))
  if not ok and err.status ~= 404 then return nil, err end
  owners[fp][p.cluster] = nil
  if next(owners[fp]) then
    ui.object("kept", "venv", p.venv.root .. "/" .. fp, { reason = "used by another cluster" })
    return true
  end
  for _, path in ipairs({ p.venv.root .. "/" .. fp, p.venv.root .. "/" .. fp .. ".lock" }) do
    ok, err = client:delete_file(pid, path)
    if not ok and err.status ~= 404 then return nil, ("could not delete %s: %s"):format(path, tostring(err)) end
  end
  ui.object("deleted", "venv", p.venv.root .. "/" .. fp)
  return true
end


--- After a successful up: remove this cluster's venvs that no current application uses,
--- keeping the newest venv.keep of them (by their record's time). Failures only warn.
function M.collect(ctx, st)
  local owners = st.owners
  if not owners then return end
  local p = ctx.params
  local current = {}
  for _, v in ipairs(st.scripts.venvs) do current[v.fingerprint] = true end
  local unused = {}
  for fp, who in pairs(owners) do
    if who[p.cluster] and not current[fp] then unused[#unused + 1] = { fp = fp } end
  end
  if #unused <= p.venv.keep then return end
  for _, u in ipairs(unused) do
    local text = st.client:download_file(st.project.id, ("%s/%s.%s"):format(owners_dir(p), u.fp, p.cluster))
    u.at = tonumber(type(text) == "string" and text:match("recorded (%S+)")) or 0
  end
  table.sort(unused, function(a, b) if a.at ~= b.at then return a.at > b.at end return a.fp < b.fp end)
  for i = p.venv.keep + 1, #unused do
    local ok, err = release(ctx, st, owners, unused[i].fp)
    if not ok then ui.warn(("could not remove the unused venv %s: %s"):format(unused[i].fp, tostring(err))) end
  end
end


--- down --purge: release every venv record of this cluster (and each venv no other cluster
--- records). Returns how many were released, or nil, err.
function M.purge(ctx, st)
  local owners, oerr = M.read(st.client, st.project.id, ctx.params)
  if not owners then return nil, "could not list the venv owners: " .. tostring(oerr) end
  local fps = {}
  for fp, who in pairs(owners) do if who[ctx.params.cluster] then fps[#fps + 1] = fp end end
  table.sort(fps)
  for _, fp in ipairs(fps) do
    local ok, rerr = release(ctx, st, owners, fp)
    if not ok then return nil, ("could not remove the venv %s: %s"):format(fp, tostring(rerr)) end
  end
  return #fps
end


return M
