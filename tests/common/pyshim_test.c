#include "pyshim_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define PYT_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PYT_LSAN 1
#endif
#endif
#ifdef PYT_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* PYSHIM_TEST_PYTHONS lists tags as pins spell them: 3.12, 3.13t, 3.15d. */
static bool wanted(int major, int minor, bool ft, bool debug)
{
    const char *only = getenv("PYSHIM_TEST_PYTHONS");
    if (!only || !*only)
        return true;
    char want[16];
    snprintf(want, sizeof want, "%d.%d%s%s", major, minor, ft ? "t" : "", debug ? "d" : "");
    const char *p = only;
    size_t n = strlen(want);
    while ((p = strstr(p, want))) {
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
        p += n;
    }
    return false;
}

struct criterion_test_params pyt_params(void)
{
    pys_options o = {0};
    pys_probe_result *pr = NULL;
    size_t n = 0;
    pyt_python *v = NULL;
    if (pys_probe(&o, &pr) == PYS_OK) {
        size_t count = pys_probe_count(pr);
        v = cr_malloc(sizeof *v * (count ? count : 1));
        for (size_t i = 0; v && i < count; i++) {
            const pys_candidate *c = pys_probe_get(pr, i);
            if (!c->accepted || !wanted(c->major, c->minor, c->free_threaded, c->debug))
                continue;
            pyt_python *p = &v[n++];
            memset(p, 0, sizeof *p);
            snprintf(p->path, sizeof p->path, "%s", c->realpath);
            snprintf(p->prefix, sizeof p->prefix, "%s", c->prefix);
            snprintf(p->executable, sizeof p->executable, "%s", c->executable);
            snprintf(p->source, sizeof p->source, "%s", c->source);
            p->major = c->major;
            p->minor = c->minor;
            p->free_threaded = c->free_threaded;
            p->debug = c->debug;
        }
        pys_probe_free(pr);
    }
    return cr_make_param_array(pyt_python, v, n);
}

const char *pyt_name(const pyt_python *py)
{
    static char buf[1200];
    snprintf(buf, sizeof buf, "%d.%d%s%s (%s) %s", py->major, py->minor,
             py->free_threaded ? "t" : "", py->debug ? "d" : "", py->source, py->path);
    return buf;
}

pys_runtime *pyt_open_opts(const pyt_python *py, pys_options *o)
{
    o->library_path = py->path;
    o->ignore_environment = true;
    pys_runtime *rt = NULL;
    int rc = pys_open(o, &rt);
    cr_assert_eq(rc, PYS_OK, "pys_open on %s: %s: %s", pyt_name(py), pys_err_name(rc),
                 pys_last_error()->message);
    return rt;
}

pys_runtime *pyt_open(const pyt_python *py)
{
    pys_options o = {0};
    return pyt_open_opts(py, &o);
}

void pyt_close(pys_runtime *rt)
{
    int rc = pys_close(rt);
    cr_assert_eq(rc, PYS_OK, "pys_close: %s", pys_last_error()->message);
}

int64_t pyt_eval_i64(pys_runtime *rt, const char *expr)
{
    pys_obj o = pys_eval(rt, expr);
    cr_assert(pys_ok(o), "eval %s: %s", expr, pys_last_error()->message);
    int64_t v = 0;
    int rc = pys_to_int64(o, &v);
    cr_assert_eq(rc, PYS_OK, "to_int64(%s): %s", expr, pys_last_error()->message);
    pys_release(o);
    return v;
}

#ifdef PYT_LSAN
/* LeakSanitizer asks this before every check. The runner process of a
 * Criterion binary (no current test) runs no pyshim code, and keeps an
 * allocation of libcriterion's own when a test sets .timeout: its
 * exit-time report would fail the whole suite over it. Test processes
 * stay checked, at their end (pyt_leak_check) and at exit. */
int __lsan_is_turned_off(void);
__attribute__((visibility("default"), used)) int __lsan_is_turned_off(void)
{
    return criterion_current_test == NULL;
}
#endif

void pyt_leak_check(void)
{
#ifdef PYT_LSAN
    /* The runtime may be closed or not (skip_finalize tests): either way
     * everything pyshim allocated must be freed or still reachable. */
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
                 "LeakSanitizer found leaks in this test (run the test binary without --tap "
                 "and with --filter to see the report)");
#endif
}

void pyt_skip_if_fork_unsafe(void)
{
#ifdef PYT_LSAN
    cr_skip_test("the sanitizer's allocator is not fork-safe in a multithreaded process; "
                 "the normal build runs this test");
#endif
}
