/* Bulk numeric conversions between C arrays (double, float, int64_t,
 * int32_t) and Python lists, tuples, sequences and buffers, without a
 * handle per element.
 *
 * Building uses PyList_New/PyTuple_New and the SetItem functions (the
 * macros are struct layouts). Reading a list or tuple uses the borrowed
 * GetItem functions and one conversion call per item: PyFloat_AsDouble for
 * float targets (float, int, __float__, __index__), and for int targets
 * PyLong_AsLongLongAndOverflow, which on 3.10+ takes only int and
 * __index__; 3.8/3.9 would also truncate floats through __int__, so there
 * items go through PyNumber_Index first. A buffer exporter with a numeric
 * format is read straight from its memory (memcpy when the format already
 * is the target's), range-checked per element. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/types.h"
#include "convert/buffer.h"

static const size_t elem_size[] = {sizeof(double), sizeof(float), sizeof(int64_t),
                                   sizeof(int32_t)};
static const char *const elem_name[] = {"double", "float", "int64_t", "int32_t"};

static bool elem_ok(pys_elem t)
{
    return (unsigned)t <= PYS_ELEM_INT32;
}

/* ---- C -> Python ------------------------------------------------------------------------ */

#define FILL(T, MAKE)                                                                              \
    do {                                                                                           \
        const T *a = v;                                                                            \
        for (size_t i = 0; i < n; i++) {                                                           \
            PyObject *x = MAKE(a[i]);                                                              \
            if (!x)                                                                                \
                goto fail;                                                                         \
            set(seq, (Py_ssize_t)i, x);                                                            \
        }                                                                                          \
    } while (0)

static PyObject *mk_double(double d)
{
    return pys__api.PyFloat_FromDouble(d);
}
static PyObject *mk_int(long long x)
{
    return pys__api.PyLong_FromLongLong(x);
}

static pys_obj seq_from(pys_runtime *rt, pys_elem t, const void *v, size_t n, bool tuple,
                        const char *fn)
{
    if (!pys__begin(rt, fn))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    if (!elem_ok(t)) {
        pys__fail(fn, PYS_E_ARG, "%s: unknown element type %d", fn, (int)t);
        goto out;
    }
    if (n && !v) {
        pys__fail(fn, PYS_E_ARG, "%s: array is NULL but n is %zu", fn, n);
        goto out;
    }
    if (n > (size_t)PTRDIFF_MAX / sizeof(void *)) {
        pys__fail(fn, PYS_E_OVERFLOW, "%s: n is too large", fn);
        goto out;
    }
    PyObject *seq = tuple ? pys__api.PyTuple_New((Py_ssize_t)n) : pys__api.PyList_New((Py_ssize_t)n);
    if (!seq) {
        pys__fail_py(rt, fn);
        goto out;
    }
    int (*set)(PyObject *, Py_ssize_t, PyObject *) =
        tuple ? pys__api.PyTuple_SetItem : pys__api.PyList_SetItem;
    switch (t) {
    case PYS_ELEM_DOUBLE: FILL(double, mk_double); break;
    case PYS_ELEM_FLOAT: FILL(float, mk_double); break;
    case PYS_ELEM_INT64: FILL(int64_t, mk_int); break;
    case PYS_ELEM_INT32: FILL(int32_t, mk_int); break;
    }
    out = pys__h_new(rt, seq, fn);
    goto out;
fail:
    pys__api.Py_DecRef(seq);
    pys__fail_py(rt, fn);
out:
    pys__end(rt);
    return out;
}

pys_obj pys_list_from_array(pys_runtime *rt, pys_elem t, const void *v, size_t n)
{
    return seq_from(rt, t, v, n, false, __func__);
}
pys_obj pys_tuple_from_array(pys_runtime *rt, pys_elem t, const void *v, size_t n)
{
    return seq_from(rt, t, v, n, true, __func__);
}
pys_obj pys_list_from_doubles(pys_runtime *rt, const double *v, size_t n)
{
    return seq_from(rt, PYS_ELEM_DOUBLE, v, n, false, __func__);
}
pys_obj pys_list_from_floats(pys_runtime *rt, const float *v, size_t n)
{
    return seq_from(rt, PYS_ELEM_FLOAT, v, n, false, __func__);
}
pys_obj pys_list_from_int64s(pys_runtime *rt, const int64_t *v, size_t n)
{
    return seq_from(rt, PYS_ELEM_INT64, v, n, false, __func__);
}
pys_obj pys_list_from_int32s(pys_runtime *rt, const int32_t *v, size_t n)
{
    return seq_from(rt, PYS_ELEM_INT32, v, n, false, __func__);
}
pys_obj pys_tuple_from_doubles(pys_runtime *rt, const double *v, size_t n)
{
    return seq_from(rt, PYS_ELEM_DOUBLE, v, n, true, __func__);
}
pys_obj pys_tuple_from_floats(pys_runtime *rt, const float *v, size_t n)
{
    return seq_from(rt, PYS_ELEM_FLOAT, v, n, true, __func__);
}
pys_obj pys_tuple_from_int64s(pys_runtime *rt, const int64_t *v, size_t n)
{
    return seq_from(rt, PYS_ELEM_INT64, v, n, true, __func__);
}
pys_obj pys_tuple_from_int32s(pys_runtime *rt, const int32_t *v, size_t n)
{
    return seq_from(rt, PYS_ELEM_INT32, v, n, true, __func__);
}

