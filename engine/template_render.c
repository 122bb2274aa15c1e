/*
** template_render.c: raycai.template's renderer (see template.h): walks the nodes, looks
** variables up with raw access (no metamethods, never a call), applies | py, | sh, | json and
** default(), and appends to a luaL_Buffer. Between buffer operations the Lua stack is always
** back where it was, as luaL_Buffer requires; JSON nests one buffer per table level.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "template_quote.h"

#define JSONDEPTH 64  /* nested tables under | json */

typedef struct Key {
  const char *s;
  size_t len;
} Key;


static int is_null (lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}


/* Push t[key] for the path segment s[0..n) (raw access); digits index arrays first. */
static void get_key (lua_State *L, int t, const char *s, size_t n) {
  size_t i = 0;
  lua_Integer k = 0;
  while (i < n && i < 18 && s[i] >= '0' && s[i] <= '9')
    k = k * 10 + (s[i++] - '0');
  if (i == n) {
    lua_rawgeti(L, t, k);
    if (!lua_isnil(L, -1))
      return;
    lua_pop(L, 1);
  }
  lua_pushlstring(L, s, n);
  lua_rawget(L, t);
}


/*
** Push the value of the node's path (nil when missing). The first name is looked up in the
** #each elements innermost first, then in the variables. 0, or -1 for a function value.
*/
static int resolve (Tmpl *T, const Node *nd) {
  lua_State *L = T->L;
  const char *p = nd->s, *e = nd->s + nd->len;
  if (nd->sub == P_INDEX) {
    lua_pushinteger(L, T->index[T->depth]);
    return 0;
  }
  if (nd->sub == P_THIS) {
    if (T->depth > 0)
      lua_rawgeti(L, T->scopes, T->depth);
    else
      lua_pushvalue(L, T->vars);
    p += 4;
  }
  else {
    const char *q = tmpl_seg_end(p, e);
    int d, found = 0;
    for (d = T->depth; d >= 1 && !found; d--) {
      lua_rawgeti(L, T->scopes, d);
      if (lua_type(L, -1) == LUA_TTABLE) {
        get_key(L, lua_gettop(L), p, (size_t)(q - p));
        lua_remove(L, -2);  /* remove the element */
        found = !lua_isnil(L, -1);
        if (!found)
          lua_pop(L, 1);
      }
      else
        lua_pop(L, 1);
    }
    if (!found)
      get_key(L, T->vars, p, (size_t)(q - p));
    p = q;
  }
  while (p < e) {  /* at a '.' */
    const char *q = tmpl_seg_end(++p, e);
    if (lua_type(L, -1) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_pushnil(L);
      break;
    }
    get_key(L, lua_gettop(L), p, (size_t)(q - p));
    lua_remove(L, -2);  /* remove the parent */
    p = q;
  }
  if (lua_type(L, -1) == LUA_TFUNCTION)
    return tmpl_fail(T, nd->line, "'%.*s' is a function (templates never call code)",
                 (int)nd->len, nd->s);
  return 0;
}


static int undefined (Tmpl *T, const Node *nd) {
  return tmpl_fail(T, nd->line, "undefined variable '%.*s'", (int)nd->len, nd->s);
}


/* Truth of a value for {{#if}}: nil, false, null, "" and an empty table are false. */
static int truthy (lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return 0;
    case LUA_TBOOLEAN: return lua_toboolean(L, idx);
    case LUA_TSTRING: return lua_rawlen(L, idx) > 0;
    case LUA_TLIGHTUSERDATA: return lua_touserdata(L, idx) != NULL;
    case LUA_TTABLE: {
      int nonempty;
      lua_pushnil(L);
      nonempty = lua_next(L, idx);
      if (nonempty)
        lua_pop(L, 2);  /* pop key and value */
      return nonempty;
    }
    default: return 1;
  }
}


