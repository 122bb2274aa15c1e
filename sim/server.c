/*
** server.c: libmicrohttpd glue: one thread per connection, request bodies, bearer auth,
** error replies, fault actions on the way out, the request log, and the control API hook.
*/
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

#define MAX_BODY (512u * 1024u * 1024u)

static struct MHD_Daemon *daemon_;

typedef struct {
  char *raw_uri;
  sbuf body;
  int started;
  int too_big;
} conn_ctx;


/* ---- errors ---- */

int grpc_http_status (int grpc) {
  switch (grpc) {
    case 0: return 200;
    case 3: return 400;   /* INVALID_ARGUMENT */
    case 4: return 504;   /* DEADLINE_EXCEEDED */
    case 5: return 404;   /* NOT_FOUND */
    case 6: return 409;   /* ALREADY_EXISTS */
    case 7: return 403;   /* PERMISSION_DENIED */
    case 8: return 429;   /* RESOURCE_EXHAUSTED */
    case 9: return 400;   /* FAILED_PRECONDITION */
    case 12: return 501;  /* UNIMPLEMENTED */
    case 13: return 500;  /* INTERNAL */
    case 14: return 503;  /* UNAVAILABLE */
    case 16: return 401;  /* UNAUTHENTICATED */
    default: return 500;
  }
}


int http_grpc_code (int http) {
  switch (http) {
    case 400: return 3;
    case 401: return 16;
    case 403: return 7;
    case 404: return 5;
    case 405: return 12;
    case 409: return 6;
    case 429: return 8;
    case 500: return 13;
    case 501: return 12;
    case 503: return 14;
    case 504: return 4;
    default: return 2;    /* UNKNOWN */
  }
}


static void error_body (reply *rp, int http, int grpc, const char *msg) {
  cJSON *e = cJSON_CreateObject();
  js_set_str(e, "error", msg);
  js_set_num(e, "code", grpc);
  js_set_str(e, "message", msg);
  js_set(e, "details", cJSON_CreateArray());
  reply_json(rp, http, e);
}


void reply_error (reply *rp, int grpc, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  error_body(rp, grpc_http_status(grpc), grpc, msg);
}


void reply_bad_method (reply *rp) {
  error_body(rp, 405, 12, "Method Not Allowed");
}


void reply_json (reply *rp, int status, cJSON *obj) {
  free(rp->body);
  rp->body = js_print(obj, 0);
  rp->len = strlen(rp->body);
  rp->status = status;
  rp->ctype = "application/json";
  cJSON_Delete(obj);
}


void reply_text (reply *rp, int status, const char *ctype, const char *data, size_t len) {
  free(rp->body);
  rp->body = xmalloc(len + 1);
  memcpy(rp->body, data, len);
  rp->body[len] = '\0';
  rp->len = len;
  rp->status = status;
  rp->ctype = ctype;
}


/* ---- requests ---- */

const char *req_arg (const request *rq, const char *name) {
  return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}


cJSON *req_json (const request *rq, reply *rp) {
  size_t i = 0;
  while (i < rq->body_len && (rq->body[i] == ' ' || rq->body[i] == '\n' || rq->body[i] == '\r' ||
                              rq->body[i] == '\t'))
    i++;
  if (i == rq->body_len) return cJSON_CreateObject();
  cJSON *j = cJSON_ParseWithLength(rq->body, rq->body_len);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    reply_error(rp, 3, "invalid request body: expected a JSON object");
    return NULL;
  }
  return j;
}


static void sleep_ms (long ms) {
  if (ms <= 0) return;
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0) {}
}


/* ---- responses with faults ---- */

typedef struct {
  char *data;
  size_t len, cut;      /* truncate: stop after cut bytes */
  long oversize;        /* > 0: generate that many bytes of JSON */
} stream_ctx;


static ssize_t stream_read (void *cls, uint64_t pos, char *buf, size_t max) {
  stream_ctx *s = cls;
  if (s->oversize > 0) {
    static const char head[] = "{\"padding\":\"";
    uint64_t total = (uint64_t)s->oversize;
    if (pos >= total) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = 0;
    while (n < max && pos + n < total) {
      uint64_t at = pos + n;
      if (at < sizeof head - 1) buf[n] = head[at];
      else if (at == total - 2) buf[n] = '"';
      else if (at == total - 1) buf[n] = '}';
      else buf[n] = 'x';
      n++;
    }
    return (ssize_t)n;
  }
  if (pos >= s->cut) return MHD_CONTENT_READER_END_WITH_ERROR;
  size_t n = s->cut - (size_t)pos;
  if (n > max) n = max;
  memcpy(buf, s->data + pos, n);
  return (ssize_t)n;
}


