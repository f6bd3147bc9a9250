/* Running coroutines to completion on the calling thread (asyncio.run), and
 * the background one-shots, which hand the coroutine to the runtime's
 * internal loop (loop.c).
 *
 * The awaitable is made on the calling thread (evaluating the expression
 * or calling the async function), so errors there are reported by the call
 * itself and never reach a callback. A coroutine that is never run is
 * closed, so Python does not warn that it was never awaited.
 *
 * While asyncio.run waits in its selector the thread runs no bytecode, so
 * an exception posted to it (pys_interrupt, a deadline, pys_close
 * interrupting calls in flight) would wait for the next event, possibly
 * hours away. A heartbeat timer wakes the loop every 50 ms
 * (PYS_INTERRUPT_REPEAT_MS) so that such exceptions land promptly. */
#include <stdlib.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/call.h"
#include "convert/convert.h"
#include "api/api.h"
#include "async/async.h"

/* Records the pending exception; CancelledError becomes PYS_E_CANCELLED. */
static int fail_run(pys_runtime *rt, pys__async *st, const char *fn)
{
    bool cancelled = pys__api.PyErr_ExceptionMatches(st->cancelled_exc);
    int code = pys__fail_py(rt, fn);
    if (cancelled && code == PYS_E_PYTHON) {
        pys__tls_get()->err.view.code = PYS_E_CANCELLED;
        code = PYS_E_CANCELLED;
    }
    return code;
}

/* Runs coro (stolen; NULL: the caller's error is set) with asyncio.run;
 * new handle or PYS_NULL. */
static pys_obj run_coro(pys_runtime *rt, pys__async *st, PyObject *coro, const char *fn)
{
    if (!coro)
        return PYS_NULL;
    PyObject *r = pys__call3(st->run, coro, NULL, NULL);
    if (!r) {
        fail_run(rt, st, fn);
        /* asyncio.run refused it (e.g. inside a running loop): close it. */
        pys__async_discard(st, coro);
        pys__api.Py_DecRef(coro);
        return PYS_NULL;
    }
    pys__api.Py_DecRef(coro);
    return pys__h_new(rt, r, fn);
}

/* Submits coro (stolen; NULL: the caller's error is set) to the runtime's
 * background loop: the future, or NULL with the error set (cb is then
 * never called). */
static pys_future *submit_bg(pys_runtime *rt, pys__async *st, PyObject *coro, pys_future_fn cb,
                             void *ud, const char *fn)
{
    if (!coro)
        return NULL;
    pys_loop *L = pys__async_bg_loop(rt, st, fn);
    if (L)
        return pys__async_submit(rt, st, L, coro, cb, ud, fn);
    pys__async_discard(st, coro);
    pys__api.Py_DecRef(coro);
    return NULL;
}

/* Evaluates expr in __main__ and returns its coroutine (new ref), or NULL
 * with the error set. */
static PyObject *eval_coro(pys_runtime *rt, pys__async *st, const char *expr, const char *fn)
{
    if (!expr) {
        pys__fail(fn, PYS_E_ARG, "%s: expression is NULL", fn);
        return NULL;
    }
    PyObject *aw = pys__run_src(rt, expr, PYS__Py_eval_input, rt->main_dict);
    if (!aw)
        pys__fail_py(rt, fn);
    return pys__async_to_coro(rt, st, aw, fn);
}

/* fn(*args) from handles, then its coroutine (new ref), or NULL + error. */
static PyObject *call_coro(pys_runtime *rt, pys__async *st, pys_obj fn_h, const pys_obj *args,
                           size_t nargs, const char *fn)
{
    PyObject *f = pys__h_ref(rt, fn_h, fn); /* the call runs Python code */
    if (!f)
        return NULL;
    PyObject *r = pys__call_handles(rt, f, args, nargs, NULL, fn);
    pys__api.Py_DecRef(f);
    return pys__async_to_coro(rt, st, r, fn);
}

/* ---- blocking ------------------------------------------------------------------ */

pys_obj pys_run_async(pys_runtime *rt, const char *expr)
{
    if (!pys__begin(rt, __func__))
        return PYS_NULL;
    pys__async *st = pys__async_get(rt, __func__);
    PyObject *coro = st ? eval_coro(rt, st, expr, __func__) : NULL;
    pys_obj out = run_coro(rt, st, coro, __func__);
    pys__end(rt);
    return out;
}

pys_obj pys_await(pys_obj awaitable)
{
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt)
        return PYS_NULL;
    pys__async *st = pys__async_get(rt, __func__);
    PyObject *aw = st ? pys__h_ref(rt, awaitable, __func__) : NULL;
    pys_obj out = run_coro(rt, st, pys__async_to_coro(rt, st, aw, __func__), __func__);
    pys__end(rt);
    return out;
}

pys_obj pys_call_async(pys_obj fn, const pys_obj *args, size_t nargs)
{
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt)
        return PYS_NULL;
    pys__async *st = pys__async_get(rt, __func__);
    PyObject *coro = st ? call_coro(rt, st, fn, args, nargs, __func__) : NULL;
    pys_obj out = run_coro(rt, st, coro, __func__);
    pys__end(rt);
    return out;
}

pys_obj pys_vcall_asyncf(pys_obj fn, const char *fmt, va_list ap)
{
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt)
        return PYS_NULL;
    va_list aq;
    va_copy(aq, ap);
    pys__async *st = pys__async_get(rt, __func__);
    PyObject *f = st ? pys__h_ref(rt, fn, __func__) : NULL;
    /* 'N' handles are released whatever else fails; without f the error
     * stays the one above. */
    PyObject *r = pys__fmt_call_or_drop(rt, __func__, f, fmt, &aq, true);
    pys__api.Py_DecRef(f);
    pys_obj out = run_coro(rt, st, pys__async_to_coro(rt, st, r, __func__), __func__);
    va_end(aq);
    pys__end(rt);
    return out;
}

pys_obj pys_call_asyncf(pys_obj fn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pys_obj r = pys_vcall_asyncf(fn, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- background ------------------------------------------------------------------- */

pys_future *pys_run_async_bg(pys_runtime *rt, const char *expr, pys_future_fn cb, void *ud)
{
    if (!pys__begin(rt, __func__))
        return NULL;
    pys__async *st = pys__async_get(rt, __func__);
    PyObject *coro = st ? eval_coro(rt, st, expr, __func__) : NULL;
    pys_future *f = submit_bg(rt, st, coro, cb, ud, __func__);
    pys__end(rt);
    return f;
}

pys_future *pys_call_async_bg(pys_obj fn, const pys_obj *args, size_t nargs, pys_future_fn cb,
                              void *ud)
{
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt)
        return NULL;
    pys__async *st = pys__async_get(rt, __func__);
    PyObject *coro = st ? call_coro(rt, st, fn, args, nargs, __func__) : NULL;
    pys_future *f = submit_bg(rt, st, coro, cb, ud, __func__);
    pys__end(rt);
    return f;
}
