/* The gate: entering and leaving the library, batches, kept thread states,
 * in-flight accounting and pys_close's fences, fork.
 *
 * Design notes: docs/internals.md, "src/core/gate.c". */
#include <stdlib.h>
#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/watchdog.h"
#include "core/error.h"
#include "core/types.h"

#define BATCH_MAX ((int)(sizeof(((pys__tls *)0)->batch_at) / sizeof(int)))

bool pys__force_locking;

_Atomic(struct pys__thr *) pys__thr_head;

__attribute__((constructor)) static void force_locking_from_env(void)
{
    const char *e = getenv("PYSHIM_FORCE_LOCKING");
    pys__force_locking = e && *e && strcmp(e, "0") != 0;
}

/* Test aid, not public API: makes GIL builds take the free-threaded
 * builds' locks. Call only while no pyshim call is in progress. */
void pys__test_force_locking(bool on);
void pys__test_force_locking(bool on)
{
    pys__force_locking = on;
    pys__the_runtime.locking = pys__the_runtime.free_threaded || on;
}

/* ---- thread records ---------------------------------------------------------- */

void pys__thr_tls_exit(pys__tls *t)
{
    struct pys__thr *r = t->thr;
    t->thr = NULL;
    if (r)
        atomic_store_explicit(&r->owned, 0, memory_order_release);
}

/* This thread's record, claimed on first use. NULL only when out of memory
 * (calls still work; they just cannot be interrupted). */
static struct pys__thr *thr_claim(pys__tls *t)
{
    struct pys__thr *r;
    for (r = atomic_load_explicit(&pys__thr_head, memory_order_acquire); r; r = r->next) {
        int free_ = 0;
        if (atomic_load_explicit(&r->owned, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong_explicit(&r->owned, &free_, 1, memory_order_acquire,
                                                    memory_order_relaxed))
            goto claimed;
    }
    r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->owned, 1);
    r->next = atomic_load_explicit(&pys__thr_head, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&pys__thr_head, &r->next, r,
                                                  memory_order_release, memory_order_relaxed))
        ;
claimed:
    atomic_store_explicit(&r->ident, pys__api.PyThread_get_thread_ident(),
                          memory_order_relaxed);
    t->thr = r;
    pys__tls_register(t); /* handed back at thread exit */
    return r;
}

/* ThreadSanitizer has no fences (and no model of membarrier): there the
 * Dekker pair is made of seq_cst operations instead, which it checks. */
#if defined(__SANITIZE_THREAD__)
#define PYS__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PYS__TSAN 1
#endif
#endif
#ifdef PYS__TSAN
#define DEKKER_STORE memory_order_seq_cst
#define DEKKER_LOAD memory_order_seq_cst
#else
#define DEKKER_STORE memory_order_relaxed
#define DEKKER_LOAD memory_order_acquire
#endif

/* ---- asymmetric fences --------------------------------------------------------- */

static _Atomic bool asym;             /* membarrier registered: entries use a compiler barrier */
static pthread_once_t asym_once = PTHREAD_ONCE_INIT;

