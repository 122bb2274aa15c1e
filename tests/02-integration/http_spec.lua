-- raycai.http against a raw HTTP fixture server (python3, real sockets on loopback): statuses,
-- headers, bodies, multipart, timeouts, dropped and truncated responses, size limits, request_many
-- order and concurrency, connection reuse, interruption.
local http = require("raycai.http")
local proc = require("raycai.proc")
local clock = require("raycai.clock")
local cjson = require("cjson")

local SERVER = [==[
import http.server, json, socketserver, sys, threading, time

lock = threading.Lock()
state = {}  # group -> {"inflight", "max"}

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def send(self, status, body, ctype="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Test", "one")
        self.send_header("X-Test", "two")
        for k, v in extra: self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        parts = self.path.split("/")
        if parts[1] == "status":
            self.send(int(parts[2]), ("status " + parts[2]).encode())
        elif parts[1] == "echo":
            self.send(200, json.dumps({"method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("latin-1"), "hex": body.hex()}).encode(), "application/json")
        elif parts[1] == "slow":  # /slow/<ms>[/<tag>[/<group>]]
            g = state.setdefault(parts[4] if len(parts) > 4 else "", {"inflight": 0, "max": 0})
            with lock:
                g["inflight"] += 1
                g["max"] = max(g["max"], g["inflight"])
            time.sleep(int(parts[2]) / 1000)
            with lock: g["inflight"] -= 1
            self.send(200, parts[3].encode() if len(parts) > 3 else b"slow")
        elif parts[1] == "stats":  # /stats/<group>
            with lock:
                out = json.dumps(state.get(parts[2], {})).encode()
            self.send(200, out, "application/json")
        elif parts[1] == "port":
            self.send(200, str(self.client_address[1]).encode())
        elif parts[1] == "big":
            self.send(200, b"x" * int(parts[2]))
        elif parts[1] == "chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(int(parts[2]) // 1000):
                self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif parts[1] == "dropcount":  # count the requests, then drop
            with lock: state["drops"] = state.get("drops", 0) + 1
            self.close_connection = True
            self.connection.shutdown(2)
        elif parts[1] == "drops":
            self.send(200, str(state.get("drops", 0)).encode())
        elif parts[1] == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
        elif parts[1] == "truncate":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
        else:
            self.send(404, b"no route")
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 64

srv = S(("127.0.0.1", 0), H)
print("PORT", srv.server_address[1], flush=True)
srv.serve_forever()
]==]


local function start_server()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(SERVER)
  f:close()
  local p = assert(proc.spawn { "python3", path, stdout = "pipe", stderr = "null",
    kill_on_close = true })
  local line = assert(p:read_line(20), "fixture server did not start")
  os.remove(path)
  local port = assert(line:match("^PORT (%d+)"), "unexpected fixture output: " .. line)
  return p, "http://127.0.0.1:" .. port
end


describe("raycai.http", function()
  local server, base, h

  setup(function()
    server, base = start_server()
    h = http.new { timeout = 10 }
  end)

  teardown(function()
    h:close()
    server:kill()
    server:close()
  end)

  describe("new()", function()
    it("rejects a bad max_body", function()
      assert.has_error(function() http.new { max_body = -1 } end)
    end)

    it("makes a closed client refuse requests, and close twice is harmless", function()
      local c = http.new {}
      c:close()
      c:close()
      assert.has_error(function() c:request { url = base .. "/status/200" } end,
        "attempt to use a closed http client")
    end)

    it("closes with a to-be-closed variable", function()
      local kept
      do
        local c <close> = http.new {}
        kept = c
        assert.equal(200, c:request { url = base .. "/status/200" }.status)
      end
      assert.has_error(function() kept:request { url = base .. "/status/200" } end,
        "attempt to use a closed http client")
    end)
  end)

  describe("request()", function()
    it("returns status, lowercased headers, body and time", function()
      local res = assert(h:request { url = base .. "/status/201" })
      assert.equal(201, res.status)
      assert.equal("status 201", res.body)
      assert.equal("text/plain", res.headers["content-type"])
      assert.is_number(res.time)
    end)

    it("returns 4xx and 5xx as responses, not errors", function()
      for _, code in ipairs { 400, 404, 500, 503 } do
        local res, err = h:request { url = base .. "/status/" .. code }
        assert.is_nil(err)
        assert.equal(code, res.status)
        assert.equal("status " .. code, res.body)
      end
    end)

    it("joins repeated response headers", function()
      local res = assert(h:request { url = base .. "/status/200" })
      assert.equal("one, two", res.headers["x-test"])
    end)

    it("sends method, headers and body", function()
      for _, method in ipairs { "POST", "PATCH", "DELETE", "PUT" } do
        local res = assert(h:request { method = method, url = base .. "/echo/x",
          headers = { ["Authorization"] = "Bearer k", ["Content-Type"] = "application/json" },
          body = '{"a":1}' })
        local echo = cjson.decode(res.body)
        assert.equal(method, echo.method)
        assert.equal("Bearer k", echo.headers.authorization)
        assert.equal('{"a":1}', echo.body)
        assert.is_nil(echo.headers.expect)
      end
    end)

    it("sends a POST without body with Content-Length 0", function()
      local echo = cjson.decode(assert(h:request { method = "POST", url = base .. "/echo" }).body)
      assert.equal("POST", echo.method)
      assert.equal("0", echo.headers["content-length"])
    end)

    it("sends binary bodies intact", function()
      local bin = "a\0b\255c"
      local echo = cjson.decode(assert(h:request { method = "POST", url = base .. "/echo",
        body = bin }).body)
      assert.equal("610062ff63", echo.hex)
    end)

    it("sends a multipart upload with the part name, filename and type", function()
      local res = assert(h:request { method = "POST", url = base .. "/echo", multipart = {
        { name = "dest/path.py", filename = "path.py", data = "print(1)\n",
          content_type = "application/octet-stream" } } })
      local echo = cjson.decode(res.body)
      assert.matches("^multipart/form%-data; boundary=", echo.headers["content-type"])
      assert.matches('name="dest/path.py"; filename="path.py"', echo.body, 1, true)
      assert.matches("Content-Type: application/octet-stream", echo.body, 1, true)
      assert.matches("print(1)\n", echo.body, 1, true)
    end)

    it("sends a user agent naming raycai and its version", function()
      local echo = cjson.decode(assert(h:request { url = base .. "/echo" }).body)
      local run = assert(io.popen((os.getenv("RAYCAI_BUILD_DIR") or "build") .. "/raycai-run --version"))
      local version = assert(run:read("a"):match("^raycai%-run (%S+)"))
      run:close()
      assert.equal("raycai/" .. version, echo.headers["user-agent"])
    end)

    it("reuses the connection for sequential requests", function()
      local a = assert(h:request { url = base .. "/port" }).body
      local b = assert(h:request { url = base .. "/port" }).body
      assert.equal(a, b)
    end)

    it("reports a refused connection as kind connect", function()
      local c = http.new {}
      local res, err = c:request { url = "http://127.0.0.1:1/" }
      assert.is_nil(res)
      assert.equal("connect", err.kind)
      assert.is_string(err.message)
      assert.is_number(err.curl_code)
      -- tostring gives the message, so assert(c:request{...}) prints the reason (issue 13)
      assert.equal(err.message, tostring(err))
      local ok, aerr = pcall(function() return assert(c:request { url = "http://127.0.0.1:1/" }) end)
      assert.is_false(ok)
      assert.not_matches("^table: ", tostring(aerr))
      c:close()
    end)

    it("times out with kind timeout before a slow reply comes", function()
      -- the reply would take 60 s: only the timeout can end this request with kind timeout
      local res, err = h:request { url = base .. "/slow/60000", timeout = 0.3 }
      assert.is_nil(res)
      assert.equal("timeout", err.kind)
    end)

    it("reports a connection closed without a response as kind dropped", function()
      local res, err = h:request { url = base .. "/drop" }
      assert.is_nil(res)
      assert.equal("dropped", err.kind)
    end)

    it("with fresh_connect, reports a drop on a reused connection instead of re-sending",
      function()
        assert(h:request { url = base .. "/port" })  -- leaves a connection to reuse
        local res, err = h:request { method = "POST", url = base .. "/dropcount", body = "x",
          fresh_connect = true }
        assert.is_nil(res)
        assert.equal("dropped", err.kind)
        assert.equal("1", assert(h:request { url = base .. "/drops" }).body)
      end)

    it("reports a body shorter than Content-Length as kind dropped", function()
      local res, err = h:request { url = base .. "/truncate" }
      assert.is_nil(res)
      assert.equal("dropped", err.kind)
    end)

    it("accepts a body up to max_body and refuses a larger one as too_large", function()
      local c = http.new { max_body = 10000 }
      assert.equal(10000, #assert(c:request { url = base .. "/big/10000" }).body)
      local res, err = c:request { url = base .. "/big/10001" }
      assert.is_nil(res)
      assert.equal("too_large", err.kind)
      assert.matches("10000", err.message)
      c:close()
    end)

    it("refuses an oversized chunked body (no Content-Length) as too_large", function()
      local c = http.new { max_body = 5000 }
      assert.equal(5000, #assert(c:request { url = base .. "/chunked/5000" }).body)
      local res, err = c:request { url = base .. "/chunked/20000" }
      assert.is_nil(res)
      assert.equal("too_large", err.kind)
      c:close()
    end)

    it("stops a transfer on SIGINT with kind interrupted", function()
      clock.trap_interrupts()
      clock.clear_interrupt()
      local killer = assert(proc.spawn { "sh", "-c", "sleep 0.3; kill -INT $PPID" })
      -- the reply would take 60 s: only the interrupt can end this request early
      local res, err = h:request { url = base .. "/slow/60000" }
      killer:wait(5)
      killer:close()
      clock.clear_interrupt()
      assert.is_nil(res)
      assert.equal("interrupted", err.kind)
    end)

    it("raises on a request without url", function()
      assert.has_error(function() h:request { method = "GET" } end)
    end)

    it("refuses header names that are not tokens and values that would end the line", function()
      local function send(headers) return pcall(h.request, h, { url = base .. "/echo/x", headers = headers }) end
      for _, bad in ipairs { { ["X-A: b"] = "v" }, { ["X A"] = "v" }, { [""] = "v" }, { ["X\nY"] = "v" } } do
        local ok, err = send(bad)
        assert.is_false(ok)
        assert.matches("bad request header name", err)
      end
      for _, value in ipairs { "secret\r\nX-Evil: 1", "a\nb", "a\0b" } do
        local ok, err = send { Authorization = value }
        assert.is_false(ok)
        assert.matches("bad value of request header Authorization %(contains a line break or NUL%)", err)
        assert.is_nil(err:find("secret", 1, true))
      end
      local ok, res = send { ["X-Ok_1.a~"] = "tab\tand spaces are fine" }
      assert.is_true(ok, res)
      assert.equal("tab\tand spaces are fine", cjson.decode(res.body).headers["x-ok_1.a~"])
    end)
  end)

  describe("request_many()", function()
    it("returns results in input order, failures in place", function()
      local reqs = {
        { url = base .. "/slow/300/first" },
        { url = base .. "/status/404" },
        { url = base .. "/drop" },
        { url = base .. "/slow/10/last" },
      }
      local out = h:request_many(reqs, { parallel = 4 })
      assert.equal(4, #out)
      assert.equal("first", out[1][1].body)
      assert.equal(404, out[2][1].status)
      assert.is_nil(out[3][1])
      assert.equal("dropped", out[3][2].kind)
      assert.equal("last", out[4][1].body)
    end)

    it("runs requests concurrently up to parallel", function()
      local reqs = {}
      for i = 1, 8 do
        reqs[i] = { url = base .. "/slow/400/" .. i .. "/eight" }
      end
      local out = h:request_many(reqs, { parallel = 8 })
      for i = 1, 8 do
        assert.equal(tostring(i), out[i][1].body)
      end
      -- the server counted 8 requests in flight at once: concurrency, measured without a clock
      local stats = cjson.decode(h:request { url = base .. "/stats/eight" }.body)
      assert.equal(8, stats.max)
    end)

    it("never runs more than parallel at a time", function()
      local reqs = {}
      for i = 1, 6 do
        reqs[i] = { url = base .. "/slow/200/" .. i .. "/two" }
      end
      local out = h:request_many(reqs, { parallel = 2 })
      assert.equal(6, #out)
      local stats = cjson.decode(h:request { url = base .. "/stats/two" }.body)
      assert.equal(2, stats.max)
    end)

    it("returns an empty array for no requests", function()
      assert.same({}, h:request_many({}))
    end)

    it("raises on a malformed request before sending anything", function()
      assert.has_error(function()
        h:request_many({ { url = base .. "/slow/10/x/unsent" }, { method = "GET" } })
      end)
      -- the fixture counts /slow requests per group: none of group "unsent" arrived
      assert.same({}, cjson.decode(h:request { url = base .. "/stats/unsent" }.body))
    end)
  end)
end)
