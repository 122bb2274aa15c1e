/*
** lhttp.c: raycai.http, the libcurl transport.
**
**   local h = http.new{ timeout = 30, connect_timeout = 10, ca_bundle = path, insecure = false,
**                       max_body = 64 << 20, user_agent = "raycai/0.1.0" }
**   local res, err = h:request{ method = "GET", url = "...", headers = {...}, body = "...",
**                               multipart = {...}, timeout = 5, fresh_connect = bool }
**   local results = h:request_many({ req1, req2, ... }, { parallel = 16 })
**
** Every transfer runs through the client's one multi handle, so a single request is a batch of
** one and connections are reused across all of them. Response bodies and headers are appended
** to growable C buffers in the callbacks; Lua values are built only after the transfers end.
** The C state of a batch lives in a userdata with a __gc, so a Lua error (bad argument, out of
** memory) while it is being built or read never leaks a curl handle.
*/
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "raycai.h"

#define CLIENT_MT "raycai.http.client"
#define BATCH_MT "raycai.http.batch"
#define ERROR_MT "raycai.http.error"
#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define MAX_HEADER_BYTES ((size_t)1 << 20)
#define POLL_MS 50


typedef struct Client {
  CURLM *multi;          /* NULL once closed */
  long timeout_ms;
  long connect_timeout_ms;
  size_t max_body;
  int insecure;
  char *ca_bundle;       /* malloc'd or NULL */
  char *user_agent;      /* malloc'd */
} Client;


typedef struct Buf {
  char *data;
  size_t len, cap, limit;
  int overflow;          /* set when limit was exceeded */
  int oom;               /* set when realloc failed */
} Buf;


typedef struct Transfer {
  CURL *easy;
  struct curl_slist *headers;
  curl_mime *mime;
  Buf body;
  Buf head;
  int attached;          /* added to the multi handle */
  int done;
  CURLcode result;
  long status;           /* HTTP status and total time, kept when the easy handle is freed */
  double total;
  char errbuf[CURL_ERROR_SIZE];
} Transfer;


typedef struct Batch {
  CURLM *multi;          /* borrowed from the client */
  int n;
  Transfer t[1];         /* n entries */
} Batch;


static int curl_ready = 0;


/* ---------------------------------------------------------------- buffers */

/* Append len bytes; returns 0 (and flags the buffer) on overflow or out of memory. */
static int buf_append (Buf *b, const char *p, size_t len) {
  if (len > b->limit - b->len) {
    b->overflow = 1;
    return 0;
  }
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    char *nd;
    while (cap < b->len + len + 1)
      cap *= 2;
    nd = realloc(b->data, cap);
    if (nd == NULL) {
      b->oom = 1;
      return 0;
    }
    b->data = nd;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 1;
}


static void buf_free (Buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}


/* ---------------------------------------------------------- curl callbacks */
/* No Lua in here: they only touch C buffers and the interrupt flag. */

static size_t on_body (char *ptr, size_t size, size_t nmemb, void *ud) {
  Transfer *t = (Transfer *)ud;
  size_t len = size * nmemb;
  return buf_append(&t->body, ptr, len) ? len : 0;
}


/* Collect raw header lines; a new status line (after 100 Continue) starts over. */
static size_t on_header (char *ptr, size_t size, size_t nmemb, void *ud) {
  Transfer *t = (Transfer *)ud;
  size_t len = size * nmemb;
  if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
    t->head.len = 0;
  return buf_append(&t->head, ptr, len) ? len : 0;
}


