/* Internal state of the async layer, shared by future.c, loop.c and run.c.
 *
 * Locks: g_async.mu (registries), pys_loop.mu and pys_future.mu are leaf
 * locks: they are held only around plain C bookkeeping, never while calling
 * Python or waiting for the GIL. Taking one while holding the GIL is
 * therefore safe; the reverse (waiting for the GIL while holding one) never
 * happens. A thread that must block (wait, join) gives the GIL up first.
 * Order when nested: g_async.mu -> pys_loop.mu -> pys_future.mu. */
#ifndef PYS_ASYNC_INTERNAL_H
#define PYS_ASYNC_INTERNAL_H

#include "core/runtime.h"
#include "core/gate.h"
#include "core/list.h"

#define PYS__FUT_MAGIC 0x66757475u  /* "futu" */
#define PYS__LOOP_MAGIC 0x6c6f6f70u /* "loop" */

/* Per-runtime state, behind rt->async: the helper namespace and the
 * functions in it (strong refs), and the internal loop for background
 * one-shots. Created on first use, freed by the close hook. */
typedef struct pys__async {
    PyObject *ns;
    PyObject *as_coro, *run, *new_loop, *loop_run, *loop_shutdown, *submit, *cancel, *stop,
        *discard;
    PyObject *cancelled_exc; /* asyncio.CancelledError */
    pys_loop *bg;            /* internal loop (runtime-owned ref), or NULL */
} pys__async;

struct pys_future {
    uint32_t magic;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;              /* owner + armed Python side; under mu */
    bool owner_gone;       /* pys_future_free was called */
    _Atomic int status;    /* PYS_FUTURE_*; set (release) once, under mu */
    _Atomic int settled;   /* status, published after the callback returned */
    PyObject *value;       /* result (strong), dropped with the GIL */
    PyObject *job;         /* the helper's Job while pending (strong) */
    PyObject *capsule;     /* self of the done callback while armed (strong) */
    uint64_t epoch;        /* runtime epoch that made it */
    const char *origin;    /* static: the call that created it */
    pys__owned_error err;  /* detail once completed */
    pys_future_fn cb;
    void *ud;
    bool cb_running;
    pthread_t cb_thread;
    pthread_t loop_thread; /* thread of the loop running it (set before */
    bool loop_thread_set;  /* the future is handed out, then immutable) */
    pys_loop *owner;       /* the loop it was submitted to (immutable) */
    /* the loop's pending list (under that loop's mu) */
    pys_loop *loop;
    pys__link lnode;
    /* the global list (under g_async.mu) */
    pys__link gnode;
};

struct pys_loop {
    uint32_t magic;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int refs;      /* the owner (user, or the runtime for bg) + transient */
    pthread_t thread;
    bool started;          /* thread was created */
    PyObject *pyloop;      /* the asyncio loop (strong); NULL once the thread ended */
    bool accepting;        /* other threads may use pyloop (under mu) */
    int users;             /* threads inside call_soon_threadsafe & co. */
    bool stop_sent, joining, joined;
    bool internal;         /* the runtime's background loop */
    uint64_t epoch;
    pys__list pending;     /* submitted, not completed (under mu) */
    pys__link gnode;       /* on g_async.loops while running or not joined */
    pys_loop *snap_next;
};

typedef struct pys__async_globals {
    pthread_mutex_t mu;
    pys__list loops;       /* running or not yet joined */
    pys__list futures;     /* every live future */
} pys__async_globals;
extern pys__async_globals g_async;

/* ---- state (loop.c) -------------------------------------------------------- */

/* The runtime's async state, created on first use (GIL held). NULL with
 * the error set on failure. */
pys__async *pys__async_get(pys_runtime *rt, const char *fn);
/* The internal loop for background one-shots (GIL held), started on first
 * use. NULL with the error set. */
pys_loop *pys__async_bg_loop(pys_runtime *rt, pys__async *st, const char *fn);
/* Submits a coroutine (stolen) to L (GIL held). Returns the future, or
 * NULL with the error set; cb is then never called. */
pys_future *pys__async_submit(pys_runtime *rt, pys__async *st, pys_loop *L, PyObject *coro,
                              pys_future_fn cb, void *ud, const char *fn);
/* Closes a coroutine that will never run (no "never awaited" warning);
 * keeps no exception pending. GIL held. */
void pys__async_discard(pys__async *st, PyObject *coro);
/* Sends a cancel request for f to its loop (GIL held). PYS_OK when sent
 * or when the loop is stopping anyway; PYS_E_STATE when f completed. */
int pys__async_cancel(pys_runtime *rt, pys__async *st, pys_future *f, const char *fn);
/* The coroutine of aw, an awaitable (a new reference the call takes; NULL:
 * the caller's error is set, and NULL is returned), as a new reference, or
 * NULL with the error set (PYS_E_TYPE when aw is not awaitable). */
PyObject *pys__async_to_coro(pys_runtime *rt, pys__async *st, PyObject *aw, const char *fn);

/* ---- futures (future.c) ------------------------------------------------------ */

/* A new pending future with three references (owner, Python side, and the
 * submitting call's own, dropped by pys__fut_submitted), listed globally.
 * NULL with PYS_E_NOMEM set. */
pys_future *pys__fut_new(pys_runtime *rt, const char *origin, pys_future_fn cb, void *ud);
/* Completes f (GIL held, on the loop thread): kind 0 = value (stolen),
 * 1 = exception `exc` (borrowed), 2 = cancelled (`why` names the cause).
 * Disarms the Python side, runs the callback, wakes waiters and drops the
 * Python side's reference (f may be freed on return). */
void pys__fut_complete(pys_future *f, int kind, PyObject *value, PyObject *exc, const char *why);
/* Drops the submitting call's reference once it no longer touches f (GIL
 * held). The callback may have freed the owner's meanwhile: f may be
 * freed on return, and the submitter must not read it afterwards. */
void pys__fut_submitted(pys_future *f);
/* In a forked child (pthread_atfork, only this thread): new leaf locks;
 * a pending future, whose loop thread is not in this process, completes
 * as cancelled without its callback, and its loop's reference is given
 * up (it never reports). */
void pys__fut_after_fork_child(pys_future *f);
/* Frees a future that was never handed out (GIL held). */
void pys__fut_destroy_unarmed(pys_future *f);
/* Drops the references futures of this runtime hold (close hook, GIL
 * held): results are forgotten by pys_future_result afterwards. */
void pys__fut_close_all(pys_runtime *rt);
/* The done callback exposed to Python: self is a capsule holding the
 * future (or a disarmed marker). */
extern PyMethodDef pys__fut_done_def;
extern const char pys__fut_capsule_name[];
/* Points a capsule at the disarmed marker (GIL held). */
void pys__fut_disarm(PyObject *capsule);

/* ---- GIL helpers ------------------------------------------------------------- */

/* Gives the GIL up if this thread holds it through pyshim (a batch, a
 * callback, a loop thread); returns what pys__gil_rehold needs. */
static inline PyThreadState *pys__gil_unhold(void)
{
    if (pys__tls_get()->gil_depth > 0 && pys__api.PyGILState_Check())
        return pys__api.PyEval_SaveThread();
    return NULL;
}
static inline void pys__gil_rehold(PyThreadState *ts)
{
    if (ts)
        pys__api.PyEval_RestoreThread(ts);
}

#endif