static void asym_init(void)
{
#if defined(__linux__) && defined(SYS_membarrier) && !defined(PYS__TSAN)
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        atomic_store(&asym, true);
#endif
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_register(void);

/* See "Thread-state births" at the top of the file. */
static pthread_rwlock_t birth_lock = PTHREAD_RWLOCK_INITIALIZER;
/* This thread holds it for writing, between its os.fork hooks (per
 * thread: two threads may fork at once, each waits for the lock). */
static _Thread_local bool birth_fork_held;

static inline bool birth_begin(pys_runtime *rt)
{
    if (!rt->free_threaded || pys__api.PyGILState_GetThisThreadState())
        return false;
    pthread_rwlock_rdlock(&birth_lock);
    return true;
}

static inline void birth_end(bool held)
{
    if (held)
        pthread_rwlock_unlock(&birth_lock);
}

int pys__gilstate_ensure(pys_runtime *rt)
{
    bool b = birth_begin(rt);
    int gs = pys__api.PyGILState_Ensure();
    birth_end(b);
    return gs;
}

void pys__threads_init(void)
{
    pthread_once(&asym_once, asym_init);
    pthread_once(&fork_once, fork_register);
}

/* The entry's side of the Dekker pair (see the top of the file). */
static inline void light_fence(void)
{
#ifndef PYS__TSAN
    if (__builtin_expect(atomic_load_explicit(&asym, memory_order_relaxed), 1))
        atomic_signal_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* pys_close's side: after it, every entry that did not see CLOSING has
 * its `busy` visible here. */
static void heavy_fence(void)
{
#ifdef PYS__TSAN
    return; /* the state's CAS and the loads of `busy` are seq_cst */
#endif
    atomic_thread_fence(memory_order_seq_cst);
#if defined(__linux__) && defined(SYS_membarrier)
    if (atomic_load(&asym) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) {
        /* Registered, so this cannot fail; if it ever did, entries would
         * run without a fence while close relied on one. */
        abort();
    }
#endif
}

/* ---- entering and leaving --------------------------------------------------- */

/* Arms r for a new outermost call: the thread's record is IDLE here and
 * only this thread changes its seq. */
static inline void thr_arm(pys_runtime *rt, pys__tls *t, struct pys__thr *r)
{
    uint64_t seq = (atomic_load_explicit(&r->armed, memory_order_relaxed) >> 2) + 1;
    if (__builtin_expect(t->deadline_ms != 0, 0) && t->deadline_epoch == rt->ht.epoch) {
        pys__wd_arm_deadline(rt, t, r, seq);
        return;
    }
    t->stop_due = 0;
    atomic_store_explicit(&r->expires, 0, memory_order_relaxed);
    atomic_store_explicit(&r->armed, seq << 2 | PYS__ARM_ACTIVE, memory_order_release);
}

/* Ends r's call, with the GIL held; clears an exception that was posted
 * but not raised yet, so it cannot hit later Python code. */
static inline void thr_disarm(pys_runtime *rt, struct pys__thr *r)
{
    uint64_t w = atomic_load_explicit(&r->armed, memory_order_relaxed);
    if (!rt->free_threaded) {
        /* The watchdog changes `armed` only while it holds the GIL, as we
         * do: a plain store cannot lose one of its transitions. */
        atomic_store_explicit(&r->armed, (w & ~(uint64_t)PYS__ARM_MASK) | PYS__ARM_IDLE,
                              memory_order_release);
    } else {
        for (;;) {
            if ((w & PYS__ARM_MASK) == PYS__ARM_POSTING) {
                /* The poster is between its CAS and SetAsyncExc. */
                sched_yield();
                w = atomic_load_explicit(&r->armed, memory_order_relaxed);
                continue;
            }
            uint64_t idle = (w & ~(uint64_t)PYS__ARM_MASK) | PYS__ARM_IDLE;
            if (atomic_compare_exchange_weak_explicit(&r->armed, &w, idle, memory_order_acq_rel,
                                                      memory_order_relaxed))
                break;
        }
    }
    if (__builtin_expect((w & PYS__ARM_MASK) == PYS__ARM_POSTED, 0))
        pys__api.PyThreadState_SetAsyncExc(
            atomic_load_explicit(&r->ident, memory_order_relaxed), NULL);
}

/* ---- the GIL of an outermost call ---------------------------------------- */

enum { GS_LOCKED = 0, GS_UNLOCKED = 1, GS_KEPT = 2 };

/* Takes the GIL for an outermost call (t->gstate says how to give it back).
 *
 * PyGILState_Ensure/Release per call would look the thread state up in
 * CPython's TSS each time and, on a thread Python did not create, make and
 * delete a thread state per call (losing threading.local data between
 * calls). Instead pyshim keeps the thread state of a thread that had none
 * (made by Ensure, its gilstate count held, deleted at thread exit by
 * pys__threads_tls_exit) and the interpreter's main thread state (the
 * oldest, which lives until finalisation); later calls attach it with PyEval_RestoreThread /
 * PyEval_SaveThread. A kept state is invalidated by the next pys_open
 * (tstate_gen), and never attached while this thread already holds the
 * GIL some other way (a host that embeds Python itself, or Python code
 * that called into C with the GIL held): then Ensure/Release are used, as
 * they are for thread states that belong to someone else (a thread Python
 * started, or the host's), which could be deleted behind pyshim's back. */
static __attribute__((noinline)) void gil_take_slow(pys_runtime *rt, pys__tls *t)
{
    bool probe = t->tstate_gen != rt->opens && rt->tstate_now;
    PyThreadState *prev = probe ? pys__api.PyGILState_GetThisThreadState() : NULL;
    bool ours = prev && prev == t->tstate && t->tstate_own;
    if (ours && t->tstate_fin != rt->finalises) {
        /* pyshim kept this state and a close finalised the interpreter
         * since: the state went with it, but CPython 3.15+ keeps this
         * thread's GILState binding to it (3.14 and older drop every
         * binding with the TSS key), and PyGILState_Ensure would attach it
         * and hang there forever (PyThread_hang_thread). A new state
         * attached by PyEval_RestoreThread rebinds this thread to it;
         * it is kept as if Ensure had made it (gilstate count 1). */
        bool b = rt->free_threaded;
        if (b)
            pthread_rwlock_rdlock(&birth_lock);
        PyThreadState *ts = pys__api.PyThreadState_New(pys__api.PyInterpreterState_Main());
        birth_end(b);
        if (ts) {
            pys__api.PyEval_RestoreThread(ts);
            t->tstate = ts;
            t->tstate_gen = rt->opens;
            t->tstate_fin = rt->finalises;
            t->tstate_own = true;
            t->gstate = GS_KEPT;
            pys__tls_register(t);
            return;
        }
        ours = false;
    }
    t->gstate = pys__gilstate_ensure(rt);
    if (!probe)
        return;
    /* Made by pyshim under an earlier open whose close did not finalise:
     * still this thread's (CPython's TSS says so), still pyshim's. */
    bool again = ours;
    t->tstate_gen = rt->opens;
    t->tstate_fin = rt->finalises;
    t->tstate = NULL;
    if (t->gstate != GS_UNLOCKED || (prev && prev != rt->first_tstate && !again))
        return; /* not ours to keep */
    t->tstate = prev ? prev : pys__api.PyGILState_GetThisThreadState();
    t->tstate_own = !prev || again;
    t->gstate = GS_KEPT;
    pys__tls_register(t); /* for pys__threads_tls_exit */
}

/* Takes the GIL for an outermost call; returns the thread state then
 * current (the kept one, attached here, needs no second look). */
static inline PyThreadState *gil_take(pys_runtime *rt, pys__tls *t)
{
    PyThreadState *ts = t->tstate;
    if (__builtin_expect(ts != NULL && t->tstate_gen == rt->opens, 1) && rt->tstate_now() != ts) {
        pys__api.PyEval_RestoreThread(ts);
        t->gstate = GS_KEPT;
        return ts;
    }
    gil_take_slow(rt, t);
    return rt->tstate_now();
}

static inline void gil_give(pys__tls *t)
{
    if (__builtin_expect(t->gstate == GS_KEPT, 1))
        pys__api.PyEval_SaveThread();
    else
        pys__api.PyGILState_Release(t->gstate);
}

/* The entry's half of the Dekker pair with pys_close (see the top of the
 * file): marks r busy, then reads the state. Returns whether the runtime is
 * open; r stays busy either way (the caller clears it when done, or once
 * it has undone what it did). */
static inline bool busy_and_open(pys_runtime *rt, struct pys__thr *r)
{
    atomic_store_explicit(&r->busy, 1, DEKKER_STORE);
    light_fence();
    return atomic_load_explicit(&rt->state, DEKKER_LOAD) == PYS__ST_OPEN;
}

/* Refuses an entry: rt is NULL, not pyshim's, or not open. */
static __attribute__((noinline)) pys_runtime *refused(pys_runtime *rt, const char *fn)
{
    pys__rt_fail(rt, fn);
    return NULL;
}

/* Counts an outermost entry in rt->inflight. False if not open. */
static bool count_in(pys_runtime *rt)
{
    /* seq_cst: pairs with pys_close's store of CLOSING then load of
     * inflight (either close sees us, or we see CLOSING). */
    atomic_fetch_add_explicit(&rt->inflight, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&rt->state, memory_order_seq_cst) != PYS__ST_OPEN) {
        atomic_fetch_sub_explicit(&rt->inflight, 1, memory_order_acq_rel);
        return false;
    }
    return true;
}

/* Enters the runtime in state CLOSING or CLOSED: undoes r's marks and
 * fails. If the watchdog posted meanwhile, the runtime is CLOSING (close
 * waits for `busy` before it stops the watchdog and finalises), so the
 * interpreter is still there: take the GIL once to disarm. */
static __attribute__((noinline)) pys_runtime *begin_refused(pys_runtime *rt, struct pys__thr *r,
                                                            const char *fn)
{
    uint64_t w = atomic_load_explicit(&r->armed, memory_order_acquire);
    if ((w & PYS__ARM_MASK) == PYS__ARM_ACTIVE &&
        atomic_compare_exchange_strong_explicit(&r->armed, &w,
                                                (w & ~(uint64_t)PYS__ARM_MASK) | PYS__ARM_IDLE,
                                                memory_order_acq_rel, memory_order_relaxed)) {
        atomic_store_explicit(&r->busy, 0, memory_order_release);
        return refused(rt, fn);
    }
    int gs = pys__gilstate_ensure(rt);
    thr_disarm(rt, r);
    pys__api.PyGILState_Release(gs);
    atomic_store_explicit(&r->busy, 0, memory_order_release);
    return refused(rt, fn);
}

/* A thread without a record yet: claim one, or (out of memory) count the
 * call in rt->inflight; it cannot be interrupted then. */
static __attribute__((noinline)) pys_runtime *begin_unrecorded(pys_runtime *rt, pys__tls *t,
                                                               const char *fn)
{
    /* thr_claim asks Python for the thread id: not before it is loaded. */
    if (!pys__rt_live(rt))
        return refused(rt, fn);
    if (thr_claim(t))
        return pys__begin_slow(rt, t, fn);
    if (!count_in(rt))
        return refused(rt, fn);
    t->counted = true;
    t->stop_due = 0;
    (void)gil_take(rt, t);
    t->gil_depth = 1;
    return rt;
}

pys_runtime *pys__begin_slow(pys_runtime *rt, pys__tls *t, const char *fn)
{
    /* pys__begin came here: depth 0, or rt is not the runtime. */
    if (__builtin_expect(rt != &pys__the_runtime, 0))
        return refused(rt, fn);
    struct pys__thr *r = t->thr;
    if (__builtin_expect(!r, 0))
        return begin_unrecorded(rt, t, fn);
    /* Armed before the fence too: pys_close either sees this call (waits
     * for it, and marks it for interruption) or we see CLOSING. */
    thr_arm(rt, t, r);
    if (__builtin_expect(!busy_and_open(rt, r), 0))
        return begin_refused(rt, r, fn);
    atomic_store_explicit(&r->tstate, gil_take(rt, t), memory_order_relaxed);
    t->gil_depth = 1;
    return rt;
}

static __attribute__((noinline)) void end_counted(pys_runtime *rt, pys__tls *t)
{
    t->counted = false;
    gil_give(t);
    atomic_fetch_sub_explicit(&rt->inflight, 1, memory_order_acq_rel);
}

void pys__end_slow(pys_runtime *rt, pys__tls *t)
{
    if (t->nheld)
        pys__held_drop(t, t->gil_depth);
    if (--t->gil_depth > 0)
        return;
    t->stop_due = 0;
    if (__builtin_expect(t->counted, 0)) {
        end_counted(rt, t);
        return;
    }
    struct pys__thr *r = t->thr;
    atomic_store_explicit(&r->tstate, NULL, memory_order_relaxed);
    thr_disarm(rt, r);
    gil_give(t);
    /* Last: from here pys_close may finalise. */
    atomic_store_explicit(&r->busy, 0, memory_order_release);
}

/* The calling thread's outermost call now runs pyshim's own Python code
 * (formatting a traceback), not the caller's: no deadline and no
 * pys_interrupt may land in it. An exception raised at an arbitrary point
 * of that code (inside importlib's module locks, when the formatting
 * imports linecache or tokenize) could leave a lock held that every later
 * import then waits for. pys_close still waits for the call (`busy`); the
 * work is bounded. Inside a batch (depth > 1) the batch's call stays
 * armed. GIL held. */
void pys__threads_shield(pys_runtime *rt)
{
    pys__tls *t = pys__tls_get();
    struct pys__thr *r = t->thr;
    if (!r || t->gil_depth != 1 || t->counted)
        return;
    thr_disarm(rt, r);
    t->stop_due = 0;
    atomic_store_explicit(&r->expires, 0, memory_order_relaxed);
}

bool pys__enter_outer(pys_runtime *rt, pys__tls *t)
{
    struct pys__thr *r = t->thr;
    if (__builtin_expect(!r, 0) && !(r = thr_claim(t))) {
        if (!count_in(rt))
            return false;
        t->counted = true;
        return true;
    }
    if (!busy_and_open(rt, r)) {
        atomic_store_explicit(&r->busy, 0, memory_order_release);
        return false;
    }
    return true;
}

void pys__leave_outer(pys_runtime *rt, pys__tls *t)
{
    if (t->counted) {
        t->counted = false;
        atomic_fetch_sub_explicit(&rt->inflight, 1, memory_order_acq_rel);
        return;
    }
    atomic_store_explicit(&t->thr->busy, 0, memory_order_release);
}

void pys__threads_tls_exit(pys__tls *t)
{
    pys_runtime *rt = &pys__the_runtime;
    PyThreadState *ts = t->tstate;
    t->tstate = NULL;
    if (!ts || !t->tstate_own || t->gil_depth > 0 || !count_in(rt))
        return; /* not ours, or not open: finalisation frees it (or did) */
    if (t->tstate_gen == rt->opens) {
        /* What PyGILState_Release does at count 0, without its TSS lookup:
         * the TSS value may already be cleared by the time this runs. */
        pys__api.PyEval_RestoreThread(ts);
        /* Clearing runs Python code (finalisers of thread-local data),
         * which may call into pyshim: it holds the GIL, as in a batch. */
        t->gil_depth = 1;
        pys__api.PyThreadState_Clear(ts);
        if (t->nheld)
            pys__held_drop(t, 1);
        t->gil_depth = 0;
        pys__api.PyThreadState_DeleteCurrent();
    }
    atomic_fetch_sub_explicit(&rt->inflight, 1, memory_order_acq_rel);
}

/* Outermost calls in flight on threads other than the caller. */
long pys__threads_in_flight(pys_runtime *rt)
{
    long n = atomic_load(&rt->inflight);
    struct pys__thr *self = pys__tls_get()->thr;
    for (struct pys__thr *r = atomic_load_explicit(&pys__thr_head, memory_order_acquire); r;
         r = r->next)
        if (r != self && atomic_load_explicit(&r->busy, DEKKER_LOAD))
            n++;
    return n;
}

/* pys_close's first step, CLOSING stored: after the fence every entry
 * either sees CLOSING or is seen busy; those in flight are interrupted. */
void pys__threads_closing(pys_runtime *rt)
{
    heavy_fence();
    pys__wd_closing(rt);
}

/* ---- fork --------------------------------------------------------------------- */

static void fork_prepare(void)
{
    pys__wd_fork_prepare();
}

static void fork_parent(void)
{
    pys__wd_fork_parent();
}

static void fork_child(void)
{
    pys_runtime *rt = &pys__the_runtime;
    pys__tls *t = pys__tls_get();
    struct pys__thr *self = t->thr;
    for (struct pys__thr *r = atomic_load_explicit(&pys__thr_head, memory_order_acquire); r;
         r = r->next) {
        uint64_t w = atomic_load_explicit(&r->armed, memory_order_relaxed);
        if (r == self) {
            /* A post the parent's watchdog had begun is done here. */
            if ((w & PYS__ARM_MASK) == PYS__ARM_POSTING)
                atomic_store_explicit(&r->armed, (w & ~(uint64_t)PYS__ARM_MASK) | PYS__ARM_POSTED,
                                      memory_order_relaxed);
            continue;
        }
        /* Its thread is not in this process: no call in progress there. */
        atomic_store_explicit(&r->armed, (w & ~(uint64_t)PYS__ARM_MASK) | PYS__ARM_IDLE,
                              memory_order_relaxed);
        atomic_store_explicit(&r->expires, 0, memory_order_relaxed);
        atomic_store_explicit(&r->busy, 0, memory_order_relaxed);
        atomic_store_explicit(&r->owned, 0, memory_order_release);
    }
    atomic_store(&rt->inflight, t->counted ? 1 : 0);
    pys__wd_fork_child();
    /* Held for writing by this thread (os.fork) or for reading by others
     * (a plain fork()): nobody holds it here. */
    pthread_rwlock_init(&birth_lock, NULL);
    birth_fork_held = false;
    if (rt->locking && atomic_load(&rt->state) != PYS__ST_CLOSED)
        pthread_mutex_init(&rt->lock, NULL); /* never held across a fork by its thread */
    if (!pthread_equal(rt->opener, pthread_self())) {
        /* CPython deletes the other threads' states in the child, the main
         * one with them. 3.13+ finalises on its main state whatever thread
         * calls (it would attach the deleted one and crash), so pys_close
         * in this child closes without finalising (runtime.c says so);
         * older versions finalise on this thread's state. */
        if (rt->version >= 0x030d && rt->main_tstate)
            rt->fork_no_finalize = true;
        rt->main_tstate = NULL;
        rt->first_tstate = NULL;
        rt->opener = pthread_self();
    }
}

static void fork_register(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* os.register_at_fork(after_in_child=...) (GIL held, CPython consistent
 * again): starts the watchdog if the call that forked needs it. */
static PyObject *after_fork_child(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    pys__wd_after_fork_child();
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

static PyMethodDef after_fork_def = {"pyshim_after_fork_child", after_fork_child,
                                     PYS__METH_NOARGS,
                                     "Restarts pyshim's watchdog in a forked child."};

/* os.register_at_fork(before=...), free-threaded builds (attached, before
 * CPython stops the world): waits, detached, for the thread-state births
 * in progress, and keeps new ones out until the fork is done. */
static PyObject *before_fork(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (!birth_fork_held) {
        PyThreadState *ts = pys__api.PyEval_SaveThread();
        pthread_rwlock_wrlock(&birth_lock);
        pys__api.PyEval_RestoreThread(ts);
        birth_fork_held = true;
    }
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

static PyObject *after_fork_parent(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (birth_fork_held) {
        birth_fork_held = false;
        pthread_rwlock_unlock(&birth_lock);
    }
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

static PyMethodDef before_fork_def = {"pyshim_before_fork", before_fork, PYS__METH_NOARGS,
                                      "Holds pyshim's thread-state births across os.fork()."};
static PyMethodDef after_fork_parent_def = {"pyshim_after_fork_parent", after_fork_parent,
                                            PYS__METH_NOARGS,
                                            "Lets pyshim's thread-state births go on."};

void pys__threads_open(pys_runtime *rt)
{
    PyObject *os = pys__api.PyImport_ImportModule("os");
    PyObject *reg = os ? pys__api.PyObject_GetAttrString(os, "register_at_fork") : NULL;
    PyObject *kw = reg ? pys__api.PyDict_New() : NULL;
    PyObject *args = kw ? pys__api.PyTuple_New(0) : NULL;
    bool ok = args != NULL;
    struct {
        const char *key;
        PyMethodDef *def;
    } hooks[] = {{"after_in_child", &after_fork_def},
                 {"before", &before_fork_def},
                 {"after_in_parent", &after_fork_parent_def}};
    /* The births need holding on free-threaded builds only. */
    size_t n = rt->free_threaded ? 3 : 1;
    for (size_t i = 0; ok && i < n; i++) {
        PyObject *fn = pys__api.PyCFunction_NewEx(hooks[i].def, NULL, NULL);
        ok = fn && pys__api.PyDict_SetItemString(kw, hooks[i].key, fn) == 0;
        pys__api.Py_DecRef(fn);
    }
    PyObject *r = ok ? pys__api.PyObject_Call(reg, args, kw) : NULL;
    if (!r)
        pys__log(rt, PYS_LOG_WARN,
                 "pys_open: could not register the fork hooks: deadlines in forked children "
                 "start with their next call%s",
                 rt->free_threaded ? ", and a child forked while a thread makes its thread "
                                     "state may hang"
                                   : "");
    PyObject *objs[] = {r, args, kw, reg, os};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++)
        pys__api.Py_DecRef(objs[i]);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
}

/* ---- public ------------------------------------------------------------------- */

int pys_gil_acquire(pys_runtime *rt)
{
    pys__tls *t = pys__tls_get();
    if (t->batch_n == BATCH_MAX)
        return pys__fail(__func__, PYS_E_STATE, "pys_gil_acquire: batches nested more than %d deep",
                         BATCH_MAX);
    if (!pys__begin(rt, __func__))
        return pys_last_error()->code;
    t->batch_at[t->batch_n++] = t->gil_depth;
    return PYS_OK;
}

int pys_gil_release(pys_runtime *rt)
{
    if (rt != &pys__the_runtime)
        return pys__rt_fail(rt, __func__);
    pys__tls *t = pys__tls_get();
    if (t->batch_n == 0)
        return pys__fail(__func__, PYS_E_STATE, "pys_gil_release: this thread holds no batch");
    if (t->batch_at[t->batch_n - 1] != t->gil_depth)
        return pys__fail(__func__, PYS_E_STATE,
                         "pys_gil_release: a pyshim call made inside this batch has not "
                         "returned yet");
    t->batch_n--;
    pys__end(rt);
    return PYS_OK;
}

int pys_with_gil(pys_runtime *rt, pys_gil_fn fn, void *ud)
{
    if (!fn)
        return pys__fail(__func__, PYS_E_ARG, "pys_with_gil: fn is NULL");
    int rc = pys_gil_acquire(rt);
    if (rc != PYS_OK)
        return rc;
    rc = fn(rt, ud);
    pys_gil_release(rt);
    return rc;
}

bool pys_free_threaded(pys_runtime *rt)
{
    return pys__rt_live(rt) && rt->free_threaded;
}

