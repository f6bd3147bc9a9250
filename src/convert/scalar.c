/* C scalars and strings to and from Python, range-checked.
 *
 * Type checks look at the real type (pys__is, pys__tp_flags: never
 * isinstance, which a __class__ property fools): the type found at the
 * offset open verified, compared with the builtin type objects (data
 * symbols), then PyType_IsSubtype or the type's flag bits. An int that does not fit is
 * PYS_E_OVERFLOW, a wrong type PYS_E_TYPE naming both types; *out is only
 * written on success. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/types.h"
#include "convert/convert.h"
#include "convert/scalar.h"

#define BEGIN_H(errval)                                                                            \
    pys__tls *t_ = pys__tls_get();                                                                 \
    pys_runtime *rt = pys__begin_t(&pys__the_runtime, __func__, t_);                               \
    if (!rt)                                                                                       \
        return errval;
#define END_H() pys__end_t(rt, t_)

pys_obj pys__from_gated(pys_runtime *rt, PyObject *(*mk)(const void *), const void *arg,
                        const char *fn)
{
    pys__tls *t = pys__tls_get();
    if (!pys__begin_t(rt, fn, t))
        return PYS_NULL;
    PyObject *o = mk(arg);
    pys_obj out = PYS_NULL;
    if (!o)
        pys__fail_py(rt, fn);
    else
        out = pys__h_new_fast(rt, o, fn);
    pys__end_t(rt, t);
    return out;
}

static PyObject *mk_u64(const void *a)
{
    return pys__api.PyLong_FromUnsignedLongLong(*(const uint64_t *)a);
}
static PyObject *mk_dbl(const void *a)
{
    return pys__api.PyFloat_FromDouble(*(const double *)a);
}
static PyObject *mk_bool(const void *a)
{
    return pys__api.PyBool_FromLong(*(const bool *)a);
}
static PyObject *mk_none(const void *a)
{
    (void)a;
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

pys_obj pys_from_int64(pys_runtime *rt, int64_t v)
{
    return pys__from_int64_in(rt, v);
}

pys_obj pys_from_uint64(pys_runtime *rt, uint64_t v)
{
    return pys__from(rt, mk_u64, &v, __func__);
}

pys_obj pys_from_double(pys_runtime *rt, double v)
{
    return pys__from(rt, mk_dbl, &v, __func__);
}

pys_obj pys_from_bool(pys_runtime *rt, bool v)
{
    return pys__from(rt, mk_bool, &v, __func__);
}

pys_obj pys_none(pys_runtime *rt)
{
    return pys__from(rt, mk_none, NULL, __func__);
}

static inline __attribute__((always_inline)) pys_obj from_buf(pys_runtime *rt, const void *s,
                                                             size_t n, int kind, const char *fn)
{
    pys__tls *t = pys__tls_get();
    /* Decoding or copying bytes runs no Python code: the leaf gate. */
    bool leaf = rt == &pys__the_runtime && pys__leaf(t);
    if (!leaf && !pys__begin_t(rt, fn, t))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    if (!s && (n > 0 || kind == 0)) {
        pys__fail(fn, PYS_E_ARG, "%s: data is NULL", fn);
    } else if (n > (size_t)PTRDIFF_MAX) {
        pys__fail(fn, PYS_E_OVERFLOW, "%s: length %zu is too large", fn, n);
    } else {
        PyObject *o;
        if (kind == 0) {
            o = pys__api.PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "strict");
            if (!o) {
                pys__api.PyErr_Clear();
                pys__fail(fn, PYS_E_VALUE, "%s: the text is not valid UTF-8", fn);
            }
        } else if (kind == 1) {
            o = pys__api.PyBytes_FromStringAndSize(s ? s : "", (Py_ssize_t)n);
        } else {
            o = pys__api.PyByteArray_FromStringAndSize(s ? s : "", (Py_ssize_t)n);
        }
        if (o)
            out = pys__h_new_fast(rt, o, fn);
        else if (kind != 0)
            pys__fail_py(rt, fn);
    }
    if (!leaf)
        pys__end_t(rt, t);
    return out;
}

pys_obj pys_from_str(pys_runtime *rt, const char *s)
{
    return from_buf(rt, s, s ? strlen(s) : 0, 0, __func__);
}

pys_obj pys_from_strn(pys_runtime *rt, const char *s, size_t len)
{
    return from_buf(rt, s, len, 0, __func__);
}

