-- raycai.cml.errors: the error objects every CML client call returns as `nil, err`.
--
-- err.kind is "http" (the server answered with a status >= 400), "timeout", "connect", "dropped",
-- "tls", "too_large", "interrupted", "redirect" (a 3xx, never followed), "transport"
-- (raycai.http failures), "malformed" (a 2xx response whose body is not the JSON expected) or
-- "conflict" (a policy check after an ambiguous failure). tostring(err) is one line:
-- "POST /api/v2/...: 400 INVALID_ARGUMENT: msg".
local term = require("raycai.term")

local M = {}


local GRPC = {
  [0] = "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
  "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}
M.GRPC = GRPC


local REASONS = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [409] = "Conflict", [413] = "Payload Too Large",
  [429] = "Too Many Requests", [500] = "Internal Server Error", [501] = "Not Implemented",
  [502] = "Bad Gateway", [503] = "Service Unavailable", [504] = "Gateway Timeout",
}


local Error = {}
Error.__index = Error


function Error.__tostring(e)
  local detail
  if e.kind == "http" then
    detail = tostring(e.status)
    if e.code_name then
      detail = detail .. " " .. e.code_name
    end
    detail = detail .. ": " .. e.message
  else
    detail = e.message
  end
  if e.attempts and e.attempts > 1 then
    detail = detail .. " (gave up after " .. e.attempts .. " attempts)"
  end
  return term.redact(e.method .. " " .. e.path .. ": " .. detail)
end


--- Is v an error object made by this module?
function M.is(v)
  return getmetatable(v) == Error
end


local function new(fields)
  fields.message = term.redact(fields.message or "")
  return setmetatable(fields, Error)
end


--- Error for an HTTP response with status >= 400; body is decoded as a runtimeError if it can be.
---@param method string
---@param path string
---@param status integer
---@param body table|nil decoded JSON body, when it was a JSON object
---@param retryable boolean
function M.http(method, path, status, body, retryable)
  local code, message
  if type(body) == "table" then
    if type(body.code) == "number" then
      code = math.tointeger(body.code)  -- cjson decodes every number as a float
    end
    if type(body.message) == "string" and body.message ~= "" then
      message = body.message
    elseif type(body.error) == "string" and body.error ~= "" then
      message = body.error
    end
  end
  message = message or REASONS[status] or "HTTP error"
  if status == 401 then
    message = message .. "; the API key was rejected: check CML_API_KEY (or CML_API_KEY_FILE)"
      .. " holds a valid key from User Settings > API Keys"
  end
  return new {
    kind = "http", status = status, code = code, code_name = code and (GRPC[code] or tostring(code)),
    message = message, method = method, path = path, retryable = retryable,
  }
end


--- Error for a raycai.http transport failure ({ kind, message, curl_code }).
---@param timeout number the request's timeout in seconds, for the message
function M.transport(method, path, terr, timeout, retryable)
  local kind, message = terr.kind, terr.message or ""
  if kind == "timeout" then
    message = string.format("timed out after %g s", timeout)
  elseif kind == "connect" then
    message = "could not connect: " .. message
  elseif kind == "dropped" then
    message = "connection dropped: " .. message
  elseif kind == "tls" then
    message = "TLS verification failed: " .. message .. "; set CML_CA_BUNDLE to the PEM file of"
      .. " the workspace's certificate authority (--insecure only as a last resort)"
  elseif kind == "too_large" then
    message = "response too large: " .. message
  end
  return new {
    kind = kind, message = message, method = method, path = path, retryable = retryable,
    curl_code = terr.curl_code,
  }
end


--- Any other failure of a call: kind "malformed", "interrupted", "conflict", ...
function M.other(kind, method, path, message)
  return new { kind = kind, message = message, method = method, path = path, retryable = false }
end


return M
