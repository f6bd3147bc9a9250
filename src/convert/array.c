/* Bulk numeric conversions between C arrays of the element types of
 * convert/elems.h (whose table every per-type part below is expanded from)
 * and Python lists, tuples, sequences and buffers, without a handle per
 * element.
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
#include "convert/elems.h"

/* What the code looks up of an element type, by pys_elem value. */
static const struct elem {
    size_t size;
    const char *name; /* as errors name it */
    int kind;         /* PYS__CK_* */
} elems[] = {
#define PYS__X(E, ctype, name, kind, ...) [PYS_ELEM_##E] = {sizeof(ctype), name, kind},
    PYS__ELEM_TYPES(PYS__X)
#undef PYS__X
};

/* An unsigned type is read as a long long, so it ends at INT64_MAX. */
#define PYS__X(E, ctype, name, kind, lo, hi, ...)                                                  \
    _Static_assert(kind != PYS__CK_UINT || (uint64_t)(hi) <= INT64_MAX,                            \
                   "PYS_ELEM_" #E ": an unsigned type beyond INT64_MAX needs its own reader");
PYS__ELEM_TYPES(PYS__X)
#undef PYS__X

/* Whether t is an element type (a gap in the values has size 0). */
static bool elem_ok(pys_elem t)
{
    return (unsigned)t < sizeof elems / sizeof *elems && elems[t].size != 0;
}

/* Whether type t holds doubles (read through __float__; else ints). */
static inline bool elem_real(pys_elem t)
{
    return elems[t].kind == PYS__CK_REAL;
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
#define PYS__X(E, ctype, name, kind, lo, hi, fmt, make, ...)                                       \
    case PYS_ELEM_##E:                                                                             \
        FILL(ctype, pys__api.make);                                                                \
        break;
        PYS__ELEM_TYPES(PYS__X)
#undef PYS__X
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

/* ---- storing one value ------------------------------------------------------------------ */

/* The per-element helpers are forced inline into the loops (the element
 * loop is the whole cost of a bulk conversion), with t a constant in each
 * loop; their error paths are not. */
#define HOT static inline __attribute__((always_inline))
#define COLD static __attribute__((noinline, cold))

COLD int overflow_at(const char *fn, Py_ssize_t i, const char *what, pys_elem t)
{
    return pys__fail(fn, PYS_E_OVERFLOW, "%s: item %zd: %s does not fit in %s", fn, i, what,
                     elems[t].name);
}

COLD int float_overflow(const char *fn, Py_ssize_t i, double d, pys_elem t)
{
    char what[64];
    snprintf(what, sizeof what, "%g", d);
    return overflow_at(fn, i, what, t);
}

COLD int int_overflow(const char *fn, Py_ssize_t i, long long x, pys_elem t)
{
    char what[32];
    snprintf(what, sizeof what, "%lld", x);
    return overflow_at(fn, i, what, t);
}

/* Whether lo <= x <= hi (constants: the test folds away for int64_t's own
 * range). */
HOT bool fits(long long x, int64_t lo, int64_t hi)
{
    return x >= lo && x <= hi;
}

/* The store of one value as row E, by kind: a REAL row takes d (a finite d
 * that becomes infinite as ctype does not fit), an integer row takes x
 * (lo..hi). Each expands to a case of its kind's put_* and to nothing in
 * the other one. */
#define PUT_REAL(E, ctype, lo, hi)                                                                 \
    case PYS_ELEM_##E: {                                                                           \
        ctype y = (ctype)d;                                                                        \
        if (__builtin_expect(isinf(y) && !isinf(d), 0))                                            \
            return float_overflow(fn, i, d, t);                                                    \
        ((ctype *)out)[i] = y;                                                                     \
        return PYS_OK;                                                                             \
    }
#define PUT_INT(E, ctype, lo, hi)                                                                  \
    case PYS_ELEM_##E:                                                                             \
        if (__builtin_expect(!fits(x, (int64_t)(lo), (int64_t)(hi)), 0))                          \
            return int_overflow(fn, i, x, t);                                                      \
        ((ctype *)out)[i] = (ctype)x;                                                              \
        return PYS_OK;
#define PUT_D_PYS__CK_REAL PUT_REAL
#define PUT_D_PYS__CK_SINT(...)
#define PUT_D_PYS__CK_UINT(...)
#define PUT_X_PYS__CK_REAL(...)
#define PUT_X_PYS__CK_SINT PUT_INT
#define PUT_X_PYS__CK_UINT PUT_INT

/* out[i] = d for a REAL type t. Returns PYS_OK or PYS_E_OVERFLOW (error
 * set). */
HOT int put_double(void *out, pys_elem t, Py_ssize_t i, double d, const char *fn)
{
    switch (t) {
#define PYS__X(E, ctype, name, kind, lo, hi, ...) PUT_D_##kind(E, ctype, lo, hi)
        PYS__ELEM_TYPES(PYS__X)
#undef PYS__X
    default: break;
    }
    return PYS_OK; /* not reached: the callers pass a REAL t */
}

/* out[i] = x for an integer type t. Returns PYS_OK or PYS_E_OVERFLOW
 * (error set). */
HOT int put_int(void *out, pys_elem t, Py_ssize_t i, long long x, const char *fn)
{
    switch (t) {
#define PYS__X(E, ctype, name, kind, lo, hi, ...) PUT_X_##kind(E, ctype, lo, hi)
        PYS__ELEM_TYPES(PYS__X)
#undef PYS__X
    default: break;
    }
    return PYS_OK; /* not reached: the callers pass an integer t */
}

/* The pending exception of converting item i (x) as an error naming i. */
COLD int item_error(pys_runtime *rt, PyObject *x, pys_elem t, Py_ssize_t i, const char *fn)
{
    char tn[128];
    if (pys__api.PyErr_ExceptionMatches(PYS__EXC(TypeError))) {
        pys__api.PyErr_Clear();
        return pys__fail(fn, PYS_E_TYPE, "%s: item %zd: expected %s, got %s", fn, i,
                         elem_real(t) ? "a number" : "an int", pys__type_name(x, tn, sizeof tn));
    }
    if (elem_real(t) && pys__api.PyErr_ExceptionMatches(PYS__EXC(OverflowError))) {
        pys__api.PyErr_Clear();
        return overflow_at(fn, i, "int", t);
    }
    return pys__fail_py(rt, fn);
}

/* Converts one Python item into out[i]. Error set (naming i) on failure. */
HOT int put_obj(pys_runtime *rt, PyObject *x, pys_elem t, void *out, Py_ssize_t i,
                const char *fn)
{
    if (elem_real(t)) {
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

/* Copies one element of size bytes at src into dst, reversing its bytes when
 * swap. */
HOT void load(void *dst, const char *src, Py_ssize_t size, bool swap)
{
    if (!swap) {
        memcpy(dst, src, (size_t)size);
        return;
    }
    for (Py_ssize_t k = 0; k < size; k++)
        ((char *)dst)[k] = src[size - 1 - k];
}

/* One buffer element (format f at p) into out[i]. */
HOT int put_raw(const pys__bfmt *f, const char *p, pys_elem t, void *out, Py_ssize_t i,
                const char *fn)
{
    bool want_float = elem_real(t);
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

/* The kind (as in pys__bfmt) of the buffer format that type t is copied
 * from, 0 for an unknown t. Folds to constants. */
HOT char fmt_kind(pys_elem t)
{
    Py_ssize_t size;
    char k = 0;
    switch (t) {
#define PYS__X(E, ctype, name, kind, lo, hi, fmt, ...)                                             \
    case PYS_ELEM_##E:                                                                             \
        pys__bfmt_code(fmt, true, &size, &k);                                                      \
        break;
        PYS__ELEM_TYPES(PYS__X)
#undef PYS__X
    }
    return k;
}

/* True when buffer format f holds t's values as t does, so that they are
 * copied with one memcpy: native, of t's size, and of the kind of t's
 * format (so 'l' and 'n' are int64_t's 'q' too). */
HOT bool same_repr(const pys__bfmt *f, pys_elem t)
{
    return !f->swap && (size_t)f->itemsize == elems[t].size && f->kind == fmt_kind(t);
}

/* Converts the n elements of buffer b (format f) into out[0..n) as type t,
 * walking them in C order with an index per dimension. Returns PYS_OK or an
 * error (set). */
HOT int walk_as(const Py_buffer *b, const pys__bfmt *f, Py_ssize_t n, pys_elem t, void *out,
                const char *fn)
{
    Py_ssize_t idx[PYS_BUFFER_MAX_NDIM];
    memset(idx, 0, (size_t)b->ndim * sizeof *idx); /* the dimensions used only */
    Py_ssize_t one_shape = b->len / b->itemsize, one_stride = b->itemsize;
    const Py_ssize_t *shape = b->shape ? b->shape : &one_shape;
    const Py_ssize_t *strides = b->strides ? b->strides : &one_stride;
    int last = b->ndim - 1;
    const char *p = b->buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int rc = put_raw(f, p, t, out, i, fn);
        if (rc != PYS_OK)
            return rc;
        int k = last;
        p += strides[k];
        while (++idx[k] == shape[k] && k > 0) {
            p -= strides[k] * shape[k];
            idx[k] = 0;
            k--;
            p += strides[k];
        }
    }
    return PYS_OK;
}

/* walk_as with one loop per type, so that t is a constant in each; out of
 * line, so that the loops do not share their registers with to_array.
 * Returns what walk_as returns. */
static __attribute__((noinline)) int walk(const Py_buffer *b, const pys__bfmt *f, Py_ssize_t n,
                                          pys_elem t, void *out, const char *fn)
{
    switch (t) {
#define PYS__X(E, ...)                                                                             \
    case PYS_ELEM_##E:                                                                             \
        return walk_as(b, f, n, PYS_ELEM_##E, out, fn);
        PYS__ELEM_TYPES(PYS__X)
#undef PYS__X
    }
    return PYS_OK; /* not reached: t is checked */
}

enum { NOT_A_BUFFER = 1 };

/* Reads s through the buffer protocol. Returns PYS_OK, an error, or
 * NOT_A_BUFFER (no exporter or a non-numeric format: use the sequence
 * protocol instead; no error set). Inlined into its one caller: for a short
 * array a call costs more than the memcpy. */
HOT int from_buffer(pys_runtime *rt, PyObject *s, pys_elem t, void *out, size_t cap,
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
    if (same_repr(&f, t) && pys__api.PyBuffer_IsContiguous(&b, 'C'))
        memcpy(out, b.buf, (size_t)n * elems[t].size);
    else
        rc = walk(&b, &f, n, t, out, fn);
out:
    pys__api.PyBuffer_Release(&b);
    return rc;
}

/* ---- Python -> C ------------------------------------------------------------------------- */

/* Converts the n items of sequence s (a list, a tuple or another sequence)
 * into out[0..n) as type t. Inlined once per type, so that t is a
 * constant in the element loop. Returns PYS_OK or an error (set). */
HOT int from_items(pys_runtime *rt, PyObject *s, bool list, bool tuple, Py_ssize_t n, pys_elem t,
                   void *out, const char *fn)
{
    PyObject *(*get)(PyObject *, Py_ssize_t) = list    ? pys__api.PyList_GetItem
                                               : tuple ? pys__api.PyTuple_GetItem
                                                       : pys__api.PySequence_GetItem;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (list && i >= pys__api.PyList_Size(s))
            return pys__fail(fn, PYS_E_STATE, "%s: the list changed size while it was converted",
                             fn);
        PyObject *x = get(s, i); /* borrowed for lists and tuples */
        if (!x)
            return pys__fail_py(rt, fn);
        if (list || tuple)
            pys__api.Py_IncRef(x);
        int rc = put_obj(rt, x, t, out, i, fn);
        pys__api.Py_DecRef(x);
        if (rc != PYS_OK)
            return rc;
    }
    return PYS_OK;
}

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
    switch (t) {
#define PYS__X(E, ...)                                                                             \
    case PYS_ELEM_##E:                                                                             \
        rc = from_items(rt, s, list, tuple, n, PYS_ELEM_##E, out, fn);                             \
        break;
        PYS__ELEM_TYPES(PYS__X)
#undef PYS__X
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

/* The typed shorthands, three per type (for double: pys_list_from_doubles,
 * pys_tuple_from_doubles, pys_to_doubles). Each is the call with t fixed,
 * and its errors name it. */
#define PYS__X(E, ctype, name, kind, lo, hi, fmt, make, sfx)                                       \
    pys_obj pys_list_from_##sfx(pys_runtime *rt, const ctype *v, size_t n)                         \
    {                                                                                              \
        return seq_from(rt, PYS_ELEM_##E, v, n, false, __func__);                                  \
    }                                                                                              \
    pys_obj pys_tuple_from_##sfx(pys_runtime *rt, const ctype *v, size_t n)                        \
    {                                                                                              \
        return seq_from(rt, PYS_ELEM_##E, v, n, true, __func__);                                   \
    }                                                                                              \
    int pys_to_##sfx(pys_obj o, ctype *out, size_t cap, size_t *n_out)                             \
    {                                                                                              \
        return to_array(o, PYS_ELEM_##E, out, cap, n_out, __func__);                               \
    }
PYS__ELEM_TYPES(PYS__X)
#undef PYS__X
