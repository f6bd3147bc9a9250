/* One call of a bridge function (bridge/internal.h): the METH_FASTCALL
 * entry, the step from its `self` to the registration, the call counting,
 * binding and converting arguments, the typed trampolines and the result.
 * The hot path: everything one call touches is in this file or inline in
 * internal.h, so that it compiles as one unit.
 *
 * A callback runs with tls->gil_depth raised so that nested pyshim calls
 * skip GIL handling, and counted in flight (pys__enter_outer) when it
 * entered from pure Python (a Python thread), so pys_close waits for it.
 * Each call pushes a frame on this thread's stack (raise.c). Calls of
 * scalar-code signatures (convert/codes.h) with every argument by position try a short path
 * first (call_fast: exact ints and floats, True and False, converted
 * without running Python code); anything else, and every error, takes the
 * full path, which binds keywords and defaults and reports. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/internal.h"
#include "convert/scalar.h"

/* GIL builds: the capsule of the last function called and its
 * registration, so that repeated calls skip PyCapsule_GetPointer. Read and
 * written only with the GIL held and never on free-threaded builds (nor
 * with forced locking); registry.c's capsule destructor forgets a capsule
 * before it goes (pys__br_forget_cap). */
static PyObject *last_cap;
static br_reg *last_reg;

void pys__br_forget_cap(PyObject *cap)
{
    if (cap == last_cap)
        last_cap = NULL;
}

/* This thread's frame stack (its innermost frame, pys__tls.br_frame), see
 * raise.c. */
br_frame *pys__br_frame_current(void)
{
    return pys__tls_get()->br_frame;
}

static void no_handles(void)
{
    pys__api.PyErr_SetString(PYS__EXC(MemoryError), "pyshim bridge: the handle table is full");
}

static __attribute__((noinline)) PyObject *call_generic(pys_runtime *rt, pys__tls *t, br_reg *r,
                                                        PyObject *const *args, size_t nargs,
                                                        PyObject *kwnames, br_frame *fr)
{
    pys_obj stack[8];
    pys_obj *h = stack;
    pys_obj kw = PYS_NULL;
    PyObject *res = NULL;
    size_t made = 0;
    if (nargs > 8) {
        h = pys__malloc_n(nargs, sizeof *h);
        if (!h) {
            pys__api.PyErr_SetString(PYS__EXC(MemoryError), "pyshim bridge: out of memory");
            return NULL;
        }
    }
    for (; made < nargs; made++) {
        pys__api.Py_IncRef(args[made]);
        h[made] = pys__h_new(rt, args[made], r->qualname);
        if (!pys_ok(h[made])) {
            no_handles();
            goto out;
        }
    }
    Py_ssize_t nkw = kwnames ? pys__api.PyTuple_Size(kwnames) : 0;
    if (nkw > 0) {
        PyObject *d = pys__api.PyDict_New();
        for (Py_ssize_t i = 0; d && i < nkw; i++) {
            if (pys__api.PyDict_SetItem(d, pys__api.PyTuple_GetItem(kwnames, i),
                                        args[nargs + (size_t)i]) < 0) {
                pys__api.Py_DecRef(d);
                d = NULL;
            }
        }
        if (!d)
            goto out;
        kw = pys__h_new(rt, d, r->qualname);
        if (!pys_ok(kw)) {
            no_handles();
            goto out;
        }
    }
    br_capture cap = pys__br_capture_begin(t);
    pys_obj result = PYS_NULL;
    int rc = r->fn(rt, h, nargs, kw, r->userdata, &result);
    PyObject *captured = pys__br_capture_end(t, cap);
    PyObject *value = NULL;
    if (pys_ok(result)) {
        value = pys__h_get(rt, result, r->qualname);
        if (value) {
            pys__api.Py_IncRef(value);
            pys__h_release(rt, result, NULL);
        }
    }
    if (pys__br_frame_pending(fr)) {
        pys__br_frame_raise(fr);
        pys__api.Py_DecRef(captured);
    } else if (rc != PYS_OK) {
        pys__br_raise_failure(rt, r, rc, pys__br_capture_error(&cap), captured);
    } else {
        pys__api.Py_DecRef(captured);
        if (value) {
            res = value;
            value = NULL;
        } else if (pys_ok(result)) {
            pys__api.PyErr_SetString(PYS__EXC(RuntimeError),
                                     "pyshim bridge: the callback's result handle was released "
                                     "or is not live");
        } else {
            pys__api.Py_IncRef(PYS__None);
            res = PYS__None;
        }
    }
    pys__api.Py_DecRef(value);
out:
    if (pys_ok(kw))
        pys__h_release(rt, kw, NULL);
    for (size_t i = 0; i < made; i++)
        pys__h_release(rt, h[i], NULL); /* silent if the callback released it */
    if (h != stack)
        free(h);
    return res;
}

