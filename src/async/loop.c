/* Persistent event loops: one pthread per loop running asyncio's
 * run_forever(), fed from any thread.
 *
 * Submission does not use run_coroutine_threadsafe: its done callback runs
 * on whichever thread completes the concurrent future (the submitter's, if
 * the coroutine finishes first; the canceller's on cancel), and a cancel
 * reports before the coroutine has unwound. Instead a small helper Job is
 * scheduled with call_soon_threadsafe; on the loop thread it wraps the
 * coroutine in a Task and reports the Task's outcome to the future's C
 * callback. Cancel schedules Job.cancel (Task.cancel) the same way. So
 * every outcome, and every user callback, happens on the loop thread.
 *
 * Design notes: docs/internals.md, "src/async/loop.c". */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "convert/convert.h"
#include "api/api.h"
#include "async/async.h"
#include "core/call.h"
#include "core/pymod.h"

#define GRACE_SECONDS 1.0

#include "async/async_helper_py.h" /* helper_src, from the .py beside this file */

static void async_close(pys_runtime *rt);

/* ---- small call helpers ------------------------------------------------------- */

void pys__async_discard(pys__async *st, PyObject *coro)
{
    PyObject *r = pys__call3(st->discard, coro, NULL, NULL);
    if (r)
        pys__api.Py_DecRef(r);
    else
        pys__api.PyErr_Clear();
}

/* ---- per-runtime state -------------------------------------------------------------- */

static void state_free(pys__async *st)
{
    PyObject **objs[] = {&st->ns,       &st->as_coro, &st->run,    &st->new_loop,
                         &st->loop_run, &st->loop_shutdown, &st->submit, &st->cancel,
                         &st->stop,     &st->discard, &st->cancelled_exc};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        if (*objs[i])
            pys__api.Py_DecRef(*objs[i]);
        *objs[i] = NULL;
    }
    free(st);
}

/* ---- fork ------------------------------------------------------------------------ */

static void fork_prepare(void)
{
    pthread_mutex_lock(&g_async.mu);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&g_async.mu);
}

