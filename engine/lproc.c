/*
** lproc.c: raycai.proc: child processes (the embedded simulator, test fixtures).
**   local p = proc.spawn{ "prog", "arg", env = {K = "v"}, cwd = dir, stdin = "null",
**                         stdout = "pipe"|"inherit"|"null"|"/file", stderr = ..., new_group = true,
**                         kill_on_close = true }
**   p:pid(), p:read_line([timeout]), p:kill([sig]), p:wait([timeout]), p:running(), p:close()
** Everything the child needs is prepared before fork; the child only calls async-signal-safe
** functions. A failed exec is reported through a close-on-exec pipe.
*/
#define _GNU_SOURCE 1  /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "raycai.h"

#define PROC_MT "raycai.proc"
#define LINEBUF 65536

extern char **environ;

typedef struct Proc {
  pid_t pid;          /* 0 once reaped */
  int status;         /* exit code once reaped */
  int out_fd;         /* stdout pipe, or -1 */
  int new_group;
  int kill_on_close;
  int closed;
  size_t len;         /* bytes buffered in buf */
  char buf[LINEBUF];
} Proc;


static double mono (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static Proc *check_proc (lua_State *L) {
  Proc *p = (Proc *)luaL_checkudata(L, 1, PROC_MT);
  if (p->closed)
    luaL_error(L, "attempt to use a closed process handle");
  return p;
}


/* Exit code of a waitpid status: the exit status, or 128 + signal. */
static int code_of (int st) {
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return 1;
}


/* Reap, waiting for the child when block is set; returns 1 once the child is gone. */
static int reap (Proc *p, int block) {
  int st;
  pid_t r;
  if (p->pid == 0)
    return 1;
  do {
    r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR && block);
  if (r == p->pid) {
    p->status = code_of(st);
    p->pid = 0;
    return 1;
  }
  if (r < 0 && errno == ECHILD) {
    p->pid = 0;
    return 1;
  }
  return 0;
}


/* Reap, polling every 5 ms until the monotonic deadline; returns 1 once the child is gone. */
static int reap_by (Proc *p, double deadline) {
  while (!reap(p, 0)) {
    struct timespec ts = {0, 5000000};  /* 5 ms */
    if (mono() >= deadline)
      return 0;
    nanosleep(&ts, NULL);
  }
  return 1;
}


/* An array of C strings in a userdata, so it is collected even if we raise. */
static const char **new_strv (lua_State *L, size_t n) {
  return (const char **)lua_newuserdatauv(L, (n + 1) * sizeof(char *), 0);
}


/* Resolve prog through PATH as execvp would; pushes the full path or nil. */
static void push_resolved (lua_State *L, const char *prog) {
  const char *path = getenv("PATH");
  if (strchr(prog, '/') != NULL || path == NULL) {
    lua_pushstring(L, prog);
    return;
  }
  while (*path) {
    const char *end = strchr(path, ':');
    size_t dl = end ? (size_t)(end - path) : strlen(path);
    lua_pushlstring(L, path, dl);
    lua_pushfstring(L, "%s/%s", dl ? lua_tostring(L, -1) : ".", prog);
    lua_remove(L, -2);
    if (access(lua_tostring(L, -1), X_OK) == 0)
      return;
    lua_pop(L, 1);
    path += dl;
    if (*path == ':')
      path++;
  }
  lua_pushnil(L);
}


/*
** Build envp: the current environment with the keys of table `envidx` replaced or added
** (a value of false removes the variable). Leaves helper tables on the stack; returns envp.
*/
static const char **build_env (lua_State *L, int envidx) {
  const char **envp;
  size_t n = 0, i;
  char **e;
  int t;
  lua_newtable(L);  /* name -> "name=value" */
  t = lua_gettop(L);
  for (e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (eq == NULL)
      continue;
    lua_pushlstring(L, *e, (size_t)(eq - *e));
    lua_pushstring(L, *e);
    lua_rawset(L, t);
  }
  if (envidx != 0) {
    lua_pushnil(L);
    while (lua_next(L, envidx) != 0) {  /* key value */
      const char *k, *v;
      if (lua_type(L, -2) != LUA_TSTRING)
        luaL_error(L, "proc.spawn: env keys must be strings");
      k = lua_tostring(L, -2);
      lua_pushvalue(L, -2);
      if (lua_type(L, -2) == LUA_TBOOLEAN && !lua_toboolean(L, -2)) {
        lua_pushnil(L);  /* false removes the variable */
        lua_rawset(L, t);
      }
      else {
        v = luaL_tolstring(L, -2, NULL);
        lua_pushfstring(L, "%s=%s", k, v);
        lua_remove(L, -2);  /* remove tolstring result */
        lua_rawset(L, t);
      }
      lua_pop(L, 1);  /* pop value */
    }
  }
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    n++;
    lua_pop(L, 1);
  }
  envp = new_strv(L, n);
  i = 0;
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    envp[i++] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  envp[i] = NULL;
  return envp;
}


