/*
** template_quote.c: the escaping behind the | py, | sh and | json filters (see template_quote.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_quote.h"

static const char HEX[] = "0123456789abcdef";


size_t tq_utf8_decode (const unsigned char *s, size_t n, unsigned long *cp) {
  unsigned char c = s[0], lo = 0x80, hi = 0xBF;
  size_t len, i;
  unsigned long v;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    v = c & 0x1Fu;
  }
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    v = c & 0x0Fu;
    if (c == 0xE0)
      lo = 0xA0;  /* overlong */
    else if (c == 0xED)
      hi = 0x9F;  /* surrogates */
  }
  else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    v = c & 0x07u;
    if (c == 0xF0)
      lo = 0x90;  /* overlong */
    else if (c == 0xF4)
      hi = 0x8F;  /* above U+10FFFF */
  }
  else
    return 0;  /* continuation byte, C0/C1 (overlong) or F5..FF */
  if (n < len)
    return 0;
  for (i = 1; i < len; i++) {
    unsigned char k = s[i];
    if (k < lo || k > hi)
      return 0;
    lo = 0x80;
    hi = 0xBF;
    v = (v << 6) | (k & 0x3Fu);
  }
  *cp = v;
  return len;
}


/*
** Append s[0..len) between the quotes q: printable ASCII but q and the backslash as it is, every
** other character (strictly validated UTF-8) through escape. 0, or -1 with *bad = the offset of
** the first invalid sequence. The one loop behind | py and | json.
*/
static int quote_utf8 (luaL_Buffer *b, const char *s, size_t len, size_t *bad, char q,
                       void (*escape) (luaL_Buffer *, unsigned long)) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  luaL_addchar(b, q);
  while (i < len) {
    size_t j = i, n;
    unsigned long cp;
    while (j < len && u[j] >= 0x20 && u[j] < 0x7F && u[j] != (unsigned char)q && u[j] != '\\')
      j++;
    if (j > i) {
      luaL_addlstring(b, s + i, j - i);
      i = j;
      continue;
    }
    n = tq_utf8_decode(u + i, len - i, &cp);
    if (n == 0) {
      *bad = i;
      return -1;
    }
    escape(b, cp);
    i += n;
  }
  luaL_addchar(b, q);
  return 0;
}


/* Append the Python escape of cp. */
static void py_escape (luaL_Buffer *b, unsigned long cp) {
  char esc[24];
  switch (cp) {
    case '\\': luaL_addstring(b, "\\\\"); break;
    case '\'': luaL_addstring(b, "\\'"); break;
    case '\n': luaL_addstring(b, "\\n"); break;
    case '\r': luaL_addstring(b, "\\r"); break;
    case '\t': luaL_addstring(b, "\\t"); break;
    default:
      if (cp < 0x80)
        snprintf(esc, sizeof esc, "\\x%c%c", HEX[cp >> 4], HEX[cp & 15]);
      else if (cp < 0x10000)
        snprintf(esc, sizeof esc, "\\u%04lx", cp);
      else
        snprintf(esc, sizeof esc, "\\U%08lx", cp);
      luaL_addstring(b, esc);
  }
}


int tq_py_string (luaL_Buffer *b, const char *s, size_t len, size_t *bad) {
  return quote_utf8(b, s, len, bad, '\'', py_escape);
}


int tq_sh_word (luaL_Buffer *b, const char *s, size_t len, size_t *bad) {
  size_t i = 0;
  const char *nul = memchr(s, '\0', len);
  if (nul != NULL) {
    *bad = (size_t)(nul - s);
    return -1;
  }
  luaL_addchar(b, '\'');
  while (i < len) {
    const char *q = memchr(s + i, '\'', len - i);
    size_t j = q ? (size_t)(q - s) : len;
    luaL_addlstring(b, s + i, j - i);
    if (q != NULL)
      luaL_addstring(b, "'\\''");
    i = q ? j + 1 : len;
  }
  luaL_addchar(b, '\'');
  return 0;
}


/* Append \uXXXX for a code unit below 0x10000. */
static void json_u (luaL_Buffer *b, unsigned long u) {
  char esc[24];
  snprintf(esc, sizeof esc, "\\u%04lx", u);
  luaL_addstring(b, esc);
}


/* Append the JSON escape of cp (a surrogate pair above U+FFFF). */
static void json_escape (luaL_Buffer *b, unsigned long cp) {
  switch (cp) {
    case '"': luaL_addstring(b, "\\\""); break;
    case '\\': luaL_addstring(b, "\\\\"); break;
    case '\n': luaL_addstring(b, "\\n"); break;
    case '\r': luaL_addstring(b, "\\r"); break;
    case '\t': luaL_addstring(b, "\\t"); break;
    case '\b': luaL_addstring(b, "\\b"); break;
    case '\f': luaL_addstring(b, "\\f"); break;
    default:
      if (cp < 0x10000)
        json_u(b, cp);
      else {
        cp -= 0x10000;
        json_u(b, 0xD800 + (cp >> 10));
        json_u(b, 0xDC00 + (cp & 0x3FF));
      }
  }
}


int tq_json_string (luaL_Buffer *b, const char *s, size_t len, size_t *bad) {
  return quote_utf8(b, s, len, bad, '"', json_escape);
}


void tq_format_float (char *buf, size_t size, double d) {
  size_t n;
  int prec;
  for (prec = 15; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  n = strlen(buf);
  if (strpbrk(buf, ".eEni") == NULL && n + 3 <= size)
    memcpy(buf + n, ".0", 3);
}
