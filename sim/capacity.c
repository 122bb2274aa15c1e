/*
** capacity.c: what the workspace can schedule (--capacity). Mirrors what real workspaces do when
** their nodes have no free GPU or CPU: the pod stays Pending, so the application stays
** APPLICATION_STARTING (a job run stays ENGINE_SCHEDULING) until capacity frees; nothing answers
** an error. (inferred: the FACTS record no error for it; Kubernetes keeps such pods Pending.)
** Distinct from --quota (check_quota in runtimes.c), which refuses a create with 429.
** Runs with g_lock held.
*/
#include <string.h>

#include "sim.h"


static int status_is (const cJSON *o, const char *s) {
  const char *v = js_str(o, "status");
  return v && strcmp(v, s) == 0;
}


/* Does this object hold capacity now? Placed applications that are alive or stopping, runs
** past scheduling that are not finished. */
static int holds (const cJSON *o) {
  if (js_has(o, "job_id"))
    return status_is(o, "ENGINE_STARTING") || status_is(o, "ENGINE_RUNNING") ||
           status_is(o, "ENGINE_STOPPING");
  return js_bool(o, "_placed", 1) && app_counts_for_quota(o);
}


int capacity_fits (const cJSON *self) {
  int limited = 0;
  for (int i = 0; i < 3; i++) limited |= cfg.capacity[i] > 0;
  if (!limited) return 1;
  double used[3] = { 0, 0, 0 };
  static const char *const kinds[] = { "applications", "runs" };
  for (int k = 0; k < 2; k++) {
    const cJSON *o;
    cJSON_ArrayForEach(o, st_list(kinds[k])) {
      if (o == self || !holds(o)) continue;
      used[0] += js_num(o, "cpu", 0);
      used[1] += js_num(o, "memory", 0);
      used[2] += js_num(o, "nvidia_gpu", 0);
    }
  }
  double want[3] = { js_num(self, "cpu", 0), js_num(self, "memory", 0), js_num(self, "nvidia_gpu", 0) };
  for (int i = 0; i < 3; i++)
    if (cfg.capacity[i] > 0 && want[i] > 0 && used[i] + want[i] > cfg.capacity[i] + 1e-9) return 0;
  return 1;
}


cJSON *resources_json (const double r[3]) {
  cJSON *q = cJSON_CreateObject();
  static const char *const names[] = { "cpu", "memory", "gpu" };
  for (int i = 0; i < 3; i++) js_set(q, names[i], r[i] > 0 ? cJSON_CreateNumber(r[i]) : cJSON_CreateNull());
  return q;
}


int resources_set (const cJSON *body, double r[3], const char *what, reply *rp) {
  static const char *const names[] = { "cpu", "memory", "gpu" };
  const cJSON *e;
  cJSON_ArrayForEach(e, body) {
    int ok = 0;
    for (int i = 0; i < 3; i++) ok |= strcmp(e->string, names[i]) == 0;
    if (!ok || !(cJSON_IsNumber(e) || cJSON_IsNull(e))) {
      reply_error(rp, 3, "%s keys are cpu, memory and gpu, with a number or null", what);
      return -1;
    }
  }
  for (int i = 0; i < 3; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, names[i]);
    if (v) r[i] = cJSON_IsNumber(v) ? v->valuedouble : 0;
  }
  return 0;
}
