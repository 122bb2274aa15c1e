/*
** lproc.c: raycai.proc (placeholder until implemented).
*/
#include "raycai.h"

static const luaL_Reg proc_funcs[] = {
  {NULL, NULL}
};


int luaopen_raycai_proc (lua_State *L) {
  luaL_newlib(L, proc_funcs);
  return 1;
}