/* Format a number for Python or JSON into buf; -1 for inf and nan. */
static int format_number (lua_State *L, int idx, char *buf, size_t size) {
  if (lua_isinteger(L, idx)) {
    snprintf(buf, size, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
    return 0;
  }
  {
    double d = (double)lua_tonumber(L, idx);
    if (!isfinite(d))
      return -1;
    tq_format_float(buf, size, d);
    return 0;
  }
}


/* | py: replace the value on top by its Python literal. */
static int filter_py (Tmpl *T, const Node *nd) {
  lua_State *L = T->L;
  char num[64];
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
      size_t len, bad;
      const char *s = lua_tolstring(L, -1, &len);
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      if (tq_py_string(&b, s, len, &bad) != 0)
        return tmpl_fail(T, nd->line, "| py: '%.*s' is not valid UTF-8 (at byte %zu)",
                     (int)nd->len, nd->s, bad + 1);
      luaL_pushresult(&b);
      lua_remove(L, -2);  /* remove the original */
      return 0;
    }
    case LUA_TNUMBER:
      if (format_number(L, -1, num, sizeof num) != 0)
        return tmpl_fail(T, nd->line, "| py: '%.*s' is not a finite number", (int)nd->len, nd->s);
      lua_pop(L, 1);
      lua_pushstring(L, num);
      return 0;
    case LUA_TBOOLEAN: {
      int v = lua_toboolean(L, -1);
      lua_pop(L, 1);
      lua_pushstring(L, v ? "True" : "False");
      return 0;
    }
    case LUA_TNIL:
      lua_pop(L, 1);
      lua_pushliteral(L, "None");
      return 0;
    case LUA_TLIGHTUSERDATA:
      if (is_null(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "None");
        return 0;
      }
      break;
    case LUA_TTABLE:
      return tmpl_fail(T, nd->line, "| py: '%.*s' is a table (use | json | py)", (int)nd->len, nd->s);
    default:
      break;
  }
  return tmpl_fail(T, nd->line, "| py: '%.*s' is a %s", (int)nd->len, nd->s, luaL_typename(L, -1));
}


/* | sh: replace the string or number on top by a single-quoted shell word. */
static int filter_sh (Tmpl *T, const Node *nd) {
  lua_State *L = T->L;
  size_t len, bad;
  const char *s;
  luaL_Buffer b;
  int t = lua_type(L, -1);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    return tmpl_fail(T, nd->line, "| sh: '%.*s' is a %s, not a string or number", (int)nd->len,
                 nd->s, is_null(L, -1) ? "null" : luaL_typename(L, -1));
  s = lua_tolstring(L, -1, &len);
  luaL_buffinit(L, &b);
  if (tq_sh_word(&b, s, len, &bad) != 0)
    return tmpl_fail(T, nd->line, "| sh: '%.*s' holds a NUL byte (at byte %zu)", (int)nd->len, nd->s,
                 bad + 1);
  luaL_pushresult(&b);
  lua_remove(L, -2);  /* remove the original */
  return 0;
}


static int key_cmp (const void *a, const void *b) {
  const Key *x = (const Key *)a, *y = (const Key *)b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c != 0)
    return c;
  return (x->len > y->len) - (x->len < y->len);
}


static int json_value (Tmpl *T, const Node *nd, int idx, int depth);


