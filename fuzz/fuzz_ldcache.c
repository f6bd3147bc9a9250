/* ld.so.cache (src/loader/ldcache.c, through discover_sources.c's
 * pys__ldcache_parse): any bytes as the cache file, in the old, new or
 * combined glibc format; its libpython entries are judged as the probe
 * judges them.
 *
 * Checks beyond the sanitizers: every candidate kept came from the image
 * (its path is a NUL-terminated string inside it) and has a reason. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "loader/parse.h"

static bool in_image(const uint8_t *data, size_t size, const char *s)
{
    size_t n = strlen(s) + 1;
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, s, n) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pys__probe out = {.chosen = -1};
    size_t nlib = 0;
    bool ok = pys__ldcache_parse(data, size, &out, &nlib);
    fz_check(ok || out.n == 0, "candidates from an unrecognised image");
    fz_check(out.n <= nlib, "%zu candidates from %zu entries", out.n, nlib);
    for (size_t i = 0; i < out.n; i++) {
        fz_check(out.v[i].reason && *out.v[i].reason, "a candidate with no reason");
        fz_check(in_image(data, size, out.v[i].path), "candidate %s is not in the image",
                 out.v[i].path);
    }
    pys__probe_free(&out);
    return 0;
}
