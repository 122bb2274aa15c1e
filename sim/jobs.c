/*
** jobs.c: List/Create/Get/Update/Delete Job, ListAllJobs, and job runs (create, get, list,
** :stop). One active run per job. Runs with g_lock held; run states move in lifecycle.c.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"


static const char *run_status_word (const char *w) {
  static const char *const map[][2] = {
    { "scheduling", "ENGINE_SCHEDULING" }, { "starting", "ENGINE_STARTING" },
    { "running", "ENGINE_RUNNING" }, { "stopping", "ENGINE_STOPPING" },
    { "stopped", "ENGINE_STOPPED" }, { "succeeded", "ENGINE_SUCCEEDED" },
    { "failed", "ENGINE_FAILED" }, { "timedout", "ENGINE_TIMEDOUT" },
    { "skipped", "ENGINE_SKIPPED" }, { "unknown", "ENGINE_UNKNOWN" },
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(w, map[i][0]) == 0 || strcmp(w, map[i][1]) == 0) return map[i][1];
  return NULL;
}


static const char *const JOB_FILTER[] = { "creator.email", "creator.name", "creator.username",
                                          "description", "kernel", "name", "paused", "script",
                                          "type", "runtime_identifier", NULL };
static const char *const JOB_SORT[] = { "created_at", "creator.email", "creator.name",
                                        "creator.username", "description", "kernel", "name",
                                        "paused", "script", "type", "updated_at", NULL };
static const list_spec JOB_SPEC = { "jobs", JOB_FILTER, JOB_SORT, NULL };


static cJSON *short_project (const cJSON *p) {
  cJSON *s = cJSON_CreateObject();
  char pub[512];
  snprintf(pub, sizeof pub, "%s/%s", cfg.username, js_str(p, "slug"));
  js_set_str(s, "public_identifier", pub);
  js_set_str(s, "name", js_str(p, "name"));
  js_set_str(s, "default_project_engine", js_str(p, "default_engine_type"));
  js_set_str(s, "slug", js_str(p, "slug"));
  return s;
}


static const char *parent_of (const cJSON *body) {
  const char *p = js_str(body, "parent_id");
  if (!p || !*p) p = js_str(body, "parent_job_id");
  return p && *p ? p : NULL;
}


static void set_type (cJSON *j) {
  const char *parent = js_str(j, "parent_id");
  const char *sched = js_str(j, "schedule");
  js_set_str(j, "type", parent && *parent ? "dependent" : (sched && *sched ? "cron" : "manual"));
}


static void create_job (const request *rq, reply *rp, cJSON *project) {
  cJSON *body = req_json(rq, rp);
  if (!body) return;
  char *env = NULL;
  const char *name = js_str(body, "name");
  const char *parent = parent_of(body);
  const char *pid = js_str(project, "id");
  workload w;
  if (!name || !*name) {
    reply_error(rp, 3, "job name must be specified");
    goto done;
  }
  if (workload_read_new(rp, project, body, &w)) goto done;
  if (parent && !st_find_in("jobs", pid, parent)) {
    reply_error(rp, 3, "parent job %s not found in project %s", parent, pid);
    goto done;
  }
  if (js_num(body, "timeout", 0) < 0) {
    reply_error(rp, 3, "timeout must not be negative");
    goto done;
  }
  if (!(env = env_to_string(cJSON_GetObjectItemCaseSensitive(body, "environment"), rp))) goto done;

  char num[32];
  cJSON *j = workload_create(project, body, name, &w, env);
  js_set_str(j, "engine_image_id", "0");
  js_set_str(j, "english_schedule", "");
  js_set_str(j, "arguments", js_str(body, "arguments"));
  js_set_str(j, "parent_id", parent ? parent : "");
  js_set_bool(j, "paused", js_bool(body, "paused", 0));
  js_set_str(j, "schedule", js_str(body, "schedule"));
  snprintf(num, sizeof num, "%.0f", js_num(body, "timeout", 0));
  js_set_str(j, "timeout", num);
  js_set_str(j, "timezone", js_str(body, "timezone") ? js_str(body, "timezone") : "America/Los_Angeles");
  js_set(j, "runtime_addon_identifiers",
         js_string_array(cJSON_GetObjectItemCaseSensitive(body, "runtime_addon_identifiers")));
  js_set_bool(j, "kill_on_timeout", js_bool(body, "kill_on_timeout", 0));
  js_set(j, "project", short_project(project));
  js_set(j, "owner", js_short_user());
  js_set_bool(j, "retry_enabled", js_bool(body, "retry_enabled", 0));
  js_set_num(j, "max_retry", js_num(body, "max_retry", 0));
  js_set_num(j, "retry_delay", js_num(body, "retry_delay", 0));
  static const char *const flags[] = { "retry_for_script_failure", "retry_for_system_failure",
                                       "retry_for_timedout_runs", "retry_for_skipped_runs", NULL };
  for (int i = 0; flags[i]; i++) js_set_bool(j, flags[i], js_bool(body, flags[i], 0));
  js_set(j, "recipients", cJSON_CreateArray());
  js_set(j, "attachments", cJSON_CreateArray());
  static const char *const recips[] = { "success_recipients", "failure_recipients",
                                        "timeout_recipients", "stopped_recipients", NULL };
  for (int i = 0; recips[i]; i++) js_set_str(j, recips[i], js_str(body, recips[i]));
  set_type(j);
  cJSON_AddItemToArray(st_list("jobs"), j);
  st_dirty();
  reply_json(rp, 200, js_public(j));
done:
  free(env);
  cJSON_Delete(body);
}


static void update_job (const request *rq, reply *rp, cJSON *project, cJSON *j) {
  cJSON *body = req_json(rq, rp);
  if (!body) return;
  char *env = NULL;
  const char *name = js_str(body, "name");
  const char *parent = parent_of(body);
  workload w;
  if (name && !*name) {
    reply_error(rp, 3, "job name must not be empty");
    goto done;
  }
  if (workload_read_update(rp, project, body, j, &w)) goto done;
  if (parent && (strcmp(parent, js_str(j, "id")) == 0 || !st_find_in("jobs", js_str(project, "id"), parent))) {
    reply_error(rp, 3, "invalid parent job %s", parent);
    goto done;
  }
  if (js_has(body, "environment") &&
      !(env = env_to_string(cJSON_GetObjectItemCaseSensitive(body, "environment"), rp)))
    goto done;
  static const char *const strs[] = { "arguments", "schedule", "success_recipients",
                                      "failure_recipients", "timeout_recipients",
                                      "stopped_recipients", NULL };
  for (int i = 0; strs[i]; i++)
    if (js_str(body, strs[i])) js_set_str(j, strs[i], js_str(body, strs[i]));
  if (parent) js_set_str(j, "parent_id", parent);
  if (js_has(body, "timeout")) {
    char num[32];
    snprintf(num, sizeof num, "%.0f", js_num(body, "timeout", 0));
    js_set_str(j, "timeout", num);
  }
  static const char *const bools[] = { "kill_on_timeout", "paused", "retry_enabled", NULL };
  for (int i = 0; bools[i]; i++)
    if (js_has(body, bools[i])) js_set_bool(j, bools[i], js_bool(body, bools[i], 0));
  set_type(j);
  workload_update(rp, j, name, &w, env);
done:
  free(env);
  cJSON_Delete(body);
}


static void list_jobs (const request *rq, reply *rp, const char *project_id) {
  list_reply_where(rq, rp, &JOB_SPEC, "jobs", "_project_id", project_id, "jobs");
}


void h_all_jobs (const request *rq, reply *rp) {
  if (strcmp(rq->method, "GET") != 0) reply_bad_method(rp);
  else list_jobs(rq, rp, NULL);
}


void h_jobs (const request *rq, reply *rp, cJSON *project, char **seg, int nseg) {
  const char *m = rq->method;
  const char *pid = js_str(project, "id");
  if (nseg == 0) {
    if (strcmp(m, "GET") == 0) list_jobs(rq, rp, pid);
    else if (strcmp(m, "POST") == 0) create_job(rq, rp, project);
    else reply_bad_method(rp);
    return;
  }
  cJSON *j = st_find_in("jobs", pid, seg[0]);
  if (!j) {
    reply_error(rp, 5, "job %s not found in project %s", seg[0], pid);
    return;
  }
  if (nseg >= 2 && strcmp(seg[1], "runs") == 0) {
    h_runs(rq, rp, j, seg + 2, nseg - 2);
    return;
  }
  if (nseg != 1) {
    reply_error(rp, 5, "Not Found");
  } else if (strcmp(m, "GET") == 0) {
    reply_json(rp, 200, js_public(j));
  } else if (strcmp(m, "PATCH") == 0) {
    update_job(rq, rp, project, j);
  } else if (strcmp(m, "DELETE") == 0) {
    st_remove_where("runs", "job_id", js_str(j, "id"));
    st_remove("jobs", j);
    reply_json(rp, 200, cJSON_CreateObject());
  } else {
    reply_bad_method(rp);
  }
}


/* ---- runs ---- */

