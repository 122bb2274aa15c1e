/*
** main.c: cml-sim's command line. Parses flags, loads state, starts the HTTP server and the
** lifecycle ticker, prints the base URL as the first line on stdout, and waits for SIGTERM,
** SIGINT or POST /_sim/shutdown.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define DEFAULT_API_KEY "cml-sim-dev-key"

sim_config cfg;

static const char *const DELAY_NAMES[D_COUNT] = {
  "project_create", "app_start", "app_stop", "job_scheduling", "job_starting", "job_running",
  "job_stop", "request", "kill_grace",
};
static const long DELAY_DEFAULTS[D_COUNT] = { 50, 300, 100, 100, 100, 100, 100, 0, 2000 };

static const char USAGE[] =
  "usage: cml-sim [options]\n"
  "A local simulator of the Cloudera AI (CML) REST API v2.\n"
  "\n"
  "  --listen HOST:PORT     address to listen on (default 127.0.0.1:0, 0 = any free port)\n"
  "  --api-key KEY          the accepted Bearer key (default $CML_SIM_API_KEY, else " DEFAULT_API_KEY ")\n"
  "  --state-dir DIR        keep state, project files and logs in DIR (default: memory + temp dir)\n"
  "  --domain DOMAIN        CDSW_DOMAIN for workloads (default ml-sim.example.com)\n"
  "  --username NAME        the user the key belongs to (default simuser)\n"
  "  --delay NAME=MS        a state duration in ms; repeatable. Names: project_create app_start\n"
  "                         app_stop job_scheduling job_starting job_running job_stop request\n"
  "                         kill_grace\n"
  "  --quota cpu=N,memory=N,gpu=N   resource quota: creates beyond it answer 429 (default unlimited)\n"
  "  --capacity cpu=N,memory=N,gpu=N  what the workspace can schedule: applications beyond it stay\n"
  "                         STARTING (runs SCHEDULING) until capacity frees (default unlimited)\n"
  "  --runtimes CATALOG     default (Workbench, JupyterLab and PBJ runtimes), pbj (PBJ only) or\n"
  "                         classic (Workbench and JupyterLab only)\n"
  "  --exec                 really run application and job scripts (python3 <script>)\n"
  "  --python PATH          interpreter for --exec (default python3)\n"
  "  --workload-key KEY     the CDSW_APIV2_KEY --exec workloads get (default: the --api-key, the\n"
  "                         user's own key, as CML gives it; another value tests a rejected key)\n"
  "  --tls-cert FILE --tls-key FILE   serve HTTPS\n"
  "  --help                 this text\n"
  "\n"
  "The first line on stdout is the base URL, e.g. http://127.0.0.1:40123\n"
  "Control API (no auth): /_sim/state, /_sim/requests, /_sim/faults, /_sim/delays, /_sim/quota,\n"
  "/_sim/capacity, /_sim/fail_application, /_sim/fail_job, /_sim/logs/<kind>/<id>, /_sim/shutdown. See docs/cml-sim.md.\n";


const char *delay_name (int id) {
  return DELAY_NAMES[id];
}


int delay_lookup (const char *name) {
  for (int i = 0; i < D_COUNT; i++)
    if (strcmp(DELAY_NAMES[i], name) == 0) return i;
  return -1;
}


int delay_parse (const char *spec, const char **err) {
  const char *eq = strchr(spec, '=');
  char name[64];
  if (!eq || (size_t)(eq - spec) >= sizeof name) {
    *err = "--delay wants NAME=MS";
    return -1;
  }
  memcpy(name, spec, (size_t)(eq - spec));
  name[eq - spec] = '\0';
  int id = delay_lookup(name);
  char *end;
  long ms = strtol(eq + 1, &end, 10);
  if (id < 0) {
    *err = "--delay: unknown name (see --help)";
    return -1;
  }
  if (!eq[1] || *end || ms < 0) {
    *err = "--delay: MS must be a whole number >= 0";
    return -1;
  }
  cfg.delay[id] = ms;
  return 0;
}


int resources_parse (const char *spec, double out[3], const char **err) {
  char *copy = xstrdup(spec), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(t, '=');
    char *end = NULL;
    double v = eq ? strtod(eq + 1, &end) : 0;
    int idx = -1;
    if (eq) {
      *eq = '\0';
      idx = !strcmp(t, "cpu") ? 0 : !strcmp(t, "memory") ? 1 : !strcmp(t, "gpu") ? 2 : -1;
    }
    if (idx < 0 || !end || *end || end == eq + 1 || v < 0) {
      free(copy);
      *err = "wants cpu=N,memory=N,gpu=N";
      return -1;
    }
    out[idx] = v;
  }
  free(copy);
  return 0;
}


static void usage_error (const char *msg, const char *arg) {
  if (arg) fprintf(stderr, "cml-sim: %s: %s (see --help)\n", msg, arg);
  else fprintf(stderr, "cml-sim: %s (see --help)\n", msg);
  exit(2);
}


static pthread_t main_thread;


void request_shutdown (void) {
  pthread_kill(main_thread, SIGUSR1);
}


int main (int argc, char **argv) {
  const char *listen = "127.0.0.1:0", *tls_cert = NULL, *tls_key = NULL, *err = NULL;
  const char *env_key = getenv("CML_SIM_API_KEY");
  cfg.api_key = xstrdup(env_key && *env_key ? env_key : DEFAULT_API_KEY);
  cfg.domain = xstrdup("ml-sim.example.com");
  cfg.python = xstrdup("python3");
  cfg.username = xstrdup("simuser");
  cfg.runtimes = xstrdup("default");
  for (int i = 0; i < D_COUNT; i++) cfg.delay[i] = DELAY_DEFAULTS[i];

  for (int i = 1; i < argc; i++) {
    char flag[64];
    const char *a = argv[i], *val = NULL;
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    if (eq && (size_t)(eq - a) < sizeof flag) {
      memcpy(flag, a, (size_t)(eq - a));
      flag[eq - a] = '\0';
      val = eq + 1;
      a = flag;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(USAGE, stdout);
      return 0;
    }
    if (strcmp(a, "--exec") == 0) {
      cfg.exec = 1;
      continue;
    }
    static const char *const with_value[] = { "--listen", "--api-key", "--state-dir", "--domain",
                                              "--python", "--delay", "--quota", "--tls-cert",
                                              "--tls-key", "--username", "--capacity",
                                              "--runtimes", "--workload-key", NULL };
    int known = 0;
    for (int k = 0; with_value[k]; k++) known |= strcmp(a, with_value[k]) == 0;
    if (!known) usage_error("unknown option", argv[i]);
    if (!val) {
      if (i + 1 >= argc) usage_error("missing value for", a);
      val = argv[++i];
    }
    if (strcmp(a, "--listen") == 0) listen = val;
    else if (strcmp(a, "--api-key") == 0) {
      if (!*val) usage_error("--api-key must not be empty", NULL);
      free(cfg.api_key);
      cfg.api_key = xstrdup(val);
    } else if (strcmp(a, "--workload-key") == 0) {
      free(cfg.workload_key);
      cfg.workload_key = xstrdup(val);
    } else if (strcmp(a, "--state-dir") == 0) {
      free(cfg.state_dir);
      cfg.state_dir = xstrdup(val);
    } else if (strcmp(a, "--domain") == 0) {
      free(cfg.domain);
      cfg.domain = xstrdup(val);
    } else if (strcmp(a, "--python") == 0) {
      free(cfg.python);
      cfg.python = xstrdup(val);
    } else if (strcmp(a, "--username") == 0) {
      free(cfg.username);
      cfg.username = xstrdup(val);
    } else if (strcmp(a, "--delay") == 0) {
      if (delay_parse(val, &err) != 0) usage_error(err, val);
    } else if (strcmp(a, "--quota") == 0) {
      if (resources_parse(val, cfg.quota, &err) != 0) usage_error("--quota wants cpu=N,memory=N,gpu=N", val);
    } else if (strcmp(a, "--capacity") == 0) {
      if (resources_parse(val, cfg.capacity, &err) != 0) usage_error("--capacity wants cpu=N,memory=N,gpu=N", val);
    } else if (strcmp(a, "--runtimes") == 0) {
      if (strcmp(val, "default") && strcmp(val, "pbj") && strcmp(val, "classic"))
        usage_error("--runtimes wants default, pbj or classic", val);
      free(cfg.runtimes);
      cfg.runtimes = xstrdup(val);
    } else if (strcmp(a, "--tls-cert") == 0) tls_cert = val;
    else if (strcmp(a, "--tls-key") == 0) tls_key = val;
  }
  if (!tls_cert != !tls_key) usage_error("--tls-cert and --tls-key go together", NULL);

  char host[256];
  const char *colon = strrchr(listen, ':');
  char *end = NULL;
  long port = colon ? strtol(colon + 1, &end, 10) : -1;
  if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host || !colon[1] || *end ||
      port < 0 || port > 65535)
    usage_error("--listen wants HOST:PORT", listen);
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';

  /* Signals: every thread blocks these; main waits for them. Children get them back. */
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  main_thread = pthread_self();

  if (st_init() != 0) return 1;
  if (server_start(host, (int)port, tls_cert, tls_key) != 0) {
    st_cleanup();
    return 1;
  }
  pthread_mutex_lock(&g_lock);
  lifecycle_after_load();
  pthread_mutex_unlock(&g_lock);
  if (lifecycle_start() != 0) {
    fputs("cml-sim: cannot start the lifecycle thread\n", stderr);
    server_stop();
    st_cleanup();
    return 1;
  }
  printf("%s\n", cfg.base_url);
  fflush(stdout);

  int sig = 0;
  while (sigwait(&set, &sig) != 0) {}
  if (sig == SIGUSR1) {             /* /_sim/shutdown: let its reply go out */
    struct timespec ts = { 0, 100 * 1000000L };
    nanosleep(&ts, NULL);
  }
  server_stop();
  lifecycle_stop();
  pthread_mutex_lock(&g_lock);
  ex_stop_all();
  st_dirty();
  st_save_if_dirty();
  pthread_mutex_unlock(&g_lock);
  st_cleanup();
  return 0;
}
