-- raycai.actions: the actions raycai-run runs on a recipe, one entry each (LuaRocks' style: a
-- table of commands). Adding an action is adding one entry here: cli.lua takes the names, the
-- usage text and the dispatch from this table.
-- raycai.runner runs them:
--   run(ctx) -> exit code | nil, message[, exit code]: a returned nil, message is the user's
--               failure (one line; exit code 1 unless given, 2 for usage or recipe errors); a
--               thrown error is a bug (traceback with -v, exit 1).
--   needs = { "client", ... }: what the runner prepares before run (raycai.recipe NEEDS and the
--               recipe's providers; docs/recipes.md "What a step needs"); the steps declare
--               their own.
--   warns = true: the recipe's warnings hook runs first (it may refuse: exit 2).
--   offline = true: runs without a context or CML: run(recipe, values) (params).
--   day2 = true: takes its own arguments after the action word (raycai.day2 parses them).
local report = require "raycai.ui.report"

local M = {}

M.ORDER = { "up", "plan", "status", "down", "params", "suspend", "resume", "autostop", "run", "submit", "job", "logs", "env" }


M.up = {
  doc = { "create or update everything the recipe describes (default)" },
  warns = true,
  run = function(ctx)
    local r = ctx.recipe
    local ok, err, code = r:up(ctx)
    if not ok then return nil, err, code end
    local summary = r.hooks.summary and r.hooks.summary(ctx)
    if summary then report.summary(summary) end
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
    local pending = require("raycai.recipe").pending(changes)
    report.plan(changes, pending)
    return pending == 0 and 0 or 3
  end,
}

M.status = {
  doc = { "show the cluster's objects and their CML states (exit 3 if not healthy)" },
  run = function(ctx)
    local r = ctx.recipe
    local rows, err, code = r:status(ctx)
    if not rows then return nil, err, code end
    local info = r.hooks.status_info and r.hooks.status_info(ctx, rows)
    return report.status(rows, info) and 0 or 3
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
  run = function(r, values)
    report.params(r, values)
    return 0
  end,
}


--- A day-2 action (issue 15): its module's run(ctx, args) returns the exit code; its own
--- arguments were parsed by raycai.day2 into ctx.options.day2.
--- needs: what the runner prepares first (the client always: a wrong CML setting is exit 2 before
--- the module runs; "project": the cluster's project must exist, exit 1 naming it).
local function day2(module, doc, needs)
  return { doc = doc, day2 = true, needs = needs or { "client" },
           run = function(ctx) return require(module).run(ctx, ctx.options.day2) end }
end

-- (issue 16) suspend stops the applications, keeps everything else; resume is up (it re-creates
-- the stopped head with a new generation, and its workers with it)
M.suspend = day2("raycai.ray.suspend", {
  "stop every application of the cluster (workers first; no CPU/GPU held) and keep its",
  "names, spec, venv and files; status shows suspended" })
M.resume = {
  doc = { "bring a suspended cluster back to the recipe (the same as up) and wait for it" },
  warns = true,
  needs = { "client" },
  run = function(ctx)
    local ok, err, code = require("raycai.ray.suspend").exists(ctx)
    if not ok then return nil, err, code or 1 end
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
  "exit 0 when it succeeded, 1 when it failed or was stopped, 130 on Ctrl-C (stops it)" }, { "client", "project" })
M.run = day2("raycai.ray.oneshot", {
  "[--down=always|success|never] [--ttl SECONDS] [SUBMIT-OPTIONS] -- ENTRYPOINT...",
  "up, submit ENTRYPOINT, then down (default success: down when it succeeded, keep the",
  "cluster when not); exit status is the job's; --ttl keeps the cluster SECONDS longer" })
M.job = day2("raycai.ray.jobs", { "list|status ID|logs [-f] ID|stop ID: the cluster's submissions" },
  { "client", "project" })
M.logs = day2("raycai.ray.logs", {
  "[setup|head|GROUP-I|GROUP|job ID] [-f] [--tail N] [--out-dir DIR]",
  "the logs raycai keeps in the project (they outlive the applications and down)" }, { "client", "project" })
M.env = day2("raycai.ray.env", { "shell lines that connect a driver in a CML session: eval \"$(raycai-run RECIPE env)\"" },
  { "client", "project" })


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
