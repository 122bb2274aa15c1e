-- The transport policy (issue 14, item 3): CML_HOST=http:// is refused before any connection
-- unless the host is loopback or --insecure is given (then a warning); a redirect is never
-- followed, so the Authorization header never goes anywhere CML_HOST did not name. Proved with
-- listeners that count the connections they accept.
local cml = require "raycai.cml"
local proc = require "raycai.proc"
local fs = require "raycai.fs"
local support = require "support.run"

local KEY = "sk-TRANSPORT-5b3c9e1a7d2f4086"
local GPU = "recipes/gpu_cluster.lua"

-- A listener on every interface: logs "accept" per connection to a file; answers each request
-- with `reply` (a raw HTTP response, %s: the redirect target) or closes without a word.
local LISTENER = [==[
import socket, sys, threading
log, reply = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 0))
srv.listen(16)
print("PORT", srv.getsockname()[1], flush=True)
def serve(c):
    with open(log, "a") as f:
        f.write("accept\n")
    try:
        c.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        with open(log, "a") as f:
            f.write(data.decode("latin-1").replace("\r\n", "\n"))
        if reply:
            c.sendall(reply.encode())
    finally:
        c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
]==]


-- The first address of this machine that is not loopback (hostname -I).
local function outside_address()
  local p = assert(io.popen("hostname -I 2>/dev/null"))
  local out = p:read("a") or ""
  p:close()
  for addr in out:gmatch("%S+") do
    if addr:match("^%d+%.%d+%.%d+%.%d+$") and not addr:match("^127%.") then return addr end
  end
  return nil
end


-- Start a listener; returns { port, log = path, p = process }.
local function listen(reply)
  local script, log = os.tmpname(), os.tmpname()
  assert(fs.write(script, LISTENER))
  local p = assert(proc.spawn { "python3", script, log, reply, stdout = "pipe", stderr = "null",
                                kill_on_close = true })
  local line = assert(p:read_line(20), "listener did not start")
  os.remove(script)
  return { port = assert(tonumber(line:match("^PORT (%d+)"))), log = log, p = p }
end


local function accepts(l)
  local n = 0
  for _ in (fs.read(l.log) or ""):gmatch("accept\n") do n = n + 1 end
  return n
end


local function stop(l)
  l.p:close()
  os.remove(l.log)
end


local function run(host, args)
  local argv = { GPU }
  for _, a in ipairs(args or { "plan" }) do argv[#argv + 1] = a end
  return support.raycai(argv, { env = { CML_HOST = host, CML_API_KEY = KEY, CML_TIMEOUT = "2",
                                        CML_RETRY_DEADLINE = "3", RAYCAI_SIM_STATE = false } })
end


describe("transport policy", function()
  local outside

  setup(function()
    table.insert(support.secrets, KEY)
    outside = outside_address()
    assert(outside, "this machine has no non-loopback IPv4 address (hostname -I) for the test")
  end)

  describe("cml.is_loopback()", function()
    it("knows 127.0.0.0/8, localhost and ::1, and nothing else", function()
      for _, h in ipairs { "127.0.0.1", "127.1.2.3", "localhost", "::1", "a.localhost" } do
        assert.is_true(cml.is_loopback(h), h)
      end
      for _, h in ipairs { "128.0.0.1", "10.0.0.1", "127.0.0.256", "localhost.example.com", "::2",
                           "127.0.0.1.example.com", "" } do
        assert.is_false(cml.is_loopback(h), h)
      end
    end)
  end)

  describe("cml.client()", function()
    it("refuses http:// to another host, naming https://", function()
      local c, err = cml.client { host = "http://ml.example.com", api_key = KEY }
      assert.is_nil(c)
      assert.matches("use https://ml%.example%.com", err)
      assert.matches("clear text", err)
    end)

    it("accepts http:// to loopback, by address and by name, without a warning", function()
      for _, h in ipairs { "http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9" } do
        local warned
        local c = assert(cml.client { host = h, api_key = KEY, warn = function(m) warned = m end })
        assert.is_nil(warned, h)
        c:close()
      end
    end)

    it("does not let userinfo pretend to be loopback", function()
      local c, err = cml.client { host = "http://127.0.0.1@ml.example.com", api_key = KEY }
      assert.is_nil(c)
      assert.matches("clear text", err)
    end)

    it("accepts http:// with insecure, and warns", function()
      local warned
      local c = assert(cml.client { host = "http://ml.example.com", api_key = KEY, insecure = true,
                                    warn = function(m) warned = m end })
      assert.matches("clear text", warned)
      c:close()
    end)
  end)

  describe("raycai-run", function()
    local l

    before_each(function() l = listen("") end)
    after_each(function() stop(l) end)

    it("exits 2 for http:// to a non-loopback host, with one line, connecting to nothing", function()
      local host = ("http://%s:%d"):format(outside, l.port)
      for _, action in ipairs { "plan", "up", "status", "down" } do
        local r = run(host, { action })
        assert.equal(2, r.code, r.stderr)
        local lines = {}
        for line in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = line end
        assert.equal(1, #lines, r.stderr)
        assert.matches("https://" .. outside:gsub("%.", "%%."), lines[1])
      end
      assert.equal(0, accepts(l))
    end)

    it("connects with --insecure and warns that the key goes in clear text", function()
      local r = run(("http://%s:%d"):format(outside, l.port), { "plan", "--insecure" })
      assert.are_not.equal(0, r.code)
      assert.matches("clear text", r.stderr)
      assert.is_true(accepts(l) >= 1)
    end)
  end)

  describe("a redirect", function()
    local target, l

    before_each(function()
      target = listen("")
      l = listen(("HTTP/1.1 302 Found\r\nLocation: http://%s:%d/api/v2/projects\r\nContent-Length: 0\r\n"
        .. "Connection: close\r\n\r\n"):format(outside_address(), target.port))
    end)

    after_each(function()
      stop(l)
      stop(target)
    end)

    it("is not followed: the request goes nowhere else, and the message names the redirect", function()
      local r = run(("http://127.0.0.1:%d"):format(l.port), { "plan" })
      assert.are_not.equal(0, r.code)
      assert.matches("redirect to http://", r.stderr)
      assert.matches("set CML_HOST to the workspace's https:// URL", r.stderr)
      assert.is_true(accepts(l) >= 1)
      assert.equal(0, accepts(target))
    end)
  end)
end)
