/*
** faults.c: fault injection rules for /api/v2 requests (status, drop, slow, truncate, malformed,
** oversize), and the fail_application / fail_job rules. Fault rules have their own lock
** (they are consulted before g_lock is taken); fail rules live under g_lock.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"

#define MAX_RULES 128

typedef struct {
  char method[16];
  char *path, *prefix, *suffix, *contains;
  fault_hit hit;
  int count;            /* remaining; -1: until cleared */
} rule;

static rule rules[MAX_RULES];
static int nrules;
static pthread_mutex_t flock = PTHREAD_MUTEX_INITIALIZER;

typedef struct { char *name; int count; int is_app; } fail_rule;
static fail_rule fails[MAX_RULES];
static int nfails;


static char *opt_dup (const cJSON *o, const char *k) {
  const char *v = js_str(o, k);
  return v && *v ? xstrdup(v) : NULL;
}


static void rule_free (rule *r) {
  free(r->path);
  free(r->prefix);
  free(r->suffix);
  free(r->contains);
}


static int parse_rule (const cJSON *j, rule *r, const char **err) {
  memset(r, 0, sizeof *r);
  if (!cJSON_IsObject(j)) {
    *err = "each fault rule must be an object";
    return -1;
  }
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "match");
  if (m && !cJSON_IsObject(m)) {
    *err = "match must be an object";
    return -1;
  }
  const char *action = js_str(j, "action");
  static const char *const actions[] = { "status", "drop", "slow", "truncate", "malformed",
                                         "oversize", NULL };
  int ok = 0;
  for (int i = 0; action && actions[i]; i++) ok |= strcmp(action, actions[i]) == 0;
  if (!ok) {
    *err = "action must be one of status, drop, slow, truncate, malformed, oversize";
    return -1;
  }
  snprintf(r->hit.action, sizeof r->hit.action, "%s", action);
  const char *method = m ? js_str(m, "method") : NULL;
  snprintf(r->method, sizeof r->method, "%s", method ? method : "");
  r->path = m ? opt_dup(m, "path") : NULL;
  r->prefix = m ? opt_dup(m, "path_prefix") : NULL;
  r->suffix = m ? opt_dup(m, "path_suffix") : NULL;
  r->contains = m ? opt_dup(m, "path_contains") : NULL;
  r->hit.status = js_to_int(js_num(j, "status", strcmp(action, "status") == 0 ? 503 : 0));
  r->hit.retry_after = js_to_int(js_num(j, "retry_after", -1));
  r->hit.delay_ms = js_to_long(js_num(j, "delay_ms", 2000));
  r->hit.size = js_to_long(js_num(j, "size", 32.0 * 1024 * 1024));
  int apply_default = strcmp(action, "status") != 0 && strcmp(action, "drop") != 0;
  r->hit.apply = js_bool(j, "apply", apply_default);
  r->count = js_to_int(js_num(j, "count", 1));
  if (r->count == 0 || r->count < -1) {
    rule_free(r);
    *err = "count must be a positive number, or -1 for every matching request";
    return -1;
  }
  return 0;
}


int faults_set (const cJSON *list, const char **err) {
  const cJSON *one = list;
  rule parsed[MAX_RULES];
  int n = 0;
  if (cJSON_IsObject(list) && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(list, "rules")))
    list = cJSON_GetObjectItemCaseSensitive(list, "rules");
  if (cJSON_IsArray(list)) {
    cJSON_ArrayForEach(one, list) {
      if (n >= MAX_RULES || parse_rule(one, &parsed[n], err) != 0) {
        if (n >= MAX_RULES) *err = "too many fault rules";
        for (int i = 0; i < n; i++) rule_free(&parsed[i]);
        return -1;
      }
      n++;
    }
  } else if (parse_rule(one, &parsed[n], err) == 0) {
    n = 1;
  } else {
    return -1;
  }
  pthread_mutex_lock(&flock);
  if (nrules + n > MAX_RULES) {
    pthread_mutex_unlock(&flock);
    for (int i = 0; i < n; i++) rule_free(&parsed[i]);
    *err = "too many fault rules";
    return -1;
  }
  for (int i = 0; i < n; i++) rules[nrules++] = parsed[i];
  pthread_mutex_unlock(&flock);
  return 0;
}


void faults_clear (void) {
  pthread_mutex_lock(&flock);
  for (int i = 0; i < nrules; i++) rule_free(&rules[i]);
  nrules = 0;
  pthread_mutex_unlock(&flock);
}


static int ends_with (const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}


int fault_take (const char *method, const char *path, fault_hit *out) {
  int fired = 0;
  pthread_mutex_lock(&flock);
  for (int i = 0; i < nrules; i++) {
    rule *r = &rules[i];
    if (r->method[0] && strcasecmp(r->method, method) != 0) continue;
    if (r->path && strcmp(r->path, path) != 0) continue;
    if (r->prefix && strncmp(path, r->prefix, strlen(r->prefix)) != 0) continue;
    if (r->suffix && !ends_with(path, r->suffix)) continue;
    if (r->contains && !strstr(path, r->contains)) continue;
    *out = r->hit;
    fired = 1;
    if (r->count > 0 && --r->count == 0) {
      rule_free(r);
      memmove(r, r + 1, sizeof(rule) * (size_t)(nrules - i - 1));
      nrules--;
    }
    break;
  }
  pthread_mutex_unlock(&flock);
  return fired;
}


cJSON *faults_json (void) {
  cJSON *arr = cJSON_CreateArray();
  pthread_mutex_lock(&flock);
  for (int i = 0; i < nrules; i++) {
    rule *r = &rules[i];
    cJSON *j = cJSON_CreateObject(), *m = cJSON_CreateObject();
    if (r->method[0]) js_set_str(m, "method", r->method);
    if (r->path) js_set_str(m, "path", r->path);
    if (r->prefix) js_set_str(m, "path_prefix", r->prefix);
    if (r->suffix) js_set_str(m, "path_suffix", r->suffix);
    if (r->contains) js_set_str(m, "path_contains", r->contains);
    js_set(j, "match", m);
    js_set_str(j, "action", r->hit.action);
    js_set_num(j, "status", r->hit.status);
    js_set_num(j, "retry_after", r->hit.retry_after);
    js_set_num(j, "delay_ms", (double)r->hit.delay_ms);
    js_set_num(j, "size", (double)r->hit.size);
    js_set_bool(j, "apply", r->hit.apply);
    js_set_num(j, "count", r->count);
    cJSON_AddItemToArray(arr, j);
  }
  pthread_mutex_unlock(&flock);
  return arr;
}


/* ---- fail_application / fail_job (under g_lock) ---- */

void fail_rules_add (int is_app, const char *name, int count) {
  if (nfails >= MAX_RULES) return;
  fails[nfails].name = xstrdup(name);
  fails[nfails].count = count;
  fails[nfails].is_app = is_app;
  nfails++;
}


void fail_rules_clear (void) {
  for (int i = 0; i < nfails; i++) free(fails[i].name);
  nfails = 0;
}


static int fail_take (int is_app, const char *name) {
  for (int i = 0; name && i < nfails; i++) {
    fail_rule *f = &fails[i];
    if (f->is_app != is_app || strcmp(f->name, name) != 0) continue;
    if (f->count > 0 && --f->count == 0) {
      free(f->name);
      *f = fails[--nfails];
    }
    return 1;
  }
  return 0;
}


int fail_app_take (const char *name) {
  return fail_take(1, name);
}


int fail_job_take (const char *name) {
  return fail_take(0, name);
}
