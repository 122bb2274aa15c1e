-- raycai.cml.call: runs CML API calls through raycai.http with the retry policy.
--
-- A call is described by a spec (built in raycai.cml):
--   { method, path, query = { k = "v" }, body = "<json>"?, multipart = {...}?,
--     class = "safe" | "unsafe" | "create",   -- what may be retried, see judge()
--     raw = bool,                             -- return the body bytes instead of decoded JSON
--     post = function(data) -> data,          -- shape a decoded response
--     gone_ok = bool,                         -- DELETE: a 404 after an ambiguous attempt is success
--     before = function(client, deadline_at) -> true | nil, err,   -- once, before the first attempt
--     recover = function(client, deadline_at) -> result | false | nil, err }
--                                             -- after an ambiguous failure: did it happen anyway?
-- Policy: "safe" calls retry on transport failures (timeout, connect, dropped), malformed bodies
-- and 429/502/503/504. "unsafe" and "create" calls retry blindly only when the request surely did
-- nothing (connect failure, 429, 503); after an ambiguous failure (timeout, drop, 502, 504) a
-- "create" first asks recover() whether the object exists, and returns it instead of creating a
-- duplicate; an "unsafe" call gives up. Waits: Retry-After when given, else exponential backoff
-- with full jitter; all within the client's total deadline; clock.sleep, so SIGINT ends them.
local cjson = require("cjson.safe")
local clock = require("raycai.clock")
local term = require("raycai.term")
local errors = require("raycai.cml.errors")

local M = {}


local BASE_DELAY = 0.2
local MAX_DELAY = 10
local RETRY_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }
local REFUSED_STATUS = { [429] = true, [503] = true }  -- the server says it did nothing
local AMBIGUOUS_KIND = { timeout = true, dropped = true }


--- Backoff before attempt n + 1 (n >= 1): uniform in [0, min(cap, base * 2^(n-1))].
function M.backoff(n)
  local ceiling = math.min(MAX_DELAY, BASE_DELAY * 2 ^ (n - 1))
  return math.random() * ceiling
end


local function retry_after(headers)
  local v = headers and headers["retry-after"]
  local secs = v and tonumber(v:match("^%s*(%d+)%s*$"))
  return secs
end


