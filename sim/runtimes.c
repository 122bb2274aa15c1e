/*
** runtimes.c: the ML Runtime catalog, ListRuntimes, and the checks that applications and jobs
** share (runtime, script, resources, quota, environment). Runs with g_lock held.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim.h"

#define IMAGE_REPO "docker.repository.cloudera.com/cloudera/cdsw/"
#define CURRENT "2025.09.1-b5"

static cJSON *catalog;


/* One runtime. pbj: a PBJ (Powered by Jupyter) runtime, whose image name carries "pbj-"
** (ml-runtime-pbj-jupyterlab-python3.11-cuda:2025.09.1-b5, as in FACTS §3.2). */
static void add_runtime (int pbj, const char *editor, const char *py, const char *edition,
                         const char *ver, const char *status) {
  char img[256], kernel[32], desc[128], ed_lower[32];
  int gpu = strcmp(edition, "Nvidia GPU") == 0;
  snprintf(ed_lower, sizeof ed_lower, "%s", strcmp(editor, "JupyterLab") == 0 ? "jupyterlab" : "workbench");
  snprintf(img, sizeof img, IMAGE_REPO "ml-runtime-%s%s-python%s-%s:%s", pbj ? "pbj-" : "", ed_lower,
           py, gpu ? "cuda" : "standard", ver);
  snprintf(kernel, sizeof kernel, "Python %s", py);
  snprintf(desc, sizeof desc, "%s edition Python runtime provided by Cloudera", edition);
  cJSON *r = cJSON_CreateObject();
  js_set_str(r, "image_identifier", img);
  js_set_str(r, "editor", editor);
  js_set_str(r, "kernel", kernel);
  js_set_str(r, "edition", edition);
  js_set_str(r, "description", desc);
  js_set_str(r, "full_version", ver);
  js_set_str(r, "status", status);
  js_set_num(r, "register_user_id", 1);
  cJSON_AddItemToArray(catalog, r);
}


/* The catalog --runtimes chose: "classic" (Workbench and JupyterLab), "pbj" (PBJ Workbench and
** PBJ JupyterLab only, as on the workspace the seed project ran on) or "default" (both, as
** current workspaces list them). Editions Standard and Nvidia GPU, Python 3.10 to 3.12. */
cJSON *runtime_catalog (void) {
  if (catalog) return catalog;
  catalog = cJSON_CreateArray();
  int classic = strcmp(cfg.runtimes ? cfg.runtimes : "default", "pbj") != 0;
  int pbj = strcmp(cfg.runtimes ? cfg.runtimes : "default", "classic") != 0;
  static const char *const pys[] = { "3.10", "3.11", "3.12" };
  static const char *const editors[] = { "Workbench", "JupyterLab" };
  static const char *const pbj_editors[] = { "PBJ Workbench", "JupyterLab" };
  static const char *const editions[] = { "Standard", "Nvidia GPU" };
  for (int p = 0; p < 3; p++)
    for (int e = 0; e < 2; e++)
      for (int d = 0; d < 2; d++) {
        if (classic) add_runtime(0, editors[e], pys[p], editions[d], CURRENT, "ENABLED");
        if (pbj) add_runtime(1, pbj_editors[e], pys[p], editions[d], CURRENT, "ENABLED");
      }
  if (classic) {
    /* a newer kernel than some Ray versions have wheels for (Ray 2.40: Python 3.9 to 3.12) */
    add_runtime(0, "Workbench", "3.13", "Standard", CURRENT, "ENABLED");
    add_runtime(0, "Workbench", "3.13", "Nvidia GPU", CURRENT, "ENABLED");
    add_runtime(0, "Workbench", "3.9", "Standard", "2024.02.1-b4", "DEPRECATED");
    add_runtime(0, "Workbench", "3.8", "Standard", "2023.08.2-b8", "DISABLED");
  }
  return catalog;
}


const cJSON *runtime_find (const char *image_identifier) {
  const cJSON *r;
  cJSON_ArrayForEach(r, runtime_catalog()) {
    if (image_identifier && strcmp(js_str(r, "image_identifier"), image_identifier) == 0) return r;
  }
  return NULL;
}


void h_runtimes (const request *rq, reply *rp) {
  static const char *const keys[] = { "image_identifier", "editor", "kernel", "edition",
                                      "description", "full_version", "status", NULL };
  static const list_spec spec = { "runtimes", keys, keys, NULL };
  if (strcmp(rq->method, "GET") != 0) {
    reply_error(rp, 7, "only site administrators can change runtimes");
    return;
  }
  cJSON *cat = runtime_catalog();
  int n = cJSON_GetArraySize(cat), i = 0;
  const cJSON **items = xmalloc(sizeof(cJSON *) * (size_t)n);
  const cJSON *r;
  cJSON_ArrayForEach(r, cat) items[i++] = r;
  list_reply(rq, rp, &spec, items, n, "runtimes");
  free(items);
}