/* ---- storing one value ------------------------------------------------------------------ */

/* The per-element helpers are forced inline into the loops (the element
 * loop is the whole cost of a bulk conversion); their error paths are not. */
#define HOT static inline __attribute__((always_inline))
#define COLD static __attribute__((noinline, cold))

COLD int overflow_at(const char *fn, Py_ssize_t i, const char *what, pys_elem t)
{
    return pys__fail(fn, PYS_E_OVERFLOW, "%s: item %zd: %s does not fit in %s", fn, i, what,
                     elem_name[t]);
}

COLD int float_overflow(const char *fn, Py_ssize_t i, double d, pys_elem t)
{
    char what[64];
    snprintf(what, sizeof what, "%g", d);
    return overflow_at(fn, i, what, t);
}

COLD int int32_overflow(const char *fn, Py_ssize_t i, long long x, pys_elem t)
{
    char what[32];
    snprintf(what, sizeof what, "%lld", x);
    return overflow_at(fn, i, what, t);
}

HOT int put_double(void *out, pys_elem t, Py_ssize_t i, double d, const char *fn)
{
    if (t == PYS_ELEM_DOUBLE) {
        ((double *)out)[i] = d;
        return PYS_OK;
    }
    float f = (float)d;
    if (__builtin_expect(isinf(f) && !isinf(d), 0))
        return float_overflow(fn, i, d, t);
    ((float *)out)[i] = f;
    return PYS_OK;
}

HOT int put_int(void *out, pys_elem t, Py_ssize_t i, long long x, const char *fn)
{
    if (t == PYS_ELEM_INT64)
        ((int64_t *)out)[i] = x;
    else if (__builtin_expect(x < INT32_MIN || x > INT32_MAX, 0))
        return int32_overflow(fn, i, x, t);
    else
        ((int32_t *)out)[i] = (int32_t)x;
    return PYS_OK;
}

/* The pending exception of converting item i (x) as an error naming i. */
COLD int item_error(pys_runtime *rt, PyObject *x, pys_elem t, Py_ssize_t i, const char *fn)
{
    char tn[128];
    bool want_float = t == PYS_ELEM_DOUBLE || t == PYS_ELEM_FLOAT;
    if (pys__api.PyErr_ExceptionMatches(PYS__EXC(TypeError))) {
        pys__api.PyErr_Clear();
        return pys__fail(fn, PYS_E_TYPE, "%s: item %zd: expected %s, got %s", fn, i,
                         want_float ? "a number" : "an int", pys__type_name(x, tn, sizeof tn));
    }
    if (want_float && pys__api.PyErr_ExceptionMatches(PYS__EXC(OverflowError))) {
        pys__api.PyErr_Clear();
        return overflow_at(fn, i, "int", t);
    }
    return pys__fail_py(rt, fn);
}

/* Converts one Python item into out[i]. Error set (naming i) on failure. */
HOT int put_obj(pys_runtime *rt, PyObject *x, pys_elem t, void *out, Py_ssize_t i,
                const char *fn)
{
    if (t == PYS_ELEM_DOUBLE || t == PYS_ELEM_FLOAT) {
        double d = pys__api.PyFloat_AsDouble(x);
        if (__builtin_expect(d == -1.0, 0) && pys__api.PyErr_Occurred())
            return item_error(rt, x, t, i, fn);
        return put_double(out, t, i, d, fn);
    }
    PyObject *ix = x;
    if (rt->version < 0x030a && !(pys__tp_flags(x) & PYS__Py_TPFLAGS_LONG_SUBCLASS)) {
        ix = pys__api.PyNumber_Index(x);
        if (!ix)
            return item_error(rt, x, t, i, fn);
    }
    int ovf = 0;
    long long v = pys__api.PyLong_AsLongLongAndOverflow(ix, &ovf);
    if (ix != x)
        pys__api.Py_DecRef(ix);
    if (__builtin_expect(ovf != 0, 0))
        return overflow_at(fn, i, "int", t);
    if (__builtin_expect(v == -1, 0) && pys__api.PyErr_Occurred())
        return item_error(rt, x, t, i, fn);
    return put_int(out, t, i, v, fn);
}

