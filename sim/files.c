/*
** files.c: project files. Each project's files are a real folder (it stands for /home/cdsw):
** ListProjectFiles, UploadFile (multipart, never overwrites: name(1).ext), DownloadProjectFile,
** DeleteProjectFile (recursive), UpdateProjectFileMetadata (rename). Runs with g_lock held.
*/
#define _GNU_SOURCE 1   /* memmem, strcasestr, nftw */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim.h"


static int rm_one (const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(path) == 0 ? 0 : -1;
}


static int join (char *out, size_t n, const char *a, const char *b) {
  int r = snprintf(out, n, "%s/%s", a, b);
  return (r < 0 || (size_t)r >= n) ? -1 : 0;
}


int rm_tree (const char *path) {
  return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}


/* Relative path cleaned in place: no leading or trailing '/', "." → "", no ".." (-1). */
static int clean_rel (char *p) {
  char *src = p;
  if (strncmp(src, "/home/cdsw", 10) == 0 && (src[10] == '/' || src[10] == '\0')) src += 10;
  sbuf b = {0};
  char *save = NULL;
  char *copy = xstrdup(src);
  for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    if (strcmp(t, ".") == 0) continue;
    if (strcmp(t, "..") == 0) {
      free(copy);
      free(b.p);
      return -1;
    }
    if (b.n) sb_puts(&b, "/");
    sb_puts(&b, t);
  }
  free(copy);
  char *clean = sb_take(&b);
  strcpy(p, clean);     /* never longer than the input */
  free(clean);
  return 0;
}


/* The folders a file's path needs. */
static int mkdirs_for (const char *file) {
  const char *slash = strrchr(file, '/');
  char dir[4096];
  if (!slash) return 0;
  if ((size_t)(slash - file) >= sizeof dir) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(dir, file, (size_t)(slash - file));
  dir[slash - file] = '\0';
  return mkdir_p(dir);
}


static cJSON *file_info (const char *name, const struct stat *st) {
  cJSON *f = cJSON_CreateObject();
  js_set_str(f, "path", name);
  js_set_bool(f, "is_dir", S_ISDIR(st->st_mode));
  if (!S_ISDIR(st->st_mode)) {
    char size[32];
    snprintf(size, sizeof size, "%lld", (long long)st->st_size);
    js_set_str(f, "file_size", size);
  }
  return f;
}


static int cmp_names (const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}


static void list_files (reply *rp, const char *full, const char *rel) {
  struct stat st;
  if (stat(full, &st) != 0) {
    reply_error(rp, 5, "path not found: %s", *rel ? rel : ".");
    return;
  }
  cJSON *out = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(out, "files");
  if (!S_ISDIR(st.st_mode)) {
    const char *base = strrchr(rel, '/');
    cJSON_AddItemToArray(arr, file_info(base ? base + 1 : rel, &st));
    reply_json(rp, 200, out);
    return;
  }
  DIR *d = opendir(full);
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      names = xrealloc(names, cap * sizeof *names);
    }
    names[n++] = xstrdup(de->d_name);
  }
  if (d) closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp_names);
  for (size_t i = 0; i < n; i++) {
    char child[8192];
    if (join(child, sizeof child, full, names[i]) == 0 && stat(child, &st) == 0) cJSON_AddItemToArray(arr, file_info(names[i], &st));
    free(names[i]);
  }
  free(names);
  reply_json(rp, 200, out);
}


static void download (reply *rp, const char *full, const char *rel) {
  struct stat st;
  if (stat(full, &st) != 0) {
    reply_error(rp, 5, "path not found: %s", rel);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    reply_error(rp, 3, "%s is a directory; download files one by one", rel);
    return;
  }
  size_t len = 0;
  char *data = read_whole_file(full, &len);
  if (!data) {
    reply_error(rp, 13, "cannot read %s", rel);
    return;
  }
  free(rp->body);
  rp->body = data;
  rp->len = len;
  rp->status = 200;
  rp->ctype = "application/octet-stream";
}


/* "dir/name.ext" taken → "dir/name(1).ext", "(2)", … */
static void free_name (const char *full, char *out, size_t n) {
  struct stat st;
  if (lstat(full, &st) != 0) {
    snprintf(out, n, "%s", full);
    return;
  }
  const char *slash = strrchr(full, '/');
  const char *base = slash ? slash + 1 : full;
  const char *dot = strrchr(base, '.');
  if (!dot || dot == base) dot = base + strlen(base);
  for (int k = 1; k < 100000; k++) {
    snprintf(out, n, "%.*s(%d)%s", (int)(dot - full), full, k, dot);
    if (lstat(out, &st) != 0) return;
  }
}


static const char *header_param (const char *hdrs, size_t hlen, const char *param, char *out,
                                 size_t n) {
  char key[64];
  snprintf(key, sizeof key, "%s=\"", param);
  const char *p = hdrs;
  while ((p = memmem(p, hlen - (size_t)(p - hdrs), key, strlen(key)))) {
    if (p == hdrs || p[-1] == ' ' || p[-1] == ';') break;
    p++;
  }
  if (!p) return NULL;
  p += strlen(key);
  size_t j = 0;
  while (p < hdrs + hlen && *p != '"' && j + 1 < n) {
    if (*p == '\\' && p + 1 < hdrs + hlen) p++;
    out[j++] = *p++;
  }
  out[j] = '\0';
  return out;
}


