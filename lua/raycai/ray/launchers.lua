-- raycai.ray.launchers: the write_launchers step: head.py and worker.py rendered from the
-- templates and written to .raycai/<cluster>/ in the project, only when they differ.
local cluster = require "raycai.ray.cluster"
local files = require "raycai.cml.files"
local setup = require "raycai.ray.setup"
local overlap = require "raycai.ray.overlap"  -- issue 17
local ui = require "raycai.ui"
local pip_index = require "raycai.ray.pip_index"

local M = {}


--- The launchers: head.py, then one per worker group (worker.py for the default group).
local function targets(st)
  local out = { { path = st.names.files.head, text = st.scripts.head } }
  for _, g in ipairs(st.scripts.groups) do
    out[#out + 1] = { path = st.names.group_script(g.name), text = st.scripts[g.name] }
  end
  return out
end


function M.plan(ctx)
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  local s, serr = setup.scripts(ctx, st)
  if not s then return nil, serr end
  local changes = {}
  local entries
  if st.project then
    entries = st.plan_entries  -- setup_venv's plan listed the same folder in this run
    if not entries then
      entries, err = files.list(st.client, st.project.id, st.names.dir)
      if not entries then return nil, err end
    end
  end
  local compares = {}  -- both files side by side
  for i, t in ipairs(targets(st)) do
    compares[i] = function()
      if not st.project then return "create" end
      return files.compare(st.client, st.project.id, t.path, t.text, entries)
    end
  end
  local res = st.client:together(table.unpack(compares))
  for i, t in ipairs(targets(st)) do
    if not res[i][1] then return nil, res[i][2] end
    changes[#changes + 1] = { action = res[i][1], kind = "file", name = t.path }
  end
  local index_change = pip_index.plan(ctx.params, entries)
  if index_change then
    changes[#changes + 1] = { action = index_change, kind = "file", name = st.names.dir .. "/" .. pip_index.FILE,
                              detail = "the package index credentials" }
  end
  return changes
end


--- Sync every launcher (side by side): the changes made, in targets' order, or nil, err.
local function write(st, params)
  -- in a project this run created the folder holds only our lock and setup script
  local entries, lerr = {}, nil
  if not st.fresh then entries, lerr = files.list(st.client, st.project.id, st.names.dir) end
  if not entries then return nil, lerr end
  local pok, perr = pip_index.prune(st.client, st.project.id, params, entries)
  if not pok then return nil, perr end
  local fns = {}
  for i, t in ipairs(targets(st)) do
    fns[i] = function() return files.sync(st.client, st.project.id, t.path, t.text, entries) end
  end
  local res = st.client:together(table.unpack(fns))
  local changes = {}
  for i, t in ipairs(targets(st)) do
    if not res[i][1] then return nil, ("could not write %s: %s"):format(t.path, tostring(res[i][2])) end
    changes[i] = res[i][1]
  end
  return changes
end


--- While the setup job runs: write the launchers (they depend on the fingerprint only), when the
--- cluster has no application (raycai.ray.overlap.allowed). Otherwise its applications use the
--- current launchers, which must stay until the new venv exists: if the setup job fails, the
--- cluster keeps launchers that match it (a restarted worker would otherwise look for the new venv).
function M.early(ctx)
  local st = ctx.state.ray
  if not (st and st.project and st.scripts and overlap.allowed(st)) then return end
  st.launchers_written = table.pack(write(st, ctx.params))
end


function M.apply(ctx)
  local st, err = cluster.prepare(ctx, true)
  if not st then return nil, err end
  local s, serr = setup.scripts(ctx, st)
  if not s then return nil, serr end
  local done = st.launchers_written or table.pack(write(st, ctx.params))
  st.launchers_written = nil
  local changes, werr = done[1], done[2]
  if not changes then return nil, werr end
  local written = 0
  for i, t in ipairs(targets(st)) do
    local change = changes[i]
    if change ~= "keep" then
      written = written + 1
      ui.object(change == "create" and "created" or "updated", "file", t.path)
    else
      ui.object("kept", "file", t.path)
    end
  end
  return true, written == 0 and "launchers unchanged" or (written .. " launcher(s) written")
end


function M.destroy(ctx)
  if not ctx.options.purge then return true, "kept (use --purge to delete the cluster's files)" end
  local st, err = cluster.prepare(ctx, false)
  if not st then return nil, err end
  if not st.project then return true, "no project" end
  local ok, derr = st.client:delete_file(st.project.id, st.names.dir)
  if not ok and derr.status ~= 404 then return nil, derr end
  ui.object("deleted", "file", st.names.dir)
  return true, st.names.dir .. " deleted"
end


M.step = { name = "write_launchers", plan = M.plan, apply = M.apply, destroy = M.destroy, early = M.early }

return M
