/* The format language of pys_callf / pys_call_method / pys_build: C values
 * described by letters, turned into Python objects in one pass.
 *
 * On the first error the parser keeps walking the format in "skip" mode so
 * every vararg is consumed and every 'N' handle is still released (the
 * caller was promised that), but creates nothing more. A malformed format is
 * PYS_E_ARG before anything is called. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct fmt_ctx {
    pys_runtime *rt;
    const char *fn;
    const char *start;
    const char *p;
    va_list *ap;
    int rc;          /* first failure, PYS_OK while none */
    int argno;       /* 1-based number of the value being read */
} fmt_ctx;

static bool failed(const fmt_ctx *c)
{
    return c->rc != PYS_OK;
}

static void skip_sep(fmt_ctx *c)
{
    while (*c->p == ' ' || *c->p == ',' || *c->p == '\t' || *c->p == '\n')
        c->p++;
}

static PyObject *fail_arg(fmt_ctx *c, const char *what)
{
    if (!failed(c))
        c->rc = pys__fail(c->fn, PYS_E_ARG, "%s: format \"%s\" at offset %d: %s", c->fn, c->start,
                          (int)(c->p - c->start), what);
    return NULL;
}

static PyObject *check(fmt_ctx *c, PyObject *o)
{
    if (!o && !failed(c)) {
        c->rc = pys__fail_py(c->rt, c->fn);
    }
    return o;
}

static PyObject *utf8(fmt_ctx *c, const char *s, size_t n)
{
    PyObject *o = pys__api.PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "strict");
    if (!o && !failed(c)) {
        pys__api.PyErr_Clear();
        c->rc = pys__fail(c->fn, PYS_E_VALUE, "%s: argument %d is not valid UTF-8", c->fn,
                          c->argno);
    }
    return o;
}

static PyObject *item(fmt_ctx *c);

static PyObject *sequence(fmt_ctx *c, char close, bool tuple)
{
    /* Items collect in an array (on the stack for up to 16), then move
     * into a list or tuple of the exact size. */
    PyObject *stack[16], **v = stack;
    size_t n = 0, cap = sizeof stack / sizeof stack[0];
    for (;;) {
        skip_sep(c);
        if (*c->p == close) {
            c->p++;
            break;
        }
        if (!*c->p) {
            fail_arg(c, close == ']' ? "missing ']'" : "missing ')'");
            break;
        }
        PyObject *x = item(c);
        if (x && n == cap && !failed(c)) {
            PyObject **bigger = malloc(2 * cap * sizeof *bigger);
            if (bigger) {
                memcpy(bigger, v, n * sizeof *v);
                if (v != stack)
                    free(v);
                v = bigger;
                cap *= 2;
            } else {
                c->rc = pys__fail(c->fn, PYS_E_NOMEM, "%s: out of memory", c->fn);
            }
        }
        if (x && n < cap && !failed(c))
            v[n++] = x; /* owned by v now */
        else if (x)
            pys__api.Py_DecRef(x);
    }
    PyObject *r = NULL;
    if (!failed(c))
        r = check(c, tuple ? pys__api.PyTuple_New((Py_ssize_t)n)
                           : pys__api.PyList_New((Py_ssize_t)n));
    for (size_t i = 0; i < n; i++) {
        if (!r)
            pys__api.Py_DecRef(v[i]);
        else if (tuple)
            pys__api.PyTuple_SetItem(r, (Py_ssize_t)i, v[i]); /* steals */
        else
            pys__api.PyList_SetItem(r, (Py_ssize_t)i, v[i]); /* steals */
    }
    if (v != stack)
        free(v);
    return r;
}

static PyObject *dict(fmt_ctx *c)
{
    PyObject *d = failed(c) ? NULL : check(c, pys__api.PyDict_New());
    for (;;) {
        skip_sep(c);
        if (*c->p == '}') {
            c->p++;
            break;
        }
        if (!*c->p) {
            if (d)
                pys__api.Py_DecRef(d);
            return fail_arg(c, "missing '}'");
        }
        PyObject *k = item(c);
        skip_sep(c);
        if (*c->p != ':') {
            if (k)
                pys__api.Py_DecRef(k);
            if (d)
                pys__api.Py_DecRef(d);
            return fail_arg(c, "expected ':' after a dict key");
        }
        c->p++;
        skip_sep(c);
        PyObject *v = item(c);
        if (k && v && d && pys__api.PyDict_SetItem(d, k, v) < 0)
            check(c, NULL);
        if (k)
            pys__api.Py_DecRef(k);
        if (v)
            pys__api.Py_DecRef(v);
    }
    if (failed(c)) {
        if (d)
            pys__api.Py_DecRef(d);
        return NULL;
    }
    return d;
}

