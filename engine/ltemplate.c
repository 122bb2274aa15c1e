/*
** ltemplate.c: raycai.template: renders the launcher scripts (language: docs/DEVELOPING.md).
**
** Two phases. compile() tokenizes the text in one pass into an array of nodes kept in a
** userdata (memory the GC owns, so raising never leaks), and checks tags, blocks, paths and
** filters, so syntax errors are found even in branches that are not taken. render() walks the
** nodes appending to a luaL_Buffer. Templates never run code: variables are read with raw
** table access (no metamethods) and a function value is an error.
**
** Expected failures (syntax, missing variable, a value a filter cannot take) return
** nil, "<name>:<line>: <message>"; bad arguments raise. Errors are formatted into a fixed
** C array, so nothing is allocated in C at any point.
*/
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "raycai.h"
#include "template_quote.h"

#define MAXDEPTH 32   /* nested blocks */
#define JSONDEPTH 64  /* nested tables under | json */
#define ERRSZ 512
#define FD_MT "raycai.template.fd"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

enum { N_TEXT, N_VAR, N_FILTER, N_IF, N_ELSE, N_ENDIF, N_EACH, N_ENDEACH };
enum { P_NAME, P_THIS, P_INDEX };       /* path kinds */
enum { F_PY, F_SH, F_JSON, F_DEFAULT };  /* filter kinds */

typedef struct Node {
  const char *s;  /* TEXT: the text; VAR, IF, EACH: the path; FILTER: the filter's name */
  size_t len;
  int line;
  int aux;  /* IF, ELSE, EACH: the matching ELSE or end; VAR: filter count; default: constant */
  unsigned char kind, sub;  /* sub: path kind (VAR, IF, EACH) or filter kind (FILTER) */
} Node;

typedef struct Tmpl {
  lua_State *L;
  const char *name;   /* for messages */
  const char *src;
  size_t srclen;
  Node *nodes;
  int n, cap;
  int slot;           /* stack index of the nodes userdata */
  int consts;         /* stack index of the default() constants */
  int nconsts;
  size_t lpos;        /* line counting: line is the line of src[lpos] */
  int line;
  int vars, scopes;   /* stack indices: the variables; each lists (-d) and elements (d) */
  int depth;          /* #each nesting while rendering */
  lua_Integer index[MAXDEPTH + 1];
  char err[ERRSZ];
} Tmpl;

typedef struct Key {
  const char *s;
  size_t len;
} Key;


/* Format "<name>:<line>: <message>" into T->err; returns -1 for `return tfail(...)`. */
PRINTF_LIKE(3, 4)
static int tfail (Tmpl *T, int line, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(T->err, ERRSZ, "%s:%d: ", T->name, line);
  if (n < 0 || n >= ERRSZ)
    n = ERRSZ - 1;
  va_start(ap, fmt);
  vsnprintf(T->err + n, (size_t)(ERRSZ - n), fmt, ap);
  va_end(ap);
  return -1;
}


/* The line of src[pos]; positions must be asked for in increasing order. */
static int line_at (Tmpl *T, size_t pos) {
  const char *p = T->src + T->lpos, *e = T->src + pos;
  while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
    T->line++;
    p++;
  }
  T->lpos = pos;
  return T->line;
}


/* ======================================================================
** Compiling
** ====================================================================== */

/* Append a node, growing the array (a new userdata replaces the old in T->slot). */
static int add_node (Tmpl *T, int kind, const char *s, size_t len, int line) {
  Node *nd;
  if (T->n == T->cap) {
    Node *nn = (Node *)lua_newuserdatauv(T->L, 2 * (size_t)T->cap * sizeof(Node), 0);
    memcpy(nn, T->nodes, (size_t)T->n * sizeof(Node));
    lua_replace(T->L, T->slot);
    T->nodes = nn;
    T->cap *= 2;
  }
  nd = &T->nodes[T->n];
  nd->kind = (unsigned char)kind;
  nd->sub = 0;
  nd->s = s;
  nd->len = len;
  nd->line = line;
  nd->aux = -1;
  return T->n++;
}


static int is_space (char c) {
  return c == ' ' || c == '\t';
}


static int is_segchar (char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}


/* End of the path segment starting at p. */
static const char *seg_end (const char *p, const char *e) {
  while (p < e && is_segchar(*p))
    p++;
  return p;
}


