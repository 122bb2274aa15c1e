-- contrib/raycai-run.bash: sourced in a non-interactive bash, _raycai_run is called with
-- COMP_WORDS/COMP_CWORD set as bash would, and COMPREPLY is what it offers. Run both on its own
-- and on top of the bash-completion package (when installed), which provides _init_completion.
local fs = require "raycai.fs"
local proc = require "raycai.proc"
local cjson = require "cjson"

local source = assert(fs.cwd())
local build = fs.absolute(os.getenv("RAYCAI_BUILD_DIR") or "build")
local script = fs.join(source, "contrib/raycai-run.bash")
local gpu = fs.join(source, "recipes/gpu_cluster.lua")
local BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"

local DRIVER = [[
[ -n "$RAYCAI_BASH_COMPLETION" ] && source "$RAYCAI_BASH_COMPLETION"
source "$1"; shift
COMP_CWORD=$1; shift
COMP_WORDS=("$@")
COMP_LINE="${COMP_WORDS[*]:0:COMP_CWORD+1}"
COMP_POINT=${#COMP_LINE}
_raycai_run
printf '%s\n' "${COMPREPLY[@]}"
]]


--- Run argv, returning exit code and stdout (stderr is shown on failure).
local function run(argv, opts)
  local dir = assert(fs.tempdir("raycai-completion-run-"))
  local spec = { stdout = fs.join(dir, "out"), stderr = fs.join(dir, "err"), cwd = opts.cwd,
                 env = opts.env, kill_on_close = true }
  for i, a in ipairs(argv) do spec[i] = a end
  local p = assert(proc.spawn(spec))
  local code, werr = p:wait(60)
  p:close()
  local out, err = fs.read(spec.stdout) or "", fs.read(spec.stderr) or ""
  fs.remove(dir, { recursive = true })
  assert(code, tostring(werr))
  return code, out, err
end


local function sorted(list)
  table.sort(list)
  return list
end


local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end


--- The options and actions `raycai-run --help` documents.
local function from_help()
  local code, help = run({ fs.join(build, "raycai-run"), "--help" }, { env = {} })
  assert.are.equal(0, code)
  local options, actions = {}, {}
  local section
  for line in help:gmatch("[^\n]*") do
    if line:match("^%a") then section = line:match("^(%a+):") end
    if section == "Options" then
      for opt in line:gmatch("%f[%w-]%-%-?[%a][%w-]*") do
        if not set_of(options)[opt] then options[#options + 1] = opt end
      end
    elseif section == "Actions" then
      local a = line:match("^  (%a+)%s")
      if a then actions[#actions + 1] = a end
    end
  end
  assert.is_true(#options >= 5 and #actions >= 4, help)
  return sorted(options), sorted(actions)
end


--- Every --set name the recipe has: "path=" for a value, "path." for a map's entries.
local function param_names(recipe)
  local code, out = run({ fs.join(build, "raycai-run"), "--json", recipe, "params" }, { env = {} })
  assert.are.equal(0, code)
  local names = {}
  for line in out:gmatch("[^\n]+") do
    local ev = cjson.decode(line)
    if ev.event == "params" then
      for _, p in ipairs(ev.params) do names[#names + 1] = p.name .. (p.type == "map" and "." or "=") end
    end
  end
  assert.is_true(#names > 10)
  return sorted(names)
end


local function variants()
  local v = { { name = "without bash-completion", lib = false } }
  if fs.exists(BASH_COMPLETION) then
    v[#v + 1] = { name = "with bash-completion's _init_completion", lib = BASH_COMPLETION }
  end
  return v
end


for _, variant in ipairs(variants()) do
  describe("raycai-run bash completion " .. variant.name, function()
    local dir

    lazy_setup(function()
      dir = assert(fs.tempdir("raycai-completion-"))
      assert(fs.write(fs.join(dir, "mine.lua"), "return nil\n"))
      assert(fs.write(fs.join(dir, "notes.txt"), "not a recipe\n"))
      assert(fs.mkdir(fs.join(dir, "team")))
      assert(fs.write(fs.join(dir, "team", "other.lua"), "return nil\n"))
    end)

    lazy_teardown(function()
      if dir then fs.remove(dir, { recursive = true }) end
    end)

    --- What completing words[cword] (1-based here) offers, run in the temp folder.
    local function complete(words, cword)
      local argv = { "bash", "--norc", "--noprofile", "-c", DRIVER, "bash", script, tostring(cword - 1) }
      for _, w in ipairs(words) do argv[#argv + 1] = w end
      local code, out, err = run(argv, { cwd = dir, env = {
        PATH = build .. ":" .. os.getenv("PATH"), RAYCAI_BASH_COMPLETION = variant.lib or "",
        LD_PRELOAD = false, ASAN_OPTIONS = os.getenv("RAYCAI_CHILD_ASAN_OPTIONS") or false,
        CML_HOST = false, NO_COLOR = "1" } })
      assert.are.equal(0, code, err)
      local reply = {}
      for line in out:gmatch("[^\n]+") do reply[#reply + 1] = line end
      return sorted(reply)
    end

    it("offers every option --help documents after '-'", function()
      local options = from_help()
      assert.are.same(options, complete({ "raycai-run", "-" }, 2))
      assert.are.same({ "--json" }, complete({ "raycai-run", "--j" }, 2))
      assert.are.same({ "--purge" }, complete({ "raycai-run", "gpu_cluster.lua", "down", "--pu" }, 4))
    end)

    it("offers the actions after a recipe, and nothing after the action", function()
      local _, actions = from_help()
      assert.are.same(actions, complete({ "raycai-run", "mine.lua", "" }, 3))
      assert.are.same({ "status" }, complete({ "raycai-run", "-v", "mine.lua", "st" }, 4))
      assert.are.same(actions, complete({ "raycai-run", "--set", "workers=3", "mine.lua", "" }, 5))
      assert.are.same({}, complete({ "raycai-run", "mine.lua", "up", "" }, 4))
    end)

    it("offers the day-2 actions' words and options (issue 15)", function()
      assert.are.same({ "list", "logs", "status", "stop" }, complete({ "raycai-run", "mine.lua", "job", "" }, 4))
      assert.are.same({ "--detach" }, complete({ "raycai-run", "mine.lua", "submit", "--de" }, 4))
      assert.are.same({ "head", "job", "setup", "worker" }, complete({ "raycai-run", "mine.lua", "logs", "" }, 4))
      assert.are.same({ "--all-projects" }, complete({ "raycai-run", "list", "--all" }, 3))
    end)

    it("offers .lua files, folders and the installed recipes for the first argument", function()
      local reply = set_of(complete({ "raycai-run", "" }, 2))
      assert.is_true(reply["mine.lua"], "a .lua file in the folder")
      assert.is_true(reply["team"] or reply["team/"], "a folder")
      assert.is_nil(reply["notes.txt"], "not a recipe")
      assert.is_true(reply["gpu_cluster.lua"], "a recipe raycai-run finds by name")
      assert.are.same({ "team/other.lua" }, complete({ "raycai-run", "team/" }, 2))
      -- a --set value is not the recipe
      assert.is_true(set_of(complete({ "raycai-run", "--set", "workers=3", "" }, 4))["mine.lua"])
    end)

    it("offers the recipe's parameter names after --set", function()
      local names = param_names(gpu)
      assert.are.same(names, complete({ "raycai-run", gpu, "--set", "" }, 4))
      local wor = {}
      for _, n in ipairs(names) do if n:sub(1, 3) == "wor" then wor[#wor + 1] = n end end
      assert.is_true(#wor >= 2)
      assert.are.same(wor, complete({ "raycai-run", gpu, "--set", "wor" }, 4))
      assert.is_true(set_of(names)["env."], "a map parameter completes to its entries")
    end)

    it("asks the recipe named after the --set, found by name through PATH", function()
      assert.are.same({ "head.cpu=" }, complete({ "raycai-run", "--set", "head.c", "gpu_cluster.lua" }, 3))
    end)

    it("offers no parameter names without a recipe", function()
      assert.are.same({}, complete({ "raycai-run", "--set", "" }, 3))
    end)
  end)
end
