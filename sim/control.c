/*
** control.c: the control API under /_sim/ (JSON, no auth, never logged) and the request log.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim.h"

#define MAX_LOG 10000
#define MAX_LOGGED_BODY 4096

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static cJSON *req_log;
static long req_seq;


/* Request bodies may be binary (uploads): keep valid UTF-8, replace the rest with '?'. */
static char *printable (const char *s, size_t n) {
  sbuf b = {0};
  size_t i = 0;
  if (n > MAX_LOGGED_BODY) n = MAX_LOGGED_BODY;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    int ok = len > 0 && i + len <= n && c != 0;
    for (size_t k = 1; ok && k < len; k++) ok = ((unsigned char)s[i + k] >> 6) == 2;
    if (ok) {
      sb_add(&b, s + i, len);
      i += len;
    } else {
      sb_add(&b, "?", 1);
      i++;
    }
  }
  return sb_take(&b);
}


void reqlog_add (const char *method, const char *raw_path, const char *raw_query, int status,
                 const char *body, size_t body_len, const char *authorization) {
  cJSON *e = cJSON_CreateObject();
  char *text = printable(body ? body : "", body ? body_len : 0);
  js_set_str(e, "method", method);
  js_set_str(e, "path", raw_path);
  js_set_str(e, "query", raw_query);
  js_set_num(e, "status", status);
  js_set_num(e, "at_ms", now_ms());
  js_set_str(e, "body", text);
  js_set_bool(e, "body_truncated", body_len > MAX_LOGGED_BODY);
  if (!authorization) js_set(e, "authorization", cJSON_CreateNull());
  else if (strncasecmp(authorization, "Bearer ", 7) == 0) js_set_str(e, "authorization", "Bearer ***");
  else js_set_str(e, "authorization", "***");
  free(text);
  pthread_mutex_lock(&log_lock);
  if (!req_log) req_log = cJSON_CreateArray();
  js_set_num(e, "seq", (double)++req_seq);
  cJSON_AddItemToArray(req_log, e);
  if (cJSON_GetArraySize(req_log) > MAX_LOG) cJSON_DeleteItemFromArray(req_log, 0);
  pthread_mutex_unlock(&log_lock);
}


static void requests_reply (const request *rq, reply *rp) {
  pthread_mutex_lock(&log_lock);
  if (strcmp(rq->method, "DELETE") == 0) {
    cJSON_Delete(req_log);
    req_log = NULL;
    pthread_mutex_unlock(&log_lock);
    reply_json(rp, 200, cJSON_CreateObject());
    return;
  }
  cJSON *copy = req_log ? cJSON_Duplicate(req_log, 1) : cJSON_CreateArray();
  pthread_mutex_unlock(&log_lock);
  reply_json(rp, 200, copy);
}


static cJSON *delays_json (void) {
  cJSON *d = cJSON_CreateObject();
  for (int i = 0; i < D_COUNT; i++) js_set_num(d, delay_name(i), (double)cfg.delay[i]);
  return d;
}


static void set_delays (const cJSON *body, reply *rp) {
  const cJSON *e;
  cJSON_ArrayForEach(e, body) {
    int id = delay_lookup(e->string);
    if (id < 0 || !cJSON_IsNumber(e) || e->valuedouble < 0) {
      reply_error(rp, 3, "unknown delay '%s' or not a number of milliseconds >= 0", e->string);
      return;
    }
  }
  cJSON_ArrayForEach(e, body) cfg.delay[delay_lookup(e->string)] = js_to_long(e->valuedouble);
  reply_json(rp, 200, delays_json());
}


/* POST /_sim/quota or /_sim/capacity: set, then reply with the new values. */
static void set_resources (const cJSON *body, double r[3], const char *what, reply *rp) {
  if (resources_set(body, r, what, rp) == 0) reply_json(rp, 200, resources_json(r));
}


static void fail_rule (const cJSON *body, reply *rp, int is_app) {
  const char *name = js_str(body, "name");
  if (!name || !*name) {
    reply_error(rp, 3, "name must be specified");
    return;
  }
  int count = js_to_int(js_num(body, "count", 1));
  if (count == 0 || count < -1) {
    reply_error(rp, 3, "count must be positive, or -1 for always");
    return;
  }
  if (is_app) {
    cJSON *a;
    cJSON_ArrayForEach(a, st_list("applications")) {
      const char *st = js_str(a, "status");
      if (count == 0 || strcmp(js_str(a, "name"), name) != 0) continue;
      if (strcmp(st, "APPLICATION_STARTING") && strcmp(st, "APPLICATION_RUNNING")) continue;
      app_fail_now(a);
      if (count > 0) count--;
    }
  }
  if (count != 0) fail_rules_add(is_app, name, count);
  reply_json(rp, 200, cJSON_CreateObject());
}


