#include <stdarg.h>
#include <stdlib.h>

#include "loader.h"

int pys__diag_set(pys__diag *d, int code, const char *fmt, ...)
{
    if (!d)
        return code;
    pys__sb b = {0};
    va_list ap;
    va_start(ap, fmt);
    pys__sb_vaddf(&b, fmt, ap);
    va_end(ap);
    free(d->message);
    d->message = pys__sb_take(&b);
    d->code = code;
    return code;
}

void pys__diag_searched(pys__diag *d, const char *fmt, ...)
{
    if (!d)
        return;
    if (d->nsearched == d->capsearched) {
        size_t cap = d->capsearched ? d->capsearched * 2 : 16;
        char **v = realloc(d->searched, cap * sizeof *v);
        if (!v)
            return;
        d->searched = v;
        d->capsearched = cap;
    }
    pys__sb b = {0};
    va_list ap;
    va_start(ap, fmt);
    pys__sb_vaddf(&b, fmt, ap);
    va_end(ap);
    char *s = pys__sb_take(&b);
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
