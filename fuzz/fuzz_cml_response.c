/*
** fuzz_cml_response.c: libFuzzer target for the client's response handling: a Lua state like
** raycai-run's (the C primitives, cjson, cjson.safe, the Lua library from the source tree) runs
** fuzz/cml_response.lua, which hands the input to raycai.cml through a fake transport and to
** lua-cjson. Any Lua error escaping it is a bug (the client must turn every response into a
** value or an error), reported with a traceback and abort().
** libFuzzer only sees C coverage, and the code under test is Lua: a line hook turns each step
** from one Lua line to the next into a counter in libFuzzer's "extra counters" section, so
** the fuzzer is guided by the Lua paths too (AFL-style edges: previous line, this line).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <lua-cjson.h>

#include "raycai.h"

int luaopen_cjson_safe (lua_State *L);

static lua_State *L;
static int ref_driver;

#define NCOUNTERS (1u << 16)
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t lua_edges[NCOUNTERS];
static uintptr_t prev_line;


/* Line hook: count the edge (previous line -> this line) of the Lua code being run. */
static void line_hook (lua_State *S, lua_Debug *ar) {
  uintptr_t cur;
  if (lua_getinfo(S, "S", ar) == 0)
    return;
  cur = (uintptr_t)ar->source * 2654435761u + (uintptr_t)ar->currentline * 40503u;
  cur ^= cur >> 16;
  lua_edges[(cur ^ prev_line) & (NCOUNTERS - 1)]++;
  prev_line = cur >> 1;
}


static int traceback (lua_State *S) {
  luaL_traceback(S, S, lua_tostring(S, 1), 1);
  return 1;
}


static void init (void) {
  L = luaL_newstate();
  if (L == NULL)
    abort();
  luaL_openlibs(L);
  raycai_preload(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_raycai_http);
  lua_setfield(L, -2, "raycai.http");
  lua_pushcfunction(L, luaopen_cjson);
  lua_setfield(L, -2, "cjson");
  lua_pushcfunction(L, luaopen_cjson_safe);
  lua_setfield(L, -2, "cjson.safe");
  lua_pop(L, 1);
  /* the Lua library of the source tree, or $RAYCAI_LUA_PATH (as raycai-run takes it) */
  const char *dir = getenv("RAYCAI_LUA_PATH");
  if (dir == NULL || *dir == '\0')
    dir = RAYCAI_SOURCE_DIR "/lua";
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", dir, dir);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  lua_pushcfunction(L, traceback);
  if (luaL_loadfile(L, RAYCAI_SOURCE_DIR "/fuzz/cml_response.lua") != LUA_OK ||
      lua_pcall(L, 0, 1, 1) != LUA_OK || !lua_isfunction(L, -1)) {
    fprintf(stderr, "fuzz_cml_response: cannot load the driver: %s\n", lua_tostring(L, -1));
    abort();
  }
  ref_driver = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  lua_sethook(L, line_hook, LUA_MASKLINE, 0);
}


int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) {
  if (L == NULL)
    init();
  prev_line = 0;
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref_driver);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
    fprintf(stderr, "fuzz_cml_response: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, 0);
  return 0;
}
