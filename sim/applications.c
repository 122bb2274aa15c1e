/*
** applications.c: List/Create/Get/Update/Delete Application, :stop and :restart.
** Runs with g_lock held. States move in lifecycle.c.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"


static const char *app_status_word (const char *w) {
  static const char *const map[][2] = {
    { "starting", "APPLICATION_STARTING" }, { "running", "APPLICATION_RUNNING" },
    { "stopping", "APPLICATION_STOPPING" }, { "stopped", "APPLICATION_STOPPED" },
    { "failed", "APPLICATION_FAILED" }, { "unknown", "APPLICATION_UNKNOWN" },
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(w, map[i][0]) == 0 || strcmp(w, map[i][1]) == 0) return map[i][1];
  return NULL;
}


static int subdomain_valid (const char *s) {
  if (!s || !*s || *s == '-') return 0;
  for (const char *p = s; *p; p++) {
    int ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';
    if (!ok) return 0;
    if (*p == '-' && (p[1] == '-' || p[1] == '\0')) return 0;
  }
  return 1;
}


static int check_subdomain (reply *rp, const char *sub, const cJSON *self) {
  if (!subdomain_valid(sub)) {
    reply_error(rp, 3, "Problem with field Subdomain: invalid pattern");
    return -1;
  }
  const cJSON *o;
  cJSON_ArrayForEach(o, st_list("applications")) {
    if (o != self && strcmp(js_str(o, "subdomain"), sub) == 0) {
      reply_error(rp, 6, "subdomain '%s' is already in use", sub);
      return -1;
    }
  }
  return 0;
}


/* A deleted application lingers (APPLICATION_STOPPING) until its pod is gone, its name still
** taken in its project. (inferred: the observation of real workspaces; FACTS record no
** name rule, so only a deleted application's name is refused, never a live one's.) */
static int check_name_free (reply *rp, const cJSON *project, const char *name) {
  const cJSON *o;
  cJSON_ArrayForEach(o, st_list("applications")) {
    if (js_bool(o, "_deleted", 0) && strcmp(js_str(o, "_project_id"), js_str(project, "id")) == 0 &&
        strcmp(js_str(o, "name"), name) == 0) {
      reply_error(rp, 6, "application name '%s' is still in use by an application being deleted", name);
      return -1;
    }
  }
  return 0;
}


static void copy_opt_str (cJSON *dst, const cJSON *src, const char *k, const char *dflt) {
  const char *v = js_str(src, k);
  if (v || dflt) js_set_str(dst, k, v ? v : dflt);
}


static void create_app (const request *rq, reply *rp, cJSON *project) {
  cJSON *body = req_json(rq, rp);
  if (!body) return;
  char *env = NULL;
  const char *name = js_str(body, "name");
  const char *sub = js_str(body, "subdomain");
  workload w;
  if (!name || !*name) {
    reply_error(rp, 3, "application name must be specified");
    goto done;
  }
  if (check_name_free(rp, project, name) || check_subdomain(rp, sub, NULL) ||
      workload_read_new(rp, project, body, &w))
    goto done;
  if (!(env = env_to_string(cJSON_GetObjectItemCaseSensitive(body, "environment"), rp))) goto done;
  if (check_quota(rp, w.cpu, w.mem, w.gpu, NULL)) goto done;

  cJSON *a = workload_create(project, body, name, &w, env);
  copy_opt_str(a, body, "description", "");
  js_set_str(a, "subdomain", sub);
  js_set_str(a, "status", "APPLICATION_STARTING");
  js_set_bool(a, "bypass_authentication", js_bool(body, "bypass_authentication", 0));
  js_set(a, "runtime_addon_identifiers",
         js_string_array(cJSON_GetObjectItemCaseSensitive(body, "runtime_addon_identifiers")));
  js_set_bool(a, "cdv_app", js_bool(body, "cdv_app", 0));
  cJSON_AddItemToArray(st_list("applications"), a);
  app_begin_start(a);
  st_dirty();
  reply_json(rp, 200, js_public(a));
done:
  free(env);
  cJSON_Delete(body);
}