/*
** Length of the path at s[0..n) (`@index`, `this`, `this.a.b`, `a.b.c`), setting *kind;
** 0 when s does not start with a path.
*/
static size_t parse_path (const char *s, size_t n, unsigned char *kind) {
  const char *p = s, *e = s + n, *q;
  if (n >= 6 && memcmp(s, "@index", 6) == 0 && (n == 6 || !is_segchar(s[6]))) {
    *kind = P_INDEX;
    return 6;
  }
  q = seg_end(p, e);
  if (q == p)
    return 0;
  *kind = (q - p == 4 && memcmp(p, "this", 4) == 0) ? P_THIS : P_NAME;
  p = q;
  while (p + 1 < e && *p == '.' && is_segchar(p[1]))
    p = seg_end(p + 1, e);
  return (size_t)(p - s);
}


/* Number of #each blocks among the open ones. */
static int each_depth (const Tmpl *T, const int *opener, int nopen) {
  int k, d = 0;
  for (k = 0; k < nopen; k++)
    d += T->nodes[opener[k]].kind == N_EACH;
  return d;
}


/*
** Parse the default() argument at s[0..n) ("str", 'str', a number, true, false, null/nil/None),
** store it as the next constant and return its length, or 0 after tfail.
*/
static size_t parse_literal (Tmpl *T, const char *s, size_t n, int line) {
  lua_State *L = T->L;
  size_t i;
  if (n > 0 && (s[0] == '"' || s[0] == '\'')) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (i = 1; i < n && s[i] != s[0]; i++) {
      char c = s[i];
      if (c == '\\' && i + 1 < n) {
        c = s[++i];
        c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
      }
      luaL_addchar(&b, c);
    }
    if (i >= n) {
      tfail(T, line, "unterminated string in default()");
      return 0;
    }
    luaL_pushresult(&b);
    i++;
  }
  else {
    char tok[64];
    i = 0;
    while (i < n && !is_space(s[i]) && s[i] != ')')
      i++;
    if (i == 0 || i >= sizeof tok) {
      tfail(T, line, "default() needs a string, number, true, false or null");
      return 0;
    }
    memcpy(tok, s, i);
    tok[i] = '\0';
    if (strcmp(tok, "true") == 0 || strcmp(tok, "false") == 0)
      lua_pushboolean(L, tok[0] == 't');
    else if (strcmp(tok, "null") == 0 || strcmp(tok, "nil") == 0 || strcmp(tok, "None") == 0)
      lua_pushnil(L);
    else if (lua_stringtonumber(L, tok) != i + 1) {
      tfail(T, line, "default() needs a string, number, true, false or null, not '%s'", tok);
      return 0;
    }
  }
  lua_rawseti(L, T->consts, ++T->nconsts);
  return i;
}


/* Compile `{{ path | filter | default(x) }}` at s[0..n) into a VAR node and its FILTERs. */
static int compile_var (Tmpl *T, const char *s, size_t n, int line, int in_each) {
  unsigned char kind;
  size_t plen = parse_path(s, n, &kind), i;
  int var;
  if (plen == 0)
    return tfail(T, line, "invalid expression '{{%.*s}}'", (int)n, s);
  if (kind == P_INDEX && !in_each)
    return tfail(T, line, "'@index' outside {{#each}}");
  var = add_node(T, N_VAR, s, plen, line);
  T->nodes[var].sub = kind;
  T->nodes[var].aux = 0;
  i = plen;
  while (i < n && is_space(s[i]))
    i++;
  while (i < n) {
    size_t start;
    int f, fk;
    if (s[i] != '|')
      return tfail(T, line, "invalid expression '{{%.*s}}'", (int)n, s);
    i++;
    while (i < n && is_space(s[i]))
      i++;
    start = i;
    while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
      i++;
    if (i == start)
      return tfail(T, line, "missing filter name after '|' in '{{%.*s}}'", (int)n, s);
    if (i - start == 2 && memcmp(s + start, "py", 2) == 0)
      fk = F_PY;
    else if (i - start == 2 && memcmp(s + start, "sh", 2) == 0)
      fk = F_SH;
    else if (i - start == 4 && memcmp(s + start, "json", 4) == 0)
      fk = F_JSON;
    else if (i - start == 7 && memcmp(s + start, "default", 7) == 0)
      fk = F_DEFAULT;
    else
      return tfail(T, line, "unknown filter '%.*s'", (int)(i - start), s + start);
    f = add_node(T, N_FILTER, s + start, i - start, line);
    T->nodes[f].sub = (unsigned char)fk;
    T->nodes[var].aux++;
    while (i < n && is_space(s[i]))
      i++;
    if (fk == F_DEFAULT) {
      size_t used;
      if (i >= n || s[i] != '(')
        return tfail(T, line, "default needs an argument: default(\"value\")");
      i++;
      while (i < n && is_space(s[i]))
        i++;
      used = parse_literal(T, s + i, n - i, line);
      if (used == 0)
        return -1;
      T->nodes[f].aux = T->nconsts;
      i += used;
      while (i < n && is_space(s[i]))
        i++;
      if (i >= n || s[i] != ')')
        return tfail(T, line, "missing ')' after the argument of default()");
      i++;
      while (i < n && is_space(s[i]))
        i++;
    }
    else if (i < n && s[i] != '|')
      return tfail(T, line, "invalid expression '{{%.*s}}'", (int)n, s);
  }
  return 0;
}


