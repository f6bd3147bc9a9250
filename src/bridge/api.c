/* The bridge's public calls (pyshim_bridge.h: pys_register*, pys_unregister,
 * pys_bridge_module, pys_module_*) and its part of pys_open (bridge/bridge.h:
 * pys_options.bridge_funcs checked before any Python loads, registered at
 * the end of the open).
 *
 * Each public call enters the runtime, gets the bridge state and hands
 * over to registry.c and host.c. A registration that fails (here or in a
 * failing pys_open) never runs its release hook: the caller keeps its
 * userdata. */
#include <stdlib.h>
#include <string.h>

#include "bridge/internal.h"

/* Registers f in host module `host`. Returns PYS_OK or a code with the
 * error set. GIL held. */
static int add_to(pys_runtime *rt, br_state *st, PyObject *host, const pys_bridge_func *f,
                  const char *fn)
{
    PyObject *hn = pys__api.PyObject_GetAttrString(host, "__name__");
    const char *hname = hn ? pys__api.PyUnicode_AsUTF8AndSize(hn, NULL) : NULL;
    if (!hname) {
        pys__api.Py_DecRef(hn);
        return pys__fail_py(rt, fn);
    }
    br_reg *r = NULL;
    int rc = pys__br_reg_build(f, hname, fn, &r);
    if (rc == PYS_OK)
        rc = pys__br_reg_install(rt, st, host, hn, r, fn);
    pys__api.Py_DecRef(hn);
    return rc;
}

/* ---- pys_open support -------------------------------------------------------- */

int pys__bridge_check(const pys_options *o)
{
    const char *fn = "pys_open";
    if (o->bridge_module && !pys__br_valid_ident(o->bridge_module))
        return pys__fail(fn, PYS_E_ARG,
                         "pys_open: bridge_module \"%s\" is not a valid module name (an "
                         "identifier, no dots)",
                         o->bridge_module);
    if (o->nbridge_funcs && !o->bridge_funcs)
        return pys__fail(fn, PYS_E_ARG, "pys_open: nbridge_funcs is %zu but bridge_funcs is NULL",
                         o->nbridge_funcs);
    for (size_t i = 0; i < o->nbridge_funcs; i++) {
        br_reg *r = NULL;
        int rc = pys__br_reg_build(&o->bridge_funcs[i], o->bridge_module, fn, &r);
        if (rc != PYS_OK)
            return rc;
        pys__br_reg_free(r);
    }
    return PYS_OK;
}

int pys__bridge_open(pys_runtime *rt, const pys_options *o)
{
    /* The state is made here, while only this thread runs, so that later
     * registrations never race to create it (free-threaded builds). */
    const char *fn = "pys_open";
    br_state *st = pys__br_state_get(rt, fn);
    if (!st)
        return pys_last_error()->code;
    if (!o->nbridge_funcs)
        return PYS_OK;
    PyObject *m = pys__br_bridge_mod(rt, st, fn);
    int rc = m ? PYS_OK : pys_last_error()->code;
    for (size_t i = 0; rc == PYS_OK && i < o->nbridge_funcs; i++)
        rc = add_to(rt, st, m, &o->bridge_funcs[i], fn);
    if (rc != PYS_OK && st) {
        /* pys_open fails: undo, without running the caller's release hooks
         * for functions that were never handed to Python code. */
        pys__br_reg_disown_all();
        pys__br_close(rt);
    }
    return rc;
}

/* ---- public calls ------------------------------------------------------------ */

int pys_register(pys_runtime *rt, const pys_bridge_func *f)
{
    if (!pys__begin(rt, __func__))
        return pys_last_error()->code;
    br_state *st = pys__br_state_get(rt, __func__);
    PyObject *m = st ? pys__br_bridge_mod(rt, st, __func__) : NULL;
    int rc = m ? add_to(rt, st, m, f, __func__) : pys_last_error()->code;
    pys__end(rt);
    return rc;
}

int pys_register_func(pys_runtime *rt, const char *name, pys_bridge_fn fn, void *userdata)
{
    if (!fn)
        return pys__fail(__func__, PYS_E_ARG, "pys_register_func: fn is NULL");
    pys_bridge_func f = {.name = name, .fn = fn, .userdata = userdata};
    return pys_register(rt, &f);
}

