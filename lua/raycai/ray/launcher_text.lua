-- raycai.ray.launcher_text: renders the setup-job and launcher scripts from the templates in
-- lua/raycai/templates/ with the cluster's parameters. Values reach the scripts only through the
-- templates' py/sh filters.
local template = require "raycai.template"
local hash = require "raycai.hash"
local resource = require "raycai.resource"
local versions = require "raycai.ray.versions"

local M = {}

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]+$") or "."
M.TEMPLATES = here .. "/../templates"
--- Where CML mounts the project in every workload: the scripts look there first (a kernel may
--- run them without __file__), then in HOME and the current folder.
M.PROJECT_DIR = "/home/cdsw"


--- pip requirement strings of the venv: Ray itself, the recipe's extra packages, then the
--- constraints that Ray version needs (click<8.3 before Ray 2.53: see raycai.ray.versions).
function M.packages(p)
  local list = { ("ray[default]==%s"):format(p.ray.version) }
  for _, pkg in ipairs(p.ray.packages) do list[#list + 1] = pkg end
  for _, pkg in ipairs(versions.constraints(p.ray.version, p.ray.packages)) do list[#list + 1] = pkg end
  return list
end


--- The venv fingerprint: Python, packages, index, the setup template itself and the runtime the
--- venv is built on (a venv is not portable between runtime images).
function M.fingerprint(p, setup_text, runtime)
  return hash.of({ kernel = p.python.kernel, packages = M.packages(p), index_url = p.ray.index_url,
                   find_links = p.ray.find_links, template = hash.hex(setup_text), runtime = runtime or "" }, 16)
end


--- The variables every template sees (documented in lua/raycai/templates/README.md), for the
--- venv v (see M.venvs).
function M.vars(p, v)
  return {
    cluster = { name = p.cluster, gcs_port = p.ray.gcs_port },
    project = { dir = M.PROJECT_DIR },
    venv = { dir = v.dir, python = p.venv.python },
    setup = { packages = M.packages(p), index_url = p.ray.index_url, find_links = p.ray.find_links,
              fingerprint = v.fingerprint, log = v.log, job_name = v.job },
    head = { cpus = p.head.cpu },
    worker = { cpus = p.worker.cpu, gpus = p.worker.gpu },
    timeouts = { head_wait = p.timeouts.head_wait, ray_start = p.timeouts.ray_start, setup = p.timeouts.setup },
    ray_start_retries = p.ray.start_retries,
    ray = { object_store_mb = p.ray.object_store_mb },
  }
end


--- The cluster's venvs: one per distinct runtime that runs Ray, the head's first. Each is
--- { runtime, fingerprint, dir, job, script, log, roles = {role...} }; the head's venv keeps the
--- historic names (job raycai-<c>-setup, setup_venv.py, setup.log), a worker runtime of its own
--- gets raycai-<c>-setup-worker, setup_venv_worker.py and setup_worker.log.
function M.venvs(p, names, rt, setup_text)
  local list, by_role = {}, {}
  for _, role in ipairs({ "head", "worker" }) do
    local id = rt[role]
    local v
    for _, x in ipairs(list) do if x.runtime == id then v = x end end
    if not v then
      local fp = M.fingerprint(p, setup_text, id)
      local first = #list == 0
      v = { runtime = id, fingerprint = fp, dir = p.venv.root .. "/" .. fp, roles = {},
            job = first and names.job or names.job .. "-" .. role,
            script = first and names.files.setup or (names.dir .. "/setup_venv_" .. role .. ".py"),
            log = first and names.files.setup_log or (names.dir .. "/setup_" .. role .. ".log") }
      list[#list + 1] = v
    end
    v.roles[#v.roles + 1] = role
    by_role[role] = v
  end
  return list, by_role
end


--- Every script of the cluster: { head = text, worker = text, venvs = M.venvs' list (each with
--- .text, its setup script), by_role = { head = venv, worker = venv } }.
--- Each template is read once; the setup template's own text is part of the fingerprint.
---@param rt {head:string, worker:string}  the runtime identifiers
function M.all(p, names, rt)
  local sources = {}
  for key, file in pairs({ setup = "setup_venv.py.tmpl", head = "head.py.tmpl", worker = "worker.py.tmpl" }) do
    local text, err = resource.read(M.TEMPLATES .. "/" .. file)
    if not text then return nil, "launcher template missing: " .. err end
    sources[key] = { text = text, name = file }
  end
  local venvs, by_role = M.venvs(p, names, rt, sources.setup.text)
  local out = { venvs = venvs, by_role = by_role }
  local function render(key, v)
    return template.render(sources[key].text, M.vars(p, v), { name = sources[key].name })
  end
  for _, v in ipairs(venvs) do
    local text, err = render("setup", v)
    if not text then return nil, err end
    v.text = text
  end
  for _, role in ipairs({ "head", "worker" }) do
    local text, err = render(role, by_role[role])
    if not text then return nil, err end
    out[role] = text
  end
  return out
end


return M
