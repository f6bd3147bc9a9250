#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pys_runtime *rt_once;

pys_runtime *fz_runtime(void)
{
    if (!rt_once) {
        int rc = pys_open(NULL, &rt_once);
        if (rc != PYS_OK) {
            fprintf(stderr, "fuzz: pys_open failed: %s: %s\n", pys_err_name(rc),
                    pys_last_error()->message);
            exit(1);
        }
    }
    return rt_once;
}

char *fz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

void fz_check(bool ok, const char *fmt, ...)
{
    if (ok)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz: broken promise: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

void fz_check_runtime(pys_runtime *rt, size_t handles, int rc, const char *what)
{
    if (rc != PYS_OK) {
        const pys_error *e = pys_last_error();
        fz_check(rc < 0 && strcmp(pys_err_name(rc), "PYS_E_UNKNOWN") != 0,
                 "%s: failed with %d, not a PYS_E_* code", what, rc);
        fz_check(e->code == rc, "%s: returned %s but pys_last_error() says %s", what,
                 pys_err_name(rc), pys_err_name(e->code));
        fz_check(e->message && *e->message, "%s: %s with no message", what, pys_err_name(rc));
    }
    size_t now = pys_handle_count(rt);
    fz_check(now == handles, "%s: %zu handles live after the input, %zu before", what, now,
             handles);
    int64_t two = 0;
    pys_obj h = pys_eval(rt, "1 + 1");
    int r2 = pys_to_int64(h, &two);
    pys_release(h);
    fz_check(r2 == PYS_OK && two == 2, "%s: the runtime no longer evaluates 1 + 1 (%s: %s)", what,
             pys_err_name(r2), pys_last_error()->message);
}