pys_obj pys_from_bytes(pys_runtime *rt, const void *data, size_t len)
{
    return from_buf(rt, data, len, 1, __func__);
}

pys_obj pys_from_bytearray(pys_runtime *rt, const void *data, size_t len)
{
    return from_buf(rt, data, len, 2, __func__);
}

/* ---- reads -------------------------------------------------------------------- */

static int type_err(PyObject *o, const char *want, const char *fn)
{
    char tn[128];
    return pys__fail(fn, PYS_E_TYPE, "%s: expected %s, got %s", fn, want,
                     pys__type_name(o, tn, sizeof tn));
}


/* The error of a read that pys__sc_* refused (s), named after fn; range
 * is the text of an out-of-range value. */
static __attribute__((noinline)) int sc_fail(PyObject *o, pys__sc s, const char *want,
                                             const char *range, const char *fn)
{
    if (s == PYS__SC_TYPE)
        return type_err(o, want, fn);
    if (s == PYS__SC_RANGE)
        return pys__fail(fn, PYS_E_OVERFLOW, "%s: %s", fn, range);
    return pys__fail_py(&pys__the_runtime, fn);
}

int pys__as_int64_fail(PyObject *o, pys__sc s, const char *fn)
{
    return sc_fail(o, s, "int", "int does not fit in int64_t", fn);
}

int pys__as_int64(PyObject *o, int64_t *out, const char *fn)
{
    return pys__as_int64_in(o, out, fn);
}

int pys__as_double(PyObject *o, double *out, const char *fn)
{
    pys__sc s = pys__sc_d(o, out);
    if (__builtin_expect(s != PYS__SC_OK, 0))
        return sc_fail(o, s, "float or int", "int too large to convert to double", fn);
    return PYS_OK;
}

__attribute__((noinline)) int pys__to_int64_full(pys_obj h, int64_t *out)
{
    static const char fn[] = "pys_to_int64";
    if (!out)
        return pys__fail(fn, PYS_E_ARG, "pys_to_int64: out is NULL");
    pys__tls *t_ = pys__tls_get();
    pys_runtime *rt = pys__begin_t(&pys__the_runtime, fn, t_);
    if (!rt)
        return pys_last_error()->code;
    PyObject *o = pys__h_get(rt, h, fn);
    int rc = o ? pys__as_int64_in(o, out, fn) : PYS_E_HANDLE;
    END_H();
    return rc;
}

int pys_to_int64(pys_obj h, int64_t *out)
{
    return pys__to_int64_in(h, out);
}

int pys_to_int32(pys_obj h, int32_t *out)
{
    if (!out)
        return pys__fail(__func__, PYS_E_ARG, "pys_to_int32: out is NULL");
    BEGIN_H(pys_last_error()->code);
    PyObject *o = pys__h_get(rt, h, __func__);
    int rc = PYS_E_HANDLE;
    if (o) {
        int v = 0;
        pys__sc s = pys__sc_i(o, &v);
        rc = s == PYS__SC_OK ? PYS_OK
                             : sc_fail(o, s, "int", "int does not fit in int32_t", __func__);
        if (rc == PYS_OK)
            *out = (int32_t)v;
    }
    END_H();
    return rc;
}

int pys_to_uint64(pys_obj h, uint64_t *out)
{
    if (!out)
        return pys__fail(__func__, PYS_E_ARG, "pys_to_uint64: out is NULL");
    BEGIN_H(pys_last_error()->code);
    PyObject *o = pys__h_get(rt, h, __func__);
    int rc = PYS_E_HANDLE;
    if (o) {
        pys__sc s = pys__sc_Q(o, out);
        rc = s == PYS__SC_OK ? PYS_OK
                             : sc_fail(o, s, "int",
                                       "int is negative or does not fit in uint64_t", __func__);
    }
    END_H();
    return rc;
}

int pys_to_double(pys_obj h, double *out)
{
    if (!out)
        return pys__fail(__func__, PYS_E_ARG, "pys_to_double: out is NULL");
    BEGIN_H(pys_last_error()->code);
    PyObject *o = pys__h_get(rt, h, __func__);
    int rc = o ? pys__as_double(o, out, __func__) : PYS_E_HANDLE;
    END_H();
    return rc;
}

int pys_to_bool(pys_obj h, bool *out)
{
    if (!out)
        return pys__fail(__func__, PYS_E_ARG, "pys_to_bool: out is NULL");
    BEGIN_H(pys_last_error()->code);
    PyObject *o = pys__h_get(rt, h, __func__);
    int rc = PYS_E_HANDLE;
    if (o) {
        pys__sc s = pys__sc_b(o, out);
        rc = s == PYS__SC_OK ? PYS_OK : sc_fail(o, s, "bool or int", "not a bool", __func__);
    }
    END_H();
    return rc;
}

