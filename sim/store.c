/*
** store.c: the object store (one cJSON tree), ids, clocks, folders and persistence.
** Everything here runs with g_lock held, except st_init/st_cleanup (single-threaded).
*/
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static cJSON *root;
static int dirty;
static const char *const KINDS[] = { "projects", "applications", "jobs", "runs", NULL };


cJSON *st_root (void) {
  return root;
}


cJSON *st_list (const char *kind) {
  return cJSON_GetObjectItemCaseSensitive(root, kind);
}


cJSON *st_find (const char *kind, const char *id) {
  cJSON *o;
  cJSON_ArrayForEach(o, st_list(kind)) {
    const char *oid = js_str(o, "id");
    if (oid && id && strcmp(oid, id) == 0) return o;
  }
  return NULL;
}


cJSON *st_find_in (const char *kind, const char *project_id, const char *id) {
  cJSON *o = st_find(kind, id);
  if (!o) return NULL;
  const char *pid = js_str(o, "_project_id");
  if (!pid) pid = js_str(o, "project_id");
  return (pid && strcmp(pid, project_id) == 0) ? o : NULL;
}


void st_remove (const char *kind, cJSON *obj) {
  cJSON_Delete(cJSON_DetachItemViaPointer(st_list(kind), obj));
  dirty = 1;
}


void st_remove_where (const char *kind, const char *key, const char *value) {
  cJSON *o = st_list(kind)->child;
  while (o) {
    cJSON *next = o->next;
    const char *v = js_str(o, key);
    if (v && strcmp(v, value) == 0) {
      end_process(o);
      st_remove(kind, o);
    }
    o = next;
  }
}


void st_dirty (void) {
  dirty = 1;
}


static void random_bytes (unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(buf + got, n - got, 0);
    if (r <= 0) {
      for (; got < n; got++) buf[got] = (unsigned char)rand();
      return;
    }
    got += (size_t)r;
  }
}


void new_alnum (char *out, int n) {
  static const char A[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char rnd[64];
  random_bytes(rnd, (size_t)n);
  for (int i = 0; i < n; i++) out[i] = A[rnd[i] % 36];
  out[n] = '\0';
}


void new_id4 (char out[20]) {
  char raw[17];
  do {
    new_alnum(raw, 16);
    snprintf(out, 20, "%.4s-%.4s-%.4s-%.4s", raw, raw + 4, raw + 8, raw + 12);
  } while (st_find("projects", out) || st_find("applications", out) || st_find("jobs", out));
}


double now_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}


void iso_time (double ms, char out[40]) {
  time_t s = (time_t)(ms / 1000.0);
  long us = (long)((ms - (double)s * 1000.0) * 1000.0);
  if (us < 0) us = 0;
  if (us > 999999) us = 999999;
  struct tm tm;
  gmtime_r(&s, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, 40, "%s.%06ldZ", base, us);
}


void now_iso (char out[40]) {
  iso_time(now_ms(), out);
}


int mkdir_p (const char *path) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}


int project_dir (const char *project_id, char *out, size_t n) {
  snprintf(out, n, "%s/projects/%s", cfg.work_dir, project_id);
  return mkdir_p(out);
}


int logs_dir (char *out, size_t n) {
  snprintf(out, n, "%s/logs", cfg.work_dir);
  return mkdir_p(out);
}


static void state_path (char *out, size_t n, const char *suffix) {
  snprintf(out, n, "%s/state.json%s", cfg.state_dir, suffix);
}


