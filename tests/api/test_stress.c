/* The 8-thread stress run (tests/common/stress.c): calls, releases of each
 * other's handles, batches, interrupts and deadlines for
 * PYSHIM_STRESS_SECONDS (default 20) per Python, also on the free-threaded
 * builds' locking path (half the time each). Under ASan any memory error
 * fails it. Every test runs once per supported Python found. */
#include "pyshim_test.h"
#include "stress.h"

#include <stdio.h>

extern void pys__test_force_locking(bool on);

static void stress(pys_runtime *rt, const pyt_python *py, double seconds, const char *what)
{
    pyt_stress_result r;
    int bad = pyt_stress_run(rt, seconds, &r);
    fprintf(stderr,
            "[stress] %s%s: %.0f s, %ld ops, %ld Python calls, %ld stale borrowed handles, "
            "%ld pool handles released (others may be using them), %ld timeouts, %ld interrupted, "
            "%ld interrupts\n",
            pyt_name(py), what, r.seconds, r.ops, r.calls, r.stale, r.released, r.timeouts,
            r.interrupted, r.interrupts);
    cr_assert_eq(bad, 0, "%s%s: %d failure(s), first: %s", pyt_name(py), what, r.failures,
                 r.first);
    cr_assert_gt(r.calls, 0);
    cr_assert_gt(r.released, 0);
}

PYS_TEST(stress, eight_threads, .timeout = 900)
{
    double s = pyt_stress_seconds();
    stress(rt, py, s / 2, "");
    pys__test_force_locking(true);
    stress(rt, py, s / 2, " (locking path)");
    pys__test_force_locking(false);
}
