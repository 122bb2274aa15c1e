/*
** raycai.h: the C primitives the host exposes to Lua as require-able modules.
** Each luaopen_* returns one module table; raycai_preload registers them all in
** package.preload, in the host and in the raycai_core Lua module alike.
*/
#ifndef RAYCAI_H
#define RAYCAI_H

#include <lua.h>
#include <lauxlib.h>

#ifndef RAYCAI_VERSION
#define RAYCAI_VERSION "0.0.0"
#endif

int luaopen_raycai_fs (lua_State *L);        /* raycai.fs */
int luaopen_raycai_template (lua_State *L);  /* raycai.template */
int luaopen_raycai_clock (lua_State *L);     /* raycai.clock */
int luaopen_raycai_term (lua_State *L);      /* raycai.term: output, colours, secret redaction */
int luaopen_raycai_proc (lua_State *L);      /* raycai.proc: child processes */
int luaopen_raycai_http (lua_State *L);      /* raycai.http: libcurl transport */

/* Register every C module above but raycai.http in package.preload. */
void raycai_preload (lua_State *L);

/* SIGINT handling shared by clock (sleep), http (transfers) and the host. */
void raycai_install_sigint (void);
int raycai_interrupted (void);
void raycai_clear_interrupt (void);

/* Install the count hook that stops runaway recipe code (lclock.c; the host calls it). */
void raycai_guard_install (lua_State *L, const char *lua_dir);

/*
** Push the whole content of the file at path and return 1, or push nil, "<path>: <strerror>",
** errno and return 3 (luaL_fileresult). The descriptor never leaks, even on a memory error.
** fs.read and template.render_file. (lfs.c)
*/
int raycai_read_file (lua_State *L, const char *path);

/* Replace every registered secret in s[0..len) by "***"; pushes the result. (lterm.c) */
void raycai_push_redacted (lua_State *L, const char *s, size_t len);

#endif