static int on_progress (void *ud, curl_off_t dltotal, curl_off_t dlnow,
                        curl_off_t ultotal, curl_off_t ulnow) {
  (void)ud; (void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
  return raycai_interrupted() ? 1 : 0;
}


/* ------------------------------------------------------------------ batch */

/* Free the curl side of a transfer (idempotent): its easy handle, taken off the multi handle
   first, its header list and its form. */
static void transfer_drop_curl (CURLM *multi, Transfer *t) {
  if (t->easy != NULL) {
    if (t->attached && multi != NULL)
      curl_multi_remove_handle(multi, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
  }
  t->attached = 0;
  curl_slist_free_all(t->headers);
  t->headers = NULL;
  curl_mime_free(t->mime);
  t->mime = NULL;
}


/* Free everything a transfer holds (idempotent). */
static void transfer_free (CURLM *multi, Transfer *t) {
  transfer_drop_curl(multi, t);
  buf_free(&t->body);
  buf_free(&t->head);
}


/*
** A transfer has finished: keep its outcome, status and time, then free its easy handle (and
** the download buffer curl keeps in it), header list and form right away, so a batch of N
** holds at most `parallel` handles' worth of memory at a time, plus the response bytes.
*/
static void transfer_finish (CURLM *multi, Transfer *t, CURLcode result) {
  t->result = result;
  t->done = 1;
  if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status) != CURLE_OK)
    t->status = 0;
  if (curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &t->total) != CURLE_OK)
    t->total = 0;
  transfer_drop_curl(multi, t);
}


/* A transfer that libcurl could not run: fails with "<what>: <why>", its curl side freed. */
static void transfer_fail (CURLM *multi, Transfer *t, const char *what, const char *why) {
  transfer_drop_curl(multi, t);
  t->done = 1;
  t->result = CURLE_FAILED_INIT;
  snprintf(t->errbuf, sizeof t->errbuf, "%s: %s", what, why);
}


/* Idempotent: frees every curl handle and buffer of the batch. */
static int batch_gc (lua_State *L) {
  Batch *b = (Batch *)luaL_checkudata(L, 1, BATCH_MT);
  int i;
  for (i = 0; i < b->n; i++)
    transfer_free(b->multi, &b->t[i]);
  b->n = 0;
  return 0;
}


/* Push a zeroed batch of n transfers with its finalizer set. */
static Batch *batch_new (lua_State *L, CURLM *multi, int n) {
  size_t size = sizeof(Batch) + (size_t)(n > 1 ? n - 1 : 0) * sizeof(Transfer);
  Batch *b = (Batch *)lua_newuserdatauv(L, size, 0);
  memset(b, 0, size);
  b->multi = multi;
  luaL_setmetatable(L, BATCH_MT);
  b->n = n;
  return b;
}


/* ----------------------------------------------------------------- client */

static Client *check_client (lua_State *L) {
  Client *c = (Client *)luaL_checkudata(L, 1, CLIENT_MT);
  if (c->multi == NULL)
    luaL_error(L, "attempt to use a closed http client");
  return c;
}


/* Optional number field of table idx in seconds → milliseconds (dflt when absent). */
static long opt_ms (lua_State *L, int idx, const char *field, long dflt) {
  long ms = dflt;
  if (lua_getfield(L, idx, field) != LUA_TNIL) {
    lua_Number s;
    if (!lua_isnumber(L, -1))
      luaL_error(L, "bad field '%s' (number expected, got %s)", field, luaL_typename(L, -1));
    s = lua_tonumber(L, -1);
    if (!(s >= 0 && s < 1e7))
      luaL_error(L, "bad field '%s' (seconds out of range)", field);
    ms = (long)(s * 1000.0);
    if (ms == 0 && s > 0)
      ms = 1;
  }
  lua_pop(L, 1);
  return ms;
}


/* Optional string field of table idx, or NULL. The string stays on the stack owner's table. */
static const char *opt_str (lua_State *L, int idx, const char *field, size_t *len) {
  const char *s = NULL;
  int type = lua_getfield(L, idx, field);
  if (type != LUA_TNIL) {
    if (type != LUA_TSTRING)
      luaL_error(L, "bad field '%s' (string expected, got %s)", field, luaL_typename(L, -1));
    s = lua_tolstring(L, -1, len);
  }
  lua_pop(L, 1);  /* the table still references the string */
  return s;
}


static char *dup_or_null (const char *s) {
  char *d;
  size_t n;
  if (s == NULL)
    return NULL;
  n = strlen(s) + 1;
  d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}


