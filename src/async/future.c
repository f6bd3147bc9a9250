/* Futures: the C side of a coroutine running on a loop thread.
 *
 * Design notes: docs/internals.md, "src/async/future.c". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "async/async.h"

pys__async_globals g_async = {.mu = PTHREAD_MUTEX_INITIALIZER};

const char pys__fut_capsule_name[] = "pyshim.future";
static char disarmed_marker;

static PyObject *done_meth(PyObject *self, PyObject *args);
PyMethodDef pys__fut_done_def = {"pyshim_future_done", done_meth, PYS__METH_VARARGS,
                                 "Records a coroutine's outcome into its pyshim future."};

/* ---- creation and destruction ------------------------------------------------ */

/* f->mu, and f->cv on CLOCK_MONOTONIC (waits with a timeout use it). */
static void fut_sync_init(pys_future *f)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&f->mu, NULL);
}

pys_future *pys__fut_new(pys_runtime *rt, const char *origin, pys_future_fn cb, void *ud)
{
    pys_future *f = calloc(1, sizeof *f);
    if (!f) {
        pys__fail(origin, PYS_E_NOMEM, "%s: out of memory for a future", origin);
        return NULL;
    }
    fut_sync_init(f);
    f->magic = PYS__FUT_MAGIC;
    f->refs = 3; /* owner, Python side, submitter */
    f->epoch = rt->ht.epoch;
    f->origin = origin;
    f->cb = cb;
    f->ud = ud;
    pys__oerr_free(&f->err); /* no error yet */
    pthread_mutex_lock(&g_async.mu);
    pys__list_push(&g_async.futures, &f->gnode);
    pthread_mutex_unlock(&g_async.mu);
    return f;
}

static void fut_free_memory(pys_future *f)
{
    pthread_mutex_lock(&g_async.mu);
    pys__list_remove(&f->gnode);
    pthread_mutex_unlock(&g_async.mu);
    pys__oerr_free(&f->err);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    f->magic = 0;
    free(f);
}

/* Drops f's Python references. With have_gil false, takes the GIL if the
 * runtime that made them is still open, else forgets them. */
static void fut_drop_refs(pys_future *f, bool have_gil)
{
    PyObject *objs[3] = {f->value, f->job, f->capsule};
    f->value = f->job = f->capsule = NULL;
    if (!objs[0] && !objs[1] && !objs[2])
        return;
    pys_runtime *rt = &pys__the_runtime;
    if (!have_gil) {
        if (!pys__rt_live(rt) || rt->ht.epoch != f->epoch)
            return;
        if (!pys__begin(rt, "pys_future_free"))
            return;
        if (rt->ht.epoch != f->epoch) {
            pys__end(rt);
            return;
        }
    }
    if (objs[2])
        pys__fut_disarm(objs[2]);
    for (int i = 0; i < 3; i++)
        pys__api.Py_DecRef(objs[i]);
    if (!have_gil)
        pys__end(&pys__the_runtime);
}

static void fut_unref(pys_future *f, bool have_gil)
{
    pthread_mutex_lock(&f->mu);
    int n = --f->refs;
    pthread_mutex_unlock(&f->mu);
    if (n > 0)
        return;
    /* Last reference: no other thread can reach f except through the
     * global list, which only the close hook walks (under g_async.mu and
     * f->mu), so take the refs under f->mu. */
    pthread_mutex_lock(&g_async.mu);
    pthread_mutex_lock(&f->mu);
    pys_future tmp = {.value = f->value, .job = f->job, .capsule = f->capsule,
                      .epoch = f->epoch};
    f->value = f->job = f->capsule = NULL;
    pthread_mutex_unlock(&f->mu);
    pthread_mutex_unlock(&g_async.mu);
    fut_drop_refs(&tmp, have_gil);
    fut_free_memory(f);
}