/*
** Write state.json (through state.json.tmp) when something changed. A save that fails leaves
** the last good state.json and stays pending: the ticker tries again every 10 ms, so the
** failure is reported once, not at every try, until a save works again.
*/
void st_save_if_dirty (void) {
  static int failing;
  if (!dirty) return;
  dirty = 0;
  if (!cfg.state_dir) return;
  char path[4096], tmp[4096];
  state_path(path, sizeof path, "");
  state_path(tmp, sizeof tmp, ".tmp");
  char *text = js_print(root, 1);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    if (!failing) fprintf(stderr, "cml-sim: cannot write %s: %s\n", tmp, strerror(errno));
    free(text);
    dirty = failing = 1;
    return;
  }
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) break;
    off += (size_t)w;
  }
  int failed = off < len || fsync(fd) != 0;
  if (close(fd) != 0) failed = 1;
  free(text);
  /* A short or unsynced state.json.tmp must not replace the last good state.json. */
  if (failed || rename(tmp, path) != 0) {
    if (!failing) fprintf(stderr, "cml-sim: cannot save state to %s\n", path);
    unlink(tmp);
    dirty = failing = 1;
    return;
  }
  if (failing) fprintf(stderr, "cml-sim: state saved to %s again\n", path);
  failing = 0;
}


/*
** Hold an exclusive lock on <dir>/cml-sim.lock for the life of the process, so two simulators
** never share (and clobber) one state folder. The descriptor stays open until exit.
*/
static int lock_state_dir (const char *dir) {
  char path[4096];
  int fd;
  snprintf(path, sizeof path, "%s/cml-sim.lock", dir);
  if (mkdir_p(dir) != 0) {
    fprintf(stderr, "cml-sim: cannot create %s: %s\n", dir, strerror(errno));
    return -1;
  }
  fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "cml-sim: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    fprintf(stderr, "cml-sim: the state folder %s is in use by another cml-sim\n", dir);
    close(fd);
    return -1;
  }
  return 0;
}


int st_load (void) {
  if (!cfg.state_dir) return 0;
  char path[4096];
  state_path(path, sizeof path, "");
  char *text = read_whole_file(path, NULL);
  if (!text && errno == ENOENT) return 0;           /* a fresh state dir */
  if (!text) {
    /* Starting empty would overwrite the saved state at the first save. */
    fprintf(stderr, "cml-sim: cannot read %s: %s\n", path, strerror(errno));
    return -1;
  }
  cJSON *loaded = cJSON_Parse(text);
  free(text);
  if (!cJSON_IsObject(loaded)) {
    fprintf(stderr, "cml-sim: %s is not a JSON object; move it away to start afresh\n", path);
    cJSON_Delete(loaded);
    return -1;
  }
  for (int i = 0; KINDS[i]; i++) {
    cJSON *arr = cJSON_DetachItemFromObjectCaseSensitive(loaded, KINDS[i]);
    if (cJSON_IsArray(arr)) js_set(root, KINDS[i], arr);
    else cJSON_Delete(arr);
  }
  cJSON_Delete(loaded);
  return 0;
}


int st_init (void) {
  root = cJSON_CreateObject();
  for (int i = 0; KINDS[i]; i++) cJSON_AddItemToObject(root, KINDS[i], cJSON_CreateArray());
  if (cfg.state_dir) {
    if (mkdir_p(cfg.state_dir) != 0) {
      fprintf(stderr, "cml-sim: cannot create state dir %s: %s\n", cfg.state_dir, strerror(errno));
      return -1;
    }
    char *abs = realpath(cfg.state_dir, NULL);
    if (abs) {
      free(cfg.state_dir);
      cfg.state_dir = abs;
    }
    cfg.work_dir = xstrdup(cfg.state_dir);
    if (lock_state_dir(cfg.state_dir) != 0)
      return -1;
  } else {
    const char *tmp = getenv("TMPDIR");
    char templ[4096];
    snprintf(templ, sizeof templ, "%s/cml-sim.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(templ)) {
      fprintf(stderr, "cml-sim: cannot create a temporary folder: %s\n", strerror(errno));
      return -1;
    }
    cfg.work_dir = xstrdup(templ);
    cfg.work_dir_temp = 1;
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/projects", cfg.work_dir);
  if (mkdir_p(dir) != 0 || logs_dir(dir, sizeof dir) != 0) {
    fprintf(stderr, "cml-sim: cannot create folders under %s: %s\n", cfg.work_dir, strerror(errno));
    return -1;
  }
  return st_load();
}


void st_cleanup (void) {
  if (cfg.work_dir_temp && cfg.work_dir)
    rm_tree(cfg.work_dir);
  cJSON_Delete(root);
  root = NULL;
}
