-- raycai.cli: the command line of raycai-run. Parses options, loads the recipe in its sandbox,
-- applies --set, and hands the action to raycai.runner. Returns the process exit code:
--   0 success, 1 failure while running, 2 usage or recipe error, 3 plan: changes pending /
--   status: cluster not healthy, 130 interrupted.
local host = require "raycai.host"
local ui = require "raycai.ui"
local clock = require "raycai.clock"
local fs = require "raycai.fs"
local term = require "raycai.term"
local resource = require "raycai.resource"
local runner = require "raycai.runner"
local report = require "raycai.ui.report"

local M = {}

local EXIT = runner.EXIT
M.EXIT = EXIT

local ACTIONS = require "raycai.actions"  -- one entry per action
-- (issue 15) the day-2 actions' own arguments: raycai.day2 parses them
local day2 = require "raycai.day2"

local USAGE = [[
usage: raycai-run [OPTIONS] RECIPE [ACTION] [ARGS]
       raycai-run test [DIR]    run the recipe specs (*_spec.lua) under DIR with busted

RECIPE is a recipe file, or the name of a shipped recipe (raycai-run --list-recipes).
Deploy a Ray cluster described by a Lua recipe to a Cloudera AI (CML) workspace.

Actions:
%ACTIONS%

Without a recipe:
  raycai-run list [--project P | --all-projects]   every raycai cluster (--json)

Options:
  --set KEY=VALUE   set a recipe parameter (repeatable; dotted keys: --set head.cpu=8)
  --json            one JSON object per event on stdout instead of human output
  -v, --verbose     more detail: HTTP requests, tracebacks of recipe and internal errors
  -q, --quiet       only the summary and errors
  --trust-recipe    run the recipe with the full Lua library (io, os, debug, any module)
                    instead of the sandbox; only for recipes you have read (warns every run)
  --insecure        do not verify the workspace's TLS certificate, and allow an http://
                    CML_HOST that is not loopback (warns every run)
  --purge           with down: also delete the setup job and the cluster's files
  --sim             deploy to the built-in simulator even inside CML
  --list-recipes    list the shipped recipes (run one by name: raycai-run gpu_cluster)
  --version         print the version and exit
  -h, --help        this help

Environment:
  CML_HOST          workspace URL, e.g. https://ml-1234.example.cloudera.site
                    (unset: deploy to the built-in simulator)
  CML_API_KEY       API key (or CML_API_KEY_FILE: a file holding it)
  CML_CA_BUNDLE     PEM file of the CA that signed the workspace certificate
  RAYCAI_PATH       extra folders (colon-separated) where recipes find shared modules
  RAYCAI_RECIPE_BUDGET  instructions recipe code may run at load, params and plan
  NO_COLOR          disable colours
]]
USAGE = USAGE:gsub("%%ACTIONS%%", function() return ACTIONS.usage() end)


local function usage_error(msg)
  ui.error(msg .. " (see raycai-run --help)")
  return EXIT.usage
end


