/* The compile cache behind pys_exec: bounded by bytes as well as by
 * entries. Whether a run reused a cached code object is seen from Python:
 * a function defined by the source has the same __code__ object on both
 * runs only if the module's code object was reused. Every PYS_TEST runs
 * once per supported Python found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyshim_test.h"

/* Source of `size` bytes that defines f and records f.__code__ in
 * codes[tag]; the padding is a comment, so every size compiles alike. */
static char *script(size_t size, int tag)
{
    char head[160];
    int k = snprintf(head, sizeof head,
                     "def f():\n    return %d\ncodes.setdefault(%d, []).append(f.__code__)\n#",
                     tag, tag);
    cr_assert(size > (size_t)k + 1);
    char *s = malloc(size + 1);
    cr_assert_not_null(s);
    memcpy(s, head, (size_t)k);
    memset(s + k, 'x', size - (size_t)k - 1);
    s[size - 1] = '\n';
    s[size] = '\0';
    return s;
}

/* Whether both runs of `tag` shared one code object. */
static bool reused(pys_runtime *rt, int tag)
{
    char expr[64];
    snprintf(expr, sizeof expr, "codes[%d][0] is codes[%d][-1]", tag, tag);
    return pyt_eval_i64(rt, expr) != 0;
}

PYS_TEST(compile_cache, small_source_is_compiled_once)
{
    pyt_assert_ok(pys_exec(rt, "codes = {}"));
    char *s = script(200, 1);
    pyt_assert_ok(pys_exec(rt, s));
    pyt_assert_ok(pys_exec(rt, s));
    cr_assert(reused(rt, 1));
    free(s);
}

PYS_TEST(compile_cache, source_above_the_size_limit_is_not_kept)
{
    pyt_assert_ok(pys_exec(rt, "codes = {}"));
    char *big = script(PYS_COMPILE_CACHE_MAX_SOURCE + 1, 2);
    pyt_assert_ok(pys_exec(rt, big));
    pyt_assert_ok(pys_exec(rt, big));
    cr_assert(!reused(rt, 2), "a %u-byte source was kept in the cache",
              PYS_COMPILE_CACHE_MAX_SOURCE + 1);
    char *at = script(PYS_COMPILE_CACHE_MAX_SOURCE, 3);
    pyt_assert_ok(pys_exec(rt, at));
    pyt_assert_ok(pys_exec(rt, at));
    cr_assert(reused(rt, 3), "a source of exactly the limit is cached");
    free(big);
    free(at);
}

/* Many distinct sources below the size limit: together far more than the
 * byte bound. Afterwards at most PYS_COMPILE_CACHE_MAX_BYTES of them are
 * still cached, which a second run of each shows. */
PYS_TEST(compile_cache, kept_sources_stay_within_the_byte_bound, .timeout = 120)
{
    pyt_assert_ok(pys_exec(rt, "codes = {}"));
    enum { N = 100 };
    size_t size = PYS_COMPILE_CACHE_MAX_SOURCE - 1024;
    char *s[N];
    for (int i = 0; i < N; i++) {
        s[i] = script(size, 100 + i);
        pyt_assert_ok(pys_exec(rt, s[i]));
    }
    int kept = 0;
    for (int i = N - 1; i >= 0; i--) { /* newest first: hits evict nothing */
        pyt_assert_ok(pys_exec(rt, s[i]));
        kept += reused(rt, 100 + i);
    }
    size_t held = (size_t)kept * size;
    cr_assert(held <= PYS_COMPILE_CACHE_MAX_BYTES,
              "%d sources of %zu bytes (%zu bytes) were still cached; the bound is %u", kept,
              size, held, PYS_COMPILE_CACHE_MAX_BYTES);
    /* The most recent ones are there: the bound evicts, it does not stop
     * caching. */
    cr_assert(kept > 0, "nothing was cached");
    for (int i = 0; i < N; i++)
        free(s[i]);
}
