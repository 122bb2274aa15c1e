/*
** lfs.c: raycai.fs: files and folders (models: Lua's liolib/loslib, luv, LuaFileSystem).
** Bad arguments raise; failures of the world return nil, "<path>: <strerror>", errno.
** Open descriptors and directory streams live in userdata with __gc/__close, so an error
** raised while one is open (out of memory) never leaks it.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "raycai.h"

#define FD_MT "raycai.fs.fd"
#define DIR_MT "raycai.fs.dir"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif


/* Push nil, "<path>: <strerror(en)>", en (luaL_fileresult with an explicit errno). */
static int fail (lua_State *L, const char *path, int en) {
  errno = en;
  return luaL_fileresult(L, 0, path);
}


/*
** Read a mode argument: nil (def), an integer (0644, tonumber("755", 8)) or a string of octal
** digits ("0755", "755"). Anything else, or a value above 07777, raises.
*/
static mode_t check_mode (lua_State *L, int arg, mode_t def) {
  if (lua_isnoneornil(L, arg))
    return def;
  if (lua_type(L, arg) == LUA_TNUMBER) {
    int isnum;
    lua_Integer m = lua_tointegerx(L, arg, &isnum);
    luaL_argcheck(L, isnum && m >= 0 && m <= 07777, arg, "invalid mode");
    return (mode_t)m;
  }
  {
    size_t len, i;
    const char *s = luaL_checklstring(L, arg, &len);
    unsigned long m = 0;
    luaL_argcheck(L, len >= 1 && len <= 5, arg, "invalid mode");
    for (i = 0; i < len; i++) {
      luaL_argcheck(L, s[i] >= '0' && s[i] <= '7', arg, "invalid mode");
      m = m * 8 + (unsigned long)(s[i] - '0');
    }
    luaL_argcheck(L, m <= 07777, arg, "invalid mode");
    return (mode_t)m;
  }
}


/* ---- guarded file descriptors and directory streams ---- */

static int fd_gc (lua_State *L) {
  int *fd = (int *)luaL_checkudata(L, 1, FD_MT);
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
  return 0;
}


static const luaL_Reg fd_meta[] = {
  {"__gc", fd_gc},
  {"__close", fd_gc},
  {NULL, NULL}
};


/*
** Push a userdata that closes its descriptor when collected; returns its slot. The metatable
** is made on first use, so raycai_read_file works before (or without) luaopen_raycai_fs.
*/
static int *new_fd (lua_State *L) {
  int *fd = (int *)lua_newuserdatauv(L, sizeof(int), 0);
  *fd = -1;
  if (luaL_newmetatable(L, FD_MT))
    luaL_setfuncs(L, fd_meta, 0);
  lua_setmetatable(L, -2);
  return fd;
}


typedef struct FsDir {
  DIR *d;
} FsDir;


/* Push a directory stream userdata, closed (d == NULL) until opendir succeeds. */
static FsDir *new_dir (lua_State *L) {
  FsDir *fd = (FsDir *)lua_newuserdatauv(L, sizeof(FsDir), 0);
  fd->d = NULL;
  luaL_setmetatable(L, DIR_MT);
  return fd;
}


/* Idempotent close shared by __gc, __close and the end of iteration. */
static int dir_close (lua_State *L) {
  FsDir *fd = (FsDir *)luaL_checkudata(L, 1, DIR_MT);
  if (fd->d != NULL) {
    closedir(fd->d);
    fd->d = NULL;
  }
  return 0;
}


/* Next entry name other than "." and "..", or NULL at the end (errno set on error). */
static const char *dir_next_name (DIR *d) {
  struct dirent *e;
  for (;;) {
    errno = 0;
    e = readdir(d);
    if (e == NULL)
      return NULL;
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      return e->d_name;
  }
}


/* ---- reading and writing ---- */

