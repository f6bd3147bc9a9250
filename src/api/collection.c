/* Collections: constructors from handle arrays and formats, item access by
 * object / index / string key, membership, length, mapping views and
 * iteration (end distinguishable from error). */
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/types.h"
#include "core/call.h"
#include "convert/convert.h"
#include "convert/scalar.h"

#define BEGIN_H(errval)                                                                            \
    pys_runtime *rt = pys__begin_h(__func__);                                                      \
    if (!rt)                                                                                       \
        return errval;

/* A new list of the handles' objects, or NULL (error set). */
static PyObject *list_of(pys_runtime *rt, const pys_obj *items, size_t n, const char *fn)
{
    if (n && !items) {
        pys__fail(fn, PYS_E_ARG, "%s: items is NULL but n is %zu", fn, n);
        return NULL;
    }
    if (n > (size_t)PTRDIFF_MAX / sizeof(void *)) {
        pys__fail(fn, PYS_E_OVERFLOW, "%s: n is too large", fn);
        return NULL;
    }
    PyObject *l = pys__api.PyList_New((Py_ssize_t)n);
    if (!l) {
        pys__fail_py(rt, fn);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        PyObject *o = pys__h_get(rt, items[i], fn);
        if (!o) {
            pys__fail(fn, PYS_E_HANDLE, "%s: item %zu is not a live handle", fn, i);
            pys__api.Py_DecRef(l);
            return NULL;
        }
        pys__api.Py_IncRef(o);
        pys__api.PyList_SetItem(l, (Py_ssize_t)i, o);
    }
    return l;
}

enum { K_LIST, K_TUPLE, K_SET, K_FROZENSET };

static pys_obj make(pys_runtime *rt, const pys_obj *items, size_t n, int kind, const char *fn)
{
    if (!pys__begin(rt, fn))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    PyObject *l = list_of(rt, items, n, fn);
    if (l) {
        PyObject *r = l;
        if (kind == K_TUPLE)
            r = pys__api.PySequence_Tuple(l);
        else if (kind == K_SET)
            r = pys__api.PySet_New(l);
        else if (kind == K_FROZENSET)
            r = pys__api.PyFrozenSet_New(l);
        if (r != l)
            pys__api.Py_DecRef(l);
        out = pys__h_new_py(rt, r, fn);
    }
    pys__end(rt);
    return out;
}

pys_obj pys_list_new(pys_runtime *rt, const pys_obj *items, size_t n)
{
    return make(rt, items, n, K_LIST, __func__);
}

pys_obj pys_tuple_new(pys_runtime *rt, const pys_obj *items, size_t n)
{
    return make(rt, items, n, K_TUPLE, __func__);
}

pys_obj pys_set_new(pys_runtime *rt, const pys_obj *items, size_t n)
{
    return make(rt, items, n, K_SET, __func__);
}

pys_obj pys_frozenset_new(pys_runtime *rt, const pys_obj *items, size_t n)
{
    return make(rt, items, n, K_FROZENSET, __func__);
}

pys_obj pys_dict_new(pys_runtime *rt)
{
    if (!pys__begin(rt, __func__))
        return PYS_NULL;
    pys_obj out = pys__h_new_py(rt, pys__api.PyDict_New(), __func__);
    pys__end(rt);
    return out;
}

pys_obj pys_vbuild(pys_runtime *rt, const char *fmt, va_list ap)
{
    if (!pys__begin(rt, __func__))
        return PYS_NULL;
    va_list aq;
    va_copy(aq, ap);
    int rc;
    PyObject *v = pys__fmt_build(rt, __func__, fmt, &aq, &rc);
    va_end(aq);
    pys_obj out = v ? pys__h_new(rt, v, __func__) : PYS_NULL;
    pys__end(rt);
    return out;
}

pys_obj pys_build(pys_runtime *rt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pys_obj r = pys_vbuild(rt, fmt, ap);
    va_end(ap);
    return r;
}