int check_runtime (reply *rp, const cJSON *project, const char *runtime, const char *kernel) {
  const char *engine = js_str(project, "default_engine_type");
  if (engine && strcmp(engine, "legacy_engine") == 0) {
    if (runtime && *runtime) {
      reply_error(rp, 3, "runtime_identifier cannot be set in a legacy engine project");
      return -1;
    }
    if (kernel && *kernel && strcmp(kernel, "python3") && strcmp(kernel, "python2") &&
        strcmp(kernel, "r") && strcmp(kernel, "scala")) {
      reply_error(rp, 3, "invalid kernel '%s': use python3, python2, r or scala", kernel);
      return -1;
    }
    return 0;
  }
  if (!runtime || !*runtime) {
    reply_error(rp, 3, "runtime image must be specified");
    return -1;
  }
  const cJSON *r = runtime_find(runtime);
  if (!r) {
    reply_error(rp, 3, "runtime image '%s' is not available in this workspace", runtime);
    return -1;
  }
  const char *status = js_str(r, "status");
  if (strcmp(status, "ENABLED") != 0) {
    reply_error(rp, 9, "runtime image '%s' is %s", runtime, status);
    return -1;
  }
  return 0;
}


int check_script (reply *rp, const cJSON *project, const char *script) {
  if (!script || !*script) {
    reply_error(rp, 3, "script must be specified");
    return -1;
  }
  const char *rel = script;
  if (strncmp(rel, "/home/cdsw/", 11) == 0) rel += 11;
  while (*rel == '/') rel++;
  if (strstr(rel, "..")) {
    reply_error(rp, 3, "invalid script path '%s'", script);
    return -1;
  }
  char dir[4096], path[8192];
  project_dir(js_str(project, "id"), dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
    reply_error(rp, 3, "script '%s' does not exist in the project files", script);
    return -1;
  }
  return 0;
}


int check_resources (reply *rp, double cpu, double mem, double gpu) {
  if (cpu <= 0) {
    reply_error(rp, 3, "cpu must be greater than 0");
    return -1;
  }
  if (mem <= 0) {
    reply_error(rp, 3, "memory must be greater than 0");
    return -1;
  }
  if (gpu < 0) {
    reply_error(rp, 3, "nvidia_gpu must not be negative");
    return -1;
  }
  return 0;
}


int check_quota (reply *rp, double cpu, double mem, double gpu, const cJSON *exclude) {
  double used[3] = { 0, 0, 0 };
  const cJSON *o;
  cJSON_ArrayForEach(o, st_list("applications")) {
    if (o == exclude || !app_counts_for_quota(o)) continue;
    used[0] += js_num(o, "cpu", 0);
    used[1] += js_num(o, "memory", 0);
    used[2] += js_num(o, "nvidia_gpu", 0);
  }
  cJSON_ArrayForEach(o, st_list("runs")) {
    if (o == exclude || !run_is_active(o)) continue;
    used[0] += js_num(o, "cpu", 0);
    used[1] += js_num(o, "memory", 0);
    used[2] += js_num(o, "nvidia_gpu", 0);
  }
  static const char *const names[] = { "CPU", "Memory", "GPU" };
  double want[3] = { cpu, mem, gpu };
  for (int i = 0; i < 3; i++) {
    if (cfg.quota[i] > 0 && want[i] > 0 && used[i] + want[i] > cfg.quota[i] + 1e-9) {
      reply_error(rp, 8, "%s quota exceeded: requested %g, in use %g of %g", names[i], want[i],
                  used[i], cfg.quota[i]);
      return -1;
    }
  }
  return 0;
}


char *env_to_string (const cJSON *v, reply *rp) {
  cJSON *parsed = NULL;
  if (!v || cJSON_IsNull(v)) return xstrdup("{}");
  if (cJSON_IsString(v)) {
    if (!v->valuestring[0]) return xstrdup("{}");
    parsed = cJSON_Parse(v->valuestring);
    if (!cJSON_IsObject(parsed)) {
      cJSON_Delete(parsed);
      reply_error(rp, 3, "environment must be a JSON object of strings");
      return NULL;
    }
    v = parsed;
  }
  if (!cJSON_IsObject(v)) {
    reply_error(rp, 3, "environment must be a map of strings");
    return NULL;
  }
  const cJSON *e;
  cJSON_ArrayForEach(e, v) {
    if (!cJSON_IsString(e)) {
      reply_error(rp, 3, "environment value for '%s' must be a string", e->string);
      cJSON_Delete(parsed);
      return NULL;
    }
  }
  char *s = js_print(v, 0);
  cJSON_Delete(parsed);
  return s;
}


