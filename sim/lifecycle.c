/*
** lifecycle.c: state machines on timers. A ticker thread wakes every 10 ms, takes g_lock and
** moves projects (creating → success), applications and job runs along, by their deadlines
** (`_next`, wall-clock ms, so a restarted simulator with the same state dir carries on) or, in
** exec mode, by their processes (port open, exit code).
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

static pthread_t ticker;
static volatile int ticker_stop;
static int ticker_started;


static int is (const cJSON *o, const char *status) {
  const char *s = js_str(o, "status");
  return s && strcmp(s, status) == 0;
}


static void stamp (cJSON *o, const char *field, double ms) {
  char ts[40];
  iso_time(ms, ts);
  if (field) js_set_str(o, field, ts);
  if (!js_has(o, "job_id")) js_set_str(o, "updated_at", ts);    /* JobRun has no updated_at */
  st_dirty();
}


static void set_status (cJSON *o, const char *status, const char *field, double ms) {
  js_set_str(o, "status", status);
  stamp(o, field, ms);
}


static pid_t pid_of (const cJSON *o) {
  return (pid_t)js_num(o, "_pid", 0);
}


/* 1 if the object's process is gone (or it never had one). */
static int process_gone (cJSON *o, int *code) {
  pid_t pid = pid_of(o);
  *code = -1;
  if (pid <= 0) return 1;
  int st = ex_check(pid, code);
  if (st == 0) return 0;
  js_del(o, "_pid");
  st_dirty();
  return 1;
}


void end_process (cJSON *o) {
  pid_t pid = pid_of(o);
  if (pid > 0) ex_terminate(pid, 1);
  js_del(o, "_pid");
}


int app_counts_for_quota (const cJSON *a) {
  return is(a, "APPLICATION_STARTING") || is(a, "APPLICATION_RUNNING") ||
         is(a, "APPLICATION_STOPPING");
}


int run_is_active (const cJSON *r) {
  return is(r, "ENGINE_SCHEDULING") || is(r, "ENGINE_STARTING") || is(r, "ENGINE_RUNNING") ||
         is(r, "ENGINE_STOPPING");
}


/*
** Exec mode: start workload o (an application or a run) of the project. sp brings the kind,
** script, arguments, ports and the environment layers after the project's; the rest (layer 0,
** a new engine id, resources) is filled in here. Records _pid; -1 if it could not start.
*/
static int spawn (cJSON *o, const char *project_id, spawn_spec *sp) {
  cJSON *project = st_find("projects", project_id);
  char engine[16];
  new_alnum(engine, 15);
  js_set_str(o, "_engine_id", engine);
  sp->id = js_str(o, "id");
  sp->project = project;
  sp->env_layers[0] = project ? js_str(project, "environment") : NULL;
  sp->engine_id = engine;
  sp->cpu = js_num(o, "cpu", 1);
  sp->memory = js_num(o, "memory", 1);
  pid_t pid = ex_spawn(sp);
  if (pid <= 0) return -1;
  js_set_num(o, "_pid", pid);
  return 0;
}


/* ---- applications ---- */

static void app_spawn (cJSON *a) {
  spawn_spec sp = { .kind = "application", .script = js_str(a, "script"),
                    .app_port = ex_free_port(), .ro_port = ex_free_port() };
  sp.env_layers[1] = js_str(a, "environment");
  js_set_num(a, "_app_port", sp.app_port);
  js_set_num(a, "_ro_port", sp.ro_port);
  if (spawn(a, js_str(a, "_project_id"), &sp) != 0)
    set_status(a, "APPLICATION_FAILED", NULL, now_ms());
}


/* A STARTING application gets its pod scheduled once it fits the capacity (capacity.c): its
** start delay (or, in exec mode, its process) begins then. 1 if placed. */
static int app_place (cJSON *a, double now) {
  if (!capacity_fits(a)) return 0;
  js_set_bool(a, "_placed", 1);
  js_set_num(a, "_next", now + (double)cfg.delay[D_APP_START]);
  st_dirty();
  if (cfg.exec) app_spawn(a);
  return 1;
}


void app_begin_start (cJSON *a) {
  end_process(a);
  double now = now_ms();
  js_del(a, "running_at");
  js_del(a, "stopped_at");
  js_set_bool(a, "_fail", fail_app_take(js_str(a, "name")));
  js_set_bool(a, "_placed", 0);
  set_status(a, "APPLICATION_STARTING", "starting_at", now);
  app_place(a, now);
}


