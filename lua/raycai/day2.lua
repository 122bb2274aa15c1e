-- raycai.day2: the own arguments of the actions that use a cluster once it is up (issue 15;
-- raycai.actions names their modules). cli.lua hands everything after the action word to
-- parse(); the module's run(ctx, args) returns the exit code.
local M = {}

--- options taking a value, by action ("*": every day-2 action)
local VALUED = {
  submit = { ["--name"] = "name", ["--working-dir"] = "working_dir", ["--env"] = "env",
             ["--cpu"] = "cpu", ["--memory"] = "memory" },
  logs = { ["--tail"] = "tail", ["--out-dir"] = "out_dir" },
  job = {},
  run = { ["--down"] = "down", ["--ttl"] = "ttl", ["--name"] = "name", ["--working-dir"] = "working_dir",
          ["--env"] = "env", ["--cpu"] = "cpu", ["--memory"] = "memory" },
  env = {},
  suspend = {},
  autostop = { ["--idle-minutes"] = "idle_minutes" },
  list = { ["--project"] = "project" },
}
local FLAGS = {
  submit = { ["--detach"] = "detach", ["--rerun"] = "rerun" },
  logs = { ["-f"] = "follow", ["--follow"] = "follow" },
  job = { ["-f"] = "follow", ["--follow"] = "follow" },
  run = {},
  env = {},
  suspend = {},
  autostop = { ["--cancel"] = "cancel", ["--down"] = "down", ["--no-down"] = "no_down" },
  list = { ["--all-projects"] = "all_projects" },
}
-- the global options a user may also write after the action
local GLOBAL = { ["--json"] = "json", ["-v"] = "verbose", ["--verbose"] = "verbose", ["-q"] = "quiet",
                 ["--quiet"] = "quiet", ["--insecure"] = "insecure", ["--trust-recipe"] = "trust_recipe",
                 ["--sim"] = "sim", ["-h"] = "help", ["--help"] = "help" }


--- Parse the words after `action` into { words = {...}, entrypoint = {...} (after --), env = {},
--- <option> = value }; global options found there go into opts. Returns args or nil, message.
function M.parse(action, words, opts)
  local args = { words = {}, env = {} }
  local valued, flags = VALUED[action] or {}, FLAGS[action] or {}
  local i = 1
  while i <= #words do
    local a = words[i]
    local key, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    key = key or a
    if a == "--" then
      args.entrypoint = { table.unpack(words, i + 1) }
      break
    elseif valued[key] then
      local v = inline
      if not v then
        i = i + 1
        v = words[i]
      end
      if not v then return nil, ("%s needs a value"):format(key) end
      if valued[key] == "env" then
        local k, val = v:match("^([%a_][%w_]*)=(.*)$")
        if not k then return nil, ("--env %s: give NAME=VALUE (NAME: letters, digits, _)"):format(v) end
        args.env[k] = val
      else
        args[valued[key]] = v
      end
    elseif flags[a] then args[flags[a]] = true
    elseif GLOBAL[a] then opts[GLOBAL[a]] = true
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, ("unknown option '%s' for %s"):format(a, action)
    else
      args.words[#args.words + 1] = a
    end
    i = i + 1
  end
  for _, k in ipairs { "cpu", "memory", "tail" } do
    if args[k] then
      local n = tonumber(args[k])
      if not n or n <= 0 or (k == "tail" and not math.tointeger(n)) then
        return nil, ("--%s %s: give a positive number"):format(k == "tail" and "tail" or k, args[k])
      end
      args[k] = n
    end
  end
  return args
end


return M
