-- raycai.cli: the command line of raycai-run. Parses options, loads the recipe in its sandbox,
-- applies --set, and dispatches the action. Returns the process exit code:
--   0 success, 1 failure while running, 2 usage or recipe error, 3 plan: changes pending /
--   status: cluster not healthy, 130 interrupted.
local host = require "raycai.host"
local ui = require "raycai.ui"
local clock = require "raycai.clock"
local fs = require "raycai.fs"
local term = require "raycai.term"

local M = {}

local EXIT = { ok = 0, failed = 1, usage = 2, pending = 3, interrupted = 130 }
M.EXIT = EXIT

local ACTIONS = { up = true, plan = true, status = true, down = true, params = true }

local USAGE = [[
usage: raycai-run [OPTIONS] RECIPE [ACTION]

Deploy a Ray cluster described by a Lua recipe to a Cloudera AI (CML) workspace.

Actions:
  up        create or update everything the recipe describes (default)
  plan      show what up would create, update or delete; changes nothing
            (exit 0: nothing to do, 3: changes pending)
  status    show the cluster's objects and their CML states (exit 3 if not healthy)
  down      stop and delete the cluster's applications (--purge: also its job and files)
  params    list the recipe's parameters with type, default, value and doc

Options:
  --set KEY=VALUE   set a recipe parameter (repeatable; dotted keys: --set head.cpu=8)
  --json            one JSON object per event on stdout instead of human output
  -v, --verbose     more detail: HTTP requests, tracebacks for recipe errors
  -q, --quiet       only the summary and errors
  --insecure        do not verify the workspace's TLS certificate (warns every run)
  --purge           with down: also delete the setup job and the cluster's files
  --version         print the version and exit
  -h, --help        this help

Environment:
  CML_HOST          workspace URL, e.g. https://ml-1234.example.cloudera.site
                    (unset: deploy to the built-in simulator)
  CML_API_KEY       API key (or CML_API_KEY_FILE: a file holding it)
  CML_CA_BUNDLE     PEM file of the CA that signed the workspace certificate
  RAYCAI_PATH       extra folders (colon-separated) where recipes find shared modules
  NO_COLOR          disable colours
]]


--- After Ctrl-C: say what this run changed and how to converge.
local function report_interrupt(detail)
  local done = ui.changes()
  local what = #done == 0 and "nothing was changed" or ("this run had " .. table.concat(done, ", "))
  ui.error(("interrupted%s: %s; run up again to converge, or down to remove the cluster")
    :format(detail and detail ~= "interrupted" and (" (" .. tostring(detail) .. ")") or "", what))
  return EXIT.interrupted
end


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
    elseif a == "--purge" then opts.purge = true
    elseif a == "--version" then opts.version = true
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


--- Find the recipe file: as given, else in the installed recipes folder.
local function find_recipe(path)
  if fs.exists(path) then return path end
  local installed = fs.join(host.share_dir or "", "recipes", path)
  if host.share_dir and fs.exists(installed) then return installed end
  local alt = fs.join(host.share_dir or "", path)
  if host.share_dir and fs.exists(alt) then return alt end
  return nil, ("recipe '%s' not found (no such file; the installed recipes are in %s)")
    :format(path, fs.join(host.share_dir or "?", "recipes"))
end


--- Load a recipe file in its sandbox. Returns the recipe, or nil, message, traceback.
function M.load_recipe(path)
  local sandbox = require "raycai.sandbox"
  local recipe = require "raycai.recipe"
  local found, ferr = find_recipe(path)
  if not found then return nil, ferr end
  local box = sandbox.new(found)
  local trace
  local ok, r = xpcall(sandbox.run_file, function(e)
    trace = debug.traceback(tostring(e), 2)
    return e
  end, box, found)
  if not ok then return nil, tostring(r), trace end
  if not recipe.is_recipe(r) then
    return nil, ("%s: the recipe must return recipe.new{ ... } (it returned a %s)"):format(found, type(r))
  end
  return r
