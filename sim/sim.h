/*
** sim.h: cml-sim, a local simulator of the Cloudera AI (CML) REST API v2.
** Shared types and the functions each file offers the others.
**
** The store is one cJSON tree guarded by one mutex (g_lock). Each object keeps its public
** fields as the API shows them, plus internal ones whose names start with '_' (never shown).
*/
#ifndef CML_SIM_H
#define CML_SIM_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

struct MHD_Connection;

/* ---- configuration (main.c) ---- */

enum delay_id {
  D_PROJECT_CREATE, D_APP_START, D_APP_STOP, D_JOB_SCHEDULING, D_JOB_STARTING, D_JOB_RUNNING,
  D_JOB_STOP, D_REQUEST, D_KILL_GRACE, D_COUNT
};

typedef struct {
  char *api_key;
  char *workload_key;   /* CDSW_APIV2_KEY of exec-mode workloads; NULL: api_key */
  char *domain;
  char *state_dir;      /* NULL: memory only */
  char *work_dir;       /* project folders and logs: state_dir or a temp dir */
  int   work_dir_temp;  /* remove work_dir at exit */
  int   exec;           /* --exec */
  char *python;
  char *username;
  char  base_url[128];
  long  delay[D_COUNT];     /* milliseconds */
  double quota[3];          /* cpu, memory (GB), gpu; <= 0: unlimited */
  double capacity[3];       /* cpu, memory (GB), gpu the workspace can schedule; <= 0: unlimited */
  char *runtimes;           /* the catalog: "default", "pbj" or "classic" */
} sim_config;

extern sim_config cfg;
extern pthread_mutex_t g_lock;

const char *delay_name (int id);
int delay_lookup (const char *name);           /* -1 if unknown */
/* "name=ms" → 0, or -1 with *err set. */
int delay_parse (const char *spec, const char **err);
/* "cpu=N,memory=N,gpu=N" (any of them) into out[cpu, memory, gpu] → 0, or -1 with *err set. */
int resources_parse (const char *spec, double out[3], const char **err);
void request_shutdown (void);

/* ---- strings and JSON helpers (json_util.c) ---- */