void pys__fut_after_fork_child(pys_future *f)
{
    fut_sync_init(f);
    f->cb_running = false;
    if (atomic_load(&f->status) != PYS_FUTURE_PENDING) {
        if (!atomic_load(&f->settled)) /* its callback was running */
            atomic_store(&f->settled, atomic_load(&f->status));
        return;
    }
    f->loop = NULL;
    f->lnode = (pys__link){0}; /* its loop's list was made empty */
    f->cb = NULL;
    /* Static text, no allocation in the fork's child handler: a pending
     * future owns no strings yet. */
    f->err.view = (pys_error){.code = PYS_E_CANCELLED,
                              .context = f->origin,
                              .type = "",
                              .message = "the coroutine was cancelled: its loop's thread is not "
                                         "in this forked process",
                              .traceback = ""};
    f->refs--; /* the Python side's: it never reports here */
    atomic_store(&f->status, PYS_FUTURE_CANCELLED);
    atomic_store(&f->settled, PYS_FUTURE_CANCELLED);
}

void pys__fut_submitted(pys_future *f)
{
    fut_unref(f, true);
}

void pys__fut_destroy_unarmed(pys_future *f)
{
    fut_drop_refs(f, true);
    fut_free_memory(f);
}

void pys__fut_disarm(PyObject *capsule)
{
    if (pys__api.PyCapsule_SetPointer(capsule, &disarmed_marker) < 0)
        pys__api.PyErr_Clear();
}

/* ---- completion (loop thread, GIL held) ------------------------------------------ */

/* Turns exc into the future's error detail through the runtime's usual
 * exception translation (type, message, formatted traceback). */
static void record_exception(pys_future *f, PyObject *exc)
{
    pys_runtime *rt = &pys__the_runtime;
    if (pys__api.PyErr_SetRaisedException) {
        pys__api.Py_IncRef(exc);
        pys__api.PyErr_SetRaisedException(exc);
    } else {
        PyObject *type = pys__api.PyObject_Type(exc);
        PyObject *tb = pys__api.PyException_GetTraceback(exc);
        pys__api.Py_IncRef(exc);
        pys__api.PyErr_Restore(type, exc, tb);
    }
    pys__fail_py(rt, f->origin);
    pys__oerr_copy(&f->err, pys__last_error_full()); /* the future carries the traceback */
}

void pys__fut_complete(pys_future *f, int kind, PyObject *value, PyObject *exc, const char *why)
{
    int status = kind == 0 ? PYS_FUTURE_FINISHED
                 : kind == 1 ? PYS_FUTURE_FAILED
                             : PYS_FUTURE_CANCELLED;
    if (atomic_load(&f->status) != PYS_FUTURE_PENDING) {
        pys__api.Py_DecRef(value);
        return;
    }
    /* Error detail first: it may run Python (str(), traceback). */
    if (status == PYS_FUTURE_FAILED && exc) {
        record_exception(f, exc);
    } else if (status != PYS_FUTURE_FINISHED) {
        status = PYS_FUTURE_CANCELLED;
        pys__oerr_set(&f->err, PYS_E_CANCELLED, pys__strdup(f->origin), NULL,
                      pys__asprintf("%s: the coroutine was cancelled%s%s", f->origin,
                                    why ? ": " : "", why ? why : ""),
                      NULL);
    } else {
        pys__oerr_set(&f->err, PYS_OK, pys__strdup(f->origin), NULL, NULL, NULL);
    }

    /* Leave the loop's pending list. */
    pys_loop *L = f->loop;
    if (L) {
        pthread_mutex_lock(&L->mu);
        if (f->loop == L) {
            pys__list_remove(&f->lnode);
            f->loop = NULL;
        }
        pthread_mutex_unlock(&L->mu);
    }

    pthread_mutex_lock(&f->mu);
    f->value = value;
    PyObject *job = f->job, *capsule = f->capsule;
    f->job = f->capsule = NULL;
    pys_future_fn cb = f->owner_gone ? NULL : f->cb;
    void *ud = f->ud;
    if (cb) {
        f->cb_running = true;
        f->cb_thread = pthread_self();
    }
    atomic_store_explicit(&f->status, status, memory_order_release);
    pthread_mutex_unlock(&f->mu);

    if (capsule) {
        pys__fut_disarm(capsule);
        pys__api.Py_DecRef(capsule);
    }
    pys__api.Py_DecRef(job);
    if (cb) {
        cb(f, (pys_future_status)status, ud);
        if (pys__api.PyErr_Occurred())
            pys__api.PyErr_Clear();
    }
    pthread_mutex_lock(&f->mu);
    f->cb_running = false;
    atomic_store_explicit(&f->settled, status, memory_order_release);
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    fut_unref(f, true);
}