/* Idempotent close: frees the multi handle (and with it the connection cache). */
static int client_close (lua_State *L) {
  Client *c = (Client *)luaL_checkudata(L, 1, CLIENT_MT);
  if (c->multi != NULL) {
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
  }
  free(c->ca_bundle);
  c->ca_bundle = NULL;
  free(c->user_agent);
  c->user_agent = NULL;
  return 0;
}


/*
** http.new([opts]) -> client. Options: timeout, connect_timeout (seconds), ca_bundle (path),
** insecure (bool), max_body (bytes), user_agent (string).
*/
static int http_new (lua_State *L) {
  long timeout_ms, connect_ms;
  lua_Integer max_body = (lua_Integer)DEFAULT_MAX_BODY;
  const char *ca = NULL, *ua = NULL;
  int insecure = 0;
  Client *c;
  if (lua_isnoneornil(L, 1))
    lua_newtable(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  timeout_ms = opt_ms(L, 1, "timeout", 30000);
  connect_ms = opt_ms(L, 1, "connect_timeout", 10000);
  ca = opt_str(L, 1, "ca_bundle", NULL);
  ua = opt_str(L, 1, "user_agent", NULL);
  lua_getfield(L, 1, "insecure");
  insecure = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "max_body") != LUA_TNIL) {
    int isnum;
    max_body = lua_tointegerx(L, -1, &isnum);
    luaL_argcheck(L, isnum && max_body > 0, 1, "max_body must be a positive integer");
  }
  lua_pop(L, 1);
  /* consistent "closed" object first, then acquire */
  c = (Client *)lua_newuserdatauv(L, sizeof(Client), 0);
  memset(c, 0, sizeof *c);
  luaL_setmetatable(L, CLIENT_MT);
  c->timeout_ms = timeout_ms;
  c->connect_timeout_ms = connect_ms;
  c->max_body = (size_t)max_body;
  c->insecure = insecure;
  c->ca_bundle = dup_or_null(ca);
  c->user_agent = dup_or_null(ua != NULL ? ua : "raycai/" RAYCAI_VERSION);
  if ((ca != NULL && c->ca_bundle == NULL) || c->user_agent == NULL)
    return luaL_error(L, "http.new: out of memory");  /* __gc frees what was copied */
  c->multi = curl_multi_init();
  if (c->multi == NULL)
    return luaL_error(L, "http.new: curl_multi_init failed");
  return 1;
}


/* ------------------------------------------------------- building requests */

/* Raise with a message naming the failed curl setup call (batch __gc frees the rest). */
#define SETOPT(L, e, opt, val) \
  do { CURLcode rc_ = curl_easy_setopt((e), (opt), (val)); \
       if (rc_ != CURLE_OK) \
         luaL_error((L), "http: curl_easy_setopt(%s): %s", #opt, curl_easy_strerror(rc_)); \
  } while (0)


/* A header name is a token: visible ASCII but no separators such as ':' (RFC 9110). */
static int header_name_ok (const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 32 || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
      return 0;
  }
  return 1;
}


/* A header value must not end the line: no CR, LF or NUL (they would inject headers). */
static int header_value_ok (const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
      return 0;
  return 1;
}


/* headers = { [name] = value }: appended to t->headers as "Name: value". */
static void add_headers (lua_State *L, int req, Transfer *t) {
  int type = lua_getfield(L, req, "headers");
  struct curl_slist *nl;
  if (type != LUA_TNIL) {
    luaL_argexpected(L, type == LUA_TTABLE, req, "headers table");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      size_t nn, vn;
      const char *name, *value;
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "bad request headers (string names and values expected)");
      name = lua_tolstring(L, -2, &nn);
      value = lua_tolstring(L, -1, &vn);
      if (!header_name_ok(name, nn))
        luaL_error(L, "bad request header name (a token expected: letters, digits, - and such)");
      if (!header_value_ok(value, vn))  /* never show the value: it may be the API key */
        luaL_error(L, "bad value of request header %s (contains a line break or NUL)", name);
      lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
      nl = curl_slist_append(t->headers, lua_tostring(L, -1));
      if (nl == NULL)
        luaL_error(L, "http: out of memory building headers");
      t->headers = nl;
      lua_pop(L, 2);  /* pop line and value */
    }
  }
  lua_pop(L, 1);
  /* never wait for "100 Continue" on uploads */
  nl = curl_slist_append(t->headers, "Expect:");
  if (nl == NULL)
    luaL_error(L, "http: out of memory building headers");
  t->headers = nl;
}