int workload_read_new (reply *rp, const cJSON *project, const cJSON *body, workload *w) {
  w->script = js_str(body, "script");
  w->runtime = js_str(body, "runtime_identifier");
  w->kernel = js_str(body, "kernel");
  w->cpu = js_num(body, "cpu", 1);
  w->mem = js_num(body, "memory", 1);
  w->gpu = js_num(body, "nvidia_gpu", 0);
  if (check_runtime(rp, project, w->runtime, w->kernel) || check_script(rp, project, w->script) ||
      check_resources(rp, w->cpu, w->mem, w->gpu))
    return -1;
  return 0;
}


int workload_read_update (reply *rp, const cJSON *project, const cJSON *body, const cJSON *obj,
                          workload *w) {
  w->script = js_str(body, "script");
  w->runtime = js_str(body, "runtime_identifier");
  w->kernel = js_str(body, "kernel");
  w->cpu = js_num(body, "cpu", js_num(obj, "cpu", 1));
  w->mem = js_num(body, "memory", js_num(obj, "memory", 1));
  w->gpu = js_num(body, "nvidia_gpu", js_num(obj, "nvidia_gpu", 0));
  const char *engine = js_str(project, "default_engine_type");
  int legacy = engine && strcmp(engine, "legacy_engine") == 0;
  if ((w->script && *w->script && check_script(rp, project, w->script)) ||
      (w->runtime && *w->runtime && check_runtime(rp, project, w->runtime, NULL)) ||
      (legacy && w->kernel && *w->kernel && check_runtime(rp, project, NULL, w->kernel)) ||
      check_resources(rp, w->cpu, w->mem, w->gpu))
    return -1;
  /* as on create: the kernel is a legacy engine's; a runtime project keeps it blank */
  if (!legacy || (w->kernel && !*w->kernel)) w->kernel = NULL;
  return 0;
}


cJSON *workload_create (const cJSON *project, const cJSON *body, const char *name,
                        const workload *w, const char *env) {
  char id[20], ts[40], label[32];
  new_id4(id);
  now_iso(ts);
  int legacy = strcmp(js_str(project, "default_engine_type"), "legacy_engine") == 0;
  cJSON *o = cJSON_CreateObject();
  js_set_str(o, "id", id);
  js_set_str(o, "name", name);
  js_set(o, "creator", js_short_user());
  js_set_str(o, "created_at", ts);
  js_set_str(o, "updated_at", ts);
  js_set_str(o, "script", w->script);
  js_set_str(o, "kernel", legacy ? (w->kernel && *w->kernel ? w->kernel : "python3") : "");
  js_set_num(o, "cpu", w->cpu);
  js_set_num(o, "memory", w->mem);
  js_set_num(o, "nvidia_gpu", w->gpu);
  js_set_str(o, "runtime_identifier", w->runtime ? w->runtime : "");
  js_set_str(o, "environment", env);
  js_set_num(o, "run_as", js_num(body, "run_as", 0));
  snprintf(label, sizeof label, "%.0f", js_num(body, "accelerator_label_id", 0));
  js_set_str(o, "accelerator_label_id", label);
  js_set_num(o, "resource_group_id", js_num(body, "resource_group_id", 0));
  js_set_num(o, "resource_profile_id", js_num(body, "resource_profile_id", 0));
  js_set_str(o, "_project_id", js_str(project, "id"));
  return o;
}


void workload_update (reply *rp, cJSON *obj, const char *name, const workload *w, const char *env) {
  if (name) js_set_str(obj, "name", name);
  if (w->script && *w->script) js_set_str(obj, "script", w->script);
  if (w->runtime && *w->runtime) js_set_str(obj, "runtime_identifier", w->runtime);
  if (w->kernel) js_set_str(obj, "kernel", w->kernel);
  js_set_num(obj, "cpu", w->cpu);
  js_set_num(obj, "memory", w->mem);
  js_set_num(obj, "nvidia_gpu", w->gpu);
  if (env) js_set_str(obj, "environment", env);
  char ts[40];
  now_iso(ts);
  js_set_str(obj, "updated_at", ts);
  st_dirty();
  reply_json(rp, 200, js_public(obj));
}