/* Find "{{" in s[from..len); its offset or len. */
static size_t find_open (const char *s, size_t from, size_t len) {
  while (from + 1 < len) {
    const char *p = memchr(s + from, '{', len - from - 1);
    if (p == NULL)
      return len;
    if (p[1] == '{')
      return (size_t)(p - s);
    from = (size_t)(p - s) + 1;
  }
  return len;
}


/*
** Offset of the "}}" closing the tag whose "{{" is at `at`, or 0 when there is none. Comments
** ({{! }} or {{!-- --}}) may span lines; other tags must close on their line, and a "}}" inside
** a quoted default() argument does not count.
*/
static size_t find_close (const char *s, size_t at, size_t len) {
  size_t i = at + 2;
  char q = 0;
  if (i < len && s[i] == '!') {
    int dashes = i + 2 < len && s[i + 1] == '-' && s[i + 2] == '-';
    for (i += dashes ? 3 : 1; i + 1 < len; i++) {
      if (s[i] == '}' && s[i + 1] == '}' && (!dashes || (i >= 2 && s[i - 1] == '-' &&
                                                          s[i - 2] == '-')))
        return i;
    }
    return 0;
  }
  for (; i < len && s[i] != '\n'; i++) {
    if (q) {
      if (s[i] == '\\')
        i++;
      else if (s[i] == q)
        q = 0;
    }
    else if (s[i] == '"' || s[i] == '\'')
      q = s[i];
    else if (s[i] == '}' && i + 1 < len && s[i + 1] == '}')
      return i;
  }
  return 0;
}


/* Handle a block tag (#if, #each, else, /if, /each) whose text is s[0..n). */
static int compile_block (Tmpl *T, const char *s, size_t n, int line,
                          int *open, int *opener, int *nopen) {
  const char *w = s + 1, *e = s + n;
  const char *we = seg_end(w, e);
  size_t wl = (size_t)(we - w);
  int is_if = wl == 2 && memcmp(w, "if", 2) == 0;
  int is_each = wl == 4 && memcmp(w, "each", 4) == 0;
  if (s[0] == '#') {
    unsigned char kind;
    size_t plen;
    int nd;
    if (!is_if && !is_each)
      return tfail(T, line, "unknown block '{{%.*s}}'", (int)n, s);
    while (we < e && is_space(*we))
      we++;
    plen = parse_path(we, (size_t)(e - we), &kind);
    if (plen == 0 || we + plen != e)
      return tfail(T, line, "'{{%.*s}}' needs one variable name", (int)n, s);
    if (kind == P_INDEX && each_depth(T, opener, *nopen) == 0)
      return tfail(T, line, "'@index' outside {{#each}}");
    if (*nopen == MAXDEPTH)
      return tfail(T, line, "blocks nested more than %d deep", MAXDEPTH);
    nd = add_node(T, is_if ? N_IF : N_EACH, we, plen, line);
    T->nodes[nd].sub = kind;
    open[*nopen] = opener[*nopen] = nd;
    (*nopen)++;
    return 0;
  }
  if (s[0] == '/') {
    const Node *top;
    int nd;
    if ((!is_if && !is_each) || we != e)
      return tfail(T, line, "unknown block '{{%.*s}}'", (int)n, s);
    if (*nopen == 0)
      return tfail(T, line, "'{{/%s}}' without '{{#%s}}'", is_if ? "if" : "each",
                   is_if ? "if" : "each");
    top = &T->nodes[opener[*nopen - 1]];
    if ((top->kind == N_IF) != is_if)
      return tfail(T, line, "'{{/%s}}' does not match '{{#%s %.*s}}' from line %d",
                   is_if ? "if" : "each", top->kind == N_IF ? "if" : "each",
                   (int)top->len, top->s, top->line);
    nd = add_node(T, is_if ? N_ENDIF : N_ENDEACH, NULL, 0, line);
    T->nodes[open[*nopen - 1]].aux = nd;
    (*nopen)--;
    return 0;
  }
  /* else */
  if (*nopen == 0 || T->nodes[opener[*nopen - 1]].kind != N_IF)
    return tfail(T, line, "'{{else}}' outside '{{#if}}'");
  if (open[*nopen - 1] != opener[*nopen - 1])
    return tfail(T, line, "second '{{else}}' in '{{#if}}' from line %d",
                 T->nodes[opener[*nopen - 1]].line);
  {
    int nd = add_node(T, N_ELSE, NULL, 0, line);
    T->nodes[open[*nopen - 1]].aux = nd;
    open[*nopen - 1] = nd;  /* {{/if}} now closes the else branch */
  }
  return 0;
}


