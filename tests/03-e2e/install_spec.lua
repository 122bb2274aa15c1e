-- The installed layout and the Debian package: `cmake --install` of the build tree into a temp
-- prefix must give a raycai-run that, from any folder, finds its Lua library, its recipes and
-- cml-sim; the .deb built by cpack must hold the same files and depend on the Debian packages
-- that own the libraries the binaries link.
local fs = require "raycai.fs"
local proc = require "raycai.proc"

local source = assert(fs.cwd())
local build = fs.absolute(os.getenv("RAYCAI_BUILD_DIR") or "build")


--- Run argv; returns exit code, stdout, stderr. opts.env adds variables (false removes one),
--- opts.cwd sets the folder. Tools other than raycai's own run without a preloaded sanitizer.
local function run(argv, opts)
  opts = opts or {}
  local dir = assert(fs.tempdir("raycai-install-run-"))
  local spec = { stdout = fs.join(dir, "out"), stderr = fs.join(dir, "err"), cwd = opts.cwd,
                 kill_on_close = true, env = { LD_PRELOAD = false } }
  for i, a in ipairs(argv) do spec[i] = a end
  for k, v in pairs(opts.env or {}) do spec.env[k] = v end
  local p = assert(proc.spawn(spec))
  local code, werr = p:wait(opts.timeout or 120)
  p:close()
  local out, err = fs.read(spec.stdout) or "", fs.read(spec.stderr) or ""
  fs.remove(dir, { recursive = true })
  assert(code, ("%s: %s"):format(argv[1], tostring(werr)))
  return code, out, err
end


--- Run argv and fail the test, showing its output, unless it exits 0.
local function ok(argv, opts)
  local code, out, err = run(argv, opts)
  assert(code == 0, ("%s exited %d\n%s%s"):format(table.concat(argv, " "), code, out, err))
  return out, err
end