--- Parse argv into options; returns opts or nil, message.
function M.parse(args)
  local opts = { sets = {}, positional = {} }
  local i = 1
  local only_positional = false
  while i <= #args do
    local a = args[i]
    if only_positional or a:sub(1, 1) ~= "-" or a == "-" then
      opts.positional[#opts.positional + 1] = a
      -- (issue 15) RECIPE submit|job|logs|env ... and list ...: the rest is the action's
      local n = #opts.positional
      if (n == 2 and type(ACTIONS[a]) == "table" and ACTIONS[a].day2) or (n == 1 and a == "list" and not fs.exists("list")) then
        local day2_args, derr = day2.parse(a, { table.unpack(args, i + 1) }, opts)
        if not day2_args then return nil, derr end
        opts.day2 = day2_args
        break
      end
    elseif a == "--" then
      only_positional = true
    elseif a == "--set" then
      i = i + 1
      if not args[i] then return nil, "--set needs KEY=VALUE" end
      opts.sets[#opts.sets + 1] = args[i]
    elseif a:match("^%-%-set=") then
      opts.sets[#opts.sets + 1] = a:sub(7)
    elseif a == "--json" then opts.json = true
    elseif a == "-v" or a == "--verbose" then opts.verbose = true
    elseif a == "-q" or a == "--quiet" then opts.quiet = true
    elseif a == "--insecure" then opts.insecure = true
    elseif a == "--trust-recipe" then opts.trust_recipe = true
    elseif a == "--purge" then opts.purge = true
    elseif a == "--version" then opts.version = true
    elseif a == "--list-recipes" then opts.list_recipes = true
    elseif a == "--sim" then opts.sim = true
    elseif a == "-h" or a == "--help" then opts.help = true
    else
      return nil, ("unknown option '%s'"):format(a)
    end
    i = i + 1
  end
  if #opts.positional > 2 then
    return nil, ("unexpected argument '%s'"):format(opts.positional[3])
  end
  opts.recipe = opts.positional[1]
  opts.action = opts.positional[2] or "up"
  return opts
end


--- The folder of the shipped recipes: in the build tree, the installed tree or the binary.
local function shipped_dir()
  return host.share_dir and resource.join(host.share_dir, "recipes") or nil
end


--- The shipped recipes' names (gpu_cluster, ...), sorted.
function M.shipped_recipes()
  local dir = shipped_dir()
  local names = dir and resource.list(dir) or {}
  local out = {}
  for _, n in ipairs(names) do
    if n:match("%.lua$") then out[#out + 1] = n:sub(1, -5) end
  end
  return out
end


--- Find the recipe file: as given on disk, or NAME.lua on disk (a recipe on disk always wins),
--- else a shipped recipe by file name or by name (gpu_cluster).
local function find_recipe(path)
  if fs.exists(path) then return path end
  if not path:match("%.lua$") and fs.exists(path .. ".lua") then return path .. ".lua" end
  local dir = shipped_dir()
  if dir and not path:find("^/") then
    local cands = { resource.join(dir, path), resource.join(host.share_dir, path) }
    if not path:match("%.lua$") then cands[#cands + 1] = resource.join(dir, path .. ".lua") end
    for _, cand in ipairs(cands) do
      if resource.exists(cand) then return cand end
    end
  end
  local names = M.shipped_recipes()
  return nil, ("recipe '%s' not found: no such file, and no shipped recipe of that name (%s; "
    .. "raycai-run --list-recipes)"):format(path, #names > 0 and table.concat(names, ", ") or "none")
end


local recipe_budget = runner.recipe_budget
M.recipe_budget = recipe_budget


--- Load a recipe file in its sandbox (opts.trusted: without it). Returns the recipe, or
--- nil, message, traceback.
function M.load_recipe(path, opts)
  local sandbox = require "raycai.sandbox"
  local recipe = require "raycai.recipe"
  local found, ferr = find_recipe(path)
  if not found then return nil, ferr end
  local box = sandbox.new(found, { trusted = opts and opts.trusted })
  local trace
  clock.budget(recipe_budget())
  local ok, r = xpcall(sandbox.run_file, function(e)
    trace = debug.traceback(tostring(e), 2)
    return e
  end, box, found)
  clock.budget(nil)
  if not ok then return nil, tostring(r), trace end
  if not recipe.is_recipe(r) then
    return nil, ("%s: the recipe must return recipe.new{ ... } (it returned a %s)"):format(found, type(r))
  end
  return r
end


--- --list-recipes: each shipped recipe with its description.
function M.list_recipes()
  local list = {}
  for _, name in ipairs(M.shipped_recipes()) do
    local r = M.load_recipe(name)
    list[#list + 1] = { name = name, doc = r and r.doc or "(does not load: run raycai-run " .. name .. " params)" }
  end
  report.recipes(list)
  return EXIT.ok
end


--- Entry point: args is argv without the program name. Returns the exit code.
function M.main(args)
  local opts, perr = M.parse(args)
  ui.configure { json = opts and opts.json, verbose = opts and opts.verbose, quiet = opts and opts.quiet }
  if not opts then return usage_error(perr) end
  if opts.version then
    ui.out(("raycai-run %s (%s)"):format(host.version, _VERSION))
    if ui.is_json() then ui.event("version", { version = host.version, lua = _VERSION }) end
    return EXIT.ok
  end
  if opts.list_recipes then return M.list_recipes() end
  if opts.day2 and opts.positional[1] == "list" then  -- (issue 15) list: no recipe
    return require("raycai.list").run(opts)
  end
  if opts.positional[1] == "test" and not fs.exists("test") then
    -- raycai-run test [DIR]: the recipe specs (a recipe file named "test" still runs as one)
    local code, terr, tcode = require("raycai.test_runner").run { dir = opts.positional[2], verbose = opts.verbose }
    if not code then
      ui.error(terr)
      return tcode
    end
    return code
  end
  if opts.help and not opts.recipe then
    term.write("stdout", USAGE)
    return EXIT.ok
  end
  if not opts.recipe then return usage_error("no recipe given; usage: raycai-run [OPTIONS] RECIPE [ACTION]") end
  if type(ACTIONS[opts.action]) ~= "table" or not ACTIONS[opts.action].doc then
    return usage_error(("unknown action '%s'; use %s"):format(opts.action, ACTIONS.names()))
  end
  if opts.purge and opts.action ~= "down" then return usage_error("--purge goes with the down action") end
  local workload = require "raycai.cml.workload"
  workload.use_sim(opts.sim)
  if opts.action ~= "params" and not opts.help then
    -- a half-set CML environment is a usage error: nothing is looked up or changed
    local kind, kerr = workload.kind(opts)
    if not kind then return usage_error(kerr) end
  end
  -- a recipe can read the environment (os.getenv): the keys are secrets before any recipe runs
  -- (CDSW_APIV2_KEY: the key a CML workload has, used inside CML)
  for _, name in ipairs { "CML_API_KEY", "CDSW_APIV2_KEY" } do
    local key = os.getenv(name)
    if key and key:match("%S") then term.secret(key:match("^%s*(.-)%s*$")) end
  end
  local secrets = require "raycai.secrets"
  secrets.register_sets(opts.sets)  -- before any message can name a value
  if opts.trust_recipe then
    ui.warn(("--trust-recipe: %s runs with the full Lua library (files, processes, the debugger, any "
      .. "module), outside the sandbox; use it only for recipes you have read"):format(opts.recipe))
  end
  local r, lerr, trace = M.load_recipe(opts.recipe, { trusted = opts.trust_recipe })
  if not r then
    -- the loader's boundary: whatever loading raised (a recipe's mistake at its file:line, a
    -- parameter check) is returned here as the user's error, exit 2, nothing changed
    if clock.interrupted() then return runner.report_interrupt() end
    ui.error(lerr)
    if opts.verbose and trace then term.write("stderr", trace .. "\n") end
    return EXIT.usage
  end
  clock.budget(recipe_budget())  -- parameter checks may be recipe code
  local vok, values, verr = pcall(r.values, r, opts.sets)
  clock.budget(nil)
  if not vok then
    if clock.interrupted() then return runner.report_interrupt() end
    values, verr = nil, tostring(values)
  end
  -- the defaults' secrets too (a recipe's index URL with a token in it)
  secrets.register_values(r.params, values or require("raycai.params").defaults(r.params))
  if not values then
    ui.error(verr)
    return EXIT.usage
  end
  if opts.help then  -- help about this recipe: what it is and its parameters
    ui.out(("%s: %s\n\nusage: raycai-run [OPTIONS] %s [" .. table.concat(ACTIONS.ORDER, "|") .. "]\n")
      :format(r.name, r.doc ~= "" and r.doc or "(no description)", opts.recipe))
    report.params(r, values)
    return EXIT.ok
  end
  return runner.main(r, opts.action, values, opts)
end


return M
