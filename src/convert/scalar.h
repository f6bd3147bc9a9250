/* One acceptance rule per scalar value code (convert/codes.h), for every
 * reader of a Python value into a C scalar: pys_to_int64 and friends
 * (scalar.c), the bridge's typed arguments (bridge/call.c), and whatever
 * else reads a value for a code. The callers differ only in how they
 * report (a pyshim error or a Python exception), never in what they take.
 *
 * The rules (the ones include/pyshim.h promises for pys_to_*):
 *   q i Q   an int, subclasses (and so bool) included; never __index__
 *           (the real type decides, never isinstance); out of the code's
 *           range is RANGE, never a wrap
 *   d       a float or an int, subclasses included (an int subclass's
 *           __float__ runs, and what it raises stays pending: PY); an int
 *           beyond a double is RANGE
 *   b       a bool, or an int (subclasses included; nonzero is true, read
 *           without running Python code, so an int subclass's __bool__
 *           does not run); anything else is TYPE (truthiness of other
 *           objects is pys_truthy)
 * pys__sc_L(o, &out) returns PYS__SC_OK with *out set, PYS__SC_TYPE or
 * PYS__SC_RANGE with no exception pending and *out untouched, or
 * PYS__SC_PY with the Python exception pending. Needs the GIL.
 *
 * pys__fit_L(v, &out) is the C-side rule of the FFI face, whose integer
 * values all arrive as int64_t: true with *out set when v is a value of
 * the code's C type (Q takes v's bits; b is v != 0).
 * The rules of integer codes are generated from the table's kind and
 * range (PYS__SC_RULE_*); d and b are written out. */
#ifndef PYS_CONVERT_SCALAR_H
#define PYS_CONVERT_SCALAR_H

#include "core/runtime.h"
#include "core/gate.h"
#include "core/handles.h"
#include "core/types.h"
#include "convert/codes.h"

typedef enum pys__sc { PYS__SC_OK = 0, PYS__SC_TYPE, PYS__SC_RANGE, PYS__SC_PY } pys__sc;

/* Any int (subclasses included) as int64_t. */
static inline __attribute__((always_inline)) pys__sc pys__sc_int64(PyObject *o, int64_t *out)
{
    if (__builtin_expect(!pys__is(o, pys__api.PyLong_Type), 0))
        return PYS__SC_TYPE;
    int overflow = 0;
    long long v = pys__api.PyLong_AsLongLongAndOverflow(o, &overflow);
    if (__builtin_expect(v == -1, 0)) {
        if (overflow)
            return PYS__SC_RANGE;
        if (pys__api.PyErr_Occurred())
            return PYS__SC_PY;
    }
    *out = (int64_t)v;
    return PYS__SC_OK;
}

/* A signed code of range lo..hi (constants: the check folds away for
 * int64_t's own range). */
static inline __attribute__((always_inline)) pys__sc pys__sc_sint(PyObject *o, int64_t lo,
                                                                  int64_t hi, int64_t *out)
{
    int64_t v = 0;
    pys__sc s = pys__sc_int64(o, &v);
    if (s == PYS__SC_OK && __builtin_expect(v < lo || v > hi, 0))
        return PYS__SC_RANGE;
    if (s == PYS__SC_OK)
        *out = v;
    return s;
}

/* An unsigned code of range 0..hi: negative ints are out of range. */
static inline __attribute__((always_inline)) pys__sc pys__sc_uint(PyObject *o, uint64_t hi,
                                                                  uint64_t *out)
{
    if (__builtin_expect(!pys__is(o, pys__api.PyLong_Type), 0))
        return PYS__SC_TYPE;
    unsigned long long v = pys__api.PyLong_AsUnsignedLongLong(o);
    if (__builtin_expect(v == (unsigned long long)-1, 0) && pys__api.PyErr_Occurred()) {
        if (!pys__api.PyErr_ExceptionMatches(PYS__EXC(OverflowError)))
            return PYS__SC_PY;
        pys__api.PyErr_Clear();
        return PYS__SC_RANGE; /* negative, or beyond 64 bits */
    }
    if (__builtin_expect(v > hi, 0))
        return PYS__SC_RANGE;
    *out = (uint64_t)v;
    return PYS__SC_OK;
}

