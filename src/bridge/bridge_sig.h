/* The bridge's typed signatures ("qq>q", "a:q, b:d=1.5, *, c:s='x' > O"):
 * their parsed form, the parser and the text a registration shows. Pure C:
 * nothing here calls Python or needs a runtime, so tests/bridge/test_sig.c
 * runs it once, without a Python (bridge/sig.c). */
#ifndef PYS_BRIDGE_SIG_H
#define PYS_BRIDGE_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/util.h"

#define BR_MAXP 14 /* parameters (BR_MAXI + BR_MAXD) */
#define BR_MAXI 6  /* integer-class C parameters */
#define BR_MAXD 8  /* double C parameters */

#if UINTPTR_MAX == UINT64_MAX &&                                                                  \
    ((defined(__x86_64__) && !defined(_WIN32)) || defined(__aarch64__))
#define BR_TYPED 1
#define BR_SPLIT 1 /* separate register files for integer and float arguments */
#elif UINTPTR_MAX == UINT64_MAX
#define BR_TYPED 1
#define BR_SPLIT 0
#else
#define BR_TYPED 0
#define BR_SPLIT 0
#endif

enum { LIT_REQUIRED = 0, LIT_NONE, LIT_INT, LIT_UINT, LIT_FLOAT, LIT_BOOL, LIT_STR };

typedef struct br_lit {
    int kind;
    int64_t i;
    uint64_t u;
    double d;
    bool b;
    char *s;
    size_t n;
} br_lit;

typedef struct br_param {
    char code;
    bool posonly; /* unnamed, or named before '/' */
    bool kwonly;  /* after '*' */
    char *name;
    br_lit def;
} br_param;

typedef struct br_sig {
    br_param p[BR_MAXP];
    int np;
    int npos; /* parameters that can be passed positionally */
    int ni, nd;
    char ret;
} br_sig;

/* Parses sig for the function named fname (messages name fn, the public
 * call). Returns PYS_OK with *out malloc'd (free it with
 * pys__br_sig_free), or PYS_E_ARG / PYS_E_UNSUPPORTED / PYS_E_NOMEM with
 * the thread's error set and *out NULL. Thread-safe. */
int pys__br_sig_parse(const char *sig, const char *fn, const char *fname, br_sig **out);
/* Frees s and what it owns; NULL is a no-op. */
void pys__br_sig_free(br_sig *s);
/* The Python type a value code shows as in signatures ("int", "str"). */
const char *pys__br_code_type(char c);
/* Appends "(a: int, /, *, b: str = 'x')" (annotated or bare) to b. */
void pys__br_sig_params(pys__sb *b, const br_sig *s, bool annotate);
/* Python identifier characters (ASCII; the parser refuses others). */
bool pys__br_ident_start(char c);
bool pys__br_ident_char(char c);

/* Parses a signature exactly as pys_register_typed does and renders the
 * annotated text signature a registration shows ("(arg1: int, arg2: int,
 * /) -> int"). Needs no runtime. Returns PYS_OK with *text malloc'd (the
 * caller frees it), or the parser's PYS_E_ARG / PYS_E_UNSUPPORTED /
 * PYS_E_NOMEM with the thread's error set and *text NULL. Thread-safe. */
int pys__bridge_sig_parse(const char *sig, char **text);

#endif
