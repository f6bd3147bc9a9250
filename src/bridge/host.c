/* The bridge state of a runtime (bridge/internal.h): the finder that
 * serves host modules, the BridgeSelf class of functions' selves, and the
 * host modules themselves.
 *
 * Host modules are plain module objects registered with a finder on
 * sys.meta_path (Python code, run once per open), so import, reload and
 * re-import after `del sys.modules[...]` work like for any module.
 *
 * Every call goes from `self` to its br_reg, so that step is one load: the
 * slot sits right after the module object (at ModuleType.__basicsize__,
 * where CPython puts a subclass's first slot), an offset checked once per
 * open on a probe object; if the check ever failed, calls would read the
 * slot through its descriptor instead. The descriptor is deleted from the
 * class, so Python code cannot replace the capsule (and free the br_reg)
 * under a live function. */
#include <stdlib.h>

#include "bridge/internal.h"
#include "core/call.h"
#include "core/pymod.h"

#include "bridge/finder_py.h" /* finder_src, from the .py beside this file */

/* finder.<method>(a, b, c), as pys__call3. */
static PyObject *finder_invoke(br_state *st, const char *method, PyObject *a, PyObject *b,
                               PyObject *c)
{
    PyObject *m = pys__api.PyObject_GetAttrString(st->finder, method);
    if (!m)
        return NULL;
    PyObject *r = pys__call3(m, a, b, c);
    pys__api.Py_DecRef(m);
    return r;
}

/* Same, for calls whose result is not needed: 0 or -1. */
static int finder_call(br_state *st, const char *method, PyObject *a)
{
    PyObject *r = finder_invoke(st, method, a, NULL, NULL);
    if (!r)
        return -1;
    pys__api.Py_DecRef(r);
    return 0;
}

static void unref(PyObject *o)
{
    pys__api.Py_DecRef(o);
}

/* Makes st's BridgeSelf class: type('BridgeSelf', (ModuleType,), ...)
 * with one slot, whose descriptor then leaves the class (out of Python
 * code's reach) but stays here to set and read the slot. 0, or -1 with an
 * exception set. */
static int self_class(br_state *st)
{
    PyObject *name = pys__api.PyUnicode_FromString("BridgeSelf");
    PyObject *slot = pys__api.PyUnicode_FromString("registration");
    PyObject *mod = pys__api.PyUnicode_FromString("pyshim");
    PyObject *doc = pys__api.PyUnicode_FromString(
        "The __self__ of C functions registered through pyshim: a module named after the\n"
        "function's module, keeping its registration alive.");
    PyObject *bases = pys__api.PyTuple_New(1);
    PyObject *slots = pys__api.PyTuple_New(1);
    PyObject *ns = pys__api.PyDict_New();
    PyObject *cls = NULL, *descr = NULL;
    int rc = -1;
    if (!name || !slot || !mod || !doc || !bases || !slots || !ns)
        goto out;
    pys__api.Py_IncRef(pys__api.PyModule_Type);
    pys__api.PyTuple_SetItem(bases, 0, pys__api.PyModule_Type);
    pys__api.Py_IncRef(slot);
    pys__api.PyTuple_SetItem(slots, 0, slot);
    if (pys__api.PyDict_SetItemString(ns, "__slots__", slots) < 0 ||
        pys__api.PyDict_SetItemString(ns, "__module__", mod) < 0 ||
        pys__api.PyDict_SetItemString(ns, "__doc__", doc) < 0)
        goto out;
    cls = pys__call3(pys__api.PyType_Type, name, bases, ns);
    descr = cls ? pys__api.PyObject_GetAttr(cls, slot) : NULL;
    if (!descr || pys__api.PyObject_SetAttr(cls, slot, NULL) < 0)
        goto out;
    st->self_set = pys__api.PyObject_GetAttrString(descr, "__set__");
    st->self_get = st->self_set ? pys__api.PyObject_GetAttrString(descr, "__get__") : NULL;
    if (st->self_get) {
        st->self_type = cls;
        cls = NULL;
        rc = 0;
    }
out:
    unref(descr);
    unref(cls);
    unref(ns);
    unref(slots);
    unref(bases);
    unref(doc);
    unref(mod);
    unref(slot);
    unref(name);
    return rc;
}

