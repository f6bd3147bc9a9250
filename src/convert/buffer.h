/* Buffer formats shared by buffer.c (zero-copy views) and array.c (bulk
 * reads from buffer exporters). */
#ifndef PYS_CONVERT_BUFFER_H
#define PYS_CONVERT_BUFFER_H

#include "core/runtime.h"

/* One struct-module item: an optional byte-order character and one type
 * code. */
typedef struct pys__bfmt {
    char code;            /* the type code: 'd', 'i', ... */
    char kind;            /* 'i' signed int, 'u' unsigned int, 'f' float,
                             'b' bool, 'o' other (c, e, P) */
    bool swap;            /* stored in the other byte order than the host's */
    Py_ssize_t itemsize;
    const char *canon;    /* the same format as a static string */
} pys__bfmt;

/* The size and kind (as in pys__bfmt) of struct-module type code c, one of
 * "bBhHiIlLqQnNefd?cP" (anything else is taken as 'P'), with native (or
 * else standard) sizes. Folds to constants for a constant c. */
static inline void pys__bfmt_code(char c, bool native, Py_ssize_t *size, char *kind)
{
    switch (c) {
    case 'b': *size = 1, *kind = 'i'; break;
    case 'B': *size = 1, *kind = 'u'; break;
    case 'h': *size = 2, *kind = 'i'; break;
    case 'H': *size = 2, *kind = 'u'; break;
    case 'i': *size = 4, *kind = 'i'; break;
    case 'I': *size = 4, *kind = 'u'; break;
    case 'l': *size = native ? (Py_ssize_t)sizeof(long) : 4, *kind = 'i'; break;
    case 'L': *size = native ? (Py_ssize_t)sizeof(long) : 4, *kind = 'u'; break;
    case 'q': *size = 8, *kind = 'i'; break;
    case 'Q': *size = 8, *kind = 'u'; break;
    case 'n': *size = (Py_ssize_t)sizeof(Py_ssize_t), *kind = 'i'; break;
    case 'N': *size = (Py_ssize_t)sizeof(size_t), *kind = 'u'; break;
    case 'e': *size = 2, *kind = 'o'; break;
    case 'f': *size = 4, *kind = 'f'; break;
    case 'd': *size = 8, *kind = 'f'; break;
    case '?': *size = 1, *kind = 'b'; break;
    case 'c': *size = 1, *kind = 'o'; break;
    default: *size = (Py_ssize_t)sizeof(void *), *kind = 'o'; break; /* 'P' */
    }
}

/* Parses fmt (NULL = "B"). Returns true and fills *out, or false for a
 * format this module does not describe (counts, structs, 'x', 's' ...). */
bool pys__bfmt_parse(const char *fmt, pys__bfmt *out);

#endif