/* ---- reading a buffer ------------------------------------------------------------------- */

static void load(void *dst, const char *src, Py_ssize_t size, bool swap)
{
    if (!swap) {
        memcpy(dst, src, (size_t)size);
        return;
    }
    for (Py_ssize_t k = 0; k < size; k++)
        ((char *)dst)[k] = src[size - 1 - k];
}

/* One buffer element (format f at p) into out[i]. */
static int put_raw(const pys__bfmt *f, const char *p, pys_elem t, void *out, Py_ssize_t i,
                   const char *fn)
{
    bool want_float = t == PYS_ELEM_DOUBLE || t == PYS_ELEM_FLOAT;
    switch (f->kind) {
    case 'f': {
        if (!want_float)
            return pys__fail(fn, PYS_E_TYPE,
                             "%s: item %zd: the buffer holds floats (format \"%s\"), expected ints",
                             fn, i, f->canon);
        double d;
        if (f->itemsize == 4) {
            float x;
            load(&x, p, 4, f->swap);
            d = x;
        } else {
            load(&d, p, 8, f->swap);
        }
        return put_double(out, t, i, d, fn);
    }
    case 'b':
        return want_float ? put_double(out, t, i, *p ? 1.0 : 0.0, fn)
                          : put_int(out, t, i, *p ? 1 : 0, fn);
    case 'i': {
        int64_t x;
        switch (f->itemsize) {
        case 1: { int8_t y; load(&y, p, 1, false); x = y; break; }
        case 2: { int16_t y; load(&y, p, 2, f->swap); x = y; break; }
        case 4: { int32_t y; load(&y, p, 4, f->swap); x = y; break; }
        default: load(&x, p, 8, f->swap); break;
        }
        return want_float ? put_double(out, t, i, (double)x, fn) : put_int(out, t, i, x, fn);
    }
    default: { /* 'u' */
        uint64_t x;
        switch (f->itemsize) {
        case 1: { uint8_t y; load(&y, p, 1, false); x = y; break; }
        case 2: { uint16_t y; load(&y, p, 2, f->swap); x = y; break; }
        case 4: { uint32_t y; load(&y, p, 4, f->swap); x = y; break; }
        default: load(&x, p, 8, f->swap); break;
        }
        if (want_float)
            return put_double(out, t, i, (double)x, fn);
        if (x > INT64_MAX) {
            char what[32];
            snprintf(what, sizeof what, "%llu", (unsigned long long)x);
            return overflow_at(fn, i, what, t);
        }
        return put_int(out, t, i, (long long)x, fn);
    }
    }
}

/* True when the format is read natively as the target (memcpy). */
static bool same_repr(const pys__bfmt *f, pys_elem t)
{
    if (f->swap || (size_t)f->itemsize != elem_size[t])
        return false;
    return (t == PYS_ELEM_DOUBLE || t == PYS_ELEM_FLOAT) ? f->kind == 'f' : f->kind == 'i';
}

enum { NOT_A_BUFFER = 1 };

/* Reads s through the buffer protocol. Returns PYS_OK, an error, or
 * NOT_A_BUFFER (no exporter or a non-numeric format: use the sequence
 * protocol instead; no error set). */
static int from_buffer(pys_runtime *rt, PyObject *s, pys_elem t, void *out, size_t cap,
                       size_t *n_out, const char *fn)
{
    Py_buffer b;
    memset(&b, 0, sizeof b);
    if (pys__api.PyObject_GetBuffer(s, &b, PYS__PyBUF_RECORDS_RO) < 0) {
        pys__api.PyErr_Clear();
        return NOT_A_BUFFER;
    }
    int rc = PYS_OK;
    pys__bfmt f;
    if (!pys__bfmt_parse(b.format, &f) || f.kind == 'o' ||
        f.itemsize != b.itemsize) {
        rc = NOT_A_BUFFER;
        goto out;
    }
    if (b.ndim == 0) {
        char tn[128];
        rc = pys__fail(fn, PYS_E_TYPE, "%s: expected a sequence, got a 0-dimensional %s", fn,
                       pys__type_name(s, tn, sizeof tn));
        goto out;
    }
    Py_ssize_t n = 1;
    for (int k = 0; k < b.ndim; k++)
        n *= b.shape ? b.shape[k] : b.len / b.itemsize;
    *n_out = (size_t)n;
    if ((size_t)n > cap) {
        rc = pys__fail(fn, PYS_E_OVERFLOW, "%s: the buffer has %zd items but cap is %zu", fn, n,
                       cap);
        goto out;
    }
    if (n == 0)
        goto out;
    if (same_repr(&f, t) && pys__api.PyBuffer_IsContiguous(&b, 'C')) {
        memcpy(out, b.buf, (size_t)n * elem_size[t]);
        goto out;
    }
    /* Walk in C order with an index per dimension. */
    Py_ssize_t idx[PYS_BUFFER_MAX_NDIM] = {0};
    Py_ssize_t one_shape = b.len / b.itemsize, one_stride = b.itemsize;
    const Py_ssize_t *shape = b.shape ? b.shape : &one_shape;
    const Py_ssize_t *strides = b.strides ? b.strides : &one_stride;
    int last = b.ndim - 1;
    const char *p = b.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((rc = put_raw(&f, p, t, out, i, fn)) != PYS_OK)
            goto out;
        int k = last;
        p += strides[k];
        while (++idx[k] == shape[k] && k > 0) {
            p -= strides[k] * shape[k];
            idx[k] = 0;
            k--;
            p += strides[k];
        }
    }
