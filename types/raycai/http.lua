---@meta raycai.http
-- LuaLS definitions of raycai.http (engine/lhttp.c): the libcurl transport. Every transfer of a
-- client runs through one multi handle, so connections are reused. Bad arguments raise; a
-- failed transfer returns `nil, err` with err a raycai.http.Error table.

---@class raycai.http
---@field curl_version string the libcurl version string
local http = {}

---@class raycai.http.Options
---@field timeout? number seconds a whole transfer may take (default 30)
---@field connect_timeout? number seconds to connect (default 10)
---@field ca_bundle? string PEM file of the certificate authorities to trust
---@field insecure? boolean do not verify TLS certificates
---@field max_body? integer largest response body accepted, in bytes (default 64 MiB)
---@field user_agent? string default "raycai/<version>"

---@class raycai.http.Part
---@field name string form field name
---@field data string content
---@field filename? string
---@field content_type? string

---@class raycai.http.Request
---@field method? string default "GET"
---@field url string
---@field headers? table<string, string>
---@field body? string exclusive with multipart
---@field multipart? raycai.http.Part[] a multipart/form-data body
---@field timeout? number seconds, overrides the client's
---@field fresh_connect? boolean use a new connection (makes a dropped non-idempotent request visible)

---@class raycai.http.Response
---@field status integer HTTP status
---@field headers table<string, string> lower-cased names; repeated headers joined with ", "
---@field body string
---@field time number seconds the transfer took

---@class raycai.http.Error
---@field kind "timeout"|"connect"|"tls"|"dropped"|"too_large"|"interrupted"|"transport"
---@field message string
---@field curl_code integer

--- One result of request_many: `{ response }` or `{ nil, err }`.
---@alias raycai.http.Result { [1]: raycai.http.Response?, [2]: raycai.http.Error? }

--- An HTTP client: one connection cache. Closed by `h:close()`, `<close>` or the collector.
---@class raycai.http.Client
local Client = {}

--- A new client.
---@param opts? raycai.http.Options
---@return raycai.http.Client
function http.new(opts) end

--- Send one request.
---@param req raycai.http.Request
---@return raycai.http.Response? res
---@return raycai.http.Error? err
function Client:request(req) end

--- Send many requests concurrently (at most opts.parallel at a time, default 16).
---@param reqs raycai.http.Request[]
---@param opts? { parallel?: integer }
---@return raycai.http.Result[] results in the order of reqs
function Client:request_many(reqs, opts) end

--- Close the connections (idempotent); the client cannot be used afterwards.
function Client:close() end

return http
