/* Threads: auto-GIL from fresh pthreads, batches, the stress test (also on
 * the free-threaded locking path), interrupts, deadlines and close from
 * another thread. Every PYS_TEST runs once per supported Python found.
 *
 * Worker threads never call cr_assert (it cannot fail a test from another
 * thread); they record what they saw and the test thread checks it. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pyshim_test.h"
#include "pyshim_clock.h"

/* Test aid exported by the library (not public API): GIL builds take the
 * free-threaded builds' locks. */
extern void pys__test_force_locking(bool on);

/* Python threads are detached: join() returns when their thread state is
 * gone, a moment before the OS thread has exited. LeakSanitizer's exit
 * check can crash on a thread still exiting, so give them that moment. */
static void settle_detached_threads(void)
{
    pyt_sleep_ms(100);
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, fn, arg), 0);
    return th;
}

/* Evaluates expr and returns its int value, or INT64_MIN on any failure
 * (for worker threads). */
static int64_t eval_i64(pys_runtime *rt, const char *expr)
{
    pys_obj o = pys_eval(rt, expr);
    int64_t v = INT64_MIN;
    if (pys_ok(o) && pys_to_int64(o, &v) != PYS_OK)
        v = INT64_MIN;
    pys_release(o);
    return v;
}

/* ==== auto-GIL ========================================================== */

typedef struct fresh_arg {
    pys_runtime *rt;
    int id;
    int n;
    int ok;
    char err[256];
} fresh_arg;

static void *fresh_main(void *p)
{
    fresh_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        pys_obj o = pys_from_int64(a->rt, (int64_t)a->id * 1000 + i);
        int64_t v = -1;
        int rc = pys_to_int64(o, &v);
        pys_release(o);
        if (rc != PYS_OK || v != (int64_t)a->id * 1000 + i || eval_i64(a->rt, "20+22") != 42) {
            snprintf(a->err, sizeof a->err, "iteration %d: %s", i, pys_last_error()->message);
            return NULL;
        }
        a->ok++;
    }
    return NULL;
}