static PyObject *item(fmt_ctx *c)
{
    char ch = *c->p++;
    if (ch != '[' && ch != '(' && ch != '{' && ch != 'n')
        c->argno++;
    switch (ch) {
    case 'q': {
        int64_t v = va_arg(*c->ap, int64_t);
        return failed(c) ? NULL : check(c, pys__api.PyLong_FromLongLong(v));
    }
    case 'Q': {
        uint64_t v = va_arg(*c->ap, uint64_t);
        return failed(c) ? NULL : check(c, pys__api.PyLong_FromUnsignedLongLong(v));
    }
    case 'i': {
        int v = va_arg(*c->ap, int);
        return failed(c) ? NULL : check(c, pys__api.PyLong_FromLongLong(v));
    }
    case 'd': {
        double v = va_arg(*c->ap, double);
        return failed(c) ? NULL : check(c, pys__api.PyFloat_FromDouble(v));
    }
    case 'b': {
        int v = va_arg(*c->ap, int);
        return failed(c) ? NULL : check(c, pys__api.PyBool_FromLong(v != 0));
    }
    case 's': {
        const char *s = va_arg(*c->ap, const char *);
        size_t n = 0;
        bool has_len = *c->p == '#';
        if (has_len) {
            c->p++;
            n = va_arg(*c->ap, size_t);
        }
        if (failed(c))
            return NULL;
        if (!s) {
            if (has_len && n > 0)
                return fail_arg(c, "NULL string with a non-zero length");
            pys__api.Py_IncRef(PYS__None);
            return PYS__None;
        }
        return utf8(c, s, has_len ? n : strlen(s));
    }
    case 'y': {
        const void *s = va_arg(*c->ap, const void *);
        size_t n = va_arg(*c->ap, size_t);
        if (failed(c))
            return NULL;
        if (!s && n > 0)
            return fail_arg(c, "NULL bytes pointer with a non-zero length");
        if (n > (size_t)PTRDIFF_MAX)
            return fail_arg(c, "bytes length too large");
        return check(c, pys__api.PyBytes_FromStringAndSize(s ? s : "", (Py_ssize_t)n));
    }
    case 'n':
        if (failed(c))
            return NULL;
        pys__api.Py_IncRef(PYS__None);
        return PYS__None;
    case 'O':
    case 'N': {
        pys_obj h = va_arg(*c->ap, pys_obj);
        PyObject *o = NULL;
        if (!failed(c)) {
            o = pys__h_get(c->rt, h, c->fn);
            if (!o)
                c->rc = PYS_E_HANDLE;
            else
                pys__api.Py_IncRef(o);
        }
        if (ch == 'N' && pys_ok(h)) {
            /* Released whatever happens. A stale handle was reported by
             * pys__h_get above unless an earlier failure is being kept. */
            pys__h_release(c->rt, h, failed(c) ? NULL : c->fn);
        }
        return o;
    }
    case '[':
        return sequence(c, ']', false);
    case '(':
        return sequence(c, ')', true);
    case '{':
        return dict(c);
    case '\0':
        c->p--;
        return fail_arg(c, "unexpected end");
    default: {
        c->p--;
        char what[64];
        snprintf(what, sizeof what, "unknown code '%c'", ch);
        c->p++;
        return fail_arg(c, what);
    }
    }
}

/* An identifier followed by '=' starts a keyword argument. */
static bool keyword(fmt_ctx *c, char *name, size_t size)
{
    const char *q = c->p;
    if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_'))
        return false;
    while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
           *q == '_')
        q++;
    if (*q != '=')
        return false;
    size_t n = (size_t)(q - c->p);
    if (n >= size)
        n = size - 1;
    memcpy(name, c->p, n);
    name[n] = '\0';
    c->p = q + 1;
    return true;
}

/* Positional values of a call, collected in order: in `stack` for up to
 * 16, else on the heap. */
typedef struct fmt_args {
    PyObject *stack[16];
    PyObject **pos;
    size_t n, cap;
    PyObject *kw;
} fmt_args;

static void args_free(fmt_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        pys__api.Py_DecRef(a->pos[i]);
    if (a->pos != a->stack)
        free(a->pos);
    if (a->kw)
        pys__api.Py_DecRef(a->kw);
    a->n = 0;
    a->pos = a->stack;
    a->kw = NULL;
}

/* Parses a whole call format into a (new references). Returns PYS_OK, or
 * a code with the error set and a emptied. */
