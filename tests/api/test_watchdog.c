/* The watchdog (deadlines, pys_interrupt, pys_close's interruption of calls
 * in flight) against Python code that replaces what it could have used:
 * sys._current_frames replaced by a function that sleeps, raises or
 * returns garbage must not stall or break it. Every PYS_TEST runs once per
 * supported Python found. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pyshim_test.h"
#include "pyshim_clock.h"

static const char *const hostile[] = {
    /* Sleeps (releasing the GIL, so the rest of the program runs on). */
    "import sys, time\nsys._current_frames = lambda: time.sleep(3600)\n",
    /* Raises. */
    "import sys\n"
    "def _cf():\n"
    "    raise RuntimeError('no frames for you')\n"
    "sys._current_frames = _cf\n",
    /* Returns something that is not a dict of frames. */
    "import sys\nsys._current_frames = lambda: {0: 'not a frame'}\n",
};

PYS_TEST(watchdog, deadline_fires_whatever_sys_current_frames_is, .timeout = 60)
{
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        pyt_assert_ok(pys_exec(rt, hostile[i]));
        pyt_assert_ok(pys_set_deadline(rt, 100));
        double t0 = pyt_now_ms();
        int rc = pys_exec(rt, "while True: pass\n");
        double took = pyt_now_ms() - t0;
        pyt_assert_ok(pys_set_deadline(rt, 0));
        cr_assert_eq(rc, PYS_E_TIMEOUT, "replacement %zu: %s: %s", i, pys_err_name(rc),
                     pys_last_error()->message);
        cr_assert_lt(took, 5000, "replacement %zu: stopped after %.0f ms", i, took);
    }
    /* The replacement was never called by pyshim. */
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
}

typedef struct spin_arg {
    pys_runtime *rt;
    atomic_bool started;
    int rc;
} spin_arg;

static void *spin_main(void *p)
{
    spin_arg *a = p;
    atomic_store(&a->started, true);
    a->rc = pys_exec(a->rt, "while True: pass\n");
    return NULL;
}

PYS_TEST(watchdog, interrupt_works_whatever_sys_current_frames_is, .timeout = 60)
{
    pyt_assert_ok(pys_exec(rt, hostile[0]));
    spin_arg a = {.rt = rt};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, spin_main, &a), 0);
    while (!atomic_load(&a.started))
        pyt_sleep_ms(1);
    pyt_sleep_ms(100);
    cr_assert_eq(pys_interrupt(rt), 1);
    pthread_join(th, NULL);
    cr_assert_eq(a.rc, PYS_E_INTERRUPTED, "%s", pys_err_name(a.rc));
}

PYS_TEST_NOOPEN(watchdog, close_interrupts_calls_whatever_sys_current_frames_is, .timeout = 60)
{
    pys_runtime *rt = pyt_open(py);
    pyt_assert_ok(pys_exec(rt, hostile[0]));
    spin_arg a = {.rt = rt};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, spin_main, &a), 0);
    while (!atomic_load(&a.started))
        pyt_sleep_ms(1);
    pyt_sleep_ms(100);
    pyt_assert_ok(pys_close(rt));
    pthread_join(th, NULL);
    cr_assert_eq(a.rc, PYS_E_INTERRUPTED, "%s", pys_err_name(a.rc));
}
