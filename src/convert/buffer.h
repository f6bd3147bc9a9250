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

/* Parses fmt (NULL = "B"). Returns true and fills *out, or false for a
 * format this module does not describe (counts, structs, 'x', 's' ...). */
bool pys__bfmt_parse(const char *fmt, pys__bfmt *out);

#endif