/*
** True when the tag at s[at..end) stands alone on its line (only blanks around it); then
** *ls and *next are set to the start of the line and the start of the following line.
*/
static int standalone (const char *s, size_t len, size_t chunk, size_t at, size_t end,
                       size_t *ls, size_t *next) {
  size_t l = at, r = end;
  while (l > chunk && is_space(s[l - 1]))
    l--;
  if (l > 0 && s[l - 1] != '\n')
    return 0;
  while (r < len && is_space(s[r]))
    r++;
  if (r < len && s[r] == '\r' && r + 1 < len && s[r + 1] == '\n')
    r++;
  if (r < len && s[r] != '\n')
    return 0;
  *ls = l;
  *next = r < len ? r + 1 : len;
  return 1;
}


/* Tokenize T->src into T->nodes in one pass; 0, or -1 after tfail. */
static int compile (Tmpl *T) {
  const char *s = T->src;
  size_t len = T->srclen, pos = 0, chunk = 0;
  int open[MAXDEPTH], opener[MAXDEPTH], nopen = 0;
  for (;;) {
    size_t at = find_open(s, pos, len), close, end, text_end, next, n;
    const char *in;
    int line, block;
    if (at == len) {
      if (len > chunk)
        add_node(T, N_TEXT, s + chunk, len - chunk, 0);
      break;
    }
    if (at > 0 && s[at - 1] == '\\') {  /* \{{ is a literal {{ */
      if (at - 1 > chunk)
        add_node(T, N_TEXT, s + chunk, at - 1 - chunk, 0);
      chunk = at;
      pos = at + 2;
      continue;
    }
    line = line_at(T, at);
    close = find_close(s, at, len);
    if (close == 0)
      return tfail(T, line, "unterminated tag: '{{' without '}}' on the same line");
    end = close + 2;
    in = s + at + 2;
    n = close - (at + 2);
    while (n > 0 && is_space(*in)) {
      in++;
      n--;
    }
    while (n > 0 && is_space(in[n - 1]))
      n--;
    if (n == 0)
      return tfail(T, line, "empty tag '{{}}'");
    block = s[at + 2] == '!' || in[0] == '#' || in[0] == '/' ||
            (n == 4 && memcmp(in, "else", 4) == 0);
    text_end = at;
    next = end;
    if (block)
      standalone(s, len, chunk, at, end, &text_end, &next);
    if (text_end > chunk)
      add_node(T, N_TEXT, s + chunk, text_end - chunk, 0);
    if (s[at + 2] != '!') {
      int rc = block ? compile_block(T, in, n, line, open, opener, &nopen)
                     : compile_var(T, in, n, line, each_depth(T, opener, nopen) > 0);
      if (rc != 0)
        return -1;
    }
    chunk = pos = next;
  }
  if (nopen > 0) {
    const Node *top = &T->nodes[opener[nopen - 1]];
    return tfail(T, top->line, "'{{#%s %.*s}}' is never closed", top->kind == N_IF ? "if" : "each",
                 (int)top->len, top->s);
  }
  return 0;
}


/* ======================================================================
** Rendering
** ====================================================================== */

static int is_null (lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}


/* Push t[key] for the path segment s[0..n) (raw access); digits index arrays first. */
static void get_key (lua_State *L, int t, const char *s, size_t n) {
  size_t i = 0;
  lua_Integer k = 0;
  while (i < n && i < 18 && s[i] >= '0' && s[i] <= '9')
    k = k * 10 + (s[i++] - '0');
  if (i == n) {
    lua_rawgeti(L, t, k);
    if (!lua_isnil(L, -1))
      return;
    lua_pop(L, 1);
  }
  lua_pushlstring(L, s, n);
  lua_rawget(L, t);
}


