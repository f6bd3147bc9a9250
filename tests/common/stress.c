/* See stress.h. Handles live in a shared pool of slots: a thread that
 * swaps a handle out of a slot owns it (and must be able to release it);
 * a thread that only reads a slot borrows a handle that another thread may
 * release at any moment, also while a call is using it: then the call
 * either sees PYS_E_HANDLE or works on the object it started with. */
#include "stress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

enum { THREADS = 8, POOL = 64 };

static const char setup[] = "import time\n"
                            "class Slow:\n"
                            "    def __init__(self, n):\n"
                            "        self.n = n\n"
                            "    def __iter__(self):\n"
                            "        time.sleep(0.0002)\n"
                            "        return iter(range(self.n))\n"
                            "def touch(x):\n"
                            "    try:\n"
                            "        if isinstance(x, int):\n"
                            "            return 1000 + x % 97\n"
                            "        return len(list(x))\n"
                            "    except Exception:\n"
                            "        return -1\n"
                            "def make_slow(n):\n"
                            "    return Slow(n)\n";

typedef struct shared {
    pys_runtime *rt;
    pys_obj touch, make_slow, list_type;
    _Atomic uint64_t pool[POOL];
    double until;
    pthread_mutex_t mu;
    pyt_stress_result *res;
} shared;