static int collect(fmt_ctx *c, fmt_args *a)
{
    a->pos = a->stack;
    a->n = 0;
    a->cap = sizeof a->stack / sizeof a->stack[0];
    a->kw = NULL;
    for (;;) {
        skip_sep(c);
        if (!*c->p)
            break;
        char name[128];
        bool is_kw = keyword(c, name, sizeof name);
        if (!is_kw && a->kw)
            fail_arg(c, "positional argument after a keyword argument");
        if (is_kw && !*c->p) {
            fail_arg(c, "keyword without a value code");
            break;
        }
        PyObject *v = item(c);
        if (v && !failed(c)) {
            if (is_kw) {
                if (!a->kw)
                    a->kw = check(c, pys__api.PyDict_New());
                if (a->kw && pys__api.PyDict_SetItemString(a->kw, name, v) < 0)
                    check(c, NULL);
            } else {
                if (a->n == a->cap) {
                    PyObject **bigger = malloc(2 * a->cap * sizeof *bigger);
                    if (bigger) {
                        memcpy(bigger, a->pos, a->n * sizeof *a->pos);
                        if (a->pos != a->stack)
                            free(a->pos);
                        a->pos = bigger;
                        a->cap *= 2;
                    } else if (!failed(c)) {
                        c->rc = pys__fail(c->fn, PYS_E_NOMEM, "%s: out of memory", c->fn);
                    }
                }
                if (a->n < a->cap) {
                    a->pos[a->n++] = v; /* owned by a now */
                    v = NULL;
                }
            }
        }
        if (v)
            pys__api.Py_DecRef(v);
        if (failed(c) && c->rc == PYS_E_ARG && !*c->p)
            break;
    }
    if (failed(c)) {
        args_free(a);
        return c->rc;
    }
    return PYS_OK;
}

int pys__fmt_call_args(pys_runtime *rt, const char *fn, const char *fmt, va_list *ap,
                       PyObject **args, PyObject **kwargs)
{
    *args = NULL;
    *kwargs = NULL;
    fmt_ctx c = {.rt = rt, .fn = fn, .start = fmt ? fmt : "", .p = fmt ? fmt : "", .ap = ap};
    fmt_args a;
    int rc = collect(&c, &a);
    if (rc != PYS_OK)
        return rc;
    /* Move the values into a tuple of the exact size. */
    *args = pys__api.PyTuple_New((Py_ssize_t)a.n);
    if (!*args) {
        args_free(&a);
        return pys__fail_py(rt, fn);
    }
    for (size_t i = 0; i < a.n; i++)
        pys__api.PyTuple_SetItem(*args, (Py_ssize_t)i, a.pos[i]); /* steals */
    a.n = 0;
    *kwargs = a.kw;
    a.kw = NULL;
    args_free(&a);
    return PYS_OK;
}

PyObject *pys__fmt_call(pys_runtime *rt, const char *fn, PyObject *f, const char *fmt,
                        va_list *ap)
{
    fmt_ctx c = {.rt = rt, .fn = fn, .start = fmt ? fmt : "", .p = fmt ? fmt : "", .ap = ap};
    fmt_args a;
    if (collect(&c, &a) != PYS_OK)
        return NULL;
    PyObject *r = NULL;
    if (f) {
        /* The values go to the callee as a C array (vectorcall): no tuple. */
        r = pys__call_raw(f, a.pos, a.n, a.kw);
        if (!r)
            pys__fail_py(rt, fn);
    }
    args_free(&a);
    return r;
}

PyObject *pys__fmt_build(pys_runtime *rt, const char *fn, const char *fmt, va_list *ap, int *rc)
{
    fmt_ctx c = {.rt = rt, .fn = fn, .start = fmt ? fmt : "", .p = fmt ? fmt : "", .ap = ap};
    if (!fmt) {
        *rc = pys__fail(fn, PYS_E_ARG, "%s: format is NULL", fn);
        return NULL;
    }
    skip_sep(&c);
    PyObject *v = item(&c);
    skip_sep(&c);
    if (*c.p && !failed(&c)) {
        fail_arg(&c, "more than one value at the top level (wrap them in [] or ())");
        /* consume the rest so N handles are released */
        while (*c.p) {
            PyObject *x = item(&c);
            if (x)
                pys__api.Py_DecRef(x);
            skip_sep(&c);
        }
    }
    if (failed(&c)) {
        if (v)
            pys__api.Py_DecRef(v);
        *rc = c.rc;
        return NULL;
    }
    *rc = PYS_OK;
    return v;
}