int raycai_read_file (lua_State *L, const char *path) {
  int *fd = new_fd(L);
  luaL_Buffer b;
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return fail(L, path, errno);
  luaL_buffinit(L, &b);
  for (;;) {
    char *p = luaL_prepbuffer(&b);
    ssize_t n = read(*fd, p, LUAL_BUFFERSIZE);
    if (n < 0) {
      int en = errno;
      if (en == EINTR)
        continue;
      return fail(L, path, en);  /* the guard closes fd when collected */
    }
    if (n == 0)
      break;
    luaL_addsize(&b, (size_t)n);
  }
  close(*fd);
  *fd = -1;
  luaL_pushresult(&b);
  lua_remove(L, -2);  /* remove the guard */
  return 1;
}


/* fs.read(path) -> the whole content as a string. */
static int fs_read (lua_State *L) {
  return raycai_read_file(L, luaL_checkstring(L, 1));
}


/* Write all of data to fd, retrying short writes and EINTR; 0 or an errno. */
static int write_all (int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}


/* Length of path's folder part including its last '/', or 0 when path has no '/'. */
static size_t dir_prefix_len (const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? (size_t)(slash - path) + 1 : 0;
}


/*
** fs.write(path, data [, mode]) -> true. Atomic: writes a temporary file in the same folder,
** fsyncs it, applies mode (default 0644, umask not applied), renames it over path and fsyncs
** the folder. On failure the temporary file is removed and path is untouched.
*/
static int fs_write (lua_State *L) {
  size_t len, dlen;
  const char *path = luaL_checkstring(L, 1);
  const char *data = luaL_checklstring(L, 2, &len);
  mode_t mode = check_mode(L, 3, 0644);
  char tmp[PATH_MAX], dir[PATH_MAX];
  int fd, en, dfd;
  dlen = dir_prefix_len(path);
  if (snprintf(tmp, sizeof tmp, "%.*s.%s.tmp-XXXXXX", (int)dlen, path, path + dlen)
      >= (int)sizeof tmp)
    return fail(L, path, ENAMETOOLONG);
  if (dlen == 0)
    strcpy(dir, ".");
  else
    snprintf(dir, sizeof dir, "%.*s", (int)(dlen > 1 ? dlen - 1 : 1), path);
  fd = mkstemp(tmp);
  if (fd < 0)
    return fail(L, path, errno);
  en = write_all(fd, data, len);
  if (en == 0 && fsync(fd) != 0)
    en = errno;
  if (en == 0 && fchmod(fd, mode) != 0)
    en = errno;
  if (close(fd) != 0 && en == 0)
    en = errno;
  if (en == 0 && rename(tmp, path) != 0)
    en = errno;
  if (en != 0) {
    unlink(tmp);
    return fail(L, path, en);
  }
  /* Make the rename durable. Best effort: some filesystems cannot fsync a folder. */
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  lua_pushboolean(L, 1);
  return 1;
}


/* ---- folders ---- */

/* fs.mkdir(path [, mode]) -> true: creates path and its missing parents (mkdir -p). */
static int fs_mkdir (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  mode_t mode = check_mode(L, 2, 0755);
  char buf[PATH_MAX];
  size_t len = strlen(path), i;
  struct stat st;
  luaL_argcheck(L, len > 0, 1, "empty path");
  if (len >= sizeof buf)
    return fail(L, path, ENAMETOOLONG);
  memcpy(buf, path, len + 1);
  for (i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    if (buf[i - 1] == '/')
      continue;  /* repeated slashes */
    buf[i] = '\0';
    if (mkdir(buf, mode) != 0) {
      int en = errno;
      if (en != EEXIST)
        return fail(L, buf, en);
      if (stat(buf, &st) != 0)
        return fail(L, buf, errno);
      if (!S_ISDIR(st.st_mode))
        return fail(L, buf, ENOTDIR);
    }
    if (i < len)
      buf[i] = '/';
  }
  lua_pushboolean(L, 1);
  return 1;
}


/* fs.exists(path) -> boolean (follows symbolic links). */
static int fs_exists (lua_State *L) {
  struct stat st;
  const char *path = luaL_checkstring(L, 1);
  lua_pushboolean(L, stat(path, &st) == 0);
  return 1;
}


