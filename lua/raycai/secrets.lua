-- raycai.secrets: find the secrets inside recipe values and register them with the output masker
-- (raycai.term), so plan, status, params, --json, -v request logs and error tails show ***.
-- A secret is: the userinfo (user:password, or a lone token) of any URL in a value, and the
-- value of a query parameter whose name looks secret (token, key, password, sig...); the whole
-- value of an `env` entry (or a --set env.NAME=...) whose name looks secret (*TOKEN*, *SECRET*,
-- *PASSWORD*, *KEY*) unless it is a URL with userinfo (then the userinfo); every parameter
-- declared with `secret = true`.
local term = require "raycai.term"
local params = require "raycai.params"
local cjson = require "cjson"

local M = {}

local MIN_LEN = 3  -- shorter values would mask ordinary text everywhere and hide nothing
local SECRET_NAME = { "TOKEN", "SECRET", "PASSWORD", "KEY" }
local SECRET_QUERY = { "token", "key", "password", "passwd", "secret", "sig", "signature", "auth",
                       "credential" }


--- Does a variable or parameter name look like it holds a secret?
function M.looks_secret(name)
  if type(name) ~= "string" then return false end
  local up = name:upper()
  for _, word in ipairs(SECRET_NAME) do
    if up:find(word, 1, true) then return true end
  end
  return false
end


local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end


--- The credentials of every URL in the string s: userinfo and its password, the values of
--- secret-looking query parameters. A list (maybe empty).
function M.url_credentials(s)
  local out = {}
  if type(s) ~= "string" then return out end
  for url in s:gmatch("%a[%w+.-]*://[^%s\"'<>]+") do
    local authority = url:match("^%a[%w+.-]*://([^/?#]*)")
    local userinfo = authority and authority:match("^(.*)@")
    if userinfo and userinfo ~= "" then
      out[#out + 1] = userinfo
      local pass = userinfo:match("^[^:]*:(.+)$")
      if pass then out[#out + 1] = pass end
    end
    local query = url:match("%?([^#]*)")
    for k, v in (query or ""):gmatch("([^&=]+)=([^&]*)") do
      local lk = unescape(k):lower()
      for _, word in ipairs(SECRET_QUERY) do
        if lk:find(word, 1, true) and v ~= "" then
          out[#out + 1] = v
          break
        end
      end
    end
  end
  return out
end


--- s with the credentials of its URLs (M.url_credentials) replaced by ***: what may be shown or
--- rendered into a script in place of a URL that carries a password or token.
function M.redact_urls(s)
  if type(s) ~= "string" then return s end
  local creds = M.url_credentials(s)
  table.sort(creds, function(a, b) return #a > #b end)  -- user:pass before pass
  for _, c in ipairs(creds) do
    s = s:gsub(c:gsub("%W", "%%%0"), "***")
  end
  return s
end


--- The secrets of one name = value entry (an env variable, a parameter, a --set).
function M.of_entry(name, value)
  if type(value) ~= "string" then return {} end
  local creds = M.url_credentials(value)
  if M.looks_secret(name) and #creds == 0 then return { value } end
  return creds
end


--- Register each secret, with the forms it takes in output: percent-decoded (pip prints URLs
--- decoded) and JSON-escaped (--json).
function M.register(list)
  for _, s in ipairs(list) do
    if type(s) == "string" and #s >= MIN_LEN then
      term.secret(s)
      local decoded = unescape(s)
      if decoded ~= s and #decoded >= MIN_LEN then term.secret(decoded) end
      for _, form in ipairs { s, decoded } do
        local json = cjson.encode(form):sub(2, -2)
        if json ~= form then term.secret(json) end
      end
    end
  end
end


--- Register the secrets in a recipe's parameter values (tree: the recipe's params).
function M.register_values(tree, values)
  local found = {}
  local function add(list) for _, s in ipairs(list) do found[#found + 1] = s end end
  for _, leaf in ipairs(params.flatten(tree)) do
    local v = params.lookup(values, leaf.path)
    if leaf.param.secret and type(v) == "string" then
      add({ v })
    elseif type(v) == "string" then
      add(M.url_credentials(v))
    elseif type(v) == "table" then
      for k, x in pairs(v) do
        if type(x) == "string" then
          add(leaf.param.type == "map" and M.of_entry(k, x) or M.url_credentials(x))
        end
      end
    end
  end
  M.register(found)
end


--- Register the secrets in --set assignments ("a.b=value"), before anything validates them:
--- a refused value is named in its error message.
function M.register_sets(sets)
  local found = {}
  for _, a in ipairs(sets or {}) do
    local path, value = a:match("^([^=]*)=(.*)$")
    if path then
      local name = path:match("([^.]+)$") or path
      for _, s in ipairs(M.of_entry(name, value)) do found[#found + 1] = s end
      -- a map given whole (env={A=1,B=2} forms), or a list: look at each part too
      for part in value:gmatch("[^,]+") do
        local k, v = part:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
        for _, s in ipairs(k and M.of_entry(k, v) or M.url_credentials(part)) do found[#found + 1] = s end
      end
    end
  end
  M.register(found)
end


return M
