/*
** lclock.c: raycai.clock: monotonic time, wall time and an interruptible sleep.
** SIGINT (and SIGTERM) set a process-wide flag: sleep returns early, libcurl transfers abort
** (lhttp.c polls the flag) and the host exits 130.
**
** The guard (the host installs it, raycai_guard_install) stops runaway recipe code: a count
** hook runs every GUARD_COUNT VM instructions. Once interrupted it raises "interrupted" as soon
** as the running function is recipe code (any Lua source outside the host's library folder);
** raycai's own code is left to see the flag at its next sleep or transfer, as before. While a
** budget is set (clock.budget) the instructions run in recipe code are counted, and the hook
** raises when they exceed it. Why a permanent count hook rather than lua.c's lua_sethook from
** the signal handler: a hook is per Lua thread, and lua_newthread copies the creating thread's
** hook, so a hook installed before the recipe runs also covers coroutines the recipe makes;
** one set by the signal handler would reach the main thread only.
** The same hook keeps the last line run in one tracked source (clock.track_lines): the sandbox
** uses it to place errors raised after a recipe tail-called into raycai.
*/
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "raycai.h"

static volatile sig_atomic_t interrupted = 0;

#define GUARD_COUNT 1000  /* VM instructions between two looks of the guard */

static int guard_on = 0;                 /* the count hook is installed (the host did it) */
static char host_prefix[PATH_MAX + 2];   /* "@<lua_dir>/": raycai's own code starts so */
static char track_source[PATH_MAX + 2];  /* clock.track_lines: the source followed, "" none */
static int track_line = 0;               /* its last line run */
static int budget_on = 0;                /* clock.budget(n) is counting */
static long long budget_left = 0;        /* recipe instructions left */
static long long budget_total = 0;       /* the budget set, for the message */
static int budget_blown = 0;             /* the budget ran out (until the next clock.budget) */


static void on_signal (int sig) {
  (void)sig;
  interrupted = 1;
}


/* Install the SIGINT/SIGTERM handler (no SA_RESTART, so blocking calls see EINTR). */
void raycai_install_sigint (void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}


int raycai_interrupted (void) {
  return interrupted != 0;
}


void raycai_clear_interrupt (void) {
  interrupted = 0;
}


/* Is the function running at ar recipe code: Lua, and not from the host's library folder? */
static int is_recipe_code (lua_State *L, lua_Debug *ar) {
  if (!lua_getinfo(L, "S", ar) || strcmp(ar->what, "C") == 0)
    return 0;
  return host_prefix[0] == '\0' || strncmp(ar->source, host_prefix, strlen(host_prefix)) != 0;
}


static int guard_mask (void) {
  return (guard_on ? LUA_MASKCOUNT : 0) | (track_source[0] != '\0' ? LUA_MASKLINE : 0);
}


/* The hook: line tracking, interrupts and the budget (see the comment at the top). */
static void guard_hook (lua_State *L, lua_Debug *ar) {
  int recipe;
  if (ar->event == LUA_HOOKLINE) {
    if (track_source[0] != '\0' && lua_getinfo(L, "S", ar) && strcmp(ar->source, track_source) == 0)
      track_line = ar->currentline;
    return;
  }
  if (!interrupted && !budget_on) {
    if (lua_gethookcount(L) != GUARD_COUNT)  /* back from an interrupt that was cleared */
      lua_sethook(L, guard_hook, guard_mask(), GUARD_COUNT);
    return;
  }
  recipe = is_recipe_code(L, ar);
  if (interrupted) {
    if (recipe) {
      lua_sethook(L, guard_hook, guard_mask(), GUARD_COUNT);
      luaL_where(L, 0);  /* level 0 in a hook: the recipe's function that was running */
      lua_pushliteral(L, "interrupted");
      lua_concat(L, 2);
      lua_error(L);
    }
    /* raycai's own code: look at every instruction until the recipe's code runs again */
    if (lua_gethookcount(L) != 1)
      lua_sethook(L, guard_hook, guard_mask(), 1);
    return;
  }
  if (recipe) {
    budget_left -= GUARD_COUNT;
    if (budget_left <= 0) {
      budget_blown = 1;
      luaL_where(L, 0);
      lua_pushfstring(L, "the recipe ran %I instructions without finishing (an endless loop?); "
                      "fix it, or allow more with RAYCAI_RECIPE_BUDGET", (lua_Integer)budget_total);
      lua_concat(L, 2);
      lua_error(L);
    }
  }
}


/*
** Install the guard on L (the main thread; coroutines made later inherit it). lua_dir is the
** folder of raycai's Lua library: code from there is raycai's own, not the recipe's.
*/
void raycai_guard_install (lua_State *L, const char *lua_dir) {
  snprintf(host_prefix, sizeof host_prefix, "@%s/", lua_dir);
  guard_on = 1;
  lua_sethook(L, guard_hook, guard_mask(), GUARD_COUNT);
}