cJSON *run_create_for (cJSON *job, const char *env, const char *arguments) {
  char id[20];
  new_alnum(id, 16);
  cJSON *r = cJSON_CreateObject();
  js_set_str(r, "project_id", js_str(job, "_project_id"));
  js_set_str(r, "job_id", js_str(job, "id"));
  js_set_str(r, "status", "ENGINE_SCHEDULING");
  js_set_str(r, "id", id);
  js_set_str(r, "kernel", js_str(job, "kernel"));
  js_set_num(r, "cpu", js_num(job, "cpu", 1));
  js_set_num(r, "memory", js_num(job, "memory", 1));
  js_set_num(r, "nvidia_gpu", js_num(job, "nvidia_gpu", 0));
  js_set_str(r, "arguments", arguments && *arguments ? arguments : js_str(job, "arguments"));
  js_set_str(r, "environment", env ? env : "{}");
  js_set(r, "creator", js_short_user());
  js_set_str(r, "runtime_identifier", js_str(job, "runtime_identifier"));
  js_set_num(r, "resource_group_id", js_num(job, "resource_group_id", 0));
  js_set_str(r, "_script", js_str(job, "script"));
  js_set_num(r, "_timeout", js_num(job, "timeout", 0));
  js_set_bool(r, "_kill_on_timeout", js_bool(job, "kill_on_timeout", 0));
  js_set_bool(r, "_fail", fail_job_take(js_str(job, "name")));
  cJSON_AddItemToArray(st_list("runs"), r);
  run_begin(r);
  return r;
}