PyObject *pys__br_self_make(br_state *st, PyObject *name, PyObject *value)
{
    PyObject *s = pys__call3(st->self_type, name, NULL, NULL);
    PyObject *r = s ? pys__call3(st->self_set, s, value, NULL) : NULL;
    if (!r) {
        unref(s);
        return NULL;
    }
    pys__api.Py_DecRef(r);
    return s;
}

/* o.__basicsize__, or -1. */
static long long basicsize(PyObject *o)
{
    PyObject *b = o ? pys__api.PyObject_GetAttrString(o, "__basicsize__") : NULL;
    if (!b)
        return -1;
    int ovf = 0;
    long long v = pys__api.PyLong_AsLongLongAndOverflow(b, &ovf);
    pys__api.Py_DecRef(b);
    return ovf ? -1 : v;
}

/* Where a BridgeSelf keeps its slot: right after the module object, where
 * CPython places a subclass's first slot, if the type's size agrees and a
 * probe shows the object stored there; else 0. Leaves no exception. */
static Py_ssize_t self_slot_offset(br_state *st)
{
    Py_ssize_t off = 0;
    PyObject *name = pys__api.PyUnicode_FromString("probe");
    PyObject *probe = name ? pys__br_self_make(st, name, st->finder) : NULL;
    PyObject *type = probe ? pys__api.PyObject_Type(probe) : NULL;
    long long base = basicsize(pys__api.PyModule_Type), size = basicsize(type);
    if (probe && base > 0 && base % (long long)sizeof(PyObject *) == 0 &&
        size >= base + (long long)sizeof(PyObject *) &&
        *(PyObject *const *)((const char *)probe + base) == st->finder)
        off = (Py_ssize_t)base;
    pys__api.Py_DecRef(type);
    pys__api.Py_DecRef(probe);
    pys__api.Py_DecRef(name);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    return off;
}

/* Test switch: new runtimes read selves through the descriptor, as if the
 * slot's offset had not been confirmed. */
static bool br_test_no_self_off;
void pys__test_bridge_no_self_offset(bool on);
void pys__test_bridge_no_self_offset(bool on)
{
    br_test_no_self_off = on;
}