out:
    pys__api.PyBuffer_Release(&b);
    return rc;
}

/* ---- Python -> C ------------------------------------------------------------------------- */

static int to_array(pys_obj o, pys_elem t, void *out, size_t cap, size_t *n_out, const char *fn)
{
    if (!n_out || (cap && !out))
        return pys__fail(fn, PYS_E_ARG, "%s: NULL output", fn);
    if (!elem_ok(t))
        return pys__fail(fn, PYS_E_ARG, "%s: unknown element type %d", fn, (int)t);
    pys_runtime *rt = pys__begin_h(fn);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    /* Held, and each item too: converting an item that is not an exact
     * number runs its __float__ / __index__, which can change the sequence
     * or let another thread release o. */
    PyObject *s = pys__h_ref(rt, o, fn);
    if (!s) {
        rc = PYS_E_HANDLE;
        goto out;
    }
    unsigned long fl = pys__tp_flags(s);
    bool list = fl & PYS__Py_TPFLAGS_LIST_SUBCLASS, tuple = fl & PYS__Py_TPFLAGS_TUPLE_SUBCLASS;
    if (!list && !tuple) {
        rc = from_buffer(rt, s, t, out, cap, n_out, fn);
        if (rc != NOT_A_BUFFER)
            goto out;
        rc = PYS_OK;
        if (!pys__api.PySequence_Check(s)) {
            char tn[128];
            rc = pys__fail(fn, PYS_E_TYPE, "%s: expected a sequence or a buffer, got %s", fn,
                           pys__type_name(s, tn, sizeof tn));
            goto out;
        }
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
    PyObject *(*get)(PyObject *, Py_ssize_t) = list    ? pys__api.PyList_GetItem
                                               : tuple ? pys__api.PyTuple_GetItem
                                                       : pys__api.PySequence_GetItem;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (list && i >= pys__api.PyList_Size(s)) {
            rc = pys__fail(fn, PYS_E_STATE, "%s: the list changed size while it was converted",
                           fn);
            goto out;
        }
        PyObject *x = get(s, i); /* borrowed for lists and tuples */
        if (!x) {
            rc = pys__fail_py(rt, fn);
            goto out;
        }
        if (list || tuple)
            pys__api.Py_IncRef(x);
        rc = put_obj(rt, x, t, out, i, fn);
        pys__api.Py_DecRef(x);
        if (rc != PYS_OK)
            goto out;
    }
out:
    pys__api.Py_DecRef(s);
    pys__end(rt);
    return rc;
}

int pys_to_array(pys_obj o, pys_elem t, void *out, size_t cap, size_t *n_out)
{
    return to_array(o, t, out, cap, n_out, __func__);
}
int pys_to_doubles(pys_obj seq, double *out, size_t cap, size_t *n_out)
{
    return to_array(seq, PYS_ELEM_DOUBLE, out, cap, n_out, __func__);
}
int pys_to_floats(pys_obj seq, float *out, size_t cap, size_t *n_out)
{
    return to_array(seq, PYS_ELEM_FLOAT, out, cap, n_out, __func__);
}
int pys_to_int64s(pys_obj seq, int64_t *out, size_t cap, size_t *n_out)
{
    return to_array(seq, PYS_ELEM_INT64, out, cap, n_out, __func__);
}
int pys_to_int32s(pys_obj seq, int32_t *out, size_t cap, size_t *n_out)
{
    return to_array(seq, PYS_ELEM_INT32, out, cap, n_out, __func__);
}