static void upload (const request *rq, reply *rp, const char *dir) {
  const char *ct = rq->content_type ? rq->content_type : "";
  const char *bp = strcasestr(ct, "boundary=");
  if (strncasecmp(ct, "multipart/form-data", 19) != 0 || !bp) {
    reply_error(rp, 3, "upload must be multipart/form-data with the destination path as field name");
    return;
  }
  char boundary[256] = "--";
  bp += 9;
  size_t bl = 0;
  if (*bp == '"') bp++;
  while (bp[bl] && bp[bl] != '"' && bp[bl] != ';' && bp[bl] != ' ' && bl < 200) bl++;
  memcpy(boundary + 2, bp, bl);
  boundary[2 + bl] = '\0';
  size_t blen = strlen(boundary);

  const char *body = rq->body, *end = rq->body + rq->body_len;
  const char *p = memmem(body, rq->body_len, boundary, blen);
  int stored = 0;
  while (p) {
    p += blen;
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;             /* closing boundary */
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') p += 2;
    const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (!hend) break;
    const char *data = hend + 4;
    char delim[300];
    snprintf(delim, sizeof delim, "\r\n%s", boundary);
    const char *dend = memmem(data, (size_t)(end - data), delim, strlen(delim));
    if (!dend) break;
    char name[4096] = "", filename[1024] = "";
    header_param(p, (size_t)(hend - p), "name", name, sizeof name);
    header_param(p, (size_t)(hend - p), "filename", filename, sizeof filename);
    char dest[8192];
    if (!name[0]) snprintf(dest, sizeof dest, "%s", filename);
    else if (name[strlen(name) - 1] == '/') snprintf(dest, sizeof dest, "%s%s", name, filename);
    else snprintf(dest, sizeof dest, "%s", name);
    if (clean_rel(dest) != 0 || !dest[0]) {
      reply_error(rp, 3, "invalid upload destination '%s'", name[0] ? name : filename);
      return;
    }
    char full[8192], target[8400];
    if (join(full, sizeof full, dir, dest) != 0 || mkdirs_for(full) != 0) {
      reply_error(rp, 3, "cannot create the folders for '%s'", dest);
      return;
    }
    free_name(full, target, sizeof target);
    FILE *f = fopen(target, "wb");
    if (!f || fwrite(data, 1, (size_t)(dend - data), f) != (size_t)(dend - data)) {
      if (f) fclose(f);
      reply_error(rp, 13, "cannot write '%s'", dest);
      return;
    }
    fclose(f);
    stored++;
    p = dend + 2;
  }
  if (!stored) {
    reply_error(rp, 3, "no file in the upload");
    return;
  }
  reply_json(rp, 200, cJSON_CreateObject());
}


static void rename_path (const request *rq, reply *rp, const char *dir, const char *full,
                         const char *rel) {
  cJSON *body = req_json(rq, rp);
  if (!body) return;
  struct stat st;
  char to[8192], tofull[8400];
  const char *np = js_str(body, "path");
  if (!np || !*np) {
    reply_error(rp, 3, "path must be specified");
    goto done;
  }
  snprintf(to, sizeof to, "%s", np);
  if (clean_rel(to) != 0 || !to[0] || !rel[0]) {
    reply_error(rp, 3, "invalid path '%s'", np);
    goto done;
  }
  if (lstat(full, &st) != 0) {
    reply_error(rp, 5, "path not found: %s", rel);
    goto done;
  }
  if (join(tofull, sizeof tofull, dir, to) != 0) {
    reply_error(rp, 3, "path too long");
    goto done;
  }
  if (strcmp(to, rel) != 0) {
    if (lstat(tofull, &st) == 0) {
      reply_error(rp, 6, "path already exists: %s", to);
      goto done;
    }
    if (mkdirs_for(tofull) != 0 || rename(full, tofull) != 0) {
      reply_error(rp, 3, "cannot rename %s to %s: %s", rel, to, strerror(errno));
      goto done;
    }
  }
  stat(tofull, &st);
  reply_json(rp, 200, file_info(to, &st));
done:
  cJSON_Delete(body);
}


void h_files (const request *rq, reply *rp, cJSON *project, const char *rel_in, const char *verb) {
  char dir[4096], full[8400];
  char *rel = xstrdup(rel_in);
  const char *m = rq->method;
  if (project_dir(js_str(project, "id"), dir, sizeof dir) != 0) {
    reply_error(rp, 13, "project folder is not available");
    goto done;
  }
  if (clean_rel(rel) != 0) {
    reply_error(rp, 3, "invalid path '%s': '..' is not allowed", rel_in);
    goto done;
  }
  snprintf(full, sizeof full, "%s%s%s", dir, *rel ? "/" : "", rel);
  if (strcmp(verb, "download") == 0) {
    if (strcmp(m, "POST") == 0) download(rp, full, rel);
    else reply_bad_method(rp);
  } else if (strcmp(m, "GET") == 0) {
    list_files(rp, full, rel);
  } else if (strcmp(m, "POST") == 0) {
    if (*rel_in) reply_bad_method(rp);
    else upload(rq, rp, dir);
  } else if (strcmp(m, "DELETE") == 0) {
    struct stat st;
    if (!*rel) reply_error(rp, 3, "cannot delete the project folder itself");
    else if (lstat(full, &st) != 0) reply_error(rp, 5, "path not found: %s", rel);
    else if (rm_tree(full) != 0) reply_error(rp, 13, "cannot delete %s", rel);
    else reply_json(rp, 200, cJSON_CreateObject());
  } else if (strcmp(m, "PATCH") == 0) {
    rename_path(rq, rp, dir, full, rel);
  } else {
    reply_bad_method(rp);
  }
done:
  free(rel);
}
