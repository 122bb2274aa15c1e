/*
** lfs.c: raycai.fs (placeholder until implemented).
*/
#include "raycai.h"

static const luaL_Reg fs_funcs[] = {
  {NULL, NULL}
};


int luaopen_raycai_fs (lua_State *L) {
  luaL_newlib(L, fs_funcs);
  return 1;
}