void app_begin_stop (cJSON *a) {
  if (!is(a, "APPLICATION_STARTING") && !is(a, "APPLICATION_RUNNING")) return;
  double now = now_ms();
  js_set_num(a, "_next", now + (double)cfg.delay[D_APP_STOP]);
  set_status(a, "APPLICATION_STOPPING", NULL, now);
  pid_t pid = pid_of(a);
  if (pid > 0) ex_terminate(pid, 0);
}


/* fail_application on an app that exists now. */
void app_fail_now (cJSON *a) {
  if (is(a, "APPLICATION_STARTING")) {
    js_set_bool(a, "_fail", 1);
  } else if (is(a, "APPLICATION_RUNNING")) {
    end_process(a);
    set_status(a, "APPLICATION_FAILED", NULL, now_ms());
  }
}


static void app_step (cJSON *a, double now) {
  int code;
  if (is(a, "APPLICATION_STARTING") && !js_bool(a, "_placed", 1) && !app_place(a, now)) return;
  double next = js_num(a, "_next", 0);
  if (is(a, "APPLICATION_STARTING")) {
    if (!cfg.exec) {
      if (now < next) return;
      if (js_bool(a, "_fail", 0)) set_status(a, "APPLICATION_FAILED", NULL, now);
      else set_status(a, "APPLICATION_RUNNING", "running_at", now);
      return;
    }
    if (process_gone(a, &code)) {
      set_status(a, "APPLICATION_FAILED", NULL, now);
    } else if (js_bool(a, "_fail", 0) && now >= next) {
      end_process(a);
      set_status(a, "APPLICATION_FAILED", NULL, now);
    } else if (ex_port_open((int)js_num(a, "_app_port", 0))) {
      set_status(a, "APPLICATION_RUNNING", "running_at", now);
    }
  } else if (is(a, "APPLICATION_RUNNING")) {
    if (cfg.exec && process_gone(a, &code)) set_status(a, "APPLICATION_FAILED", NULL, now);
  } else if (is(a, "APPLICATION_STOPPING")) {
    if (now >= next && process_gone(a, &code)) set_status(a, "APPLICATION_STOPPED", "stopped_at", now);
  }
}


/* ---- job runs ---- */

static void run_spawn (cJSON *r) {
  cJSON *job = st_find("jobs", js_str(r, "job_id"));
  spawn_spec sp = { .kind = "run", .script = js_str(r, "_script"), .arguments = js_str(r, "arguments"),
                    .app_port = ex_free_port(), .ro_port = ex_free_port() };
  sp.env_layers[1] = job ? js_str(job, "environment") : NULL;
  sp.env_layers[2] = js_str(r, "environment");
  if (spawn(r, js_str(r, "project_id"), &sp) != 0)
    set_status(r, "ENGINE_FAILED", "finished_at", now_ms());
}


void run_begin (cJSON *r) {
  double now = now_ms();
  char ts[40];
  iso_time(now, ts);
  js_set_str(r, "created_at", ts);
  js_set_num(r, "_next", now + (double)cfg.delay[D_JOB_SCHEDULING]);
  set_status(r, "ENGINE_SCHEDULING", "scheduling_at", now);
}


void run_begin_stop (cJSON *r) {
  if (!is(r, "ENGINE_SCHEDULING") && !is(r, "ENGINE_STARTING") && !is(r, "ENGINE_RUNNING")) return;
  double now = now_ms();
  js_set_num(r, "_next", now + (double)cfg.delay[D_JOB_STOP]);
  set_status(r, "ENGINE_STOPPING", NULL, now);
  pid_t pid = pid_of(r);
  if (pid > 0) ex_terminate(pid, 0);
}


static void start_dependents (const char *job_id) {
  cJSON *j;
  cJSON_ArrayForEach(j, st_list("jobs")) {
    const char *parent = js_str(j, "parent_id");
    if (parent && strcmp(parent, job_id) == 0) run_create_for(j, NULL, NULL);
  }
}


static void run_finish (cJSON *r, const char *status, double now) {
  set_status(r, status, "finished_at", now);
  if (strcmp(status, "ENGINE_SUCCEEDED") == 0) start_dependents(js_str(r, "job_id"));
}