int pys_register_typed(pys_runtime *rt, const char *name, const char *signature, pys_cfunc fn)
{
    if (!fn)
        return pys__fail(__func__, PYS_E_ARG, "pys_register_typed: fn is NULL");
    pys_bridge_func f = {.name = name, .cfunc = fn, .signature = signature};
    return pys_register(rt, &f);
}

/* Removes function `name` from host module m. GIL held. */
static int remove_func(pys_runtime *rt, PyObject *m, const char *name, const char *fn)
{
    if (!name)
        return pys__fail(fn, PYS_E_ARG, "%s: name is NULL", fn);
    br_reg *r = pys__br_reg_find(m, name, NULL);
    if (!r)
        return pys__fail(fn, PYS_E_ARG, "%s: no C function named \"%s\" is registered there", fn,
                         name);
    /* Kill first (deleting the attribute may free r); then delete the
     * attribute if it still is that function (identity only). */
    PyObject *func = r->func;
    pys__br_reg_kill(r, NULL);
    PyObject *cur = pys__api.PyObject_GetAttrString(m, name);
    if (!cur)
        pys__api.PyErr_Clear();
    int rc = PYS_OK;
    if (cur && cur == func && pys__api.PyObject_SetAttrString(m, name, NULL) < 0)
        rc = pys__fail_py(rt, fn);
    pys__api.Py_DecRef(cur);
    return rc;
}

int pys_unregister(pys_runtime *rt, const char *name)
{
    if (!pys__begin(rt, __func__))
        return pys_last_error()->code;
    br_state *st = pys__br_state_get(rt, __func__);
    int rc;
    if (!st) {
        rc = pys_last_error()->code;
    } else {
        PyObject *m = pys__br_host_get(st, rt->bridge_module);
        rc = m ? remove_func(rt, m, name, __func__)
               : pys__fail(__func__, PYS_E_ARG,
                           "pys_unregister: no C function named \"%s\" is registered",
                           name ? name : "(null)");
    }
    pys__end(rt);
    return rc;
}

pys_obj pys_bridge_module(pys_runtime *rt)
{
    if (!pys__begin(rt, __func__))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    br_state *st = pys__br_state_get(rt, __func__);
    PyObject *m = st ? pys__br_bridge_mod(rt, st, __func__) : NULL;
    if (m) {
        pys__api.Py_IncRef(m);
        out = pys__h_new(rt, m, __func__);
    }
    pys__end(rt);
    return out;
}

pys_obj pys_module_new(pys_runtime *rt, const char *name)
{
    if (!pys__begin(rt, __func__))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    br_state *st = pys__br_state_get(rt, __func__);
    PyObject *m = st ? pys__br_host_new(rt, st, name, NULL, true, __func__) : NULL;
    if (m)
        out = pys__h_new(rt, m, __func__);
    pys__end(rt);
    return out;
}

/* Begins a call on a host module handle: *host gets the module (borrowed).
 * Returns rt or NULL (error set; the GIL is not held then). */
static pys_runtime *begin_host(pys_obj module, PyObject **host, br_state **st, const char *fn)
{
    pys_runtime *rt = pys__begin_h(fn);
    if (!rt)
        return NULL;
    PyObject *m = pys__h_get(rt, module, fn);
    *st = m ? pys__br_state_get(rt, fn) : NULL;
    *host = *st ? pys__br_host_of(*st, m, fn) : NULL;
    if (!*host) {
        pys__end(rt);
        return NULL;
    }
    return rt;
}

int pys_module_add(pys_obj module, const pys_bridge_func *f)
{
    PyObject *m;
    br_state *st;
    pys_runtime *rt = begin_host(module, &m, &st, __func__);
    if (!rt)
        return pys_last_error()->code;
    int rc = add_to(rt, st, m, f, __func__);
    pys__end(rt);
    return rc;
}