/*
** Push the JSON of the table at idx: an array when its keys are exactly 1..n, an object with
** sorted keys when they are all strings, {} when empty. Each level builds its own buffer and
** hands its result up, so values can be pushed between buffer operations.
*/
static int json_table (Tmpl *T, const Node *nd, int idx, int depth) {
  lua_State *L = T->L;
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0, ints = 0, strs = 0, k;
  luaL_Buffer b;
  if (depth >= JSONDEPTH)
    return tmpl_fail(T, nd->line, "| json: '%.*s' is nested more than %d deep (a cycle?)",
                 (int)nd->len, nd->s, JSONDEPTH);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);  /* pop value, keep key */
    count++;
    if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n)
      ints++;
    else if (lua_type(L, -1) == LUA_TSTRING)
      strs++;
  }
  if (count == 0) {
    lua_pushliteral(L, "{}");
    return 0;
  }
  if (ints == count && ints == n) {
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '[');
    for (k = 1; k <= n; k++) {
      if (k > 1)
        luaL_addchar(&b, ',');
      lua_rawgeti(L, idx, k);
      if (json_value(T, nd, lua_gettop(L), depth + 1) != 0)
        return -1;
      lua_remove(L, -2);  /* remove the element, keep its JSON */
      luaL_addvalue(&b);
    }
    luaL_addchar(&b, ']');
    luaL_pushresult(&b);
    return 0;
  }
  if (strs != count)
    return tmpl_fail(T, nd->line, "| json: a table in '%.*s' is neither an array nor an object "
                 "with string keys", (int)nd->len, nd->s);
  {
    Key *keys = (Key *)lua_newuserdatauv(L, (size_t)count * sizeof(Key), 0);
    k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {  /* the table keeps the key strings alive */
      lua_pop(L, 1);
      keys[k].s = lua_tolstring(L, -1, &keys[k].len);
      k++;
    }
    qsort(keys, (size_t)count, sizeof(Key), key_cmp);
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '{');
    for (k = 0; k < count; k++) {
      size_t bad;
      if (k > 0)
        luaL_addchar(&b, ',');
      if (tq_json_string(&b, keys[k].s, keys[k].len, &bad) != 0)
        return tmpl_fail(T, nd->line, "| json: a key in '%.*s' is not valid UTF-8", (int)nd->len,
                     nd->s);
      luaL_addchar(&b, ':');
      lua_pushlstring(L, keys[k].s, keys[k].len);
      lua_rawget(L, idx);
      if (json_value(T, nd, lua_gettop(L), depth + 1) != 0)
        return -1;
      lua_remove(L, -2);  /* remove the value, keep its JSON */
      luaL_addvalue(&b);
    }
    luaL_addchar(&b, '}');
    luaL_pushresult(&b);
    lua_remove(L, -2);  /* remove the keys */
  }
  return 0;
}


/* Push the JSON text of the value at idx (absolute); 0, or -1 after tmpl_fail. */
static int json_value (Tmpl *T, const Node *nd, int idx, int depth) {
  lua_State *L = T->L;
  char num[64];
  luaL_checkstack(L, 8, "| json: nested too deeply");
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      lua_pushliteral(L, "null");
      return 0;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
      return 0;
    case LUA_TNUMBER:
      if (format_number(L, idx, num, sizeof num) != 0)
        return tmpl_fail(T, nd->line, "| json: '%.*s' holds a number that is not finite",
                     (int)nd->len, nd->s);
      lua_pushstring(L, num);
      return 0;
    case LUA_TSTRING: {
      size_t len, bad;
      const char *s = lua_tolstring(L, idx, &len);
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      if (tq_json_string(&b, s, len, &bad) != 0)
        return tmpl_fail(T, nd->line, "| json: '%.*s' holds a string that is not valid UTF-8 "
                     "(at byte %zu)", (int)nd->len, nd->s, bad + 1);
      luaL_pushresult(&b);
      return 0;
    }
    case LUA_TTABLE:
      return json_table(T, nd, idx, depth);
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) {
        lua_pushliteral(L, "null");
        return 0;
      }
      break;
    default:
      break;
  }
  return tmpl_fail(T, nd->line, "| json: '%.*s' holds a %s", (int)nd->len, nd->s,
               luaL_typename(L, idx));
}


/* Render the VAR node at i and its filters; the text is added to b. */
static int render_var (Tmpl *T, luaL_Buffer *b, int i) {
  lua_State *L = T->L;
  const Node *nd = &T->nodes[i];
  int k, missing;
  if (resolve(T, nd) != 0)
    return -1;
  missing = lua_isnil(L, -1);
  for (k = 1; k <= nd->aux; k++) {
    const Node *f = &T->nodes[i + k];
    int rc = 0;
    if (f->sub == F_DEFAULT) {
      if (lua_isnil(L, -1) || is_null(L, -1)) {
        lua_pop(L, 1);
        lua_rawgeti(L, T->consts, f->aux);
        missing = 0;
      }
      continue;
    }
    if (missing)
      return undefined(T, nd);
    if (f->sub == F_PY)
      rc = filter_py(T, nd);
    else if (f->sub == F_SH)
      rc = filter_sh(T, nd);
    else {
      rc = json_value(T, nd, lua_gettop(L), 0);
      if (rc == 0)
        lua_remove(L, -2);  /* remove the value, keep its JSON */
    }
    if (rc != 0)
      return -1;
  }
  if (missing)
    return undefined(T, nd);
  switch (lua_type(L, -1)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
      luaL_addvalue(b);
      return 0;
    case LUA_TBOOLEAN: {
      int v = lua_toboolean(L, -1);
      lua_pop(L, 1);
      luaL_addstring(b, v ? "true" : "false");
      return 0;
    }
    case LUA_TNIL:  /* default(null) */
      lua_pop(L, 1);
      return 0;
    case LUA_TTABLE:
      return tmpl_fail(T, nd->line, "'%.*s' is a table (insert it with | json)", (int)nd->len, nd->s);
    default:
      if (is_null(L, -1)) {
        lua_pop(L, 1);
        return 0;
      }
      return tmpl_fail(T, nd->line, "'%.*s' is a %s and cannot be inserted", (int)nd->len, nd->s,
                   luaL_typename(L, -1));
  }
}


