/* What the runtime leaves behind and what batches promise: a call refused
 * after pys_close starts nothing; a batch past its deadline (or
 * interrupted) fails every call that runs Python code until it ends.
 * Every test runs once per supported Python found. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "pyshim_test.h"
#include "pyshim_clock.h"

/* Threads of this process (Linux: /proc/self/task). */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

PYS_TEST_NOOPEN(after_close, refused_call_with_a_deadline_starts_no_thread)
{
    pys_runtime *rt = pyt_open(py);
    pyt_assert_ok(pys_set_deadline(rt, 1000));
    cr_assert_eq(pyt_eval_i64(rt, "6*7"), 42);
    pyt_close(rt);
    int before = thread_count();
    for (int i = 0; i < 3; i++) {
        pys_obj o = pys_eval(rt, "1+1");
        cr_assert(!pys_ok(o));
        cr_assert_eq(pys_last_error()->code, PYS_E_CLOSED);
        cr_assert_eq(pys_exec(rt, "x = 1"), PYS_E_CLOSED);
        cr_assert_eq(pys_gil_acquire(rt), PYS_E_CLOSED);
    }
    pyt_sleep_ms(50);
    cr_assert_eq(thread_count(), before, "a refused call left %d thread(s) running",
                 thread_count() - before);
    /* The next runtime's deadlines work (the watchdog starts again). */
    rt = pyt_open(py);
    pyt_assert_ok(pys_set_deadline(rt, 50));
    cr_assert_eq(pys_exec(rt, "while True: pass"), PYS_E_TIMEOUT);
    pyt_assert_ok(pys_set_deadline(rt, 0));
    pyt_close(rt);
}

PYS_TEST(after_close, batch_past_its_deadline_fails_every_python_call)
{
    pyt_assert_ok(pys_set_deadline(rt, 100));
    pyt_assert_ok(pys_gil_acquire(rt));
    cr_assert_eq(pys_exec(rt, "while True: pass"), PYS_E_TIMEOUT);
    /* Short statements after it: the batch is still past its deadline. */
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(pys_exec(rt, "x = 1"), PYS_E_TIMEOUT, "statement %d: %s", i,
                     pys_err_name(pys_last_error()->code));
        pys_obj o = pys_eval(rt, "2+2");
        cr_assert(!pys_ok(o), "eval %d succeeded", i);
        cr_assert_eq(pys_last_error()->code, PYS_E_TIMEOUT);
    }
    /* Calls that run no Python code still work. */
    pys_obj h = pys_from_int64(rt, 5);
    int64_t v = 0;
    pyt_assert_ok(pys_to_int64(h, &v));
    cr_assert_eq(v, 5);
    pys_release(h);
    pyt_assert_ok(pys_gil_release(rt));
    pyt_assert_ok(pys_set_deadline(rt, 0));
    cr_assert_eq(pyt_eval_i64(rt, "3+3"), 6);
}

PYS_TEST(after_close, batch_whose_deadline_passed_between_calls)
{
    /* The deadline passes while the batch holds the GIL in C: the watchdog
     * cannot post, yet the next statement must fail. */
    pyt_assert_ok(pys_set_deadline(rt, 50));
    pyt_assert_ok(pys_gil_acquire(rt));
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
    pyt_sleep_ms(120);
    cr_assert_eq(pys_exec(rt, "y = 2"), PYS_E_TIMEOUT, "got %s",
                 pys_err_name(pys_last_error()->code));
    pyt_assert_ok(pys_gil_release(rt));
    /* A new call (a new batch) starts a new deadline. */
    pyt_assert_ok(pys_gil_acquire(rt));
    pyt_assert_ok(pys_exec(rt, "y = 3"));
    pyt_assert_ok(pys_gil_release(rt));
    pyt_assert_ok(pys_set_deadline(rt, 0));
}

typedef struct batch_spin {
    pys_runtime *rt;
    atomic_bool started;
    int first, later[10];
} batch_spin;

static void *batch_spin_main(void *p)
{
    batch_spin *b = p;
    if (pys_gil_acquire(b->rt) != PYS_OK)
        return NULL;
    atomic_store(&b->started, true);
    b->first = pys_exec(b->rt, "while True: pass");
    for (int i = 0; i < 10; i++)
        b->later[i] = pys_exec(b->rt, "z = 1");
    pys_gil_release(b->rt);
    return NULL;
}

PYS_TEST(after_close, interrupted_batch_fails_every_python_call)
{
    batch_spin b = {.rt = rt};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, batch_spin_main, &b), 0);
    while (!atomic_load(&b.started))
        pyt_sleep_ms(1);
    pyt_sleep_ms(50);
    cr_assert_geq(pys_interrupt(rt), 1);
    pthread_join(th, NULL);
    cr_assert_eq(b.first, PYS_E_INTERRUPTED);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(b.later[i], PYS_E_INTERRUPTED, "statement %d: %s", i,
                     pys_err_name(b.later[i]));
    cr_assert_eq(pyt_eval_i64(rt, "4+4"), 8);
}