/*
** Push the value of the node's path (nil when missing). The first name is looked up in the
** #each elements innermost first, then in the variables. 0, or -1 for a function value.
*/
static int resolve (Tmpl *T, const Node *nd) {
  lua_State *L = T->L;
  const char *p = nd->s, *e = nd->s + nd->len;
  if (nd->sub == P_INDEX) {
    lua_pushinteger(L, T->index[T->depth]);
    return 0;
  }
  if (nd->sub == P_THIS) {
    if (T->depth > 0)
      lua_rawgeti(L, T->scopes, T->depth);
    else
      lua_pushvalue(L, T->vars);
    p += 4;
  }
  else {
    const char *q = seg_end(p, e);
    int d, found = 0;
    for (d = T->depth; d >= 1 && !found; d--) {
      lua_rawgeti(L, T->scopes, d);
      if (lua_type(L, -1) == LUA_TTABLE) {
        get_key(L, lua_gettop(L), p, (size_t)(q - p));
        lua_remove(L, -2);  /* remove the element */
        found = !lua_isnil(L, -1);
        if (!found)
          lua_pop(L, 1);
      }
      else
        lua_pop(L, 1);
    }
    if (!found)
      get_key(L, T->vars, p, (size_t)(q - p));
    p = q;
  }
  while (p < e) {  /* at a '.' */
    const char *q = seg_end(++p, e);
    if (lua_type(L, -1) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_pushnil(L);
      break;
    }
    get_key(L, lua_gettop(L), p, (size_t)(q - p));
    lua_remove(L, -2);  /* remove the parent */
    p = q;
  }
  if (lua_type(L, -1) == LUA_TFUNCTION)
    return tfail(T, nd->line, "'%.*s' is a function (templates never call code)",
                 (int)nd->len, nd->s);
  return 0;
}


static int undefined (Tmpl *T, const Node *nd) {
  return tfail(T, nd->line, "undefined variable '%.*s'", (int)nd->len, nd->s);
}


/* Truth of a value for {{#if}}: nil, false, null, "" and an empty table are false. */
static int truthy (lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return 0;
    case LUA_TBOOLEAN: return lua_toboolean(L, idx);
    case LUA_TSTRING: return lua_rawlen(L, idx) > 0;
    case LUA_TLIGHTUSERDATA: return lua_touserdata(L, idx) != NULL;
    case LUA_TTABLE: {
      int nonempty;
      lua_pushnil(L);
      nonempty = lua_next(L, idx);
      if (nonempty)
        lua_pop(L, 2);  /* pop key and value */
      return nonempty;
    }
    default: return 1;
  }
}


/* Format a number for Python or JSON into buf; -1 for inf and nan. */
static int format_number (lua_State *L, int idx, char *buf, size_t size) {
  if (lua_isinteger(L, idx)) {
    snprintf(buf, size, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
    return 0;
  }
  {
    double d = (double)lua_tonumber(L, idx);
    if (!isfinite(d))
      return -1;
    tq_format_float(buf, size, d);
    return 0;
  }
}


/* | py: replace the value on top by its Python literal. */
static int filter_py (Tmpl *T, const Node *nd) {
  lua_State *L = T->L;
  char num[64];
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
      size_t len, bad;
      const char *s = lua_tolstring(L, -1, &len);
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      if (tq_py_string(&b, s, len, &bad) != 0)
        return tfail(T, nd->line, "| py: '%.*s' is not valid UTF-8 (at byte %zu)",
                     (int)nd->len, nd->s, bad + 1);
      luaL_pushresult(&b);
      lua_remove(L, -2);  /* remove the original */
      return 0;
    }
    case LUA_TNUMBER:
      if (format_number(L, -1, num, sizeof num) != 0)
        return tfail(T, nd->line, "| py: '%.*s' is not a finite number", (int)nd->len, nd->s);
      lua_pop(L, 1);
      lua_pushstring(L, num);
      return 0;
    case LUA_TBOOLEAN: {
      int v = lua_toboolean(L, -1);
      lua_pop(L, 1);
      lua_pushstring(L, v ? "True" : "False");
      return 0;
    }
    case LUA_TNIL:
      lua_pop(L, 1);
      lua_pushliteral(L, "None");
      return 0;
    case LUA_TLIGHTUSERDATA:
      if (is_null(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "None");
        return 0;
      }
      break;
    case LUA_TTABLE:
      return tfail(T, nd->line, "| py: '%.*s' is a table (use | json | py)", (int)nd->len, nd->s);
    default:
      break;
  }
  return tfail(T, nd->line, "| py: '%.*s' is a %s", (int)nd->len, nd->s, luaL_typename(L, -1));
}


/* | sh: replace the string or number on top by a single-quoted shell word. */
static int filter_sh (Tmpl *T, const Node *nd) {
  lua_State *L = T->L;
  size_t len, bad;
  const char *s;
  luaL_Buffer b;
  int t = lua_type(L, -1);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    return tfail(T, nd->line, "| sh: '%.*s' is a %s, not a string or number", (int)nd->len,
                 nd->s, is_null(L, -1) ? "null" : luaL_typename(L, -1));
  s = lua_tolstring(L, -1, &len);
  luaL_buffinit(L, &b);
  if (tq_sh_word(&b, s, len, &bad) != 0)
    return tfail(T, nd->line, "| sh: '%.*s' holds a NUL byte (at byte %zu)", (int)nd->len, nd->s,
                 bad + 1);
  luaL_pushresult(&b);
  lua_remove(L, -2);  /* remove the original */
  return 0;
}


