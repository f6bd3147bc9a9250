/* The object protocol: import, attributes (dotted), calls (vectorcall where
 * the version exports it, 3.9+; a tuple call on 3.8), formats, comparison,
 * repr/str, type checks, context managers and bound modules. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/types.h"
#include "core/call.h"
#include "convert/convert.h"
#include "api/api.h"

#define BEGIN_H(errval)                                                                            \
    pys_runtime *rt = pys__begin_h(__func__);                                                      \
    if (!rt)                                                                                       \
        return errval;

pys_obj pys_import(pys_runtime *rt, const char *module)
{
    if (!pys__begin(rt, __func__))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    if (!module || !*module) {
        pys__fail(__func__, PYS_E_ARG, "pys_import: module name is NULL or empty");
    } else {
        PyObject *m = pys__api.PyImport_ImportModule(module);
        out = pys__h_new_py(rt, m, __func__);
    }
    pys__end(rt);
    return out;
}

/* Walks "a.b.c" from o; returns a new reference or NULL (exception set).
 * With `last`, stops before the last part and stores its name there. It
 * takes its own reference to o before running any Python code, so o may
 * be a handle's borrowed object. */
static PyObject *walk(PyObject *o, const char *name, const char **last)
{
    pys__api.Py_IncRef(o);
    const char *p = name;
    for (;;) {
        const char *dot = strchr(p, '.');
        if (!dot && last) {
            *last = p;
            return o;
        }
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char buf[256];
        char *part = n < sizeof buf ? buf : malloc(n + 1);
        if (!part) {
            pys__api.Py_DecRef(o);
            pys__api.PyErr_SetString(PYS__EXC(MemoryError), "out of memory");
            return NULL;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        PyObject *next = pys__api.PyObject_GetAttrString(o, part);
        if (part != buf)
            free(part);
        pys__api.Py_DecRef(o);
        if (!next)
            return NULL;
        o = next;
        if (!dot)
            return o;
        p = dot + 1;
    }
}

static bool valid_name(const char *name, const char *fn)
{
    if (!name || !*name) {
        pys__fail(fn, PYS_E_ARG, "%s: attribute name is NULL or empty", fn);
        return false;
    }
    size_t n = strlen(name);
    if (name[0] == '.' || name[n - 1] == '.' || strstr(name, "..")) {
        pys__fail(fn, PYS_E_ARG, "%s: malformed dotted name \"%s\"", fn, name);
        return false;
    }
    return true;
}

/* obj.name (dotted) as a new reference, or NULL with the error set. obj is
 * a handle's borrowed object, or NULL (the handle's error set). */
static PyObject *lookup(pys_runtime *rt, PyObject *obj, const char *name, const char *fn)
{
    if (!obj || !valid_name(name, fn))
        return NULL;
    PyObject *r = walk(obj, name, NULL);
    if (!r)
        pys__fail_py(rt, fn);
    return r;
}

/* Whether obj.name (dotted) exists, and with `callable` is callable: 1 or
 * 0 (an AttributeError on the way is a 0), or a negative code with the
 * error set. obj as for lookup. */
static int has_name(pys_runtime *rt, PyObject *obj, const char *name, bool callable,
                    const char *fn)
{
    if (!obj || !valid_name(name, fn))
        return pys_last_error()->code;
    PyObject *r = walk(obj, name, NULL);
    if (r) {
        int rc = !callable || pys__api.PyCallable_Check(r) ? 1 : 0;
        pys__api.Py_DecRef(r);
        return rc;
    }
    if (pys__api.PyErr_ExceptionMatches(PYS__EXC(AttributeError))) {
        pys__api.PyErr_Clear();
        return 0;
    }
    return pys__fail_py(rt, fn);
}

pys_obj pys_getattr(pys_obj o, const char *name)
{
    BEGIN_H(PYS_NULL);
    PyObject *r = lookup(rt, pys__h_get(rt, o, __func__), name, __func__);
    pys_obj out = r ? pys__h_new(rt, r, __func__) : PYS_NULL;
    pys__end(rt);
    return out;
}

static int setattr_common(pys_obj o, const char *name, PyObject *value_or_null, pys_obj value,
                          const char *fn)
{
    pys_runtime *rt = pys__begin_h(fn);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    PyObject *obj = pys__h_get(rt, o, fn);
    PyObject *v = value_or_null;
    if (!obj || !valid_name(name, fn)) {
        rc = pys_last_error()->code;
        goto out;
    }
    if (pys_ok(value)) {
        v = pys__h_ref(rt, value, fn);
        if (!v) {
            rc = PYS_E_HANDLE;
            goto out;
        }
    }
    const char *last = NULL;
    PyObject *target = walk(obj, name, &last);
    if (!target) {
        rc = pys__fail_py(rt, fn);
        goto out;
    }
    if (pys__api.PyObject_SetAttrString(target, last, v) < 0)
        rc = pys__fail_py(rt, fn);
    pys__api.Py_DecRef(target);
out:
    if (v && pys_ok(value))
        pys__api.Py_DecRef(v);
    pys__end(rt);
    return rc;
}

int pys_setattr(pys_obj o, const char *name, pys_obj value)
{
    if (!pys_ok(value))
        return pys__fail(__func__, PYS_E_HANDLE, "pys_setattr: the value handle is invalid");
    return setattr_common(o, name, NULL, value, __func__);
}

int pys_delattr(pys_obj o, const char *name)
{
    return setattr_common(o, name, NULL, PYS_NULL, __func__);
}

int pys_hasattr(pys_obj o, const char *name)
{
    BEGIN_H(pys_last_error()->code);
    int rc = has_name(rt, pys__h_get(rt, o, __func__), name, false, __func__);
    pys__end(rt);
    return rc;
}

/* ---- calls ----------------------------------------------------------------------- */

/* f(*args, **kwargs) with handles for the arguments; a new reference or
 * NULL with the error set. Inline in pys_call / pys_call_kw too (the
 * compiler kept it a call for its second user, pys__call_handles: a frame
 * of ~24 instructions per call). */
static inline __attribute__((always_inline)) PyObject *
call_handles_impl(pys_runtime *rt, PyObject *f, const pys_obj *args, size_t nargs,
                  PyObject *kwargs, const char *name)
{
    if (nargs && !args) {
        pys__fail(name, PYS_E_ARG, "%s: args is NULL but nargs is %zu", name, nargs);
        return NULL;
    }
    /* Python counts arguments in a Py_ssize_t (vectorcall takes the top
     * bit of nargs as a flag), and their vector must fit in memory. */
    if (nargs > (size_t)SSIZE_MAX / sizeof(PyObject *)) {
        pys__fail(name, PYS_E_ARG, "%s: nargs %zu is more than an argument vector can hold",
                  name, nargs);
        return NULL;
    }
    PyObject *stack[8];
    PyObject **argv = nargs ? stack : NULL;
    if (nargs > 8) {
        argv = pys__malloc_n(nargs, sizeof *argv);
        if (!argv) {
            pys__fail(name, PYS_E_NOMEM, "%s: out of memory", name);
            return NULL;
        }
    }
    /* Each argument is a new reference for the call (pys__h_ref). */
    PyObject *r = NULL;
    size_t got = 0;
    for (; got < nargs; got++) {
        argv[got] = pys__h_ref(rt, args[got], name);
        if (!argv[got]) {
            pys__fail(name, PYS_E_HANDLE, "%s: argument %zu is not a live handle", name, got);
            goto out;
        }
    }
    r = pys__call_raw(f, argv, nargs, kwargs);
    if (!r)
        pys__fail_py(rt, name);
out:
    for (size_t i = 0; i < got; i++)
        pys__api.Py_DecRef(argv[i]);
    if (nargs > 8)
        free(argv);
    return r;
}

PyObject *pys__call_handles(pys_runtime *rt, PyObject *f, const pys_obj *args, size_t nargs,
                             PyObject *kwargs, const char *name)
{
    return call_handles_impl(rt, f, args, nargs, kwargs, name);
}

static pys_obj call_handles(pys_obj fn, const pys_obj *args, size_t nargs, pys_obj kwargs,
                            const char *name)
{
    pys_runtime *rt = pys__begin_h(name);
    if (!rt)
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    PyObject *f = pys__h_ref(rt, fn, name);
    PyObject *kw = NULL;
    if (!f)
        goto out;
    if (pys_ok(kwargs)) {
        kw = pys__h_ref(rt, kwargs, name);
        if (!kw)
            goto out;
        if (!pys__need_dict(kw, "kwargs", name))
            goto out;
    }
    PyObject *r = call_handles_impl(rt, f, args, nargs, kw, name);
    if (r)
        out = pys__h_new(rt, r, name);
out:
    if (kw)
        pys__api.Py_DecRef(kw);
    pys__api.Py_DecRef(f);
    pys__end(rt);
    return out;
}

pys_obj pys_call(pys_obj fn, const pys_obj *args, size_t nargs)
{
    return call_handles(fn, args, nargs, PYS_NULL, __func__);
}

pys_obj pys_call_kw(pys_obj fn, const pys_obj *args, size_t nargs, pys_obj kwargs_dict)
{
    return call_handles(fn, args, nargs, kwargs_dict, __func__);
}

/* Calls f with format values as a new handle, or PYS_NULL with the error
 * set; f is borrowed, or NULL when the caller could not get it (its error
 * set; the values are dropped then, and a malformed format's error
 * replaces the caller's). Consumes ap fully. Always inline: pys_callf is
 * measured per instruction. */
static inline __attribute__((always_inline)) pys_obj call_fmt(pys_runtime *rt, PyObject *f,
                                                              const char *fmt, va_list *ap,
                                                              const char *name)
{
    PyObject *r = pys__fmt_call_or_drop(rt, name, f, fmt, ap, false);
    return r ? pys__h_new(rt, r, name) : PYS_NULL;
}

pys_obj pys_vcallf(pys_obj fn, const char *fmt, va_list ap)
{
    BEGIN_H(PYS_NULL);
    va_list aq;
    va_copy(aq, ap);
    PyObject *f = pys__h_ref(rt, fn, __func__);
    if (!f)
        pys__fail(__func__, pys_last_error()->code, "pys_callf: the function handle is not live");
    pys_obj out = call_fmt(rt, f, fmt, &aq, __func__);
    pys__api.Py_DecRef(f);
    va_end(aq);
    pys__end(rt);
    return out;
}

pys_obj pys_callf(pys_obj fn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pys_obj r = pys_vcallf(fn, fmt, ap);
    va_end(ap);
    return r;
}

pys_obj pys_call_method(pys_obj o, const char *name, const char *fmt, ...)
{
    BEGIN_H(PYS_NULL);
    va_list ap;
    va_start(ap, fmt);
    PyObject *m = lookup(rt, pys__h_get(rt, o, __func__), name, __func__);
    /* without m still read the values, so 'N' handles are released */
    pys_obj out = m || fmt ? call_fmt(rt, m, fmt, &ap, __func__) : PYS_NULL;
    pys__api.Py_DecRef(m);
    va_end(ap);
    pys__end(rt);
    return out;
}

/* ---- comparison, text, types ------------------------------------------------- */

/* The predicates of two objects: a's and b's compared by op (cmp), or
 * isinstance(a, b) (!cmp, op unused). 1 or 0, or a negative code with the
 * error set. */
static int binary(pys_obj a, pys_obj b, bool cmp, int op, const char *fn)
{
    pys_runtime *rt = pys__begin_h(fn);
    if (!rt)
        return pys_last_error()->code;
    int rc;
    PyObject *x = pys__h_ref(rt, a, fn);
    PyObject *y = x ? pys__h_ref(rt, b, fn) : NULL;
    if (!x || !y) {
        rc = PYS_E_HANDLE;
    } else if (cmp && (op < PYS_LT || op > PYS_GE)) {
        rc = pys__fail(fn, PYS_E_ARG, "pys_compare: unknown operator %d", op);
    } else {
        rc = cmp ? pys__api.PyObject_RichCompareBool(x, y, op) : pys__api.PyObject_IsInstance(x, y);
        if (rc < 0)
            rc = pys__fail_py(rt, fn);
    }
    pys__api.Py_DecRef(x);
    pys__api.Py_DecRef(y);
    pys__end(rt);
    return rc;
}

int pys_compare(pys_obj a, pys_obj b, pys_cmp op)
{
    return binary(a, b, true, (int)op, __func__);
}

static pys_obj unary(pys_obj o, PyObject *(*f)(PyObject *), const char *name)
{
    pys_runtime *rt = pys__begin_h(name);
    if (!rt)
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    PyObject *obj = pys__h_ref(rt, o, name);
    if (obj) {
        PyObject *r = f(obj);
        pys__api.Py_DecRef(obj);
        out = pys__h_new_py(rt, r, name);
    }
    pys__end(rt);
    return out;
}

pys_obj pys_repr(pys_obj o)
{
    return unary(o, pys__api.PyObject_Repr, __func__);
}

pys_obj pys_str(pys_obj o)
{
    return unary(o, pys__api.PyObject_Str, __func__);
}

pys_obj pys_type(pys_obj o)
{
    return unary(o, pys__api.PyObject_Type, __func__);
}

int pys_type_name(pys_obj o, char *buf, size_t size)
{
    if (!buf || !size)
        return pys__fail(__func__, PYS_E_ARG, "pys_type_name: buffer is NULL or empty");
    buf[0] = '\0';
    BEGIN_H(pys_last_error()->code);
    int rc = PYS_OK;
    PyObject *obj = pys__h_get(rt, o, __func__);
    if (obj)
        pys__type_name(obj, buf, size);
    else
        rc = PYS_E_HANDLE;
    pys__end(rt);
    return rc;
}

static int predicate(pys_obj o, int (*f)(pys_runtime *, PyObject *), const char *name)
{
    pys_runtime *rt = pys__begin_h(name);
    if (!rt)
        return pys_last_error()->code;
    PyObject *obj = pys__h_ref(rt, o, name);
    int rc = obj ? f(rt, obj) : PYS_E_HANDLE;
    if (rc < 0 && obj)
        rc = pys__fail_py(rt, name);
    pys__api.Py_DecRef(obj);
    pys__end(rt);
    return rc;
}

static int is_none_f(pys_runtime *rt, PyObject *o)
{
    return o == PYS__None;
}

static int truthy_f(pys_runtime *rt, PyObject *o)
{
    return pys__api.PyObject_IsTrue(o);
}

static int callable_f(pys_runtime *rt, PyObject *o)
{
    return pys__api.PyCallable_Check(o) ? 1 : 0;
}

int pys_is_none(pys_obj o)
{
    return predicate(o, is_none_f, __func__);
}

int pys_truthy(pys_obj o)
{
    return predicate(o, truthy_f, __func__);
}

int pys_callable(pys_obj o)
{
    return predicate(o, callable_f, __func__);
}

int pys_isinstance(pys_obj o, pys_obj cls)
{
    return binary(o, cls, false, 0, __func__);
}

/* ---- context managers ------------------------------------------------------------ */

int pys_with(pys_obj manager, pys_with_fn body, void *ud)
{
    BEGIN_H(pys_last_error()->code);
    int rc = PYS_OK;
    /* A reference of our own: the body may release the manager's handle. */
    PyObject *mgr = pys__h_ref(rt, manager, __func__);
    PyObject *type = NULL, *enter = NULL, *exit_ = NULL, *value = NULL;
    if (!mgr) {
        rc = PYS_E_HANDLE;
        goto out;
    }
    if (!body) {
        rc = pys__fail(__func__, PYS_E_ARG, "pys_with: body is NULL");
        goto out;
    }
    /* Like the with statement: look the methods up on the type. */
    type = pys__api.PyObject_Type(mgr);
    enter = pys__api.PyObject_GetAttrString(type, "__enter__");
    exit_ = enter ? pys__api.PyObject_GetAttrString(type, "__exit__") : NULL;
    if (!enter || !exit_) {
        if (pys__api.PyErr_ExceptionMatches(PYS__EXC(AttributeError))) {
            pys__api.PyErr_Clear();
            char tn[128];
            rc = pys__fail(__func__, PYS_E_TYPE,
                           "pys_with: %s does not support the context manager protocol",
                           pys__type_name(mgr, tn, sizeof tn));
        } else {
            rc = pys__fail_py(rt, __func__);
        }
        goto out;
    }
    value = pys__call_raw(enter, &mgr, 1, NULL);
    if (!value) {
        rc = pys__fail_py(rt, __func__);
        goto out;
    }
    pys__api.Py_IncRef(value);
    pys_obj hv = pys__h_new(rt, value, __func__);
    pys__tls *t = pys__tls_get();
    t->capture_depth++;
    int brc = body(hv, ud);
    t->capture_depth--;
    PyObject *exc = t->captured_exc;
    t->captured_exc = NULL;
    pys__h_release(rt, hv, NULL);
    PyObject *args[4] = {mgr, PYS__None, PYS__None, PYS__None};
    if (brc != PYS_OK) {
        if (!exc) {
            /* A pyshim failure with no Python exception behind it: give
             * __exit__ a RuntimeError carrying the pyshim message. */
            const pys_error *e = pys_last_error();
            PyObject *msg = pys__api.PyUnicode_FromString(e->message);
            exc = msg ? pys__call_raw(PYS__EXC(RuntimeError), &msg, 1, NULL) : NULL;
            pys__api.Py_DecRef(msg);
            if (!exc)
                pys__api.PyErr_Clear();
        }
        if (exc) {
            args[1] = pys__api.PyObject_Type(exc);
            args[2] = exc;
            args[3] = pys__api.PyException_GetTraceback(exc);
            if (!args[3])
                args[3] = PYS__None, pys__api.Py_IncRef(PYS__None);
        }
    }
    PyObject *r = pys__call_raw(exit_, args, 4, NULL);
    if (exc) {
        pys__api.Py_DecRef(args[1]);
        pys__api.Py_DecRef(args[3]);
        pys__api.Py_DecRef(exc);
    }
    if (!r) {
        rc = pys__fail_py(rt, __func__);
    } else {
        int suppress = brc != PYS_OK ? pys__api.PyObject_IsTrue(r) : 0;
        pys__api.Py_DecRef(r);
        if (suppress < 0)
            rc = pys__fail_py(rt, __func__);
        else if (suppress > 0)
            rc = PYS_OK;
        else
            rc = brc;
    }
    pys__api.Py_DecRef(value);
out:
    pys__api.Py_DecRef(type);
    pys__api.Py_DecRef(enter);
    pys__api.Py_DecRef(exit_);
    pys__api.Py_DecRef(mgr);
    pys__end(rt);
    return rc;
}

/* ---- bound modules ---------------------------------------------------------------- */

struct pys_bound {
    pys_runtime *rt;
    pys_obj module;
};

pys_bound *pys_bind(pys_runtime *rt, const char *module)
{
    pys_obj m = pys_import(rt, module);
    if (!pys_ok(m))
        return NULL;
    pys_bound *b = malloc(sizeof *b);
    if (!b) {
        pys_release(m);
        pys__fail(__func__, PYS_E_NOMEM, "pys_bind: out of memory");
        return NULL;
    }
    b->rt = rt;
    b->module = m;
    /* Bound modules outlive scopes: take the module out of any open one. */
    pys__tls *t = pys__tls_get();
    if (t->scope_n && t->scope_ids[t->scope_n - 1] == m.id)
        t->scope_n--;
    return b;
}

void pys_unbind(pys_bound *b)
{
    if (!b)
        return;
    if (pys__rt_live(b->rt))
        pys_release(b->module);
    free(b);
}

pys_obj pys_bound_module(pys_bound *b)
{
    if (!b) {
        pys__fail(__func__, PYS_E_ARG, "pys_bound_module: NULL");
        return PYS_NULL;
    }
    return pys_dup(b->module);
}

int pys_bound_has(pys_bound *b, const char *name)
{
    if (!b)
        return pys__fail(__func__, PYS_E_ARG, "pys_bound_has: NULL");
    BEGIN_H(pys_last_error()->code);
    int rc = has_name(rt, pys__h_get(rt, b->module, __func__), name, true, __func__);
    pys__end(rt);
    return rc;
}

pys_obj pys_bound_names(pys_bound *b)
{
    if (!b) {
        pys__fail(__func__, PYS_E_ARG, "pys_bound_names: NULL");
        return PYS_NULL;
    }
    BEGIN_H(PYS_NULL);
    pys_obj out = PYS_NULL;
    PyObject *m = pys__h_ref(rt, b->module, __func__);
    PyObject *names = m ? pys__api.PyObject_Dir(m) : NULL;
    PyObject *list = names ? pys__api.PyList_New(0) : NULL;
    if (m && !list) {
        pys__fail_py(rt, __func__);
        goto out;
    }
    for (Py_ssize_t i = 0; list && i < pys__api.PyList_Size(names); i++) {
        PyObject *n = pys__api.PyList_GetItem(names, i); /* borrowed */
        const char *s = pys__api.PyUnicode_AsUTF8AndSize(n, NULL);
        if (!s || s[0] == '_') {
            pys__api.PyErr_Clear();
            continue;
        }
        PyObject *f = pys__api.PyObject_GetAttr(m, n);
        if (!f) {
            pys__api.PyErr_Clear();
            continue;
        }
        if (pys__api.PyCallable_Check(f))
            pys__api.PyList_Append(list, n);
        pys__api.Py_DecRef(f);
    }
    if (list)
        out = pys__h_new(rt, list, __func__);
out:
    pys__api.Py_DecRef(names);
    pys__api.Py_DecRef(m);
    pys__end(rt);
    return out;
}

pys_obj pys_bound_call(pys_bound *b, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!b) {
        va_end(ap);
        pys__fail(__func__, PYS_E_ARG, "pys_bound_call: NULL");
        return PYS_NULL;
    }
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt) {
        va_end(ap);
        return PYS_NULL;
    }
    PyObject *f = lookup(rt, pys__h_get(rt, b->module, __func__), name, __func__);
    /* without f still read the values, so 'N' handles are released */
    pys_obj out = f || fmt ? call_fmt(rt, f, fmt, &ap, __func__) : PYS_NULL;
    pys__api.Py_DecRef(f);
    va_end(ap);
    pys__end(rt);
    return out;
}