static PyObject *done_meth(PyObject *self, PyObject *args)
{
    void *p = pys__api.PyCapsule_GetPointer(self, pys__fut_capsule_name);
    if (!p) {
        pys__api.PyErr_Clear();
    } else if (p != &disarmed_marker) {
        PyObject *k = pys__api.PyTuple_GetItem(args, 0);
        PyObject *v = k ? pys__api.PyTuple_GetItem(args, 1) : NULL;
        if (!v)
            return NULL;
        long kind = pys__api.PyLong_AsLong(k);
        if (kind == -1 && pys__api.PyErr_Occurred())
            return NULL;
        pys_future *f = p;
        if (kind == 0) {
            pys__api.Py_IncRef(v);
            pys__fut_complete(f, 0, v, NULL, NULL);
        } else {
            pys__fut_complete(f, (int)kind, NULL, kind == 1 ? v : NULL, NULL);
        }
    }
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

/* ---- close hook part -------------------------------------------------------------- */

void pys__fut_close_all(pys_runtime *rt)
{
    /* Steal in small batches: DecRef may run Python (__del__), which must
     * not happen under g_async.mu. */
    for (;;) {
        PyObject *batch[64];
        size_t n = 0;
        pthread_mutex_lock(&g_async.mu);
        PYS__LIST_EACH(pys_future, f, &g_async.futures, gnode) {
            if (n + 3 > 64)
                break;
            if (f->epoch != rt->ht.epoch)
                continue;
            pthread_mutex_lock(&f->mu);
            PyObject *objs[3] = {f->value, f->job, f->capsule};
            f->value = f->job = f->capsule = NULL;
            pthread_mutex_unlock(&f->mu);
            for (int i = 0; i < 3; i++)
                if (objs[i]) {
                    if (i == 2)
                        pys__fut_disarm(objs[i]);
                    batch[n++] = objs[i];
                }
        }
        pthread_mutex_unlock(&g_async.mu);
        if (!n)
            break;
        for (size_t i = 0; i < n; i++)
            pys__api.Py_DecRef(batch[i]);
    }
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
}

/* ---- public calls -------------------------------------------------------------------- */

static bool fut_valid(const pys_future *f, const char *fn)
{
    if (!f) {
        pys__fail(fn, PYS_E_ARG, "%s: future is NULL", fn);
        return false;
    }
    if (f->magic != PYS__FUT_MAGIC) {
        pys__fail(fn, PYS_E_ARG, "%s: not a live pyshim future", fn);
        return false;
    }
    return true;
}

/* Copies f's error detail into this thread's error; returns its code. */
static int fut_set_thread_error(const pys_future *f)
{
    return pys__fail_copy(&f->err.view);
}

static int outcome(const pys_future *f, int status)
{
    return status == PYS_FUTURE_FINISHED ? PYS_OK : fut_set_thread_error(f);
}

int pys_future_wait(pys_future *f, int64_t timeout_ms)
{
    if (!fut_valid(f, __func__))
        return PYS_E_ARG;
    int s = atomic_load_explicit(&f->settled, memory_order_acquire);
    if (s)
        return outcome(f, s);
    pthread_t self = pthread_self();
    pthread_mutex_lock(&f->mu);
    int st = atomic_load(&f->status);
    bool in_own_cb = st != PYS_FUTURE_PENDING && f->cb_running &&
                     pthread_equal(f->cb_thread, self);
    bool own_loop = st == PYS_FUTURE_PENDING && f->loop_thread_set &&
                    pthread_equal(f->loop_thread, self);
    pthread_mutex_unlock(&f->mu);
    if (in_own_cb)
        return outcome(f, st);
    if (timeout_ms == 0)
        return pys__fail(__func__, PYS_E_PENDING, "pys_future_wait: not finished yet");
    if (own_loop)
        return pys__fail(__func__, PYS_E_STATE,
                         "pys_future_wait: called on the thread of the loop that runs the "
                         "future; waiting there would deadlock");
    struct timespec deadline;
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)(timeout_ms / 1000);
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    PyThreadState *ts = pys__gil_unhold();
    pthread_mutex_lock(&f->mu);
    while (!(s = atomic_load(&f->settled))) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&f->cv, &f->mu);
        } else if (pthread_cond_timedwait(&f->cv, &f->mu, &deadline) == ETIMEDOUT) {
            s = atomic_load(&f->settled);
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
    pys__gil_rehold(ts);
    if (s)
        return outcome(f, s);
    return pys__fail(__func__, PYS_E_PENDING, "pys_future_wait: not finished after %lld ms",
                     (long long)timeout_ms);
}