typedef struct worker {
    shared *s;
    int k;
    uint64_t rng;
    long ops, calls, stale, timeouts, interrupted, interrupts, released;
    int failures;
    char first[512];
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double pyt_stress_seconds(void)
{
    const char *e = getenv("PYSHIM_STRESS_SECONDS");
    double v = e && *e ? atof(e) : 20.0;
    return v > 0 ? v : 20.0;
}

static uint64_t next(worker *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static void fail(worker *w, const char *what, int code)
{
    if (!w->failures++)
        snprintf(w->first, sizeof w->first, "thread %d: %s: %s: %s", w->k, what,
                 pys_err_name(code), pys_last_error()->message);
}

/* A failed call: PYS_E_HANDLE (borrowed handle released meanwhile) when
 * the call used a borrowed handle, and the stopped-call codes, are within
 * the contract; so are the codes in `also` (0-terminated). */
static void failed(worker *w, const char *what, bool borrowed, const int *also)
{
    int code = pys_last_error()->code;
    if (code == PYS_E_TIMEOUT) {
        w->timeouts++;
        return;
    }
    if (code == PYS_E_INTERRUPTED) {
        w->interrupted++;
        return;
    }
    if (code == PYS_E_HANDLE && borrowed) {
        w->stale++;
        return;
    }
    for (; also && *also; also++)
        if (code == *also)
            return;
    fail(w, what, code);
}

static pys_obj make(worker *w)
{
    pys_runtime *rt = w->s->rt;
    uint64_t r = next(w);
    switch (r % 5) {
    case 0:
        return pys_from_int64(rt, (int64_t)(r >> 8 & 0xffffff) * 97 + 13);
    case 1:
        return pys_from_str(rt, "stress");
    case 2: {
        pys_obj items[3] = {pys_from_int64(rt, 13), pys_from_int64(rt, 110), PYS_NULL};
        items[2] = pys_from_str(rt, "x");
        pys_obj l = pys_list_new(rt, items, 3);
        for (int i = 0; i < 3; i++)
            pys_release(items[i]);
        return l;
    }
    case 3:
        return pys_callf(w->s->make_slow, "i", (int)(r >> 8 & 7));
    default:
        return pys_dict_new(rt);
    }
}

static void put(worker *w)
{
    pys_obj h = make(w);
    if (!pys_ok(h)) {
        failed(w, "make", false, NULL);
        return;
    }
    uint64_t old = atomic_exchange(&w->s->pool[next(w) % POOL], h.id);
    if (old) {
        int rc = pys_release((pys_obj){old});
        if (rc != PYS_OK)
            fail(w, "release of a handle taken from the pool", rc);
        w->released++;
    }
}

static void take_release(worker *w)
{
    uint64_t old = atomic_exchange(&w->s->pool[next(w) % POOL], 0);
    if (old) {
        int rc = pys_release((pys_obj){old});
        if (rc != PYS_OK)
            fail(w, "release of a handle taken from the pool", rc);
        w->released++;
    }
}

static pys_obj borrow(worker *w)
{
    return (pys_obj){atomic_load(&w->s->pool[next(w) % POOL])};
}

static void touch(worker *w)
{
    pys_obj h = borrow(w);
    if (!pys_ok(h))
        return;
    pys_obj r = pys_call(w->s->touch, &h, 1);
    if (!pys_ok(r)) {
        failed(w, "touch()", true, NULL);
        return;
    }
    int64_t v = 0;
    int rc = pys_to_int64(r, &v);
    pys_release(r);
    if (rc != PYS_OK)
        fail(w, "touch() result", rc);
    else if (v < -1 || (v >= 1000 && v != 1013) || (v < 1000 && v > 8))
        fail(w, "touch() saw an object nobody made", PYS_OK);
    else
        w->calls++;
}

/* list(x) for a borrowed x: a C callee that reads x again after x's
 * __iter__ (Slow's sleeps) gave the GIL up to the thread releasing x. */
static void listify(worker *w)
{
    pys_obj h = borrow(w);
    if (!pys_ok(h))
        return;
    static const int may_raise[] = {PYS_E_PYTHON, 0}; /* list(int) is a TypeError */
    pys_obj r = pys_call(w->s->list_type, &h, 1);
    if (!pys_ok(r)) {
        failed(w, "list()", true, may_raise);
        return;
    }
    size_t n = 0;
    if (pys_len(r, &n) != PYS_OK || n > 8)
        fail(w, "list() length", pys_last_error()->code);
    pys_release(r);
    w->calls++;
}

static void convert(worker *w)
{
    pys_obj h = borrow(w);
    if (!pys_ok(h))
        return;
    static const int type_ok[] = {PYS_E_TYPE, 0};
    int64_t v = 0;
    if (pys_to_int64(h, &v) == PYS_OK) {
        if (v % 97 != 13)
            fail(w, "int read from a borrowed handle", PYS_OK);
    } else {
        failed(w, "to_int64", true, type_ok);
    }
    pys_obj s = pys_repr(h);
    if (!pys_ok(s)) {
        failed(w, "repr", true, NULL);
    } else {
        size_t n = 0;
        if (!pys_str_view(s, &n) || n == 0)
            fail(w, "str_view of a repr", pys_last_error()->code);
        pys_release(s);
    }
    cJSON *j = pys_to_json(h);
    if (j)
        cJSON_Delete(j);
    else
        failed(w, "to_json", true, type_ok);
}

static void eval(worker *w)
{
    pys_obj r = pys_eval(w->s->rt, "sum(range(50))");
    int64_t v = 0;
    if (!pys_ok(r)) {
        failed(w, "eval", false, NULL);
        return;
    }
    if (pys_to_int64(r, &v) != PYS_OK || v != 1225)
        fail(w, "eval value", pys_last_error()->code);
    pys_release(r);
    w->calls++;
}

static void batch(worker *w)
{
    pys_runtime *rt = w->s->rt;
    int rc = pys_gil_acquire(rt);
    if (rc != PYS_OK) {
        fail(w, "gil_acquire", rc);
        return;
    }
    if ((rc = pys_scope_begin(rt)) != PYS_OK)
        fail(w, "scope_begin", rc);
    for (int i = 0; i < 4; i++) {
        pys_obj h = pys_from_int64(rt, 97 * i + 13);
        pys_obj d = pys_dup(h);
        int64_t v = 0;
        if (!pys_ok(d) || pys_to_int64(d, &v) != PYS_OK || v != 97 * i + 13)
            fail(w, "batch int", pys_last_error()->code);
        touch(w);
    }
    if ((rc = pys_scope_end(rt)) != PYS_OK)
        fail(w, "scope_end", rc);
    if ((rc = pys_gil_release(rt)) != PYS_OK)
        fail(w, "gil_release", rc);
}

static void deadline(worker *w)
{
    pys_runtime *rt = w->s->rt;
    int rc = pys_set_deadline(rt, 5 + (uint32_t)(next(w) % 20));
    if (rc != PYS_OK) {
        fail(w, "set_deadline", rc);
        return;
    }
    rc = pys_exec(rt, "while True: pass\n");
    if (rc == PYS_E_TIMEOUT)
        w->timeouts++;
    else if (rc == PYS_E_INTERRUPTED)
        w->interrupted++;
    else
        fail(w, "a spinning call with a deadline", rc);
    if ((rc = pys_set_deadline(rt, 0)) != PYS_OK)
        fail(w, "clear deadline", rc);
}

static void *worker_main(void *p)
{
    worker *w = p;
    pys_runtime *rt = w->s->rt;
    /* One thread keeps a long deadline on every call (the bookkeeping; it
     * fires only if a call is starved that long). */
    if (w->k == 3 && pys_set_deadline(rt, 5000) != PYS_OK)
        fail(w, "set_deadline", pys_last_error()->code);
    while (now_s() < w->s->until && w->failures < 20) {
        uint64_t r = next(w) % 100;
        if (r < 25)
            put(w);
        else if (r < 38)
            touch(w);
        else if (r < 45)
            listify(w);
        else if (r < 60)
            convert(w);
        else if (r < 70)
            take_release(w);
        else if (r < 82)
            eval(w);
        else if (r < 92)
            batch(w);
        else if (r < 93 && w->k % 4 == 1)
            deadline(w);
        else if (r < 95 && (w->k == 0 || w->k == 4)) {
            int n = pys_interrupt(rt);
            if (n < 0)
                fail(w, "pys_interrupt", n);
            else
                w->interrupts += n > 0;
        }
        w->ops++;
    }
    if (w->k == 3)
        pys_set_deadline(rt, 0);
    return NULL;
}

int pyt_stress_run(pys_runtime *rt, double seconds, pyt_stress_result *out)
{
    memset(out, 0, sizeof *out);
    static shared s;
    memset(&s, 0, sizeof s);
    s.rt = rt;
    if (pys_exec(rt, setup) != PYS_OK) {
        snprintf(out->first, sizeof out->first, "setup: %s", pys_last_error()->message);
        return out->failures = 1;
    }
    s.touch = pys_eval(rt, "touch");
    s.make_slow = pys_eval(rt, "make_slow");
    s.list_type = pys_eval(rt, "list");
    out->handles_before = pys_handle_count(rt);
    static worker w[THREADS];
    pthread_t th[THREADS];
    double t0 = now_s();
    s.until = t0 + seconds;
    for (int k = 0; k < THREADS; k++) {
        w[k] = (worker){.s = &s, .k = k, .rng = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1)};
        pthread_create(&th[k], NULL, worker_main, &w[k]);
    }
    for (int k = 0; k < THREADS; k++)
        pthread_join(th[k], NULL);
    out->seconds = now_s() - t0;
    for (int i = 0; i < POOL; i++) {
        uint64_t id = atomic_exchange(&s.pool[i], 0);
        if (id && pys_release((pys_obj){id}) != PYS_OK && !out->failures++)
            snprintf(out->first, sizeof out->first, "final release: %s",
                     pys_last_error()->message);
    }
    for (int k = 0; k < THREADS; k++) {
        out->ops += w[k].ops;
        out->calls += w[k].calls;
        out->stale += w[k].stale;
        out->timeouts += w[k].timeouts;
        out->interrupted += w[k].interrupted;
        out->interrupts += w[k].interrupts;
        out->released += w[k].released;
        if (w[k].failures && !out->failures)
            snprintf(out->first, sizeof out->first, "%s", w[k].first);
        out->failures += w[k].failures;
    }
    out->handles_after = pys_handle_count(rt);
    if (out->handles_after != out->handles_before && !out->failures++)
        snprintf(out->first, sizeof out->first, "%zu handles left behind",
                 out->handles_after - out->handles_before);
    pys_obj r = pys_eval(rt, "6*7");
    int64_t v = 0;
    if ((!pys_ok(r) || pys_to_int64(r, &v) != PYS_OK || v != 42) && !out->failures++)
        snprintf(out->first, sizeof out->first, "runtime unusable afterwards: %s",
                 pys_last_error()->message);
    pys_release(r);
    pys_release(s.touch);
    pys_release(s.make_slow);
    pys_release(s.list_type);
    return out->failures;
}
