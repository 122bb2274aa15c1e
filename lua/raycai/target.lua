-- raycai.target: which CML the run talks to. CML_HOST (with CML_API_KEY or CML_API_KEY_FILE)
-- names a real workspace; inside a CML workload (a session terminal, a job) the workspace and key
-- CML gives it (CDSW_API_URL or CDSW_DOMAIN, CDSW_APIV2_KEY) serve when CML_* are unset;
-- otherwise (or with --sim) raycai-run starts the built-in simulator (cml-sim) on loopback,
-- with its state in a per-user folder so status and down see the same cluster later.
local cml = require "raycai.cml"
local ui = require "raycai.ui"
local fs = require "raycai.fs"
local proc = require "raycai.proc"
local hash = require "raycai.hash"
local clock = require "raycai.clock"
local workload = require "raycai.cml.workload"

local M = {}


--- Folder of the built-in simulator's state: $RAYCAI_SIM_STATE, else
--- $XDG_STATE_HOME/raycai/sim, else ~/.local/state/raycai/sim.
function M.sim_state_dir()
  local explicit = os.getenv("RAYCAI_SIM_STATE")
  if explicit and explicit ~= "" then return explicit end
  local xdg = os.getenv("XDG_STATE_HOME")
  if xdg and xdg ~= "" then return fs.join(xdg, "raycai", "sim") end
  local home = os.getenv("HOME")
  if not home or home == "" then return nil, "neither HOME nor XDG_STATE_HOME is set: set RAYCAI_SIM_STATE" end
  return fs.join(home, ".local", "state", "raycai", "sim")
end


--- Path of the cml-sim executable next to raycai-run (build tree and installed bin alike).
function M.sim_path()
  local explicit = os.getenv("RAYCAI_CML_SIM")
  if explicit and explicit ~= "" then return explicit end
  local ok, host = pcall(require, "raycai.host")
  local dir = ok and host.exe_dir or os.getenv("RAYCAI_BUILD_DIR") or "build"
  return fs.join(dir, "cml-sim")
end


local function random_key()
  local f = io.open("/dev/urandom", "rb")
  local seed = f and f:read(16) or tostring(clock.time())
  if f then f:close() end
  return "sim-" .. hash.hex(seed) .. hash.hex(seed .. "2")
end


--- Start the built-in simulator; returns { url, api_key, domain } or nil, err.
function M.start_sim(ctx)
  local dir, derr = M.sim_state_dir()
  if not dir then return nil, derr end
  local ok, merr = fs.mkdir(dir, tonumber("700", 8))
  if not ok then return nil, ("cannot create the simulator state folder %s: %s"):format(dir, tostring(merr)) end
  local exe = M.sim_path()
  if not fs.exists(exe) then
    return nil, ("the built-in simulator is missing (%s); build it, or set CML_HOST to target a workspace"):format(exe)
  end
  local key = random_key()
  ui.secret(key)
  local argv = { exe, "--listen", "127.0.0.1:0", "--state-dir", dir, "--domain", "ml-sim.example.com",
                 env = { CML_SIM_API_KEY = key }, stdout = "pipe", stderr = fs.join(dir, "sim.log"),
                 new_group = true, kill_on_close = true }
  local extra = os.getenv("RAYCAI_SIM_ARGS")
  if extra then for a in extra:gmatch("%S+") do argv[#argv + 1] = a end end
  local p, perr = proc.spawn(argv)
  if not p then return nil, "could not start the built-in simulator: " .. tostring(perr) end
  local url, rerr = p:read_line(10)
  if not url or not url:match("^https?://") then
    p:close()
    local log = fs.read(fs.join(dir, "sim.log")) or ""
    local last = log:match("([^\n]+)\n?$") or tostring(rerr or url)
    if last:find("in use by another cml%-sim") then
      return nil, ("the built-in simulator (state in %s) is in use by another raycai-run; wait for it to "
        .. "finish, or set RAYCAI_SIM_STATE to another folder"):format(dir)
    end
    return nil, ("the built-in simulator did not start: %s (log: %s)"):format(last, fs.join(dir, "sim.log"))
  end
  ctx:on_close(function() p:close() end)
  return { url = url, api_key = key, domain = "ml-sim.example.com", state_dir = dir }
end


--- A positive number of seconds from an environment variable, nil when unset.
local function seconds_from_env(name)
  local v = os.getenv(name)
  if not v or v == "" then return true, nil end
  local n = tonumber(v)
  if not n or n <= 0 or n ~= n or n == math.huge then
    return nil, ("%s=%s is not a positive number of seconds"):format(name, v)
  end
  return true, n
end


--- Connect for this run: a client, or nil, message naming what to fix.
--- CML_TIMEOUT (seconds per request) and CML_RETRY_DEADLINE (seconds per call, retries included)
--- tune the client for slow or flaky gateways.
function M.connect(ctx)
  local opts = ctx.options or {}
  local log = opts.verbose and function(line) ui.detail(line) end or nil
  local ok, timeout = seconds_from_env("CML_TIMEOUT")
  if not ok then return nil, timeout end
  local dok, deadline = seconds_from_env("CML_RETRY_DEADLINE")
  if not dok then return nil, deadline end
  local kind, kerr = workload.kind(opts)
  if not kind then return nil, kerr end
  if kind ~= "sim" then
    local cfg, err
    if kind == "cml" then cfg, err = cml.config_from_env(os.getenv)
    else cfg, err = workload.config(os.getenv) end
    if not cfg then return nil, err end
    if opts.insecure then cfg.insecure = true end
    cfg.log, cfg.warn, cfg.timeout, cfg.deadline = log, ui.warn, timeout, deadline
    ctx.state.domain = (cfg.host:gsub("^%a+://", "")):match("^[^/:]+")
    if kind == "inside" then
      local project = tostring(ctx.params and ctx.params.project)
      local current = os.getenv("CDSW_PROJECT")
      if project == workload.current_project() and current and current ~= "" then
        project = ("%s (the current project, %s)"):format(current, project)
      end
      ui.info(("inside CML: workspace %s, project %s; CML_HOST and CML_API_KEY target another, --sim "
        .. "the built-in simulator"):format(cfg.host, project))
    end
    return cml.client(cfg)
  end
  local sim, serr = M.start_sim(ctx)
  if not sim then return nil, serr end
  ui.info(("no CML_HOST set: deploying to the built-in simulator at %s (state in %s); set CML_HOST and "
    .. "CML_API_KEY to target a real workspace"):format(sim.url, sim.state_dir))
  ctx.state.domain = sim.domain
  return cml.client { host = sim.url, api_key = sim.api_key, log = log, warn = ui.warn, timeout = timeout,
                      deadline = deadline }
end


return M
