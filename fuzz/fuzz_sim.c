/*
** fuzz_sim.c: libFuzzer target for cml-sim's request handling (sim/), without a socket.
** An input is a short session of HTTP-like requests separated by a line "~~~":
**
**   POST /api/v2/projects?x=1
**   Content-Type: application/json
**
**   {"name": "p"}
**   ~~~
**   GET /api/v2/projects/{project}/applications?search_filter={"name":"a"}&sort=-name
**
** The request line's target and the query values are percent-decoded like libmicrohttpd does;
** {project}, {app}, {job} and {run} stand for the id of the first such object in the store,
** so a session can create an object and then use it. Requests go to api_dispatch (with the
** store lock held, as server.c calls it, auth already passed) or control_dispatch (/_sim/,
** except shutdown). Each input starts from an empty store in a fresh work folder.
** Oracles, besides ASan/UBSan: every reply has a status 200..599 and a body, and a JSON reply
** is valid JSON. FUZZ_SIM_VERBOSE=1 prints each request's status and reply.
*/
#define _GNU_SOURCE  /* memmem */
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim.h"

#define MAX_REQUESTS 16
#define MAX_PAIRS 32

typedef struct {
  char *key, *value;
} pair;

/* The request being handled: what the wrapped libmicrohttpd lookup answers from. */
static pair args[MAX_PAIRS], headers[MAX_PAIRS];
static int nargs, nheaders;
static sim_config initial;

const char *__wrap_MHD_lookup_connection_value (struct MHD_Connection *c, enum MHD_ValueKind kind,
                                                const char *key);


/* Stands in for libmicrohttpd's lookup: query arguments and headers of the fuzz request. */
const char *__wrap_MHD_lookup_connection_value (struct MHD_Connection *c, enum MHD_ValueKind kind,
                                                const char *key) {
  (void)c;
  if (key == NULL)
    return NULL;
  if (kind == MHD_GET_ARGUMENT_KIND) {
    for (int i = 0; i < nargs; i++)
      if (strcmp(args[i].key, key) == 0)
        return args[i].value;
  }
  else if (kind == MHD_HEADER_KIND) {
    for (int i = 0; i < nheaders; i++)
      if (strcasecmp(headers[i].key, key) == 0)
        return headers[i].value;
  }
  return NULL;
}


static int hexval (char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}


/* Percent-decode s in place ('+' too, for query values, as libmicrohttpd does). */
static void unescape (char *s, int plus) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
      *w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
      r += 2;
    }
    else
      *w++ = plus && *r == '+' ? ' ' : *r;
  }
  *w = '\0';
}


static void free_pairs (void) {
  for (int i = 0; i < nargs; i++) free(args[i].key);
  for (int i = 0; i < nheaders; i++) free(headers[i].key);
  nargs = nheaders = 0;
}


/* Split "k=v&k2=v2" into args (keys and values decoded). */
static void parse_query (const char *q) {
  char *copy = xstrdup(q), *save = NULL;
  for (char *t = strtok_r(copy, "&", &save); t && nargs < MAX_PAIRS; t = strtok_r(NULL, "&", &save)) {
    char *kv = xstrdup(t);
    char *eq = strchr(kv, '=');
    if (eq) *eq = '\0';
    args[nargs].key = kv;
    args[nargs].value = eq ? eq + 1 : kv + strlen(kv);
    unescape(args[nargs].key, 1);
    unescape(args[nargs].value, 1);
    nargs++;
  }
  free(copy);
}


/* The id of the first object of kind, or "none". */
static const char *first_id (const char *kind) {
  const cJSON *o = cJSON_GetArrayItem(st_list(kind), 0);
  const char *id = o ? js_str(o, "id") : NULL;
  return id ? id : "none";
}


/* text with {project}, {app}, {job}, {run} replaced; malloc'd, *len set. */
static char *substitute (const char *text, size_t n, size_t *len) {
  static const char *const names[][2] = {
    { "{project}", "projects" }, { "{app}", "applications" }, { "{job}", "jobs" }, { "{run}", "runs" },
  };
  sbuf b = {0};
  size_t i = 0;
  while (i < n) {
    int hit = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0] && !hit; k++) {
      size_t m = strlen(names[k][0]);
      if (n - i >= m && memcmp(text + i, names[k][0], m) == 0) {
        sb_puts(&b, first_id(names[k][1]));
        i += m;
        hit = 1;
      }
    }
    if (!hit)
      sb_add(&b, text + i++, 1);
  }
  *len = b.n;
  if (b.p == NULL)
    return xstrdup("");
  return sb_take(&b);
}


/* Check the reply's shape; abort() on a broken one. */
static void check_reply (const char *method, const char *path, const reply *rp) {
  static int verbose = -1;
  if (verbose < 0)
    verbose = getenv("FUZZ_SIM_VERBOSE") != NULL;
  if (verbose)  /* to see what a seed does: FUZZ_SIM_VERBOSE=1 fuzz_sim seed */
    fprintf(stderr, "%s %s -> %d %.200s\n", method, path, rp->status, rp->body ? rp->body : "(none)");
  if (rp->body == NULL)
    return;  /* server.c turns this into a 500 "no reply" */
  if (rp->status < 200 || rp->status > 599) {
    fprintf(stderr, "fuzz_sim: %s %s: status %d\n", method, path, rp->status);
    abort();
  }
  if (rp->ctype == NULL || strncmp(rp->ctype, "application/json", 16) == 0) {
    cJSON *j = cJSON_ParseWithLength(rp->body, rp->len);
    if (j == NULL) {
      fprintf(stderr, "fuzz_sim: %s %s: JSON reply does not parse: %.*s\n", method, path,
              (int)(rp->len > 400 ? 400 : rp->len), rp->body);
      abort();
    }
    cJSON_Delete(j);
  }
}


