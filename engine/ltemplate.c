/*
** ltemplate.c: raycai.template: renders the launcher scripts (language: docs/DEVELOPING.md).
**
** Two phases: template_compile.c tokenizes the text in one pass into nodes kept in a userdata
** and reports syntax errors (even in branches never taken); template_render.c walks the nodes
** appending to a luaL_Buffer. Templates never run code: variables are read with raw table
** access and a function value is an error.
**
** Expected failures (syntax, a missing variable, a value a filter cannot take) return
** nil, "<name>:<line>: <message>"; bad arguments raise.
*/
#include <string.h>

#include "raycai.h"
#include "template.h"

/*
** Compile and, when vars >= 1, render the template text at stack index ti with the variables
** at index vars. Pushes the result (or true when only checking) or nil, message.
*/
static int run (lua_State *L, int ti, int vars, const char *name) {
  Tmpl T;
  luaL_Buffer b;
  memset(&T, 0, sizeof T);
  T.L = L;
  T.name = name;
  T.src = lua_tolstring(L, ti, &T.srclen);
  T.line = 1;
  T.vars = vars;
  lua_newtable(L);
  T.consts = lua_gettop(L);
  T.cap = 32;
  T.nodes = (Node *)lua_newuserdatauv(L, (size_t)T.cap * sizeof(Node), 0);
  T.slot = lua_gettop(L);
  lua_newtable(L);
  T.scopes = lua_gettop(L);
  if (tmpl_compile(&T) != 0)
    goto failed;
  if (vars == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_buffinit(L, &b);
  if (tmpl_render_nodes(&T, &b) != 0)
    goto failed;
  luaL_pushresult(&b);
  return 1;
failed:
  luaL_pushfail(L);
  lua_pushstring(L, T.err);
  return 2;
}


/* The template's name: opts.name or dflt. */
static const char *opt_name (lua_State *L, int opts, const char *dflt) {
  if (lua_isnoneornil(L, opts))
    return dflt;
  luaL_checktype(L, opts, LUA_TTABLE);
  lua_getfield(L, opts, "name");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  luaL_argexpected(L, lua_type(L, -1) == LUA_TSTRING, opts, "opts.name to be a string");
  return lua_tostring(L, -1);  /* stays on the stack, so stays alive */
}


/*
** template.render(text, vars [, opts]) -> string, or nil, "<name>:<line>: <message>".
** opts.name names the template in messages (default "template").
*/
static int tmpl_render (lua_State *L) {
  const char *name;
  luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  name = opt_name(L, 3, "template");
  return run(L, 1, 2, name);
}


/* template.check(text [, opts]) -> true, or nil, message: syntax only, nothing rendered. */
static int tmpl_check (lua_State *L) {
  const char *name;
  luaL_checkstring(L, 1);
  name = opt_name(L, 2, "template");
  return run(L, 1, 0, name);
}


/*
** template.render_file(path, vars [, opts]) -> string, or nil, message. Messages name the
** file by its basename (or opts.name); a file that cannot be read gives "<path>: <reason>".
*/
static int tmpl_render_file (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *slash = strrchr(path, '/');
  const char *name;
  int nres;
  luaL_checktype(L, 2, LUA_TTABLE);
  name = opt_name(L, 3, slash ? slash + 1 : path);
  nres = raycai_read_file(L, path);
  if (nres != 1)
    return nres;  /* nil, message, errno */
  return run(L, lua_gettop(L), 2, name);
}


static const luaL_Reg template_funcs[] = {
  {"render", tmpl_render},
  {"render_file", tmpl_render_file},
  {"check", tmpl_check},
  {NULL, NULL}
};


int luaopen_raycai_template (lua_State *L) {
  luaL_newlib(L, template_funcs);
  return 1;
}