int pys_len(pys_obj o, size_t *out)
{
    if (!out)
        return pys__fail(__func__, PYS_E_ARG, "pys_len: out is NULL");
    BEGIN_H(pys_last_error()->code);
    int rc = PYS_OK;
    PyObject *obj = pys__h_ref(rt, o, __func__); /* __len__ may run */
    if (!obj) {
        rc = PYS_E_HANDLE;
    } else {
        Py_ssize_t n = pys__api.PyObject_Size(obj);
        if (n < 0) {
            if (pys__api.PyErr_ExceptionMatches(PYS__EXC(TypeError))) {
                pys__api.PyErr_Clear();
                char tn[128];
                rc = pys__fail(__func__, PYS_E_TYPE, "pys_len: object of type %s has no len()",
                               pys__type_name(obj, tn, sizeof tn));
            } else {
                rc = pys__fail_py(rt, __func__);
            }
        } else {
            *out = (size_t)n;
        }
        pys__api.Py_DecRef(obj);
    }
    pys__end(rt);
    return rc;
}

/* Key kinds for the item functions. */
typedef struct key {
    pys_obj h;
    const char *s;
    int64_t index;
    int kind; /* 0 object, 1 string, 2 index */
} key;

/* A new reference to the key object, or NULL (error set). */
static PyObject *key_obj(pys_runtime *rt, const key *k, const char *fn)
{
    if (k->kind == 1) {
        if (!k->s) {
            pys__fail(fn, PYS_E_ARG, "%s: key is NULL", fn);
            return NULL;
        }
        PyObject *s = pys__api.PyUnicode_FromString(k->s);
        if (!s)
            pys__fail_py(rt, fn);
        return s;
    }
    if (k->kind == 2) {
        PyObject *i = pys__api.PyLong_FromLongLong(k->index);
        if (!i)
            pys__fail_py(rt, fn);
        return i;
    }
    PyObject *o = pys__h_get(rt, k->h, fn);
    if (o)
        pys__api.Py_IncRef(o);
    return o;
}

/* obj[index] for an exact list or tuple with index in range (negative
 * counts from the end): a new reference, or NULL (nothing set) to take the
 * general path. GIL builds only: on free-threaded builds the borrowed item
 * of a list could be freed by another thread before it is increfed. */
static inline PyObject *index_fast(pys_runtime *rt, PyObject *obj, int64_t index)
{
    PyObject *ty = pys__type_of(obj);
    bool list = ty == (PyObject *)pys__api.PyList_Type;
    if ((!list && ty != (PyObject *)pys__api.PyTuple_Type) || rt->free_threaded)
        return NULL;
    Py_ssize_t n = list ? pys__api.PyList_Size(obj) : pys__api.PyTuple_Size(obj);
    if (index < 0)
        index += n;
    if (index < 0 || index >= n)
        return NULL; /* the general path raises IndexError */
    PyObject *r = list ? pys__api.PyList_GetItem(obj, (Py_ssize_t)index)
                       : pys__api.PyTuple_GetItem(obj, (Py_ssize_t)index);
    if (r)
        pys__api.Py_IncRef(r);
    return r;
}

/* obj[k] as a new reference, or NULL with the error set. obj is o's object
 * (borrowed, NULL if o is not live: error set). */
static PyObject *item_of(pys_runtime *rt, PyObject *obj, const key *k, const char *fn)
{
    if (!obj)
        return NULL;
    if (k->kind == 2) {
        PyObject *r = index_fast(rt, obj, k->index); /* runs no Python code */
        if (r)
            return r;
    }
    /* The general path can run Python code (__getitem__, a key's __eq__). */
    pys__api.Py_IncRef(obj);
    PyObject *r = NULL, *ko = key_obj(rt, k, fn);
    if (ko) {
        r = pys__api.PyObject_GetItem(obj, ko);
        if (!r)
            pys__fail_py(rt, fn);
        pys__api.Py_DecRef(ko);
    }
    pys__api.Py_DecRef(obj);
    return r;
}

static pys_obj get_item(pys_obj o, const key *k, const char *fn)
{
    pys__tls *t = pys__tls_get();
    pys_runtime *rt = pys__begin_t(&pys__the_runtime, fn, t);
    if (!rt)
        return PYS_NULL;
    PyObject *r = item_of(rt, pys__h_get(rt, o, fn), k, fn);
    pys_obj out = r ? pys__h_new_fast(rt, r, fn) : PYS_NULL;
    pys__end_t(rt, t);
    return out;
}

