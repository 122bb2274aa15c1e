/*
** template_quote.h: byte-level quoting for raycai.template's filters: Python str literals,
** POSIX shell words and JSON strings, all ASCII-only, with strict UTF-8 validation.
** The functions append to a luaL_Buffer whose box is on top of the stack and never raise
** except for memory (the buffer lives on the Lua stack, so nothing leaks).
*/
#ifndef TEMPLATE_QUOTE_H
#define TEMPLATE_QUOTE_H

#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

/*
** Decode one UTF-8 sequence at s[0..n): returns its length (1-4) and sets *cp, or 0 when the
** bytes are not valid UTF-8 (truncated, overlong, a surrogate, or above U+10FFFF).
*/
size_t tq_utf8_decode (const unsigned char *s, size_t n, unsigned long *cp);

/* Append s[0..len) as a Python 3 str literal; 0, or -1 with *bad = offset of invalid UTF-8. */
int tq_py_string (luaL_Buffer *b, const char *s, size_t len, size_t *bad);

/* Append s[0..len) as a single-quoted POSIX shell word; 0, or -1 with *bad = offset of a NUL. */
int tq_sh_word (luaL_Buffer *b, const char *s, size_t len, size_t *bad);

/*
** Append s[0..len) as a JSON string escaped as Python's json.dumps does by default
** (ensure_ascii); 0, or -1 with *bad = offset of invalid UTF-8.
*/
int tq_json_string (luaL_Buffer *b, const char *s, size_t len, size_t *bad);

/*
** Format a finite double as the shortest decimal that reads back exactly (%.15g..%.17g),
** with ".0" added when it would otherwise read as an integer. buf needs 32 bytes.
*/
void tq_format_float (char *buf, size_t size, double d);

#endif
