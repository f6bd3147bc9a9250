/* Deadlines and interrupts: the watchdog thread that stops Python code.
 *
 * Lock order: the GIL, then wd.mu. The watchdog never waits for the GIL
 * while holding wd.mu, and never posts while holding it. A fork holds
 * wd.mu across it (core/gate.c's pthread_atfork handlers call the
 * pys__wd_fork_* parts below).
 *
 * Design notes: docs/internals.md, "src/core/watchdog.c". */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/watchdog.h"
#include "core/error.h"
#include "core/types.h"
#include "core/call.h"

#define RETRY_NS 5000000LL         /* re-post soon when the target had no thread state yet */
#define IMPORT_RETRY_NS 10000000LL /* look again when it was inside importlib */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop, kick;
    _Atomic int64_t next_wake;
} wd = {.mu = PTHREAD_MUTEX_INITIALIZER, .next_wake = INT64_MAX};
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void wd_kick(pys_runtime *rt);

/* ---- arming and stopping a call ---------------------------------------------- */

/* core/gate.c's thr_arm for a call with a deadline: arms r for a new
 * outermost call (IDLE here; only this thread changes its seq) and wakes
 * the watchdog when the deadline is earlier than its next wake-up. */
void pys__wd_arm_deadline(pys_runtime *rt, pys__tls *t, struct pys__thr *r, uint64_t seq)
{
    int64_t exp = now_ns() + (int64_t)t->deadline_ms * 1000000LL;
    t->stop_due = exp;
    t->stop_exc = rt->exc_timeout;
    atomic_store_explicit(&r->expires, exp, memory_order_relaxed);
    atomic_store_explicit(&r->armed, seq << 2 | PYS__ARM_ACTIVE, memory_order_seq_cst);
    int64_t nw = atomic_load_explicit(&wd.next_wake, memory_order_seq_cst);
    if (nw == 0 || exp < nw)
        wd_kick(rt);
}

/* Posts exc to this thread's own call (GIL held), marking the record
 * POSTED so that the call's end clears it if no Python code raised it. */
static void post_self(struct pys__thr *r, PyObject *exc)
{
    uint64_t w = atomic_load_explicit(&r->armed, memory_order_acquire);
    if ((w & PYS__ARM_MASK) == PYS__ARM_IDLE)
        return;
    while ((w & PYS__ARM_MASK) == PYS__ARM_ACTIVE &&
           !atomic_compare_exchange_weak_explicit(&r->armed, &w,
                                                  (w & ~(uint64_t)PYS__ARM_MASK) | PYS__ARM_POSTED,
                                                  memory_order_acq_rel, memory_order_acquire))
        ;
    /* POSTING: the watchdog is posting too; it stores POSTED itself. */
    pys__api.PyThreadState_SetAsyncExc(atomic_load_explicit(&r->ident, memory_order_relaxed),
                                       exc);
}

void pys__stop_check(pys_runtime *rt, pys__tls *t)
{
    (void)rt;
    if (t->stop_due != 1) {
        if (now_ns() < t->stop_due)
            return;
        t->stop_due = 1;
    }
    if (t->thr && t->stop_exc)
        post_self(t->thr, t->stop_exc);
}

void pys__threads_stopped(pys_runtime *rt, PyObject *exc)
{
    (void)rt;
    pys__tls *t = pys__tls_get();
    struct pys__thr *r = t->thr;
    /* Only inside an outermost call of this thread's (not on a loop
     * thread, whose record is idle): its end clears stop_due. */
    if (!r || t->gil_depth == 0 ||
        (atomic_load_explicit(&r->armed, memory_order_relaxed) & PYS__ARM_MASK) == PYS__ARM_IDLE)
        return;
    t->stop_due = 1;
    t->stop_exc = exc;
}

/* ---- the watchdog ------------------------------------------------------------ */

/* What record r (in a call with sequence seq) needs: the exception to post
 * and from when (ns), or NULL. */
static PyObject *wanted(pys_runtime *rt, struct pys__thr *r, uint64_t seq, int64_t *when)
{
    PyObject *exc;
    if (atomic_load_explicit(&r->intr_seq, memory_order_relaxed) == seq) {
        exc = rt->exc_interrupt;
        *when = 0;
    } else {
        int64_t e = atomic_load_explicit(&r->expires, memory_order_relaxed);
        if (!e)
            return NULL;
        exc = rt->exc_timeout;
        *when = e;
    }
    if (r->wd_seq == seq && r->wd_exc == exc && r->wd_again > *when)
        *when = r->wd_again;
    return exc;
}

/* Returns true when some record is due now; else *next = earliest time one
 * will be (INT64_MAX when none). With wd.mu held. */
