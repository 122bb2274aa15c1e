/*
** lhttp.c: raycai.http (placeholder until implemented).
*/
#include "raycai.h"

static const luaL_Reg http_funcs[] = {
  {NULL, NULL}
};


int luaopen_raycai_http (lua_State *L) {
  luaL_newlib(L, http_funcs);
  return 1;
}
