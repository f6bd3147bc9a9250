/* Output capture: pys_redirect (process-wide writers) and pys_exec_captured
 * (one call's output). The routing is the helper's (recipes_py.c): proxy
 * objects in sys.stdout / sys.stderr look up the current context's route
 * (a ContextVar) on every write, so concurrent calls on other threads, each
 * in its own context, never see each other's text. */
#include "core/gate.h"
#include "core/error.h"
#include "api/api.h"
#include "api/recipes.h"

static bool streams_ok(int streams)
{
    return streams > 0 && (streams & ~(PYS_STDOUT | PYS_STDERR)) == 0;
}

int pys_redirect(pys_runtime *rt, int streams, pys_write_fn fn, void *ud)
{
    if (!pys__begin(rt, __func__))
        return pys_last_error()->code;
    int rc = PYS_OK;
    pys__rcp *h;
    if (!streams_ok(streams)) {
        rc = pys__fail(__func__, PYS_E_ARG,
                       "pys_redirect: streams must be PYS_STDOUT, PYS_STDERR or both, not %d",
                       streams);
    } else if ((h = pys__rcp_get(rt, __func__)) == NULL) {
        rc = pys_last_error()->code;
    } else {
        PyObject *args[2] = {pys__api.PyLong_FromLongLong(streams), NULL};
        if (fn)
            args[1] = pys__rcp_emitter(fn, ud);
        else
            pys__api.Py_IncRef(args[1] = PYS__None);
        PyObject *r = args[0] && args[1] ? pys__rcp_call(h->redirect, args, 2) : NULL;
        for (int i = 0; i < 2; i++)
            pys__api.Py_DecRef(args[i]);
        if (r)
            pys__api.Py_DecRef(r);
        else
            rc = pys__fail_py(rt, __func__);
    }
    pys__end(rt);
    return rc;
}

int pys_exec_captured(pys_runtime *rt, const char *src, pys_obj ns, int streams,
                      pys_write_fn fn, void *ud)
{
    const char *F = __func__;
    if (!pys__begin(rt, F))
        return pys_last_error()->code;
    int rc = PYS_OK;
    pys__rcp *h;
    PyObject *g = NULL, *tok = NULL;
    if (!src || !fn) {
        rc = pys__fail(F, PYS_E_ARG, "%s: %s is NULL", F, !src ? "source" : "the writer");
        goto out;
    }
    if (!streams_ok(streams)) {
        rc = pys__fail(F, PYS_E_ARG, "%s: streams must be PYS_STDOUT, PYS_STDERR or both, not %d",
                       F, streams);
        goto out;
    }
    if (!(h = pys__rcp_get(rt, F)) || !(g = pys__namespace_of(rt, ns, F)) ||
        !(tok = pys__rcp_route(rt, h, streams, fn, ud, 0, F))) {
        rc = pys_last_error()->code;
        goto out;
    }
    PyObject *r = pys__run_src(rt, src, PYS__Py_file_input, g);
    pys__api.Py_DecRef(r);
    if (pys__rcp_unroute(h, tok) < 0 || !r)
        rc = pys__fail_py(rt, F);
out:
    pys__api.Py_DecRef(g);
    pys__end(rt);
    return rc;
}
