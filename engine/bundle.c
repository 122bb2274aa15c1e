/*
** bundle.c: the files compiled into the relocatable raycai-run, as the module raycai.bundle
** (read a file, list the names) and as package.preload loaders for the bundled Lua library.
** Chunks are named "@bundle:<name>", so messages read "bundle:lua/raycai/cli.lua:12: ...".
*/
#include <string.h>

#include <lauxlib.h>

#include "bundle.h"


/* Bisection over a table sorted by name (scripts/bundle.lua sorts it). */
const struct raycai_bundle_file *raycai_bundle_find (const struct raycai_bundle_file *files,
                                                     const char *name) {
  size_t lo = 0, hi = 0;
  while (files[hi].name != NULL)
    hi++;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(name, files[mid].name);
    if (c == 0)
      return &files[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}


/* bundle.read(name) -> the file's bytes, or nil, "<name>: not in this build" */
static int bundle_read (lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const struct raycai_bundle_file *f = raycai_bundle_find(raycai_bundle_files, name);
  if (f == NULL) {
    luaL_pushfail(L);
    lua_pushfstring(L, "bundle:%s: no such file in this build", name);
    return 2;
  }
  lua_pushlstring(L, (const char *)f->data, f->size);
  return 1;
}


/* bundle.names() -> every bundled file name, sorted */
static int bundle_names (lua_State *L) {
  lua_Integer i;
  lua_newtable(L);
  for (i = 0; raycai_bundle_files[i].name != NULL; i++) {
    lua_pushstring(L, raycai_bundle_files[i].name);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}


static const luaL_Reg bundle_funcs[] = {
  {"read", bundle_read},
  {"names", bundle_names},
  {NULL, NULL}
};


int luaopen_raycai_bundle (lua_State *L) {
  luaL_newlib(L, bundle_funcs);
  return 1;
}


/* package.preload loader: upvalue 1 is the light userdata of the bundle entry. */
static int load_bundled (lua_State *L) {
  const struct raycai_bundle_file *f = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushfstring(L, "@bundle:%s", f->name);
  if (luaL_loadbufferx(L, (const char *)f->data, f->size, lua_tostring(L, -1), "t") != LUA_OK)
    return lua_error(L);
  lua_pushvalue(L, 1);  /* module name */
  lua_pushstring(L, f->name);  /* the extra value, as the file searcher passes its file name */
  lua_call(L, 2, 1);
  return 1;
}


/*
** lua/a/b.lua becomes module a.b, lua/a/init.lua module a; other files (templates, READMEs)
** are data, read through raycai.bundle.
*/
void raycai_bundle_preload (lua_State *L) {
  size_t i;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (i = 0; raycai_bundle_files[i].name != NULL; i++) {
    const struct raycai_bundle_file *f = &raycai_bundle_files[i];
    size_t n = strlen(f->name);
    luaL_Buffer b;
    size_t k;
    if (n < 9 || strncmp(f->name, "lua/", 4) != 0 || strcmp(f->name + n - 4, ".lua") != 0)
      continue;
    n -= 4;  /* drop ".lua" */
    if (n >= 9 && strncmp(f->name + n - 5, "/init", 5) == 0)
      n -= 5;  /* a/init.lua is module a */
    luaL_buffinit(L, &b);
    for (k = 4; k < n; k++)
      luaL_addchar(&b, f->name[k] == '/' ? '.' : f->name[k]);
    luaL_pushresult(&b);
    lua_pushlightuserdata(L, (void *)f);
    lua_pushcclosure(L, load_bundled, 1);
    lua_setfield(L, -3, lua_tostring(L, -2));
    lua_pop(L, 1);  /* pop module name */
  }
  lua_pop(L, 1);  /* pop preload table */
}
