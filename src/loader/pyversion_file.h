/* The loader's parser of `.python-version` files (internal to src/loader).
 * Pure C: no allocation, no I/O, no Python; testable and fuzzable alone. */
#ifndef PYS_PYVERSION_FILE_H
#define PYS_PYVERSION_FILE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum pys__pyver_kind {
    PYS__PYVER_VERSION,     /* 3, 3.12, 3.12.4, 3.13t, 3.15d, 3.13td (+ python-/cpython-
                             * prefixes) */
    PYS__PYVER_NAME,        /* another pyenv version name: miniconda3-latest, 3.14-dev */
    PYS__PYVER_SYSTEM,      /* "system": pyenv's word for the Python outside pyenv */
    PYS__PYVER_UNSUPPORTED, /* a word pyshim cannot honour; `why` says why */
} pys__pyver_kind;

/* One request: the first word of a non-empty, non-comment line. */
typedef struct pys__pyver {
    pys__pyver_kind kind;
    unsigned line;               /* 1-based line number */
    int major, minor, micro;     /* VERSION: -1 when not given (major always set) */
    bool free_threaded;          /* a "t" or "+freethreaded" suffix */
    bool debug;                  /* a "d" suffix (after any "t", as CPython writes "3.13td") */
    char text[128];              /* the word as written (NUL-terminated, maybe cut) */
    const char *why;             /* UNSUPPORTED: static text; else NULL */
} pys__pyver;

/* Parses the contents of a .python-version file (the format pyenv and uv
 * share: one request per line, the first word counts, '#' starts a comment
 * line, later lines are fallbacks). `data` need not be NUL-terminated and
 * may hold any bytes. Fills out[0 .. min(n, cap)) and returns n, the number
 * of requests found (so a caller can size `out` and call again). Never reads
 * beyond data[len). Thread-safe (no state). */
size_t pys__pyversion_parse(const char *data, size_t len, pys__pyver *out, size_t cap);

#endif