/* The new reference v read into *out (kind 0: int64_t, 1: double) with the
 * checks of pys_to_int64 / pys_to_double, then dropped: PYS_OK or the code. */
static inline __attribute__((always_inline)) int read_as(PyObject *v, int kind, void *out,
                                                        const char *fn)
{
    int rc = kind == 0 ? pys__as_int64_in(v, out, fn) : pys__as_double(v, out, fn);
    pys__api.Py_DecRef(v);
    return rc;
}

/* obj[k] read into a C value (kind as read_as) without a handle for the
 * item: the same lookup as get_item. */
static int get_item_as(pys_obj o, const key *k, int kind, void *out, const char *fn)
{
    if (!out)
        return pys__fail(fn, PYS_E_ARG, "%s: out is NULL", fn);
    pys__tls *t = pys__tls_get();
    pys_runtime *rt = pys__begin_t(&pys__the_runtime, fn, t);
    if (!rt)
        return pys_last_error()->code;
    PyObject *r = item_of(rt, pys__h_get(rt, o, fn), k, fn);
    int rc = r ? read_as(r, kind, out, fn) : pys_last_error()->code;
    pys__end_t(rt, t);
    return rc;
}

int pys_getitem_str_int64(pys_obj o, const char *k, int64_t *out)
{
    key kk = {.s = k, .kind = 1};
    return get_item_as(o, &kk, 0, out, __func__);
}

int pys_getitem_str_double(pys_obj o, const char *k, double *out)
{
    key kk = {.s = k, .kind = 1};
    return get_item_as(o, &kk, 1, out, __func__);
}

int pys_getitem_index_int64(pys_obj o, int64_t index, int64_t *out)
{
    key kk = {.index = index, .kind = 2};
    return get_item_as(o, &kk, 0, out, __func__);
}

int pys_getitem_index_double(pys_obj o, int64_t index, double *out)
{
    key kk = {.index = index, .kind = 2};
    return get_item_as(o, &kk, 1, out, __func__);
}

enum { OP_SET, OP_DEL, OP_CONTAINS };

/* obj[k] = value, del obj[k] or k in obj (op), for o's object: PYS_OK (set,
 * del), 1 or 0 (contains), or a negative code with the error set. value
 * is read for OP_SET only. */
static int keyed_op(pys_obj o, const key *k, pys_obj value, int op, const char *fn)
{
    pys_runtime *rt = pys__begin_h(fn);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    PyObject *obj = pys__h_ref(rt, o, fn);
    PyObject *v = obj && op == OP_SET ? pys__h_ref(rt, value, fn) : NULL;
    PyObject *ko = obj && (op != OP_SET || v) ? key_obj(rt, k, fn) : NULL;
    if (!ko) {
        rc = pys_last_error()->code;
    } else {
        int r = op == OP_SET   ? pys__api.PyObject_SetItem(obj, ko, v)
                : op == OP_DEL ? pys__api.PyObject_DelItem(obj, ko)
                               : pys__api.PySequence_Contains(obj, ko);
        if (r < 0)
            rc = pys__fail_py(rt, fn);
        else if (op == OP_CONTAINS)
            rc = r;
        pys__api.Py_DecRef(ko);
    }
    pys__api.Py_DecRef(v);
    pys__api.Py_DecRef(obj);
    pys__end(rt);
    return rc;
}

pys_obj pys_getitem(pys_obj o, pys_obj k)
{
    key kk = {.h = k, .kind = 0};
    return get_item(o, &kk, __func__);
}

pys_obj pys_getitem_index(pys_obj o, int64_t index)
{
    key kk = {.index = index, .kind = 2};
    return get_item(o, &kk, __func__);
}

pys_obj pys_getitem_str(pys_obj o, const char *k)
{
    key kk = {.s = k, .kind = 1};
    return get_item(o, &kk, __func__);
}

int pys_setitem(pys_obj o, pys_obj k, pys_obj value)
{
    key kk = {.h = k, .kind = 0};
    return keyed_op(o, &kk, value, OP_SET, __func__);
}

int pys_setitem_index(pys_obj o, int64_t index, pys_obj value)
{
    key kk = {.index = index, .kind = 2};
    return keyed_op(o, &kk, value, OP_SET, __func__);
}

