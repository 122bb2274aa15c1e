-- raycai.ray.launcher_text: renders the setup-job and launcher scripts from the templates in
-- lua/raycai/templates/ with the cluster's parameters. Values reach the scripts only through the
-- templates' py/sh filters.
local template = require "raycai.template"
local hash = require "raycai.hash"
local resource = require "raycai.resource"
local versions = require "raycai.ray.versions"
local secrets = require "raycai.secrets"
local pip_index = require "raycai.ray.pip_index"
local groups = require "raycai.ray.groups"
local ray_start = require "raycai.ray.ray_start"

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
  -- (issue 14) the URLs without their credentials: a rotated token keeps the venv, and no hash
  -- of a password goes into a folder name
  return hash.of({ kernel = p.python.kernel, packages = M.packages(p),
                   index_url = secrets.redact_urls(p.ray.index_url),
                   find_links = secrets.redact_urls(p.ray.find_links), template = hash.hex(setup_text),
                   runtime = runtime or "" }, 16)
end


--- The head as a role of raycai.ray.groups.of's shape (name "head"), for M.vars.
function M.head_role(p)
  local h = p.head
  return { name = "head", cpu = h.cpu, gpu = h.gpu, ray_args = h.ray_args or {},
           ray_resources = h.ray_resources or {}, ray_labels = h.ray_labels or {} }
end


--- The variables every template sees (documented in lua/raycai/templates/README.md), for the
--- venv v (see M.venvs) and the role whose script this is: a raycai.ray.groups.of entry or
--- M.head_role; nil (the setup and submit scripts): the default group's cpu/gpu, no `ray start`
--- settings. One name per concept: a template variable is named
--- after its parameter (worker.cpu is the group's cpu); worker.cpus, worker.gpus and head.cpus
--- are the names before issue 13, kept one release as deprecated aliases for launcher overrides.
function M.vars(p, v, role)
  local head_cpu = p.head.cpu
  local w = (role == nil or role.name == "head") and groups.of(p)[1] or role
  role = role or {}
  return {
    cluster = { name = p.cluster, gcs_port = p.ray.gcs_port },
    project = { dir = M.PROJECT_DIR },
    venv = { dir = v.dir, python = p.venv.python },
    -- (issue 14) credentials of the index URLs come from pip_index's project file, not the script
    setup = { packages = M.packages(p), index_url = secrets.redact_urls(p.ray.index_url),
              find_links = secrets.redact_urls(p.ray.find_links), index_file = pip_index.path(p),
              fingerprint = v.fingerprint, log = v.log, job_name = v.job },
    head = { cpu = head_cpu, cpus = head_cpu },
    worker = { cpu = w.cpu, gpu = w.gpu, group = w.name, cpus = w.cpu, gpus = w.gpu },
    timeouts = { head_wait = p.timeouts.head_wait, ray_start = p.timeouts.ray_start, setup = p.timeouts.setup },
    ray_start_retries = p.ray.start_retries,
    ray = { object_store_mb = p.ray.object_store_mb, args = role.ray_args or {},
            -- (issue 13) the role's ray_resources and ray_labels as `ray start` takes them
            resources = ray_start.resources_json(role.ray_resources),
            labels = ray_start.labels_text(role.ray_labels),
            auth = versions.has_token_auth(p.ray.version) and "token" or "none" },  -- issue 14
  }
end


--- The roles that run Ray: the head, then each worker group (raycai.ray.groups.of).
local function roles(p)
  local out = { "head" }
  for _, g in ipairs(groups.of(p)) do out[#out + 1] = g.name end
  return out
end


--- The cluster's venvs: one per distinct runtime that runs Ray, the head's first. Each is
--- { runtime, fingerprint, dir, job, script, log, roles = {role...} }; the head's venv keeps the
--- historic names (job raycai-<c>-setup, setup_venv.py, setup.log), a group's runtime of its own
--- gets raycai-<c>-setup-<group>, setup_venv_<group>.py and setup_<group>.log (the default
--- group's is "worker"). A role is "head" or a group name.
function M.venvs(p, names, rt, setup_text)
  local list, by_role = {}, {}
  for _, role in ipairs(roles(p)) do
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


M.DEFAULT_TEMPLATES = { setup = "setup_venv.py.tmpl", head = "head.py.tmpl", worker = "worker.py.tmpl" }


--- The template sources: raycai's, with the recipe's overrides on top (launchers = { worker =
--- path, ... }: { key = { text, name } } read and checked by raycai.ray.recipe; a group name key
--- overrides that group's launcher only). Returns { key = { text, name } } or nil, err.
function M.sources(overrides)
  local out = {}
  for key, file in pairs(M.DEFAULT_TEMPLATES) do
    local text, err = resource.read(M.TEMPLATES .. "/" .. file)
    if not text then return nil, "launcher template missing: " .. err end
    out[key] = { text = text, name = file }
  end
  for key, src in pairs(overrides or {}) do out[key] = src end
  return out
end


--- Every script of the cluster: { head = text, worker = text, [group] = text, venvs = M.venvs'
--- list (each with .text, its setup script), by_role = { head = venv, worker = venv, [group] =
--- venv }, groups = raycai.ray.groups.of(p) }. Each template is read once; the setup template's
--- own text is part of the fingerprint. overrides: the recipe's launcher templates (M.sources).
---@param rt table<string, string>  the runtime identifiers by role
function M.all(p, names, rt, overrides)
  local sources, serr, scode = M.sources(overrides)
  if not sources then return nil, serr, scode end
  local venvs, by_role = M.venvs(p, names, rt, sources.setup.text)
  local gs = groups.of(p)
  local out = { venvs = venvs, by_role = by_role, groups = gs }
  local function render(src, v, role)
    local text, err = template.render(src.text, M.vars(p, v, role), { name = src.name })
    if not text and src.override then return nil, err, 2 end  -- the recipe's template: a recipe error
    return text, err
  end
  for _, v in ipairs(venvs) do
    local text, err, code = render(sources.setup, v)
    if not text then return nil, err, code end
    v.text = text
  end
  local text, err, code = render(sources.head, by_role.head, M.head_role(p))
  if not text then return nil, err, code end
  out.head = text
  for _, g in ipairs(gs) do
    text, err, code = render(sources[g.name] or sources.worker, by_role[g.name], g)
    if not text then return nil, err, code end
    out[g.name] = text
  end
  return out
end


--- (issue 15) One more template of the cluster (submit.py.tmpl), rendered with the variables of
--- venv v. Returns the text or nil, err.
function M.render(file, p, v)
  local text, err = resource.read(M.TEMPLATES .. "/" .. file)
  if not text then return nil, "template missing: " .. err end
  return template.render(text, M.vars(p, v), { name = file })
end


return M