static void run_step (cJSON *r, double now) {
  int code;
  double next = js_num(r, "_next", 0);
  if (is(r, "ENGINE_SCHEDULING")) {
    if (now < next || !capacity_fits(r)) return;
    js_set_num(r, "_next", now + (double)cfg.delay[D_JOB_STARTING]);
    set_status(r, "ENGINE_STARTING", "starting_at", now);
  } else if (is(r, "ENGINE_STARTING")) {
    if (now < next) return;
    js_set_num(r, "_next", now + (double)cfg.delay[D_JOB_RUNNING]);
    double timeout = js_num(r, "_timeout", 0);
    if (timeout > 0) js_set_num(r, "_timeout_at", now + timeout * 1000.0);
    set_status(r, "ENGINE_RUNNING", "running_at", now);
    if (cfg.exec) run_spawn(r);
  } else if (is(r, "ENGINE_RUNNING")) {
    /* the swagger: kill_on_timeout "Whether to kill the job on timeout"; without it a run past
    ** its timeout keeps running to its own end (inferred: what else a timeout does then, a
    ** notification to timeout_recipients perhaps, the simulator does not model) */
    double tmo = js_bool(r, "_kill_on_timeout", 0) ? js_num(r, "_timeout_at", 0) : 0;
    if (cfg.exec) {
      if (process_gone(r, &code)) {
        run_finish(r, code == 0 && !js_bool(r, "_fail", 0) ? "ENGINE_SUCCEEDED" : "ENGINE_FAILED", now);
      } else if (tmo > 0 && now >= tmo) {
        end_process(r);
        run_finish(r, "ENGINE_TIMEDOUT", now);
      }
      return;
    }
    if (tmo > 0 && now >= tmo && tmo < next) run_finish(r, "ENGINE_TIMEDOUT", now);
    else if (now >= next) run_finish(r, js_bool(r, "_fail", 0) ? "ENGINE_FAILED" : "ENGINE_SUCCEEDED", now);
  } else if (is(r, "ENGINE_STOPPING")) {
    if (now >= next && process_gone(r, &code)) set_status(r, "ENGINE_STOPPED", "finished_at", now);
  }
}


/* ---- the ticker ---- */

static void tick (void) {
  double now = now_ms();
  if (cfg.exec) ex_tick();
  cJSON *o;
  cJSON_ArrayForEach(o, st_list("projects")) {
    if (strcmp(js_str(o, "creation_status"), "creating") == 0 && now >= js_num(o, "_next", 0)) {
      js_set_str(o, "creation_status", "success");
      js_del(o, "_next");
      stamp(o, NULL, now);
    }
  }
  cJSON *next;
  for (o = st_list("applications")->child; o; o = next) {
    next = o->next;
    app_step(o, now);
    /* a deleted application is gone once its pod stopped */
    if (js_bool(o, "_deleted", 0) && !app_counts_for_quota(o)) {
      end_process(o);
      st_remove("applications", o);
    }
  }
  cJSON_ArrayForEach(o, st_list("runs")) run_step(o, now);
}


static void *ticker_main (void *arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  while (!ticker_stop) {
    struct timespec ts = { 0, 10 * 1000000L };
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&g_lock);
    tick();
    st_save_if_dirty();
    pthread_mutex_unlock(&g_lock);
  }
  return NULL;
}


void lifecycle_after_load (void) {
  double now = now_ms();
  cJSON *o;
  cJSON_ArrayForEach(o, st_list("applications")) {
    js_del(o, "_pid");
    if (!cfg.exec) continue;
    if (is(o, "APPLICATION_STARTING") || is(o, "APPLICATION_RUNNING")) app_begin_start(o);
    else if (is(o, "APPLICATION_STOPPING")) set_status(o, "APPLICATION_STOPPED", "stopped_at", now);
  }
  cJSON_ArrayForEach(o, st_list("runs")) {
    js_del(o, "_pid");
    if (!cfg.exec) continue;
    if (is(o, "ENGINE_RUNNING")) set_status(o, "ENGINE_FAILED", "finished_at", now);
    else if (is(o, "ENGINE_STOPPING")) set_status(o, "ENGINE_STOPPED", "finished_at", now);
  }
  st_save_if_dirty();
}


int lifecycle_start (void) {
  ticker_stop = 0;
  if (pthread_create(&ticker, NULL, ticker_main, NULL) != 0) return -1;
  ticker_started = 1;
  return 0;
}


void lifecycle_stop (void) {
  if (!ticker_started) return;
  ticker_stop = 1;
  pthread_join(ticker, NULL);
  ticker_started = 0;
}