/* ---- typed calls: the trampolines ----------------------------------------- */

/* Trampolines, not libffi. libffi would mean a new build and run-time
 * dependency (and apt in CI) for one feature, against the design's
 * "nothing to install" rule. Instead every typed C function is called
 * through one of a fixed set of function-pointer types generated by macros:
 * (uint64_t x ni, double x nd) -> uint64_t or double, ni <= 6, nd <= 8.
 * This relies on two ABI facts of x86-64 System V and AArch64 AAPCS64 (the
 * platforms bridge_sig.h enables with BR_TYPED and BR_SPLIT): (1) every
 * integer-class argument q Q i b s y O (int64, pointers, size_t, and
 * pys_obj, a struct of one uint64_t) travels in a 64-bit general register,
 * widened by us; (2) integer and floating-point arguments are assigned
 * registers from separate files, in order within each, so f(int64, double,
 * int64) receives exactly what g(uint64, uint64, double) passes. With at
 * most 6 + 8 arguments nothing goes on the stack. Narrow returns (int,
 * bool) are truncated to their width because the upper register bits are
 * unspecified. Elsewhere (other 64-bit ABIs) only signatures of one class
 * are accepted, and 32-bit targets get no typed calls; both are
 * PYS_E_UNSUPPORTED at registration. Calling through a different pointer
 * type is outside ISO C, so clang's -fsanitize=function is disabled for the
 * one dispatch function. */

#define TI1 uint64_t
#define TI2 TI1, uint64_t
#define TI3 TI2, uint64_t
#define TI4 TI3, uint64_t
#define TI5 TI4, uint64_t
#define TI6 TI5, uint64_t
#define VI1 u[0]
#define VI2 VI1, u[1]
#define VI3 VI2, u[2]
#define VI4 VI3, u[3]
#define VI5 VI4, u[4]
#define VI6 VI5, u[5]
#define TD1 double
#define TD2 TD1, double
#define TD3 TD2, double
#define TD4 TD3, double
#define TD5 TD4, double
#define TD6 TD5, double
#define TD7 TD6, double
#define TD8 TD7, double
#define VD1 d[0]
#define VD2 VD1, d[1]
#define VD3 VD2, d[2]
#define VD4 VD3, d[3]
#define VD5 VD4, d[4]
#define VD6 VD5, d[5]
#define VD7 VD6, d[6]
#define VD8 VD7, d[7]

#define BR_CALL(TYPES, VALUES)                                                                    \
    do {                                                                                           \
        if (dret)                                                                                  \
            r.d = ((double (*)(TYPES))f)(VALUES);                                                  \
        else                                                                                       \
            r.u = ((uint64_t(*)(TYPES))f)(VALUES);                                                 \
    } while (0)
#define BR_CALL2(T1, T2, V1, V2)                                                                  \
    do {                                                                                           \
        if (dret)                                                                                  \
            r.d = ((double (*)(T1, T2))f)(V1, V2);                                                 \
        else                                                                                       \
            r.u = ((uint64_t(*)(T1, T2))f)(V1, V2);                                                \
    } while (0)
