/*
** template.h: the insides of raycai.template, shared by its three files:
**   template_compile.c  one-pass tokenizer: text -> an array of nodes (syntax errors here)
**   template_render.c   walks the nodes into a luaL_Buffer (filters, lookups, JSON)
**   ltemplate.c         the Lua functions render, render_file and check
** Nodes live in a userdata and errors are formatted into Tmpl.err, so no C memory is ever
** allocated and anything that raises (out of memory only) leaks nothing.
*/
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

#define MAXDEPTH 32   /* nested blocks */
#define ERRSZ 512

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

/* Format "<name>:<line>: <message>" into T->err; returns -1 for `return tmpl_fail(...)`. */
PRINTF_LIKE(3, 4)
int tmpl_fail (Tmpl *T, int line, const char *fmt, ...);

/* End of the path segment ([A-Za-z0-9_-]*) starting at p. */
const char *tmpl_seg_end (const char *p, const char *e);

/*
** Tokenize T->src into T->nodes (a userdata at stack index T->slot, replaced as it grows;
** default() constants go to the table at T->consts). 0, or -1 after tmpl_fail.
*/
int tmpl_compile (Tmpl *T);

/*
** Render all nodes into b with the variables at stack index T->vars, using the empty table
** at T->scopes for #each. 0, or -1 after tmpl_fail (the stack is then left unbalanced).
*/
int tmpl_render_nodes (Tmpl *T, luaL_Buffer *b);

#endif