/*
** Read the stdio spec t[field] (default dflt) and check it; it may raise, so all three specs are
** read before any descriptor is opened. Only stdout can be a pipe. The string stays on the stack
** (a number converted to a string is referenced by nothing else).
*/
static const char *check_spec (lua_State *L, int tidx, const char *field, const char *dflt,
                               int pipe_ok) {
  const char *spec;
  lua_getfield(L, tidx, field);
  spec = luaL_optstring(L, -1, dflt);
  if (!pipe_ok && strcmp(spec, "pipe") == 0)
    luaL_error(L, "proc.spawn: %s cannot be a pipe", field);
  return spec;
}


/* Open the file descriptor a checked spec asks for: -2 = inherit, -3 = pipe, -1 = failed. */
static int open_spec (const char *spec, int writing) {
  int fd;
  if (strcmp(spec, "inherit") == 0)
    return -2;
  if (strcmp(spec, "pipe") == 0)
    return -3;
  if (strcmp(spec, "null") == 0)
    spec = "/dev/null";
  fd = open(spec, writing ? (O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC) : (O_RDONLY | O_CLOEXEC),
            0644);
  return fd < 0 ? -1 : fd;
}


/* In the child: put fd on target (dup2), -2 keeps the parent's. */
static void child_dup (int fd, int target) {
  if (fd >= 0)
    dup2(fd, target);
}


