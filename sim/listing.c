/*
** listing.c: the List* conventions: search_filter (JSON object, substring and case-sensitive
** per key), sort ("-created_at,+name"), page_size (default 10) and an opaque page_token.
** Runs with g_lock held (the sort keys live in a static for qsort).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define MAX_SORT 8

typedef struct { const cJSON *o; int idx; } entry;
static struct { const char *key; int desc; } sort_by[MAX_SORT];
static int nsort;


static int key_allowed (const char *const *keys, const char *k) {
  for (int i = 0; keys && keys[i]; i++)
    if (strcmp(keys[i], k) == 0) return 1;
  return 0;
}


static const char *arg2 (const request *rq, const char *a, const char *b) {
  const char *v = req_arg(rq, a);
  return v ? v : req_arg(rq, b);
}


/* 1 match, 0 no match, -1 bad filter (reply set). */
static int matches (const cJSON *o, const cJSON *filter, const list_spec *spec, reply *rp) {
  const cJSON *f;
  cJSON_ArrayForEach(f, filter) {
    const cJSON *v = js_path(o, f->string);
    if (strcmp(f->string, "status") == 0 && spec->status_word && cJSON_IsString(f)) {
      const char *want = spec->status_word(f->valuestring);
      if (!want) {
        reply_error(rp, 3, "invalid status '%s' in search_filter for %s", f->valuestring, spec->kind);
        return -1;
      }
      if (!cJSON_IsString(v) || strcmp(v->valuestring, want) != 0) return 0;
      continue;
    }
    if (cJSON_IsBool(f)) {
      if (!cJSON_IsBool(v) || cJSON_IsTrue(v) != cJSON_IsTrue(f)) return 0;
      continue;
    }
    if (!cJSON_IsString(f)) {
      reply_error(rp, 3, "search_filter value for '%s' must be a string", f->string);
      return -1;
    }
    char num[64];
    const char *have = NULL;
    if (cJSON_IsString(v)) have = v->valuestring;
    else if (cJSON_IsBool(v)) have = cJSON_IsTrue(v) ? "true" : "false";
    else if (cJSON_IsNumber(v)) {
      snprintf(num, sizeof num, "%g", v->valuedouble);
      have = num;
    }
    if (!have || !strstr(have, f->valuestring)) return 0;
  }
  return 1;
}


static int cmp_values (const cJSON *a, const cJSON *b) {
  if (!a || cJSON_IsNull(a)) return (!b || cJSON_IsNull(b)) ? 0 : -1;
  if (!b || cJSON_IsNull(b)) return 1;
  if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
    return (a->valuedouble > b->valuedouble) - (a->valuedouble < b->valuedouble);
  if (cJSON_IsBool(a) && cJSON_IsBool(b)) return cJSON_IsTrue(a) - cJSON_IsTrue(b);
  if (cJSON_IsString(a) && cJSON_IsString(b)) {
    int c = strcmp(a->valuestring, b->valuestring);
    return (c > 0) - (c < 0);
  }
  return 0;
}


static int cmp_entries (const void *pa, const void *pb) {
  const entry *a = pa, *b = pb;
  for (int i = 0; i < nsort; i++) {
    int c = cmp_values(js_path(a->o, sort_by[i].key), js_path(b->o, sort_by[i].key));
    if (c) return sort_by[i].desc ? -c : c;
  }
  return a->idx - b->idx;
}