PYS_TEST(threads, autogil_from_fresh_pthreads)
{
    size_t base = pys_handle_count(rt);
    /* Concurrent threads CPython has never seen. */
    fresh_arg a[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (fresh_arg){.rt = rt, .id = i, .n = 300};
        th[i] = spawn(fresh_main, &a[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(a[i].ok, 300, "thread %d: %s", i, a[i].err);
    }
    /* Many short-lived threads one after another (thread records are
     * handed back at exit and reused). */
    for (int i = 0; i < 64; i++) {
        fresh_arg b = {.rt = rt, .id = i, .n = 1};
        pthread_join(spawn(fresh_main, &b), NULL);
        cr_assert_eq(b.ok, 1, "short-lived thread %d: %s", i, b.err);
    }
    cr_assert_eq(pys_handle_count(rt), base);
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
}

/* A host thread keeps one Python thread state across its calls: data in
 * threading.local() set by one call is seen by the next, and the state is
 * deleted when the thread exits (its thread-local data is freed). */
typedef struct local_arg {
    pys_runtime *rt;
    int rc_set, rc_get;
    int64_t seen, same_ident;
} local_arg;

static void *local_main(void *p)
{
    local_arg *a = p;
    a->rc_set = pys_exec(a->rt, "tl.x = 41\n"
                                "first_ident = threading.get_ident()\n"
                                "class Probe: pass\n"
                                "probe = Probe()\n"
                                "tl.probe = probe\n"
                                "ref = weakref.ref(probe)\n"
                                "del probe\n");
    a->seen = eval_i64(a->rt, "getattr(tl, 'x', -1) + 1");
    a->same_ident = eval_i64(a->rt, "int(threading.get_ident() == first_ident)");
    a->rc_get = pys_last_error()->code;
    return NULL;
}

PYS_TEST(threads, thread_state_kept_between_calls_and_freed_at_exit)
{
    pyt_assert_ok(pys_exec(rt, "import threading, weakref, gc\ntl = threading.local()\n"));
    for (int round = 0; round < 3; round++) {
        local_arg a = {.rt = rt};
        pthread_join(spawn(local_main, &a), NULL);
        cr_assert_eq(a.rc_set, PYS_OK, "%s", pys_err_name(a.rc_set));
        cr_assert_eq(a.seen, 42, "threading.local data was lost between two calls (%lld)",
                     (long long)a.seen);
        cr_assert_eq(a.same_ident, 1);
        /* The thread has exited: its thread state, and with it tl's data
         * for that thread, is gone. */
        cr_assert_eq(pyt_eval_i64(rt, "gc.collect() * 0 + int(ref() is None)"), 1,
                     "round %d: the exited thread's thread-local data is still alive", round);
        cr_assert_eq(pyt_eval_i64(rt, "getattr(tl, 'x', -1)"), -1, "not this thread's data");
    }
}

/* A finaliser of thread-local data runs when the thread's state is
 * cleared at thread exit; it may call into pyshim, through a bridge
 * function or straight through ctypes (the GIL held, no pyshim call in
 * progress on the thread), without deadlocking on the GIL. */
static _Atomic int64_t del_seen;

static int on_del(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                  void *userdata, pys_obj *result)
{
    (void)args, (void)nargs, (void)kwargs, (void)userdata, (void)result;
    atomic_store(&del_seen, eval_i64(rt, "6 * 7"));
    return PYS_OK;
}

/* Called from Python through ctypes.PyDLL (the GIL held). */
PYS_API int64_t pyt_threads_eval_from_ctypes(void);
int64_t pyt_threads_eval_from_ctypes(void)
{
    return eval_i64(pys_runtime_current(), "6 * 7");
}

static void *del_main(void *p)
{
    pys_runtime *rt = p;
    pys_exec(rt, "import threading, ctypes, c_bridge\n"
                 "me = ctypes.PyDLL(None).pyt_threads_eval_from_ctypes\n"
                 "me.restype = ctypes.c_int64\n"
                 "class Noisy:\n"
                 "    def __del__(self):\n"
                 "        c_bridge.on_del()\n"
                 "        seen.append(me())\n"
                 "seen = []\n"
                 "tl_del = threading.local()\n"
                 "tl_del.x = Noisy()\n");
    return NULL;
}

PYS_TEST(threads, thread_exit_finalisers_may_call_pyshim)
{
    atomic_store(&del_seen, 0);
    pyt_assert_ok(pys_register_func(rt, "on_del", on_del, NULL));
    pthread_join(spawn(del_main, rt), NULL);
    cr_assert_eq(atomic_load(&del_seen), 42, "the finaliser did not run at thread exit (%lld)",
                 (long long)atomic_load(&del_seen));
    cr_assert_eq(pyt_eval_i64(rt, "seen == [42]"), 1, "the ctypes call failed");
}

/* One worker thread lives across close and reopen (with and without
 * finalisation) and keeps calling; when it exits, the thread state it
 * used last is freed. Steps are handed over with a mutex and a cv. */
typedef struct reopen_arg {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pys_runtime *rt;
    int step, done;
    int64_t seen[3];
} reopen_arg;

static void *reopen_main(void *p)
{
    reopen_arg *a = p;
    for (int i = 0; i < 3; i++) {
        pthread_mutex_lock(&a->mu);
        while (a->step <= i)
            pthread_cond_wait(&a->cv, &a->mu);
        pys_runtime *rt = a->rt;
        pthread_mutex_unlock(&a->mu);
        if (i < 2)
            pys_exec(rt, "import threading\n"
                         "try:\n    tl\nexcept NameError:\n    tl = threading.local()\n"
                         "tl.n = getattr(tl, 'n', 0) + 1\n");
        else
            pys_exec(rt, "import threading, weakref\n"
                         "tl = threading.local()\n"
                         "tl.n = 1\n"
                         "class Probe: pass\n"
                         "tl.probe = Probe()\n"
                         "ref = weakref.ref(tl.probe)\n");
        int64_t v = eval_i64(rt, "tl.n");
        pthread_mutex_lock(&a->mu);
        a->seen[i] = v;
        a->done = i + 1;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
    }
    return NULL;
}

static void reopen_step(reopen_arg *a, pys_runtime *rt, int step)
{
    pthread_mutex_lock(&a->mu);
    a->rt = rt;
    a->step = step;
    pthread_cond_broadcast(&a->cv);
    while (a->done < step)
        pthread_cond_wait(&a->cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

PYS_TEST_NOOPEN(threads, worker_thread_across_reopen)
{
    reopen_arg a = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t th = spawn(reopen_main, &a);
    pys_options keep = {.skip_finalize = true};
    pys_runtime *rt = pyt_open_opts(py, &keep);
    reopen_step(&a, rt, 1);
    cr_assert_eq(a.seen[0], 1);
    pyt_assert_ok(pys_close(rt)); /* not finalised: the interpreter stays */
    pys_options fin = {0};
    rt = pyt_open_opts(py, &fin);
    reopen_step(&a, rt, 2);
    /* Same interpreter, same thread state: the thread's data is there. */
    cr_assert_eq(a.seen[1], 2, "thread-local data after a reopen without finalising: %lld",
                 (long long)a.seen[1]);
    pyt_close(rt); /* finalised */
    rt = pyt_open(py);
    reopen_step(&a, rt, 3);
    cr_assert_eq(a.seen[2], 1, "a new interpreter starts the thread afresh");
    pthread_join(th, NULL);
    cr_assert_eq(pyt_eval_i64(rt, "__import__('gc').collect() * 0 + int(ref() is None)"), 1,
                 "the exited thread's thread state was not freed");
    pyt_close(rt);
}

/* ==== batches =========================================================== */

static int batch_body(pys_runtime *rt, void *ud)
{
    int *calls = ud;
    (*calls)++;
    /* Calls inside nest without a GIL round trip. */
    return (int)pyt_eval_i64(rt, "40+2");
}

static int batch_fail_body(pys_runtime *rt, void *ud)
{
    (void)rt;
    (*(int *)ud)++;
    return PYS_E_VALUE;
}

PYS_TEST(threads, batch_api)
{
    cr_assert_eq(pys_gil_release(rt), PYS_E_STATE);
    cr_assert(strstr(pys_last_error()->message, "no batch"));
    cr_assert_eq(pys_gil_acquire(NULL), PYS_E_ARG);
    cr_assert_eq(pys_gil_release(NULL), PYS_E_ARG);
    static int not_a_runtime;
    cr_assert_eq(pys_gil_acquire((pys_runtime *)&not_a_runtime), PYS_E_ARG);

    /* Re-entrant, counted per thread. */
    pyt_assert_ok(pys_gil_acquire(rt));
    pyt_assert_ok(pys_gil_acquire(rt));
    pyt_assert_ok(pys_gil_acquire(rt));
    cr_assert_eq(pyt_eval_i64(rt, "2*3"), 6);
    /* Not allowed inside a batch. */
    cr_assert_eq(pys_close(rt), PYS_E_STATE);
    pyt_assert_ok(pys_gil_release(rt));
    pyt_assert_ok(pys_gil_release(rt));
    cr_assert_eq(pyt_eval_i64(rt, "2*4"), 8);
    pyt_assert_ok(pys_gil_release(rt));
    cr_assert_eq(pys_gil_release(rt), PYS_E_STATE);

    /* Deep nesting is bounded, and unwinds. */
    int n = 0;
    while (pys_gil_acquire(rt) == PYS_OK)
        n++;
    cr_assert_eq(pys_last_error()->code, PYS_E_STATE);
    cr_assert_eq(n, 64);
    for (int i = 0; i < n; i++)
        pyt_assert_ok(pys_gil_release(rt));
    cr_assert_eq(pys_gil_release(rt), PYS_E_STATE);

    int calls = 0;
    cr_assert_eq(pys_with_gil(rt, batch_body, &calls), 42);
    cr_assert_eq(calls, 1);
    cr_assert_eq(pys_with_gil(rt, batch_fail_body, &calls), PYS_E_VALUE);
    cr_assert_eq(calls, 2);
    cr_assert_eq(pys_with_gil(rt, NULL, NULL), PYS_E_ARG);
    cr_assert_eq(pys_with_gil(NULL, batch_body, &calls), PYS_E_ARG);
    cr_assert_eq(calls, 2, "fn must not be called when the batch cannot start");

    /* The thread is back to normal: other threads can run Python. */
    fresh_arg a = {.rt = rt, .id = 1, .n = 10};
    pthread_join(spawn(fresh_main, &a), NULL);
    cr_assert_eq(a.ok, 10, "%s", a.err);

    cr_assert_eq(pys_free_threaded(rt), py->free_threaded);
    pys_info info;
    pyt_assert_ok(pys_get_info(rt, &info));
    cr_assert_eq(pys_free_threaded(rt), info.free_threaded);
    cr_assert(!pys_free_threaded(NULL));
}

PYS_TEST_NOOPEN(threads, batch_after_close)
{
    pys_runtime *rt = pyt_open(py);
    cr_assert(pys_free_threaded(rt) == py->free_threaded);
    pyt_close(rt);
    int calls = 0;
    cr_assert_eq(pys_gil_acquire(rt), PYS_E_CLOSED);
    cr_assert_eq(pys_with_gil(rt, batch_body, &calls), PYS_E_CLOSED);
    cr_assert_eq(calls, 0);
    cr_assert(!pys_free_threaded(rt));
    cr_assert_eq(pys_interrupt(rt), PYS_E_CLOSED);
    cr_assert_eq(pys_set_deadline(rt, 10), PYS_E_CLOSED);
}

/* A thread that needs the GIL for each of its calls. */
typedef struct prober {
    pys_runtime *rt;
    atomic_long done;
    atomic_bool stop;
    int failures;
} prober;

static void *prober_main(void *p)
{
    prober *b = p;
    while (!atomic_load(&b->stop)) {
        pys_obj o = pys_from_int64(b->rt, 7);
        if (!pys_ok(o))
            b->failures++;
        pys_release(o);
        atomic_fetch_add(&b->done, 1);
    }
    return NULL;
}

/* Calls that run no bytecode (so CPython itself never switches threads in
 * them): the batch must hold the GIL from start to end. */
static int plain_calls(pys_runtime *rt, pys_obj d, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        pys_obj v = pys_from_int64(rt, i);
        int64_t x = -1;
        if (pys_to_int64(v, &x) != PYS_OK || x != i)
            bad++;
        if (pys_setitem_str(d, "k", v) != PYS_OK)
            bad++;
        pys_obj g = pys_getitem_str(d, "k");
        if (!pys_ok(g))
            bad++;
        pys_release(g);
        pys_release(v);
    }
    return bad;
}

/* ==== free-threaded builds: Python really runs in parallel ================= */

typedef struct par_arg {
    pys_runtime *rt;
    const char *expr;
    int64_t result;
    double ms;
} par_arg;

static void *par_main(void *p)
{
    par_arg *a = p;
    double t0 = pyt_now_ms();
    a->result = eval_i64(a->rt, a->expr);
    a->ms = pyt_now_ms() - t0;
    return NULL;
}

/* With the GIL off, a thread spinning in Python cannot keep another out:
 * thread A spins until thread B's Python sets a flag. The switch interval
 * is made huge first, so on a build that had a GIL A would hold it for the
 * whole spin and B could never run (A gives up after 30 s and reports 0). */
PYS_TEST(threads, free_threaded_python_runs_alongside_a_spinning_thread, .timeout = 120)
{
    if (!py->free_threaded)
        cr_skip_test("%s has a GIL", pyt_name(py));
    pys_info info;
    pyt_assert_ok(pys_get_info(rt, &info));
    cr_assert_eq(info.gil_enabled, 0, "the GIL is on after init on %s", pyt_name(py));
    pyt_assert_ok(pys_exec(rt, "import sys, time\n"
                               "sys.setswitchinterval(1e6)\n"
                               "started, flag = [0], [0]\n"
                               "def spin():\n"
                               "    started[0] = 1\n"
                               "    t = time.monotonic()\n"
                               "    while not flag[0] and time.monotonic() - t < 30:\n"
                               "        pass\n"
                               "    return flag[0]\n"));
    par_arg a = {.rt = rt, .expr = "spin()"};
    pthread_t th = spawn(par_main, &a);
    while (pyt_eval_i64(rt, "started[0]") == 0)
        pyt_sleep_ms(1);
    pyt_assert_ok(pys_exec(rt, "flag[0] = 7"));
    pthread_join(th, NULL);
    cr_assert_eq(a.result, 7, "the spinning thread never saw the other thread's store");
    cr_assert_lt(a.ms, 25000.0);
}

PYS_TEST(threads, batch_holds_the_gil_between_calls)
{
    if (py->free_threaded)
        cr_skip_test("no GIL to hold on %s", pyt_name(py));
    pys_obj d = pys_dict_new(rt);
    pyt_assert_h(d);
    enum { N = 20000 };

    /* Per-call cost outside and inside a batch (informational; the bench
     * owns the numbers). */
    double t0 = pyt_now_ms();
    cr_assert_eq(plain_calls(rt, d, N), 0);
    double t_plain = pyt_now_ms() - t0;
    pyt_assert_ok(pys_gil_acquire(rt));
    t0 = pyt_now_ms();
    cr_assert_eq(plain_calls(rt, d, N), 0);
    double t_batch = pyt_now_ms() - t0;
    pyt_assert_ok(pys_gil_release(rt));
    cr_log_info("%s: 5 calls x %d: %.1f ms unbatched, %.1f ms batched (%.0f ns vs %.0f ns per call)",
                pyt_name(py), N, t_plain, t_batch, t_plain * 1e6 / (5.0 * N),
                t_batch * 1e6 / (5.0 * N));
    fprintf(stderr, "[threads] %s: per call %.0f ns unbatched, %.0f ns batched\n", pyt_name(py),
            t_plain * 1e6 / (5.0 * N), t_batch * 1e6 / (5.0 * N));

    /* Another thread competing for the GIL makes no progress while this
     * one is inside a batch, even while it sleeps between calls. */
    prober b = {.rt = rt};
    pthread_t th = spawn(prober_main, &b);
    while (atomic_load(&b.done) < 50)
        pyt_sleep_ms(1);
    pyt_assert_ok(pys_gil_acquire(rt));
    long before = atomic_load(&b.done);
    cr_assert_eq(plain_calls(rt, d, N), 0);
    pyt_sleep_ms(50);
    cr_assert_eq(plain_calls(rt, d, 1000), 0);
    long during = atomic_load(&b.done) - before;
    pyt_assert_ok(pys_gil_release(rt));
    /* The prober may finish the one call it was in when the batch began. */
    cr_assert_leq(during, 1, "another thread made %ld calls during the batch", during);
    long after = atomic_load(&b.done);
    while (atomic_load(&b.done) < after + 50)
        pyt_sleep_ms(1);
    atomic_store(&b.stop, true);
    pthread_join(th, NULL);
    cr_assert_eq(b.failures, 0);
    pys_release(d);
}

typedef struct spin_arg {
    pys_runtime *rt;
    const char *src;
    uint32_t deadline;
    atomic_bool started;
    int rc;
    double took;
    int64_t after;
    char type[128];
} spin_arg;

static void *spin_main(void *p)
{
    spin_arg *a = p;
    if (a->deadline)
        pys_set_deadline(a->rt, a->deadline);
    atomic_store(&a->started, true);
    double t0 = pyt_now_ms();
    a->rc = pys_exec(a->rt, a->src);
    a->took = pyt_now_ms() - t0;
    snprintf(a->type, sizeof a->type, "%s", pys_last_error()->type);
    pys_set_deadline(a->rt, 0);
    a->after = eval_i64(a->rt, "1+1");
    return NULL;
}

/* ==== stress ============================================================= */

enum { STRESS_THREADS = 8, STRESS_OPS = 20000 };

typedef struct stress_arg {
    pys_runtime *rt;
    int k;
    pys_obj bump, shared;
    long calls;  /* successful bump() calls */
    long ops;    /* operations that checked out */
    int failures;
    char err[512];
} stress_arg;

#define STRESS_FAIL(a, i, what)                                                                    \
    do {                                                                                           \
        if (!(a)->failures++)                                                                      \
            snprintf((a)->err, sizeof(a)->err, "thread %d op %d: %s: %s: %s", (a)->k, (i), what,   \
                     pys_err_name(pys_last_error()->code), pys_last_error()->message);             \
    } while (0)

static void stress_op(stress_arg *a, pys_obj mine, int i)
{
    pys_runtime *rt = a->rt;
    char key[32];
    switch (i % 6) {
    case 0: { /* create and convert */
        int64_t want = (int64_t)a->k * 1000003 + i, v = 0;
        pys_obj h = pys_from_int64(rt, want);
        if (pys_to_int64(h, &v) != PYS_OK || v != want) {
            STRESS_FAIL(a, i, "int round trip");
            break;
        }
        pys_release(h);
        double dv = 0;
        pys_obj f = pys_from_double(rt, i * 0.5);
        if (pys_to_double(f, &dv) != PYS_OK || dv != i * 0.5) {
            STRESS_FAIL(a, i, "double round trip");
            break;
        }
        pys_release(f);
        a->ops++;
        break;
    }
    case 1: { /* strings */
        snprintf(key, sizeof key, "s-%d-%d", a->k, i);
        pys_obj s = pys_from_str(rt, key);
        size_t n = 0;
        const char *view = pys_str_view(s, &n);
        if (!view || n != strlen(key) || memcmp(view, key, n) != 0) {
            STRESS_FAIL(a, i, "str round trip");
            break;
        }
        pys_release(s);
        a->ops++;
        break;
    }
    case 2: { /* call a Python function */
        pys_obj r = pys_callf(a->bump, "i q", a->k, (int64_t)i);
        int64_t v = 0;
        if (!pys_ok(r) || pys_to_int64(r, &v) != PYS_OK || v != 2 * (int64_t)i) {
            STRESS_FAIL(a, i, "bump()");
            break;
        }
        pys_release(r);
        a->calls++;
        a->ops++;
        break;
    }
    case 3: { /* dict set/get: this thread's dict and a shared one */
        snprintf(key, sizeof key, "k%d", i % 64);
        pys_obj v = pys_from_int64(rt, i);
        if (pys_setitem_str(mine, key, v) != PYS_OK) {
            STRESS_FAIL(a, i, "setitem");
            break;
        }
        pys_obj g = pys_getitem_str(mine, key);
        int64_t x = -1;
        if (!pys_ok(g) || pys_to_int64(g, &x) != PYS_OK || x != i) {
            STRESS_FAIL(a, i, "getitem");
            break;
        }
        snprintf(key, sizeof key, "t%d", a->k);
        if (pys_setitem_str(a->shared, key, v) != PYS_OK) {
            STRESS_FAIL(a, i, "shared setitem");
            break;
        }
        pys_release(g);
        pys_release(v);
        a->ops++;
        break;
    }
    case 4: { /* run source (compile cache shared by all threads) */
        if (eval_i64(rt, "3*7") != 21) {
            STRESS_FAIL(a, i, "eval");
            break;
        }
        a->ops++;
        break;
    }
    case 5: { /* a small batch with a scope inside */
        if (pys_gil_acquire(rt) != PYS_OK || pys_scope_begin(rt) != PYS_OK) {
            STRESS_FAIL(a, i, "batch/scope");
            break;
        }
        bool good = true;
        for (int j = 0; j < 4; j++) {
            pys_obj h = pys_from_int64(rt, j);
            pys_obj d = pys_dup(h);
            int64_t v = -1;
            good = good && pys_ok(d) && pys_to_int64(d, &v) == PYS_OK && v == j;
        }
        if (pys_scope_end(rt) != PYS_OK || pys_gil_release(rt) != PYS_OK || !good) {
            STRESS_FAIL(a, i, "batch body");
            break;
        }
        a->ops++;
        break;
    }
    }
}

static void *stress_main(void *p)
{
    stress_arg *a = p;
    /* Half the workers run with a deadline that never fires: their calls
     * go through the deadline bookkeeping and keep the watchdog busy. */
    if (a->k % 2 && pys_set_deadline(a->rt, 20000) != PYS_OK)
        STRESS_FAIL(a, -1, "set_deadline");
    pys_obj mine = pys_dict_new(a->rt);
    if (!pys_ok(mine)) {
        STRESS_FAIL(a, -1, "dict_new");
        return NULL;
    }
    for (int i = 0; i < STRESS_OPS && a->failures < 10; i++)
        stress_op(a, mine, i);
    pys_release(mine);
    return NULL;
}

static const char stress_setup[] =
    "import threading, time\n"
    "calls = [0] * 8\n"
    "def bump(k, x):\n"
    "    calls[k] += 1\n"
    "    return 2 * x\n"
    "py_lock = threading.Lock()\n"
    "py_count = [0]\n"
    "py_stop = [False]\n"
    "def spin():\n"
    "    while not py_stop[0]:\n"
    "        with py_lock:\n"
    "            py_count[0] += 1\n"
    "        d = {i: str(i) for i in range(20)}\n"
    "        time.sleep(0.0005)\n"
    "py_threads = [threading.Thread(target=spin, daemon=True) for _ in range(2)]\n"
    "for t in py_threads: t.start()\n"
    "shared = {}\n";

static void run_stress(pys_runtime *rt, const pyt_python *py)
{
    pyt_assert_ok(pys_exec(rt, stress_setup));
    pys_obj main_dict = pys_main_dict(rt);
    pys_obj bump = pys_getitem_str(main_dict, "bump");
    pys_obj shared = pys_getitem_str(main_dict, "shared");
    pyt_assert_h(bump);
    pyt_assert_h(shared);
    size_t base = pys_handle_count(rt);

    stress_arg a[STRESS_THREADS];
    pthread_t th[STRESS_THREADS];
    double t0 = pyt_now_ms();
    for (int k = 0; k < STRESS_THREADS; k++) {
        a[k] = (stress_arg){.rt = rt, .k = k, .bump = bump, .shared = shared};
        th[k] = spawn(stress_main, &a[k]);
    }
    /* Meanwhile, deadlines fire on fresh threads (the watchdog posts while
     * the workers hammer the table). */
    int timeouts = 0;
    for (int i = 0; i < 4; i++) {
        spin_arg s = {.rt = rt, .src = "while True: pass\n", .deadline = 30};
        pthread_join(spawn(spin_main, &s), NULL);
        timeouts += s.rc == PYS_E_TIMEOUT && s.after == 2;
    }
    for (int k = 0; k < STRESS_THREADS; k++)
        pthread_join(th[k], NULL);
    double took = pyt_now_ms() - t0;
    cr_assert_eq(timeouts, 4);

    long want_calls = 0;
    for (int i = 0; i < STRESS_OPS; i++)
        want_calls += i % 6 == 2;
    for (int k = 0; k < STRESS_THREADS; k++) {
        cr_assert_eq(a[k].failures, 0, "%s: %d failures, first: %s", pyt_name(py), a[k].failures,
                     a[k].err);
        cr_assert_eq(a[k].ops, STRESS_OPS);
        cr_assert_eq(a[k].calls, want_calls);
    }
    /* Exact counts on the Python side too. */
    for (int k = 0; k < STRESS_THREADS; k++) {
        char expr[64];
        snprintf(expr, sizeof expr, "calls[%d]", k);
        cr_assert_eq(pyt_eval_i64(rt, expr), want_calls, "%s", expr);
    }
    cr_assert_eq(pyt_eval_i64(rt, "len(shared)"), STRESS_THREADS);
    /* Every handle the workers made is gone; the slots were recycled. */
    cr_assert_eq(pys_handle_count(rt), base);
    /* The Python threads ran meanwhile. */
    int64_t spun = pyt_eval_i64(rt, "py_count[0]");
    cr_assert_gt(spun, 0);
    pyt_assert_ok(pys_exec(rt, "py_stop[0] = True\nfor t in py_threads: t.join()\n"));
    cr_assert_eq(pyt_eval_i64(rt, "sum(t.is_alive() for t in py_threads)"), 0);
    settle_detached_threads();
    fprintf(stderr, "[threads] %s: stress %d x %d ops in %.0f ms (python threads looped %lld times)%s\n",
            pyt_name(py), STRESS_THREADS, STRESS_OPS, took, (long long)spun,
            pys_free_threaded(rt) ? "" : "");
    pys_release(bump);
    pys_release(shared);
    pys_release(main_dict);
}

PYS_TEST(threads, stress)
{
    run_stress(rt, py);
}

/* The same on the free-threaded builds' locking path (rt->lock around the
 * handle table and the compile cache), forced on this GIL build. */
PYS_TEST(threads, stress_locking_path)
{
    pys__test_force_locking(true);
    run_stress(rt, py);
    pys__test_force_locking(false);
}

/* ==== deadlines ========================================================= */

static const char spin_src[] = "while True: pass\n";
static const char swallow_src[] = "try:\n"
                                  "    while True: pass\n"
                                  "except BaseException:\n"
                                  "    while True: pass\n";

PYS_TEST(deadline, while_true_times_out)
{
    cr_assert_eq(pys_get_deadline(rt), 0);
    pyt_assert_ok(pys_set_deadline(rt, 100));
    cr_assert_eq(pys_get_deadline(rt), 100);
    double t0 = pyt_now_ms();
    int rc = pys_exec(rt, spin_src);
    double took = pyt_now_ms() - t0;
    cr_assert_eq(rc, PYS_E_TIMEOUT, "%s: %s", pys_err_name(rc), pys_last_error()->message);
    cr_assert_geq(took, 95, "stopped after %.0f ms, before the deadline", took);
    cr_assert_lt(took, 1000, "stopped after %.0f ms", took);
    cr_assert_str_eq(pys_last_error()->type, "pyshim.DeadlineExceeded");
    cr_assert_str_eq(pys_last_error()->context, "pys_exec");
    fprintf(stderr, "[threads] %s: 100 ms deadline stopped `while True: pass` after %.0f ms\n",
            pyt_name(py), took);
    /* Fully usable afterwards, with and without the deadline. */
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
    pyt_assert_ok(pys_set_deadline(rt, 0));
    cr_assert_eq(pys_get_deadline(rt), 0);
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
    /* Nothing stays pending: later Python code runs well past the repeat
     * interval without being hit. */
    pyt_sleep_ms(3 * PYS_INTERRUPT_REPEAT_MS);
    pyt_assert_ok(pys_exec(rt, "import time\n"
                               "t = time.monotonic()\n"
                               "while time.monotonic() - t < 0.3: pass\n"));
}

PYS_TEST(deadline, swallowing_code_is_still_stopped)
{
    pyt_assert_ok(pys_set_deadline(rt, 100));
    double t0 = pyt_now_ms();
    int rc = pys_exec(rt, swallow_src);
    double took = pyt_now_ms() - t0;
    cr_assert_eq(rc, PYS_E_TIMEOUT, "%s: %s", pys_err_name(rc), pys_last_error()->message);
    cr_assert_lt(took, 1000, "stopped after %.0f ms", took);
    /* Three levels of catching: each caught raise is followed by another. */
    t0 = pyt_now_ms();
    rc = pys_exec(rt, "for _ in range(3):\n"
                      "    try:\n"
                      "        while True: pass\n"
                      "    except BaseException:\n"
                      "        pass\n"
                      "while True: pass\n");
    took = pyt_now_ms() - t0;
    cr_assert_eq(rc, PYS_E_TIMEOUT);
    cr_assert_lt(took, 1000, "stopped after %.0f ms", took);
    /* `except Exception` does not catch it at all. */
    rc = pys_exec(rt, "try:\n    while True: pass\nexcept Exception:\n    pass\n");
    cr_assert_eq(rc, PYS_E_TIMEOUT);
    pyt_assert_ok(pys_set_deadline(rt, 0));
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
}

PYS_TEST(deadline, is_per_call)
{
    /* The deadline is far above what each call needs, so that a loaded
     * machine (the suite runs tests side by side) cannot push a short call
     * past it; what is checked is that it restarts with every call. */
    pyt_assert_ok(pys_set_deadline(rt, 400));
    /* Many quick calls spanning several deadlines: none is hit. */
    double t0 = pyt_now_ms();
    int n = 0;
    while (pyt_now_ms() - t0 < 1500) {
        cr_assert_eq(pyt_eval_i64(rt, "sum(range(100))"), 4950);
        pyt_sleep_ms(5);
        n++;
    }
    /* A call shorter than the deadline completes. */
    pyt_assert_ok(pys_exec(rt, "import time\n"
                               "t = time.monotonic()\n"
                               "while time.monotonic() - t < 0.02: pass\n"));
    /* A longer one does not. */
    cr_assert_eq(pys_exec(rt, "t = time.monotonic()\n"
                              "while time.monotonic() - t < 5: pass\n"),
                 PYS_E_TIMEOUT);
    pyt_assert_ok(pys_set_deadline(rt, 0));
    cr_assert_gt(n, 10);
}

PYS_TEST(deadline, in_a_batch)
{
    pyt_assert_ok(pys_set_deadline(rt, 100));
    pyt_assert_ok(pys_gil_acquire(rt));
    double t0 = pyt_now_ms();
    int rc = pys_exec(rt, spin_src);
    double took = pyt_now_ms() - t0;
    /* Calls that run no Python code still work in the expired batch. */
    pys_obj o = pys_from_int64(rt, 5);
    pyt_assert_h(o);
    pyt_assert_ok(pys_release(o));
    pyt_assert_ok(pys_gil_release(rt));
    cr_assert_eq(rc, PYS_E_TIMEOUT, "%s: %s", pys_err_name(rc), pys_last_error()->message);
    cr_assert_lt(took, 1000);
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
    pyt_assert_ok(pys_set_deadline(rt, 0));
}

PYS_TEST(deadline, on_fresh_threads_with_busy_python_threads)
{
    /* Python threads hog the GIL meanwhile (pure bytecode, no sleeps). */
    pyt_assert_ok(pys_exec(rt, "import threading\n"
                               "hog_stop = False\n"
                               "def hog():\n"
                               "    n = 0\n"
                               "    while not hog_stop: n += 1\n"
                               "hogs = [threading.Thread(target=hog, daemon=True) for _ in range(2)]\n"
                               "for t in hogs: t.start()\n"));
    spin_arg a[3] = {
        {.rt = rt, .src = spin_src, .deadline = 100},
        {.rt = rt, .src = swallow_src, .deadline = 150},
        {.rt = rt, .src = spin_src, .deadline = 200},
    };
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        th[i] = spawn(spin_main, &a[i]);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(a[i].rc, PYS_E_TIMEOUT, "thread %d: %s", i, pys_err_name(a[i].rc));
        cr_assert_str_eq(a[i].type, "pyshim.DeadlineExceeded");
        cr_assert_lt(a[i].took, 1000, "thread %d stopped after %.0f ms", i, a[i].took);
        cr_assert_geq(a[i].took, a[i].deadline - 5);
        cr_assert_eq(a[i].after, 2);
    }
    pyt_assert_ok(pys_exec(rt, "hog_stop = True\nfor t in hogs: t.join()\n"));
    settle_detached_threads();
}

PYS_TEST(deadline, blocking_c_calls_are_not_stopped)
{
    pyt_assert_ok(pys_set_deadline(rt, 100));
    /* A single sleep in C runs to its end; the call returns after it,
     * either successfully or with the deadline raised right after. */
    double t0 = pyt_now_ms();
    int rc = pys_exec(rt, "import time\ntime.sleep(0.4)\n");
    double took = pyt_now_ms() - t0;
    cr_assert(rc == PYS_OK || rc == PYS_E_TIMEOUT, "%s", pys_err_name(rc));
    cr_assert_geq(took, 390);
    /* Short sleeps in a Python loop: stopped at the first return to
     * bytecode after the deadline. */
    t0 = pyt_now_ms();
    rc = pys_exec(rt, "for _ in range(1000): time.sleep(0.01)\n");
    took = pyt_now_ms() - t0;
    cr_assert_eq(rc, PYS_E_TIMEOUT);
    cr_assert_lt(took, 1000, "stopped after %.0f ms", took);
    pyt_assert_ok(pys_set_deadline(rt, 0));
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
}

typedef struct import_arg {
    pys_runtime *rt;
    uint32_t deadline;
    int rc;
} import_arg;

static void *import_main(void *p)
{
    import_arg *a = p;
    pys_set_deadline(a->rt, a->deadline);
    a->rc = pys_exec(a->rt, "import pyshim_slowmod\n");
    pys_set_deadline(a->rt, 0);
    return NULL;
}

PYS_TEST(deadline, concurrent_imports_do_not_leave_import_locks)
{
    /* Threads import the same slow module under deadlines: the one running
     * its body is stopped there; the others wait in importlib's lock code,
     * where an exception could leave the module lock held for good. */
    char dir[] = "/tmp/pyshim-thr-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/pyshim_slowmod.py", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("import time\n"
          "t = time.monotonic()\n"
          "while time.monotonic() - t < 0.3: pass\n"
          "value = 42\n",
          f);
    fclose(f);
    pys_obj sys_path = pys_import(rt, "sys");
    pys_obj lst = pys_getattr(sys_path, "path");
    pys_obj d = pys_from_str(rt, dir);
    pyt_assert_ok(pys_append(lst, d));
    pys_release(d);
    pys_release(lst);
    pys_release(sys_path);

    for (int round = 0; round < 3; round++) {
        import_arg a[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            a[i] = (import_arg){.rt = rt, .deadline = 40 + 20 * (uint32_t)i};
            th[i] = spawn(import_main, &a[i]);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            cr_assert(a[i].rc == PYS_E_TIMEOUT || a[i].rc == PYS_OK, "round %d thread %d: %s",
                      round, i, pys_err_name(a[i].rc));
        }
        pyt_assert_ok(pys_exec(rt, "import sys\nsys.modules.pop('pyshim_slowmod', None)\n"));
    }
    /* No import lock was left behind: an import with no deadline, from a
     * fresh thread and from this one, completes. */
    import_arg b = {.rt = rt, .deadline = 0};
    pthread_join(spawn(import_main, &b), NULL);
    cr_assert_eq(b.rc, PYS_OK, "%s", pys_err_name(b.rc));
    cr_assert_eq(pyt_eval_i64(rt, "__import__('pyshim_slowmod').value"), 42);
    unlink(path);
    char cache[300];
    snprintf(cache, sizeof cache, "rm -rf '%s'", dir);
    cr_assert_eq(system(cache), 0);
}

/* ==== interrupts ========================================================= */

static void interrupt_one(pys_runtime *rt, const pyt_python *py, const char *src)
{
    spin_arg a = {.rt = rt, .src = src};
    pthread_t th = spawn(spin_main, &a);
    while (!atomic_load(&a.started))
        pyt_sleep_ms(1);
    pyt_sleep_ms(100);
    double t0 = pyt_now_ms();
    int n = pys_interrupt(rt);
    cr_assert_eq(n, 1, "pys_interrupt targeted %d calls", n);
    pthread_join(th, NULL);
    double took = pyt_now_ms() - t0;
    cr_assert_eq(a.rc, PYS_E_INTERRUPTED, "%s", pys_err_name(a.rc));
    cr_assert_str_eq(a.type, "pyshim.Interrupted");
    cr_assert_lt(took, 1000, "stopped %.0f ms after pys_interrupt", took);
    cr_assert_eq(a.after, 2);
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
    fprintf(stderr, "[threads] %s: pys_interrupt stopped the other thread after %.0f ms\n",
            pyt_name(py), took);
}

PYS_TEST(interrupt, from_another_thread)
{
    interrupt_one(rt, py, spin_src);
}

PYS_TEST(interrupt, swallowing_code_is_still_stopped)
{
    interrupt_one(rt, py, swallow_src);
}

PYS_TEST(interrupt, only_calls_in_progress)
{
    cr_assert_eq(pys_interrupt(NULL), PYS_E_ARG);
    /* Nothing running: nothing targeted, nothing sticks. */
    cr_assert_eq(pys_interrupt(rt), 0);
    pyt_assert_ok(pys_exec(rt, "import time\n"
                               "t = time.monotonic()\n"
                               "while time.monotonic() - t < 0.2: pass\n"));
    /* Several at once. */
    spin_arg a[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (spin_arg){.rt = rt, .src = i == 1 ? swallow_src : spin_src};
        th[i] = spawn(spin_main, &a[i]);
    }
    for (int i = 0; i < 3; i++)
        while (!atomic_load(&a[i].started))
            pyt_sleep_ms(1);
    pyt_sleep_ms(100);
    cr_assert_eq(pys_interrupt(rt), 3);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(a[i].rc, PYS_E_INTERRUPTED);
        cr_assert_eq(a[i].after, 2);
    }
    /* The interrupt did not outlive those calls. */
    pyt_sleep_ms(3 * PYS_INTERRUPT_REPEAT_MS);
    pyt_assert_ok(pys_exec(rt, "t = time.monotonic()\n"
                               "while time.monotonic() - t < 0.2: pass\n"));
}

typedef struct batch_spin {
    pys_runtime *rt;
    atomic_bool started;
    int rc_acquire, rc_spin, rc_plain, rc_release;
    int64_t after;
} batch_spin;

static void *batch_spin_main(void *p)
{
    batch_spin *b = p;
    b->rc_acquire = pys_gil_acquire(b->rt);
    atomic_store(&b->started, true);
    b->rc_spin = pys_exec(b->rt, spin_src);
    pys_obj o = pys_from_int64(b->rt, 1);
    b->rc_plain = pys_ok(o) ? PYS_OK : pys_last_error()->code;
    pys_release(o);
    b->rc_release = pys_gil_release(b->rt);
    b->after = eval_i64(b->rt, "1+1");
    return NULL;
}

PYS_TEST(interrupt, a_batch)
{
    batch_spin b = {.rt = rt};
    pthread_t th = spawn(batch_spin_main, &b);
    while (!atomic_load(&b.started))
        pyt_sleep_ms(1);
    pyt_sleep_ms(100);
    cr_assert_eq(pys_interrupt(rt), 1);
    pthread_join(th, NULL);
    cr_assert_eq(b.rc_acquire, PYS_OK);
    cr_assert_eq(b.rc_spin, PYS_E_INTERRUPTED);
    cr_assert_eq(b.rc_plain, PYS_OK);
    cr_assert_eq(b.rc_release, PYS_OK);
    cr_assert_eq(b.after, 2);
}

/* ==== close from another thread ======================================== */

typedef struct worker {
    pys_runtime *rt;
    int kind; /* 0 quick calls, 1 spin in Python, 2 batch then quick calls */
    atomic_bool started;
    long ok, interrupted;
    int last_rc, spin_rc, bad;
    double released_at; /* kind 2: when the batch was given back */
    char err[256];
} worker;

/* Set by the closing thread right before it calls pys_close. */
static atomic_bool close_begun;

static void *worker_main(void *p)
{
    worker *w = p;
    if (w->kind == 1) {
        atomic_store(&w->started, true);
        w->spin_rc = pys_exec(w->rt, spin_src);
    } else if (w->kind == 2) {
        if (pys_gil_acquire(w->rt) != PYS_OK)
            w->bad++;
        atomic_store(&w->started, true);
        /* Hold the batch (calls that run no Python) until 100 ms after
         * close has begun, so close must wait for it however late the
         * threads were scheduled (5 s at most if close never comes). */
        double t0 = pyt_now_ms(), seen = 0;
        for (;;) {
            /* The flag first, then the clock: a time read before the flag
             * could predate close's own start by a preemption. */
            bool begun = atomic_load(&close_begun);
            double now = pyt_now_ms();
            if (!seen && begun)
                seen = now;
            if ((seen && now - seen >= 100) || now - t0 >= 5000)
                break;
            pys_obj o = pys_from_int64(w->rt, 3);
            int64_t v = 0;
            if (pys_to_int64(o, &v) != PYS_OK || v != 3)
                w->bad++;
            pys_release(o);
            w->ok++;
        }
        w->released_at = pyt_now_ms();
        if (pys_gil_release(w->rt) != PYS_OK)
            w->bad++;
    }
    atomic_store(&w->started, true);
    for (;;) {
        pys_obj o = pys_eval(w->rt, "2+3");
        if (!pys_ok(o)) {
            w->last_rc = pys_last_error()->code;
            if (w->last_rc == PYS_E_INTERRUPTED) {
                w->interrupted++; /* close interrupted this one */
                continue;
            }
            snprintf(w->err, sizeof w->err, "%s", pys_last_error()->message);
            break;
        }
        int64_t v = 0;
        int rc = pys_to_int64(o, &v);
        pys_release(o);
        if (rc == PYS_E_CLOSED) { /* closed between the two calls */
            w->last_rc = rc;
            break;
        }
        if (rc != PYS_OK || v != 5)
            w->bad++;
        w->ok++;
    }
    return NULL;
}

typedef struct closer {
    pys_runtime *rt;
    int rc;
    double took, done_at;
} closer;

static void *closer_main(void *p)
{
    closer *c = p;
    double t0 = pyt_now_ms();
    atomic_store(&close_begun, true);
    c->rc = pys_close(c->rt);
    c->done_at = pyt_now_ms();
    c->took = c->done_at - t0;
    return NULL;
}

static void close_while_calling(pys_runtime *rt, const pyt_python *py)
{
    enum { NW = 5 };
    static const int kinds[NW] = {0, 0, 1, 2, 0};
    atomic_store(&close_begun, false);
    worker w[NW];
    pthread_t th[NW];
    for (int i = 0; i < NW; i++) {
        w[i] = (worker){.rt = rt, .kind = kinds[i]};
        th[i] = spawn(worker_main, &w[i]);
    }
    for (int i = 0; i < NW; i++)
        while (!atomic_load(&w[i].started))
            pyt_sleep_ms(1);
    pyt_sleep_ms(50);
    closer c = {.rt = rt};
    pthread_join(spawn(closer_main, &c), NULL);
    for (int i = 0; i < NW; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(c.rc, PYS_OK, "pys_close from another thread: %s", pys_err_name(c.rc));
    /* It waited for the batch, which was held until 100 ms after close
     * began: close returned only after the batch was given back. */
    cr_assert_geq(c.done_at, w[3].released_at, "close returned %.0f ms before the batch ended",
                  w[3].released_at - c.done_at);
    cr_assert_geq(c.took, 100, "close took %.0f ms", c.took);
    cr_assert_lt(c.took, 5000, "close took %.0f ms", c.took);
    for (int i = 0; i < NW; i++) {
        cr_assert_eq(w[i].bad, 0, "worker %d", i);
        cr_assert_eq(w[i].last_rc, PYS_E_CLOSED, "worker %d ended with %s: %s", i,
                     pys_err_name(w[i].last_rc), w[i].err);
    }
    cr_assert_eq(w[2].spin_rc, PYS_E_INTERRUPTED, "the spinning call ended with %s",
                 pys_err_name(w[2].spin_rc));
    cr_assert_gt(w[3].ok, 0);
    cr_assert_null(pys_runtime_current());
    cr_assert_eq(pys_exec(rt, "x = 1"), PYS_E_CLOSED);
    fprintf(stderr, "[threads] %s: pys_close from another thread with 5 busy threads: %.0f ms\n",
            pyt_name(py), c.took);
}

PYS_TEST_NOOPEN(close, from_another_thread_while_others_call)
{
    pys_runtime *rt = pyt_open(py);
    close_while_calling(rt, py);
    /* The process can open Python again, and close it on the opener. */
    rt = pyt_open(py);
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
    pyt_close(rt);
}

typedef struct opener {
    const pyt_python *py;
    pys_runtime *rt;
    int rc;
    int64_t v;
} opener;

static void *opener_main(void *p)
{
    opener *o = p;
    pys_options opts = {.library_path = o->py->path, .ignore_environment = true};
    /* CPython 3.8 points the initialising thread's alternate signal stack at
     * faulthandler's block (freed by a Py_FinalizeEx on another thread);
     * ASan's thread exit then fails to unmap it. Give the thread its own
     * back (a thread that outlives the runtime wants that too). */
    stack_t before;
    sigaltstack(NULL, &before);
    o->rc = pys_open(&opts, &o->rt);
    sigaltstack(&before, NULL);
    if (o->rc == PYS_OK)
        o->v = eval_i64(o->rt, "6*7");
    return NULL;
}

PYS_TEST_NOOPEN(close, after_the_opener_thread_exited)
{
    /* Opened on a thread that is gone by the time of close. */
    opener o = {.py = py};
    pthread_join(spawn(opener_main, &o), NULL);
    cr_assert_eq(o.rc, PYS_OK, "pys_open on a thread: %s", pys_last_error()->message);
    cr_assert_eq(o.v, 42);
    cr_assert_eq(pyt_eval_i64(o.rt, "1+1"), 2);
    close_while_calling(o.rt, py);
    /* And once more on this thread, closed from yet another. */
    pys_runtime *rt = pyt_open(py);
    cr_assert_eq(pyt_eval_i64(rt, "2+2"), 4);
    closer c = {.rt = rt};
    pthread_join(spawn(closer_main, &c), NULL);
    cr_assert_eq(c.rc, PYS_OK);
    rt = pyt_open(py);
    cr_assert_eq(pyt_eval_i64(rt, "3+3"), 6);
    pyt_close(rt);
}

PYS_TEST_NOOPEN(close, from_another_thread_joins_python_threads)
{
    /* threading imported on the opener (3.9-3.12 used to hang in
     * Py_FinalizeEx here); a non-daemon Python thread still running and an
     * atexit hook: close from another thread joins the one, runs the other. */
    char dir[] = "/tmp/pyshim-close-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    pys_runtime *rt = pyt_open(py);
    char src[1024];
    snprintf(src, sizeof src,
             "import threading, time, atexit\n"
             "def late():\n"
             "    time.sleep(0.3)\n"
             "    open('%s/thread', 'w').write('done')\n"
             "threading.Thread(target=late).start()\n"
             "atexit.register(lambda: open('%s/atexit', 'w').write('done'))\n",
             dir, dir);
    pyt_assert_ok(pys_exec(rt, src));
    closer c = {.rt = rt};
    pthread_join(spawn(closer_main, &c), NULL);
    cr_assert_eq(c.rc, PYS_OK);
    char path[300];
    if (py->debug && py->major == 3 && py->minor >= 13) {
        /* A debug build of 3.13+ asserts when finalised on a thread other
         * than its opener's, so such a close does not finalise (runtime.c,
         * pys_close): no join, no atexit; the thread runs on, and the next
         * open attaches to the same interpreter, where it ends. */
        cr_assert_null(pys_runtime_current());
        rt = pyt_open(py);
        cr_assert_eq(pyt_eval_i64(rt, "__import__('threading').active_count() >= 1"), 1);
        pyt_assert_ok(pys_exec(rt, "import time\n"
                                   "while threading.active_count() > 1: time.sleep(0.01)\n"));
        snprintf(path, sizeof path, "%s/thread", dir);
        cr_assert_eq(access(path, F_OK), 0, "the non-daemon thread did not finish");
        unlink(path);
        pyt_close(rt);
        snprintf(path, sizeof path, "%s/atexit", dir);
        cr_assert_eq(access(path, F_OK), 0, "the atexit hook did not run at the opener's close");
        unlink(path);
        rmdir(dir);
        return;
    }
    cr_assert_geq(c.took, 200, "close returned after %.0f ms, before the thread ended", c.took);
    snprintf(path, sizeof path, "%s/thread", dir);
    cr_assert_eq(access(path, F_OK), 0, "the non-daemon thread did not finish");
    unlink(path);
    snprintf(path, sizeof path, "%s/atexit", dir);
    cr_assert_eq(access(path, F_OK), 0, "the atexit hook did not run");
    unlink(path);
    rmdir(dir);
    /* And the opener can open again. */
    rt = pyt_open(py);
    cr_assert_eq(pyt_eval_i64(rt, "__import__('threading').active_count()"), 1);
    pyt_close(rt);
}

static void *same_id_main(void *p)
{
    *(pthread_t *)p = pthread_self();
    return NULL;
}

PYS_TEST_NOOPEN(close, on_a_new_thread_with_the_openers_id)
{
    /* glibc hands a finished thread's id to the next thread: pys_close
     * must still tell it is not the opener. */
    for (int round = 0; round < 3; round++) {
        opener o = {.py = py};
        pthread_t ot = spawn(opener_main, &o);
        pthread_join(ot, NULL);
        cr_assert_eq(o.rc, PYS_OK, "pys_open on a thread: %s", pys_last_error()->message);
        pthread_t seen = 0;
        pthread_join(spawn(same_id_main, &seen), NULL);
        closer c = {.rt = o.rt};
        pthread_join(spawn(closer_main, &c), NULL);
        cr_assert_eq(c.rc, PYS_OK);
        cr_log_info("round %d: the closer %s the opener's thread id", round,
                    pthread_equal(seen, ot) ? "reused" : "did not reuse");
    }
    pys_runtime *rt = pyt_open(py);
    cr_assert_eq(pyt_eval_i64(rt, "3+3"), 6);
    pyt_close(rt);
}

PYS_TEST_NOOPEN(close, deadline_setting_ends_with_the_runtime)
{
    pys_runtime *rt = pyt_open(py);
    pyt_assert_ok(pys_set_deadline(rt, 50));
    pyt_close(rt);
    rt = pyt_open(py);
    cr_assert_eq(pys_get_deadline(rt), 0);
    pyt_assert_ok(pys_exec(rt, "import time\n"
                               "t = time.monotonic()\n"
                               "while time.monotonic() - t < 0.2: pass\n"));
    pyt_close(rt);
}