static int key_cmp (const void *a, const void *b) {
  const Key *x = (const Key *)a, *y = (const Key *)b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c != 0)
    return c;
  return (x->len > y->len) - (x->len < y->len);
}


static int json_value (Tmpl *T, const Node *nd, int idx, int depth);


/*
** Push the JSON of the table at idx: an array when its keys are exactly 1..n, an object with
** sorted keys when they are all strings, {} when empty. Each level builds its own buffer and
** hands its result up, so values can be pushed between buffer operations.
*/
static int json_table (Tmpl *T, const Node *nd, int idx, int depth) {
  lua_State *L = T->L;
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0, ints = 0, strs = 0, k;
  luaL_Buffer b;
  if (depth >= JSONDEPTH)
    return tfail(T, nd->line, "| json: '%.*s' is nested more than %d deep (a cycle?)",
                 (int)nd->len, nd->s, JSONDEPTH);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);  /* pop value, keep key */
    count++;
    if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n)
      ints++;
    else if (lua_type(L, -1) == LUA_TSTRING)
      strs++;
  }
  if (count == 0) {
    lua_pushliteral(L, "{}");
    return 0;
  }
  if (ints == count && ints == n) {
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '[');
    for (k = 1; k <= n; k++) {
      if (k > 1)
        luaL_addchar(&b, ',');
      lua_rawgeti(L, idx, k);
      if (json_value(T, nd, lua_gettop(L), depth + 1) != 0)
        return -1;
      lua_remove(L, -2);  /* remove the element, keep its JSON */
      luaL_addvalue(&b);
    }
    luaL_addchar(&b, ']');
    luaL_pushresult(&b);
    return 0;
  }
  if (strs != count)
    return tfail(T, nd->line, "| json: a table in '%.*s' is neither an array nor an object "
                 "with string keys", (int)nd->len, nd->s);
  {
    Key *keys = (Key *)lua_newuserdatauv(L, (size_t)count * sizeof(Key), 0);
    k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {  /* the table keeps the key strings alive */
      lua_pop(L, 1);
      keys[k].s = lua_tolstring(L, -1, &keys[k].len);
      k++;
    }
    qsort(keys, (size_t)count, sizeof(Key), key_cmp);
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '{');
    for (k = 0; k < count; k++) {
      size_t bad;
      if (k > 0)
        luaL_addchar(&b, ',');
      if (tq_json_string(&b, keys[k].s, keys[k].len, &bad) != 0)
        return tfail(T, nd->line, "| json: a key in '%.*s' is not valid UTF-8", (int)nd->len,
                     nd->s);
      luaL_addchar(&b, ':');
      lua_pushlstring(L, keys[k].s, keys[k].len);
      lua_rawget(L, idx);
      if (json_value(T, nd, lua_gettop(L), depth + 1) != 0)
        return -1;
      lua_remove(L, -2);  /* remove the value, keep its JSON */
      luaL_addvalue(&b);
    }
    luaL_addchar(&b, '}');
    luaL_pushresult(&b);
    lua_remove(L, -2);  /* remove the keys */
  }
  return 0;
}


/* Push the JSON text of the value at idx (absolute); 0, or -1 after tfail. */
static int json_value (Tmpl *T, const Node *nd, int idx, int depth) {
  lua_State *L = T->L;
  char num[64];
  luaL_checkstack(L, 8, "| json: nested too deeply");
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      lua_pushliteral(L, "null");
      return 0;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
      return 0;
    case LUA_TNUMBER:
      if (format_number(L, idx, num, sizeof num) != 0)
        return tfail(T, nd->line, "| json: '%.*s' holds a number that is not finite",
                     (int)nd->len, nd->s);
      lua_pushstring(L, num);
      return 0;
    case LUA_TSTRING: {
      size_t len, bad;
      const char *s = lua_tolstring(L, idx, &len);
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      if (tq_json_string(&b, s, len, &bad) != 0)
        return tfail(T, nd->line, "| json: '%.*s' holds a string that is not valid UTF-8 "
                     "(at byte %zu)", (int)nd->len, nd->s, bad + 1);
      luaL_pushresult(&b);
      return 0;
    }
    case LUA_TTABLE:
      return json_table(T, nd, idx, depth);
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) {
        lua_pushliteral(L, "null");
        return 0;
      }
      break;
    default:
      break;
  }
  return tfail(T, nd->line, "| json: '%.*s' holds a %s", (int)nd->len, nd->s,
               luaL_typename(L, idx));
}


