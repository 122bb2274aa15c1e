---@meta raycai.proc
-- LuaLS definitions of raycai.proc (engine/lproc.c): child processes (the embedded simulator,
-- test fixtures). Everything the child needs is prepared before fork.

---@class raycai.proc
local proc = {}

---@alias raycai.proc.Stdio "inherit"|"null"|"pipe"|string  a path is opened for appending (stdout, stderr) or reading (stdin); "pipe" only for stdout

--- The argument of proc.spawn: the program and its arguments at 1..n, then options.
---@class raycai.proc.Spec
---@field [integer] string program (looked up in PATH like execvp) and its arguments
---@field env? table<string, string|false> variables added to or replacing the environment; false removes one
---@field cwd? string folder the child starts in
---@field stdin? "inherit"|"null"|string default "null"
---@field stdout? raycai.proc.Stdio default "inherit"; "pipe" makes p:read_line available
---@field stderr? "inherit"|"null"|string default "inherit"
---@field new_group? boolean run in its own process group; kill and close signal the whole group
---@field kill_on_close? boolean close (and garbage collection) terminates the child

--- A running (or finished) child process. Closed by `p:close()`, `<close>` or the collector.
---@class raycai.proc.Process
local Process = {}

--- Start a child process.
---@param spec raycai.proc.Spec
---@return raycai.proc.Process? p
---@return string? err "<prog>: <reason>", e.g. "<prog>: command not found"
function proc.spawn(spec) end

--- The child's process id (0 once reaped).
---@return integer
function Process:pid() end

--- The next line of the child's stdout (spawned with stdout = "pipe"), without "\n".
---@param timeout? number seconds; none: wait until a line or end of file
---@return string? line
---@return ("timeout"|"eof"|"interrupted")? err
function Process:read_line(timeout) end

--- Send a signal (default TERM) to the child, or to its group when spawned with new_group.
---@param sig? "TERM"|"KILL"|"INT"|"HUP"|"STOP"|"CONT"|integer
---@return true? ok
---@return string? err
function Process:kill(sig) end

--- Wait for the child to end.
---@param timeout? number seconds; none: wait as long as it takes
---@return integer? code exit status, or 128 + signal number when killed
---@return "timeout"? err
function Process:wait(timeout) end

--- Is the child still running?
---@return boolean
function Process:running() end

--- Idempotent close: closes the pipe; with kill_on_close, TERM then (after 2 s) KILL the child.
function Process:close() end

return proc