#define BR_CASE_I(n)                                                                              \
    case (n) * 16:                                                                                 \
        BR_CALL(TI##n, VI##n);                                                                     \
        break;
#define BR_CASE_D(m)                                                                              \
    case (m):                                                                                      \
        BR_CALL(TD##m, VD##m);                                                                     \
        break;
#define BR_CASE_ID(n, m)                                                                          \
    case (n) * 16 + (m):                                                                           \
        BR_CALL2(TI##n, TD##m, VI##n, VD##m);                                                      \
        break;
#define BR_ROW(n)                                                                                 \
    BR_CASE_ID(n, 1)                                                                               \
    BR_CASE_ID(n, 2)                                                                               \
    BR_CASE_ID(n, 3) BR_CASE_ID(n, 4) BR_CASE_ID(n, 5) BR_CASE_ID(n, 6) BR_CASE_ID(n, 7)           \
        BR_CASE_ID(n, 8)

/* The result of a typed call: one of the two, by the return code (a
 * struct of these two comes back in registers). */
typedef struct br_ret {
    uint64_t u;
    double d;
} br_ret;

/* Calls f with u[0..ni) and d[0..nd), where shape = ni * 16 + nd; dret:
 * f returns a double (else an integer-class value). */
#if defined(__clang__)
__attribute__((no_sanitize("function")))
#endif
static br_ret trampoline(pys_cfunc f, int shape, bool dret, const uint64_t *u, const double *d)
{
    br_ret r = {0, 0};
    switch (shape) {
    case 0:
        if (dret)
            r.d = ((double (*)(void))f)();
        else
            r.u = ((uint64_t(*)(void))f)();
        break;
        BR_CASE_I(1)
        BR_CASE_I(2)
        BR_CASE_I(3)
        BR_CASE_I(4)
        BR_CASE_I(5)
        BR_CASE_I(6)
        BR_CASE_D(1)
        BR_CASE_D(2)
        BR_CASE_D(3)
        BR_CASE_D(4)
        BR_CASE_D(5)
        BR_CASE_D(6)
        BR_CASE_D(7)
        BR_CASE_D(8)
        BR_ROW(1)
        BR_ROW(2)
        BR_ROW(3)
        BR_ROW(4)
        BR_ROW(5)
        BR_ROW(6)
    default:
        break; /* pys__br_sig_parse refuses anything else */
    }
    return r;
}

/* Matches positional and keyword arguments to parameters. vals[] gets
 * borrowed objects (NULL = use the default). -1 with TypeError set. */
static int bind_args(br_reg *r, PyObject *const *args, size_t nargs, PyObject *kwnames,
                     PyObject **vals)
{
    const br_sig *s = r->sig;
    if (nargs > (size_t)s->npos) {
        int nreq = 0;
        while (nreq < s->npos && s->p[nreq].def.kind == LIT_REQUIRED)
            nreq++;
        if (nreq == s->npos)
            pys__br_raise_sig(r, PYS__EXC(TypeError),
                              "takes %d positional argument%s but %zu %s given", s->npos,
                              s->npos == 1 ? "" : "s", nargs, nargs == 1 ? "was" : "were");
        else
            pys__br_raise_sig(r, PYS__EXC(TypeError),
                              "takes from %d to %d positional arguments but %zu %s given", nreq,
                              s->npos, nargs, nargs == 1 ? "was" : "were");
        return -1;
    }
    for (size_t i = 0; i < nargs; i++)
        vals[i] = args[i];
    Py_ssize_t nkw = kwnames ? pys__api.PyTuple_Size(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        Py_ssize_t kl = 0;
        const char *kn = pys__api.PyUnicode_AsUTF8AndSize(pys__api.PyTuple_GetItem(kwnames, k),
                                                          &kl);
        if (!kn)
            return -1;
        /* By length too: a keyword with a NUL is not the name before it. */
        int j = 0;
        for (; j < s->np; j++)
            if (s->p[j].name && strlen(s->p[j].name) == (size_t)kl &&
                memcmp(s->p[j].name, kn, (size_t)kl) == 0)
                break;
        if (j == s->np || s->p[j].posonly) {
            pys__br_raise_sig(r, PYS__EXC(TypeError), "got an unexpected keyword argument '%s'",
                              kn);
            return -1;
        }
        if (vals[j]) {
            pys__br_raise_sig(r, PYS__EXC(TypeError), "got multiple values for argument '%s'",
                              kn);
            return -1;
        }
        vals[j] = args[nargs + (size_t)k];
    }
    for (int j = 0; j < s->np; j++) {
        if (!vals[j] && s->p[j].def.kind == LIT_REQUIRED) {
            pys__br_raise_sig(r, PYS__EXC(TypeError),
                              "missing required argument '%s' (position %d)", s->p[j].name,
                              j + 1);
            return -1;
        }
    }
    return 0;
}

static void bad_type(br_reg *r, int j, PyObject *o)
{
    char tn[128];
    pys__br_raise_sig(r, PYS__EXC(TypeError), "argument '%s' must be %s, not %s",
                      r->sig->p[j].name, pys__br_code_type(r->sig->p[j].code),
                      pys__type_name(o, tn, sizeof tn));
}

typedef struct br_conv {
    uint64_t u[BR_MAXI];
    double d[BR_MAXD];
    int ni, nd;
    Py_buffer buf[BR_MAXI / 2];
    int nbuf;
    pys_obj h[BR_MAXI];
    int nh;
} br_conv;

/* Raises what the value rule (convert/scalar.h) refused o for as
 * parameter j; range is the text of an out-of-range value. Returns -1. */
static __attribute__((noinline)) int conv_fail(br_reg *r, int j, PyObject *o, pys__sc s,
                                               const char *range)
{
    if (s == PYS__SC_TYPE)
        bad_type(r, j, o);
    else if (s == PYS__SC_RANGE)
        pys__br_raise_sig(r, PYS__EXC(OverflowError), "argument '%s' %s", r->sig->p[j].name,
                          range);
    return -1; /* PYS__SC_PY: the exception is pending */
}

/* Converts parameter j (value o, or its default when o is NULL). -1 with
 * an exception set. */
static int convert(pys_runtime *rt, br_reg *r, int j, PyObject *o, br_conv *c)
{
    const br_param *pa = &r->sig->p[j];
    const br_lit *def = &pa->def;
    bool none = o == PYS__None && def->kind == LIT_NONE;
    switch (pa->code) {
#define DEF_PYS__CK_SINT def->i
#define DEF_PYS__CK_UINT def->u
#define DEF_PYS__CK_REAL def->d
#define DEF_PYS__CK_BOOL def->b
#define STORE_U(v) c->u[c->ni++] = (uint64_t)(v)
#define STORE_D(v) c->d[c->nd++] = (v)
#define SCALAR(L, ch, ctype, vatype, regtype, pytype, kind, lo, hi, ffi, reg, to_py, range, doc) \
    case ch: {                                                                                     \
        ctype v = (ctype)DEF_##kind;                                                               \
        if (o) {                                                                                   \
            pys__sc s = pys__sc_##L(o, &v);                                                        \
            if (__builtin_expect(s != PYS__SC_OK, 0))                                              \
                return conv_fail(r, j, o, s, range);                                               \
        }                                                                                          \
        STORE_##reg(v);                                                                            \
        return 0;                                                                                  \
    }
        PYS__SCALAR_CODES(SCALAR)
#undef SCALAR
#undef STORE_U
#undef STORE_D
#undef DEF_PYS__CK_SINT
#undef DEF_PYS__CK_UINT
#undef DEF_PYS__CK_REAL
#undef DEF_PYS__CK_BOOL
    case 's': {
        const char *v = def->kind == LIT_STR ? def->s : NULL;
        if (o && !none) {
            if (!pys__is(o, pys__api.PyUnicode_Type)) {
                bad_type(r, j, o);
                return -1;
            }
            Py_ssize_t n = 0;
            v = pys__api.PyUnicode_AsUTF8AndSize(o, &n);
            if (!v)
                return -1;
            if (strlen(v) != (size_t)n) {
                pys__br_raise_sig(r, PYS__EXC(ValueError),
                                  "argument '%s' contains a NUL character", pa->name);
                return -1;
            }
        } else if (none) {
            v = NULL;
        }
        c->u[c->ni++] = (uint64_t)(uintptr_t)v;
        return 0;
    }
    case 'y': {
        const void *p = def->kind == LIT_STR ? def->s : NULL;
        size_t n = def->kind == LIT_STR ? def->n : 0;
        if (o && !none) {
            Py_buffer *b = &c->buf[c->nbuf];
            if (pys__is(o, pys__api.PyUnicode_Type) ||
                pys__api.PyObject_GetBuffer(o, b, PYS__PyBUF_SIMPLE) < 0) {
                pys__api.PyErr_Clear();
                bad_type(r, j, o);
                return -1;
            }
            c->nbuf++;
            p = b->buf;
            n = (size_t)b->len;
        } else if (none) {
            p = NULL;
            n = 0;
        }
        c->u[c->ni++] = (uint64_t)(uintptr_t)p;
        c->u[c->ni++] = (uint64_t)n;
        return 0;
    }
    case 'O': {
        PyObject *v = o;
        if (!v) {
            switch (def->kind) {
            case LIT_INT:
                v = pys__api.PyLong_FromLongLong(def->i);
                break;
            case LIT_UINT:
                v = pys__api.PyLong_FromUnsignedLongLong(def->u);
                break;
            case LIT_FLOAT:
                v = pys__api.PyFloat_FromDouble(def->d);
                break;
            case LIT_BOOL:
                v = pys__api.PyBool_FromLong(def->b);
                break;
            case LIT_STR:
                v = pys__api.PyUnicode_DecodeUTF8(def->s, (Py_ssize_t)def->n, "strict");
                break;
            default:
                v = PYS__None;
                pys__api.Py_IncRef(v);
            }
            if (!v)
                return -1;
        } else {
            pys__api.Py_IncRef(v);
        }
        pys_obj h = pys__h_new(rt, v, r->qualname);
        if (!pys_ok(h)) {
            no_handles();
            return -1;
        }
        c->h[c->nh++] = h;
        c->u[c->ni++] = h.id;
        return 0;
    }
    }
    pys__api.PyErr_SetString(PYS__EXC(RuntimeError), "pyshim bridge: bad parameter code");
    return -1;
}

/* Releases the buffers and handles a conversion made. */
static __attribute__((noinline)) void conv_release(pys_runtime *rt, br_conv *c)
{
    for (int i = 0; i < c->nbuf; i++)
        pys__api.PyBuffer_Release(&c->buf[i]);
    for (int i = 0; i < c->nh; i++)
        pys__h_release(rt, c->h[i], NULL);
}

/* convert_fast's exact int for an unsigned code, or for d; false when it
 * does not fit (the full path then reports). */
static __attribute__((noinline)) bool convert_fast_int(char code, PyObject *o, uint64_t *u,
                                                       double *d)
{
    if (pys__code_kind(code) == PYS__CK_UINT) {
        unsigned long long v = pys__api.PyLong_AsUnsignedLongLong(o);
        if (v == (unsigned long long)-1 && pys__api.PyErr_Occurred()) {
            pys__api.PyErr_Clear();
            return false;
        }
        if (v > pys__code_hi(code))
            return false;
        *u = v;
        return true;
    }
    double v = pys__api.PyFloat_AsDouble(o);
    if (v == -1.0 && pys__api.PyErr_Occurred()) {
        pys__api.PyErr_Clear();
        return false;
    }
    *d = v;
    return true;
}

/* The common case of a typed call (r->nfast >= 0, that many arguments,
 * all by position): an exact int for an integer code or d, a float for d,
 * True or False for b (a subset of convert/scalar.h's rules), each converted without running Python code. Returns false when that
 * does not apply, having done nothing that needs undoing: the full path
 * then binds, converts and reports. */
static inline bool convert_fast(const br_reg *r, PyObject *const *args, uint64_t *u, double *d)
{
    for (int j = 0; j < r->nfast; j++) {
        PyObject *o = args[j];
        char code = r->fcode[j];
        if (code == 'b') {
            if (o != PYS__True && o != PYS__False)
                return false;
            u[r->fidx[j]] = o == PYS__True;
            continue;
        }
        PyObject *type = pys__type_of(o);
        if (__builtin_expect(!type, 0)) {
            /* o keeps its type alive: compare only, so drop the reference. */
            type = pys__api.PyObject_Type(o);
            pys__api.Py_DecRef(type);
        }
        if (code == 'd' && type == pys__api.PyFloat_Type) {
            d[r->fidx[j]] = pys__api.PyFloat_AsDouble(o); /* cannot fail */
            continue;
        }
        if (__builtin_expect(type != pys__api.PyLong_Type, 0))
            return false;
        if (code == 'q' || pys__code_kind(code) == PYS__CK_SINT) {
            int ovf = 0;
            long long v = pys__api.PyLong_AsLongLongAndOverflow(o, &ovf);
            /* an exact int: overflow is the only failure */
            if (__builtin_expect(ovf || (code != 'q' && (v < pys__code_lo(code) ||
                                                         v > (int64_t)pys__code_hi(code))),
                                 0))
                return false;
            u[r->fidx[j]] = (uint64_t)v;
        } else if (!convert_fast_int(code, o, &u[r->fidx[j]], &d[r->fidx[j]])) {
            return false;
        }
    }
    return true;
}

/* The Python value of a typed result other than O: a new reference, or
 * NULL with an exception set. */
static inline PyObject *scalar_result(char code, br_ret ret)
{
    uint64_t ru = ret.u;
    switch (code) {
#define RET_U(ctype, regtype) ((ctype)(regtype)ru)
#define RET_D(ctype, regtype) ((ctype)ret.d)
#define SCALAR(L, ch, ctype, vatype, regtype, pytype, kind, lo, hi, ffi, reg, to_py, range, doc) \
    case ch:                                                                                       \
        return pys__api.to_py(RET_##reg(ctype, regtype));
        PYS__SCALAR_CODES(SCALAR)
#undef SCALAR
#undef RET_U
#undef RET_D
    case 's': {
        const char *sv = (const char *)(uintptr_t)ru;
        if (sv)
            return pys__api.PyUnicode_DecodeUTF8(sv, (Py_ssize_t)strlen(sv), "strict");
        break;
    }
    }
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

/* Every other typed call: binds keywords and defaults, converts each
 * argument, raises the TypeError (OverflowError, ValueError) that names
 * the signature. -1 with an exception set; what c holds is released by
 * the caller either way. */
static __attribute__((noinline)) int convert_all(pys_runtime *rt, br_reg *r,
                                                 PyObject *const *args, size_t nargs,
                                                 PyObject *kwnames, br_conv *c)
{
    const br_sig *s = r->sig;
    PyObject *vals[BR_MAXP];
    for (int j = 0; j < s->np; j++)
        vals[j] = NULL;
    c->ni = c->nd = 0;
    if (bind_args(r, args, nargs, kwnames, vals) < 0)
        return -1;
    for (int j = 0; j < s->np; j++)
        if (convert(rt, r, j, vals[j], c) < 0)
            return -1;
    return 0;
}

/* The Python value of an O result (handle h, taken over); raises when h
 * is PYS_NULL. Returns a new reference or NULL with an exception set. */
static __attribute__((noinline)) PyObject *result_obj(pys_runtime *rt, br_reg *r, pys_obj h,
                                                       const br_capture *cap, PyObject *captured)
{
    PyObject *v = pys_ok(h) ? pys__h_get(rt, h, r->qualname) : NULL;
    if (v) {
        pys__api.Py_DecRef(captured);
        pys__api.Py_IncRef(v);
        pys__h_release(rt, h, NULL);
        return v;
    }
    const pys_error *e = pys__br_capture_error(cap);
    if (!e || e->code == PYS_OK) {
        pys__api.Py_DecRef(captured);
        pys__raise(PYS__EXC(RuntimeError),
                   "%s returned the invalid handle without a pyshim error or "
                   "pys_bridge_raise",
                   r->qualname);
    } else {
        pys__br_raise_failure(rt, r, e->code, e, captured);
    }
    return NULL;
}

/* A typed call, the full way: keywords, defaults, every parameter code. */
static __attribute__((noinline)) PyObject *call_typed(pys_runtime *rt, pys__tls *t, br_reg *r,
                                                      PyObject *const *args, size_t nargs,
                                                      PyObject *kwnames, br_frame *fr)
{
    const br_sig *s = r->sig;
    br_conv c;
    c.nbuf = c.nh = 0;
    PyObject *res = NULL;
    if (convert_all(rt, r, args, nargs, kwnames, &c) < 0)
        goto out;
    /* Only an O result can report a failure of nested pyshim calls. */
    bool obj_ret = s->ret == 'O';
    br_capture cap = {NULL, 0};
    if (obj_ret)
        cap = pys__br_capture_begin(t);
    br_ret ret = trampoline(r->cfunc, c.ni * 16 + c.nd, s->ret == 'd', c.u, c.d);
    uint64_t ru = ret.u;
    PyObject *captured = obj_ret ? pys__br_capture_end(t, cap) : NULL;
    if (pys__br_frame_pending(fr)) {
        if (obj_ret && ru)
            pys__h_release(rt, (pys_obj){ru}, NULL);
        pys__api.Py_DecRef(captured);
        pys__br_frame_raise(fr);
        goto out;
    }
    res = obj_ret ? result_obj(rt, r, (pys_obj){ru}, &cap, captured)
                  : scalar_result(s->ret, ret);
out:
    if (c.nbuf || c.nh)
        conv_release(rt, &c);
    return res;
}

/* A typed call with r->nfast positional arguments and no keywords: the
 * arguments go straight into registers when convert_fast takes them;
 * nothing to release afterwards. Otherwise the full way. */
static inline PyObject *call_fast(pys_runtime *rt, pys__tls *t, br_reg *r,
                                  PyObject *const *args, br_frame *fr)
{
    uint64_t u[BR_MAXI];
    double d[BR_MAXD];
    if (__builtin_expect(!convert_fast(r, args, u, d), 0))
        return call_typed(rt, t, r, args, (size_t)r->nfast, NULL, fr);
    br_ret ret = trampoline(r->cfunc, r->fshape, r->fret == 'd', u, d);
    if (__builtin_expect(pys__br_frame_pending(fr), 0)) {
        pys__br_frame_raise(fr);
        return NULL;
    }
    return scalar_result(r->fret, ret);
}

/* reg_of without the slot's offset, or after it found no capsule (a self
 * cleared by the garbage collector): asks the slot's descriptor. */
static __attribute__((noinline)) br_reg *reg_of_slow(pys_runtime *rt, PyObject *self)
{
    br_state *st = rt->bridge;
    if (!st) {
        pys__api.PyErr_SetString(PYS__EXC(RuntimeError),
                                 "pyshim bridge: this C function's runtime is closed");
        return NULL;
    }
    PyObject *args = pys__api.PyTuple_New(1);
    if (!args)
        return NULL;
    pys__api.Py_IncRef(self);
    pys__api.PyTuple_SetItem(args, 0, self);
    PyObject *cap = pys__api.PyObject_CallObject(st->self_get, args);
    pys__api.Py_DecRef(args);
    br_reg *r = cap ? pys__api.PyCapsule_GetPointer(cap, NULL) : NULL;
    if (cap)
        pys__api.Py_DecRef(cap); /* self holds it */
    if (!r) {
        pys__api.PyErr_Clear();
        pys__api.PyErr_SetString(PYS__EXC(RuntimeError),
                                 "pyshim bridge: not a registered C function");
    }
    return r;
}

/* The registration behind a function's `self` (a BridgeSelf), or NULL
 * with an exception set. */
static inline br_reg *reg_of(pys_runtime *rt, PyObject *self)
{
    br_state *st = rt->bridge;
    if (__builtin_expect(st != NULL && st->self_off != 0, 1)) {
        PyObject *cap = *(PyObject *const *)((const char *)self + st->self_off);
        bool locking = rt->locking;
        if (cap && cap == last_cap && !locking)
            return last_reg;
        br_reg *r = cap ? pys__api.PyCapsule_GetPointer(cap, NULL) : NULL;
        if (__builtin_expect(r != NULL, 1)) {
            if (!locking) {
                last_cap = cap;
                last_reg = r;
            }
            return r;
        }
        pys__api.PyErr_Clear();
    }
    return reg_of_slow(rt, self);
}

/* A call of r begins: counts it in r->active. Returns whether r is dead.
 * `locking`: a free-threaded build or forced locking (read once per call,
 * so that call_end matches). */
static inline bool call_begin(br_reg *r, bool locking)
{
    if (__builtin_expect(locking, 0)) {
        atomic_fetch_add_explicit(&r->active, 1, memory_order_seq_cst);
        return atomic_load_explicit(&r->dead, memory_order_seq_cst);
    }
    /* GIL build: the GIL orders this against every other access. */
    int a = atomic_load_explicit(&r->active, memory_order_relaxed);
    atomic_store_explicit(&r->active, a + 1, memory_order_relaxed);
    return atomic_load_explicit(&r->dead, memory_order_relaxed);
}

/* A call of r ends. Returns true if it was the last call of a dead r (the
 * caller then tries its release hook). */
static inline bool call_end(br_reg *r, bool locking)
{
    if (__builtin_expect(locking, 0))
        return atomic_fetch_sub_explicit(&r->active, 1, memory_order_seq_cst) == 1 &&
               atomic_load_explicit(&r->dead, memory_order_seq_cst);
    int a = atomic_load_explicit(&r->active, memory_order_relaxed) - 1;
    atomic_store_explicit(&r->active, a, memory_order_relaxed);
    return a == 0 && atomic_load_explicit(&r->dead, memory_order_relaxed);
}

static __attribute__((noinline)) void raise_dead(br_reg *r)
{
    pys__raise(PYS__EXC(RuntimeError),
               "%s was unregistered or replaced (look it up again in its module)", r->qualname);
}

/* Nesting depth: callbacks that call bridge functions again through
 * pyshim (no Python frame in between, so Python's own recursion limit may
 * not see them, and on 3.12+ its C limit is larger than a thread's stack
 * takes) are refused with RecursionError once the stack left on this
 * thread is below a margin. The thread's stack bounds are looked up once
 * per thread (tls->stack_floor); the check is one comparison. Stacks grow
 * down on every platform pyshim builds for. */
#define BR_STACK_MARGIN (256u * 1024u) /* kept free for the error's way out */
#define BR_STACK_GUESS (1024u * 1024u) /* budget when the bounds are unknown */

static __attribute__((noinline)) uintptr_t stack_floor(uintptr_t sp)
{
    uintptr_t lo = 0, size = 0;
#if defined(__GLIBC__) || defined(__linux__)
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        void *addr = NULL;
        size_t sz = 0;
        if (pthread_attr_getstack(&a, &addr, &sz) == 0 && addr && sz) {
            lo = (uintptr_t)addr;
            size = sz;
        }
        pthread_attr_destroy(&a);
    }
#endif
    if (!size || sp < lo || sp - lo > size) {
        /* Unknown (or an unexpected stack, such as a coroutine's): a
         * budget below this first call. */
        lo = sp > BR_STACK_GUESS ? sp - BR_STACK_GUESS : 1;
        size = BR_STACK_GUESS;
    }
    uintptr_t margin = size / 4 < BR_STACK_MARGIN ? size / 4 : BR_STACK_MARGIN;
    return lo + margin;
}

static __attribute__((noinline)) bool stack_exhausted(pys_runtime *rt, pys__tls *t,
                                                      uintptr_t sp)
{
    if (!t->stack_floor)
        t->stack_floor = stack_floor(sp);
    if (sp >= t->stack_floor)
        return false;
    PyObject *exc = pys__br_builtin_exc(rt, "RecursionError");
    pys__raise(exc ? exc : PYS__EXC(RuntimeError),
               "maximum recursion depth exceeded in a pyshim bridge call (the C stack of "
               "this thread is nearly used up)");
    pys__api.Py_DecRef(exc);
    return true;
}

PyObject *pys__br_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames)
{
    pys_runtime *rt = &pys__the_runtime;
    pys__tls *t = pys__tls_get();
    br_frame **cf = &t->br_frame;
    /* Keep the thread record's address in a register: without this the
     * compiler fetches it again after each call. */
    __asm__("" : "+r"(t), "+r"(cf));
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (__builtin_expect(sp < t->stack_floor || !t->stack_floor, 0) &&
        stack_exhausted(rt, t, sp))
        return NULL;
    int depth = t->gil_depth;
    if (depth == 0) {
        /* Entered from Python, not from a pyshim call on this thread:
         * count it so pys_close waits for it. */
        if (__builtin_expect(!pys__enter_outer(rt, t), 0)) {
            pys__api.PyErr_SetString(PYS__EXC(RuntimeError),
                                     "pyshim bridge: the runtime is closed");
            return NULL;
        }
    }
    PyObject *res = NULL;
    /* The function may lose its last reference during the call (a caller
     * that only lends it, such as a profile hook that the callback
     * removes). Free-threaded builds hold it; GIL builds let its capsule
     * leave r to this call instead (capsule_destroy), at no cost here. */
    bool locking = rt->locking;
    if (__builtin_expect(locking, 0))
        pys__api.Py_IncRef(self);
    br_reg *r = reg_of(rt, self);
    if (__builtin_expect(r != NULL, 1)) {
        if (__builtin_expect(call_begin(r, locking), 0)) {
            raise_dead(r);
        } else {
            br_frame fr = {.prev = *cf, .reg = r};
            *cf = &fr;
            t->gil_depth = depth + 1;
            if (nargs == r->nfast && !kwnames)
                res = call_fast(rt, t, r, args, &fr);
            else if (r->cfunc)
                res = call_typed(rt, t, r, args, (size_t)nargs, kwnames, &fr);
            else
                res = call_generic(rt, t, r, args, (size_t)nargs, kwnames, &fr);
            if (t->nheld)
                pys__held_drop(t, depth + 1);
            t->gil_depth = depth;
            *cf = fr.prev;
            if (__builtin_expect(pys__br_frame_pending(&fr), 0)) /* set but not raised */
                pys__br_frame_clear(&fr);
        }
        /* Last: a release hook may free what the callback used, and an
         * orphan r goes here. */
        if (__builtin_expect(call_end(r, locking), 0))
            pys__br_reg_try_release(r);
    }
    if (__builtin_expect(locking, 0))
        pys__api.Py_DecRef(self);
    if (depth == 0)
        pys__leave_outer(rt, t);
    return res;
}