pys_future_status pys_future_poll(const pys_future *f)
{
    if (!f || f->magic != PYS__FUT_MAGIC)
        return PYS_FUTURE_PENDING;
    return (pys_future_status)atomic_load_explicit(&f->settled, memory_order_acquire);
}

bool pys_future_done(const pys_future *f)
{
    return pys_future_poll(f) != PYS_FUTURE_PENDING;
}

const pys_error *pys_future_error(const pys_future *f)
{
    if (!f || f->magic != PYS__FUT_MAGIC)
        return NULL;
    if (atomic_load_explicit(&f->status, memory_order_acquire) == PYS_FUTURE_PENDING)
        return NULL;
    return &f->err.view;
}

pys_obj pys_future_result(pys_future *f)
{
    if (!fut_valid(f, __func__))
        return PYS_NULL;
    int st = atomic_load_explicit(&f->status, memory_order_acquire);
    if (st == PYS_FUTURE_PENDING) {
        pys__fail(__func__, PYS_E_PENDING, "pys_future_result: the future is still pending");
        return PYS_NULL;
    }
    if (st != PYS_FUTURE_FINISHED) {
        fut_set_thread_error(f);
        return PYS_NULL;
    }
    pys_runtime *rt = pys__begin(&pys__the_runtime, __func__);
    if (!rt)
        return PYS_NULL;
    pthread_mutex_lock(&f->mu);
    PyObject *v = f->epoch == rt->ht.epoch ? f->value : NULL;
    if (v)
        pys__api.Py_IncRef(v);
    pthread_mutex_unlock(&f->mu);
    pys_obj out = PYS_NULL;
    if (v)
        out = pys__h_new(rt, v, __func__);
    else
        pys__fail(__func__, PYS_E_CLOSED,
                  "pys_future_result: the runtime that ran the future was closed, which "
                  "dropped its value");
    pys__end(rt);
    return out;
}

/* Sends a cancel request for a pending future (takes the GIL). */
static int fut_request_cancel(pys_future *f, const char *fn)
{
    if (atomic_load(&f->status) != PYS_FUTURE_PENDING)
        return pys__fail(fn, PYS_E_STATE, "%s: the future has already completed", fn);
    pys_runtime *rt = &pys__the_runtime;
    if (rt->ht.epoch != f->epoch)
        return pys__fail(fn, PYS_E_CLOSED, "%s: the future's runtime was closed", fn);
    if (!pys__begin(rt, fn))
        return pys_last_error()->code;
    pys__async *st = pys__async_get(rt, fn);
    int rc = st ? pys__async_cancel(rt, st, f, fn) : pys_last_error()->code;
    pys__end(rt);
    return rc;
}

int pys_future_cancel(pys_future *f)
{
    if (!fut_valid(f, __func__))
        return PYS_E_ARG;
    return fut_request_cancel(f, __func__);
}

void pys_future_free(pys_future *f)
{
    if (!f || f->magic != PYS__FUT_MAGIC)
        return;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&f->mu);
    f->owner_gone = true;
    f->cb = NULL;
    bool pending = atomic_load(&f->status) == PYS_FUTURE_PENDING;
    bool wait_cb = f->cb_running && !pthread_equal(f->cb_thread, self);
    pthread_mutex_unlock(&f->mu);
    if (pending) {
        /* Cancel what nobody will read; keep the caller's error detail. */
        pys__err_saved saved;
        pys__err_stash(&saved);
        fut_request_cancel(f, "pys_future_free");
        pys__err_unstash(&saved);
    }
    if (wait_cb) {
        PyThreadState *ts = pys__gil_unhold();
        pthread_mutex_lock(&f->mu);
        while (f->cb_running)
            pthread_cond_wait(&f->cv, &f->mu);
        pthread_mutex_unlock(&f->mu);
        pys__gil_rehold(ts);
    }
    fut_unref(f, false);
}