/* pys__sc_L and pys__fit_L of every integer code, from its kind and range
 * in the table; d and b are written out below. */
#define PYS__SC_RULE_PYS__CK_SINT(L, ctype, lo, hi)                                                \
    static inline __attribute__((always_inline)) pys__sc pys__sc_##L(PyObject *o, ctype *out)      \
    {                                                                                              \
        int64_t v = 0;                                                                             \
        pys__sc s = pys__sc_sint(o, (int64_t)(lo), (int64_t)(hi), &v);                             \
        if (s == PYS__SC_OK)                                                                       \
            *out = (ctype)v;                                                                       \
        return s;                                                                                  \
    }                                                                                              \
    static inline bool pys__fit_##L(int64_t v, ctype *out)                                         \
    {                                                                                              \
        if (!pys__fit_range(v, (int64_t)(lo), (int64_t)(hi)))                                     \
            return false;                                                                          \
        *out = (ctype)v;                                                                           \
        return true;                                                                               \
    }
#define PYS__SC_RULE_PYS__CK_UINT(L, ctype, lo, hi)                                                \
    static inline __attribute__((always_inline)) pys__sc pys__sc_##L(PyObject *o, ctype *out)      \
    {                                                                                              \
        uint64_t v = 0;                                                                            \
        pys__sc s = pys__sc_uint(o, (uint64_t)(hi), &v);                                           \
        if (s == PYS__SC_OK)                                                                       \
            *out = (ctype)v;                                                                       \
        return s;                                                                                  \
    }                                                                                              \
    /* uint64_t takes the int64_t's bits; narrower ones 0..hi */                                   \
    static inline bool pys__fit_##L(int64_t v, ctype *out)                                         \
    {                                                                                              \
        if (!pys__fit_urange(v, (uint64_t)(hi)))                                                   \
            return false;                                                                          \
        *out = (ctype)v;                                                                           \
        return true;                                                                               \
    }
#define PYS__SC_RULE_PYS__CK_REAL(L, ctype, lo, hi)
#define PYS__SC_RULE_PYS__CK_BOOL(L, ctype, lo, hi)

static inline bool pys__fit_range(int64_t v, int64_t lo, int64_t hi)
{
    return v >= lo && v <= hi;
}
static inline bool pys__fit_urange(int64_t v, uint64_t hi)
{
    return hi == UINT64_MAX || (v >= 0 && (uint64_t)v <= hi);
}

#define PYS__SC_RULE(L, ch, ctype, vatype, regtype, pytype, kind, lo, hi, ...)                     \
    PYS__SC_RULE_##kind(L, ctype, lo, hi)
PYS__SCALAR_CODES(PYS__SC_RULE)
#undef PYS__SC_RULE

/* Whether o is a float or an int, subclasses included (the slow half of
 * pys__sc_d's type check). */
static __attribute__((noinline, unused)) bool pys__sc_float_or_int(PyObject *o)
{
    return pys__is(o, pys__api.PyFloat_Type) || pys__is(o, pys__api.PyLong_Type);
}

static inline pys__sc pys__sc_d(PyObject *o, double *out)
{
    PyObject *t = pys__type_of(o);
    if (t != (PyObject *)pys__api.PyFloat_Type && t != (PyObject *)pys__api.PyLong_Type &&
        !pys__sc_float_or_int(o))
        return PYS__SC_TYPE;
    double v = pys__api.PyFloat_AsDouble(o);
    if (__builtin_expect(v == -1.0, 0) && pys__api.PyErr_Occurred()) {
        if (!pys__api.PyErr_ExceptionMatches(PYS__EXC(OverflowError)))
            return PYS__SC_PY;
        pys__api.PyErr_Clear();
        return PYS__SC_RANGE;
    }
    *out = v;
    return PYS__SC_OK;
}