/* proc.spawn(t) -> handle, or nil, "<prog>: <reason>". */
static int proc_spawn (lua_State *L) {
  size_t argc, i;
  const char **argv, **envp;
  const char *prog, *cwd = NULL, *specs[3];
  int envidx = 0, fds[3], outpipe[2] = {-1, -1}, errpipe[2];
  int new_group, kill_on_close, saved, err = 0;
  ssize_t nr;
  pid_t pid;
  Proc *p;
  luaL_checktype(L, 1, LUA_TTABLE);
  argc = (size_t)luaL_len(L, 1);
  luaL_argcheck(L, argc >= 1, 1, "program expected at index 1");
  argv = new_strv(L, argc);
  for (i = 0; i < argc; i++) {
    lua_rawgeti(L, 1, (lua_Integer)(i + 1));
    argv[i] = luaL_tolstring(L, -1, NULL);  /* kept on the stack */
    lua_remove(L, -2);
  }
  argv[argc] = NULL;
  prog = argv[0];
  push_resolved(L, prog);
  if (lua_isnil(L, -1)) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: command not found", prog);
    return 2;
  }
  prog = lua_tostring(L, -1);
  lua_getfield(L, 1, "env");
  if (!lua_isnil(L, -1)) {
    luaL_checktype(L, -1, LUA_TTABLE);
    envidx = lua_gettop(L);
  }
  envp = build_env(L, envidx);
  lua_getfield(L, 1, "cwd");
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
    return luaL_error(L, "bad cwd (string expected, got %s)", luaL_typename(L, -1));
  cwd = lua_tostring(L, -1);
  lua_getfield(L, 1, "new_group");
  new_group = lua_toboolean(L, -1);
  lua_getfield(L, 1, "kill_on_close");
  kill_on_close = lua_toboolean(L, -1);
  lua_pop(L, 2);
  specs[0] = check_spec(L, 1, "stdin", "null", 0);
  specs[1] = check_spec(L, 1, "stdout", "inherit", 1);
  specs[2] = check_spec(L, 1, "stderr", "inherit", 0);
  p = (Proc *)lua_newuserdatauv(L, sizeof(Proc), 0);
  p->pid = 0;
  p->status = -1;
  p->out_fd = -1;
  p->closed = 1;  /* until the child exists */
  p->len = 0;
  p->new_group = new_group;
  p->kill_on_close = kill_on_close;
  luaL_setmetatable(L, PROC_MT);
  for (i = 0; i < 3; i++) {
    fds[i] = err ? -2 : open_spec(specs[i], i > 0);
    if (fds[i] == -1)
      err = errno;
  }
  if (!err && fds[1] == -3 && pipe2(outpipe, O_CLOEXEC) != 0)
    err = errno;
  if (!err && pipe2(errpipe, O_CLOEXEC) != 0)
    err = errno;
  if (err) {
    for (i = 0; i < 3; i++)
      if (fds[i] >= 0)
        close(fds[i]);
    if (outpipe[0] >= 0) {
      close(outpipe[0]);
      close(outpipe[1]);
    }
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", argv[0], strerror(err));
    return 2;
  }
  if (fds[1] == -3)
    fds[1] = outpipe[1];
  pid = fork();
  if (pid == 0) {  /* child: async-signal-safe calls only */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (new_group)
      setpgid(0, 0);
    child_dup(fds[0], 0);
    child_dup(fds[1], 1);
    child_dup(fds[2], 2);
    if (cwd != NULL && chdir(cwd) != 0) {
      saved = errno;
      (void)!write(errpipe[1], &saved, sizeof saved);
      _exit(127);
    }
    execve(prog, (char *const *)argv, (char *const *)envp);
    saved = errno;
    (void)!write(errpipe[1], &saved, sizeof saved);
    _exit(127);
  }
  saved = errno;
  close(errpipe[1]);
  for (i = 0; i < 3; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  if (pid < 0) {
    close(errpipe[0]);
    if (outpipe[0] >= 0)
      close(outpipe[0]);
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: fork: %s", argv[0], strerror(saved));
    return 2;
  }
  do {
    nr = read(errpipe[0], &saved, sizeof saved);
  } while (nr < 0 && errno == EINTR);
  close(errpipe[0]);
  p->pid = pid;
  p->closed = 0;
  p->out_fd = outpipe[0];
  if (nr == (ssize_t)sizeof saved) {  /* exec failed */
    reap(p, 1);
    if (p->out_fd >= 0)
      close(p->out_fd);
    p->out_fd = -1;
    p->closed = 1;
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s%s", argv[0], cwd && saved == ENOENT ? "cwd or program: " : "",
                    strerror(saved));
    return 2;
  }
  return 1;  /* the handle */
}


static int proc_pid (lua_State *L) {
  Proc *p = check_proc(L);
  lua_pushinteger(L, p->pid);
  return 1;
}


/* Push the first line in the buffer (without "\n") and shift the rest; 1 if there was one. */
static int take_line (lua_State *L, Proc *p) {
  char *nl = memchr(p->buf, '\n', p->len);
  size_t n;
  if (nl == NULL) {
    if (p->len < LINEBUF)
      return 0;
    nl = p->buf + LINEBUF - 1;  /* overlong line: hand out what we have */
  }
  n = (size_t)(nl - p->buf);
  lua_pushlstring(L, p->buf, n);
  if (n < p->len && p->buf[n] == '\n')
    n++;
  memmove(p->buf, p->buf + n, p->len - n);
  p->len -= n;
  return 1;
}


/* p:read_line([timeout]) -> line | nil, "timeout" | nil, "eof" | nil, "interrupted". */
static int proc_read_line (lua_State *L) {
  Proc *p = check_proc(L);
  double timeout = luaL_optnumber(L, 2, -1);
  double deadline = mono() + timeout;
  if (p->out_fd < 0)
    return luaL_error(L, "process stdout is not a pipe");
  for (;;) {
    struct pollfd pfd;
    int ms, r;
    ssize_t n;
    if (take_line(L, p))
      return 1;
    if (raycai_interrupted()) {
      luaL_pushfail(L);
      lua_pushliteral(L, "interrupted");
      return 2;
    }
    ms = 100;
    if (timeout >= 0) {
      double left = deadline - mono();
      if (left <= 0) {
        luaL_pushfail(L);
        lua_pushliteral(L, "timeout");
        return 2;
      }
      if (left * 1000 < ms)
        ms = (int)(left * 1000) + 1;
    }
    pfd.fd = p->out_fd;
    pfd.events = POLLIN;
    r = poll(&pfd, 1, ms);
    if (r <= 0)
      continue;
    n = read(p->out_fd, p->buf + p->len, LINEBUF - p->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (p->len > 0) {  /* last line without newline */
        lua_pushlstring(L, p->buf, p->len);
        p->len = 0;
        return 1;
      }
      luaL_pushfail(L);
      lua_pushliteral(L, "eof");
      return 2;
    }
    p->len += (size_t)n;
  }
}


