/*
** routes.c: splits /api/v2 paths and hands them to the resource handlers; auth/validate_key.
** Runs with g_lock held.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define MAX_SEG 16


void h_validate_key (const request *rq, reply *rp) {
  if (strcmp(rq->method, "POST") != 0) {
    reply_bad_method(rp);
    return;
  }
  cJSON *body = req_json(rq, rp);
  if (!body) return;
  const char *aud = js_str(body, "audience");
  if (aud && *aud && strcmp(aud, "API") != 0) {
    if (strcmp(aud, "Application") == 0) reply_error(rp, 7, "audience mismatch");
    else reply_error(rp, 3, "invalid audience '%s': use API or Application", aud);
    cJSON_Delete(body);
    return;
  }
  cJSON_Delete(body);
  cJSON *r = cJSON_CreateObject();
  js_set_bool(r, "valid", 1);
  js_set_str(r, "username", cfg.username);
  js_set_str(r, "message", "API key is valid for the given audience");
  reply_json(rp, 200, r);
}


/* /projects/{id}/files[/...]: the rest (may be empty, may hold '//') goes to h_files whole. */
static int try_files (const request *rq, reply *rp, const char *rest) {
  if (strncmp(rest, "projects/", 9) != 0) return 0;
  const char *id = rest + 9;
  const char *slash = strchr(id, '/');
  if (!slash || strncmp(slash, "/files", 6) != 0 || (slash[6] != '\0' && slash[6] != '/'))
    return 0;
  char pid[64];
  size_t n = (size_t)(slash - id);
  if (n >= sizeof pid) n = sizeof pid - 1;
  memcpy(pid, id, n);
  pid[n] = '\0';
  cJSON *project = st_find("projects", pid);
  if (!project) {
    reply_error(rp, 5, "project %s not found", pid);
    return 1;
  }
  const char *rel = slash[6] == '/' ? slash + 7 : "";
  char *copy = xstrdup(rel);
  const char *verb = "";
  size_t len = strlen(copy);
  static const char dl[] = ":download";
  if (len >= sizeof dl - 1 && strcmp(copy + len - (sizeof dl - 1), dl) == 0) {
    copy[len - (sizeof dl - 1)] = '\0';
    verb = "download";
  }
  h_files(rq, rp, project, copy, verb);
  free(copy);
  return 1;
}


void api_dispatch (const request *rq, reply *rp) {
  const char *rest = rq->path + 7;            /* after "/api/v2" */
  while (*rest == '/') rest++;
  if (try_files(rq, rp, rest)) return;

  char *copy = xstrdup(rest);
  char *seg[MAX_SEG];
  int nseg = 0;
  char *save = NULL;
  for (char *t = strtok_r(copy, "/", &save); t && nseg < MAX_SEG; t = strtok_r(NULL, "/", &save))
    seg[nseg++] = t;

  if (nseg == 2 && strcmp(seg[0], "auth") == 0 && strcmp(seg[1], "validate_key") == 0)
    h_validate_key(rq, rp);
  else if (nseg == 1 && strcmp(seg[0], "runtimes") == 0)
    h_runtimes(rq, rp);
  else if (nseg == 1 && strcmp(seg[0], "jobs") == 0)
    h_all_jobs(rq, rp);
  else if (nseg >= 1 && strcmp(seg[0], "projects") == 0)
    h_projects(rq, rp, seg, nseg);
  else
    reply_error(rp, 5, "Not Found");
  free(copy);
}
