/*
** json_util.c: growable string buffer and small cJSON helpers.
*/
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"


void *xmalloc (size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fputs("cml-sim: out of memory\n", stderr);
    abort();
  }
  return p;
}


void *xrealloc (void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fputs("cml-sim: out of memory\n", stderr);
    abort();
  }
  return q;
}


/* A new array of the strings of src (an array; other items and a non-array give none). */
cJSON *js_string_array (const cJSON *src) {
  cJSON *out = cJSON_CreateArray();
  const cJSON *e;
  cJSON_ArrayForEach(e, src) {
    if (cJSON_IsString(e)) cJSON_AddItemToArray(out, cJSON_CreateString(e->valuestring));
  }
  return out;
}


/* cJSON_Print(Unformatted), which returns NULL only when out of memory: abort as xmalloc does. */
char *js_print (const cJSON *v, int formatted) {
  char *s = formatted ? cJSON_Print(v) : cJSON_PrintUnformatted(v);
  if (!s) {
    fputs("cml-sim: out of memory\n", stderr);
    abort();
  }
  return s;
}


char *xstrdup (const char *s) {
  size_t n = strlen(s ? s : "");
  char *p = xmalloc(n + 1);
  memcpy(p, s ? s : "", n + 1);
  return p;
}


void sb_add (sbuf *b, const void *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}


void sb_puts (sbuf *b, const char *s) {
  sb_add(b, s, strlen(s));
}


void sb_printf (sbuf *b, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    sb_add(b, small, (size_t)n);
    return;
  }
  char *big = xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_add(b, big, (size_t)n);
  free(big);
}


char *sb_take (sbuf *b) {
  char *p = b->p ? b->p : xstrdup("");
  b->p = NULL;
  b->n = b->cap = 0;
  return p;
}


char *read_whole_file (const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  sbuf b = {0};
  char buf[65536];
  size_t r;
  while ((r = fread(buf, 1, sizeof buf, f)) > 0) sb_add(&b, buf, r);
  int failed = ferror(f), err = errno;
  fclose(f);
  if (failed) {
    free(b.p);
    errno = err;
    return NULL;
  }
  if (len) *len = b.n;
  return sb_take(&b);
}


const char *js_str (const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}


int js_to_int (double d) {
  if (d != d) return 0;
  if (d <= (double)INT_MIN) return INT_MIN;
  if (d >= (double)INT_MAX) return INT_MAX;
  return (int)d;
}


long js_to_long (double d) {
  /* (double)LONG_MAX rounds up to 2^63, which does not fit: compare against 2^63 itself */
  static const double two63 = 9223372036854775808.0;
  if (d != d) return 0;
  if (d <= -two63) return LONG_MIN;
  if (d >= two63) return LONG_MAX;
  return (long)d;
}


double js_num (const cJSON *o, const char *k, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (cJSON_IsNumber(v)) return v->valuedouble;
  if (cJSON_IsString(v) && v->valuestring[0]) {       /* int64 fields travel as strings */
    char *end;
    double d = strtod(v->valuestring, &end);
    if (*end == '\0') return d;
  }
  return dflt;
}


int js_bool (const cJSON *o, const char *k, int dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
  return dflt;
}


int js_has (const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return v != NULL && !cJSON_IsNull(v);
}


void js_set (cJSON *o, const char *k, cJSON *v) {
  if (cJSON_GetObjectItemCaseSensitive(o, k))
    cJSON_ReplaceItemInObjectCaseSensitive(o, k, v);
  else
    cJSON_AddItemToObject(o, k, v);
}


void js_set_str (cJSON *o, const char *k, const char *v) {
  js_set(o, k, cJSON_CreateString(v ? v : ""));
}


void js_set_num (cJSON *o, const char *k, double v) {
  js_set(o, k, cJSON_CreateNumber(v));
}


void js_set_bool (cJSON *o, const char *k, int v) {
  js_set(o, k, cJSON_CreateBool(v));
}


void js_del (cJSON *o, const char *k) {
  cJSON_DeleteItemFromObjectCaseSensitive(o, k);
}


const cJSON *js_path (const cJSON *o, const char *dotted) {
  char key[128];
  const char *p = dotted;
  while (o && *p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (n >= sizeof key) return NULL;
    memcpy(key, p, n);
    key[n] = '\0';
    o = cJSON_GetObjectItemCaseSensitive(o, key);
    p = dot ? dot + 1 : p + n;
  }
  return o;
}


cJSON *js_public (const cJSON *o) {
  cJSON *copy = cJSON_Duplicate(o, 1);
  cJSON *it = copy ? copy->child : NULL;
  while (it) {
    cJSON *next = it->next;
    if (it->string && it->string[0] == '_')
      cJSON_Delete(cJSON_DetachItemViaPointer(copy, it));
    it = next;
  }
  return copy;
}


cJSON *js_short_user (void) {
  char email[256];
  cJSON *u = cJSON_CreateObject();
  js_set_str(u, "username", cfg.username);
  js_set_str(u, "name", "Sim User");
  snprintf(email, sizeof email, "%s@example.com", cfg.username);
  js_set_str(u, "email", email);
  return u;
}