int pys_module_add_func(pys_obj module, const char *name, pys_bridge_fn fn, void *userdata)
{
    if (!fn)
        return pys__fail(__func__, PYS_E_ARG, "pys_module_add_func: fn is NULL");
    pys_bridge_func f = {.name = name, .fn = fn, .userdata = userdata};
    return pys_module_add(module, &f);
}

int pys_module_add_typed(pys_obj module, const char *name, const char *signature, pys_cfunc fn)
{
    if (!fn)
        return pys__fail(__func__, PYS_E_ARG, "pys_module_add_typed: fn is NULL");
    pys_bridge_func f = {.name = name, .cfunc = fn, .signature = signature};
    return pys_module_add(module, &f);
}

static int add_const(pys_obj module, const char *name, pys_obj value, const char *fmt,
                     va_list *ap, const char *fn)
{
    PyObject *m;
    br_state *st;
    pys_runtime *rt = begin_host(module, &m, &st, fn);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    PyObject *v = NULL;
    if (!pys__br_valid_ident(name)) {
        rc = pys__fail(fn, PYS_E_ARG, "%s: \"%s\" is not a valid attribute name", fn,
                       name ? name : "(null)");
    } else if (fmt) {
        v = pys__fmt_build(rt, fn, fmt, ap, &rc);
    } else {
        v = pys__h_get(rt, value, fn);
        if (v)
            pys__api.Py_IncRef(v);
        else
            rc = PYS_E_HANDLE;
    }
    if (v) {
        rc = pys__br_host_set(rt, m, name, v, NULL, fn);
        pys__api.Py_DecRef(v);
    }
    pys__end(rt);
    return rc;
}

int pys_module_add_const(pys_obj module, const char *name, pys_obj value)
{
    return add_const(module, name, value, NULL, NULL, __func__);
}

int pys_module_add_constf(pys_obj module, const char *name, const char *fmt, ...)
{
    if (!fmt)
        return pys__fail(__func__, PYS_E_ARG, "pys_module_add_constf: format is NULL");
    va_list ap;
    va_start(ap, fmt);
    int rc = add_const(module, name, PYS_NULL, fmt, &ap, __func__);
    va_end(ap);
    return rc;
}

int pys_module_set_doc(pys_obj module, const char *doc)
{
    PyObject *m;
    br_state *st;
    pys_runtime *rt = begin_host(module, &m, &st, __func__);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    PyObject *d = PYS__None;
    if (doc) {
        d = pys__api.PyUnicode_DecodeUTF8(doc, (Py_ssize_t)strlen(doc), "strict");
        if (!d) {
            pys__api.PyErr_Clear();
            rc = pys__fail(__func__, PYS_E_VALUE, "pys_module_set_doc: doc is not valid UTF-8");
        }
    } else {
        pys__api.Py_IncRef(d);
    }
    if (d) {
        if (pys__api.PyObject_SetAttrString(m, "__doc__", d) < 0)
            rc = pys__fail_py(rt, __func__);
        pys__api.Py_DecRef(d);
    }
    pys__end(rt);
    return rc;
}

int pys_module_remove_func(pys_obj module, const char *name)
{
    PyObject *m;
    br_state *st;
    pys_runtime *rt = begin_host(module, &m, &st, __func__);
    if (!rt)
        return pys_last_error()->code;
    int rc = remove_func(rt, m, name, __func__);
    pys__end(rt);
    return rc;
}

int pys_module_remove(pys_runtime *rt, const char *name)
{
    if (!pys__begin(rt, __func__))
        return pys_last_error()->code;
    int rc = PYS_OK;
    br_state *st = pys__br_state_get(rt, __func__);
    PyObject *m = st && name ? pys__br_host_get(st, name) : NULL;
    if (!st) {
        rc = pys_last_error()->code;
    } else if (!m) {
        rc = pys__fail(__func__, PYS_E_ARG, "pys_module_remove: no host module named \"%s\"",
                       name ? name : "(null)");
    } else {
        pys__api.Py_IncRef(m);
        if (pys__br_host_remove(st, m, name) < 0)
            rc = pys__fail_py(rt, __func__);
        pys__api.Py_DecRef(m);
    }
    pys__end(rt);
    return rc;
}