/* fs.stat(path) -> { type, size, mode, mtime } without following a final symbolic link. */
static int fs_stat (lua_State *L) {
  struct stat st;
  const char *path = luaL_checkstring(L, 1);
  const char *type = "other";
  if (lstat(path, &st) != 0)
    return fail(L, path, errno);
  if (S_ISREG(st.st_mode))
    type = "file";
  else if (S_ISDIR(st.st_mode))
    type = "directory";
  else if (S_ISLNK(st.st_mode))
    type = "link";
  lua_createtable(L, 0, 4);
  lua_pushstring(L, type);
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec / 1e9);
  lua_setfield(L, -2, "mtime");
  return 1;
}


typedef struct Name {
  const char *s;
  size_t len;
} Name;


static int name_cmp (const void *a, const void *b) {
  const Name *x = (const Name *)a, *y = (const Name *)b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c != 0)
    return c;
  return (x->len > y->len) - (x->len < y->len);
}


/* fs.list(dir) -> array of entry names sorted bytewise, without "." and "..". */
static int fs_list (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  FsDir *fd = new_dir(L);
  const char *name;
  lua_Integer n = 0, i;
  Name *names;
  int t;
  fd->d = opendir(path);
  if (fd->d == NULL)
    return fail(L, path, errno);
  lua_newtable(L);
  t = lua_gettop(L);
  while ((name = dir_next_name(fd->d)) != NULL) {
    lua_pushstring(L, name);
    lua_rawseti(L, t, ++n);
  }
  if (errno != 0)
    return fail(L, path, errno);
  closedir(fd->d);
  fd->d = NULL;
  /* Sort in C (table.sort may be replaced by scripts): the table keeps the strings alive. */
  names = (Name *)lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(Name), 0);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, t, i);
    names[i - 1].s = lua_tolstring(L, -1, &names[i - 1].len);
    lua_pop(L, 1);
  }
  qsort(names, (size_t)n, sizeof(Name), name_cmp);
  lua_createtable(L, (int)n, 0);
  for (i = 1; i <= n; i++) {
    lua_pushlstring(L, names[i - 1].s, names[i - 1].len);
    lua_rawseti(L, -2, i);
  }
  return 1;
}


/* Iterator step for fs.dir: the next name, or nil (and the stream closed) at the end. */
static int dir_iter (lua_State *L) {
  FsDir *fd = (FsDir *)luaL_checkudata(L, 1, DIR_MT);
  const char *name;
  luaL_argcheck(L, fd->d != NULL, 1, "attempt to use a closed directory");
  name = dir_next_name(fd->d);
  if (name == NULL) {
    int en = errno;
    dir_close(L);
    if (en != 0)
      return luaL_error(L, "reading directory: %s", strerror(en));
    return 0;
  }
  lua_pushstring(L, name);
  return 1;
}


/*
** for name in fs.dir(path) do ... end: entries in directory order, without "." and "..".
** The stream closes itself at the end, on break and on error (to-be-closed 4th value).
** Unlike the other functions it raises when the folder cannot be opened: it is an iterator.
*/
static int fs_dir (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  FsDir *fd;
  lua_pushcfunction(L, dir_iter);
  fd = new_dir(L);
  fd->d = opendir(path);
  if (fd->d == NULL)
    return luaL_error(L, "%s: %s", path, strerror(errno));
  lua_pushnil(L);
  lua_pushvalue(L, -2);  /* the stream again, as the to-be-closed value */
  return 4;
}


/* ---- removal ---- */

/*
** Remove everything inside the open folder dfd, then nothing else; never follows a symbolic
** link (links are unlinked, folders are opened with O_NOFOLLOW). path names dfd in messages
** and is extended in place up to cap bytes. Returns 0 or an errno (path names the culprit).
** Uses only C: no Lua call can raise while descriptors are open.
*/
static int remove_tree (int dfd, char *path, size_t cap) {
  DIR *d = fdopendir(dfd);
  const char *name;
  size_t plen = strlen(path);
  int en = 0;
  if (d == NULL) {
    en = errno;
    close(dfd);
    return en;
  }
  while (en == 0 && (name = dir_next_name(d)) != NULL) {
    struct stat st;
    int cfd;
    snprintf(path + plen, cap - plen, "/%s", name);
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      en = errno;
      break;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (unlinkat(dfd, name, 0) != 0)
        en = errno;
      continue;
    }
    cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0) {
      en = errno;
      break;
    }
    en = remove_tree(cfd, path, cap);
    if (en == 0 && unlinkat(dfd, name, AT_REMOVEDIR) != 0)
      en = errno;
  }
  if (en == 0 && errno != 0)
    en = errno;
  if (en == 0)
    path[plen] = '\0';
  closedir(d);
  return en;
}