static void stream_free (void *cls) {
  stream_ctx *s = cls;
  free(s->data);
  free(s);
}


static enum MHD_Result send_reply (struct MHD_Connection *c, reply *rp, const fault_hit *f) {
  struct MHD_Response *r;
  if (f && (strcmp(f->action, "truncate") == 0 || strcmp(f->action, "oversize") == 0)) {
    stream_ctx *s = xmalloc(sizeof *s);
    memset(s, 0, sizeof *s);
    uint64_t size;
    if (f->action[0] == 't') {
      s->data = rp->body;
      s->len = rp->len;
      s->cut = rp->len / 2;
      rp->body = NULL;
      size = s->len > 0 ? s->len : 16;
    } else {
      s->oversize = f->size > 16 ? f->size : 16;
      size = (uint64_t)s->oversize;
      rp->ctype = "application/json";
    }
    r = MHD_create_response_from_callback(size, 64 * 1024, stream_read, s, stream_free);
  } else {
    r = MHD_create_response_from_buffer(rp->len, rp->body, MHD_RESPMEM_MUST_FREE);
    rp->body = NULL;
  }
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", rp->ctype ? rp->ctype : "application/json");
  if (rp->retry_after >= 0) {
    char ra[32];
    snprintf(ra, sizeof ra, "%d", rp->retry_after);
    MHD_add_response_header(r, "Retry-After", ra);
  }
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)rp->status, r);
  MHD_destroy_response(r);
  return ret;
}


static void fault_status_reply (reply *rp, const fault_hit *f) {
  int http = f->status > 0 ? f->status : 503;
  char msg[128];
  snprintf(msg, sizeof msg, "simulated fault: HTTP %d", http);
  error_body(rp, http, http_grpc_code(http), msg);
  rp->retry_after = f->retry_after;
}


static int authorized (const request *rq, reply *rp) {
  const char *h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Authorization");
  if (!h || !*h) {
    reply_error(rp, 16, "missing authorization header: send 'Authorization: Bearer <API key>'");
    return 0;
  }
  if (strncasecmp(h, "Bearer ", 7) != 0 || strcmp(h + 7, cfg.api_key) != 0) {
    reply_error(rp, 16, "invalid API key");
    return 0;
  }
  return 1;
}


static void raw_split (const char *raw, char *path, size_t pn, const char **query) {
  const char *q = strchr(raw, '?');
  size_t n = q ? (size_t)(q - raw) : strlen(raw);
  if (n >= pn) n = pn - 1;
  memcpy(path, raw, n);
  path[n] = '\0';
  *query = q ? q + 1 : "";
}


static enum MHD_Result handle_api (struct MHD_Connection *c, conn_ctx *cx, request *rq) {
  reply rp = { 0, NULL, 0, NULL, -1 };
  fault_hit f;
  int fired = fault_take(rq->method, rq->path, &f);
  int process = !fired || f.apply;

  if (process) {
    if (strcmp(rq->path, "/api/v2/swagger.json") == 0)
      reply_error(&rp, 5, "the simulator does not serve the API spec");
    else if (cx->too_big)
      reply_error(&rp, 8, "request body too large");
    else if (authorized(rq, &rp)) {
      pthread_mutex_lock(&g_lock);
      api_dispatch(rq, &rp);
      st_save_if_dirty();
      pthread_mutex_unlock(&g_lock);
    }
  }
  if (fired && strcmp(f.action, "status") == 0) fault_status_reply(&rp, &f);
  if (fired && strcmp(f.action, "malformed") == 0) {
    static const char bad[] = "{\"id\": \"malformed-respo";
    reply_text(&rp, f.status > 0 ? f.status : 200, "application/json", bad, sizeof bad - 1);
  }
  if (!rp.body) reply_error(&rp, 13, "no reply");

  int dropped = fired && strcmp(f.action, "drop") == 0;
  char path[4096];
  const char *query;
  raw_split(cx->raw_uri ? cx->raw_uri : rq->path, path, sizeof path, &query);
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  reqlog_add(rq->method, path, query, dropped ? 0 : rp.status, rq->body, rq->body_len, auth);

