/*
** bundle_http.c: the relocatable raycai-run carries its raycai.http module (which links the
** system's libcurl.so.4) inside the binary. It is written to an anonymous memory file
** (memfd_create) and dlopened through /proc/self/fd, so nothing is unpacked on disk and the
** binary runs from any folder. libcurl itself comes from the system, as in the Debian package:
** CML runtime images have it; where it is missing the error says so in one line.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <lauxlib.h>

#include "bundle.h"


/* Write all of data to fd; 0 or -1 (errno set). */
static int write_all (int fd, const unsigned char *data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    data += n;
    size -= (size_t)n;
  }
  return 0;
}


/*
** Open the bundled raycai.http: returns its luaopen function, or raises one line. The library
** stays loaded for the life of the process (RTLD_NODELETE, as main.c explains); the memfd can be
** closed once dlopen has mapped it.
*/
lua_CFunction raycai_bundle_open_http (lua_State *L) {
  const struct raycai_bundle_file *f = raycai_bundle_find(raycai_bundle_http, "http.so");
  char path[64];
  void *lib;
  lua_CFunction open;
  int fd;
  if (f == NULL)
    luaL_error(L, "cannot load raycai.http: this raycai-run was built without it");
  fd = memfd_create("raycai-http.so", MFD_CLOEXEC);
  if (fd < 0)
    luaL_error(L, "cannot load raycai.http: memfd_create: %s", strerror(errno));
  if (write_all(fd, f->data, f->size) != 0) {
    int e = errno;
    close(fd);
    luaL_error(L, "cannot load raycai.http: writing it to memory: %s", strerror(e));
  }
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  close(fd);
  if (lib == NULL) {
    const char *why = dlerror();
    if (why != NULL && strstr(why, "libcurl") != NULL)
      luaL_error(L, "raycai-run needs the system's libcurl (libcurl.so.4), which CML runtime "
                 "images have: install it (Debian/Ubuntu: apt-get install libcurl4) (%s)", why);
    luaL_error(L, "cannot load raycai.http: %s (is /proc mounted?)", why ? why : "dlopen failed");
  }
  open = (lua_CFunction)(uintptr_t)dlsym(lib, "luaopen_raycai_http");
  if (open == NULL)
    luaL_error(L, "cannot load raycai.http: %s", dlerror());
  return open;
}
