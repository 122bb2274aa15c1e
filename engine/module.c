/*
** module.c: the primitives as a Lua C module, for running the test suite under lua5.4:
**   package.loadlib("build/raycai_core.so", "luaopen_raycai_core")()
** registers raycai.fs, raycai.template, ... in package.preload, exactly as the host does.
*/
#include "raycai.h"

int luaopen_raycai_core (lua_State *L);

int luaopen_raycai_core (lua_State *L) {
  raycai_preload(L);
  lua_pushboolean(L, 1);
  return 1;
}
