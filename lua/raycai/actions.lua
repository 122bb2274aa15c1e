-- raycai.actions: the actions raycai-run runs on a recipe, one entry each (LuaRocks' style: a
-- table of commands). Adding an action is adding one entry here: cli.lua takes the names, the
-- usage text and the dispatch from this table.
--   run(ctx) -> exit code | nil, message[, exit code]: a returned nil, message is the user's
--               failure (one line; exit code 1 unless given, 2 for usage or recipe errors); a
--               thrown error is a bug (traceback with -v, exit 1).
--   offline = true: runs without a context or CML (params); cli.lua runs it itself.
--   day2 = true: takes its own arguments after the action word (raycai.day2 parses them).
local ui = require "raycai.ui"

local M = {}

M.ORDER = { "up", "plan", "status", "down", "params", "suspend", "resume", "autostop", "run", "submit", "job", "logs", "env" }


--- plan's table of changes; returns the number pending.
local function print_plan(changes)
  local pending = require("raycai.recipe").pending(changes)
  local rows = { { "ACTION", "KIND", "NAME", "DETAIL", "GROUP" } }
  for _, c in ipairs(changes) do
    rows[#rows + 1] = { c.action, c.kind or "", c.name or "", c.detail or "", c.group or "" }
    ui.event("plan_change", { action = c.action, kind = c.kind, name = c.name, detail = c.detail, step = c.step,
                              group = c.group })
  end
  ui.table(rows)
  ui.out(pending == 0 and "No changes: the cluster matches the recipe."
         or ("%d change(s) pending; run 'up' to apply."):format(pending))
  ui.event("plan_summary", { pending = pending })
  return pending
end


M.up = {
  doc = { "create or update everything the recipe describes (default)" },
  warns = true,
  run = function(ctx)
    local ok, err, code = ctx.recipe:up(ctx)
    if not ok then return nil, err, code end
    return 0
  end,
}

M.plan = {
  doc = { "show what up would create, update or delete; changes nothing",
          "(exit 0: nothing to do, 3: changes pending)" },
  warns = true,
  budget = true,  -- plan evaluates recipe code only: it runs under the recipe budget
  run = function(ctx)
    local changes, err, code = ctx.recipe:plan(ctx)
    if not changes then return nil, err, code end
    return print_plan(changes) == 0 and 0 or 3
  end,
}

M.status = {
  doc = { "show the cluster's objects and their CML states (exit 3 if not healthy)" },
  run = function(ctx)
    local r = ctx.recipe
    local rows, err, code = r:status(ctx)
    if not rows then return nil, err, code end
    local healthy = r.hooks.print_status and r.hooks.print_status(ctx, rows)
    if healthy == nil then
      healthy = true
      local t = { { "KIND", "NAME", "STATE" } }
      for _, row in ipairs(rows) do
        t[#t + 1] = { row.kind or "", row.name or "", row.state or "" }
        if row.healthy == false then healthy = false end
      end
      ui.table(t)
    end
    return healthy and 0 or 3
  end,
}

M.down = {
  doc = { "stop and delete the cluster's applications (--purge: also its job and files)" },
  run = function(ctx)
    local ok, err, code = ctx.recipe:down(ctx)
    if not ok then return nil, err, code end
    return 0
  end,
}

M.params = {
  doc = { "list the recipe's parameters with type, default, value and doc" },
  offline = true,
}


--- A day-2 action (issue 15): its module's run(ctx, args) returns the exit code; its own
--- arguments were parsed by raycai.day2 into ctx.options.day2.
local function day2(module, doc)
  return { doc = doc, day2 = true, run = function(ctx) return require(module).run(ctx, ctx.options.day2) end }
end

-- (issue 16) suspend stops the applications, keeps everything else; resume is up (it re-creates
-- the stopped head with a new generation, and its workers with it)
M.suspend = day2("raycai.ray.suspend", {
  "stop every application of the cluster (workers first; no CPU/GPU held) and keep its",
  "names, spec, venv and files; status shows suspended" })
M.resume = {
  doc = { "bring a suspended cluster back to the recipe (the same as up) and wait for it" },
  warns = true,
  run = function(ctx)
    local ok, err = require("raycai.ray.suspend").exists(ctx)
    if not ok then return nil, err, 1 end
    return M.up.run(ctx)
  end,
}

-- (issue 16) the head's watcher reads .raycai/<cluster>/autostop.json; this changes it in place
M.autostop = day2("raycai.ray.autostop", {
  "[--cancel | --idle-minutes N [--down|--no-down]]: show or change when the running cluster's",
  "head stops it after N minutes without Ray driver activity (--down: deletes it); until the",
  "next up or resume, which apply the recipe's autostop.* again" })
M.submit = day2("raycai.ray.submit", {
  "[--name ID] [--rerun] [--detach] [--working-dir DIR] [--env K=V] [--cpu N] [--memory GB] -- ENTRYPOINT...",
  "run ENTRYPOINT as a Ray driver on the cluster (a CML job) and follow its output;",
  "exit 0 when it succeeded, 1 when it failed or was stopped, 130 on Ctrl-C (stops it)" })
M.run = day2("raycai.ray.oneshot", {
  "[--down=always|success|never] [--ttl SECONDS] [SUBMIT-OPTIONS] -- ENTRYPOINT...",
  "up, submit ENTRYPOINT, then down (default success: down when it succeeded, keep the",
  "cluster when not); exit status is the job's; --ttl keeps the cluster SECONDS longer" })
M.job = day2("raycai.ray.jobs", { "list|status ID|logs [-f] ID|stop ID: the cluster's submissions" })
M.logs = day2("raycai.ray.logs", {
  "[setup|head|GROUP-I|GROUP|job ID] [-f] [--tail N] [--out-dir DIR]",
  "the logs raycai keeps in the project (they outlive the applications and down)" })
M.env = day2("raycai.ray.env", { "shell lines that connect a driver in a CML session: eval \"$(raycai-run RECIPE env)\"" })


--- The "Actions:" lines of the usage text.
function M.usage()
  local lines = {}
  for _, name in ipairs(M.ORDER) do
    local doc = M[name].doc
    lines[#lines + 1] = ("  %-10s%s"):format(name, doc[1])
    for i = 2, #doc do lines[#lines + 1] = (" "):rep(12) .. doc[i] end
  end
  return table.concat(lines, "\n")
end


--- "up, plan, status, down or params".
function M.names()
  return table.concat(M.ORDER, ", ", 1, #M.ORDER - 1) .. " or " .. M.ORDER[#M.ORDER]
end


return M