end


local function print_params(r, values)
  local params = require "raycai.params"
  local rows = { { "PARAMETER", "TYPE", "DEFAULT", "VALUE", "DOC" } }
  local function show(v)
    if type(v) == "table" then
      local parts = {}
      for k, x in pairs(v) do
        parts[#parts + 1] = math.type(k) and tostring(x) or (tostring(k) .. "=" .. tostring(x))
      end
      table.sort(parts)
      return #parts > 0 and table.concat(parts, ",") or "-"
    end
    if v == nil then return "-" end
    if v == "" then return '""' end
    return tostring(v)
  end
  local list = {}
  for _, leaf in ipairs(params.flatten(r.params)) do
    local v = params.lookup(values, leaf.path)
    local shown = leaf.param.secret and (v and "***" or "-") or show(v)
    rows[#rows + 1] = { leaf.path, leaf.param.type, leaf.param.secret and "***" or show(leaf.param.default),
                        shown, leaf.param.doc }
    local hidden = leaf.param.secret and "***" or nil
    list[#list + 1] = { name = leaf.path, type = leaf.param.type, default = hidden or leaf.param.default,
                        value = hidden or v, doc = leaf.param.doc }
  end
  if ui.is_json() then
    ui.event("params", { recipe = r.name, params = list })
    return
  end
  ui.table(rows)
end


--- Run the action in a context; returns the exit code.
local function run_action(r, action, values, opts)
  local context = require "raycai.context"  -- not needed by --version, --help and params
  ui.event("run_started", { recipe = r.name, action = action, version = host.version })
  local ctx, cerr = context.new(r, values, opts)
  if not ctx then
    ui.error(tostring(cerr))
    return EXIT.failed
  end
  local ok, result, err
  ok, result, err = xpcall(function() return context.run(ctx, action) end, function(e)
    return { msg = e, trace = debug.traceback(tostring(e), 2) }
  end)
  context.close(ctx)
  if not ok then
    if clock.interrupted() then return report_interrupt() end
    ui.error(tostring(result.msg))
    if type(result.msg) == "table" and result.msg.usage then return EXIT.usage end
    if opts.verbose then term.write("stderr", result.trace .. "\n") end
    return EXIT.failed
  end
  if clock.interrupted() then return report_interrupt(err) end
  if result == nil then
    ui.error(tostring(err))
    return EXIT.failed
  end
  return result
end


--- Run the action. Returns the exit code.
local function dispatch(r, action, values, opts)
  if action == "params" then
    print_params(r, values)
    return EXIT.ok
  end
  local code = run_action(r, action, values, opts)
  ui.finish()
  ui.event("run_finished", { recipe = r.name, action = action, exit_code = code })
  return code
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
  if opts.help and not opts.recipe then
    term.write("stdout", USAGE)
    return EXIT.ok
  end
  if not opts.recipe then return usage_error("no recipe given; usage: raycai-run [OPTIONS] RECIPE [ACTION]") end
  if not ACTIONS[opts.action] then
    return usage_error(("unknown action '%s'; use up, plan, status, down or params"):format(opts.action))
  end
  if opts.purge and opts.action ~= "down" then return usage_error("--purge goes with the down action") end
  local r, lerr, trace = M.load_recipe(opts.recipe)
  if not r then
    ui.error(lerr)
    if opts.verbose and trace then term.write("stderr", trace .. "\n") end
    return EXIT.usage
  end
  local values, verr = r:values(opts.sets)
  if not values then
    ui.error(verr)
    return EXIT.usage
  end
  if opts.help then  -- help about this recipe: what it is and its parameters
    ui.out(("%s: %s\n\nusage: raycai-run [OPTIONS] %s [up|plan|status|down|params]\n")
      :format(r.name, r.doc ~= "" and r.doc or "(no description)", opts.recipe))
    print_params(r, values)
    return EXIT.ok
  end
  return dispatch(r, opts.action, values, opts)
end


return M