typedef struct { char *p; size_t n, cap; } sbuf;
void sb_add (sbuf *b, const void *s, size_t n);
void sb_puts (sbuf *b, const char *s);
void sb_printf (sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sb_take (sbuf *b);            /* NUL-terminated, caller frees; b is reset */
/* A whole file, NUL-terminated (caller frees; *len if len); NULL (errno set) if it cannot be opened or read. */
char *read_whole_file (const char *path, size_t *len);
/* xstrdup, xmalloc and xrealloc abort when out of memory. */
char *xstrdup (const char *s);
void *xmalloc (size_t n);
void *xrealloc (void *p, size_t n);
char *js_print (const cJSON *v, int formatted);    /* never NULL (aborts when out of memory) */
cJSON *js_string_array (const cJSON *src);         /* the strings of an array, as a new array */

const char *js_str (const cJSON *o, const char *k);   /* NULL unless a string */
double js_num (const cJSON *o, const char *k, double dflt);
/* A JSON number as int / long: clamped to the type's range, NaN gives 0 (a plain cast is UB). */
int js_to_int (double d);
long js_to_long (double d);
int js_bool (const cJSON *o, const char *k, int dflt);
int js_has (const cJSON *o, const char *k);
void js_set (cJSON *o, const char *k, cJSON *v);       /* replace or add; takes v */
void js_set_str (cJSON *o, const char *k, const char *v);
void js_set_num (cJSON *o, const char *k, double v);
void js_set_bool (cJSON *o, const char *k, int v);
void js_del (cJSON *o, const char *k);
const cJSON *js_path (const cJSON *o, const char *dotted);
cJSON *js_public (const cJSON *o);                     /* copy without '_' keys */
cJSON *js_short_user (void);

/* ---- store (store.c) ---- */

cJSON *st_root (void);
cJSON *st_list (const char *kind);       /* "projects", "applications", "jobs", "runs" */
cJSON *st_find (const char *kind, const char *id);
cJSON *st_find_in (const char *kind, const char *project_id, const char *id);
void st_remove (const char *kind, cJSON *obj);
/* Remove every <kind> object whose string field key equals value, ending its process first. */
void st_remove_where (const char *kind, const char *key, const char *value);
void st_dirty (void);
void st_save_if_dirty (void);
int st_load (void);                      /* 0 ok (or nothing to load), -1 error (message printed) */
int st_init (void);                      /* work dir, state; 0 ok */
void st_cleanup (void);

void new_id4 (char out[20]);             /* ab12-cd34-ef56-gh78 */
void new_alnum (char *out, int n);       /* n chars + NUL */
double now_ms (void);                    /* wall clock, ms */
void iso_time (double ms, char out[40]);
void now_iso (char out[40]);
/* mkdir -p (mode 0755): 0 ok, -1 with errno set. */
int mkdir_p (const char *path);
/* The project's home folder (stands for /home/cdsw); created on demand. */
int project_dir (const char *project_id, char *out, size_t n);
int logs_dir (char *out, size_t n);

/* ---- HTTP plumbing (server.c) ---- */

typedef struct {
  const char *method;
  const char *path;             /* percent-decoded, without the query */
  struct MHD_Connection *conn;
  const char *body;
  size_t body_len;
  const char *content_type;
} request;

typedef struct {
  int status;
  char *body;                   /* malloc'd */
  size_t len;
  const char *ctype;
  int retry_after;              /* seconds; < 0 none */
} reply;

const char *req_arg (const request *rq, const char *name);
/* Parse the JSON body; an empty body gives {}. NULL after an error reply was set. */
cJSON *req_json (const request *rq, reply *rp);
void reply_json (reply *rp, int status, cJSON *obj);      /* takes obj */
void reply_text (reply *rp, int status, const char *ctype, const char *data, size_t len);
void reply_bad_method (reply *rp);
void reply_error (reply *rp, int grpc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int grpc_http_status (int grpc);
int http_grpc_code (int http);

int server_start (const char *host, int port, const char *tls_cert, const char *tls_key);
void server_stop (void);

/* ---- API handlers (one file per resource) ---- */

void api_dispatch (const request *rq, reply *rp);          /* routes.c */
void h_validate_key (const request *rq, reply *rp);
void h_projects (const request *rq, reply *rp, char **seg, int nseg);
void h_runtimes (const request *rq, reply *rp);
void h_applications (const request *rq, reply *rp, cJSON *project, char **seg, int nseg);
void h_jobs (const request *rq, reply *rp, cJSON *project, char **seg, int nseg);
void h_all_jobs (const request *rq, reply *rp);
void h_runs (const request *rq, reply *rp, cJSON *job, char **seg, int nseg);
void h_files (const request *rq, reply *rp, cJSON *project, const char *rel, const char *verb);
int rm_tree (const char *path);

/* runtimes.c */
const cJSON *runtime_find (const char *image_identifier);
cJSON *runtime_catalog (void);
/* Checks shared by applications and jobs: runtime/kernel, resources, script. 0 ok. */
int check_runtime (reply *rp, const cJSON *project, const char *runtime, const char *kernel);
int check_script (reply *rp, const cJSON *project, const char *script);
int check_resources (reply *rp, double cpu, double mem, double gpu);
/* Quota: 0 ok, else error reply set (429). exclude: object not to count. */
int check_quota (reply *rp, double cpu, double mem, double gpu, const cJSON *exclude);
/* environment: a map (request form) or a JSON string (cmlapi update form) → canonical string. */
char *env_to_string (const cJSON *v, reply *rp);

/* The fields applications and jobs share: script, runtime, kernel, resources (strings borrowed
** from the request body). Reading checks them: 0 ok, else an error reply is set. */
typedef struct {
  const char *script, *runtime, *kernel;
  double cpu, mem, gpu;
} workload;
/* Create: defaults 1 CPU, 1 GB, 0 GPU; runtime/kernel, script and resources are checked. */
int workload_read_new (reply *rp, const cJSON *project, const cJSON *body, workload *w);
/* Update: resources default to obj's; a non-empty script or runtime is checked. */
int workload_read_update (reply *rp, const cJSON *project, const cJSON *body, const cJSON *obj,
                          workload *w);
/* A new object with id, name, creator, times, the workload fields, environment, run_as,
** accelerator_label_id, resource group/profile and _project_id. */
cJSON *workload_create (const cJSON *project, const cJSON *body, const char *name,
                        const workload *w, const char *env);
/* Update: store what the body gave (name and env may be NULL), bump updated_at, reply with obj. */
void workload_update (reply *rp, cJSON *obj, const char *name, const workload *w, const char *env);

/* listing.c: search_filter, sort, pagination over an array of store objects. */
typedef struct {
  const char *kind;                 /* for messages */
  const char *const *filter_keys;   /* NULL-terminated */
  const char *const *sort_keys;
  const char *(*status_word) (const char *word);  /* lowercase filter word → enum, or NULL */
} list_spec;
/* Builds {"<items_key>": [...], "next_page_token": ...} from the candidates (not taken). */
void list_reply (const request *rq, reply *rp, const list_spec *spec, const cJSON **items, int n,
                 const char *items_key);
/* list_reply over the store's <store_kind> objects whose string field key equals value (all when
** value is NULL). */
void list_reply_where (const request *rq, reply *rp, const list_spec *spec, const char *store_kind,
                       const char *key, const char *value, const char *items_key);

/* ---- lifecycles (lifecycle.c) ---- */

int lifecycle_start (void);
void lifecycle_stop (void);
void app_begin_start (cJSON *app);      /* → APPLICATION_STARTING (and spawn in exec mode) */
void app_begin_stop (cJSON *app);
void end_process (cJSON *obj);          /* delete: end an app's or run's process */
void run_begin (cJSON *run);
void run_begin_stop (cJSON *run);
int run_is_active (const cJSON *run);
void app_fail_now (cJSON *app);         /* fail_application on an existing app */
/* jobs.c: a new run of the job (no checks); env: env_to_string's canonical JSON, or NULL for {}. */
cJSON *run_create_for (cJSON *job, const char *env, const char *arguments);
int app_counts_for_quota (const cJSON *app);
/* capacity.c: does the workload (an app or a run) fit in what the workspace can schedule now? */
int capacity_fits (const cJSON *o);
cJSON *resources_json (const double r[3]);           /* {"cpu":..,"memory":..,"gpu":..}, null: unlimited */
/* POST body of /_sim/quota or /_sim/capacity into r: 0, or -1 with an error reply set. */
int resources_set (const cJSON *body, double r[3], const char *what, reply *rp);
void lifecycle_after_load (void);

/* ---- faults and control API (faults.c, control.c) ---- */

typedef struct {
  char action[16];     /* status drop slow truncate malformed oversize */
  int status;
  int retry_after;
  long delay_ms;
  long size;
  int apply;
} fault_hit;

int fault_take (const char *method, const char *path, fault_hit *out);   /* 1 if a rule fired */
int faults_set (const cJSON *rules, const char **err);
void faults_clear (void);
cJSON *faults_json (void);

int fail_app_take (const char *name);     /* 1 if the named app should fail (consumes) */
int fail_job_take (const char *name);
void fail_rules_add (int is_app, const char *name, int count);
void fail_rules_clear (void);

void reqlog_add (const char *method, const char *raw_path, const char *raw_query, int status,
                 const char *body, size_t body_len, const char *authorization);
void control_dispatch (const request *rq, reply *rp);

/* ---- exec mode (exec.c) ---- */

typedef struct {
  const char *kind;              /* "application" or "run" */
  const char *id;
  const cJSON *project;
  const char *script;
  const char *arguments;         /* split on blanks, no shell */
  const char *env_layers[3];     /* JSON strings, later overrides earlier; NULLs allowed */
  int app_port, ro_port;
  const char *engine_id;
  double cpu, memory;
} spawn_spec;

pid_t ex_spawn (const spawn_spec *sp);    /* -1 on failure */
int ex_check (pid_t pid, int *code);      /* 0 running, 1 exited, -1 unknown */
void ex_terminate (pid_t pid, int forget);
void ex_tick (void);
void ex_stop_all (void);
int ex_port_open (int port);
int ex_free_port (void);
int ex_log_path (const char *kind, const char *id, char *out, size_t n);

#endif