static void update_app (const request *rq, reply *rp, cJSON *project, cJSON *a) {
  cJSON *body = req_json(rq, rp);
  if (!body) return;
  char *env = NULL;
  const char *name = js_str(body, "name");
  const char *sub = js_str(body, "subdomain");
  workload w;
  if (name && !*name) {
    reply_error(rp, 3, "application name must not be empty");
    goto done;
  }
  if ((sub && *sub && strcmp(sub, js_str(a, "subdomain")) != 0 && check_subdomain(rp, sub, a)) ||
      workload_read_update(rp, project, body, a, &w))
    goto done;
  if (js_has(body, "environment") &&
      !(env = env_to_string(cJSON_GetObjectItemCaseSensitive(body, "environment"), rp)))
    goto done;
  if (sub && *sub) js_set_str(a, "subdomain", sub);
  if (js_str(body, "description")) js_set_str(a, "description", js_str(body, "description"));
  if (js_has(body, "bypass_authentication"))
    js_set_bool(a, "bypass_authentication", js_bool(body, "bypass_authentication", 0));
  if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(body, "runtime_addon_identifiers")))
    js_set(a, "runtime_addon_identifiers",
           js_string_array(cJSON_GetObjectItemCaseSensitive(body, "runtime_addon_identifiers")));
  workload_update(rp, a, name, &w, env);
done:
  free(env);
  cJSON_Delete(body);
}


static void list_apps (const request *rq, reply *rp, cJSON *project) {
  static const char *const fkeys[] = { "bypass_authentication", "creator.email", "creator.name",
                                       "creator.username", "description", "kernel", "name",
                                       "script", "status", "subdomain", "runtime_identifier",
                                       NULL };
  static const char *const skeys[] = { "created_at", "creator.email", "creator.name",
                                       "creator.username", "description", "kernel", "name",
                                       "script", "status", "subdomain", "updated_at",
                                       "runtime_identifier", NULL };
  static const list_spec spec = { "applications", fkeys, skeys, app_status_word };
  list_reply_where(rq, rp, &spec, "applications", "_project_id", js_str(project, "id"),
                   "applications");
}


void h_applications (const request *rq, reply *rp, cJSON *project, char **seg, int nseg) {
  const char *m = rq->method;
  if (nseg == 0) {
    if (strcmp(m, "GET") == 0) list_apps(rq, rp, project);
    else if (strcmp(m, "POST") == 0) create_app(rq, rp, project);
    else reply_bad_method(rp);
    return;
  }
  if (nseg != 1) {
    reply_error(rp, 5, "Not Found");
    return;
  }
  char *verb = strchr(seg[0], ':');
  if (verb) *verb++ = '\0';
  cJSON *a = st_find_in("applications", js_str(project, "id"), seg[0]);
  if (!a) {
    reply_error(rp, 5, "application %s not found in project %s", seg[0], js_str(project, "id"));
    return;
  }
  if (js_bool(a, "_deleted", 0) && strcmp(m, "GET") != 0) {
    if (strcmp(m, "DELETE") == 0) reply_json(rp, 200, cJSON_CreateObject());   /* already going */
    else reply_error(rp, 9, "application %s is being deleted", js_str(a, "id"));
    return;
  }
  if (verb) {
    if (strcmp(m, "POST") != 0) {
      reply_bad_method(rp);
    } else if (strcmp(verb, "stop") == 0) {
      app_begin_stop(a);
      st_dirty();
      reply_json(rp, 200, js_public(a));
    } else if (strcmp(verb, "restart") == 0) {
      if (!app_counts_for_quota(a) &&
          check_quota(rp, js_num(a, "cpu", 0), js_num(a, "memory", 0), js_num(a, "nvidia_gpu", 0), a))
        return;
      app_begin_start(a);
      st_dirty();
      reply_json(rp, 200, js_public(a));
    } else {
      reply_error(rp, 5, "Not Found");
    }
    return;
  }
  if (strcmp(m, "GET") == 0) {
    reply_json(rp, 200, js_public(a));
  } else if (strcmp(m, "PATCH") == 0) {
    update_app(rq, rp, project, a);
  } else if (strcmp(m, "DELETE") == 0) {
    if (cfg.delay[D_APP_STOP] > 0 && (app_counts_for_quota(a))) {
      /* a live application's pod stops first: listed APPLICATION_STOPPING for app_stop ms,
      ** subdomain and name taken, then gone (lifecycle.c removes it) */
      js_set_bool(a, "_deleted", 1);
      app_begin_stop(a);
      st_dirty();
    } else {
      end_process(a);
      st_remove("applications", a);
    }
    reply_json(rp, 200, cJSON_CreateObject());
  } else {
    reply_bad_method(rp);
  }
}
