-- raycai.cml.workload: is this process inside a CML workload (a session terminal, a job)? There
-- CML gives every workload its workspace and its user's API key (CDSW_API_URL, CDSW_DOMAIN,
-- CDSW_APIV2_KEY, CDSW_PROJECT_ID; shared/cml-api/FACTS.md), and raycai uses them when CML_HOST
-- is unset: CML_* always win. Light on purpose: the project parameter's default reads it while a
-- recipe loads, before (and without) any HTTP.
local M = {}

local forced_sim = false


--- --sim: this run targets the built-in simulator even inside CML (and the project parameter
--- no longer defaults to the current project).
function M.use_sim(on) forced_sim = on and true or false end


local function set(v) return v ~= nil and v:match("%S") ~= nil end


--- Where this run is: "cml" (CML_HOST names a workspace), "inside" (inside a CML workload,
--- CML_HOST unset), or "sim" (neither, or --sim); nil, message for a half-set CML environment.
---@param opts? {sim?: boolean}
---@param getenv? fun(name: string): string?
function M.kind(opts, getenv)
  getenv = getenv or os.getenv
  if forced_sim or (opts and opts.sim) then return "sim" end
  if set(getenv("CML_HOST")) then return "cml" end
  local url, domain, key = getenv("CDSW_API_URL"), getenv("CDSW_DOMAIN"), getenv("CDSW_APIV2_KEY")
  if not set(url) and not set(domain) and not set(key) then return "sim" end
  if not set(url) and not set(domain) then
    return nil, "CDSW_APIV2_KEY is set but neither CDSW_API_URL nor CDSW_DOMAIN: set CML_HOST to the "
      .. "workspace URL (or --sim for the built-in simulator)"
  end
  if not set(key) and not set(getenv("CML_API_KEY")) and not set(getenv("CML_API_KEY_FILE")) then
    return nil, ("%s is set but CDSW_APIV2_KEY is not: this looks like a CML workload without its API "
      .. "key; export CML_API_KEY=<key> (User Settings > API Keys), or CML_HOST and CML_API_KEY for "
      .. "another workspace"):format(set(url) and "CDSW_API_URL" or "CDSW_DOMAIN")
  end
  return "inside"
end


--- Inside a CML workload (kind "inside"): the current project's id, else nil. The recipes'
--- project parameter defaults to it.
function M.current_project(getenv)
  getenv = getenv or os.getenv
  if M.kind(nil, getenv) ~= "inside" then return nil end
  local id = getenv("CDSW_PROJECT_ID")
  return set(id) and id:match("^%s*(.-)%s*$") or nil
end


--- The workspace and key a CML workload has: CML_API_KEY(_FILE) wins over CDSW_APIV2_KEY, and
--- the host is CDSW_API_URL without its /api/v1 (as cmlapi's own default_client does), else
--- https://CDSW_DOMAIN. Returns client options or nil, message.
function M.config(getenv)
  getenv = getenv or os.getenv
  local url, domain = getenv("CDSW_API_URL"), getenv("CDSW_DOMAIN")
  local host = set(url) and url:match("^%s*(.-)%s*$"):gsub("/api/v1/?$", ""):gsub("/+$", "")
    or ("https://" .. domain:match("^%s*(.-)%s*$"))
  return require("raycai.cml").config_from_env(function(name)
    if name == "CML_HOST" then return host end
    if name == "CML_API_KEY" and not set(getenv("CML_API_KEY")) and not set(getenv("CML_API_KEY_FILE")) then
      return getenv("CDSW_APIV2_KEY")
    end
    return getenv(name)
  end)
end


return M