br_state *pys__br_state_get(pys_runtime *rt, const char *fn)
{
    if (rt->bridge)
        return rt->bridge;
    br_state *st = calloc(1, sizeof *st);
    if (!st) {
        pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    static const char *const names[] = {"finder"};
    PyObject *finder;
    PyObject *ns = pys__pymod_run(rt, finder_src, "pyshim", "<pyshim finder>", names, &finder, 1);
    if (ns) {
        pys__api.Py_IncRef(finder);
        st->finder = finder;
        st->modules = pys__api.PyObject_GetAttrString(st->finder, "modules");
        pys__api.Py_DecRef(ns);
    }
    if (!st->finder || !st->modules || self_class(st) < 0) {
        if (pys__api.PyErr_Occurred())
            pys__fail_py(rt, fn);
        else
            pys__fail(fn, PYS_E_INTERNAL, "%s: could not set up the host module finder", fn);
        if (st->finder) {
            if (finder_call(st, "uninstall", NULL) < 0)
                pys__api.PyErr_Clear();
            pys__api.Py_DecRef(st->finder);
        }
        unref(st->modules);
        unref(st->self_set);
        free(st);
        return NULL;
    }
    st->self_off = br_test_no_self_off ? 0 : self_slot_offset(st);
    rt->bridge = st;
    pys__close_at(rt, PYS__CLOSE_BRIDGE, pys__br_close);
    return st;
}

void pys__br_close(pys_runtime *rt)
{
    br_state *st = rt->bridge;
    if (!st)
        return;
    pys__br_reg_kill(NULL, NULL);
    if (finder_call(st, "uninstall", NULL) < 0)
        pys__api.PyErr_Clear();
    pys__api.Py_DecRef(st->modules);
    pys__api.Py_DecRef(st->finder);
    pys__api.Py_DecRef(st->self_type);
    pys__api.Py_DecRef(st->self_set);
    pys__api.Py_DecRef(st->self_get);
    free(st);
    rt->bridge = NULL;
}

PyObject *pys__br_host_get(br_state *st, const char *name)
{
    PyObject *k = pys__api.PyUnicode_FromString(name);
    if (!k) {
        pys__api.PyErr_Clear();
        return NULL;
    }
    PyObject *m = pys__api.PyDict_GetItemWithError(st->modules, k);
    pys__api.Py_DecRef(k);
    if (!m)
        pys__api.PyErr_Clear();
    return m;
}

PyObject *pys__br_host_of(br_state *st, PyObject *m, const char *fn)
{
    PyObject *name = pys__api.PyObject_GetAttrString(m, "__name__");
    PyObject *h = NULL;
    if (name && pys__is(name, pys__api.PyUnicode_Type)) {
        h = pys__api.PyDict_GetItemWithError(st->modules, name);
    }
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    pys__api.Py_DecRef(name);
    if (h != m) {
        char tn[128];
        pys__fail(fn, PYS_E_TYPE, "%s: the object (%s) is not a pyshim host module", fn,
                  pys__type_name(m, tn, sizeof tn));
        return NULL;
    }
    return h;
}

int pys__br_host_remove(br_state *st, PyObject *m, const char *name)
{
    pys__br_reg_kill(NULL, m);
    PyObject *k = pys__api.PyUnicode_FromString(name);
    if (!k)
        return -1;
    int r = finder_call(st, "remove", k);
    pys__api.Py_DecRef(k);
    return r;
}

PyObject *pys__br_host_new(pys_runtime *rt, br_state *st, const char *name, const char *doc,
                           bool replace, const char *fn)
{
    if (!pys__br_valid_ident(name)) {
        pys__fail(fn, PYS_E_ARG, "%s: \"%s\" is not a valid module name (an identifier, no dots)",
                  fn, name ? name : "(null)");
        return NULL;
    }
    PyObject *old = pys__br_host_get(st, name);
    if (old && !replace) {
        pys__api.Py_IncRef(old);
        return old;
    }
    if (!old) {
        PyObject *sysmods = pys__api.PyImport_GetModuleDict(); /* borrowed */
        PyObject *k = pys__api.PyUnicode_FromString(name);
        int has = k ? pys__api.PySequence_Contains(sysmods, k) : -1;
        pys__api.Py_DecRef(k);
        if (has < 0) {
            pys__fail_py(rt, fn);
            return NULL;
        }
        if (has) {
            pys__fail(fn, PYS_E_STATE,
                      "%s: a module named \"%s\" is already imported and is not a pyshim host "
                      "module",
                      fn, name);
            return NULL;
        }
    } else if (pys__br_host_remove(st, old, name) < 0) {
        pys__fail_py(rt, fn);
        return NULL;
    }
    PyObject *m = pys__api.PyModule_New(name);
    if (!m) {
        pys__fail_py(rt, fn);
        return NULL;
    }
    if (doc) {
        PyObject *d = pys__api.PyUnicode_FromString(doc);
        if (!d || pys__api.PyObject_SetAttrString(m, "__doc__", d) < 0) {
            pys__api.Py_DecRef(d);
            pys__api.Py_DecRef(m);
            pys__fail_py(rt, fn);
            return NULL;
        }
        pys__api.Py_DecRef(d);
    }
    PyObject *k = pys__api.PyUnicode_FromString(name);
    PyObject *won = k ? finder_invoke(st, "install", k, m, replace ? PYS__True : PYS__False)
                      : NULL;
    pys__api.Py_DecRef(k);
    pys__api.Py_DecRef(m);
    if (!won)
        pys__fail_py(rt, fn);
    return won;
}

PyObject *pys__br_bridge_mod(pys_runtime *rt, br_state *st, const char *fn)
{
    PyObject *m = pys__br_host_get(st, rt->bridge_module);
    if (m)
        return m;
    m = pys__br_host_new(rt, st, rt->bridge_module,
                         "C functions registered by the program embedding Python (pyshim "
                         "bridge).",
                         false, fn);
    if (m)
        pys__api.Py_DecRef(m); /* the finder keeps it */
    return m;
}

int pys__br_host_set(pys_runtime *rt, PyObject *host, const char *name, PyObject *value,
                     br_reg *keep, const char *fn)
{
    /* Kill first: replacing the attribute may free the old function, and
     * with it the registration. */
    br_reg *old = pys__br_reg_find(host, name, keep);
    if (old)
        pys__br_reg_kill(old, NULL);
    if (pys__api.PyObject_SetAttrString(host, name, value) < 0)
        return pys__fail_py(rt, fn);
    return PYS_OK;
}
