#include <stdarg.h>
#include <stdlib.h>

#include "loader/loader.h"

int pys__diag_set(pys__diag *d, int code, const char *fmt, ...)
{
    if (!d)
        return code;
    va_list ap;
    va_start(ap, fmt);
    char *msg = pys__vasprintf(fmt, ap);
    va_end(ap);
    free(d->message);
    d->message = msg;
    d->code = code;
    return code;
}

void pys__diag_searched(pys__diag *d, const char *fmt, ...)
{
    if (!d)
        return;
    if (d->nsearched == d->capsearched) {
        size_t cap = d->capsearched ? d->capsearched * 2 : 16;
        char **v = pys__realloc_n(d->searched, cap, sizeof *v);
        if (!v)
            return;
        d->searched = v;
        d->capsearched = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = pys__vasprintf(fmt, ap);
    va_end(ap);
    if (s)
        d->searched[d->nsearched++] = s;
}

void pys__diag_free(pys__diag *d)
{
    if (!d)
        return;
    free(d->message);
    for (size_t i = 0; i < d->nsearched; i++)
        free(d->searched[i]);
    free(d->searched);
    *d = (pys__diag){0};
}