local function query_string(query)
  if not query then
    return ""
  end
  local keys = {}
  for k in pairs(query) do
    keys[#keys + 1] = k
  end
  if #keys == 0 then
    return ""
  end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    parts[i] = M.escape(k) .. "=" .. M.escape(tostring(query[k]))
  end
  return "?" .. table.concat(parts, "&")
end


--- Percent-encode everything but RFC 3986 unreserved characters.
function M.escape(s)
  return (s:gsub("[^%w%-%._~]", function(ch)
    return string.format("%%%02X", ch:byte())
  end))
end


local function log(client, line)
  if client.log then
    client.log(term.redact(line))
  end
end


-- The raycai.http request table for one attempt of call.
local function build_request(client, call, deadline_at)
  local spec = call.spec
  local left = deadline_at - clock.monotonic()
  call.timeout = math.min(client.timeout, math.max(left, 0.001))
  local headers = {
    ["Authorization"] = "Bearer " .. client:_key(),
    ["Accept"] = spec.raw and "*/*" or "application/json",
  }
  if spec.body then
    headers["Content-Type"] = "application/json"
  end
  local url = client.base .. spec.path .. query_string(spec.query)
  log(client, string.format("-> %s %s (Authorization: Bearer ***, attempt %d)",
    spec.method, url, call.attempt + 1))
  return {
    method = spec.method, url = url, headers = headers, body = spec.body,
    multipart = spec.multipart, timeout = call.timeout,
    -- on a reused connection libcurl would re-send a dropped request by itself, unseen
    fresh_connect = spec.method ~= "GET",
  }
end


-- Decide what one attempt's outcome means: "done", "fail" or "retry" (sets call.result/err).
local function judge(call, res, terr)
  local spec = call.spec
  local method, path = spec.method, spec.path
  if terr then
    local kind = terr.kind
    local ambiguous = AMBIGUOUS_KIND[kind]
    local retryable = kind == "connect" or (ambiguous and spec.class ~= "unsafe") or false
    call.err = errors.transport(method, path, terr, call.timeout, retryable)
    if not retryable then
      return "fail"
    end
    call.ambiguous = call.ambiguous or ambiguous
    return "retry"
  end
  local status = res.status
  if status >= 200 and status < 300 then
    if spec.raw then
      call.result = res.body
      return "done"
    end
    local data, derr
    if res.body:match("^%s*$") then
      data = {}
    else
      data, derr = cjson.decode(res.body)
    end
    if type(data) ~= "table" then
      call.err = errors.other("malformed", method, path, string.format(
        "malformed response (HTTP %d): %s", status, derr or "a JSON object was expected"))
      if spec.class == "safe" then
        call.err.retryable = true
        return "retry"
      end
      if spec.class == "create" and spec.recover then  -- it was created; find it
        call.ambiguous = true
        call.err.retryable = true
        return "retry"
      end
      return "fail"
    end
    call.result = spec.post and spec.post(data) or data
    return "done"
  end
  if status >= 300 and status < 400 then
    -- never followed: the Authorization header would go along, to wherever Location points
    local where = res.headers and res.headers["location"]
    call.err = errors.other("redirect", method, path, ("the workspace answered %d, a redirect to %s; raycai "
      .. "does not follow redirects (the API key would go along): set CML_HOST to the workspace's "
      .. "https:// URL"):format(status, where or "(no Location)"))
    call.err.status = status
    return "fail"
  end
  if status == 404 and spec.gone_ok and call.ambiguous then
    call.result = {}  -- an earlier attempt deleted it
    return "done"
  end
  local refused = REFUSED_STATUS[status]
  local retryable = refused or (RETRY_STATUS[status] and spec.class ~= "unsafe") or false
  local body = cjson.decode(res.body)
  -- a 429 that names RESOURCE_EXHAUSTED (gRPC 8) without Retry-After is a quota, not a rate
  -- limit: waiting does not free GPUs, so say it at once
  if status == 429 and not retry_after(res.headers) and type(body) == "table" and body.code == 8 then
    retryable = false
  end
  call.err = errors.http(method, path, status, type(body) == "table" and body or nil, retryable)
  if not retryable then
    return "fail"
  end
  if not refused then
    call.ambiguous = true
  end
  call.retry_after = retry_after(res.headers)
  return "retry"
end


local function log_outcome(client, call, res, terr)
  local spec = call.spec
  if terr then
    log(client, string.format("<- %s %s: %s: %s", spec.method, spec.path, terr.kind,
      terr.message or ""))
  else
    log(client, string.format("<- %s %s: %d in %.3f s (%d bytes)", spec.method, spec.path,
      res.status, res.time or 0, #res.body))
  end
end


-- Ask recover() whether an ambiguous create happened; true when the call is settled.
local function settle_ambiguous(client, call, deadline_at)
  local found, rerr = call.spec.recover(client, deadline_at)
  if found then
    log(client, string.format("   %s %s: found the object an earlier attempt created",
      call.spec.method, call.spec.path))
    call.result, call.err = found, nil
    return true
  end
  if found == nil then
    local spec = call.spec
    call.err = errors.other(rerr and rerr.kind or "conflict", spec.method, spec.path,
      "the request may have succeeded (" .. (call.err and call.err.message or "?")
      .. ") and checking failed: " .. tostring(rerr and (rerr.message or rerr) or "?"))
    return true
  end
  return false
end


local function interrupted(call)
  local spec = call.spec
  call.result = nil
  call.err = errors.other("interrupted", spec.method, spec.path, "interrupted")
end


--- Run calls (specs) concurrently, at most `parallel` at a time, each with the retry policy,
--- all within deadline_at (clock.monotonic() seconds). Returns an array, in order, of
--- { result } or { nil, err }.
function M.run(client, specs, parallel, deadline_at)
  local calls, pending = {}, {}
  for i, spec in ipairs(specs) do
    calls[i] = { spec = spec, attempt = 0 }
    local ok, err = true, nil
    if spec.before then
      ok, err = spec.before(client, deadline_at)
    end
    if ok then
      pending[#pending + 1] = calls[i]
    else
      calls[i].err = err
    end
  end
  while #pending > 0 do
    if clock.interrupted() then
      for _, call in ipairs(pending) do
        interrupted(call)
      end
      break
    end
    local reqs = {}
    for i, call in ipairs(pending) do
      reqs[i] = build_request(client, call, deadline_at)
    end
    local outs
    if #reqs == 1 then
      outs = { { client._http:request(reqs[1]) } }
    else
      outs = client._http:request_many(reqs, { parallel = parallel })
    end
    local again, wait = {}, 0
    for i, call in ipairs(pending) do
      local res, terr = outs[i][1], outs[i][2]
      call.attempt = call.attempt + 1
      call.retry_after = nil
      log_outcome(client, call, res, terr)
      local verdict = judge(call, res, terr)
      if verdict == "done" then
        call.err = nil
      elseif verdict == "retry" then
        local delay = call.retry_after or M.backoff(call.attempt)
        if call.attempt > client.retries or clock.monotonic() + delay >= deadline_at then
          call.err.attempts = call.attempt
        else
          wait = math.max(wait, delay)
          again[#again + 1] = call
        end
      end
    end
    if #again == 0 then
      break
    end
    log(client, string.format("   retrying %d request(s) in %.2f s", #again, wait))
    if not clock.sleep(wait) then
      for _, call in ipairs(again) do
        interrupted(call)
      end
      break
    end
    pending = {}
    for _, call in ipairs(again) do
      if not (call.ambiguous and call.spec.recover and settle_ambiguous(client, call, deadline_at)) then
        pending[#pending + 1] = call
      end
    end
  end
  local out = {}
  for i, call in ipairs(calls) do
    if call.err then
      out[i] = { nil, call.err }
    else
      out[i] = { call.result }
    end
  end
  return out
end


-- Coroutines run by M.together, each mapped to its client: their calls are sent in batches.
local members = setmetatable({}, { __mode = "k" })
local BATCH = {}  -- the marker a member yields with its call
local BATCH_MANY = {}  -- the marker a member yields with a nested together's calls


--- Run one call; returns result or nil, err. Inside M.together the call waits for the other
--- functions' calls and goes out with them.
function M.one(client, spec, deadline_at)
  local co = coroutine.running()
  if members[co] == client then
    local res, err = coroutine.yield(BATCH, spec, deadline_at)
    return res, err
  end
  local out = M.run(client, { spec }, 1, deadline_at or clock.monotonic() + client.deadline)
  return out[1][1], out[1][2]
end


--- Run the functions fns side by side on one thread: each runs until it makes a call; those
--- calls go out together (request_many), and each function resumes with its own answer. A
--- function's calls stay in order; retries and deadlines are per call as usual. Returns an
--- array, in order, of each function's results packed (table.pack). An error in one function
--- is raised after the calls already sent have come back, with the others left unfinished.
--- Called inside one of those functions (for the same client), together's calls join the outer
--- round instead of making one of their own: nested side-by-side reads compose.
function M.together(client, fns)
  local outer = members[coroutine.running()] == client
  local cos, results, resume = {}, {}, {}
  for i, fn in ipairs(fns) do
    cos[i] = coroutine.create(fn)
    members[cos[i]] = client
    resume[i] = { n = 0 }
  end
  while true do
    -- slots[k] = { i, first, n }: function i's calls are specs[first .. first + n - 1]; n is nil
    -- for one call (BATCH), else the count of a nested together's calls (BATCH_MANY)
    local specs, slots, deadline_at = {}, {}, math.huge
    for i, co in ipairs(cos) do
      local args = resume[i]
      if args then
        resume[i] = nil
        local r = table.pack(coroutine.resume(co, table.unpack(args, 1, args.n)))
        if not r[1] then
          error(r[2], 0)  -- as raised (a table stays a table)
        elseif coroutine.status(co) == "dead" then
          results[i] = table.pack(table.unpack(r, 2, r.n))
        elseif r[2] == BATCH or r[2] == BATCH_MANY then
          local many = r[2] == BATCH_MANY
          slots[#slots + 1] = { i, #specs + 1, many and #r[3] or nil }
          if many then
            for _, spec in ipairs(r[3]) do specs[#specs + 1] = spec end
          else
            specs[#specs + 1] = r[3]
          end
          deadline_at = math.min(deadline_at, r[4] or clock.monotonic() + client.deadline)
        else
          error("together: a function yielded outside a CML call", 2)
        end
      end
    end
    if #specs == 0 then break end
    local outs
    if outer then  -- nested: this round joins the enclosing together's
      outs = coroutine.yield(BATCH_MANY, specs, deadline_at)
    else
      outs = M.run(client, specs, #specs, deadline_at)
    end
    for _, slot in ipairs(slots) do
      local i, first, n = slot[1], slot[2], slot[3]
      if n then
        resume[i] = { table.move(outs, first, first + n - 1, 1, {}), n = 1 }
      else
        resume[i] = { outs[first][1], outs[first][2], n = 2 }
      end
    end
  end
  return results
end


return M
