/*
** exec.c: exec mode. Runs `python3 <script>` for an application or job run in the project
** folder, in its own process group, with the CDSW_* environment (CDSW_IP_ADDRESS: a loopback
** address of its own, see workload_ip); keeps a table of children,
** reaps them, and ends whole groups (SIGTERM, then SIGKILL after the kill_grace delay).
** Called with g_lock held (or single-threaded at shutdown).
*/
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define MAX_PROCS 512
#define MAX_ENV 512
#define MAX_ARGS 128

typedef struct {
  pid_t pid;
  int exited, code;
  double kill_at;     /* > 0: SIGKILL the group then */
  int forget;         /* nobody will ask: drop once done */
} proc_entry;

static proc_entry procs[MAX_PROCS];
static int nprocs;


static proc_entry *find (pid_t pid) {
  for (int i = 0; i < nprocs; i++)
    if (procs[i].pid == pid) return &procs[i];
  return NULL;
}


static void drop (proc_entry *e) {
  *e = procs[--nprocs];
}


static void reap (proc_entry *e) {
  if (e->exited) return;
  int st;
  pid_t r = waitpid(e->pid, &st, WNOHANG);
  if (r == e->pid) {
    e->exited = 1;
    e->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  } else if (r < 0 && errno == ECHILD) {
    e->exited = 1;
    e->code = 128 + SIGKILL;
  }
}


int ex_log_path (const char *kind, const char *id, char *out, size_t n) {
  char dir[4096];
  if (logs_dir(dir, sizeof dir) != 0) return -1;
  int r = snprintf(out, n, "%s/%s-%s.log", dir, kind, id);
  return (r < 0 || (size_t)r >= n) ? -1 : 0;
}


static int env_put (char **env, int n, const char *key, const char *val) {
  size_t kl = strlen(key);
  if (!kl || strchr(key, '=')) return n;
  sbuf b = {0};
  sb_printf(&b, "%s=%s", key, val ? val : "");
  for (int i = 0; i < n; i++) {
    if (strncmp(env[i], key, kl) == 0 && env[i][kl] == '=') {
      free(env[i]);
      env[i] = sb_take(&b);
      return n;
    }
  }
  if (n >= MAX_ENV - 1) {
    free(b.p);
    return n;
  }
  env[n++] = sb_take(&b);
  return n;
}


static int env_put_num (char **env, int n, const char *key, long v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%ld", v);
  return env_put(env, n, key, buf);
}


static int env_layer (char **env, int n, const char *json) {
  if (!json || !*json) return n;
  cJSON *m = cJSON_Parse(json);
  const cJSON *e;
  cJSON_ArrayForEach(e, m) {
    if (cJSON_IsString(e)) n = env_put(env, n, e->string, e->valuestring);
  }
  cJSON_Delete(m);
  return n;
}


static char *find_program (const char *name) {
  if (strchr(name, '/')) return xstrdup(name);
  const char *path = getenv("PATH");
  char *copy = xstrdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
  char *save = NULL, full[4096];
  for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(full, sizeof full, "%s/%s", *d ? d : ".", name);
    if (access(full, X_OK) == 0) {
      free(copy);
      return xstrdup(full);
    }
  }
  free(copy);
  return xstrdup(name);
}


