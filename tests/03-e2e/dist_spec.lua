-- make dist: one relocatable tarball that runs from any folder, by any user, with a clean
-- environment. Built here from the test build (scripts/dist.sh), unpacked into a temporary
-- folder and run from / with `env -i`.
local sim = require "support.sim"
local run = require "support.run"
local proc = require "raycai.proc"
local fs = require "raycai.fs"

local BUILD = run.build
local SOURCE = os.getenv("RAYCAI_SOURCE_DIR") or "."


--- Run argv with `env -i PATH=/usr/bin:/bin HOME=home` plus env (a list of NAME=VALUE), in cwd.
local function clean_run(argv, opts)
  local out, err = os.tmpname(), os.tmpname()
  local full = { "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=" .. opts.home }
  -- the sanitizer build's binaries need their runtime's options to report at exit
  local asan = os.getenv("RAYCAI_CHILD_ASAN_OPTIONS")
  if asan then full[#full + 1] = "ASAN_OPTIONS=" .. asan end
  for _, kv in ipairs(opts.env or {}) do full[#full + 1] = kv end
  for _, a in ipairs(argv) do full[#full + 1] = a end
  full.cwd, full.stdout, full.stderr, full.kill_on_close = opts.cwd or "/", out, err, true
  full.env = { LD_PRELOAD = false }  -- env -i drops it anyway; said here for the reader
  local p = assert(proc.spawn(full))
  local code = p:wait(120)
  p:close()
  local r = { code = code, stdout = run.slurp(out), stderr = run.slurp(err) }
  run.assert_no_secret(r.stdout .. r.stderr)
  return r
end


local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local text = p:read("a")
  local ok = p:close()
  return ok, text
end


describe("make dist", function()
  local top, dir, bin, home, version

  setup(function()
    version = assert(run.raycai({ "--version" }).stdout:match("raycai%-run (%S+)"))
    local ok, text = sh(("sh %s/scripts/dist.sh %s %s %s"):format(SOURCE, BUILD, version, SOURCE))
    assert(ok, "scripts/dist.sh failed: " .. text)
    local tarball = text:match("(%S+%.tar%.gz)%s*$")
    assert.matches("raycai%-" .. version:gsub("%p", "%%%0") .. "%-linux%-[%w_]+%.tar%.gz$", tarball)
    top = fs.tempdir("raycai-dist")
    assert(sh(("tar -C %s -xzf %s"):format(top, tarball)))
    os.remove(tarball)
    local entries = assert(fs.list(top))
    assert.equal(1, #entries)
    dir = fs.join(top, entries[1])
    bin = fs.join(dir, "bin", "raycai-run")
    home = fs.join(top, "home")
    assert(fs.mkdir(home))
  end)

  teardown(function() if top then fs.remove(top, { recursive = true }) end end)

  it("holds raycai-run, cml-sim and the libraries cml-sim needs beyond a CML runtime image", function()
    local names = {}
    for _, sub in ipairs { "bin", "lib" } do
      for _, n in ipairs(assert(fs.list(fs.join(dir, sub)))) do names[#names + 1] = sub .. "/" .. n end
    end
    assert.same({ "bin/cml-sim", "bin/raycai-run", "lib/libcjson.so.1" }, names)
    -- Lua, lua-cjson and libcurl are not shared libraries of raycai-run (libcurl is dlopened)
    local _, needed = sh("readelf -d " .. bin)
    for lib in needed:gmatch("Shared library: %[([^%]]+)%]") do
      assert.is_nil(lib:match("lua") or lib:match("curl") or lib:match("cjson"), lib)
    end
  end)

  it("prints its version from / with a clean environment", function()
    local r = clean_run({ bin, "--version" }, { home = home })
    assert.equal(0, r.code, r.stderr)
    assert.equal(("raycai-run %s (Lua 5.4)\n"):format(version), r.stdout)
  end)

  it("runs a shipped recipe by name, and lists them", function()
    local r = clean_run({ bin, "gpu_cluster", "params" }, { home = home })
    assert.equal(0, r.code, r.stderr)
    assert.matches("worker%.gpu%s+integer%s+1", r.stdout)
    r = clean_run({ bin, "--list-recipes" }, { home = home })
    assert.equal(0, r.code, r.stderr)
    for _, name in ipairs { "cpu_cluster", "gpu_cluster", "team_example" } do
      assert.matches("\n" .. name:gsub("%p", "%%%0") .. "%s", r.stdout)
    end
    -- the team example finds its shared module inside the binary too
    r = clean_run({ bin, "team_example", "params" }, { home = home })
    assert.equal(0, r.code, r.stderr)
    assert.matches("team%-gpu", r.stdout)
  end)

  it("prefers a recipe on disk to the shipped one of the same name", function()
    local work = fs.join(top, "work")
    assert(fs.mkdir(work))
    assert(fs.write(fs.join(work, "gpu_cluster.lua"), [[
local ray = require "raycai.ray"
return ray.recipe { name = "gpu_cluster", doc = "the team's own copy", defaults = { cluster = "mine" } }
]]))
    local r = clean_run({ bin, "--help", "gpu_cluster" }, { home = home, cwd = work })
    assert.equal(0, r.code, r.stderr)
    assert.matches("the team's own copy", r.stdout)
    r = clean_run({ bin, "nosuch" }, { home = home })
    assert.equal(2, r.code)
    assert.matches("recipe 'nosuch' not found: .*gpu_cluster", r.stderr)
  end)

  it("deploys to a workspace and removes the cluster again", function()
    local s = sim.start { delays = sim.QUICK_DELAYS }
    local env = { "CML_HOST=" .. s.url, "CML_API_KEY=" .. s.api_key }
    local r = clean_run({ bin, "cpu_cluster" }, { home = home, env = env })
    assert.equal(0, r.code, r.stderr)
    assert.matches("Ray cluster 'cpu' is up", r.stdout)
    r = clean_run({ bin, "cpu_cluster", "down" }, { home = home, env = env })
    assert.equal(0, r.code, r.stderr)
    local _, projects = s:api("GET", "projects")
    local _, apps = s:api("GET", "projects/" .. projects.projects[1].id .. "/applications")
    s:stop()
    assert.equal(0, #apps.applications)
  end)

  it("runs recipe specs with the machine's busted: raycai-run test", function()
    local copy = fs.join(top, "recipes")
    assert(sh(("cp -R %s/recipes %s"):format(SOURCE, copy)))
    local r = clean_run({ bin, "test", copy }, { home = home })
    assert.equal(0, r.code, r.stdout .. r.stderr)
    assert.matches("%d+ successes / 0 failures / 0 errors", r.stdout)
  end)

  it("rehearses on the cml-sim it carries when no workspace is set", function()
    local r = clean_run({ bin, "cpu_cluster", "plan" }, { home = home })
    assert.equal(3, r.code, r.stderr)
    assert.matches("deploying to the built%-in simulator", r.stderr)
    assert.matches("create%s+project%s+ray%-cpu", r.stdout)
    assert.is_true(fs.exists(fs.join(home, ".local", "state", "raycai", "sim", "state.json")))
  end)
end)