static int render_range (Tmpl *T, luaL_Buffer *b, int from, int to);


/* Render the #each node at i: its body once per element of the array. */
static int render_each (Tmpl *T, luaL_Buffer *b, int i) {
  lua_State *L = T->L;
  const Node *nd = &T->nodes[i];
  lua_Integer n, k;
  int d;
  if (resolve(T, nd) != 0)
    return -1;
  if (lua_isnil(L, -1))
    return undefined(T, nd);
  if (lua_type(L, -1) != LUA_TTABLE)
    return tmpl_fail(T, nd->line, "'%.*s' is a %s, {{#each}} needs an array", (int)nd->len, nd->s,
                 is_null(L, -1) ? "null" : luaL_typename(L, -1));
  n = (lua_Integer)lua_rawlen(L, -1);
  if (n == 0 && truthy(L, lua_gettop(L)))
    return tmpl_fail(T, nd->line, "'%.*s' is a table with keys, {{#each}} needs an array",
                 (int)nd->len, nd->s);
  d = ++T->depth;
  lua_rawseti(L, T->scopes, -d);  /* pops the list */
  for (k = 1; k <= n; k++) {
    lua_rawgeti(L, T->scopes, -d);
    lua_rawgeti(L, -1, k);
    lua_remove(L, -2);  /* remove the list */
    if (lua_type(L, -1) == LUA_TFUNCTION)
      return tmpl_fail(T, nd->line, "'%.*s' holds a function (templates never call code)",
                   (int)nd->len, nd->s);
    lua_rawseti(L, T->scopes, d);  /* pops the element */
    T->index[d] = k;
    if (render_range(T, b, i + 1, nd->aux) != 0)
      return -1;
  }
  lua_pushnil(L);
  lua_rawseti(L, T->scopes, d);
  lua_pushnil(L);
  lua_rawseti(L, T->scopes, -d);
  T->depth--;
  return 0;
}


/* Render nodes[from..to) into b. The stack is balanced between buffer operations. */
static int render_range (Tmpl *T, luaL_Buffer *b, int from, int to) {
  int i = from;
  while (i < to) {
    const Node *nd = &T->nodes[i];
    switch (nd->kind) {
      case N_TEXT:
        luaL_addlstring(b, nd->s, nd->len);
        i++;
        break;
      case N_VAR:
        if (render_var(T, b, i) != 0)
          return -1;
        i += 1 + nd->aux;
        break;
      case N_IF: {
        int t, target = nd->aux;
        int end = T->nodes[target].kind == N_ELSE ? T->nodes[target].aux : target;
        if (resolve(T, nd) != 0)
          return -1;
        t = truthy(T->L, lua_gettop(T->L));
        lua_pop(T->L, 1);
        if (t && render_range(T, b, i + 1, target) != 0)
          return -1;
        if (!t && target != end && render_range(T, b, target + 1, end) != 0)
          return -1;
        i = end + 1;
        break;
      }
      case N_EACH:
        if (render_each(T, b, i) != 0)
          return -1;
        i = nd->aux + 1;
        break;
      default:
        i++;
        break;
    }
  }
  return 0;
}


int tmpl_render_nodes (Tmpl *T, luaL_Buffer *b) {
  return render_range(T, b, 0, T->n);
}