/* Render the VAR node at i and its filters; the text is added to b. */
static int render_var (Tmpl *T, luaL_Buffer *b, int i) {
  lua_State *L = T->L;
  const Node *nd = &T->nodes[i];
  int k, missing;
  if (resolve(T, nd) != 0)
    return -1;
  missing = lua_isnil(L, -1);
  for (k = 1; k <= nd->aux; k++) {
    const Node *f = &T->nodes[i + k];
    int rc = 0;
    if (f->sub == F_DEFAULT) {
      if (lua_isnil(L, -1) || is_null(L, -1)) {
        lua_pop(L, 1);
        lua_rawgeti(L, T->consts, f->aux);
        missing = 0;
      }
      continue;
    }
    if (missing)
      return undefined(T, nd);
    if (f->sub == F_PY)
      rc = filter_py(T, nd);
    else if (f->sub == F_SH)
      rc = filter_sh(T, nd);
    else {
      rc = json_value(T, nd, lua_gettop(L), 0);
      if (rc == 0)
        lua_remove(L, -2);  /* remove the value, keep its JSON */
    }
    if (rc != 0)
      return -1;
  }
  if (missing)
    return undefined(T, nd);
  switch (lua_type(L, -1)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
      luaL_addvalue(b);
      return 0;
    case LUA_TBOOLEAN: {
      int v = lua_toboolean(L, -1);
      lua_pop(L, 1);
      luaL_addstring(b, v ? "true" : "false");
      return 0;
    }
    case LUA_TNIL:  /* default(null) */
      lua_pop(L, 1);
      return 0;
    case LUA_TTABLE:
      return tfail(T, nd->line, "'%.*s' is a table (insert it with | json)", (int)nd->len, nd->s);
    default:
      if (is_null(L, -1)) {
        lua_pop(L, 1);
        return 0;
      }
      return tfail(T, nd->line, "'%.*s' is a %s and cannot be inserted", (int)nd->len, nd->s,
                   luaL_typename(L, -1));
  }
}


static int render_range (Tmpl *T, luaL_Buffer *b, int from, int to);


/* Render the #each node at i: its body once per element of the array. */
static int render_each (Tmpl *T, luaL_Buffer *b, int i) {
  lua_State *L = T->L;
  const Node *nd = &T->nodes[i];
  lua_Integer n, k;
  int d;
  if (resolve(T, nd) != 0)
    return -1;
  if (lua_isnil(L, -1))
    return undefined(T, nd);
  if (lua_type(L, -1) != LUA_TTABLE)
    return tfail(T, nd->line, "'%.*s' is a %s, {{#each}} needs an array", (int)nd->len, nd->s,
                 is_null(L, -1) ? "null" : luaL_typename(L, -1));
  n = (lua_Integer)lua_rawlen(L, -1);
  if (n == 0 && truthy(L, lua_gettop(L)))
    return tfail(T, nd->line, "'%.*s' is a table with keys, {{#each}} needs an array",
                 (int)nd->len, nd->s);
  d = ++T->depth;
  lua_rawseti(L, T->scopes, -d);  /* pops the list */
  for (k = 1; k <= n; k++) {
    lua_rawgeti(L, T->scopes, -d);
    lua_rawgeti(L, -1, k);
    lua_remove(L, -2);  /* remove the list */
    if (lua_type(L, -1) == LUA_TFUNCTION)
      return tfail(T, nd->line, "'%.*s' holds a function (templates never call code)",
                   (int)nd->len, nd->s);
    lua_rawseti(L, T->scopes, d);  /* pops the element */
    T->index[d] = k;
    if (render_range(T, b, i + 1, nd->aux) != 0)
      return -1;
  }
  lua_pushnil(L);
  lua_rawseti(L, T->scopes, d);
  lua_pushnil(L);
  lua_rawseti(L, T->scopes, -d);
  T->depth--;
  return 0;
}


