/*
** preload.c: registers the C primitives in package.preload (model: Lua's linit.c). raycai.http
** is not among them: the host loads it from its own shared module on first require
** (main.c), the test module and the fuzzer register it themselves.
*/
#include "raycai.h"

static const luaL_Reg raycai_modules[] = {
  {"raycai.fs", luaopen_raycai_fs},
  {"raycai.template", luaopen_raycai_template},
  {"raycai.clock", luaopen_raycai_clock},
  {"raycai.term", luaopen_raycai_term},
  {"raycai.proc", luaopen_raycai_proc},
  {NULL, NULL}
};


void raycai_preload (lua_State *L) {
  const luaL_Reg *m;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (m = raycai_modules; m->func; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);  /* pop preload table */
}