/*
** fs.remove(path [, { recursive = true }]) -> true. A folder must be empty unless recursive;
** recursive removal never follows symbolic links (a link is removed, not its target).
*/
static int fs_remove (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int recursive = 0;
  struct stat st;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "recursive");
    recursive = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (lstat(path, &st) != 0)
    return fail(L, path, errno);
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path) != 0)
      return fail(L, path, errno);
  }
  else {
    if (recursive) {
      char where[PATH_MAX];
      int en, dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (dfd < 0)
        return fail(L, path, errno);
      snprintf(where, sizeof where, "%s", path);
      en = remove_tree(dfd, where, sizeof where);
      if (en != 0)
        return fail(L, where, en);
    }
    if (rmdir(path) != 0)
      return fail(L, path, errno);
  }
  lua_pushboolean(L, 1);
  return 1;
}


/* fs.chmod(path, mode) -> true. */
static int fs_chmod (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  mode_t mode;
  luaL_argexpected(L, !lua_isnoneornil(L, 2), 2, "mode");
  mode = check_mode(L, 2, 0);
  if (chmod(path, mode) != 0)
    return fail(L, path, errno);
  lua_pushboolean(L, 1);
  return 1;
}


/* fs.tempdir([prefix]) -> path of a new folder (mode 0700) under $TMPDIR or /tmp. */
static int fs_tempdir (lua_State *L) {
  const char *prefix = luaL_optstring(L, 1, "raycai-");
  const char *base = getenv("TMPDIR");
  char buf[PATH_MAX];
  luaL_argcheck(L, strchr(prefix, '/') == NULL, 1, "prefix must not contain '/'");
  if (base == NULL || base[0] == '\0')
    base = "/tmp";
  if (snprintf(buf, sizeof buf, "%s%s%sXXXXXX", base,
               base[strlen(base) - 1] == '/' ? "" : "/", prefix) >= (int)sizeof buf)
    return fail(L, base, ENAMETOOLONG);
  if (mkdtemp(buf) == NULL)
    return fail(L, base, errno);
  lua_pushstring(L, buf);
  return 1;
}


/* ---- path strings (no disk access) ---- */

/*
** fs.join(a, b, ...) -> a/b/...: like Python's os.path.join, a component starting with '/'
** restarts the path, and no '/' is doubled where a component already ends with one.
*/
static int fs_join (lua_State *L) {
  int n = lua_gettop(L), i, start = 1;
  luaL_Buffer b;
  for (i = 1; i <= n; i++) {
    const char *s = luaL_checkstring(L, i);
    if (s[0] == '/')
      start = i;
  }
  luaL_buffinit(L, &b);
  for (i = start; i <= n; i++) {
    size_t len;
    const char *s = lua_tolstring(L, i, &len);
    if (i > start && luaL_bufflen(&b) > 0 && luaL_buffaddr(&b)[luaL_bufflen(&b) - 1] != '/')
      luaL_addchar(&b, '/');
    luaL_addlstring(&b, s, len);
  }
  luaL_pushresult(&b);
  return 1;
}


/* Length of s without trailing slashes, keeping one when s is all slashes. */
static size_t strip_slashes (const char *s, size_t len) {
  while (len > 1 && s[len - 1] == '/')
    len--;
  return len;
}


/* fs.dirname(p): POSIX dirname: "a/b" -> "a", "a" -> ".", "/a" -> "/", "a/b/" -> "a". */
static int fs_dirname (lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  len = strip_slashes(s, len);
  while (len > 0 && s[len - 1] != '/')
    len--;  /* drop the last component */
  if (len == 0) {
    lua_pushstring(L, s[0] == '/' ? "/" : ".");
    return 1;
  }
  lua_pushlstring(L, s, strip_slashes(s, len));
  return 1;
}