int pys_setitem_str(pys_obj o, const char *k, pys_obj value)
{
    key kk = {.s = k, .kind = 1};
    return keyed_op(o, &kk, value, OP_SET, __func__);
}

int pys_delitem(pys_obj o, pys_obj k)
{
    key kk = {.h = k, .kind = 0};
    return keyed_op(o, &kk, PYS_NULL, OP_DEL, __func__);
}

int pys_delitem_index(pys_obj o, int64_t index)
{
    key kk = {.index = index, .kind = 2};
    return keyed_op(o, &kk, PYS_NULL, OP_DEL, __func__);
}

int pys_delitem_str(pys_obj o, const char *k)
{
    key kk = {.s = k, .kind = 1};
    return keyed_op(o, &kk, PYS_NULL, OP_DEL, __func__);
}

int pys_contains(pys_obj o, pys_obj k)
{
    key kk = {.h = k, .kind = 0};
    return keyed_op(o, &kk, PYS_NULL, OP_CONTAINS, __func__);
}

int pys_contains_str(pys_obj o, const char *k)
{
    key kk = {.s = k, .kind = 1};
    return keyed_op(o, &kk, PYS_NULL, OP_CONTAINS, __func__);
}

static int add(pys_obj c, pys_obj item, bool set, const char *fn)
{
    pys_runtime *rt = pys__begin_h(fn);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    PyObject *co = pys__h_ref(rt, c, fn); /* hashing the item runs Python code */
    PyObject *io = co ? pys__h_ref(rt, item, fn) : NULL;
    if (!io) {
        rc = PYS_E_HANDLE;
    } else {
        unsigned long fl = pys__tp_flags(co);
        bool ok = set ? pys__is(co, pys__api.PySet_Type) != 0 : (fl & PYS__Py_TPFLAGS_LIST_SUBCLASS) != 0;
        if (!ok) {
            char tn[128];
            rc = pys__fail(fn, PYS_E_TYPE, "%s: expected a %s, got %s", fn, set ? "set" : "list",
                           pys__type_name(co, tn, sizeof tn));
        } else if ((set ? pys__api.PySet_Add(co, io) : pys__api.PyList_Append(co, io)) < 0) {
            rc = pys__fail_py(rt, fn);
        }
    }
    pys__api.Py_DecRef(io);
    pys__api.Py_DecRef(co);
    pys__end(rt);
    return rc;
}

int pys_append(pys_obj list, pys_obj item)
{
    return add(list, item, false, __func__);
}

int pys_set_add(pys_obj set, pys_obj item)
{
    return add(set, item, true, __func__);
}

/* list(mapping.keys()) etc. through the method, so any mapping works. */
static pys_obj view(pys_obj m, const char *method, const char *fn)
{
    pys_runtime *rt = pys__begin_h(fn);
    if (!rt)
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    PyObject *obj = pys__h_ref(rt, m, fn);
    if (obj) {
        PyObject *r = NULL;
        if (pys__tp_flags(obj) & PYS__Py_TPFLAGS_DICT_SUBCLASS) {
            r = method[0] == 'k'   ? pys__api.PyDict_Keys(obj)
                : method[0] == 'v' ? pys__api.PyDict_Values(obj)
                                   : pys__api.PyDict_Items(obj);
        } else {
            PyObject *f = pys__api.PyObject_GetAttrString(obj, method);
            PyObject *v = f ? pys__call3(f, NULL, NULL, NULL) : NULL;
            r = v ? pys__api.PySequence_List(v) : NULL;
            pys__api.Py_DecRef(f);
            pys__api.Py_DecRef(v);
        }
        out = pys__h_new_py(rt, r, fn);
        pys__api.Py_DecRef(obj);
    }
    pys__end(rt);
    return out;
}

pys_obj pys_keys(pys_obj m)
{
    return view(m, "keys", __func__);
}

pys_obj pys_values(pys_obj m)
{
    return view(m, "values", __func__);
}

pys_obj pys_items(pys_obj m)
{
    return view(m, "items", __func__);
}

pys_obj pys_iter(pys_obj o)
{
    BEGIN_H(PYS_NULL);
    pys_obj out = PYS_NULL;
    PyObject *obj = pys__h_ref(rt, o, __func__);
    if (obj) {
        PyObject *it = pys__api.PyObject_GetIter(obj);
        pys__api.Py_DecRef(obj);
        out = pys__h_new_py(rt, it, __func__);
    }
    pys__end(rt);
    return out;
}