static void check_mime (lua_State *L, CURLcode rc, const char *what) {
  if (rc != CURLE_OK)
    luaL_error(L, "http: %s: %s", what, curl_easy_strerror(rc));
}


/* multipart = { { name =, filename =, data =, content_type = }, ... } → t->mime. */
static void add_multipart (lua_State *L, int req, Transfer *t) {
  lua_Integer i, n;
  int mp;
  lua_getfield(L, req, "multipart");
  mp = lua_gettop(L);
  n = luaL_len(L, mp);
  t->mime = curl_mime_init(t->easy);
  if (t->mime == NULL)
    luaL_error(L, "http: curl_mime_init failed");
  for (i = 1; i <= n; i++) {
    curl_mimepart *part;
    const char *name, *filename, *data, *ctype;
    size_t len = 0;
    int p;
    if (lua_rawgeti(L, mp, i) != LUA_TTABLE)
      luaL_error(L, "bad multipart part %d (table expected)", (int)i);
    p = lua_gettop(L);
    name = opt_str(L, p, "name", NULL);
    filename = opt_str(L, p, "filename", NULL);
    data = opt_str(L, p, "data", &len);
    ctype = opt_str(L, p, "content_type", NULL);
    if (name == NULL || data == NULL)
      luaL_error(L, "bad multipart part %d (name and data required)", (int)i);
    part = curl_mime_addpart(t->mime);
    if (part == NULL)
      luaL_error(L, "http: curl_mime_addpart failed");
    check_mime(L, curl_mime_name(part, name), "curl_mime_name");
    check_mime(L, curl_mime_data(part, data, len), "curl_mime_data");
    if (filename != NULL)
      check_mime(L, curl_mime_filename(part, filename), "curl_mime_filename");
    if (ctype != NULL)
      check_mime(L, curl_mime_type(part, ctype), "curl_mime_type");
    lua_pop(L, 1);  /* pop part */
  }
  lua_pop(L, 1);  /* pop multipart */
}


