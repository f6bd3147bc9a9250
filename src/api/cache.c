/* The public dependency-cache and uv calls (pyshim_deps.h). They need no
 * runtime: the loader does the work and reports in a pys__diag, which
 * becomes this thread's error here. */
#include <stdlib.h>

#include "core/error.h"
#include "loader/loader.h"
#include "loader/util.h"
#include "pyshim.h"

bool pys_uv_available(void)
{
    char *uv = pys__which("uv");
    free(uv);
    return uv != NULL;
}

char *pys_uv_version(void)
{
    pys__diag d = {0};
    char *v;
    if (pys__uv_version(&v, &d) != PYS_OK)
        pys__fail_diag(__func__, &d);
    pys__diag_free(&d);
    return v;
}

int pys_cache_list(pys_cache_entry **out, size_t *n)
{
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!out || !n)
        return pys__fail(__func__, PYS_E_ARG, "NULL out or n");
    pys__diag d = {0};
    int rc = pys__cache_list(out, n, &d);
    if (rc != PYS_OK)
        pys__fail_diag(__func__, &d);
    pys__diag_free(&d);
    return rc;
}

void pys_cache_list_free(pys_cache_entry *entries, size_t n)
{
    pys__cache_list_free(entries, n);
}

int pys_clear_cache(void)
{
    pys__diag d = {0};
    int rc = pys__cache_clear(&d);
    if (rc != PYS_OK)
        pys__fail_diag(__func__, &d);
    pys__diag_free(&d);
    return rc;
}
