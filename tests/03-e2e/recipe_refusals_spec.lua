-- Bad input of the recipe model v2 (issue 13): each is refused by raycai-run with exit 2 and one
-- line naming file:line (or the --set key), before any request to CML.
local sim = require "support.sim"
local run = require("support.run").raycai
local fs = require "raycai.fs"


describe("recipe model v2 refusals", function()
  local s, dir

  setup(function()
    s = sim.start {}
    dir = assert(fs.tempdir("raycai-refusals-"))
    assert(fs.mkdir(fs.join(dir, "templates")))
    assert(fs.write(fs.join(dir, "templates", "broken.tmpl"), "line one\n{{#if x}}\nnever closed\n"))
  end)
  teardown(function()
    if s then s:stop() end
    fs.remove(dir, { recursive = true })
  end)
  before_each(function() s:clear_requests() end)

  --- Write a recipe of `body` lines to dir/<name>.lua; run it; it must be refused.
  local function refused(name, body, patterns, args)
    local path = fs.join(dir, name .. ".lua")
    assert(fs.write(path, body))
    local argv = { path }
    for _, a in ipairs(args or {}) do table.insert(argv, #argv, a) end
    local r = run(argv, { env = { CML_HOST = s.url, CML_API_KEY = s.api_key, RAYCAI_PATH = "recipes" } })
    assert.equal(2, r.code, r.stderr .. r.stdout)
    local lines = {}
    for line in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(1, #lines, "one line, got:\n" .. r.stderr)
    for _, p in ipairs(patterns) do assert.matches(p, lines[1]) end
    assert.same({}, s:requests())
  end

  local function with_groups(groups)
    return ('local ray = require "raycai.ray"\nlocal x = ray.recipe {\n  name = "g",\n'
      .. '  defaults = { cluster = "g", groups = %s },\n}\nreturn x\n'):format(groups)
  end

  it("a group name that is not a DNS label", function()
    refused("bad_label", with_groups("{ CPU_1 = {} }"), { "bad_label%.lua:2:", "group name \"CPU_1\" is not valid" })
  end)

  it("a duplicate group", function()
    refused("dup", with_groups('{ { name = "cpu" }, { name = "cpu" } }'), { "dup%.lua:2:", "defined twice" })
  end)

  it("a group named like a role", function()
    refused("role", with_groups("{ setup = {} }"), { "role%.lua:2:", "is a raycai role" })
  end)

  it("a ray_args entry with a flag raycai owns, or shell syntax", function()
    refused("owned", with_groups('{ cpu = { ray_args = { "--address=1.2.3.4:6379" } } }'),
      { "owned%.lua:2:", "groups%.cpu%.ray_args", "raycai sets %-%-address" })
    refused("shell", with_groups('{ cpu = { ray_args = { "--temp-dir=$(id)" } } }'),
      { "shell%.lua:2:", "shell syntax" })
  end)

  it("a ray_args --set naming the key", function()
    refused("set_args", with_groups("{ cpu = {} }"), { "groups%.cpu%.ray_args", "raycai sets %-%-dashboard%-%*" },
      { "--set", "groups.cpu.ray_args=--dashboard-port=1" })
  end)

  it("a launcher template that does not exist or does not compile", function()
    refused("missing", 'local ray = require "raycai.ray"\nlocal x = ray.recipe { name = "m",\n'
      .. '  launchers = { worker = "templates/none.tmpl" } }\nreturn x\n',
      { "missing%.lua:2:", "launchers%.worker: template templates/none%.tmpl does not exist" })
    refused("broken", 'local ray = require "raycai.ray"\nlocal x = ray.recipe { name = "m",\n'
      .. '  launchers = { head = "templates/broken.tmpl" } }\nreturn x\n',
      { "broken%.lua:2:", "launchers%.head: template does not compile: templates/broken%.tmpl:%d+:" })
  end)

  it("an unknown step name in before, after, replace or remove", function()
    for _, key in ipairs({ "before", "after", "replace" }) do
      refused("step_" .. key, ('local gpu = require "gpu_cluster"\n\nreturn gpu:with { %s = { start_worker = '
        .. '{ name = "x", apply = function() return true end } } }\n'):format(key),
        { "step_" .. key .. "%.lua:3:", "no step named 'start_worker'", "start_head, start_workers" })
    end
    refused("step_remove", 'local gpu = require "gpu_cluster"\nreturn gpu:with { remove = { "nope" } }\n',
      { "step_remove%.lua:2:", "no step named 'nope'" })
  end)
end)
