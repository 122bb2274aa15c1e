/*
** projects.c: ListProjects, CreateProject, GetProject, UpdateProject, DeleteProject, and the
** routing of /projects/{id}/applications and /projects/{id}/jobs. Runs with g_lock held.
*/
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"


static void make_slug (const char *name, char *out, size_t n) {
  size_t j = 0;
  int dash = 0;
  for (const char *p = name; *p && j + 1 < n; p++) {
    unsigned char ch = (unsigned char)*p;
    if (isalnum(ch)) {
      if (dash && j > 0 && j + 2 < n) out[j++] = '-';
      out[j++] = (char)tolower(ch);
      dash = 0;
    } else {
      dash = 1;
    }
  }
  out[j] = '\0';
  if (!j) snprintf(out, n, "project");
}


static cJSON *find_by_name (const char *name, const cJSON *except) {
  cJSON *o;
  cJSON_ArrayForEach(o, st_list("projects")) {
    if (o != except && strcmp(js_str(o, "name"), name) == 0) return o;
  }
  return NULL;
}


static int check_engine (reply *rp, const char *engine) {
  if (engine && *engine && strcmp(engine, "ml_runtime") && strcmp(engine, "legacy_engine")) {
    reply_error(rp, 3, "invalid default engine type '%s': use ml_runtime or legacy_engine", engine);
    return -1;
  }
  return 0;
}


static int check_visibility (reply *rp, const char *v) {
  if (v && *v && strcmp(v, "private") && strcmp(v, "public") && strcmp(v, "organization")) {
    reply_error(rp, 3, "invalid visibility '%s': use private, public or organization", v);
    return -1;
  }
  return 0;
}


static void create_project (const request *rq, reply *rp) {
  cJSON *body = req_json(rq, rp);
  if (!body) return;
  const char *name = js_str(body, "name");
  const char *engine = js_str(body, "default_project_engine_type");
  const char *vis = js_str(body, "visibility");
  char *env = NULL;
  if (!name || !*name) {
    reply_error(rp, 3, "project name must be specified");
    goto done;
  }
  if (find_by_name(name, NULL)) {
    reply_error(rp, 6, "a project named '%s' already exists", name);
    goto done;
  }
  if (check_engine(rp, engine) || check_visibility(rp, vis)) goto done;
  if (!(env = env_to_string(cJSON_GetObjectItemCaseSensitive(body, "environment"), rp))) goto done;

  char id[20], ts[40], slug[256];
  new_id4(id);
  now_iso(ts);
  make_slug(name, slug, sizeof slug);
  cJSON *p = cJSON_CreateObject();
  js_set_str(p, "id", id);
  js_set_str(p, "name", name);
  js_set(p, "owner", js_short_user());
  js_set(p, "creator", js_short_user());
  js_set_str(p, "description", js_str(body, "description"));
  js_set_str(p, "visibility", vis && *vis ? vis : "private");
  js_set_str(p, "default_engine_type", engine && *engine ? engine : "ml_runtime");
  js_set_str(p, "created_at", ts);
  js_set_str(p, "updated_at", ts);
  long delay = cfg.delay[D_PROJECT_CREATE];
  js_set_str(p, "creation_status", delay > 0 ? "creating" : "success");
  cJSON *perm = cJSON_CreateObject();
  js_set_bool(perm, "read", 1);
  js_set_bool(perm, "write", 1);
  js_set_bool(perm, "admin", 1);
  js_set_bool(perm, "business_user", 0);
  js_set_bool(perm, "operator", 0);
  js_set_bool(perm, "inherit", 0);
  js_set(p, "permissions", perm);
  js_set_num(p, "shared_memory_limit", js_num(body, "shared_memory_limit", 64));
  js_set_str(p, "environment", env);
  js_set_num(p, "ephemeral_storage_request", 0);
  js_set_num(p, "ephemeral_storage_limit", 0);
  js_set_str(p, "slug", slug);
  if (delay > 0) js_set_num(p, "_next", now_ms() + (double)delay);
  char dir[4096];
  project_dir(id, dir, sizeof dir);
  cJSON_AddItemToArray(st_list("projects"), p);
  st_dirty();
  reply_json(rp, 200, js_public(p));
done:
  free(env);
  cJSON_Delete(body);
}