/* Render nodes[from..to) into b. The stack is balanced between buffer operations. */
static int render_range (Tmpl *T, luaL_Buffer *b, int from, int to) {
  int i = from;
  while (i < to) {
    const Node *nd = &T->nodes[i];
    switch (nd->kind) {
      case N_TEXT:
        luaL_addlstring(b, nd->s, nd->len);
        i++;
        break;
      case N_VAR:
        if (render_var(T, b, i) != 0)
          return -1;
        i += 1 + nd->aux;
        break;
      case N_IF: {
        int t, target = nd->aux;
        int end = T->nodes[target].kind == N_ELSE ? T->nodes[target].aux : target;
        if (resolve(T, nd) != 0)
          return -1;
        t = truthy(T->L, lua_gettop(T->L));
        lua_pop(T->L, 1);
        if (t && render_range(T, b, i + 1, target) != 0)
          return -1;
        if (!t && target != end && render_range(T, b, target + 1, end) != 0)
          return -1;
        i = end + 1;
        break;
      }
      case N_EACH:
        if (render_each(T, b, i) != 0)
          return -1;
        i = nd->aux + 1;
        break;
      default:
        i++;
        break;
    }
  }
  return 0;
}


/* ======================================================================
** Lua API
** ====================================================================== */

/*
** Compile and, when vars >= 1, render the template text at stack index ti with the variables
** at index vars. Pushes the result (or true when only checking) or nil, message.
*/
static int run (lua_State *L, int ti, int vars, const char *name) {
  Tmpl T;
  luaL_Buffer b;
  memset(&T, 0, sizeof T);
  T.L = L;
  T.name = name;
  T.src = lua_tolstring(L, ti, &T.srclen);
  T.line = 1;
  T.vars = vars;
  lua_newtable(L);
  T.consts = lua_gettop(L);
  T.cap = 32;
  T.nodes = (Node *)lua_newuserdatauv(L, (size_t)T.cap * sizeof(Node), 0);
  T.slot = lua_gettop(L);
  lua_newtable(L);
  T.scopes = lua_gettop(L);
  if (compile(&T) != 0)
    goto failed;
  if (vars == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_buffinit(L, &b);
  if (render_range(&T, &b, 0, T.n) != 0)
    goto failed;
  luaL_pushresult(&b);
  return 1;
failed:
  luaL_pushfail(L);
  lua_pushstring(L, T.err);
  return 2;
}


/* The template's name: opts.name or dflt. */
static const char *opt_name (lua_State *L, int opts, const char *dflt) {
  if (lua_isnoneornil(L, opts))
    return dflt;
  luaL_checktype(L, opts, LUA_TTABLE);
  lua_getfield(L, opts, "name");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  luaL_argexpected(L, lua_type(L, -1) == LUA_TSTRING, opts, "opts.name to be a string");
  return lua_tostring(L, -1);  /* stays on the stack, so stays alive */
}


/*
** template.render(text, vars [, opts]) -> string, or nil, "<name>:<line>: <message>".
** opts.name names the template in messages (default "template").
*/
static int tmpl_render (lua_State *L) {
  const char *name;
  luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  name = opt_name(L, 3, "template");
  return run(L, 1, 2, name);
}


/* template.check(text [, opts]) -> true, or nil, message: syntax only, nothing rendered. */
static int tmpl_check (lua_State *L) {
  const char *name;
  luaL_checkstring(L, 1);
  name = opt_name(L, 2, "template");
  return run(L, 1, 0, name);
}


static int fd_gc (lua_State *L) {
  int *fd = (int *)luaL_checkudata(L, 1, FD_MT);
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
  return 0;
}


/* Push the content of path, or nil, "<path>: <strerror>" (the descriptor is GC-guarded). */
static int read_file (lua_State *L, const char *path) {
  luaL_Buffer b;
  int *fd = (int *)lua_newuserdatauv(L, sizeof(int), 0);
  *fd = -1;
  luaL_setmetatable(L, FD_MT);
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return luaL_fileresult(L, 0, path);
  luaL_buffinit(L, &b);
  for (;;) {
    ssize_t n = read(*fd, luaL_prepbuffer(&b), LUAL_BUFFERSIZE);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return luaL_fileresult(L, 0, path);
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


/*
** template.render_file(path, vars [, opts]) -> string, or nil, message. Messages name the
** file by its basename (or opts.name); a file that cannot be read gives "<path>: <reason>".
*/
static int tmpl_render_file (lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *slash = strrchr(path, '/');
  const char *name;
  int nres;
  luaL_checktype(L, 2, LUA_TTABLE);
  name = opt_name(L, 3, slash ? slash + 1 : path);
  nres = read_file(L, path);
  if (nres != 1)
    return nres;  /* nil, message, errno */
  return run(L, lua_gettop(L), 2, name);
}


static const luaL_Reg template_funcs[] = {
  {"render", tmpl_render},
  {"render_file", tmpl_render_file},
  {"check", tmpl_check},
  {NULL, NULL}
};


int luaopen_raycai_template (lua_State *L) {
  luaL_newmetatable(L, FD_MT);
  lua_pushcfunction(L, fd_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);  /* pop metatable */
  luaL_newlib(L, template_funcs);
  return 1;
}
