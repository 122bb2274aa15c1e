-- Every `ray start` command line the launchers build, parsed by Ray's own click options (not the
-- stub's): python/ray/scripts/scripts.py of a Ray source tree, through
-- tests/support/ray_cli_check.py. The tree is $RAY_SOURCE_DIR, else every folder of
-- ../shared/ray-src/ (Ray's 2.40 line and a 2.5x master in this repository's CI). Without any
-- the test is skipped (pending, and ctest reports it as skipped, never as passed); see
-- docs/DEVELOPING.md "Checking the launchers against Ray" for how to get a Ray source tree.
-- Run it before changing how a launcher calls `ray start`.
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local template = require "raycai.template"
local cjson = require "cjson"

local CHECK = "tests/support/ray_cli_check.py"


--- The Ray source trees to check against: { path, ... }.
local function sources()
  local given = os.getenv("RAY_SOURCE_DIR")
  if given and given ~= "" then return { given } end
  local root = (os.getenv("RAYCAI_SOURCE_DIR") or ".") .. "/../shared/ray-src"
  local out = {}
  for _, name in ipairs(fs.list(root) or {}) do
    local dir = fs.join(root, name)
    if fs.exists(fs.join(dir, "python/ray/scripts/scripts.py")) then out[#out + 1] = dir end
  end
  table.sort(out)
  return out
end

local SOURCES = sources()
local SKIP = #SOURCES == 0 and "no Ray source tree (set RAY_SOURCE_DIR to a checkout of "
  .. "ray-project/ray): ray cli parse check skipped"


--- Run argv with `input` on stdin; returns exit code and stdout.
local function run(argv, input)
  local tin, tout = os.tmpname(), os.tmpname()
  assert(fs.write(tin, input or ""))
  argv.stdin, argv.stdout, argv.stderr = tin, tout, tout
  argv.env = { LD_PRELOAD = false }
  local p = assert(proc.spawn(argv))
  local code = p:wait(120)
  p:close()
  local out = fs.read(tout) or ""
  os.remove(tin)
  os.remove(tout)
  return code, out
end


--- Render a launcher with the cluster's usual values and ask it for its `ray start` argv.
local function launcher_argv(name, env, ray_args, node)
  local text = assert(fs.read("lua/raycai/templates/" .. name .. ".tmpl"))
  local vars = {
    cluster = { name = "parse", gcs_port = 6379 }, project = { dir = "/home/cdsw" },
    venv = { dir = ".raycai/venvs/fp", python = "python3" },
    setup = { packages = {}, fingerprint = "fp", log = ".raycai/parse/setup.log" },
    head = { cpu = 4 }, worker = { cpu = 7.5, gpu = 1 },
    timeouts = { head_wait = 60, ray_start = 60 }, ray_start_retries = 3,
    ray = { object_store_mb = 0, args = ray_args or {},
            resources = node and node.resources, labels = node and node.labels },
  }
  local dir = assert(fs.tempdir("raycai-parse-"))
  local path = fs.join(dir, name)
  assert(fs.write(path, assert(template.render(text, vars, { name = name }))))
  local argv = { "python3", path, "--print-ray-start" }
  local code, out = run(argv)
  fs.remove(dir, { recursive = true })
  assert.equal(0, code, out)
  argv = cjson.decode(out)
  for k, v in pairs(env or {}) do argv[k] = v end
  return argv
end


--- Parse each argv with the Ray source at `src`: list of { ok, params | error }, exit code.
local function parse(src, argvs)
  local code, out = run({ "python3", CHECK, src }, cjson.encode(argvs))
  local results = {}
  for line in out:gmatch("[^\n]+") do
    local ok, r = pcall(cjson.decode, line)
    assert(ok, "ray_cli_check printed: " .. out)
    results[#results + 1] = r
  end
  return results, code, out
end


describe("the launchers' ray start commands, parsed by Ray's own click options", function()
  setup(function()
    if SKIP then return end
    local code, out = run { "python3", "-c", "import click" }
    assert(code == 0, "python3 has no click (apt-get install python3-click, or "
      .. "scripts/install-deps.sh): " .. out)
  end)

  if SKIP then
    it("cannot run without a Ray source tree", function() pending(SKIP) end)
    return
  end

  for _, src in ipairs(SOURCES) do
    describe("of " .. fs.basename(src), function()
      it("accept the head's and the worker's argv with the values the launchers mean", function()
        local head = launcher_argv("head.py", {})
        local worker = launcher_argv("worker.py", {})
        local results, code, out = parse(src, { head, worker })
        assert.equal(0, code, out)
        assert.equal(2, #results, out)
        local h, w = results[1].params, results[2].params
        assert.same({ true, 6379, true, "127.0.0.1", 8100, 4, "10.0.0.1", true },
                    { h.head, h.port, h.include_dashboard, h.dashboard_host, h.dashboard_port,
                      h.num_cpus, h.node_ip_address, h.block })
        assert.same({ false, "10.0.0.1:6379", 8, 1, "10.0.0.2", true },
                    { w.head, w.address, w.num_cpus, w.num_gpus, w.node_ip_address, w.block })
      end)

      it("accept the recipe's ray_args after raycai's own, with the values given", function()
        local head = launcher_argv("head.py", {}, { '--resources={"pool": 2}', "--min-worker-port=10002" })
        local worker = launcher_argv("worker.py", {}, { '--resources={"preprocess": 1}' })
        local results, code, out = parse(src, { head, worker })
        assert.equal(0, code, out)
        local h, w = results[1].params, results[2].params
        assert.same({ true, '{"pool": 2}', 10002, 6379 }, { h.head, h.resources, h.min_worker_port, h.port })
        assert.same({ '{"preprocess": 1}', "10.0.0.1:6379", true }, { w.resources, w.address, w.block })
      end)

      it("accept the role's ray_resources and ray_labels as --resources JSON and --labels k=v", function()
        -- rendered as raycai.ray.ray_start renders ray_resources and ray_labels
        local ray_start = require "raycai.ray.ray_start"
        local node = { resources = ray_start.resources_json({ preprocess = 1, pool = 0.5 }),
                       labels = ray_start.labels_text({ tier = "cpu", ["example.com/zone"] = "a" }) }
        local head = launcher_argv("head.py", {}, { "--min-worker-port=10002" }, node)
        local worker = launcher_argv("worker.py", {}, {}, node)
        local results, code, out = parse(src, { head, worker })
        assert.equal(0, code, out)
        for _, r in ipairs(results) do
          assert.same({ pool = 0.5, preprocess = 1 }, cjson.decode(r.params.resources))
          assert.equal("example.com/zone=a,tier=cpu", r.params.labels)
        end
        assert.same({ true, 10002 }, { results[1].params.head, results[1].params.min_worker_port })
        assert.same({ "10.0.0.1:6379", 8, 1 }, { results[2].params.address, results[2].params.num_cpus,
                                                results[2].params.num_gpus })
        -- no flag at all when the role has none (Ray's own defaults stay)
        local plain = launcher_argv("worker.py", {})
        for _, a in ipairs(plain) do assert.is_nil(a:match("^%-%-resources") or a:match("^%-%-labels")) end
      end)

      it("refuse what Ray refuses (so the check can fail): abbreviations, --port on a worker", function()
        local head = launcher_argv("head.py", {})
        local abbreviated = { table.unpack(head) }
        for i, a in ipairs(abbreviated) do
          if a == "--dashboard-port" then abbreviated[i] = "--dashboard-p" end
        end
        local worker = launcher_argv("worker.py", {})
        local with_port = { table.unpack(worker) }
        table.insert(with_port, 3, "--port")
        table.insert(with_port, 4, "6379")
        local results, code = parse(src, { abbreviated, with_port })
        assert.equal(1, code)
        assert.is_false(results[1].ok)
        assert.matches("No such option", results[1].error)
        assert.is_false(results[2].ok)
        assert.matches("`%-%-port` should only be specified when starting head node", results[2].error)
      end)
    end)
  end
end)
