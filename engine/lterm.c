/*
** lterm.c: raycai.term: the one door to the terminal. Everything the host prints goes through
** term.write, which replaces every registered secret by "***" first.
** Secrets live in a registry table (per Lua state), not in C statics.
*/
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "raycai.h"

#define SECRETS_KEY "raycai.secrets"
#define MASK "***"


/* Push the secrets table (an array of strings), creating it on first use. */
static void push_secrets (lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, SECRETS_KEY);
}


/*
** Push s[0..len) with each registered secret replaced by "***". Secrets are kept longest first
** (term.secret sorts them), so a secret that contains another is masked whole.
*/
void raycai_push_redacted (lua_State *L, const char *s, size_t len) {
  typedef struct Secret { const char *s; size_t len; } Secret;
  Secret *sec;
  lua_Integer n, k;
  int t, count = 0;
  luaL_Buffer b;
  size_t i = 0;
  push_secrets(L);
  t = lua_absindex(L, -1);
  n = luaL_len(L, t);
  if (n == 0) {
    lua_pop(L, 1);  /* pop secrets table */
    lua_pushlstring(L, s, len);
    return;
  }
  sec = (Secret *)lua_newuserdatauv(L, (size_t)n * sizeof(Secret), 0);
  for (k = 1; k <= n; k++) {
    lua_rawgeti(L, t, k);  /* strings stay alive: the table holds them */
    sec[count].s = lua_tolstring(L, -1, &sec[count].len);
    lua_pop(L, 1);
    if (sec[count].s != NULL && sec[count].len > 0 && sec[count].len <= len)
      count++;
  }
  luaL_buffinit(L, &b);
  while (i < len) {
    int j, matched = 0;
    for (j = 0; j < count; j++) {
      if (sec[j].len <= len - i && memcmp(s + i, sec[j].s, sec[j].len) == 0) {
        luaL_addstring(&b, MASK);
        i += sec[j].len;
        matched = 1;
        break;
      }
    }
    if (!matched)
      luaL_addchar(&b, s[i++]);
  }
  luaL_pushresult(&b);
  lua_rotate(L, t, -2);
  lua_pop(L, 2);  /* pop secrets table and array */
}


/* term.secret(value): register value so no output shows it. Empty values are ignored. */
static int term_secret (lua_State *L) {
  size_t len, n, k;
  luaL_checklstring(L, 1, &len);
  if (len == 0)
    return 0;
  push_secrets(L);
  n = (size_t)luaL_len(L, -1);
  for (k = 1; k <= n; k++) {  /* already known? */
    lua_rawgeti(L, -1, (lua_Integer)k);
    if (lua_rawequal(L, -1, 1)) {
      lua_pop(L, 2);
      return 0;
    }
    lua_pop(L, 1);
  }
  /* insert keeping the array sorted longest first */
  k = n + 1;
  while (k > 1) {
    lua_rawgeti(L, -1, (lua_Integer)(k - 1));
    if (lua_rawlen(L, -1) >= len) {
      lua_pop(L, 1);
      break;
    }
    lua_rawseti(L, -2, (lua_Integer)k);  /* shift the shorter secret up */
    k--;
  }
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, (lua_Integer)k);
  lua_pop(L, 1);
  return 0;
}


/* term.redact(s) -> s with every secret replaced by "***". */
static int term_redact (lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  raycai_push_redacted(L, s, len);
  return 1;
}


static FILE *check_stream (lua_State *L, int arg) {
  static const char *const names[] = {"stdout", "stderr", NULL};
  int which = luaL_checkoption(L, arg, NULL, names);
  return which == 0 ? stdout : stderr;
}


/* term.write("stdout"|"stderr", s): write s redacted, then flush. Returns true or nil, err. */
static int term_write (lua_State *L) {
  FILE *f = check_stream(L, 1);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  const char *out;
  raycai_push_redacted(L, s, len);
  out = lua_tolstring(L, -1, &len);
  if (fwrite(out, 1, len, f) != len || fflush(f) != 0)
    return luaL_fileresult(L, 0, lua_tostring(L, 1));
  lua_pushboolean(L, 1);
  return 1;
}


/* term.isatty("stdout"|"stderr") -> boolean. */
static int term_isatty (lua_State *L) {
  FILE *f = check_stream(L, 1);
  lua_pushboolean(L, isatty(fileno(f)));
  return 1;
}


/* term.width("stdout"|"stderr") -> columns of the terminal, or 80 when not a terminal. */
static int term_width (lua_State *L) {
  FILE *f = check_stream(L, 1);
  struct winsize ws;
  if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    lua_pushinteger(L, ws.ws_col);
  else
    lua_pushinteger(L, 80);
  return 1;
}


static const luaL_Reg term_funcs[] = {
  {"secret", term_secret},
  {"redact", term_redact},
  {"write", term_write},
  {"isatty", term_isatty},
  {"width", term_width},
  {NULL, NULL}
};


int luaopen_raycai_term (lua_State *L) {
  luaL_newlib(L, term_funcs);
  return 1;
}