static void state_reply (reply *rp) {
  cJSON *s = cJSON_Duplicate(st_root(), 1);
  js_set(s, "faults", faults_json());
  js_set(s, "delays", delays_json());
  js_set(s, "quota", resources_json(cfg.quota));
  js_set(s, "capacity", resources_json(cfg.capacity));
  js_set_str(s, "runtimes", cfg.runtimes);
  js_set_str(s, "base_url", cfg.base_url);
  js_set_str(s, "work_dir", cfg.work_dir);
  js_set_bool(s, "exec", cfg.exec);
  reply_json(rp, 200, s);
}


static void logs_reply (const char *rest, reply *rp) {
  char kind[32] = "", id[128] = "";
  const char *slash = strchr(rest, '/');
  if (!slash || (size_t)(slash - rest) >= sizeof kind || strlen(slash + 1) >= sizeof id ||
      strchr(slash + 1, '/') || strstr(slash + 1, "..")) {
    reply_error(rp, 5, "use /_sim/logs/<applications|runs>/<id>");
    return;
  }
  memcpy(kind, rest, (size_t)(slash - rest));
  snprintf(id, sizeof id, "%s", slash + 1);
  const char *k = NULL;
  if (!strcmp(kind, "application") || !strcmp(kind, "applications")) k = "application";
  if (!strcmp(kind, "run") || !strcmp(kind, "runs") || !strcmp(kind, "job_run") ||
      !strcmp(kind, "job_runs"))
    k = "run";
  char path[4096];
  size_t len = 0;
  char *text = k && ex_log_path(k, id, path, sizeof path) == 0 ? read_whole_file(path, &len) : NULL;
  if (!text) {
    reply_error(rp, 5, "no log for %s %s", kind, id);
    return;
  }
  reply_text(rp, 200, "text/plain; charset=utf-8", text, len);
  free(text);
}


void control_dispatch (const request *rq, reply *rp) {
  const char *what = rq->path + 6;          /* after "/_sim/" */
  const char *m = rq->method;
  int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;

  if (strcmp(what, "requests") == 0 && (get || del)) {
    requests_reply(rq, rp);
    return;
  }
  if (strncmp(what, "logs/", 5) == 0 && get) {
    logs_reply(what + 5, rp);
    return;
  }
  if (strcmp(what, "faults") == 0 && del) {
    faults_clear();
    reply_json(rp, 200, cJSON_CreateObject());
    return;
  }
  if (strcmp(what, "faults") == 0 && get) {
    reply_json(rp, 200, faults_json());
    return;
  }
  if (strcmp(what, "shutdown") == 0 && post) {
    reply_json(rp, 200, cJSON_CreateObject());
    request_shutdown();
    return;
  }

  cJSON *body = NULL;
  if (post) {
    size_t n = rq->body_len;
    body = n ? cJSON_ParseWithLength(rq->body, n) : cJSON_CreateObject();
    if (!body) {
      reply_error(rp, 3, "invalid JSON body");
      return;
    }
  }
  pthread_mutex_lock(&g_lock);
  if (strcmp(what, "faults") == 0 && post) {
    const char *err = NULL;
    if (faults_set(body, &err) != 0) reply_error(rp, 3, "%s", err);
    else reply_json(rp, 200, faults_json());
  } else if (strcmp(what, "state") == 0 && get) {
    state_reply(rp);
  } else if (strcmp(what, "delays") == 0 && (get || post)) {
    if (post && cJSON_IsObject(body)) set_delays(body, rp);
    else if (post) reply_error(rp, 3, "expected an object of delays in milliseconds");
    else reply_json(rp, 200, delays_json());
  } else if ((strcmp(what, "quota") == 0 || strcmp(what, "capacity") == 0) && (get || post)) {
    double *r = what[0] == 'q' ? cfg.quota : cfg.capacity;
    if (post && cJSON_IsObject(body)) set_resources(body, r, what, rp);
    else if (post) reply_error(rp, 3, "expected {\"cpu\": N, \"memory\": N, \"gpu\": N}");
    else reply_json(rp, 200, resources_json(r));
  } else if ((strcmp(what, "fail_application") == 0 || strcmp(what, "fail_job") == 0) &&
             (post || del)) {
    if (del) {
      fail_rules_clear();
      reply_json(rp, 200, cJSON_CreateObject());
    } else {
      fail_rule(body, rp, what[5] == 'a');
    }
  } else {
    reply_error(rp, 5, "no control route %s %s", m, rq->path);
  }
  st_save_if_dirty();
  pthread_mutex_unlock(&g_lock);
  cJSON_Delete(body);
}