/* next(it) for the iterator behind handle it: a new reference to the item,
 * or NULL with *rc set: 0 at the end, or a negative code with the error set
 * (PYS_E_HANDLE, PYS_E_TYPE for no iterator, the iterator's exception).
 * fn names the public call in the messages. */
static inline __attribute__((always_inline)) PyObject *iter_step(pys_runtime *rt, pys_obj it,
                                                             int *rc, const char *fn)
{
    PyObject *i = pys__h_ref(rt, it, fn); /* __next__ may release it */
    if (!i) {
        *rc = PYS_E_HANDLE;
        return NULL;
    }
    PyObject *v = NULL;
    if (!pys__api.PyIter_Check(i)) {
        char tn[128];
        *rc = pys__fail(fn, PYS_E_TYPE, "%s: %s is not an iterator (use pys_iter first)", fn,
                        pys__type_name(i, tn, sizeof tn));
    } else if (!(v = pys__api.PyIter_Next(i))) {
        *rc = pys__api.PyErr_Occurred() ? pys__fail_py(rt, fn) : 0;
    }
    pys__api.Py_DecRef(i);
    return v;
}

int pys_iter_next_into(pys_obj it, pys_obj *slot)
{
    if (!slot)
        return pys__fail(__func__, PYS_E_ARG, "pys_iter_next_into: slot is NULL");
    pys__tls *t = pys__tls_get();
    pys_runtime *rt = pys__begin_t(&pys__the_runtime, __func__, t);
    if (!rt) {
        *slot = PYS_NULL; /* a closed runtime dropped every handle */
        return pys_last_error()->code;
    }
    int rc;
    if (slot->id && !pys__h_get(rt, *slot, __func__)) {
        rc = PYS_E_HANDLE; /* *slot is not the caller's to reuse */
        *slot = PYS_NULL;
        goto out;
    }
    PyObject *v = iter_step(rt, it, &rc, __func__);
    if (v) {
        /* __next__ may have released *slot meanwhile: then a new one. */
        if (slot->id && pys__h_reuse(rt, slot, v)) {
            rc = 1;
            goto out;
        }
        if (slot->id)
            pys__h_release(rt, *slot, NULL);
        *slot = pys__h_new_fast(rt, v, __func__);
        rc = pys_ok(*slot) ? 1 : PYS_E_NOMEM;
        goto out;
    }
    if (slot->id) {
        pys__h_release(rt, *slot, NULL); /* not live any more: nothing to do */
        *slot = PYS_NULL;
    }
out:
    pys__end_t(rt, t);
    return rc;
}

int pys_iter_next(pys_obj it, pys_obj *item)
{
    if (!item)
        return pys__fail(__func__, PYS_E_ARG, "pys_iter_next: item is NULL");
    *item = PYS_NULL;
    BEGIN_H(pys_last_error()->code);
    int rc;
    PyObject *v = iter_step(rt, it, &rc, __func__);
    if (v) {
        *item = pys__h_new(rt, v, __func__);
        rc = pys_ok(*item) ? 1 : PYS_E_NOMEM;
    }
    pys__end(rt);
    return rc;
}

/* next(it) read into a C value (kind as read_as) with no handle for the
 * item. */
static inline __attribute__((always_inline)) int iter_next_as(pys_obj it, int kind, void *out,
                                                             const char *fn)
{
    if (!out)
        return pys__fail(fn, PYS_E_ARG, "%s: out is NULL", fn);
    pys__tls *t = pys__tls_get();
    pys_runtime *rt = pys__begin_t(&pys__the_runtime, fn, t);
    if (!rt)
        return pys_last_error()->code;
    int rc;
    PyObject *v = iter_step(rt, it, &rc, fn);
    if (v && (rc = read_as(v, kind, out, fn)) == PYS_OK)
        rc = 1;
    pys__end_t(rt, t);
    return rc;
}

int pys_iter_next_int64(pys_obj it, int64_t *out)
{
    return iter_next_as(it, 0, out, __func__);
}

int pys_iter_next_double(pys_obj it, double *out)
{
    return iter_next_as(it, 1, out, __func__);
}