static void fork_child(void)
{
    PYS__LIST_EACH(pys_loop, L, &g_async.loops, gnode) {
        pthread_mutex_init(&L->mu, NULL);
        pthread_cond_init(&L->cv, NULL);
        L->accepting = false;
        L->users = 0;
        L->stop_sent = true;
        L->started = false; /* no thread to join here */
        L->pending = (pys__list){0}; /* each future leaves it (pys__fut_after_fork_child) */
    }
    PYS__LIST_EACH(pys_future, f, &g_async.futures, gnode)
        pys__fut_after_fork_child(f);
    pthread_mutex_unlock(&g_async.mu);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_register(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static pys__async *state_build(pys_runtime *rt, const char *fn)
{
    pthread_once(&fork_once, fork_register);
    pys__async *st = calloc(1, sizeof *st);
    if (!st) {
        pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    static const char *const names[] = {"as_coro",  "run",     "new_loop", "loop_run",
                                        "loop_shutdown", "submit", "cancel",   "stop",
                                        "discard",  "CancelledError"};
    PyObject **slots[] = {&st->as_coro, &st->run,    &st->new_loop, &st->loop_run,
                          &st->loop_shutdown, &st->submit, &st->cancel,  &st->stop,
                          &st->discard, &st->cancelled_exc};
    PyObject *v[sizeof names / sizeof names[0]];
    st->ns = pys__pymod_run(rt, helper_src, "pyshim._async", "<pyshim async>", names, v,
                            sizeof names / sizeof names[0]);
    if (!st->ns)
        goto py_fail;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        pys__api.Py_IncRef(v[i]);
        *slots[i] = v[i];
    }
    return st;
py_fail:
    pys__fail_py(rt, fn);
    state_free(st);
    return NULL;
}

pys__async *pys__async_get(pys_runtime *rt, const char *fn)
{
    pthread_mutex_lock(&g_async.mu);
    pys__async *st = rt->async;
    pthread_mutex_unlock(&g_async.mu);
    if (st)
        return st;
    /* Build outside the lock (it runs Python), then install unless another
     * thread won the race. */
    pys__async *mine = state_build(rt, fn);
    if (!mine)
        return NULL;
    pthread_mutex_lock(&g_async.mu);
    if (!rt->async) {
        pys__close_at(rt, PYS__CLOSE_ASYNC, async_close);
        rt->async = mine;
        mine = NULL;
    }
    st = rt->async;
    pthread_mutex_unlock(&g_async.mu);
    if (mine)
        state_free(mine);
    return st;
}

/* ---- loop objects ---------------------------------------------------------------------- */

static void loop_unref(pys_loop *L)
{
    if (atomic_fetch_sub(&L->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    L->magic = 0;
    free(L);
}

static void registry_add(pys_loop *L)
{
    pthread_mutex_lock(&g_async.mu);
    pys__list_push(&g_async.loops, &L->gnode);
    pthread_mutex_unlock(&g_async.mu);
}

static void registry_remove(pys_loop *L)
{
    pthread_mutex_lock(&g_async.mu);
    pys__list_remove(&L->gnode);
    pthread_mutex_unlock(&g_async.mu);
}

/* Joins L's thread once, whoever calls first; others wait for it. Call
 * without the GIL. */
static void loop_join(pys_loop *L)
{
    pthread_mutex_lock(&L->mu);
    if (!L->joined && !L->joining) {
        L->joining = true;
        pthread_mutex_unlock(&L->mu);
        if (L->started)
            pthread_join(L->thread, NULL);
        registry_remove(L);
        pthread_mutex_lock(&L->mu);
        L->joined = true;
        pthread_cond_broadcast(&L->cv);
    }
    while (!L->joined)
        pthread_cond_wait(&L->cv, &L->mu);
    pthread_mutex_unlock(&L->mu);
}

/* Counts the caller in as a user of L's asyncio loop (for
 * call_soon_threadsafe) and returns it (borrowed), or NULL once L stopped
 * accepting. The loop thread closes the asyncio loop only after every user
 * has left, so no thread ever writes to a closed loop's self-pipe. */
static PyObject *loop_enter(pys_loop *L)
{
    pthread_mutex_lock(&L->mu);
    PyObject *pl = L->accepting ? L->pyloop : NULL;
    if (pl)
        L->users++;
    pthread_mutex_unlock(&L->mu);
    return pl;
}

static void loop_leave(pys_loop *L)
{
    pthread_mutex_lock(&L->mu);
    if (--L->users == 0)
        pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
}

/* Schedules loop.stop() once (GIL held). A loop that stopped accepting is
 * already on its way out. */
static void loop_request_stop(pys__async *st, pys_loop *L)
{
    pthread_mutex_lock(&L->mu);
    bool send = !L->stop_sent;
    L->stop_sent = true;
    pthread_mutex_unlock(&L->mu);
    PyObject *pl = send ? loop_enter(L) : NULL;
    if (!pl)
        return;
    PyObject *r = pys__call3(st->stop, pl, NULL, NULL);
    if (r)
        pys__api.Py_DecRef(r);
    else
        pys__api.PyErr_Clear();
    loop_leave(L);
}

static void log_py_failure(pys_runtime *rt, const char *what)
{
    pys__fail_py(rt, "pys_loop");
    const pys_error *e = pys__last_error_full();
    pys__log(rt, PYS_LOG_WARN, "pys_loop: %s: %s%s%s", what, e->message,
             *e->traceback ? "\n" : "", e->traceback);
}

static void *loop_main(void *arg)
{
    pys_loop *L = arg;
    pys_runtime *rt = &pys__the_runtime;
    pys__tls *t = pys__tls_get();
    t->gstate = pys__gilstate_ensure(rt);
    t->gil_depth = 1;
    /* rt->async outlives this thread: the close hook joins us before
     * freeing it. */
    pys__async *st = rt->async;

    PyObject *r = pys__call3(st->loop_run, L->pyloop, NULL, NULL);
    if (r)
        pys__api.Py_DecRef(r);
    else
        log_py_failure(rt, "the event loop stopped with an exception");

    /* Close the door; wait for threads already using the loop. */
    PyThreadState *ts = pys__api.PyEval_SaveThread();
    pthread_mutex_lock(&L->mu);
    L->accepting = false;
    while (L->users > 0)
        pthread_cond_wait(&L->cv, &L->mu);
    pthread_mutex_unlock(&L->mu);
    pys__api.PyEval_RestoreThread(ts);

    PyObject *grace = pys__api.PyFloat_FromDouble(GRACE_SECONDS);
    r = grace ? pys__call3(st->loop_shutdown, L->pyloop, grace, NULL) : NULL;
    pys__api.Py_DecRef(grace);
    if (r)
        pys__api.Py_DecRef(r);
    else
        log_py_failure(rt, "shutting the event loop down failed");

    /* Whatever is still pending (a coroutine that ignored cancellation,
     * or a shutdown that failed) completes as cancelled. */
    for (;;) {
        pthread_mutex_lock(&L->mu);
        pys_future *f = PYS__LIST_FIRST(pys_future, &L->pending, lnode);
        pthread_mutex_unlock(&L->mu);
        if (!f)
            break;
        pys__fut_complete(f, 2, NULL, NULL, "its loop was stopped");
    }

    pthread_mutex_lock(&L->mu);
    PyObject *pl = L->pyloop;
    L->pyloop = NULL;
    pthread_mutex_unlock(&L->mu);
    pys__api.Py_DecRef(pl);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    pys__held_drop(t, 1);
    t->gil_depth = 0;
    pys__api.PyGILState_Release(t->gstate);
    return NULL;
}

/* Creates and starts a loop (GIL held). refs = 1 for its owner. */
static pys_loop *loop_create(pys_runtime *rt, pys__async *st, bool internal, const char *fn)
{
    pys_loop *L = calloc(1, sizeof *L);
    if (!L) {
        pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    L->magic = PYS__LOOP_MAGIC;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    atomic_store(&L->refs, 1);
    L->internal = internal;
    L->epoch = rt->ht.epoch;
    L->accepting = true;
    L->pyloop = pys__call3(st->new_loop, NULL, NULL, NULL);
    if (!L->pyloop) {
        pys__fail_py(rt, fn);
        loop_unref(L);
        return NULL;
    }
    registry_add(L);
    /* The thread takes no signals: they stay with the application's
     * threads (and Python's main thread). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&L->thread, NULL, loop_main, L);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        registry_remove(L);
        PyObject *close = pys__api.PyObject_GetAttrString(L->pyloop, "close");
        PyObject *r = close ? pys__call3(close, NULL, NULL, NULL) : NULL;
        pys__api.Py_DecRef(r);
        pys__api.Py_DecRef(close);
        pys__api.PyErr_Clear();
        pys__api.Py_DecRef(L->pyloop);
        L->pyloop = NULL;
        loop_unref(L);
        pys__fail(fn, PYS_E_NOMEM, "%s: cannot create the loop thread (%s)", fn, strerror(err));
        return NULL;
    }
    L->started = true;
    return L;
}

/* Stops and joins L (GIL held on entry and exit; released while joining). */
static void loop_stop_join(pys__async *st, pys_loop *L)
{
    loop_request_stop(st, L);
    PyThreadState *ts = pys__gil_unhold();
    loop_join(L);
    pys__gil_rehold(ts);
}

pys_loop *pys__async_bg_loop(pys_runtime *rt, pys__async *st, const char *fn)
{
    for (;;) {
        pthread_mutex_lock(&g_async.mu);
        pys_loop *L = st->bg;
        bool ok = false;
        if (L) {
            pthread_mutex_lock(&L->mu);
            ok = L->accepting;
            pthread_mutex_unlock(&L->mu);
            if (!ok)
                st->bg = NULL; /* stopped on its own: replace it */
        }
        pthread_mutex_unlock(&g_async.mu);
        if (ok)
            return L;
        if (L) {
            loop_stop_join(st, L);
            loop_unref(L);
        }
        pys_loop *mine = loop_create(rt, st, true, fn);
        if (!mine)
            return NULL;
        pthread_mutex_lock(&g_async.mu);
        bool won = !st->bg;
        if (won)
            st->bg = mine;
        pthread_mutex_unlock(&g_async.mu);
        if (won)
            return mine;
        loop_stop_join(st, mine);
        loop_unref(mine);
    }
}

/* ---- submission ------------------------------------------------------------------------ */

PyObject *pys__async_to_coro(pys_runtime *rt, pys__async *st, PyObject *aw, const char *fn)
{
    if (!aw)
        return NULL;
    PyObject *c = pys__call3(st->as_coro, aw, NULL, NULL);
    if (!c) {
        pys__fail_py(rt, fn);
    } else if (c == PYS__None) {
        pys__api.Py_DecRef(c);
        c = NULL;
        char tn[128];
        pys__fail(fn, PYS_E_TYPE, "%s: expected a coroutine or another awaitable, not %s", fn,
                  pys__type_name(aw, tn, sizeof tn));
    }
    pys__api.Py_DecRef(aw);
    return c;
}

pys_future *pys__async_submit(pys_runtime *rt, pys__async *st, pys_loop *L, PyObject *coro,
                              pys_future_fn cb, void *ud, const char *fn)
{
    pys_future *f = pys__fut_new(rt, fn, cb, ud);
    if (!f) {
        pys__async_discard(st, coro);
        pys__api.Py_DecRef(coro);
        return NULL;
    }
    PyObject *meth = NULL;
    f->capsule = pys__api.PyCapsule_New(f, pys__fut_capsule_name, NULL);
    if (f->capsule)
        meth = pys__api.PyCFunction_NewEx(&pys__fut_done_def, f->capsule, NULL);
    if (!meth) {
        pys__fail_py(rt, fn);
        goto fail;
    }
    pthread_mutex_lock(&L->mu);
    if (!L->accepting) {
        pthread_mutex_unlock(&L->mu);
        pys__fail(fn, PYS_E_STATE, "%s: the loop is stopping or has stopped", fn);
        goto fail;
    }
    L->users++;
    f->owner = L;
    f->loop = L;
    f->loop_thread = L->thread;
    f->loop_thread_set = true;
    pys__list_push(&L->pending, &f->lnode);
    PyObject *pyloop = L->pyloop; /* stable while we are counted in */
    pthread_mutex_unlock(&L->mu);

    PyObject *job = pys__call3(st->submit, coro, pyloop, meth);

    pthread_mutex_lock(&L->mu);
    if (!job && f->loop == L) {
        pys__list_remove(&f->lnode);
        f->loop = NULL;
    }
    if (--L->users == 0)
        pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    if (!job) {
        pys__fail_py(rt, fn);
        goto fail;
    }
    pys__api.Py_DecRef(meth);
    pys__api.Py_DecRef(coro);
    /* The job may already have completed on the loop (it ran while the
     * enqueue gave the GIL up); then it is not needed for cancel. */
    pthread_mutex_lock(&f->mu);
    if (atomic_load(&f->status) == PYS_FUTURE_PENDING) {
        f->job = job;
        job = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    pys__api.Py_DecRef(job);
    /* Last touch: the callback may have freed the owner's reference
     * already; then this frees f, and the caller gets a pointer it may
     * only compare with NULL (fire and forget). */
    pys__fut_submitted(f);
    return f;

fail:
    pys__api.Py_DecRef(meth);
    pys__async_discard(st, coro);
    pys__api.Py_DecRef(coro);
    pys__fut_destroy_unarmed(f); /* disarms the capsule */
    return NULL;
}

int pys__async_cancel(pys_runtime *rt, pys__async *st, pys_future *f, const char *fn)
{
    /* While f is pending its loop's thread has not finished (it completes
     * every pending future before exiting), so the loop is alive here. */
    pthread_mutex_lock(&f->mu);
    pys_loop *L = atomic_load(&f->status) == PYS_FUTURE_PENDING ? f->owner : NULL;
    PyObject *job = L ? f->job : NULL;
    if (job) {
        pys__api.Py_IncRef(job);
        atomic_fetch_add(&L->refs, 1);
    }
    pthread_mutex_unlock(&f->mu);
    if (!job)
        return pys__fail(fn, PYS_E_STATE, "%s: the future has already completed", fn);
    int rc = PYS_OK;
    if (loop_enter(L)) {
        PyObject *r = pys__call3(st->cancel, job, NULL, NULL);
        if (r)
            pys__api.Py_DecRef(r);
        else
            rc = pys__fail_py(rt, fn);
        loop_leave(L);
    } /* else: the loop is stopping and cancels everything itself */
    pys__api.Py_DecRef(job);
    loop_unref(L);
    return rc;
}

/* ---- public loop calls ------------------------------------------------------------------------ */

static bool loop_valid(const pys_loop *L, const char *fn)
{
    if (!L) {
        pys__fail(fn, PYS_E_ARG, "%s: loop is NULL", fn);
        return false;
    }
    if (L->magic != PYS__LOOP_MAGIC || L->internal) {
        pys__fail(fn, PYS_E_ARG, "%s: not a pyshim loop returned by pys_loop_start", fn);
        return false;
    }
    return true;
}

pys_loop *pys_loop_start(pys_runtime *rt)
{
    if (!pys__begin(rt, __func__))
        return NULL;
    pys_loop *L = NULL;
    pys__async *st = pys__async_get(rt, __func__);
    if (st)
        L = loop_create(rt, st, false, __func__);
    pys__end(rt);
    return L;
}

/* Turns aw_or_fn(+args) into a coroutine (new ref) or NULL + error. An
 * awaitable is submitted as is and takes no arguments; a callable is
 * called with them (an object that is both is awaited when nargs is 0);
 * anything else is a type error. */
static PyObject *coro_of(pys_runtime *rt, pys__async *st, PyObject *o, const pys_obj *args,
                         size_t nargs, const char *fn)
{
    if (nargs && !args) {
        pys__fail(fn, PYS_E_ARG, "%s: args is NULL but nargs is %zu", fn, nargs);
        return NULL;
    }
    bool callable = pys__api.PyCallable_Check(o) != 0;
    if (nargs == 0 || !callable) {
        PyObject *c = pys__call3(st->as_coro, o, NULL, NULL);
        if (!c) {
            pys__fail_py(rt, fn);
            return NULL;
        }
        if (c != PYS__None) {
            if (nargs == 0)
                return c;
            pys__api.Py_DecRef(c);
            char tn[128];
            pys__fail(fn, PYS_E_ARG, "%s: a coroutine or another awaitable (here %s) takes no "
                      "arguments, but nargs is %zu", fn, pys__type_name(o, tn, sizeof tn), nargs);
            return NULL;
        }
        pys__api.Py_DecRef(c);
    }
    if (!callable) {
        char tn[128];
        pys__fail(fn, PYS_E_TYPE, "%s: expected a coroutine, an awaitable or an async "
                  "function, not %s", fn, pys__type_name(o, tn, sizeof tn));
        return NULL;
    }
    return pys__async_to_coro(rt, st, pys__call_handles(rt, o, args, nargs, NULL, fn), fn);
}

/* coro_of on the object of aw_or_fn, held while Python code runs with it
 * (a call can let go of the GIL, and another thread release the handle). */
static PyObject *make_coro(pys_runtime *rt, pys__async *st, pys_obj aw_or_fn, const pys_obj *args,
                           size_t nargs, const char *fn)
{
    PyObject *o = pys__h_ref(rt, aw_or_fn, fn);
    if (!o)
        return NULL;
    PyObject *c = coro_of(rt, st, o, args, nargs, fn);
    pys__api.Py_DecRef(o);
    return c;
}

static bool loop_usable(pys_runtime *rt, pys_loop *L, const char *fn)
{
    if (L->epoch != rt->ht.epoch) {
        pys__fail(fn, PYS_E_STATE, "%s: the loop belongs to a runtime that was closed", fn);
        return false;
    }
    return true;
}

pys_future *pys_loop_submit(pys_loop *loop, pys_obj aw_or_fn, const pys_obj *args, size_t nargs,
                            pys_future_fn cb, void *ud)
{
    if (!loop_valid(loop, __func__))
        return NULL;
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt)
        return NULL;
    pys_future *f = NULL;
    pys__async *st = pys__async_get(rt, __func__);
    if (st && loop_usable(rt, loop, __func__)) {
        PyObject *coro = make_coro(rt, st, aw_or_fn, args, nargs, __func__);
        if (coro)
            f = pys__async_submit(rt, st, loop, coro, cb, ud, __func__);
    }
    pys__end(rt);
    return f;
}

pys_future *pys_loop_submitf(pys_loop *loop, pys_future_fn cb, void *ud, pys_obj fn,
                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt) {
        va_end(ap);
        return NULL;
    }
    pys_future *f = NULL;
    PyObject *args = NULL, *kwargs = NULL;
    /* Parse first: 'N' handles are released whatever else fails. */
    if (pys__fmt_call_args(rt, __func__, fmt, &ap, &args, &kwargs) != PYS_OK)
        goto out;
    if (!loop_valid(loop, __func__))
        goto out;
    pys__async *st = pys__async_get(rt, __func__);
    PyObject *o = st && loop_usable(rt, loop, __func__) ? pys__h_ref(rt, fn, __func__) : NULL;
    if (!o)
        goto out;
    PyObject *r = pys__api.PyObject_Call(o, args, kwargs);
    pys__api.Py_DecRef(o);
    if (!r) {
        pys__fail_py(rt, __func__);
        goto out;
    }
    PyObject *coro = pys__async_to_coro(rt, st, r, __func__);
    if (coro)
        f = pys__async_submit(rt, st, loop, coro, cb, ud, __func__);
out:
    pys__api.Py_DecRef(args);
    pys__api.Py_DecRef(kwargs);
    pys__end(rt);
    va_end(ap);
    return f;
}

int pys_loop_stop(pys_loop *loop)
{
    if (!loop_valid(loop, __func__))
        return PYS_E_ARG;
    if (loop->started && pthread_equal(loop->thread, pthread_self()))
        return pys__fail(__func__, PYS_E_STATE,
                         "pys_loop_stop: called on the loop's own thread (from a coroutine or "
                         "callback); stop it from another thread");
    pys_runtime *rt = &pys__the_runtime;
    pthread_mutex_lock(&loop->mu);
    bool joined = loop->joined;
    pthread_mutex_unlock(&loop->mu);
    if (!joined) {
        /* While the runtime is open we send the stop; once it is closing,
         * the close hook sends it and joins, and loop_join waits for that. */
        if (pys__rt_live(rt) && rt->ht.epoch == loop->epoch &&
            pys__begin(rt, __func__)) {
            pys__async *st = rt->async;
            if (st)
                loop_request_stop(st, loop);
            pys__end(rt);
        }
        PyThreadState *ts = pys__gil_unhold();
        loop_join(loop);
        pys__gil_rehold(ts);
    }
    loop_unref(loop);
    return PYS_OK;
}

/* ---- close hook ------------------------------------------------------------------------ */

/* Called by pys_close with the GIL held, before handles are dropped: stops
 * and joins every loop (the GIL given up meanwhile so they can unwind),
 * drops the futures' Python references, frees the helper. */
static void async_close(pys_runtime *rt)
{
    pthread_mutex_lock(&g_async.mu);
    pys__async *st = rt->async;
    pys_loop *snap = NULL;
    if (st) {
        PYS__LIST_EACH(pys_loop, L, &g_async.loops, gnode) {
            atomic_fetch_add(&L->refs, 1);
            L->snap_next = snap;
            snap = L;
        }
    }
    pthread_mutex_unlock(&g_async.mu);
    if (!st)
        return;
    for (pys_loop *L = snap; L; L = L->snap_next)
        loop_request_stop(st, L);
    PyThreadState *ts = pys__api.PyEval_SaveThread();
    for (pys_loop *L = snap; L; L = L->snap_next)
        loop_join(L);
    pys__api.PyEval_RestoreThread(ts);
    while (snap) {
        pys_loop *next = snap->snap_next;
        loop_unref(snap);
        snap = next;
    }
    pthread_mutex_lock(&g_async.mu);
    pys_loop *bg = st->bg;
    st->bg = NULL;
    rt->async = NULL;
    pthread_mutex_unlock(&g_async.mu);
    if (bg)
        loop_unref(bg);
    pys__fut_close_all(rt);
    state_free(st);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
}