/*
** The workload's own loopback address, 127.0.0.2 to 127.0.0.254, as its CDSW_IP_ADDRESS: a
** hash of its id, so an application keeps its address across restarts (inferred: a pod's IP
** may change; see docs/cml-sim.md) and the "pods" of a cluster have different addresses, so a
** launcher that publishes or dials the wrong one fails. CDSW_APP_PORT stays on 127.0.0.1, where
** CML wants applications to listen (cml-api/FACTS.md) and where ex_port_open probes it.
*/
static void workload_ip (const char *id, char *out, size_t n) {
  unsigned h = 2166136261u;
  for (const char *c = id ? id : ""; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
  snprintf(out, n, "127.0.0.%u", 2u + h % 253u);
}


pid_t ex_spawn (const spawn_spec *sp) {
  if (nprocs >= MAX_PROCS || !sp->project) return -1;
  char dir[4096], logp[4096];
  const char *pid_str = js_str(sp->project, "id");
  if (project_dir(pid_str, dir, sizeof dir) != 0) return -1;
  if (ex_log_path(sp->kind, sp->id, logp, sizeof logp) != 0) return -1;

  /* Everything the child needs is built before fork: only async-signal-safe calls after it. */
  char *env[MAX_ENV];
  int n = 0;
  n = env_put(env, n, "PATH", getenv("PATH") ? getenv("PATH") : "/usr/local/bin:/usr/bin:/bin");
  n = env_put(env, n, "HOME", dir);
  n = env_put(env, n, "CDSW_HOME", dir);
  n = env_put(env, n, "CDSW_PROJECT", js_str(sp->project, "name"));
  n = env_put(env, n, "CDSW_PROJECT_ID", pid_str);
  n = env_put(env, n, "CDSW_ENGINE_ID", sp->engine_id);
  char ip[32];
  workload_ip(sp->id, ip, sizeof ip);
  n = env_put(env, n, "CDSW_IP_ADDRESS", ip);
  n = env_put_num(env, n, "CDSW_APP_PORT", sp->app_port);
  n = env_put_num(env, n, "CDSW_READONLY_PORT", sp->ro_port);
  n = env_put(env, n, "CDSW_DOMAIN", cfg.domain);
  sbuf api = {0};
  sb_printf(&api, "%s/api/v1", cfg.base_url);
  n = env_put(env, n, "CDSW_API_URL", api.p);
  free(api.p);
  /* the API v2 key of the workload's user (cml-api/FACTS.md: CDSW_APIV2_KEY); the simulator
  ** has one user, so it is the accepted key unless --workload-key says otherwise (inferred: in
  ** CML each workload may get its own key of that user; the watcher only needs one that works) */
  n = env_put(env, n, "CDSW_APIV2_KEY", cfg.workload_key ? cfg.workload_key : cfg.api_key);
  n = env_put_num(env, n, "CDSW_CPU_MILLICORES", (long)(sp->cpu * 1000.0 + 0.5));
  n = env_put_num(env, n, "CDSW_MEMORY_MB", (long)(sp->memory * 1024.0 + 0.5));
  /* a pod's own /tmp (each CML workload is a pod with its own): TMPDIR, a folder per workload
  ** start beside its log (inferred: CML sets no TMPDIR; the stub Ray and the launchers find
  ** Ray's session logs under $TMPDIR/ray as Ray does on Linux) */
  char tmpd[4096];
  int tl = snprintf(tmpd, sizeof tmpd, "%.*s.tmp", (int)(strlen(logp) - 4), logp);
  if (tl > 0 && (size_t)tl < sizeof tmpd && (mkdir(tmpd, 0700) == 0 || errno == EEXIST))
    n = env_put(env, n, "TMPDIR", tmpd);
  for (int i = 0; i < 3; i++) n = env_layer(env, n, sp->env_layers[i]);
  env[n] = NULL;

  const char *script = sp->script ? sp->script : "";
  if (strncmp(script, "/home/cdsw/", 11) == 0) script += 11;
  char *argv[MAX_ARGS];
  int argc = 0;
  argv[argc++] = find_program(cfg.python);
  argv[argc++] = xstrdup(script);
  char *args = xstrdup(sp->arguments ? sp->arguments : "");
  char *save = NULL;
  for (char *t = strtok_r(args, " \t\n", &save); t && argc < MAX_ARGS - 1; t = strtok_r(NULL, " \t\n", &save))
    argv[argc++] = xstrdup(t);
  argv[argc] = NULL;
  free(args);

  int logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = (logfd >= 0 && nullfd >= 0) ? fork() : -1;
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    dup2(nullfd, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    if (chdir(dir) != 0) _exit(126);
#ifdef SYS_close_range
    syscall(SYS_close_range, 3U, ~0U, 0U);
#else
    for (int fd = 3; fd < 4096; fd++) close(fd);
#endif
    execve(argv[0], argv, env);
    static const char msg[] = "cml-sim: cannot run the interpreter\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
  }
  if (pid > 0) {
    setpgid(pid, pid);
    proc_entry *e = &procs[nprocs++];
    memset(e, 0, sizeof *e);
    e->pid = pid;
  }
  if (logfd >= 0) close(logfd);
  if (nullfd >= 0) close(nullfd);
  for (int i = 0; i < n; i++) free(env[i]);
  for (int i = 0; i < argc; i++) free(argv[i]);
  return pid > 0 ? pid : -1;
}


int ex_check (pid_t pid, int *code) {
  proc_entry *e = find(pid);
  if (!e) return -1;
  reap(e);
  if (!e->exited) return 0;
  *code = e->code;
  if (e->kill_at > 0) e->forget = 1;    /* keep it until the group's SIGKILL is sent */
  else drop(e);
  return 1;
}


void ex_terminate (pid_t pid, int forget) {
  proc_entry *e = find(pid);
  if (!e) return;
  kill(-pid, SIGTERM);
  if (e->kill_at <= 0) e->kill_at = now_ms() + (double)cfg.delay[D_KILL_GRACE];
  if (forget) e->forget = 1;
}


void ex_tick (void) {
  double now = now_ms();
  for (int i = nprocs - 1; i >= 0; i--) {
    proc_entry *e = &procs[i];
    reap(e);
    if (e->kill_at > 0 && now >= e->kill_at) {
      kill(-e->pid, SIGKILL);
      e->kill_at = 0;
    }
    if (e->exited && e->forget && e->kill_at <= 0) drop(e);
  }
}


void ex_stop_all (void) {
  for (int i = 0; i < nprocs; i++)
    if (!procs[i].exited) kill(-procs[i].pid, SIGTERM);
  double until = now_ms() + (double)cfg.delay[D_KILL_GRACE];
  for (;;) {
    int alive = 0;
    for (int i = 0; i < nprocs; i++) {
      reap(&procs[i]);
      alive += !procs[i].exited;
    }
    if (!alive || now_ms() >= until) break;
    struct timespec ts = { 0, 20 * 1000000L };
    nanosleep(&ts, NULL);
  }
  for (int i = 0; i < nprocs; i++) {
    kill(-procs[i].pid, SIGKILL);
    if (!procs[i].exited) waitpid(procs[i].pid, NULL, 0);
  }
  nprocs = 0;
}


int ex_port_open (int port) {
  if (port <= 0) return 0;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  close(fd);
  return ok;
}


int ex_free_port (void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  int port = 0;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    port = ntohs(sa.sin_port);
  close(fd);
  return port;
}