static int parse_sort (char *spec_text, const list_spec *spec, reply *rp) {
  nsort = 0;
  char *save = NULL;
  for (char *t = strtok_r(spec_text, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    int desc = 0;
    if (*t == '-' || *t == '+') desc = *t++ == '-';
    if (!*t) continue;
    if (!key_allowed(spec->sort_keys, t)) {
      reply_error(rp, 3, "cannot sort %s by '%s'", spec->kind, t);
      return -1;
    }
    if (nsort < MAX_SORT) {
      sort_by[nsort].key = t;
      sort_by[nsort].desc = desc;
      nsort++;
    }
  }
  return 0;
}


static void token_encode (long offset, char out[64]) {
  char plain[32];
  int n = snprintf(plain, sizeof plain, "o=%ld", offset);
  for (int i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", (unsigned char)plain[i] ^ 0x5a);
}


static long token_decode (const char *tok) {
  char plain[32];
  size_t n = strlen(tok);
  if (n % 2 || n / 2 >= sizeof plain || n < 6) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(tok + 2 * i, "%2x", &v) != 1) return -1;
    plain[i] = (char)(v ^ 0x5a);
  }
  plain[n / 2] = '\0';
  char *end;
  if (strncmp(plain, "o=", 2) != 0) return -1;
  long off = strtol(plain + 2, &end, 10);
  return (*end || off < 0) ? -1 : off;
}


void list_reply (const request *rq, reply *rp, const list_spec *spec, const cJSON **items, int n,
                 const char *items_key) {
  long page_size = 10;
  const char *ps = arg2(rq, "page_size", "pageSize");
  if (ps && *ps) {
    char *end;
    page_size = strtol(ps, &end, 10);
    if (*end || page_size < 0) {
      reply_error(rp, 3, "invalid page_size '%s'", ps);
      return;
    }
    if (page_size == 0) page_size = 10;
  }
  long offset = 0;
  const char *pt = arg2(rq, "page_token", "pageToken");
  if (pt && *pt && (offset = token_decode(pt)) < 0) {
    reply_error(rp, 3, "invalid page_token");
    return;
  }

  cJSON *filter = NULL;
  const char *sf = arg2(rq, "search_filter", "searchFilter");
  if (sf && *sf) {
    filter = cJSON_Parse(sf);
    if (!cJSON_IsObject(filter)) {
      cJSON_Delete(filter);
      reply_error(rp, 3, "invalid search_filter: expected a JSON object, got '%s'", sf);
      return;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, filter) {
      if (!key_allowed(spec->filter_keys, f->string)) {
        reply_error(rp, 3, "unknown search_filter key '%s' for %s", f->string, spec->kind);
        cJSON_Delete(filter);
        return;
      }
    }
  }
  char *sort_text = xstrdup(req_arg(rq, "sort") ? req_arg(rq, "sort") : "");
  if (parse_sort(sort_text, spec, rp) != 0) {
    free(sort_text);
    cJSON_Delete(filter);
    return;
  }

  entry *kept = xmalloc(sizeof(entry) * (size_t)(n ? n : 1));
  int nk = 0;
  for (int i = 0; i < n; i++) {
    int m = filter ? matches(items[i], filter, spec, rp) : 1;
    if (m < 0) {
      free(kept);
      free(sort_text);
      cJSON_Delete(filter);
      return;
    }
    if (m) {
      kept[nk].o = items[i];
      kept[nk].idx = i;
      nk++;
    }
  }
  if (nsort) qsort(kept, (size_t)nk, sizeof(entry), cmp_entries);

  cJSON *out = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(out, items_key);
  long end = offset + page_size;
  for (long i = offset; i < nk && i < end; i++) cJSON_AddItemToArray(arr, js_public(kept[i].o));
  char tok[64] = "";
  if (end < nk) token_encode(end, tok);
  js_set_str(out, "next_page_token", tok);
  free(kept);
  free(sort_text);
  cJSON_Delete(filter);
  reply_json(rp, 200, out);
}


void list_reply_where (const request *rq, reply *rp, const list_spec *spec, const char *store_kind,
                       const char *key, const char *value, const char *items_key) {
  cJSON *all = st_list(store_kind);
  int n = 0;
  const cJSON **items = xmalloc(sizeof(cJSON *) * (size_t)(cJSON_GetArraySize(all) + 1));
  const cJSON *o;
  cJSON_ArrayForEach(o, all) {
    if (!value || strcmp(js_str(o, key), value) == 0) items[n++] = o;
  }
  list_reply(rq, rp, spec, items, n, items_key);
  free(items);
}