static bool wd_scan(pys_runtime *rt, int64_t now, int64_t *next)
{
    *next = INT64_MAX;
    for (struct pys__thr *r = atomic_load_explicit(&pys__thr_head, memory_order_acquire); r;
         r = r->next) {
        uint64_t w = atomic_load_explicit(&r->armed, memory_order_seq_cst);
        unsigned st = w & PYS__ARM_MASK;
        int64_t when;
        if ((st != PYS__ARM_ACTIVE && st != PYS__ARM_POSTED) || !wanted(rt, r, w >> 2, &when))
            continue;
        if (when <= now)
            return true;
        if (when < *next)
            *next = when;
    }
    return false;
}

/* The innermost frame of the thread in record r's call (a new reference),
 * or NULL. GIL builds, watchdog holding the GIL: the thread is suspended,
 * and its thread state alive while r->tstate is set. C calls only: no
 * Python code runs, so nothing the application's Python code replaced
 * can stall the watchdog. 3.8 has no PyThreadState_GetFrame: there the
 * frame is the fourth pointer of its PyThreadState (prev, next, interp,
 * frame in every 3.8 build), checked to be a frame before use. */
static PyObject *frame_of(struct pys__thr *r)
{
    PyThreadState *ts = atomic_load_explicit(&r->tstate, memory_order_relaxed);
    if (!ts)
        return NULL;
    if (pys__api.PyThreadState_GetFrame)
        return pys__api.PyThreadState_GetFrame(ts);
    PyObject *f = *(PyObject **)(void *)((char *)ts + 3 * sizeof(void *));
    if (!f || pys__type_of(f) != (PyObject *)pys__api.PyFrame_Type)
        return NULL;
    pys__api.Py_IncRef(f);
    return f;
}

/* Free-threaded builds: the thread runs on while the watchdog looks, so
 * its frames can only be read with the world stopped, as
 * sys._current_frames() does. pyshim calls the function it captured at
 * open (rt->current_frames), never the attribute as found; it is C, and
 * runs Python only in audit hooks the application installed. Returns the
 * dict or NULL. */
static PyObject *all_frames(pys_runtime *rt)
{
    if (!rt->free_threaded || !rt->current_frames)
        return NULL;
    PyObject *frames = pys__call3(rt->current_frames, NULL, NULL, NULL);
    if (!frames || pys__type_of(frames) != (PyObject *)pys__api.PyDict_Type) {
        pys__api.Py_DecRef(frames);
        frames = NULL;
        pys__api.PyErr_Clear();
    }
    return frames;
}

/* Whether the thread of record r is running importlib's bootstrap code
 * (its innermost Python frame): an exception raised there can leave an
 * import lock held for good, hanging every later import of that module
 * (CPython's own hazard with Ctrl-C). Delivery waits until it is out. A
 * thread suspended for the GIL raises exactly where it was suspended, so
 * looking at the innermost frame is enough there. `frames` is
 * all_frames() (free-threaded builds: best effort, the thread runs on) or
 * NULL (GIL builds: frame_of). Frame, code and str are builtin types that
 * Python code cannot patch, so the lookups run no Python code. */
static bool in_importlib(pys_runtime *rt, PyObject *frames, struct pys__thr *r)
{
    PyObject *f = NULL;
    if (frames) {
        unsigned long ident = atomic_load_explicit(&r->ident, memory_order_relaxed);
        PyObject *key = pys__api.PyLong_FromUnsignedLongLong(ident);
        f = key ? pys__api.PyDict_GetItemWithError(frames, key) : NULL; /* borrowed */
        if (f)
            pys__api.Py_IncRef(f);
        pys__api.Py_DecRef(key);
    } else if (!rt->free_threaded) {
        f = frame_of(r);
    }
    PyObject *code = !f                        ? NULL
                     : pys__api.PyFrame_GetCode ? pys__api.PyFrame_GetCode(f)
                                                : pys__api.PyObject_GetAttrString(f, "f_code");
    PyObject *name = code ? pys__api.PyObject_GetAttrString(code, "co_filename") : NULL;
    const char *s = name && pys__type_of(name) == (PyObject *)pys__api.PyUnicode_Type
                        ? pys__api.PyUnicode_AsUTF8AndSize(name, NULL)
                        : NULL;
    bool in = s && strncmp(s, "<frozen importlib._bootstrap", 28) == 0;
    pys__api.Py_DecRef(name);
    pys__api.Py_DecRef(code);
    pys__api.Py_DecRef(f);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    return in;
}

