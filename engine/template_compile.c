/*
** template_compile.c: raycai.template's one-pass tokenizer (see template.h). Finds each "{{",
** classifies the tag, drops standalone block-tag lines whole, checks that blocks nest and
** match, and parses paths, filters and default() constants, so syntax errors are reported
** with their line even inside branches that are never rendered.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "template.h"


int tmpl_fail (Tmpl *T, int line, const char *fmt, ...) {
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


const char *tmpl_seg_end (const char *p, const char *e) {
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
  q = tmpl_seg_end(p, e);
  if (q == p)
    return 0;
  *kind = (q - p == 4 && memcmp(p, "this", 4) == 0) ? P_THIS : P_NAME;
  p = q;
  while (p + 1 < e && *p == '.' && is_segchar(p[1]))
    p = tmpl_seg_end(p + 1, e);
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
** store it as the next constant and return its length, or 0 after tmpl_fail.
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
      tmpl_fail(T, line, "unterminated string in default()");
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
      tmpl_fail(T, line, "default() needs a string, number, true, false or null");
      return 0;
    }
    memcpy(tok, s, i);
    tok[i] = '\0';
    if (strcmp(tok, "true") == 0 || strcmp(tok, "false") == 0)
      lua_pushboolean(L, tok[0] == 't');
    else if (strcmp(tok, "null") == 0 || strcmp(tok, "nil") == 0 || strcmp(tok, "None") == 0)
      lua_pushnil(L);
    else if (lua_stringtonumber(L, tok) != i + 1) {
      tmpl_fail(T, line, "default() needs a string, number, true, false or null, not '%s'", tok);
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
    return tmpl_fail(T, line, "invalid expression '{{%.*s}}'", (int)n, s);
  if (kind == P_INDEX && !in_each)
    return tmpl_fail(T, line, "'@index' outside {{#each}}");
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
      return tmpl_fail(T, line, "invalid expression '{{%.*s}}'", (int)n, s);
    i++;
    while (i < n && is_space(s[i]))
      i++;
    start = i;
    while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
      i++;
    if (i == start)
      return tmpl_fail(T, line, "missing filter name after '|' in '{{%.*s}}'", (int)n, s);
    if (i - start == 2 && memcmp(s + start, "py", 2) == 0)
      fk = F_PY;
    else if (i - start == 2 && memcmp(s + start, "sh", 2) == 0)
      fk = F_SH;
    else if (i - start == 4 && memcmp(s + start, "json", 4) == 0)
      fk = F_JSON;
    else if (i - start == 7 && memcmp(s + start, "default", 7) == 0)
      fk = F_DEFAULT;
    else
      return tmpl_fail(T, line, "unknown filter '%.*s'", (int)(i - start), s + start);
    f = add_node(T, N_FILTER, s + start, i - start, line);
    T->nodes[f].sub = (unsigned char)fk;
    T->nodes[var].aux++;
    while (i < n && is_space(s[i]))
      i++;
    if (fk == F_DEFAULT) {
      size_t used;
      if (i >= n || s[i] != '(')
        return tmpl_fail(T, line, "default needs an argument: default(\"value\")");
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
        return tmpl_fail(T, line, "missing ')' after the argument of default()");
      i++;
      while (i < n && is_space(s[i]))
        i++;
    }
    else if (i < n && s[i] != '|')
      return tmpl_fail(T, line, "invalid expression '{{%.*s}}'", (int)n, s);
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
  const char *we = tmpl_seg_end(w, e);
  size_t wl = (size_t)(we - w);
  int is_if = wl == 2 && memcmp(w, "if", 2) == 0;
  int is_each = wl == 4 && memcmp(w, "each", 4) == 0;
  if (s[0] == '#') {
    unsigned char kind;
    size_t plen;
    int nd;
    if (!is_if && !is_each)
      return tmpl_fail(T, line, "unknown block '{{%.*s}}'", (int)n, s);
    while (we < e && is_space(*we))
      we++;
    plen = parse_path(we, (size_t)(e - we), &kind);
    if (plen == 0 || we + plen != e)
      return tmpl_fail(T, line, "'{{%.*s}}' needs one variable name", (int)n, s);
    if (kind == P_INDEX && each_depth(T, opener, *nopen) == 0)
      return tmpl_fail(T, line, "'@index' outside {{#each}}");
    if (*nopen == MAXDEPTH)
      return tmpl_fail(T, line, "blocks nested more than %d deep", MAXDEPTH);
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
      return tmpl_fail(T, line, "unknown block '{{%.*s}}'", (int)n, s);
    if (*nopen == 0)
      return tmpl_fail(T, line, "'{{/%s}}' without '{{#%s}}'", is_if ? "if" : "each",
                   is_if ? "if" : "each");
    top = &T->nodes[opener[*nopen - 1]];
    if ((top->kind == N_IF) != is_if)
      return tmpl_fail(T, line, "'{{/%s}}' does not match '{{#%s %.*s}}' from line %d",
                   is_if ? "if" : "each", top->kind == N_IF ? "if" : "each",
                   (int)top->len, top->s, top->line);
    nd = add_node(T, is_if ? N_ENDIF : N_ENDEACH, NULL, 0, line);
    T->nodes[open[*nopen - 1]].aux = nd;
    (*nopen)--;
    return 0;
  }
  /* else */
  if (*nopen == 0 || T->nodes[opener[*nopen - 1]].kind != N_IF)
    return tmpl_fail(T, line, "'{{else}}' outside '{{#if}}'");
  if (open[*nopen - 1] != opener[*nopen - 1])
    return tmpl_fail(T, line, "second '{{else}}' in '{{#if}}' from line %d",
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


int tmpl_compile (Tmpl *T) {
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
      return tmpl_fail(T, line, "unterminated tag: '{{' without '}}' on the same line");
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
      return tmpl_fail(T, line, "empty tag '{{}}'");
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
    return tmpl_fail(T, top->line, "'{{#%s %.*s}}' is never closed", top->kind == N_IF ? "if" : "each",
                 (int)top->len, top->s);
  }
  return 0;
}