static inline pys__sc pys__sc_b(PyObject *o, bool *out)
{
    if (o == PYS__True) {
        *out = true;
    } else if (o == PYS__False) {
        *out = false;
    } else if (pys__is(o, pys__api.PyLong_Type)) {
        int over = 0;
        long long v = pys__api.PyLong_AsLongLongAndOverflow(o, &over);
        if (v == -1 && !over && pys__api.PyErr_Occurred())
            return PYS__SC_PY;
        *out = v != 0 || over != 0;
    } else {
        return PYS__SC_TYPE;
    }
    return PYS__SC_OK;
}

/* ---- pys__as_int64 inline ---------------------------------------------------------- */

/* The error of an int64 read that pys__sc_q refused (s): PYS_E_TYPE,
 * PYS_E_OVERFLOW, or the pending exception; the code (scalar.c). */
int pys__as_int64_fail(PyObject *o, pys__sc s, const char *fn);
/* pys__as_int64 (convert.h) for the hot readers: the read inline, its
 * failures reported out of line. */
static inline __attribute__((always_inline)) int pys__as_int64_in(PyObject *o, int64_t *out,
                                                                  const char *fn)
{
    pys__sc s = pys__sc_q(o, out);
    if (__builtin_expect(s != PYS__SC_OK, 0))
        return pys__as_int64_fail(o, s, fn);
    return PYS_OK;
}

/* ---- the FFI face's int64_t values ---------------------------------------------------- */

static inline bool pys__fit_b(int64_t v, bool *out)
{
    *out = v != 0;
    return true;
}
static inline bool pys__fit_d(int64_t v, double *out)
{
    *out = (double)v; /* not used: d values come from the double array */
    return true;
}

/* pys_from_int64 and pys_to_int64, inline: the public functions and the
 * library's own wrappers of them (the FFI face) are this one code, with
 * one frame. The leaf way (core/gate.h) inline; pys_to_int64's full way in
 * convert/scalar.c. */

/* A handle for the new object mk(arg) (NULL: fn fails with the Python
 * error), made under the gate: the way of pys_from_int64 and its kin
 * outside a batch (convert/scalar.c, out of line). */
pys_obj pys__from_gated(pys_runtime *rt, PyObject *(*mk)(const void *), const void *arg,
                        const char *fn);
/* The same, with the leaf gate inline: inside a batch making an int,
 * float, bool or None runs no Python code. */
static inline __attribute__((always_inline)) pys_obj pys__from(pys_runtime *rt,
                                                              PyObject *(*mk)(const void *),
                                                              const void *arg, const char *fn)
{
    if (rt == &pys__the_runtime && pys__leaf(pys__tls_get())) {
        PyObject *o = mk(arg);
        if (__builtin_expect(o != NULL, 1))
            return pys__h_new_fast(rt, o, fn);
        pys__fail_py(rt, fn);
        return PYS_NULL;
    }
    return pys__from_gated(rt, mk, arg, fn);
}
static inline PyObject *pys__mk_i64(const void *a)
{
    return pys__api.PyLong_FromLongLong(*(const int64_t *)a);
}
static inline __attribute__((always_inline)) pys_obj pys__from_int64_in(pys_runtime *rt,
                                                                        int64_t v)
{
    return pys__from(rt, pys__mk_i64, &v, "pys_from_int64");
}
int pys__to_int64_full(pys_obj h, int64_t *out);
static inline __attribute__((always_inline)) int pys__to_int64_in(pys_obj h, int64_t *out)
{
    /* The leaf way: a live handle of an int in range, read with no gate;
     * anything else (and every failure) the full way, which reads again
     * (pys__sc_q changes nothing when it fails). */
    if (pys__leaf(pys__tls_get()) && out) {
        pys__slot *s = pys__lookup(&pys__the_runtime.ht, h.id);
        if (__builtin_expect(s != NULL && pys__sc_q(s->obj, out) == PYS__SC_OK, 1))
            return PYS_OK;
    }
    return pys__to_int64_full(h, out);
}

#endif