/* Posts to every record that is due, holding the GIL. Without wd.mu. */
static void wd_post(pys_runtime *rt)
{
    int gs = pys__gilstate_ensure(rt);
    int64_t now = now_ns();
    PyObject *frames = all_frames(rt);
    for (struct pys__thr *r = atomic_load_explicit(&pys__thr_head, memory_order_acquire); r;
         r = r->next) {
        uint64_t w = atomic_load_explicit(&r->armed, memory_order_acquire);
        unsigned st = w & PYS__ARM_MASK;
        uint64_t seq = w >> 2;
        int64_t when;
        PyObject *exc;
        if ((st != PYS__ARM_ACTIVE && st != PYS__ARM_POSTED) ||
            !(exc = wanted(rt, r, seq, &when)) || when > now)
            continue;
        if (in_importlib(rt, frames, r)) {
            r->wd_seq = seq;
            r->wd_exc = exc;
            r->wd_again = now + IMPORT_RETRY_NS;
            continue;
        }
        if (!atomic_compare_exchange_strong_explicit(&r->armed, &w, seq << 2 | PYS__ARM_POSTING,
                                                     memory_order_acquire, memory_order_relaxed))
            continue; /* the call ended (or a new one began) meanwhile */
        int n = pys__api.PyThreadState_SetAsyncExc(
            atomic_load_explicit(&r->ident, memory_order_relaxed), exc);
        atomic_store_explicit(&r->armed, seq << 2 | PYS__ARM_POSTED, memory_order_release);
        r->wd_seq = seq;
        r->wd_exc = exc;
        r->wd_again = now + (n > 0 ? PYS_INTERRUPT_REPEAT_MS * 1000000LL : RETRY_NS);
    }
    pys__api.Py_DecRef(frames);
    pys__api.PyGILState_Release(gs);
}

static void *wd_main(void *arg)
{
    pys_runtime *rt = arg;
    pthread_mutex_lock(&wd.mu);
    while (!wd.stop) {
        atomic_store_explicit(&wd.next_wake, 0, memory_order_seq_cst);
        wd.kick = false;
        int64_t next;
        if (wd_scan(rt, now_ns(), &next)) {
            pthread_mutex_unlock(&wd.mu);
            wd_post(rt);
            pthread_mutex_lock(&wd.mu);
            continue;
        }
        atomic_store_explicit(&wd.next_wake, next, memory_order_seq_cst);
        if (wd.stop || wd.kick)
            continue;
        if (next == INT64_MAX) {
            pthread_cond_wait(&wd.cv, &wd.mu);
        } else {
            struct timespec ts = {(time_t)(next / 1000000000LL), (long)(next % 1000000000LL)};
            pthread_cond_timedwait(&wd.cv, &wd.mu, &ts);
        }
    }
    atomic_store_explicit(&wd.next_wake, INT64_MAX, memory_order_seq_cst);
    pthread_mutex_unlock(&wd.mu);
    return NULL;
}

static void wd_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd.cv, &ca);
    pthread_condattr_destroy(&ca);
}

/* With wd.mu held: starts the watchdog unless it runs. Returns 0, an
 * errno, or -1 when the runtime is not open (closing: only for pys_close's
 * own use, `closing`, before it stops the watchdog). A call refused after
 * close therefore never starts a watchdog that nobody would join: close
 * stores CLOSING before it takes wd.mu to stop it. */