static void create_run (const request *rq, reply *rp, cJSON *job) {
  cJSON *body = req_json(rq, rp);
  if (!body) return;
  const cJSON *o;
  cJSON_ArrayForEach(o, st_list("runs")) {
    if (strcmp(js_str(o, "job_id"), js_str(job, "id")) == 0 && run_is_active(o)) {
      reply_error(rp, 9, "job '%s' already has an active run (%s); stop it or wait for it to finish",
                  js_str(job, "name"), js_str(o, "id"));
      cJSON_Delete(body);
      return;
    }
  }
  char *env = env_to_string(cJSON_GetObjectItemCaseSensitive(body, "environment"), rp);
  if (env &&
      !check_quota(rp, js_num(job, "cpu", 1), js_num(job, "memory", 1), js_num(job, "nvidia_gpu", 0), NULL)) {
    cJSON *r = run_create_for(job, env, js_str(body, "arguments"));
    st_dirty();
    reply_json(rp, 200, js_public(r));
  }
  free(env);
  cJSON_Delete(body);
}


void h_runs (const request *rq, reply *rp, cJSON *job, char **seg, int nseg) {
  static const char *const fkeys[] = { "status", "id", "job_id", "creator.username",
                                       "creator.name", "creator.email", "runtime_identifier", NULL };
  static const char *const skeys[] = { "created_at", "id", "status", "scheduling_at",
                                       "starting_at", "running_at", "finished_at", NULL };
  static const list_spec spec = { "job runs", fkeys, skeys, run_status_word };
  const char *m = rq->method;
  if (nseg == 0) {
    if (strcmp(m, "POST") == 0) {
      create_run(rq, rp, job);
    } else if (strcmp(m, "GET") == 0) {
      list_reply_where(rq, rp, &spec, "runs", "job_id", js_str(job, "id"), "job_runs");
    } else {
      reply_bad_method(rp);
    }
    return;
  }
  if (nseg != 1) {
    reply_error(rp, 5, "Not Found");
    return;
  }
  char *verb = strchr(seg[0], ':');
  if (verb) *verb++ = '\0';
  cJSON *r = st_find("runs", seg[0]);
  if (!r || strcmp(js_str(r, "job_id"), js_str(job, "id")) != 0) {
    reply_error(rp, 5, "job run %s not found for job %s", seg[0], js_str(job, "id"));
    return;
  }
  if (verb) {
    if (strcmp(verb, "stop") != 0) {
      reply_error(rp, 5, "Not Found");
    } else if (strcmp(m, "POST") != 0) {
      reply_bad_method(rp);
    } else {
      run_begin_stop(r);
      st_dirty();
      reply_json(rp, 200, js_public(r));
    }
  } else if (strcmp(m, "GET") == 0) {
    reply_json(rp, 200, js_public(r));
  } else {
    reply_bad_method(rp);
  }
}
