/*
** main.c: the raycai-run host (model: Lua's lua.c).
** It creates one Lua state, registers the C primitives and the "raycai.host" facts for
** require, points package.path at the Lua library, and runs raycai.cli.main(args) under
** lua_pcall with a traceback handler. The CLI returns the exit code; an error that escapes it
** is a bug and is reported with its traceback.
*/
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <lua-cjson.h>

#include "raycai.h"
#ifdef RAYCAI_BUNDLE
#include "bundle.h"
#endif

#ifndef RAYCAI_SHARE_REL
#define RAYCAI_SHARE_REL "share/raycai"
#endif
#ifndef RAYCAI_LIB_REL
#define RAYCAI_LIB_REL "lib/raycai"
#endif

int luaopen_cjson_safe (lua_State *L);

static const char *progname = "raycai-run";


/* Push msg (a light userdata) with secrets redacted; run protected by report. */
static int redact_message (lua_State *L) {
  const char *msg = (const char *)lua_touserdata(L, 1);
  raycai_push_redacted(L, msg, strlen(msg));
  return 1;
}


/*
** Print "raycai-run: msg" on stderr, secrets redacted. This runs after pmain, outside any
** protected call: the redaction allocates, so it runs under lua_pcall, and a message that
** cannot be redacted (no memory) is not shown rather than shown with a secret in it.
*/
static void report (lua_State *L, const char *msg) {
  lua_pushcfunction(L, redact_message);
  lua_pushlightuserdata(L, (void *)msg);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK)
    fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
  else
    fprintf(stderr, "%s: (error message not shown: not enough memory to redact it)\n", progname);
  fflush(stderr);
  lua_pop(L, 1);  /* pop the redacted message or the pcall's error */
}


/* Message handler: add a traceback to string errors (lua.c's msghandler). */
static int msghandler (lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}


#ifndef RAYCAI_BUNDLE
static int is_dir (const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
#endif


/* Folder holding this executable, from /proc/self/exe; "" when unknown. */
static void exe_dir (char *out, size_t size) {
  ssize_t n = readlink("/proc/self/exe", out, size - 1);
  char *slash;
  if (n <= 0) {
    out[0] = '\0';
    return;
  }
  out[n] = '\0';
  slash = strrchr(out, '/');
  if (slash != NULL)
    *slash = '\0';
}


/*
** Push the table require("raycai.host") returns: version, exe_dir, lua_dir, share_dir,
** http_module. The Lua library is found through RAYCAI_LUA_PATH, then <exe>/lua (build tree),
** then <exe>/../share/raycai/lua (installed); raycai.http at <exe>/lib/raycai/http.so (build
** tree) or <exe>/../lib/raycai/http.so (installed). The relocatable binary (RAYCAI_BUNDLE) says
** bundled = true and carries all of it: its share_dir and lua_dir are "bundle:" paths.
*/
static void push_host_facts (lua_State *L) {
  char dir[PATH_MAX];
  const char *override = getenv("RAYCAI_LUA_PATH");
  exe_dir(dir, sizeof dir);
  lua_createtable(L, 0, 7);
  lua_pushstring(L, RAYCAI_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, dir);
  lua_setfield(L, -2, "exe_dir");
  lua_pushstring(L, progname);
  lua_setfield(L, -2, "progname");
#ifdef RAYCAI_BUNDLE
  /* the relocatable binary: library, templates and recipes are inside it ("bundle:" paths,
  ** read through raycai.resource); RAYCAI_LUA_PATH still points at a library on disk */
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "bundled");
  lua_pushliteral(L, "bundle:");
  lua_setfield(L, -2, "share_dir");
  if (override != NULL && *override != '\0')
    lua_pushstring(L, override);
  else
    lua_pushliteral(L, "bundle:lua");
  lua_setfield(L, -2, "lua_dir");
#else
  {
    char cand[PATH_MAX + 64];
    int build_tree;
    snprintf(cand, sizeof cand, "%s/lua", dir);
    build_tree = is_dir(cand);
    if (build_tree)
      lua_pushfstring(L, "%s/lib/raycai/http.so", dir);
    else
      lua_pushfstring(L, "%s/../%s/http.so", dir, RAYCAI_LIB_REL);
    lua_setfield(L, -2, "http_module");
    if (build_tree)
      lua_pushstring(L, dir);
    else
      lua_pushfstring(L, "%s/../%s", dir, RAYCAI_SHARE_REL);
    if (override != NULL && *override != '\0')
      lua_pushstring(L, override);
    else
      lua_pushfstring(L, "%s/lua", lua_tostring(L, -1));
    lua_setfield(L, -3, "lua_dir");
    lua_setfield(L, -2, "share_dir");
  }
#endif
}


