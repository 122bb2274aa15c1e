-- raycai.ray.launcher_text: renders the setup-job and launcher scripts from the templates in
-- lua/raycai/templates/ with the cluster's parameters. Values reach the scripts only through the
-- templates' py/sh filters.
local template = require "raycai.template"
local hash = require "raycai.hash"
local fs = require "raycai.fs"
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


--- The venv fingerprint: Python, packages, index and the setup template itself.
function M.fingerprint(p, setup_text)
  return hash.of({ kernel = p.python.kernel, packages = M.packages(p), index_url = p.ray.index_url,
                   find_links = p.ray.find_links, template = hash.hex(setup_text) }, 16)
end


--- The variables every template sees (documented in lua/raycai/templates/README.md).
function M.vars(p, names, fp)
  return {
    cluster = { name = p.cluster, gcs_port = p.ray.gcs_port },
    project = { dir = M.PROJECT_DIR },
    venv = { dir = p.venv.root .. "/" .. fp, python = p.venv.python },
    setup = { packages = M.packages(p), index_url = p.ray.index_url, find_links = p.ray.find_links,
              fingerprint = fp, log = names.files.setup_log, job_name = names.job },
    head = { cpus = p.head.cpu },
    worker = { cpus = p.worker.cpu, gpus = p.worker.gpu },
    timeouts = { head_wait = p.timeouts.head_wait, ray_start = p.timeouts.ray_start },
    ray_start_retries = p.ray.start_retries,
  }
end


--- Every script of the cluster: { setup = text, head = text, worker = text, fingerprint = fp }.
--- Each template is read once; the setup template's own text is part of the fingerprint.
function M.all(p, names)
  local sources = {}
  for key, file in pairs({ setup = "setup_venv.py.tmpl", head = "head.py.tmpl", worker = "worker.py.tmpl" }) do
    local text, err = fs.read(M.TEMPLATES .. "/" .. file)
    if not text then return nil, "launcher template missing: " .. err end
    sources[key] = { text = text, name = file }
  end
  local fp = M.fingerprint(p, sources.setup.text)
  local vars = M.vars(p, names, fp)
  local out = { fingerprint = fp, venv_dir = vars.venv.dir }
  for key, src in pairs(sources) do
    local text, err = template.render(src.text, vars, { name = src.name })
    if not text then return nil, err end
    out[key] = text
  end
  return out
end


return M