--- Every file under dir, as paths relative to dir.
local function files_under(dir, rel, out)
  out = out or {}
  for _, name in ipairs(assert(fs.list(rel and fs.join(dir, rel) or dir))) do
    local r = rel and fs.join(rel, name) or name
    local st = assert(fs.stat(fs.join(dir, r)))
    if st.type == "directory" then files_under(dir, r, out) else out[#out + 1] = r end
  end
  return out
end


describe("installed raycai", function()
  local prefix, elsewhere, state
  local env  -- what a user's shell would have: no build tree, no CML workspace

  lazy_setup(function()
    prefix = assert(fs.tempdir("raycai-prefix-"))
    elsewhere = assert(fs.tempdir("raycai-cwd-"))
    state = assert(fs.tempdir("raycai-simstate-"))
    ok({ "cmake", "--install", build, "--prefix", prefix })
    env = { CML_HOST = false, CML_API_KEY = false, CML_API_KEY_FILE = false, RAYCAI_LUA_PATH = false,
            RAYCAI_CML_SIM = false, RAYCAI_BUILD_DIR = false, RAYCAI_PATH = false,
            RAYCAI_SIM_STATE = state, NO_COLOR = "1",
            -- the sanitizer build installs sanitized binaries: let them report leaks
            ASAN_OPTIONS = os.getenv("RAYCAI_CHILD_ASAN_OPTIONS") or false,
            LD_PRELOAD = os.getenv("LD_PRELOAD") or false }
  end)

  lazy_teardown(function()
    for _, d in ipairs({ prefix, elsewhere, state }) do
      if d then fs.remove(d, { recursive = true }) end
    end
  end)

  local function raycai(args)
    local argv = { fs.join(prefix, "bin", "raycai-run") }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return run(argv, { cwd = elsewhere, env = env })
  end

  it("installs both programs, the Lua library, recipes, types, man page and completion", function()
    for _, rel in ipairs({ "bin/raycai-run", "bin/cml-sim", "lib/raycai/http.so", "share/man/man1/raycai-run.1",
                           "share/bash-completion/completions/raycai-run", "share/doc/raycai/LICENSE" }) do
      assert.is_true(fs.exists(fs.join(prefix, rel)), rel .. " is not installed")
    end
    for _, tree in ipairs({ "lua", "recipes", "types" }) do
      for _, rel in ipairs(files_under(fs.join(source, tree))) do
        local installed = fs.join(prefix, "share/raycai", tree, rel)
        assert.is_true(fs.exists(installed), installed .. " is missing")
        assert.are.equal(fs.read(fs.join(source, tree, rel)), fs.read(installed))
      end
    end
    assert.are.equal(fs.read(fs.join(source, "contrib/raycai-run.bash")),
                     fs.read(fs.join(prefix, "share/bash-completion/completions/raycai-run")))
    assert.are.equal(tonumber("755", 8), fs.stat(fs.join(prefix, "bin/cml-sim")).mode & tonumber("755", 8))
  end)

  it("--version from another folder prints what the build tree prints", function()
    local want = ok({ fs.join(build, "raycai-run"), "--version" }, { env = env })
    local code, out, err = raycai({ "--version" })
    assert.are.equal(0, code, err)
    assert.are.equal(want, out)
    assert.is_truthy(out:match("^raycai%-run %d+%.%d+%.%d+"))
  end)

  it("finds an installed recipe by its name and lists its parameters", function()
    local code, out, err = raycai({ "gpu_cluster.lua", "params" })
    assert.are.equal(0, code, err)
    assert.is_truthy(out:match("\nworkers%s+integer%s+2%s"), out)
    assert.is_truthy(out:match("\ncluster%s+string%s+gpu%s"), out)
    assert.is_truthy(out:match("\nhead%.cpu%s"), out)
  end)

  it("runs up, status and down of gpu_cluster.lua against its own cml-sim", function()
    local code, out, err = raycai({ "gpu_cluster.lua", "up" })
    assert.are.equal(0, code, out .. err)
    assert.is_truthy(out:match("Ray cluster 'gpu' is up"), out .. err)
    assert.is_truthy(fs.exists(fs.join(state, "sim.log")), "the simulator did not keep its state in RAYCAI_SIM_STATE")

    code, out, err = raycai({ "gpu_cluster.lua", "status" })
    assert.are.equal(0, code, out .. err)
    assert.is_truthy(out:match("raycai%-gpu%-head%s+head%s+APPLICATION_RUNNING"), out)
    assert.is_truthy(out:match("raycai%-gpu%-worker%-2%s+worker%s+APPLICATION_RUNNING"), out)
    assert.is_truthy(out:match("cluster healthy"), out)

    code, out, err = raycai({ "gpu_cluster.lua", "down" })
    assert.are.equal(0, code, out .. err)
    assert.is_truthy(err:match("deleted application raycai%-gpu%-head"), err)

    code, out = raycai({ "gpu_cluster.lua", "status" })
    assert.are.equal(3, code, out)
    assert.is_falsy(out:match("APPLICATION_RUNNING"), out)
  end)

  it("looks for cml-sim next to itself, not in the build tree", function()
    local sim = fs.join(prefix, "bin", "cml-sim")
    assert(os.rename(sim, sim .. ".away"))
    local code, out, err = raycai({ "gpu_cluster.lua", "status" })
    assert(os.rename(sim .. ".away", sim))
    assert.are_not.equal(0, code)
    assert.is_truthy((out .. err):find(sim, 1, true), out .. err)
  end)
end)


describe("the Debian package", function()
  local dir, deb

  lazy_setup(function()
    dir = assert(fs.tempdir("raycai-deb-"))
    ok({ "cpack", "--config", fs.join(build, "CPackConfig.cmake"), "-B", dir }, { cwd = dir })
    for _, name in ipairs(assert(fs.list(dir))) do
      if name:match("%.deb$") then deb = fs.join(dir, name) end
    end
    assert(deb, "cpack made no .deb in " .. dir)
  end)

  lazy_teardown(function()
    if dir then fs.remove(dir, { recursive = true }) end
  end)

  --- The Debian packages owning the libraries a binary links directly (NEEDED), except the
  --- sanitizer runtimes of a -DRAYCAI_SANITIZE=ON build.
  local function owners(binary)
    local dyn = ok({ "readelf", "-d", binary })
    local where = ok({ "ldd", binary })
    local pkgs = {}
    for lib in dyn:gmatch("%(NEEDED%)%s+Shared library: %[([^%]]+)%]") do
      if not lib:match("^libasan") and not lib:match("^libubsan") then
        local path = where:match("\n?%s*" .. lib:gsub("%p", "%%%0") .. " => (%S+)")
        assert(path, "ldd does not resolve " .. lib)
        -- compare the last two components: /lib and /usr/lib are one folder (merged /usr)
        local tail = path:match("[^/]+/[^/]+$")
        local code, out = run({ "dpkg", "-S", "*/" .. lib })
        assert.are.equal(0, code, "no Debian package owns " .. lib)
        local found
        for line in out:gmatch("[^\n]+") do
          local pkg, file = line:match("^([^:]+)[^ ]*: (.+)$")
          if file and file:sub(-#tail - 1) == "/" .. tail then found = pkg end
        end
        assert(found, ("no package owns %s (%s):\n%s"):format(lib, path, out))
        pkgs[found] = lib
      end
    end
    return pkgs
  end

  it("depends on the packages owning every library the binaries link, and on python3", function()
    local depends = ok({ "dpkg-deb", "-f", deb, "Depends" })
    local listed = {}
    for name in depends:gmatch("([%w.+-]+)[^,]*") do listed[name] = true end
    local needed = owners(fs.join(build, "raycai-run"))
    for _, other in ipairs { "cml-sim", "lib/raycai/http.so" } do
      for pkg, lib in pairs(owners(fs.join(build, other))) do needed[pkg] = lib end
    end
    assert.is_not_nil(needed.libcurl4, "raycai.http should link libcurl")
    assert.is_not_nil(needed["liblua5.4-0"], "raycai-run should link liblua5.4")
    assert.is_not_nil(needed["libmicrohttpd12"], "cml-sim should link libmicrohttpd")
    for pkg, lib in pairs(needed) do
      assert.is_true(listed[pkg] or false, ("Depends (%s) lacks %s, which owns %s"):format(depends, pkg, lib))
    end
    assert.is_true(listed.python3 or false, "Depends lacks python3 (cml-sim --exec runs scripts with it)")
  end)

  it("installs the programs in /usr/bin and the whole library, recipes, types, man page and completion", function()
    local listing = ok({ "dpkg-deb", "-c", deb })
    local files = {}
    for path in listing:gmatch("%s%./(%S+)\n") do files[path] = true end
    for _, want in ipairs({ "usr/bin/raycai-run", "usr/bin/cml-sim", "usr/lib/raycai/http.so", "usr/share/man/man1/raycai-run.1",
                            "usr/share/bash-completion/completions/raycai-run" }) do
      assert.is_true(files[want] or false, want .. " is not in the package")
    end
    for _, tree in ipairs({ "lua", "recipes", "types" }) do
      for _, rel in ipairs(files_under(fs.join(source, tree))) do
        local want = fs.join("usr/share/raycai", tree, rel)
        assert.is_true(files[want] or false, want .. " is not in the package")
      end
    end
  end)

  it("holds a raycai-run that runs from the unpacked tree", function()
    local root = fs.join(dir, "root")
    ok({ "dpkg-deb", "-x", deb, root })
    local code, out, err = run({ fs.join(root, "usr/bin/raycai-run"), "gpu_cluster.lua", "params" },
                               { cwd = dir, env = { RAYCAI_LUA_PATH = false, LD_PRELOAD = os.getenv("LD_PRELOAD") or false } })
    assert.are.equal(0, code, err)
    assert.is_truthy(out:match("\nworkers%s+integer"), out)
    -- a request loads raycai.http from usr/lib/raycai: the connection is refused, nothing else fails
    code, out, err = run({ fs.join(root, "usr/bin/raycai-run"), "gpu_cluster.lua", "status" },
      { cwd = dir, env = { RAYCAI_LUA_PATH = false, CML_HOST = "http://127.0.0.1:1", CML_API_KEY = "k",
                           CML_RETRY_DEADLINE = "1", LD_PRELOAD = os.getenv("LD_PRELOAD") or false } })
    assert.are.equal(1, code, out .. err)
    assert.is_falsy(err:find("cannot load", 1, true), err)
    assert.is_truthy(err:find("127.0.0.1", 1, true), err)
  end)

  it("keeps libcurl out of raycai-run itself: only its raycai.http module links it", function()
    local host = ok({ "readelf", "-d", fs.join(build, "raycai-run") })
    assert.is_falsy(host:find("libcurl", 1, true), host)
    local module = ok({ "readelf", "-d", fs.join(build, "lib/raycai/http.so") })
    assert.is_truthy(module:find("libcurl", 1, true), module)
  end)
end)