const char *pys_str_view(pys_obj h, size_t *len)
{
    /* Viewing a str's UTF-8 (made once and cached by the str) runs no
     * Python code: the leaf gate. */
    pys__tls *t_ = pys__tls_get();
    bool leaf = pys__leaf(t_);
    pys_runtime *rt = &pys__the_runtime;
    if (!leaf && !pys__begin_t(rt, __func__, t_))
        return NULL;
    const char *r = NULL;
    PyObject *o = pys__h_get(rt, h, __func__);
    if (o) {
        if (!pys__is(o, pys__api.PyUnicode_Type)) {
            type_err(o, "str", __func__);
        } else {
            Py_ssize_t n = 0;
            r = pys__api.PyUnicode_AsUTF8AndSize(o, &n);
            if (!r) {
                pys__api.PyErr_Clear();
                pys__fail(__func__, PYS_E_VALUE,
                          "pys_str_view: the str cannot be encoded as UTF-8 (lone surrogates)");
            } else if (len) {
                *len = (size_t)n;
            }
        }
    }
    if (!leaf)
        END_H();
    return r;
}

char *pys_str_copy(pys_obj h, size_t *len)
{
    BEGIN_H(NULL);
    char *r = NULL;
    PyObject *o = pys__h_get(rt, h, __func__);
    PyObject *s = o ? pys__api.PyObject_Str(o) : NULL;
    if (o && !s) {
        pys__fail_py(rt, __func__);
    } else if (s) {
        Py_ssize_t n = 0;
        const char *u = pys__api.PyUnicode_AsUTF8AndSize(s, &n);
        if (!u) {
            pys__api.PyErr_Clear();
            pys__fail(__func__, PYS_E_VALUE, "pys_str_copy: not encodable as UTF-8");
        } else if (!(r = pys__strndup(u, (size_t)n))) {
            pys__fail(__func__, PYS_E_NOMEM, "pys_str_copy: out of memory");
        } else if (len) {
            *len = (size_t)n;
        }
        pys__api.Py_DecRef(s);
    }
    END_H();
    return r;
}

const void *pys_bytes_view(pys_obj h, size_t *len)
{
    BEGIN_H(NULL);
    const void *r = NULL;
    PyObject *o = pys__h_get(rt, h, __func__);
    if (o) {
        if (!(pys__tp_flags(o) & PYS__Py_TPFLAGS_BYTES_SUBCLASS)) {
            type_err(o, "bytes", __func__);
        } else {
            char *p = NULL;
            Py_ssize_t n = 0;
            if (pys__api.PyBytes_AsStringAndSize(o, &p, &n) < 0) {
                pys__fail_py(rt, __func__);
            } else {
                r = p;
                if (len)
                    *len = (size_t)n;
            }
        }
    }
    END_H();
    return r;
}

void *pys_bytes_copy(pys_obj h, size_t *len)
{
    BEGIN_H(NULL);
    void *r = NULL;
    PyObject *o = pys__h_get(rt, h, __func__);
    if (o) {
        if (pys__tp_flags(o) & PYS__Py_TPFLAGS_UNICODE_SUBCLASS) {
            type_err(o, "bytes-like object", __func__);
        } else {
            Py_buffer view;
            memset(&view, 0, sizeof view);
            if (pys__api.PyObject_GetBuffer(o, &view, PYS__PyBUF_SIMPLE) < 0) {
                if (pys__api.PyErr_ExceptionMatches(PYS__EXC(TypeError)) ||
                    pys__api.PyErr_ExceptionMatches(PYS__EXC(BufferError))) {
                    pys__api.PyErr_Clear();
                    type_err(o, "bytes-like object", __func__);
                } else {
                    pys__fail_py(rt, __func__);
                }
            } else {
                r = malloc((size_t)view.len + 1);
                if (!r) {
                    pys__fail(__func__, PYS_E_NOMEM, "pys_bytes_copy: out of memory");
                } else {
                    memcpy(r, view.buf, (size_t)view.len);
                    ((char *)r)[view.len] = '\0';
                    if (len)
                        *len = (size_t)view.len;
                }
                pys__api.PyBuffer_Release(&view);
            }
        }
    }
    END_H();
    return r;
}
