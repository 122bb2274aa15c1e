/*
** module.c: the primitives as a Lua C module, for running the test suite under lua5.4:
**   package.loadlib("build/raycai_core.so", "luaopen_raycai_core")()
** registers raycai.fs, raycai.template, ... in package.preload, exactly as the host does.
*/
#include "raycai.h"

int luaopen_raycai_core (lua_State *L);

int luaopen_raycai_core (lua_State *L) {
  raycai_preload(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_raycai_http);
  lua_setfield(L, -2, "raycai.http");
  lua_pop(L, 1);  /* pop preload table */
  lua_pushboolean(L, 1);
  return 1;
}