static void update_project (const request *rq, reply *rp, cJSON *p) {
  cJSON *body = req_json(rq, rp);
  if (!body) return;
  const char *name = js_str(body, "name");
  const char *engine = js_str(body, "default_engine_type");
  if (!engine) engine = js_str(body, "default_project_engine_type");
  const char *vis = js_str(body, "visibility");
  if (!vis) vis = js_str(body, "project_visibility");
  char *env = NULL;
  if (name && !*name) {
    reply_error(rp, 3, "project name must not be empty");
    goto done;
  }
  if (name && find_by_name(name, p)) {
    reply_error(rp, 6, "a project named '%s' already exists", name);
    goto done;
  }
  if (check_engine(rp, engine) || check_visibility(rp, vis)) goto done;
  if (js_has(body, "environment") &&
      !(env = env_to_string(cJSON_GetObjectItemCaseSensitive(body, "environment"), rp)))
    goto done;
  if (name) js_set_str(p, "name", name);
  if (js_str(body, "description")) js_set_str(p, "description", js_str(body, "description"));
  if (vis && *vis) js_set_str(p, "visibility", vis);
  if (engine && *engine) js_set_str(p, "default_engine_type", engine);
  static const char *const ints[] = { "shared_memory_limit", "ephemeral_storage_request",
                                      "ephemeral_storage_limit", NULL };
  for (int i = 0; ints[i]; i++)
    if (js_has(body, ints[i])) js_set_num(p, ints[i], js_num(body, ints[i], 0));
  if (env) js_set_str(p, "environment", env);
  char ts[40];
  now_iso(ts);
  js_set_str(p, "updated_at", ts);
  st_dirty();
  reply_json(rp, 200, js_public(p));
done:
  free(env);
  cJSON_Delete(body);
}


static void list_projects (const request *rq, reply *rp) {
  static const char *const fkeys[] = { "creator.email", "creator.name", "creator.username",
                                       "description", "name", "owner.email", "owner.name",
                                       "owner.username", NULL };
  static const char *const skeys[] = { "created_at", "creator.email", "creator.name",
                                       "creator.username", "description", "name", "owner.email",
                                       "owner.name", "owner.username", "updated_at", NULL };
  static const list_spec spec = { "projects", fkeys, skeys, NULL };
  list_reply_where(rq, rp, &spec, "projects", NULL, NULL, "projects");
}


void h_projects (const request *rq, reply *rp, char **seg, int nseg) {
  const char *m = rq->method;
  if (nseg == 1) {
    if (strcmp(m, "GET") == 0) list_projects(rq, rp);
    else if (strcmp(m, "POST") == 0) create_project(rq, rp);
    else reply_bad_method(rp);
    return;
  }
  cJSON *p = st_find("projects", seg[1]);
  if (!p) {
    reply_error(rp, 5, "project %s not found", seg[1]);
    return;
  }
  if (nseg == 2) {
    if (strcmp(m, "GET") == 0) {
      reply_json(rp, 200, js_public(p));
    } else if (strcmp(m, "PATCH") == 0) {
      update_project(rq, rp, p);
    } else if (strcmp(m, "DELETE") == 0) {
      char dir[4096];
      const char *id = js_str(p, "id");
      st_remove_where("applications", "_project_id", id);
      st_remove_where("runs", "project_id", id);
      st_remove_where("jobs", "_project_id", id);
      project_dir(id, dir, sizeof dir);
      rm_tree(dir);
      st_remove("projects", p);
      reply_json(rp, 200, cJSON_CreateObject());
    } else {
      reply_bad_method(rp);
    }
    return;
  }
  if (strcmp(seg[2], "applications") == 0) h_applications(rq, rp, p, seg + 3, nseg - 3);
  else if (strcmp(seg[2], "jobs") == 0) h_jobs(rq, rp, p, seg + 3, nseg - 3);
  else reply_error(rp, 5, "Not Found");
}
