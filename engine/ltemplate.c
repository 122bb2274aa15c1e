/*
** ltemplate.c: raycai.template (placeholder until implemented).
*/
#include "raycai.h"

static const luaL_Reg template_funcs[] = {
  {NULL, NULL}
};


int luaopen_raycai_template (lua_State *L) {
  luaL_newlib(L, template_funcs);
  return 1;
}
