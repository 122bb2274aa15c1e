-- cml-sim: command line, start-up line, bearer auth, error bodies, unknown routes.
local sim = require "support.sim"
local proc = require "raycai.proc"

local KEY = "basics-key-1357"


--- Run cml-sim with args to completion: exit code, stdout+stderr.
local function run_sim(args)
  local cmd = sim.exe()
  for _, a in ipairs(args) do cmd = cmd .. " '" .. a .. "'" end
  local f = io.popen(cmd .. " 2>&1")
  local out = f:read("a")
  local _, _, code = f:close()
  return code, out
end


describe("cml-sim command line", function()
  it("prints its base URL as the first stdout line", function()
    local p = assert(proc.spawn { sim.exe(), "--listen", "127.0.0.1:0", stdout = "pipe", stderr = "null",
                                  new_group = true, kill_on_close = true })
    local line = assert(p:read_line(10))
    assert.matches("^http://127%.0%.0%.1:%d+$", line)
    assert.is_true(tonumber(line:match(":(%d+)$")) > 0)
    p:kill("TERM")
    assert.equal(0, p:wait(10))
    p:close()
  end)

  it("exits 0 on SIGINT too", function()
    local p = assert(proc.spawn { sim.exe(), stdout = "pipe", stderr = "null", new_group = true,
                                  kill_on_close = true })
    assert(p:read_line(10))
    p:kill("INT")
    assert.equal(0, p:wait(10))
    p:close()
  end)

  it("documents its flags in --help", function()
    local code, out = run_sim { "--help" }
    assert.equal(0, code)
    for _, flag in ipairs { "--listen", "--api-key", "--state-dir", "--delay", "--quota", "--exec",
                            "--python", "--domain", "--tls-cert", "--tls-key" } do
      assert.matches(flag, out, 1, true)
    end
  end)

  it("rejects an unknown flag with one line and exit code 2", function()
    local code, out = run_sim { "--nope" }
    assert.equal(2, code)
    assert.matches("^cml%-sim: unknown option: %-%-nope", out)
    assert.equal(1, select(2, out:gsub("\n", "")))
  end)

  it("rejects bad values with exit code 2", function()
    for _, args in ipairs { { "--listen", "nowhere" }, { "--delay", "app_start" },
                            { "--delay", "warp=5" }, { "--delay", "app_start=-1" },
                            { "--quota", "cpu=x" }, { "--quota", "disk=3" }, { "--listen" },
                            { "--tls-cert", "/x.pem" } } do
      local code, out = run_sim(args)
      assert.equal(2, code, table.concat(args, " ") .. ": " .. out)
      assert.matches("^cml%-sim: ", out)
    end
  end)

  it("serves HTTPS with --tls-cert and --tls-key and says so in its URL", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local ok = os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout '%s/k.pem' "
      .. "-out '%s/c.pem' -subj /CN=127.0.0.1 >/dev/null 2>&1"):format(dir, dir))
    assert(ok, "openssl could not make a certificate")
    local s = sim.start { tls_cert = dir .. "/c.pem", tls_key = dir .. "/k.pem" }
    assert.matches("^https://127%.0%.0%.1:%d+$", s.url)
    assert.equal(200, (s:api("GET", "projects")))
    s:stop()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("takes its key from CML_SIM_API_KEY", function()
    local p = assert(proc.spawn { sim.exe(), stdout = "pipe", stderr = "null", new_group = true,
                                  kill_on_close = true, env = { CML_SIM_API_KEY = "from-env" } })
    local url = assert(p:read_line(10))
    local s = sim.attach(url, "from-env")
    assert.equal(200, (s:api("POST", "auth/validate_key", { audience = "API" })))
    assert.equal(401, (s:api("POST", "auth/validate_key", { audience = "API" }, { key = "x" })))
    p:close()
  end)
end)


describe("cml-sim auth and errors", function()
  local s

  setup(function()
    s = sim.start { api_key = KEY }
  end)

  teardown(function()
    s:stop()
  end)

  it("validates the key for the API audience", function()
    local status, body = s:api("POST", "auth/validate_key", { audience = "API" })
    assert.equal(200, status)
    assert.same({ valid = true, username = "simuser", message = "API key is valid for the given audience" }, body)
  end)

  it("answers 403 audience mismatch for the Application audience", function()
    local status, body = s:api("POST", "auth/validate_key", { audience = "Application" })
    assert.equal(403, status)
    assert.equal(7, body.code)
    assert.equal("audience mismatch", body.message)
  end)

  it("answers 401 with the error body when the header is missing", function()
    local status, body = s:api("GET", "projects", nil, { key = false })
    assert.equal(401, status)
    assert.equal(16, body.code)
    assert.equal(body.message, body.error)
    assert.same({}, body.details)
  end)

  it("answers 401 for a wrong key and for a non-Bearer header", function()
    assert.equal(401, (s:api("GET", "projects", nil, { key = "wrong" })))
    assert.equal(401, (s:api("GET", "projects", nil, { key = false, headers = { "Authorization: Basic " .. KEY } })))
  end)

  it("accepts any case of the Bearer scheme", function()
    assert.equal(200, (s:api("GET", "projects", nil, { key = false, headers = { "Authorization: bearer " .. KEY } })))
  end)

  it("does not serve the spec, and needs no key to say so", function()
    local status, body = s:api("GET", "swagger.json", nil, { key = false })
    assert.equal(404, status)
    assert.equal(5, body.code)
  end)

  it("answers 404 NOT_FOUND for unknown routes and 405 for a wrong method", function()
    local status, body = s:api("GET", "nothing/here")
    assert.equal(404, status)
    assert.equal(5, body.code)
    status, body = s:api("PUT", "projects")
    assert.equal(405, status)
    assert.equal(12, body.code)
  end)

  it("answers 400 INVALID_ARGUMENT for a body that is not a JSON object", function()
    local status, body = s:api("POST", "projects", "[1, 2")
    assert.equal(400, status)
    assert.equal(3, body.code)
  end)

  it("answers JSON with the error, code, message and details keys", function()
    local _, body, raw = s:api("GET", "projects/zzzz-zzzz-zzzz-zzzz")
    assert.same({ "code", "details", "error", "message" }, (function()
      local keys = {}
      for k in pairs(body) do keys[#keys + 1] = k end
      table.sort(keys)
      return keys
    end)())
    assert.matches('"details":%[%]', raw)
  end)
end)