  sleep_ms(cfg.delay[D_REQUEST]);
  if (fired && strcmp(f.action, "slow") == 0) sleep_ms(f.delay_ms > 0 ? f.delay_ms : 2000);
  if (dropped) {
    free(rp.body);
    return MHD_NO;
  }
  return send_reply(c, &rp, fired ? &f : NULL);
}


static enum MHD_Result on_request (void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_size, void **con_cls) {
  (void)cls; (void)version;
  conn_ctx *cx = *con_cls;
  if (!cx) {                     /* no URI log callback ran (should not happen) */
    cx = xmalloc(sizeof *cx);
    memset(cx, 0, sizeof *cx);
    *con_cls = cx;
  }
  if (!cx->started) {
    cx->started = 1;
    return MHD_YES;
  }
  if (*upload_size) {
    if (cx->body.n + *upload_size > MAX_BODY) cx->too_big = 1;
    else sb_add(&cx->body, upload_data, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  request rq;
  rq.method = method;
  rq.path = url;
  rq.conn = c;
  rq.body = cx->body.p ? cx->body.p : "";
  rq.body_len = cx->body.n;
  rq.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");

  if (strncmp(url, "/api/v2/", 8) == 0 || strcmp(url, "/api/v2") == 0)
    return handle_api(c, cx, &rq);

  reply rp = { 0, NULL, 0, NULL, -1 };
  if (strncmp(url, "/_sim/", 6) == 0) control_dispatch(&rq, &rp);
  else reply_error(&rp, 5, "Not Found");
  if (!rp.body) reply_error(&rp, 13, "no reply");
  return send_reply(c, &rp, NULL);
}


static void *on_uri (void *cls, const char *uri, struct MHD_Connection *c) {
  (void)cls; (void)c;
  conn_ctx *cx = xmalloc(sizeof *cx);
  memset(cx, 0, sizeof *cx);
  cx->raw_uri = xstrdup(uri);
  return cx;
}


static void on_done (void *cls, struct MHD_Connection *c, void **con_cls,
                     enum MHD_RequestTerminationCode toe) {
  (void)cls; (void)c; (void)toe;
  conn_ctx *cx = *con_cls;
  if (!cx) return;
  free(cx->raw_uri);
  free(cx->body.p);
  free(cx);
  *con_cls = NULL;
}


static char *tls_cert_mem, *tls_key_mem;


int server_start (const char *host, int port, const char *tls_cert, const char *tls_key) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
  if (inet_pton(AF_INET, h, &sa.sin_addr) != 1) {
    fprintf(stderr, "cml-sim: --listen: '%s' is not an IPv4 address\n", host);
    return -1;
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
  int tls = tls_cert != NULL;
  if (tls) {
    tls_cert_mem = read_whole_file(tls_cert, NULL);
    tls_key_mem = read_whole_file(tls_key, NULL);
    if (!tls_cert_mem || !tls_key_mem) {
      fprintf(stderr, "cml-sim: cannot read %s\n", tls_cert_mem ? tls_key : tls_cert);
      return -1;
    }
    flags |= MHD_USE_TLS;
  }
  struct MHD_OptionItem tls_opts[] = {
    { MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert_mem },
    { MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key_mem },
    { MHD_OPTION_END, 0, NULL },
  }, no_opts[] = { { MHD_OPTION_END, 0, NULL } };
  daemon_ = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                             MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
                             MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                             MHD_OPTION_ARRAY, tls ? tls_opts : no_opts,
                             MHD_OPTION_END);
  if (!daemon_) {
    fprintf(stderr, "cml-sim: cannot listen on %s:%d%s\n", host, port,
            tls ? " (check the TLS certificate and key)" : "");
    return -1;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  int bound = di ? di->port : port;
  const char *shown = strcmp(h, "0.0.0.0") == 0 ? "127.0.0.1" : h;
  snprintf(cfg.base_url, sizeof cfg.base_url, "%s://%s:%d", tls ? "https" : "http", shown, bound);
  return 0;
}


void server_stop (void) {
  if (daemon_) MHD_stop_daemon(daemon_);
  daemon_ = NULL;
  free(tls_cert_mem);
  free(tls_key_mem);
}
