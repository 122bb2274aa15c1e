-- raycai.ray.versions: what raycai knows about Ray releases. The default version, the Python
-- versions each Ray minor has wheels for, and the click constraint of the Ray versions whose
-- CLI breaks with click 8.3. Every row says where it comes from in Ray's own repository
-- (ray-project/ray, read from a copy that keeps its master history under the upstream commit
-- ids); see docs/recipes.md "Ray versions".
local M = {}

--- The newest Ray release verified from Ray's source: master of 2026-03-14 (15252a792e13)
--- holds "Add perf metrics for 2.54.0" (7beb5803d5, 2026-02-12) and
--- release/perf_metrics/metadata.json {"release_version": "2.54.0"}; nothing names a later one.
--- 2.5x has token authentication (python/ray/_private/authentication/).
M.DEFAULT = "2.54.0"

--- Python versions with Ray wheels, per Ray minor: { first, last } as { major, minor }.
--- Source: python/setup.py's SUPPORTED_PYTHONS / python_requires / classifiers at the master
--- commits each release branch was cut from (dated by the release's "perf metrics" and
--- "Docker dependencies" commits), and doc/source/ray-overview/installation.rst for the wheels:
---   3.9..3.12  SUPPORTED_PYTHONS until d2004b6353 (2025-02-13, "Initial port of Ray to Python
---              3.13"); 2.40 = master 32cc3660 (2024-12-02): python_requires ">=3.9",
---              classifiers 3.9-3.12. 2.41 and 2.42 (released 2025-02-05) came before the port.
---   2.43       left out: its branch was cut about when 3.13 was added (not checked)
---   3.9..3.13  2.44 (2025-03) to 2.53 (2025-12-20): 3.13 in SUPPORTED_PYTHONS, cp313 wheels
---              listed in installation.rst since ecc1477fd6 (2025-02-18, "beta");
---              python_requires ">=3.9" until ed23f3efff (2026-01-04)
---   3.10..3.13 2.54: ed23f3efff dropped 3.9 (python_requires ">=3.10"); 3.14 joined
---              SUPPORTED_PYTHONS in c0fc46b849 (2026-02-05) but installation.rst lists no
---              cp314 wheel even at master 2026-03-14
--- A minor not in the table is not checked (pip decides).
M.PYTHONS = {
  ["2.40"] = { { 3, 9 }, { 3, 12 } },
  ["2.41"] = { { 3, 9 }, { 3, 12 } },
  ["2.42"] = { { 3, 9 }, { 3, 12 } },
  ["2.44"] = { { 3, 9 }, { 3, 13 } }, ["2.45"] = { { 3, 9 }, { 3, 13 } },
  ["2.46"] = { { 3, 9 }, { 3, 13 } }, ["2.47"] = { { 3, 9 }, { 3, 13 } },
  ["2.48"] = { { 3, 9 }, { 3, 13 } }, ["2.49"] = { { 3, 9 }, { 3, 13 } },
  ["2.50"] = { { 3, 9 }, { 3, 13 } }, ["2.51"] = { { 3, 9 }, { 3, 13 } },
  ["2.52"] = { { 3, 9 }, { 3, 13 } }, ["2.53"] = { { 3, 9 }, { 3, 13 } },
  ["2.54"] = { { 3, 10 }, { 3, 13 } },
}

--- The click constraint for Ray versions whose `ray` CLI dies with click 8.3
--- (ray-project/ray#56747): scripts.py's add_command_alias() deep-copies click commands at
--- import, and click 8.3's Sentinel enum cannot be deep-copied on Python 3.10 ("... is not a
--- valid Sentinel"). Ray requires only "click>=7.0"; it banned 8.3.0 (f5c2b1a25d, 2025-09-22)
--- and 8.3.* (c446399132, 2025-11-16), then removed add_command_alias (2bcec095ab, 2025-11-18,
--- "Closes #56747"), first released in 2.53. So every Ray before 2.53 gets "click<8.3"
--- (on every Python: the venv's interpreter is only known when the job runs), unless the
--- recipe's own packages name click.
M.CLICK_FIXED_IN = { 2, 53 }
M.CLICK_CONSTRAINT = "click<8.3"

--- The first Ray minor with token authentication (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN_PATH):
--- doc/source/ray-security/token-auth.md at master 2026-03-14 says "Token authentication is
--- available in Ray 2.52.0 or later"; python/ray/_private/authentication/ is absent from the
--- 2.40 line. Older Ray ignores RAY_AUTH_MODE (its cluster is open).
M.TOKEN_AUTH_SINCE = { 2, 52 }

--- (issue 13) The first Ray minor raycai gives `ray start --labels key1=v1,key2=v2` (ray_labels).
--- At the 2.40 line --labels is a hidden option taking only a JSON object
--- (parse_node_labels_json); at master 2026-03-14 it parses "k=v,..." first
--- (parse_node_labels_string, Kubernetes label syntax) and JSON only as a deprecated fallback.
--- The string form came with the label selector work (ray-project/ray#51706, March 2025,
--- reverted in #52063, re-landed later); Ray's docs (ray-core/scheduling/labels) date labels
--- for scheduling "Ray version 2.49.0 and above". Which release between 2.44 and 2.49 first
--- parsed the string form is not verified, so raycai refuses ray_labels before 2.49 (inferred;
--- docs/cml-sim.md "Ray node labels").
M.LABELS_SINCE = { 2, 49 }


--- { major, minor } of a version string such as 2.40.0, or nil.
local function minor_of(version)
  local a, b = tostring(version):match("^(%d+)%.(%d+)")
  if not a then return nil end
  return { tonumber(a), tonumber(b) }
end


local function before(x, y)
  return x[1] < y[1] or (x[1] == y[1] and x[2] < y[2])
end


--- nil when Ray `version` has wheels for the runtime kernel `kernel` ("Python 3.13") or
--- raycai cannot tell; else a one-line reason naming the versions that work.
function M.python_problem(version, kernel)
  local v = minor_of(version)
  local range = v and M.PYTHONS[("%d.%d"):format(v[1], v[2])]
  local py = kernel and minor_of(tostring(kernel):match("^Python (%d+%.%d+)") or "")
  if not range or not py then return nil end
  if before(py, range[1]) or before(range[2], py) then
    return ("Ray %s has no wheels for %s (Ray %d.%d supports Python %d.%d to %d.%d); "
      .. "set ray.version to a release for that Python (the default %s supports %s) "
      .. "or python.kernel to a supported one"):format(version, kernel, v[1], v[2],
      range[1][1], range[1][2], range[2][1], range[2][2], M.DEFAULT, M.range_text(M.DEFAULT))
  end
  return nil
end


--- "3.10 to 3.13" for a Ray version in the table, else "?".
function M.range_text(version)
  local v = minor_of(version)
  local range = v and M.PYTHONS[("%d.%d"):format(v[1], v[2])]
  if not range then return "?" end
  return ("Python %d.%d to %d.%d"):format(range[1][1], range[1][2], range[2][1], range[2][2])
end


--- Whether Ray `version` has token authentication (an unparsable version: assumed yes, as
--- raycai's versions are 2.5x from now on; pip fails on a version that does not exist).
function M.has_token_auth(version)
  local v = minor_of(version)
  return not v or not before(v, M.TOKEN_AUTH_SINCE)
end


--- Whether Ray `version` takes `--labels key=value,...` (an unparsable version: assumed yes,
--- as for has_token_auth).
function M.has_labels(version)
  local v = minor_of(version)
  return not v or not before(v, M.LABELS_SINCE)
end


--- The extra requirement strings Ray `version` needs next to the recipe's `packages`.
function M.constraints(version, packages)
  local v = minor_of(version)
  if not v or not before(v, M.CLICK_FIXED_IN) then return {} end
  for _, pkg in ipairs(packages or {}) do
    local name = tostring(pkg):match("^%s*([%w%._%-]+)")
    if name and name:lower() == "click" then return {} end  -- the recipe chose its click
  end
  return { M.CLICK_CONSTRAINT }
end


return M
