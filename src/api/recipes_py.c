/* The Python half of the recipes (output routing, policed runs, scripts):
 * one helper namespace per open, made on first use from recipes_helper.py
 * (core/pymod.h: the real builtins, a dict that is in no module table). */
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/error.h"
#include "core/call.h"
#include "core/pymod.h"
#include "api/recipes.h"

#include "api/recipes_helper_py.h" /* helper_src, from the .py beside this file */

/* The helper of the current open. rcp is written once per open, under
 * rt->lock, before rcp_opens is stored (release); a reader that loads
 * rcp_opens == rt->opens (acquire) sees it whole, also on free-threaded
 * builds where two threads may make it at once. */
static pys__rcp rcp;
static _Atomic uint64_t rcp_opens; /* rt->opens the helper was made for; 0 = none */

static void rcp_close(pys_runtime *rt)
{
    (void)rt;
    atomic_store_explicit(&rcp_opens, 0, memory_order_relaxed);
    pys__api.Py_DecRef(rcp.ns);
    rcp = (pys__rcp){0};
}

pys__rcp *pys__rcp_get(pys_runtime *rt, const char *fn)
{
    if (atomic_load_explicit(&rcp_opens, memory_order_acquire) == rt->opens)
        return &rcp;
    /* Running the source may let another thread in (or, free-threaded, run
     * beside it), which then makes its own: the first to finish wins. */
    static const char *const names[] = {"enter",         "leave",  "redirect",
                                        "check_compile", "make_builtins", "Script",
                                        "OutputLimitExceeded"};
    PyObject *v[sizeof names / sizeof names[0]];
    PyObject *ns = pys__pymod_run(rt, helper_src, "pyshim._recipes", "<pyshim recipes>", names,
                                  v, sizeof names / sizeof names[0]);
    if (!ns) {
        pys__fail_py(rt, fn);
        return NULL;
    }
    pys__rcp h = {.ns = ns, .enter = v[0], .leave = v[1], .redirect = v[2],
                  .check_compile = v[3], .make_builtins = v[4], .script_class = v[5],
                  .exc_output = v[6]};
    PYS__LOCK(rt);
    bool won = atomic_load_explicit(&rcp_opens, memory_order_relaxed) != rt->opens;
    if (won) {
        rcp = h;
        pys__close_at(rt, PYS__CLOSE_RECIPES, rcp_close);
        atomic_store_explicit(&rcp_opens, rt->opens, memory_order_release);
    }
    PYS__UNLOCK(rt);
    if (!won) /* another thread's helper is in service; the callables are ns's */
        pys__api.Py_DecRef(ns);
    return &rcp;
}

PyObject *pys__rcp_call(PyObject *f, PyObject *const *args, size_t n)
{
    return pys__call_raw(f, args, n, NULL);
}

/* ---- the C writer as a Python callable ------------------------------------ */

typedef struct emitter {
    pys_write_fn fn;
    void *ud;
} emitter;

static void emitter_free(PyObject *cap)
{
    free(pys__api.PyCapsule_GetPointer(cap, "pyshim.writer"));
}

static PyObject *emit(PyObject *self, PyObject *arg)
{
    emitter *e = pys__api.PyCapsule_GetPointer(self, "pyshim.writer");
    char *p;
    Py_ssize_t n;
    if (!e || pys__api.PyBytes_AsStringAndSize(arg, &p, &n) < 0)
        return NULL;
    if (n > 0)
        e->fn(e->ud, p, (size_t)n);
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

static PyMethodDef emit_def = {"pyshim_writer", (PyCFunction)(void (*)(void))emit, PYS__METH_O,
                               "Passes bytes to the host's writer."};

PyObject *pys__rcp_emitter(pys_write_fn fn, void *ud)
{
    emitter *e = malloc(sizeof *e);
    if (!e) {
        pys__api.PyErr_SetNone(PYS__EXC(MemoryError));
        return NULL;
    }
    *e = (emitter){fn, ud};
    PyObject *cap = pys__api.PyCapsule_New(e, "pyshim.writer", emitter_free);
    if (!cap) {
        free(e);
        return NULL;
    }
    PyObject *f = pys__api.PyCFunction_NewEx(&emit_def, cap, NULL);
    pys__api.Py_DecRef(cap);
    return f;
}

/* ---- namespaces and routes -------------------------------------------------- */

PyObject *pys__rcp_route(pys_runtime *rt, pys__rcp *h, int streams, pys_write_fn fn, void *ud,
                         size_t limit, const char *fn_name)
{
    PyObject *args[3] = {pys__api.PyLong_FromLongLong(streams), pys__rcp_emitter(fn, ud),
                         pys__api.PyLong_FromUnsignedLongLong(limit)};
    PyObject *tok = NULL;
    if (args[0] && args[1] && args[2])
        tok = pys__rcp_call(h->enter, args, 3);
    for (int i = 0; i < 3; i++)
        pys__api.Py_DecRef(args[i]);
    if (!tok)
        pys__fail_py(rt, fn_name);
    return tok;
}

int pys__rcp_unroute(pys__rcp *h, PyObject *tok)
{
    PyObject *t, *v, *tb;
    pys__api.PyErr_Fetch(&t, &v, &tb);
    PyObject *r = pys__rcp_call(h->leave, &tok, 1);
    pys__api.Py_DecRef(tok);
    if (r) {
        pys__api.Py_DecRef(r);
    } else if (t) {
        pys__api.PyErr_Clear(); /* the run's own exception wins */
    } else {
        return -1;
    }
    if (t)
        pys__api.PyErr_Restore(t, v, tb);
    return 0;
}