/* clock.budget(n | nil): count up to n instructions of recipe code (nil: stop counting). */
static int clock_budget (lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    budget_on = 0;
    return 0;
  }
  budget_total = luaL_checkinteger(L, 1);
  luaL_argcheck(L, budget_total > 0, 1, "positive number of instructions expected");
  budget_left = budget_total;
  budget_blown = 0;
  budget_on = guard_on;
  return 0;
}


/* clock.over_budget() -> boolean: did the budget run out? (the sandbox's pcall re-raises) */
static int clock_over_budget (lua_State *L) {
  lua_pushboolean(L, budget_blown);
  return 1;
}


/*
** clock.track_lines(source | nil [, line]) -> previous source, its last line: follow the lines
** run in the chunk named source ("@path"), on this thread. nil stops (restores the guard alone).
*/
static int clock_track_lines (lua_State *L) {
  const char *src = luaL_optstring(L, 1, NULL);
  int line = (int)luaL_optinteger(L, 2, 0);
  if (track_source[0] != '\0')
    lua_pushstring(L, track_source);
  else
    lua_pushnil(L);
  lua_pushinteger(L, track_line);
  if (src != NULL && strlen(src) >= sizeof track_source)
    return luaL_argerror(L, 1, "source name too long");
  snprintf(track_source, sizeof track_source, "%s", src != NULL ? src : "");
  track_line = line;
  if (guard_mask() != 0)
    lua_sethook(L, guard_hook, guard_mask(), GUARD_COUNT);
  else
    lua_sethook(L, NULL, 0, 0);
  return 2;
}


/* clock.last_line() -> the last line run in the tracked source, or nil. */
static int clock_last_line (lua_State *L) {
  if (track_line > 0)
    lua_pushinteger(L, track_line);
  else
    lua_pushnil(L);
  return 1;
}


static double now_of (clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


/* clock.monotonic() -> seconds (float) from an arbitrary origin. */
static int clock_monotonic (lua_State *L) {
  lua_pushnumber(L, now_of(CLOCK_MONOTONIC));
  return 1;
}


/* clock.time() -> seconds since the epoch (float). */
static int clock_time (lua_State *L) {
  lua_pushnumber(L, now_of(CLOCK_REALTIME));
  return 1;
}


/* clock.iso8601([t]) -> "YYYY-MM-DDThh:mm:ss.mmmZ" (UTC) for t or now. */
static int clock_iso8601 (lua_State *L) {
  double t = luaL_optnumber(L, 1, now_of(CLOCK_REALTIME));
  time_t secs = (time_t)floor(t);
  int ms = (int)((t - floor(t)) * 1000.0);
  struct tm tm;
  char buf[64], out[80];
  if (gmtime_r(&secs, &tm) == NULL)
    return luaL_error(L, "time out of range");
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, sizeof out, "%s.%03dZ", buf, ms > 999 ? 999 : ms);
  lua_pushstring(L, out);
  return 1;
}


/*
** clock.sleep(seconds) -> true, or nil, "interrupted" when SIGINT arrives first.
** Sleeps in slices of at most 50 ms so an interrupt is seen promptly.
*/
static int clock_sleep (lua_State *L) {
  double secs = luaL_checknumber(L, 1);
  double deadline = now_of(CLOCK_MONOTONIC) + (secs > 0 ? secs : 0);
  for (;;) {
    double left;
    struct timespec ts;
    if (interrupted) {
      luaL_pushfail(L);
      lua_pushliteral(L, "interrupted");
      return 2;
    }
    left = deadline - now_of(CLOCK_MONOTONIC);
    if (left <= 0)
      break;
    if (left > 0.05)
      left = 0.05;
    ts.tv_sec = (time_t)left;
    ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
  }
  lua_pushboolean(L, 1);
  return 1;
}


/* clock.interrupted() -> boolean: has SIGINT/SIGTERM arrived? */
static int clock_interrupted (lua_State *L) {
  lua_pushboolean(L, interrupted != 0);
  return 1;
}


/* clock.trap_interrupts(): install the handler (the host does this at start-up). */
static int clock_trap (lua_State *L) {
  raycai_install_sigint();
  (void)L;
  return 0;
}


/* clock.raise_interrupt(): behave as if SIGINT had arrived (restores a cleared interrupt). */
static int clock_raise (lua_State *L) {
  (void)L;
  interrupted = 1;
  return 0;
}


/* clock.clear_interrupt(): forget an interrupt (to run clean-up requests, and in tests). */
static int clock_clear (lua_State *L) {
  (void)L;
  raycai_clear_interrupt();
  return 0;
}


static const luaL_Reg clock_funcs[] = {
  {"monotonic", clock_monotonic},
  {"time", clock_time},
  {"iso8601", clock_iso8601},
  {"sleep", clock_sleep},
  {"interrupted", clock_interrupted},
  {"trap_interrupts", clock_trap},
  {"clear_interrupt", clock_clear},
  {"raise_interrupt", clock_raise},
  {"budget", clock_budget},
  {"over_budget", clock_over_budget},
  {"track_lines", clock_track_lines},
  {"last_line", clock_last_line},
  {NULL, NULL}
};


int luaopen_raycai_clock (lua_State *L) {
  luaL_newlib(L, clock_funcs);
  return 1;
}
