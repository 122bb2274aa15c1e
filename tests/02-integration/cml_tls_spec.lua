-- raycai.cml over TLS against cml-sim with an openssl-generated self-signed certificate:
-- trusted through ca_bundle, refused without it (the message names CML_CA_BUNDLE), and
-- `insecure` works but warns.
local cml = require("raycai.cml")
local sim = require("support.sim")

local KEY = "tls-spec-key-2468"


-- A self-signed certificate for 127.0.0.1 in a fresh directory: cert, key paths.
local function make_cert()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  local ok = os.execute(table.concat({
    "openssl req -x509 -newkey rsa:2048 -nodes -days 2",
    "-keyout", key, "-out", cert,
    "-subj /CN=127.0.0.1",
    "-addext subjectAltName=IP:127.0.0.1,DNS:localhost",
    ">/dev/null 2>&1" }, " "))
  assert(ok, "openssl could not make a certificate")
  return dir, cert, key
end


describe("raycai.cml over TLS", function()
  local s, dir, cert

  setup(function()
    local key
    dir, cert, key = make_cert()
    s = sim.start { exec = false, api_key = KEY, tls_cert = cert, tls_key = key }
    assert.matches("^https://", s.url)
  end)

  teardown(function()
    s:stop()
    os.execute("rm -rf " .. dir)
  end)

  it("trusts the server with ca_bundle", function()
    local c = assert(cml.client { host = s.url, api_key = KEY, ca_bundle = cert, retries = 0 })
    local r, err = c:validate_key()
    assert(r, tostring(err))
    assert.is_true(r.valid)
    c:close()
  end)

  it("trusts the server with CML_CA_BUNDLE from the environment", function()
    local env = { CML_HOST = s.url, CML_API_KEY = KEY, CML_CA_BUNDLE = cert }
    local opts = assert(cml.config_from_env(function(k) return env[k] end))
    opts.retries = 0
    local c = assert(cml.client(opts))
    assert(c:validate_key())
    c:close()
  end)

  it("refuses an unknown certificate, naming CML_CA_BUNDLE and --insecure", function()
    local c = assert(cml.client { host = s.url, api_key = KEY, retries = 3 })
    s:clear_requests()
    local r, err = c:validate_key()
    assert.is_nil(r)
    assert.equal("tls", err.kind)
    assert.is_false(err.retryable)
    local text = tostring(err)
    assert.matches("^POST /api/v2/auth/validate_key: TLS verification failed", text)
    assert.matches("CML_CA_BUNDLE", text)
    assert.matches("--insecure", text, 1, true)
    assert.equal(0, #s:requests())
    c:close()
  end)

  it("works with insecure and warns on each client creation", function()
    local warnings = {}
    local function warn(msg) warnings[#warnings + 1] = msg end
    local c = assert(cml.client { host = s.url, api_key = KEY, insecure = true, warn = warn,
      retries = 0 })
    assert(c:validate_key())
    assert.equal(1, #warnings)
    assert.matches("insecure", warnings[1])
    c:close()
    local d = assert(cml.client { host = s.url, api_key = KEY, insecure = true, warn = warn })
    assert.equal(2, #warnings)
    d:close()
  end)

  it("does not warn without insecure", function()
    local warnings = {}
    local c = assert(cml.client { host = s.url, api_key = KEY, ca_bundle = cert,
      warn = function(m) warnings[#warnings + 1] = m end })
    assert.equal(0, #warnings)
    c:close()
  end)
end)
