/* Bulk numeric conversions between C arrays and Python sequences, without
 * a handle per element. Lists and tuples are read through their borrowed
 * item accessors; other sequences through the sequence protocol. */
#include <stdlib.h>

#include "internal.h"

static pys_obj list_from(pys_runtime *rt, const void *v, size_t n, bool dbl, const char *fn)
{
    if (!pys__begin(rt, fn))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    if (n && !v) {
        pys__fail(fn, PYS_E_ARG, "%s: array is NULL but n is %zu", fn, n);
        goto out;
    }
    if (n > (size_t)PTRDIFF_MAX / sizeof(void *)) {
        pys__fail(fn, PYS_E_OVERFLOW, "%s: n is too large", fn);
        goto out;
    }
    PyObject *l = pys__api.PyList_New((Py_ssize_t)n);
    if (!l) {
        pys__fail_py(rt, fn);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        PyObject *x = dbl ? pys__api.PyFloat_FromDouble(((const double *)v)[i])
                          : pys__api.PyLong_FromLongLong(((const int64_t *)v)[i]);
        if (!x) {
            pys__api.Py_DecRef(l);
            pys__fail_py(rt, fn);
            goto out;
        }
        pys__api.PyList_SetItem(l, (Py_ssize_t)i, x);
    }
    out = pys__h_new(rt, l, fn);
out:
    pys__end(rt);
    return out;
}

pys_obj pys_list_from_doubles(pys_runtime *rt, const double *v, size_t n)
{
    return list_from(rt, v, n, true, __func__);
}

pys_obj pys_list_from_int64s(pys_runtime *rt, const int64_t *v, size_t n)
{
    return list_from(rt, v, n, false, __func__);
}

static int to_array(pys_obj seq, void *out, size_t cap, size_t *n_out, bool dbl, const char *fn)
{
    if (!n_out || (cap && !out))
        return pys__fail(fn, PYS_E_ARG, "%s: NULL output", fn);
    pys_runtime *rt = pys__begin_h(fn);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    PyObject *s = pys__h_get(rt, seq, fn);
    if (!s) {
        rc = PYS_E_HANDLE;
        goto out;
    }
    unsigned long fl = pys__tp_flags(s);
    bool list = fl & PYS__Py_TPFLAGS_LIST_SUBCLASS, tuple = fl & PYS__Py_TPFLAGS_TUPLE_SUBCLASS;
    if (!list && !tuple && !pys__api.PySequence_Check(s)) {
        char tn[128];
        rc = pys__fail(fn, PYS_E_TYPE, "%s: expected a sequence, got %s", fn,
                       pys__type_name(s, tn, sizeof tn));
        goto out;
    }
    Py_ssize_t n = pys__api.PySequence_Size(s);
    if (n < 0) {
        rc = pys__fail_py(rt, fn);
        goto out;
    }
    *n_out = (size_t)n;
    if ((size_t)n > cap) {
        rc = pys__fail(fn, PYS_E_OVERFLOW, "%s: the sequence has %zd items but cap is %zu", fn,
                       n, cap);
        goto out;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = list    ? pys__api.PyList_GetItem(s, i)
                      : tuple ? pys__api.PyTuple_GetItem(s, i)
                              : pys__api.PySequence_GetItem(s, i);
        if (!x) {
            rc = pys__fail_py(rt, fn);
            goto out;
        }
        rc = dbl ? pys__as_double(x, &((double *)out)[i], fn)
                 : pys__as_int64(x, &((int64_t *)out)[i], fn);
        if (!list && !tuple)
            pys__api.Py_DecRef(x);
        if (rc != PYS_OK) {
            const pys_error *e = pys_last_error();
            pys__fail(fn, rc, "%s (item %zd)", e->message, i);
            goto out;
        }
    }
out:
    pys__end(rt);
    return rc;
}

int pys_to_doubles(pys_obj seq, double *out, size_t cap, size_t *n_out)
{
    return to_array(seq, out, cap, n_out, true, __func__);
}

int pys_to_int64s(pys_obj seq, int64_t *out, size_t cap, size_t *n_out)
{
    return to_array(seq, out, cap, n_out, false, __func__);
}
