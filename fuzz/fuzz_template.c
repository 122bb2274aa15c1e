/*
** fuzz_template.c: libFuzzer target for raycai.template (engine/ltemplate.c, template_*.c).
** The input is template text, rendered against one fixed variables table: the launcher
** variables the real templates use, plus lists, deep and cyclic tables, a function, JSON null,
** odd numbers and strings with quotes, NULs and invalid UTF-8.
** Oracles, besides ASan/UBSan: render and check never raise (only out of memory may); they
** return a string (render), true (check), or nil and a message naming the template and line;
** and when check finds a syntax error, render fails with the very same message.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "raycai.h"

static lua_State *L;
static int ref_render, ref_check, ref_vars;

/* The variables; _fn, _null, deep and cycle are filled in by init(). */
static const char VARS[] =
  "return {\n"
  "  cluster = { name = 'gpu', gcs_port = 6379 },\n"
  "  venv = { dir = '.raycai/venvs/d444b8398166de6c', python = 'python3' },\n"
  "  setup = { packages = { 'ray[default]==2.40.0', \"it's\", 'caf\\u{e9}' }, index_url = '',\n"
  "            fingerprint = 'd444b8398166de6c', log = '.raycai/gpu/setup.log',\n"
  "            job_name = 'raycai-gpu-setup' },\n"
  "  head = { cpus = 4 }, worker = { cpus = 8, gpus = 1.5 },\n"
  "  timeouts = { head_wait = 600, ray_start = 120.25 }, ray_start_retries = 3,\n"
  "  list = { 'a', 'b\\n', { name = 'x', n = 1 }, 4.5, true, false },\n"
  "  empty = {}, map = { a = 1, b = { c = 'd' } }, t = true, f = false, zero = 0,\n"
  "  str = 'a\\'b\"c\\\\d\\0e\\tf', bad = 'x\\xff\\xc3(', big = math.maxinteger,\n"
  "  small = math.mininteger, nan = 0/0, inf = 1/0, ninf = -1/0, negz = -0.0, tiny = 5e-324,\n"
  "  emoji = '\\u{1F600}', [1] = 'one', ['0'] = 'zero-string', ['with space'] = 1,\n"
  "  ['a-b'] = 'dash', _ = 'underscore',\n"
  "}\n";


/* Nested tables `depth` levels deep under vars.deep. */
static void add_deep (int vars, int depth) {
  lua_newtable(L);
  for (int i = 0; i < depth; i++) {
    lua_newtable(L);
    lua_insert(L, -2);
    lua_setfield(L, -2, "x");
  }
  lua_setfield(L, vars, "deep");
}


static int a_function (lua_State *S) {
  lua_pushliteral(S, "never called");
  return 1;
}


static void init (void) {
  L = luaL_newstate();
  if (L == NULL)
    abort();
  luaL_openlibs(L);
  luaL_requiref(L, "raycai.template", luaopen_raycai_template, 0);
  lua_getfield(L, -1, "render");
  ref_render = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, -1, "check");
  ref_check = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  if (luaL_dostring(L, VARS) != LUA_OK) {
    fprintf(stderr, "fuzz_template: VARS: %s\n", lua_tostring(L, -1));
    abort();
  }
  int vars = lua_gettop(L);
  lua_pushcfunction(L, a_function);
  lua_setfield(L, vars, "_fn");
  lua_pushlightuserdata(L, NULL);  /* cjson.null */
  lua_setfield(L, vars, "_null");
  add_deep(vars, 80);
  lua_newtable(L);                 /* cycle = { self = cycle } */
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "self");
  lua_setfield(L, vars, "cycle");
  ref_vars = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
}


/* Call fn(text, [vars,] {name = "fuzz.tmpl"}); returns the status, results on the stack. */
static int call (int ref, const uint8_t *data, size_t size, int with_vars) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_pushlstring(L, (const char *)data, size);
  if (with_vars)
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref_vars);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "fuzz.tmpl");
  lua_setfield(L, -2, "name");
  return lua_pcall(L, with_vars ? 3 : 2, 2, 0);
}


/* A failure: nil and "fuzz.tmpl:<line>: <message>". */
static void check_failure (int at, const char *what) {
  const char *msg = lua_tostring(L, at + 1);
  if (!lua_isnil(L, at) || msg == NULL || strncmp(msg, "fuzz.tmpl:", 10) != 0) {
    fprintf(stderr, "fuzz_template: %s: bad failure shape: %s\n", what, msg ? msg : "(no message)");
    abort();
  }
}


int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  if (L == NULL)
    init();
  if (call(ref_check, data, size, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_template: check raised: %s\n", lua_tostring(L, -1));
    abort();
  }
  int syntax_ok = lua_toboolean(L, 1);
  if (!syntax_ok)
    check_failure(1, "check");
  else if (lua_type(L, 1) != LUA_TBOOLEAN) {
    fprintf(stderr, "fuzz_template: check returned a %s\n", luaL_typename(L, 1));
    abort();
  }
  if (call(ref_render, data, size, 1) != LUA_OK) {
    fprintf(stderr, "fuzz_template: render raised: %s\n", lua_tostring(L, -1));
    abort();
  }
  if (lua_type(L, 3) != LUA_TSTRING) {
    check_failure(3, "render");
    if (!syntax_ok && strcmp(lua_tostring(L, 2), lua_tostring(L, 4)) != 0) {
      fprintf(stderr, "fuzz_template: check said '%s' but render said '%s'\n",
              lua_tostring(L, 2), lua_tostring(L, 4));
      abort();
    }
  }
  else if (!syntax_ok) {
    fprintf(stderr, "fuzz_template: check failed (%s) but render succeeded\n", lua_tostring(L, 2));
    abort();
  }
  lua_settop(L, 0);
  return 0;
}