static int host_module (lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  return 1;
}


/*
** package.preload["raycai.http"]: load the module file (upvalue 1: the host facts) and open it.
** libcurl comes with it, on the first require only. dlopen, not package.loadlib: the module is
** never unloaded (RTLD_NODELETE), since libcurl and OpenSSL leave exit handlers and threads
** behind that must not outlive their code (lua_close would dlclose a loadlib library).
*/
static int load_http (lua_State *L) {
  lua_CFunction open;
#ifdef RAYCAI_BUNDLE
  open = raycai_bundle_open_http(L);
#else
  const char *path;
  void *lib;
  lua_getfield(L, lua_upvalueindex(1), "http_module");
  path = lua_tostring(L, -1);
  lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (lib == NULL)
    return luaL_error(L, "cannot load raycai.http: %s (reinstall raycai)", dlerror());
  open = (lua_CFunction)(uintptr_t)dlsym(lib, "luaopen_raycai_http");
  if (open == NULL)
    return luaL_error(L, "cannot load raycai.http from %s: %s (reinstall raycai)", path, dlerror());
#endif
  lua_pushcfunction(L, open);
  lua_pushvalue(L, 1);  /* module name */
  lua_call(L, 1, 1);
  return 1;
}


/* Register cjson, cjson.safe, raycai.http and raycai.host next to the C primitives. */
static void preload_host (lua_State *L) {
  raycai_preload(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_cjson);
  lua_setfield(L, -2, "cjson");
  lua_pushcfunction(L, luaopen_cjson_safe);
  lua_setfield(L, -2, "cjson.safe");
  push_host_facts(L);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, load_http, 1);
  lua_setfield(L, -3, "raycai.http");
  lua_pushcclosure(L, host_module, 1);
  lua_setfield(L, -2, "raycai.host");
#ifdef RAYCAI_BUNDLE
  lua_pushcfunction(L, luaopen_raycai_bundle);
  lua_setfield(L, -2, "raycai.bundle");
#endif
  lua_pop(L, 1);  /* pop preload table */
}


/*
** package.path = <lua_dir>/?.lua;<lua_dir>/?/init.lua ; no current-directory entries. The
** relocatable binary loads its own library from package.preload instead (unless
** RAYCAI_LUA_PATH names one on disk), and its package.path is empty.
*/
static void set_package_path (lua_State *L) {
#ifdef RAYCAI_BUNDLE
  const char *override = getenv("RAYCAI_LUA_PATH");
  if (override == NULL || *override == '\0') {
    raycai_bundle_preload(L);
    lua_getglobal(L, "package");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);  /* pop package */
    return;
  }
#endif
  lua_getglobal(L, "package");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "raycai.host");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "lua_dir");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", lua_tostring(L, -1), lua_tostring(L, -1));
  lua_setfield(L, -4, "path");
  /* code loaded from lua_dir is raycai's own; any other Lua code is the recipe's (lclock.c) */
  raycai_guard_install(L, lua_tostring(L, -1));
  lua_pop(L, 2);  /* pop lua_dir, host */
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);  /* pop package */
}


/* Everything runs here, protected: returns the exit code as an integer. */
static int pmain (lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int i;
  luaL_checkversion(L);
  luaL_openlibs(L);
  preload_host(L);
  set_package_path(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "raycai.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);
  lua_pushinteger(L, luaL_optinteger(L, -1, 0));
  return 1;
}


int main (int argc, char **argv) {
  int status, code;
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create Lua state: not enough memory\n", progname);
    return EXIT_FAILURE;
  }
  raycai_install_sigint();
  lua_pushcfunction(L, msghandler);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 1);
  if (status == LUA_OK) {
    code = (int)lua_tointeger(L, -1);
  }
  else {
    const char *msg = lua_tostring(L, -1);
    if (raycai_interrupted()) {
      report(L, "interrupted");
      code = 130;
    }
    else {
      report(L, msg != NULL ? msg : "(error object is not a string)");
      report(L, "this is a bug in raycai; please report it with the message above");
      code = 1;
    }
  }
  lua_close(L);
  return code;
}