/* Handle one request chunk: "METHOD target\nHeader: v\n\nbody". */
static void one_request (const char *chunk, size_t n) {
  size_t len;
  char *text = substitute(chunk, n, &len);
  char *eol = memchr(text, '\n', len);
  char *line_end = eol ? eol : text + len;
  const char *body = "";
  size_t body_len = 0;
  char *sp;

  *line_end = '\0';
  sp = strchr(text, ' ');
  if (sp == NULL || sp == text) {
    free(text);
    return;
  }
  *sp = '\0';
  char *method = text, *target = sp + 1;
  if (eol != NULL) {   /* headers until an empty line, then the body */
    char *h = eol + 1, *end = text + len;
    while (h < end) {
      char *nl = memchr(h, '\n', (size_t)(end - h));
      char *he = nl ? nl : end;
      if (he == h) {
        body = nl ? nl + 1 : end;
        body_len = (size_t)(end - body);
        break;
      }
      *he = '\0';
      char *colon = strchr(h, ':');
      if (colon && nheaders < MAX_PAIRS) {
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ') v++;
        /* key and value share one allocation: "key\0value" */
        size_t kl = strlen(h), vl = strlen(v);
        headers[nheaders].key = xmalloc(kl + vl + 2);
        memcpy(headers[nheaders].key, h, kl + 1);
        memcpy(headers[nheaders].key + kl + 1, v, vl + 1);
        headers[nheaders].value = headers[nheaders].key + kl + 1;
        nheaders++;
      }
      if (nl == NULL) break;
      h = nl + 1;
    }
  }
  char *q = strchr(target, '?');
  if (q) {
    *q = '\0';
    parse_query(q + 1);
  }
  unescape(target, 0);

  request rq;
  reply rp = { 0, NULL, 0, NULL, -1 };
  rq.method = method;
  rq.path = target;
  rq.conn = NULL;
  rq.body = body;
  rq.body_len = body_len;
  rq.content_type = __wrap_MHD_lookup_connection_value(NULL, MHD_HEADER_KIND, "Content-Type");

  if (strncmp(target, "/api/v2/", 8) == 0 || strcmp(target, "/api/v2") == 0) {
    fault_hit f;
    fault_take(method, target, &f);
    pthread_mutex_lock(&g_lock);
    api_dispatch(&rq, &rp);
    st_save_if_dirty();
    pthread_mutex_unlock(&g_lock);
    reqlog_add(method, target, q ? q + 1 : "", rp.status, body, body_len,
               __wrap_MHD_lookup_connection_value(NULL, MHD_HEADER_KIND, "Authorization"));
  }
  else if (strncmp(target, "/_sim/", 6) == 0 && strcmp(target, "/_sim/shutdown") != 0)
    control_dispatch(&rq, &rp);
  check_reply(method, target, &rp);
  free(rp.body);
  free_pairs();
  free(text);
}


/* Reset what the control API may have changed in a previous input. */
static void reset (void) {
  request rq = { "DELETE", "/_sim/requests", NULL, "", 0, NULL };
  reply rp = { 0, NULL, 0, NULL, -1 };
  control_dispatch(&rq, &rp);
  free(rp.body);
  faults_clear();
  fail_rules_clear();
  memcpy(cfg.delay, initial.delay, sizeof cfg.delay);
  memcpy(cfg.quota, initial.quota, sizeof cfg.quota);
}


/* Empty the store and the project folders for the next input (the work folder stays). */
static void empty_store (void) {
  static const char *const kinds[] = { "projects", "applications", "jobs", "runs" };
  char dir[4096];
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    cJSON_ReplaceItemInObjectCaseSensitive(st_root(), kinds[i], cJSON_CreateArray());
  snprintf(dir, sizeof dir, "%s/projects", cfg.work_dir);
  if (rmdir(dir) != 0 && rm_tree(dir) != 0)
    abort();
  if (mkdir(dir, 0755) != 0)
    abort();
}


/* Once: the configuration cml-sim's main() would set up, and a temporary work folder. */
static void init (void) {
  cfg.api_key = xstrdup("fuzz-key");
  cfg.domain = xstrdup("ml-sim.example.com");
  cfg.python = xstrdup("python3");
  cfg.username = xstrdup("simuser");
  snprintf(cfg.base_url, sizeof cfg.base_url, "http://127.0.0.1:1");
  initial = cfg;
  if (st_init() != 0)
    abort();
  atexit(st_cleanup);  /* removes the work folder */
}


int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  static const char SEP[] = "\n~~~\n";
  const char *p = (const char *)data, *end = p + size;
  if (cfg.api_key == NULL)
    init();
  for (int n = 0; n < MAX_REQUESTS && p < end; n++) {
    const char *sep = memmem(p, (size_t)(end - p), SEP, sizeof SEP - 1);
    const char *stop = sep ? sep : end;
    one_request(p, (size_t)(stop - p));
    p = sep ? sep + sizeof SEP - 1 : end;
  }
  empty_store();
  reset();
  return 0;
}