static int wd_start_locked(pys_runtime *rt, bool closing)
{
    if (wd.running)
        return 0;
    int st = atomic_load(&rt->state);
    if (st != PYS__ST_OPEN && !(closing && st == PYS__ST_CLOSING))
        return -1;
    /* The watchdog takes no signals meant for the application. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    wd.stop = false;
    int e = pthread_create(&wd.thread, NULL, wd_main, rt);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    wd.running = e == 0;
    return e;
}

/* Starts the watchdog if it is not running. Refused (PYS_E_CLOSED) unless
 * the runtime is open, or closing when `closing` (pys_close's own use). */
static int wd_start(pys_runtime *rt, bool closing, const char *fn)
{
    pthread_once(&wd_once, wd_init);
    pthread_mutex_lock(&wd.mu);
    int rc = PYS_OK, e = wd_start_locked(rt, closing);
    if (e < 0)
        rc = pys__fail(fn, PYS_E_CLOSED, "%s: the runtime is closed", fn);
    else if (e != 0)
        rc = pys__fail(fn, PYS_E_NOMEM, "%s: cannot start the watchdog thread (error %d)", fn, e);
    pthread_mutex_unlock(&wd.mu);
    return rc;
}

/* Wakes the watchdog to rescan. Called by threads counted in rt->inflight
 * (so pys_close has not stopped the watchdog) or after wd_start; starts it
 * if it does not run (a deadline set for an earlier runtime whose epoch
 * came round again). */
static void wd_kick(pys_runtime *rt)
{
    pthread_once(&wd_once, wd_init);
    pthread_mutex_lock(&wd.mu);
    wd_start_locked(rt, false);
    wd.kick = true;
    pthread_cond_signal(&wd.cv);
    pthread_mutex_unlock(&wd.mu);
}

void pys__watchdog_stop(pys_runtime *rt)
{
    (void)rt;
    pthread_once(&wd_once, wd_init);
    pthread_mutex_lock(&wd.mu);
    if (!wd.running) {
        pthread_mutex_unlock(&wd.mu);
        return;
    }
    wd.stop = true;
    pthread_cond_signal(&wd.cv);
    pthread_mutex_unlock(&wd.mu);
    pthread_join(wd.thread, NULL);
    pthread_mutex_lock(&wd.mu);
    wd.running = false;
    wd.stop = false;
    pthread_mutex_unlock(&wd.mu);
}

/* Marks every call in progress, except the calling thread's, for
 * interruption. Returns how many. */
static int mark_all(void)
{
    struct pys__thr *self = pys__tls_get()->thr;
    int n = 0;
    for (struct pys__thr *r = atomic_load_explicit(&pys__thr_head, memory_order_acquire); r;
         r = r->next) {
        if (r == self)
            continue;
        uint64_t w = atomic_load_explicit(&r->armed, memory_order_acquire);
        unsigned st = w & PYS__ARM_MASK;
        if (st == PYS__ARM_ACTIVE || st == PYS__ARM_POSTED || st == PYS__ARM_POSTING) {
            atomic_store_explicit(&r->intr_seq, w >> 2, memory_order_relaxed);
            n++;
        }
    }
    return n;
}

void pys__wd_closing(pys_runtime *rt)
{
    if (mark_all() > 0 && wd_start(rt, true, "pys_close") == PYS_OK)
        wd_kick(rt);
}

/* ---- fork (the parts of core/gate.c's pthread_atfork handlers) ------------------ */

void pys__wd_fork_prepare(void)
{
    pthread_once(&wd_once, wd_init);
    pthread_mutex_lock(&wd.mu);
}

void pys__wd_fork_parent(void)
{
    pthread_mutex_unlock(&wd.mu);
}

void pys__wd_fork_child(void)
{
    for (struct pys__thr *r = atomic_load_explicit(&pys__thr_head, memory_order_acquire); r;
         r = r->next) {
        r->wd_seq = 0;
        r->wd_exc = NULL;
        r->wd_again = 0;
    }
    wd.running = wd.stop = wd.kick = false;
    atomic_store(&wd.next_wake, INT64_MAX);
    wd_init(); /* a fresh condition variable: its waiter is not here */
    pthread_mutex_unlock(&wd.mu);
}

void pys__wd_after_fork_child(void)
{
    pys_runtime *rt = &pys__the_runtime;
    struct pys__thr *r = pys__tls_get()->thr;
    if (r && pys__rt_live(rt)) {
        uint64_t w = atomic_load_explicit(&r->armed, memory_order_acquire);
        if ((w & PYS__ARM_MASK) != PYS__ARM_IDLE &&
            (atomic_load_explicit(&r->expires, memory_order_relaxed) != 0 ||
             atomic_load_explicit(&r->intr_seq, memory_order_relaxed) == w >> 2))
            wd_kick(rt);
    }
}

/* ---- public ------------------------------------------------------------------- */

int pys_interrupt(pys_runtime *rt)
{
    if (!pys__rt_live(rt))
        return pys__rt_fail(rt, __func__);
    int n = mark_all();
    if (n == 0)
        return 0;
    int rc = wd_start(rt, false, __func__);
    if (rc != PYS_OK)
        return rc;
    wd_kick(rt);
    return n;
}

int pys_set_deadline(pys_runtime *rt, uint32_t ms)
{
    if (!pys__rt_live(rt))
        return pys__rt_fail(rt, __func__);
    if (ms) {
        int rc = wd_start(rt, false, __func__);
        if (rc != PYS_OK)
            return rc;
    }
    pys__tls *t = pys__tls_get();
    t->deadline_ms = ms;
    t->deadline_epoch = rt->ht.epoch;
    return PYS_OK;
}

uint32_t pys_get_deadline(pys_runtime *rt)
{
    pys__tls *t = pys__tls_get();
    if (!pys__rt_live(rt) || t->deadline_epoch != rt->ht.epoch)
        return 0;
    return t->deadline_ms;
}