/*
** Configure t for request table at index req. Strings set with CURLOPT_POSTFIELDS are not
** copied: the request tables stay referenced on the stack until the batch has finished.
*/
static void setup_transfer (lua_State *L, Client *c, int req, Transfer *t) {
  const char *method, *url, *body;
  size_t body_len = 0;
  long timeout_ms;
  int multipart, fresh;
  luaL_argexpected(L, lua_type(L, req) == LUA_TTABLE, req, "request table");
  method = opt_str(L, req, "method", NULL);
  url = opt_str(L, req, "url", NULL);
  body = opt_str(L, req, "body", &body_len);
  if (method == NULL)
    method = "GET";
  if (url == NULL)
    luaL_error(L, "bad request (url required)");
  timeout_ms = opt_ms(L, req, "timeout", c->timeout_ms);
  multipart = lua_getfield(L, req, "multipart") != LUA_TNIL;
  lua_pop(L, 1);
  lua_getfield(L, req, "fresh_connect");
  fresh = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (multipart && body != NULL)
    luaL_error(L, "bad request (body and multipart are exclusive)");

  t->body.limit = c->max_body;
  t->head.limit = MAX_HEADER_BYTES;
  t->easy = curl_easy_init();
  if (t->easy == NULL)
    luaL_error(L, "http: curl_easy_init failed");
  SETOPT(L, t->easy, CURLOPT_URL, url);
  SETOPT(L, t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
  SETOPT(L, t->easy, CURLOPT_PRIVATE, (void *)t);
  SETOPT(L, t->easy, CURLOPT_WRITEFUNCTION, on_body);
  SETOPT(L, t->easy, CURLOPT_WRITEDATA, (void *)t);
  SETOPT(L, t->easy, CURLOPT_HEADERFUNCTION, on_header);
  SETOPT(L, t->easy, CURLOPT_HEADERDATA, (void *)t);
  SETOPT(L, t->easy, CURLOPT_XFERINFOFUNCTION, on_progress);
  SETOPT(L, t->easy, CURLOPT_NOPROGRESS, 0L);
  SETOPT(L, t->easy, CURLOPT_NOSIGNAL, 1L);
  SETOPT(L, t->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  SETOPT(L, t->easy, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  SETOPT(L, t->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
  SETOPT(L, t->easy, CURLOPT_USERAGENT, c->user_agent);
  SETOPT(L, t->easy, CURLOPT_ACCEPT_ENCODING, "");
  SETOPT(L, t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
  /* a redirect is a response, never followed: following would carry the Authorization header
     (and the transport checks made on the URL) to wherever Location points. Should a caller
     ever follow, only to https. */
  SETOPT(L, t->easy, CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT(L, t->easy, CURLOPT_REDIR_PROTOCOLS_STR, "https");
  /* libcurl silently re-sends a request whose reused connection closed without an answer;
     a new connection makes such a drop visible, which a non-idempotent request needs */
  if (fresh)
    SETOPT(L, t->easy, CURLOPT_FRESH_CONNECT, 1L);
  if (c->ca_bundle != NULL)
    SETOPT(L, t->easy, CURLOPT_CAINFO, c->ca_bundle);
  if (c->insecure) {
    SETOPT(L, t->easy, CURLOPT_SSL_VERIFYPEER, 0L);
    SETOPT(L, t->easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  add_headers(L, req, t);
  SETOPT(L, t->easy, CURLOPT_HTTPHEADER, t->headers);
  if (multipart) {
    add_multipart(L, req, t);
    SETOPT(L, t->easy, CURLOPT_MIMEPOST, t->mime);
    if (strcmp(method, "POST") != 0)
      SETOPT(L, t->easy, CURLOPT_CUSTOMREQUEST, method);
  }
  else if (strcmp(method, "GET") == 0 && body == NULL)
    SETOPT(L, t->easy, CURLOPT_HTTPGET, 1L);
  else if (strcmp(method, "HEAD") == 0)
    SETOPT(L, t->easy, CURLOPT_NOBODY, 1L);
  else {
    if (body != NULL || strcmp(method, "POST") == 0) {
      SETOPT(L, t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
      SETOPT(L, t->easy, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    }
    if (strcmp(method, "POST") != 0)
      SETOPT(L, t->easy, CURLOPT_CUSTOMREQUEST, method);
  }
}


/* ---------------------------------------------------------------- running */

/*
** Run all transfers of b, at most `parallel` at a time. When the multi interface itself fails,
** every unfinished transfer is marked failed with its message. No Lua is called in here.
*/
static void run_batch (Batch *b, int parallel) {
  int next = 0, running = 0, active = 0, finished = 0;
  const char *fail = NULL;
  while (finished < b->n && fail == NULL) {
    CURLMcode mc;
    CURLMsg *msg;
    int left;
    while (active < parallel && next < b->n) {
      Transfer *t = &b->t[next++];
      mc = curl_multi_add_handle(b->multi, t->easy);
      if (mc != CURLM_OK) {
        transfer_fail(b->multi, t, "curl_multi_add_handle", curl_multi_strerror(mc));
        finished++;
        continue;
      }
      t->attached = 1;
      active++;
    }
    mc = curl_multi_perform(b->multi, &running);
    if (mc != CURLM_OK) {
      fail = curl_multi_strerror(mc);
      break;
    }
    while ((msg = curl_multi_info_read(b->multi, &left)) != NULL) {
      char *priv = NULL;  /* the Transfer, set with CURLOPT_PRIVATE */
      Transfer *t;
      if (msg->msg != CURLMSG_DONE
          || curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK
          || priv == NULL)
        continue;
      t = (Transfer *)(void *)priv;
      if (!t->attached)
        continue;
      transfer_finish(b->multi, t, msg->data.result);  /* msg is invalid from here on */
      active--;
      finished++;
    }
    if (finished >= b->n || (active < parallel && next < b->n))
      continue;
    mc = curl_multi_poll(b->multi, NULL, 0, POLL_MS, NULL);
    if (mc != CURLM_OK) {
      fail = curl_multi_strerror(mc);
      break;
    }
  }
  if (fail != NULL) {
    int i;
    for (i = 0; i < b->n; i++)
      if (!b->t[i].done)  /* a finished transfer is already off the multi handle */
        transfer_fail(b->multi, &b->t[i], "curl multi", fail);
  }
}


static const char *error_kind (const Transfer *t) {
  if (t->body.overflow || t->head.overflow)
    return "too_large";
  switch (t->result) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout";
    case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "connect";
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND: case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED: case CURLE_USE_SSL_FAILED:
      return "tls";
    case CURLE_GOT_NOTHING: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
      return "dropped";
    case CURLE_FILESIZE_EXCEEDED:
      return "too_large";
    case CURLE_ABORTED_BY_CALLBACK:
      return "interrupted";
    default:
      return "transport";
  }
}


/* tostring(err) of an error table: its message (so assert(h:request{...}) prints the reason,
   not "table: 0x..."). */
static int error_tostring (lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "message");
  if (!lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "http request failed");
  }
  else
    lua_tostring(L, -1);  /* a number message becomes a string */
  return 1;
}


/* Push the error table { kind, message, curl_code } of a failed transfer; its metatable's
   __tostring gives the message. */
static void push_error (lua_State *L, Client *c, Transfer *t) {
  const char *kind = error_kind(t);
  lua_createtable(L, 0, 3);
  luaL_setmetatable(L, ERROR_MT);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  if (strcmp(kind, "too_large") == 0)
    lua_pushfstring(L, "response larger than %I bytes", (lua_Integer)c->max_body);
  else if (strcmp(kind, "interrupted") == 0)
    lua_pushliteral(L, "interrupted");
  else if (t->body.oom || t->head.oom)
    lua_pushliteral(L, "out of memory reading the response");
  else if (t->errbuf[0] != '\0')
    lua_pushstring(L, t->errbuf);
  else
    lua_pushstring(L, curl_easy_strerror(t->result));
  lua_setfield(L, -2, "message");
  lua_pushinteger(L, (lua_Integer)t->result);
  lua_setfield(L, -2, "curl_code");
}


/* Push { lowercased name = value } parsed from the raw header block; repeats join with ", ". */
static void push_headers (lua_State *L, const Buf *h) {
  const char *p = h->data, *end = h->data + h->len;
  lua_newtable(L);
  if (p == NULL)
    return;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end;
    const char *colon = memchr(p, ':', (size_t)(line_end - p));
    if (colon != NULL && colon > p) {
      const char *v = colon + 1, *ve = line_end;
      luaL_Buffer nb;
      const char *q;
      while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      luaL_buffinit(L, &nb);
      for (q = p; q < colon; q++)
        luaL_addchar(&nb, (char)tolower((unsigned char)*q));
      luaL_pushresult(&nb);                      /* name */
      if (lua_getfield(L, -2, lua_tostring(L, -1)) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      }
      else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_setfield(L, -3, lua_tostring(L, -2)); /* headers[name] = value */
      lua_pop(L, 1);                             /* pop name */
    }
    p = eol ? eol + 1 : end;
  }
}


/* Push res table, or nil + err table; returns the number of values pushed (1 or 2). */
static int push_result (lua_State *L, Client *c, Transfer *t) {
  if (t->result != CURLE_OK || t->body.overflow || t->body.oom || t->head.oom) {
    luaL_pushfail(L);
    push_error(L, c, t);
    return 2;
  }
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, t->status);
  lua_setfield(L, -2, "status");
  push_headers(L, &t->head);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, t->body.data != NULL ? t->body.data : "", t->body.len);
  lua_setfield(L, -2, "body");
  lua_pushnumber(L, t->total);
  lua_setfield(L, -2, "time");
  return 1;
}


/* h:request(req) -> res | nil, err */
static int client_request (lua_State *L) {
  Client *c = check_client(L);
  Batch *b;
  int nres;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  b = batch_new(L, c->multi, 1);                 /* index 3 */
  setup_transfer(L, c, 2, &b->t[0]);
  run_batch(b, 1);
  nres = push_result(L, c, &b->t[0]);
  transfer_free(b->multi, &b->t[0]);
  return nres;
}


/* h:request_many({ req, ... }, { parallel = n }) -> { { res } | { nil, err }, ... } in order */
static int client_request_many (lua_State *L) {
  Client *c = check_client(L);
  lua_Integer n, i;
  lua_Integer parallel = 16;
  Batch *b;
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    if (lua_getfield(L, 3, "parallel") != LUA_TNIL) {
      int isnum;
      parallel = lua_tointegerx(L, -1, &isnum);
      luaL_argcheck(L, isnum && parallel >= 1, 3, "parallel must be a positive integer");
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  n = luaL_len(L, 2);
  luaL_argcheck(L, n >= 0 && n <= 100000, 2, "too many requests");
  lua_createtable(L, (int)n, 0);                 /* index 3: results */
  if (n == 0)
    return 1;
  luaL_checkstack(L, (int)n + 10, "too many requests");
  for (i = 1; i <= n; i++)                       /* requests at 4 .. n+3 */
    lua_rawgeti(L, 2, i);
  b = batch_new(L, c->multi, (int)n);            /* index n + 4 */
  for (i = 0; i < n; i++)
    setup_transfer(L, c, (int)(4 + i), &b->t[i]);
  run_batch(b, parallel > 1000 ? 1000 : (int)parallel);
  for (i = 0; i < n; i++) {
    int k, nres;
    lua_createtable(L, 2, 0);
    nres = push_result(L, c, &b->t[i]);
    for (k = nres; k >= 1; k--)
      lua_rawseti(L, -1 - k, k);
    lua_rawseti(L, 3, i + 1);
    transfer_free(b->multi, &b->t[i]);
  }
  lua_pushvalue(L, 3);
  return 1;
}


static const luaL_Reg client_methods[] = {
  {"request", client_request},
  {"request_many", client_request_many},
  {"close", client_close},
  {NULL, NULL}
};


static const luaL_Reg client_meta[] = {
  {"__gc", client_close},
  {"__close", client_close},
  {"__index", NULL},  /* placeholder */
  {NULL, NULL}
};


static const luaL_Reg batch_meta[] = {
  {"__gc", batch_gc},
  {"__close", batch_gc},
  {NULL, NULL}
};


static const luaL_Reg http_funcs[] = {
  {"new", http_new},
  {NULL, NULL}
};


int luaopen_raycai_http (lua_State *L) {
  if (!curl_ready) {
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
      return luaL_error(L, "curl_global_init: %s", curl_easy_strerror(rc));
    curl_ready = 1;
  }
  luaL_newmetatable(L, CLIENT_MT);
  luaL_setfuncs(L, client_meta, 0);
  luaL_newlib(L, client_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);  /* pop client metatable */
  luaL_newmetatable(L, BATCH_MT);
  luaL_setfuncs(L, batch_meta, 0);
  lua_pop(L, 1);  /* pop batch metatable */
  luaL_newmetatable(L, ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);  /* pop error metatable */
  luaL_newlib(L, http_funcs);
  /* curl_version() would also ask libldap its version, which loads its config and the SASL
     plugins (milliseconds at every start); curl_version_info does not */
  lua_pushfstring(L, "libcurl/%s", curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  return 1;
}
