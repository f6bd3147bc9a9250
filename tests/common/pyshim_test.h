/* Test harness: every PYS_TEST runs once per supported Python found on the
 * machine (Criterion parameterised tests, each in its own process), with a
 * runtime opened on that Python's library. PYSHIM_TEST_PYTHONS="3.8,3.13t,3.15d"
 * restricts the set for quick runs. */
#ifndef PYSHIM_TEST_H
#define PYSHIM_TEST_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pyshim.h>
#include <stdio.h>
#include <unistd.h>

typedef struct pyt_python {
    char path[1024];
    char prefix[1024];
    char executable[1024];
    char source[32];
    int major, minor;
    bool free_threaded;
    bool debug;
} pyt_python;

/* The accepted candidates of a default probe, one per distinct library. */
struct criterion_test_params pyt_params(void);
/* Opens a runtime on py (asserts success). */
pys_runtime *pyt_open(const pyt_python *py);
pys_runtime *pyt_open_opts(const pyt_python *py, pys_options *o);
void pyt_close(pys_runtime *rt);
/* "3.11 (pyenv) /root/..." for messages. */
const char *pyt_name(const pyt_python *py);
/* Fails the test with the last pyshim error. */
#define pyt_assert_ok(rc)                                                                          \
    cr_assert_eq((rc), PYS_OK, "%s failed: %s: %s", #rc, pys_err_name(rc),                         \
                 pys_last_error()->message)
#define pyt_assert_h(h)                                                                            \
    cr_assert(pys_ok(h), "%s failed: %s: %s", #h, pys_err_name(pys_last_error()->code),             \
              pys_last_error()->message)
/* Evaluates expr and returns its int64 value (asserts). */
int64_t pyt_eval_i64(pys_runtime *rt, const char *expr);

/* Under ASan: runs LeakSanitizer now, in this test's process, and fails
 * the test if it finds a leak (the report goes to stderr; rerun the test
 * binary without --tap to see it). LeakSanitizer's own exit-time report
 * never fails a Criterion test, so every test that touches Python calls
 * this at its end. No-op in other builds. */
void pyt_leak_check(void);

/* Under ASan: skips the test. For tests whose forked child goes on running
 * pyshim: the sanitizer's allocator (gcc 12's libasan) is not fork-safe,
 * so a lock of its that another thread held at the fork stays held in the
 * child, whose next malloc of that size blocks for good. The normal build
 * runs these tests. No-op in other builds. */
void pyt_skip_if_fork_unsafe(void);

/* In a forked child: exits with status n (the parent reports it) when c
 * is false, after printing c and this thread's last error. */
#define PYT_CHILD_CHECK(n, c)                                                                      \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "child check %d failed: %s (%s)\n", n, #c,                             \
                    pys_last_error()->message);                                                    \
            _exit(n);                                                                              \
        }                                                                                          \
    } while (0)

#define PYS_TEST(suite, name, ...)                                                                 \
    ParameterizedTestParameters(suite, name) { return pyt_params(); }                               \
    static void suite##_##name##_body(pys_runtime *rt, const pyt_python *py);                      \
    ParameterizedTest(pyt_python *py, suite, name, ##__VA_ARGS__)                                  \
    {                                                                                              \
        pys_runtime *rt = pyt_open(py);                                                            \
        suite##_##name##_body(rt, py);                                                             \
        pyt_close(rt);                                                                             \
        pyt_leak_check();                                                                          \
    }                                                                                              \
    static void suite##_##name##_body(pys_runtime *rt, const pyt_python *py)

/* Same, but the body opens (and closes) the runtime itself; it gets only
 * py. Extra arguments of both are Criterion test options (.timeout = 60). */
#define PYS_TEST_NOOPEN(suite, name, ...)                                                          \
    ParameterizedTestParameters(suite, name) { return pyt_params(); }                               \
    static void suite##_##name##_body(const pyt_python *py);                                       \
    ParameterizedTest(pyt_python *py, suite, name, ##__VA_ARGS__)                                  \
    {                                                                                              \
        suite##_##name##_body(py);                                                                 \
        pyt_leak_check();                                                                          \
    }                                                                                              \
    static void suite##_##name##_body(const pyt_python *py)

#endif
