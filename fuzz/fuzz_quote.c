/*
** fuzz_quote.c: libFuzzer target for the template filters' quoting (engine/template_quote.c).
** The input bytes go through tq_py_string, tq_sh_word and tq_json_string, and (as a double)
** tq_format_float. Each result is checked by an independent decoder written here:
**   py    printable ASCII only, one '...' literal that decodes back to the input; refused
**         exactly when the input is not valid UTF-8, at the offset of the first bad sequence
**   sh    one single-quoted POSIX word that reads back as the input; refused exactly at a NUL
**   json  ASCII only, a JSON string (cJSON agrees) that decodes back to the input
**   float reads back as the same double and never reads as an integer
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <lua.h>
#include <lauxlib.h>

#include "template_quote.h"

static lua_State *L;

#define FAIL(...) do { fprintf(stderr, "fuzz_quote: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)


/* Offset of the first invalid UTF-8 sequence in s[0..n) (strict, as Python decodes), or n. */
static size_t utf8_bad_at (const uint8_t *s, size_t n) {
  static const uint32_t MIN[] = { 0, 0, 0x80, 0x800, 0x10000 };
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1Fu; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0Fu; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07u; }
    else return i;
    if (n - i < len)
      return i;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return i;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if (cp < MIN[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return n;
}


/* Append code point cp as UTF-8 to out at *n. */
static void put_utf8 (uint8_t *out, size_t *n, uint32_t cp) {
  if (cp < 0x80)
    out[(*n)++] = (uint8_t)cp;
  else if (cp < 0x800) {
    out[(*n)++] = (uint8_t)(0xC0 | (cp >> 6));
    out[(*n)++] = (uint8_t)(0x80 | (cp & 0x3F));
  }
  else if (cp < 0x10000) {
    out[(*n)++] = (uint8_t)(0xE0 | (cp >> 12));
    out[(*n)++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[(*n)++] = (uint8_t)(0x80 | (cp & 0x3F));
  }
  else {
    out[(*n)++] = (uint8_t)(0xF0 | (cp >> 18));
    out[(*n)++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[(*n)++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[(*n)++] = (uint8_t)(0x80 | (cp & 0x3F));
  }
}


/* Parse `digits` hex digits at s; -1 if any is not hex. */
static long hex (const char *s, size_t avail, int digits) {
  long v = 0;
  if (avail < (size_t)digits)
    return -1;
  for (int i = 0; i < digits; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}


/* A zeroed buffer for decoding an n-byte quoted form (it never decodes to more than n bytes). */
static uint8_t *new_scratch (size_t n) {
  uint8_t *p = calloc(n + 1, 1);
  if (p == NULL)
    abort();
  return p;
}


static void all_printable_ascii (const char *what, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
      FAIL("%s: byte 0x%02x at %zu is not printable ASCII", what, (unsigned char)s[i], i);
}


/*
** Decode a Python 3 str literal '...' as tq_py_string writes it into out (UTF-8); returns the
** length. Only the escapes Python gives the same meaning are accepted.
*/
static size_t py_decode (const char *s, size_t n, uint8_t *out) {
  size_t o = 0, i = 1;
  if (n < 2 || s[0] != '\'' || s[n - 1] != '\'')
    FAIL("py: not a '...' literal");
  for (; i < n - 1; i++) {
    long v;
    if (s[i] == '\'')
      FAIL("py: unescaped quote at %zu", i);
    if (s[i] != '\\') {
      out[o++] = (uint8_t)s[i];
      continue;
    }
    if (++i >= n - 1)
      FAIL("py: backslash escapes the closing quote");
    switch (s[i]) {
      case '\\': out[o++] = '\\'; break;
      case '\'': out[o++] = '\''; break;
      case 'n': out[o++] = '\n'; break;
      case 'r': out[o++] = '\r'; break;
      case 't': out[o++] = '\t'; break;
      case 'x': case 'u': case 'U': {
        int digits = s[i] == 'x' ? 2 : s[i] == 'u' ? 4 : 8;
        v = hex(s + i + 1, n - 1 - (i + 1), digits);
        if (v < 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
          FAIL("py: bad \\%c escape at %zu", s[i], i);
        put_utf8(out, &o, (uint32_t)v);
        i += (size_t)digits;
        break;
      }
      default:
        FAIL("py: unknown escape \\%c at %zu", s[i], i);
    }
  }
  return o;
}


/* Read a single-quoted POSIX word ('..'\''..') back into out; returns the length. */
static size_t sh_decode (const char *s, size_t n, uint8_t *out) {
  size_t o = 0, i = 0;
  for (;;) {
    if (i >= n || s[i] != '\'')
      FAIL("sh: expected an opening quote at %zu", i);
    for (i++; i < n && s[i] != '\''; i++)
      out[o++] = (uint8_t)s[i];
    if (i >= n)
      FAIL("sh: unterminated quote");
    i++;
    if (i == n)
      return o;
    if (n - i < 3 || memcmp(s + i, "\\''", 3) != 0)
      FAIL("sh: text after the closing quote at %zu", i);
    out[o++] = '\'';
    i += 2;  /* now at the quote that reopens */
  }
}


/* Decode a JSON string literal into out (UTF-8); returns the length. */
static size_t json_decode (const char *s, size_t n, uint8_t *out) {
  size_t o = 0, i = 1;
  if (n < 2 || s[0] != '"' || s[n - 1] != '"')
    FAIL("json: not a \"...\" string");
  for (; i < n - 1; i++) {
    if (s[i] == '"')
      FAIL("json: unescaped quote at %zu", i);
    if (s[i] != '\\') {
      out[o++] = (uint8_t)s[i];
      continue;
    }
    i++;
    switch (s[i]) {
      case '"': out[o++] = '"'; break;
      case '\\': out[o++] = '\\'; break;
      case 'n': out[o++] = '\n'; break;
      case 'r': out[o++] = '\r'; break;
      case 't': out[o++] = '\t'; break;
      case 'b': out[o++] = '\b'; break;
      case 'f': out[o++] = '\f'; break;
      case 'u': {
        long v = hex(s + i + 1, n - 1 - (i + 1), 4);
        if (v < 0)
          FAIL("json: bad \\u escape at %zu", i);
        i += 4;
        if (v >= 0xD800 && v <= 0xDBFF) {  /* a pair */
          long lo = i + 2 < n - 1 && s[i + 1] == '\\' && s[i + 2] == 'u'
                    ? hex(s + i + 3, n - 1 - (i + 3), 4) : -1;
          if (lo < 0xDC00 || lo > 0xDFFF)
            FAIL("json: lone high surrogate at %zu", i);
          v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
        else if (v >= 0xDC00 && v <= 0xDFFF)
          FAIL("json: lone low surrogate at %zu", i);
        put_utf8(out, &o, (uint32_t)v);
        break;
      }
      default:
        FAIL("json: unknown escape at %zu", i);
    }
  }
  return o;
}


/* Run one quoting function on the input; returns its status, the result on the stack. */
static int quote (int (*fn) (luaL_Buffer *, const char *, size_t, size_t *),
                  const uint8_t *data, size_t size, size_t *bad) {
  luaL_Buffer b;
  int rc;
  luaL_buffinit(L, &b);
  rc = fn(&b, (const char *)data, size, bad);
  luaL_pushresult(&b);
  return rc;
}


static void check_py (const uint8_t *data, size_t size) {
  size_t bad = (size_t)-1, n;
  size_t want_bad = utf8_bad_at(data, size);
  int rc = quote(tq_py_string, data, size, &bad);
  if (want_bad < size) {
    if (rc == 0)
      FAIL("py: accepted invalid UTF-8 at offset %zu", want_bad);
    if (bad != want_bad)
      FAIL("py: reported invalid UTF-8 at %zu, it is at %zu", bad, want_bad);
    lua_pop(L, 1);
    return;
  }
  if (rc != 0)
    FAIL("py: refused valid UTF-8 (offset %zu)", bad);
  const char *s = lua_tolstring(L, -1, &n);
  all_printable_ascii("py", s, n);
  uint8_t *scratch = new_scratch(n);
  size_t got = py_decode(s, n, scratch);
  if (got != size || memcmp(scratch, data, size) != 0)
    FAIL("py: the literal does not decode back to the input");
  free(scratch);
  lua_pop(L, 1);
}


static void check_sh (const uint8_t *data, size_t size) {
  size_t bad = (size_t)-1, n;
  const uint8_t *nul = memchr(data, 0, size);
  int rc = quote(tq_sh_word, data, size, &bad);
  if (nul != NULL) {
    if (rc == 0 || bad != (size_t)(nul - data))
      FAIL("sh: NUL at %zu not refused there (rc %d, bad %zu)", (size_t)(nul - data), rc, bad);
    lua_pop(L, 1);
    return;
  }
  if (rc != 0)
    FAIL("sh: refused input without NUL");
  const char *s = lua_tolstring(L, -1, &n);
  uint8_t *scratch = new_scratch(n);
  size_t got = sh_decode(s, n, scratch);
  if (got != size || memcmp(scratch, data, size) != 0)
    FAIL("sh: the word does not read back as the input");
  free(scratch);
  lua_pop(L, 1);
}


static void check_json (const uint8_t *data, size_t size) {
  size_t bad = (size_t)-1, n;
  size_t want_bad = utf8_bad_at(data, size);
  int rc = quote(tq_json_string, data, size, &bad);
  if (want_bad < size) {
    if (rc == 0 || bad != want_bad)
      FAIL("json: invalid UTF-8 at %zu not refused there (rc %d, bad %zu)", want_bad, rc, bad);
    lua_pop(L, 1);
    return;
  }
  if (rc != 0)
    FAIL("json: refused valid UTF-8");
  const char *s = lua_tolstring(L, -1, &n);
  all_printable_ascii("json", s, n);
  uint8_t *scratch = new_scratch(n);
  size_t got = json_decode(s, n, scratch);
  if (got != size || memcmp(scratch, data, size) != 0)
    FAIL("json: the string does not decode back to the input");
  cJSON *j = cJSON_ParseWithLength(s, n);
  if (!cJSON_IsString(j))
    FAIL("json: cJSON does not read it as a string");
  if (memchr(data, 0, size) == NULL && strcmp(j->valuestring, (const char *)scratch) != 0)
    FAIL("json: cJSON reads another string");
  cJSON_Delete(j);
  free(scratch);
  lua_pop(L, 1);
}


static void check_float (const uint8_t *data, size_t size) {
  double d;
  char buf[32];
  if (size < sizeof d)
    return;
  memcpy(&d, data, sizeof d);
  if (!isfinite(d))
    return;  /* the renderer refuses these before formatting */
  tq_format_float(buf, sizeof buf, d);
  if (strlen(buf) >= sizeof buf - 1)
    FAIL("float: %s fills the buffer", buf);
  if (strtod(buf, NULL) != d || signbit(strtod(buf, NULL)) != signbit(d))
    FAIL("float: %s does not read back as %.17g", buf, d);
  if (strpbrk(buf, ".e") == NULL)
    FAIL("float: %s would read as an integer", buf);
}


int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  if (L == NULL && (L = luaL_newstate()) == NULL)
    abort();
  check_py(data, size);
  check_sh(data, size);
  check_json(data, size);
  check_float(data, size);
  lua_settop(L, 0);
  return 0;
}
