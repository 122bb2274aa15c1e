/*
** lclock.c: raycai.clock: monotonic time, wall time and an interruptible sleep.
** SIGINT (and SIGTERM) set a process-wide flag: sleep returns early, libcurl transfers abort
** (lhttp.c polls the flag) and the host exits 130.
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "raycai.h"

static volatile sig_atomic_t interrupted = 0;


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
  {NULL, NULL}
};


int luaopen_raycai_clock (lua_State *L) {
  luaL_newlib(L, clock_funcs);
  return 1;
}