static int signal_of (lua_State *L, int arg) {
  static const char *const names[] = {"TERM", "KILL", "INT", "HUP", "STOP", "CONT", NULL};
  static const int sigs[] = {SIGTERM, SIGKILL, SIGINT, SIGHUP, SIGSTOP, SIGCONT};
  if (lua_type(L, arg) == LUA_TNUMBER)
    return (int)lua_tointeger(L, arg);
  return sigs[luaL_checkoption(L, arg, "TERM", names)];
}


/* p:kill([sig]) -> true | nil, err. Signals the whole group when spawned with new_group. */
static int proc_kill (lua_State *L) {
  Proc *p = check_proc(L);
  int sig = signal_of(L, 2);
  if (p->pid == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (kill(p->new_group ? -p->pid : p->pid, sig) != 0 && errno != ESRCH)
    return luaL_fileresult(L, 0, "kill");
  lua_pushboolean(L, 1);
  return 1;
}


/* p:wait([timeout]) -> exit code (128+signal if killed) | nil, "timeout". */
static int proc_wait (lua_State *L) {
  Proc *p = check_proc(L);
  double timeout = luaL_optnumber(L, 2, -1);
  if (timeout < 0)
    reap(p, 1);
  else if (!reap_by(p, mono() + timeout)) {
    luaL_pushfail(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  lua_pushinteger(L, p->status);
  return 1;
}


/* p:running() -> boolean. */
static int proc_running (lua_State *L) {
  Proc *p = check_proc(L);
  lua_pushboolean(L, !reap(p, 0));
  return 1;
}


/* Idempotent close: with kill_on_close, TERM the child (group), wait briefly, then KILL. */
static int proc_close (lua_State *L) {
  Proc *p = (Proc *)luaL_checkudata(L, 1, PROC_MT);
  if (p->closed)
    return 0;
  p->closed = 1;
  if (p->out_fd >= 0)
    close(p->out_fd);
  p->out_fd = -1;
  if (p->kill_on_close && p->pid != 0) {
    kill(p->new_group ? -p->pid : p->pid, SIGTERM);
    if (!reap_by(p, mono() + 2.0)) {
      kill(p->new_group ? -p->pid : p->pid, SIGKILL);
      reap(p, 1);
    }
  }
  return 0;
}


static int proc_tostring (lua_State *L) {
  Proc *p = (Proc *)luaL_checkudata(L, 1, PROC_MT);
  if (p->closed)
    lua_pushliteral(L, "process (closed)");
  else
    lua_pushfstring(L, "process (%d)", (int)p->pid);
  return 1;
}


static const luaL_Reg proc_methods[] = {
  {"pid", proc_pid},
  {"read_line", proc_read_line},
  {"kill", proc_kill},
  {"wait", proc_wait},
  {"running", proc_running},
  {"close", proc_close},
  {NULL, NULL}
};

static const luaL_Reg proc_meta[] = {
  {"__index", NULL},  /* placeholder */
  {"__gc", proc_close},
  {"__close", proc_close},
  {"__tostring", proc_tostring},
  {NULL, NULL}
};

static const luaL_Reg proc_funcs[] = {
  {"spawn", proc_spawn},
  {NULL, NULL}
};


int luaopen_raycai_proc (lua_State *L) {
  luaL_newmetatable(L, PROC_MT);
  luaL_setfuncs(L, proc_meta, 0);
  luaL_newlibtable(L, proc_methods);
  luaL_setfuncs(L, proc_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);  /* pop metatable */
  luaL_newlib(L, proc_funcs);
  return 1;
}