/* fs.basename(p): POSIX basename: "a/b" -> "b", "a/b/" -> "b", "/" -> "/", "" -> "". */
static int fs_basename (lua_State *L) {
  size_t len, start;
  const char *s = luaL_checklstring(L, 1, &len);
  len = strip_slashes(s, len);
  if (len == 1 && s[0] == '/') {
    lua_pushliteral(L, "/");
    return 1;
  }
  start = len;
  while (start > 0 && s[start - 1] != '/')
    start--;
  lua_pushlstring(L, s + start, len - start);
  return 1;
}


/* fs.cwd() -> the current folder. */
static int fs_cwd (lua_State *L) {
  char buf[PATH_MAX];
  if (getcwd(buf, sizeof buf) == NULL)
    return fail(L, ".", errno);
  lua_pushstring(L, buf);
  return 1;
}


/*
** Append the components of s[0..len) to the absolute path in out (length *olen, capacity cap),
** resolving "." and ".." lexically; ".." at the root stays at the root. 0, or -1 if too long.
*/
static int normalise_into (char *out, size_t *olen, size_t cap, const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    size_t j = i, n;
    while (j < len && s[j] != '/')
      j++;
    n = j - i;
    if (n == 0 || (n == 1 && s[i] == '.')) {
      /* empty or "." component: nothing */
    }
    else if (n == 2 && s[i] == '.' && s[i + 1] == '.') {
      while (*olen > 0 && out[*olen - 1] != '/')
        (*olen)--;
      if (*olen > 0)
        (*olen)--;  /* the slash before the dropped component */
    }
    else {
      if (*olen + 1 + n >= cap)
        return -1;
      out[(*olen)++] = '/';
      memcpy(out + *olen, s + i, n);
      *olen += n;
    }
    i = j + 1;
  }
  return 0;
}


/*
** fs.absolute(p [, base]) -> an absolute, lexically normalised path: p made absolute against
** base (itself made absolute against the current folder; default: the current folder), with
** "." and ".." resolved and repeated or trailing slashes removed. The disk is not consulted
** except to read the current folder.
*/
static int fs_absolute (lua_State *L) {
  size_t plen, blen = 0, olen = 0;
  const char *p = luaL_checklstring(L, 1, &plen);
  const char *base = luaL_optlstring(L, 2, NULL, &blen);
  char cwd[PATH_MAX], out[PATH_MAX];
  if (p[0] != '/') {
    if (base == NULL || base[0] != '/') {
      if (getcwd(cwd, sizeof cwd) == NULL)
        return fail(L, ".", errno);
      normalise_into(out, &olen, sizeof out, cwd, strlen(cwd));
    }
    if (base != NULL && normalise_into(out, &olen, sizeof out, base, blen) != 0)
      return fail(L, base, ENAMETOOLONG);
  }
  if (normalise_into(out, &olen, sizeof out, p, plen) != 0)
    return fail(L, p, ENAMETOOLONG);
  if (olen == 0)
    out[olen++] = '/';
  lua_pushlstring(L, out, olen);
  return 1;
}


static const luaL_Reg fs_funcs[] = {
  {"read", fs_read},
  {"write", fs_write},
  {"mkdir", fs_mkdir},
  {"exists", fs_exists},
  {"stat", fs_stat},
  {"list", fs_list},
  {"dir", fs_dir},
  {"remove", fs_remove},
  {"chmod", fs_chmod},
  {"tempdir", fs_tempdir},
  {"join", fs_join},
  {"dirname", fs_dirname},
  {"basename", fs_basename},
  {"absolute", fs_absolute},
  {"cwd", fs_cwd},
  {NULL, NULL}
};


static const luaL_Reg dir_meta[] = {
  {"__gc", dir_close},
  {"__close", dir_close},
  {NULL, NULL}
};


int luaopen_raycai_fs (lua_State *L) {
  luaL_newmetatable(L, DIR_MT);
  luaL_setfuncs(L, dir_meta, 0);
  lua_pop(L, 1);  /* pop metatable */
  luaL_newlib(L, fs_funcs);
  return 1;
}
