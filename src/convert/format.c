/* The format language of pys_callf / pys_call_method / pys_build: C values
 * described by letters, turned into Python objects in one pass.
 *
 * On the first error the parser keeps walking the format in "skip" mode so
 * every vararg is consumed and every 'N' handle is still released (the
 * caller was promised that), but creates nothing more. A malformed format is
 * PYS_E_ARG before anything is called.
 *
 * Values come from the varargs, or (the FFI face, src/ffi) from typed
 * arrays: pys__fmt_vals_set() hands the next format parsed on this thread
 * its arrays, so pys_callf and every other format call serve both without
 * a second implementation. The arrays must be used up exactly. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/call.h"
#include "convert/convert.h"
#include "convert/scalar.h"

typedef struct fmt_ctx {
    pys_runtime *rt;
    const char *fn;
    const char *start;
    const char *p;
    va_list *ap;
    pys__fmt_vals *vals; /* the values' source instead of ap, or NULL */
    int rc;          /* first failure, PYS_OK while none */
    int argno;       /* 1-based number of the value being read */
    int depth;       /* [ ( { open around the item being read */
} fmt_ctx;

static bool failed(const fmt_ctx *c)
{
    return c->rc != PYS_OK;
}

/* Character classes of the format language, one table look-up each. */
enum { FMT_SEP = 1, FMT_IDSTART = 2, FMT_ID = 4, FMT_EQ = 8 };
static const unsigned char fmt_class[256] = {
    [' '] = FMT_SEP, [','] = FMT_SEP, ['\t'] = FMT_SEP, ['\n'] = FMT_SEP, ['='] = FMT_EQ,
#define ID_RANGE(a, z, cls)                                                                        \
    [a] = cls, [a + 1] = cls, [a + 2] = cls, [a + 3] = cls, [a + 4] = cls, [a + 5] = cls,            \
    [a + 6] = cls, [a + 7] = cls, [a + 8] = cls, [a + 9] = cls
    ID_RANGE('a', 'j', FMT_IDSTART | FMT_ID), ID_RANGE('k', 't', FMT_IDSTART | FMT_ID),
    ID_RANGE('A', 'J', FMT_IDSTART | FMT_ID), ID_RANGE('K', 'T', FMT_IDSTART | FMT_ID),
    ID_RANGE('0', '9', FMT_ID),
#undef ID_RANGE
    ['u'] = FMT_IDSTART | FMT_ID, ['v'] = FMT_IDSTART | FMT_ID, ['w'] = FMT_IDSTART | FMT_ID,
    ['x'] = FMT_IDSTART | FMT_ID, ['y'] = FMT_IDSTART | FMT_ID, ['z'] = FMT_IDSTART | FMT_ID,
    ['U'] = FMT_IDSTART | FMT_ID, ['V'] = FMT_IDSTART | FMT_ID, ['W'] = FMT_IDSTART | FMT_ID,
    ['X'] = FMT_IDSTART | FMT_ID, ['Y'] = FMT_IDSTART | FMT_ID, ['Z'] = FMT_IDSTART | FMT_ID,
    ['_'] = FMT_IDSTART | FMT_ID,
};
static inline bool fmt_is(char ch, int cls)
{
    return fmt_class[(unsigned char)ch] & cls;
}

static void skip_sep(fmt_ctx *c)
{
    while (fmt_is(*c->p, FMT_SEP))
        c->p++;
}

static PyObject *fail_arg(fmt_ctx *c, const char *what)
{
    if (!failed(c))
        c->rc = pys__fail(c->fn, PYS_E_ARG, "%s: format \"%s\" at offset %d: %s", c->fn, c->start,
                          (int)(c->p - c->start), what);
    return NULL;
}

/* This thread's arrays for the next format: pys__tls.fmt_vals. */
void pys__fmt_vals_set(pys__fmt_vals *v)
{
    pys__tls_get()->fmt_vals = v;
}

/* The arrays handed to this format, taken so that formats parsed while it
 * runs (a callback's own pys_callf) read their varargs. */
static pys__fmt_vals *vals_take(void)
{
    pys__tls *t = pys__tls_get();
    pys__fmt_vals *v = t->fmt_vals;
    t->fmt_vals = NULL;
    return v;
}

static bool vals_short(fmt_ctx *c, size_t i, size_t n, const char *kind)
{
    if (i < n)
        return false;
    if (!failed(c)) {
        char what[96];
        snprintf(what, sizeof what, "more %s values wanted than the %zu given", kind, n);
        fail_arg(c, what);
    }
    return true;
}

static int64_t next_int(fmt_ctx *c)
{
    pys__fmt_vals *v = c->vals;
    if (vals_short(c, v->ii, v->nints, "int"))
        return 0;
    return v->ints[v->ii++];
}

static double next_double(fmt_ctx *c)
{
    pys__fmt_vals *v = c->vals;
    if (vals_short(c, v->di, v->ndbls, "double"))
        return 0;
    return v->dbls[v->di++];
}

/* The next string and, when lens were given, its length (else SIZE_MAX). */
static const char *next_str(fmt_ctx *c, size_t *len)
{
    pys__fmt_vals *v = c->vals;
    *len = SIZE_MAX;
    if (vals_short(c, v->si, v->nstrs, "string"))
        return NULL;
    if (v->lens)
        *len = v->lens[v->si];
    return v->strs[v->si++];
}

static pys_obj next_obj(fmt_ctx *c)
{
    pys__fmt_vals *v = c->vals;
    if (vals_short(c, v->oi, v->nobjs, "handle"))
        return PYS_NULL;
    return (pys_obj){v->objs[v->oi++]};
}

/* After a whole format: every array used up, or PYS_E_ARG. */
static void vals_done(fmt_ctx *c)
{
    pys__fmt_vals *v = c->vals;
    if (!v || failed(c))
        return;
    if (v->ii != v->nints || v->di != v->ndbls || v->si != v->nstrs || v->oi != v->nobjs) {
        char what[160];
        snprintf(what, sizeof what,
                 "the format uses %zu int, %zu double, %zu string and %zu handle values; "
                 "%zu, %zu, %zu and %zu were given",
                 v->ii, v->di, v->si, v->oi, v->nints, v->ndbls, v->nstrs, v->nobjs);
        c->p = c->start + strlen(c->start);
        fail_arg(c, what);
    }
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

/* The C type a scalar code names, for messages. */
static const char *code_doc(char ch)
{
    switch (ch) {
#define DOC(L, ch_, ctype, vatype, regtype, pytype, kind, lo, hi, ffi, reg, to_py, range, doc)   \
    case ch_:                                                                                      \
        return #ctype;
        PYS__SCALAR_CODES(DOC)
#undef DOC
    }
    return "?";
}

/* After a failure at the depth limit: walks the container at c->p to its
 * end without recursing, reading (and dropping) the values inside, so the
 * varargs stay in step and 'N' handles are released. */
static void skip_nested(fmt_ctx *c)
{
    size_t open = 0;
    do {
        char ch = *c->p;
        if (!ch)
            return; /* unterminated: the failure is reported already */
        if (ch == '[' || ch == '(' || ch == '{') {
            open++;
            c->p++;
        } else if (ch == ']' || ch == ')' || ch == '}') {
            open--;
            c->p++;
        } else if (ch == ' ' || ch == ',' || ch == '\t' || ch == '\n' || ch == ':') {
            c->p++;
        } else {
            PyObject *x = item(c); /* a scalar code: no recursion */
            pys__api.Py_DecRef(x);
        }
    } while (open > 0);
}

/* Values collected in order: in `stack` for up to 16, else on the heap.
 * Holds new references. */
typedef struct fmt_vec {
    PyObject *stack[16];
    PyObject **v;
    size_t n, cap;
} fmt_vec;

static void vec_init(fmt_vec *a)
{
    a->v = a->stack;
    a->n = 0;
    a->cap = sizeof a->stack / sizeof a->stack[0];
}

/* Takes x over: appends it, or (out of memory: error set) drops it. */
static void vec_grow_push(fmt_ctx *c, fmt_vec *a, PyObject *x);
static inline void vec_push(fmt_ctx *c, fmt_vec *a, PyObject *x)
{
    if (__builtin_expect(a->n < a->cap, 1))
        a->v[a->n++] = x;
    else
        vec_grow_push(c, a, x);
}
static void vec_grow_push(fmt_ctx *c, fmt_vec *a, PyObject *x)
{
    PyObject **bigger = pys__malloc_n(a->cap, 2 * sizeof *bigger);
    if (!bigger) {
        if (!failed(c))
            c->rc = pys__fail(c->fn, PYS_E_NOMEM, "%s: out of memory", c->fn);
        pys__api.Py_DecRef(x);
        return;
    }
    memcpy(bigger, a->v, a->n * sizeof *a->v);
    if (a->v != a->stack)
        free(a->v);
    a->v = bigger;
    a->cap *= 2;
    a->v[a->n++] = x;
}

/* Drops the values not moved out (a->n of them) and the heap array. */
static void vec_free(fmt_vec *a)
{
    for (size_t i = 0; i < a->n; i++)
        pys__api.Py_DecRef(a->v[i]);
    if (a->v != a->stack)
        free(a->v);
    vec_init(a);
}

/* A new reference to None: the value of 'n' and of a NULL 's'. */
static PyObject *none_ref(void)
{
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

/* The value of 'O' / 'N': a new reference to h's object, or NULL with
 * c->rc = PYS_E_HANDLE (the detail set by pys__h_get). */
static PyObject *handle_ref(fmt_ctx *c, pys_obj h)
{
    PyObject *o = pys__h_get(c->rt, h, c->fn);
    if (!o)
        c->rc = PYS_E_HANDLE;
    else
        pys__api.Py_IncRef(o);
    return o;
}

/* The common run of a format: positional values of the scalar codes,
 * plain 's', 'O' and 'n', read from the varargs (not the FFI face's
 * arrays), pushed onto pos. One loop with no call per value, where item()
 * is a call each, behind a keyword scan in collect(). It stops, with c->p
 * there, at the end, a close, or anything it leaves to the general loop:
 * a code letter followed by an identifier character or '=' (a keyword's
 * name, or codes run together), 's#', 'y', 'N', a container, a bad code.
 * After a failure c->p is past the failing value and the general loop goes
 * on in skip mode. Each value is made as item() makes it: the same
 * objects, errors and argument numbers. Not in skip mode. */
static inline __attribute__((always_inline)) void positional(fmt_ctx *c, fmt_vec *pos)
{
    for (;;) {
        const char *p = c->p;
        while (fmt_is(*p, FMT_SEP))
            p++;
        c->p = p;
        PyObject *v;
        /* p[1] exists when *p is a code letter; a name goes on in it. */
#define NAME_GOES_ON (fmt_is(p[1], FMT_ID | FMT_EQ))
        switch (*p) {
#define FAST(L, ch_, ctype, vatype, regtype, pytype, kind, lo, hi, ffi, reg, to_py, range, doc)  \
    case ch_:                                                                                      \
        if (NAME_GOES_ON)                                                                          \
            return;                                                                                \
        c->p = p + 1;                                                                              \
        c->argno++;                                                                                \
        v = check(c, pys__api.to_py((ctype)va_arg(*c->ap, vatype)));                               \
        break;
            PYS__SCALAR_CODES(FAST)
#undef FAST
        case 's': {
            if (NAME_GOES_ON || p[1] == '#')
                return;
            c->p = p + 1;
            c->argno++;
            const char *str = va_arg(*c->ap, const char *);
            v = str ? utf8(c, str, strlen(str)) : none_ref();
            break;
        }
        case 'O':
            if (NAME_GOES_ON)
                return;
            c->p = p + 1;
            c->argno++;
            v = handle_ref(c, va_arg(*c->ap, pys_obj));
            break;
        case 'n':
            if (NAME_GOES_ON)
                return;
            c->p = p + 1;
            v = none_ref();
            break;
        default:
            return;
        }
#undef NAME_GOES_ON
        if (__builtin_expect(!v, 0))
            return; /* failed(c): check(), utf8() or handle_ref() set it */
        vec_push(c, pos, v);
        if (__builtin_expect(failed(c), 0))
            return; /* out of memory: vec_push dropped v */
    }
}

static PyObject *sequence(fmt_ctx *c, char close, bool tuple)
{
    /* Items collect in a vector, then move into a list or tuple of the
     * exact size. */
    fmt_vec items;
    vec_init(&items);
    if (!c->vals && !failed(c))
        positional(c, &items);
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
        if (x && !failed(c))
            vec_push(c, &items, x);
        else if (x)
            pys__api.Py_DecRef(x);
    }
    PyObject *r = NULL;
    if (!failed(c))
        r = check(c, tuple ? pys__api.PyTuple_New((Py_ssize_t)items.n)
                           : pys__api.PyList_New((Py_ssize_t)items.n));
    if (r) {
        for (size_t i = 0; i < items.n; i++) {
            if (tuple)
                pys__api.PyTuple_SetItem(r, (Py_ssize_t)i, items.v[i]); /* steals */
            else
                pys__api.PyList_SetItem(r, (Py_ssize_t)i, items.v[i]); /* steals */
        }
        items.n = 0;
    }
    vec_free(&items);
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
            pys__api.Py_DecRef(d);
            return fail_arg(c, "missing '}'");
        }
        PyObject *k = item(c);
        skip_sep(c);
        if (*c->p != ':') {
            pys__api.Py_DecRef(k);
            pys__api.Py_DecRef(d);
            return fail_arg(c, "expected ':' after a dict key");
        }
        c->p++;
        skip_sep(c);
        PyObject *v = item(c);
        if (k && v && d && pys__api.PyDict_SetItem(d, k, v) < 0)
            check(c, NULL);
        pys__api.Py_DecRef(k);
        pys__api.Py_DecRef(v);
    }
    if (failed(c)) {
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
#define FFI_INTS(L, v)                                                                             \
    do {                                                                                           \
        int64_t w_ = next_int(c);                                                                  \
        if (!pys__fit_##L(w_, &v) && !failed(c))                                                   \
            c->rc = pys__fail(c->fn, PYS_E_OVERFLOW,                                               \
                              "%s: argument %d (%lld) does not fit in %s ('%c')", c->fn,          \
                              c->argno, (long long)w_, code_doc(ch), ch);                          \
    } while (0)
#define FFI_DBLS(L, v) (v = next_double(c))
#define SCALAR(L, ch_, ctype, vatype, regtype, pytype, kind, lo, hi, ffi, reg, to_py, range,     \
               doc)                                                                                \
    case ch_: {                                                                                    \
        ctype v = 0;                                                                               \
        if (c->vals)                                                                               \
            FFI_##ffi(L, v);                                                                       \
        else                                                                                       \
            v = (ctype)va_arg(*c->ap, vatype);                                                     \
        return failed(c) ? NULL : check(c, pys__api.to_py(v));                                     \
    }
        PYS__SCALAR_CODES(SCALAR)
#undef SCALAR
#undef FFI_INTS
#undef FFI_DBLS
    case 's': {
        size_t n = 0;
        bool has_len = *c->p == '#';
        const char *s;
        if (c->vals) {
            s = next_str(c, &n);
            if (has_len)
                c->p++;
            if (n != SIZE_MAX)
                has_len = true;
            else if (has_len && !failed(c))
                return fail_arg(c, "'s#' needs string lengths (lens is NULL)");
            else
                n = 0;
        } else {
            s = va_arg(*c->ap, const char *);
            if (has_len) {
                c->p++;
                n = va_arg(*c->ap, size_t);
            }
        }
        if (failed(c))
            return NULL;
        if (!s) {
            if (has_len && n > 0)
                return fail_arg(c, "NULL string with a non-zero length");
            return none_ref();
        }
        return utf8(c, s, has_len ? n : strlen(s));
    }
    case 'y': {
        const void *s;
        size_t n;
        if (c->vals) {
            s = next_str(c, &n);
            if (n == SIZE_MAX) {
                if (!failed(c))
                    return fail_arg(c, "'y' needs string lengths (lens is NULL)");
                n = 0;
            }
        } else {
            s = va_arg(*c->ap, const void *);
            n = va_arg(*c->ap, size_t);
        }
        if (failed(c))
            return NULL;
        if (!s && n > 0)
            return fail_arg(c, "NULL bytes pointer with a non-zero length");
        if (n > (size_t)PTRDIFF_MAX)
            return fail_arg(c, "bytes length too large");
        return check(c, pys__api.PyBytes_FromStringAndSize(s ? s : "", (Py_ssize_t)n));
    }
    case 'n':
        return failed(c) ? NULL : none_ref();
    case 'O':
    case 'N': {
        pys_obj h = c->vals ? next_obj(c) : va_arg(*c->ap, pys_obj);
        PyObject *o = failed(c) ? NULL : handle_ref(c, h);
        if (ch == 'N' && pys_ok(h)) {
            /* Released whatever happens. A stale handle was reported by
             * pys__h_get above unless an earlier failure is being kept. */
            pys__h_release(c->rt, h, failed(c) ? NULL : c->fn);
        }
        return o;
    }
    case '[':
    case '(':
    case '{': {
        if (c->depth >= PYS_FORMAT_MAX_DEPTH) {
            c->p--;
            fail_arg(c, "nested deeper than PYS_FORMAT_MAX_DEPTH");
            skip_nested(c);
            return NULL;
        }
        c->depth++;
        PyObject *r = ch == '[' ? sequence(c, ']', false)
                      : ch == '(' ? sequence(c, ')', true)
                                  : dict(c);
        c->depth--;
        return r;
    }
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

/* An identifier followed by '=' starts a keyword argument: its name is
 * *name, *len bytes long (any length). */
static bool keyword(fmt_ctx *c, const char **name, size_t *len)
{
    const char *q = c->p;
    if (!fmt_is(*q, FMT_IDSTART))
        return false;
    while (fmt_is(*q, FMT_ID))
        q++;
    if (*q != '=')
        return false;
    *name = c->p;
    *len = (size_t)(q - c->p);
    c->p = q + 1;
    return true;
}

/* A call's values: positional ones in order, keyword ones in a dict. */
typedef struct fmt_args {
    fmt_vec pos;
    PyObject *kw;
} fmt_args;

static void args_free(fmt_args *a)
{
    vec_free(&a->pos);
    pys__api.Py_DecRef(a->kw);
    a->kw = NULL;
}

/* Adds name=v to a's keywords. A name given twice is a format error, as
 * f(a=1, a=2) is a syntax error in Python: no value is silently lost. */
static void add_keyword(fmt_ctx *c, fmt_args *a, const char *name, size_t len, PyObject *v)
{
    if (!a->kw && !(a->kw = check(c, pys__api.PyDict_New())))
        return;
    /* An identifier is ASCII: decoding cannot fail but for memory. */
    PyObject *k = check(c, pys__api.PyUnicode_FromStringAndSize(name, (Py_ssize_t)len));
    if (!k)
        return;
    /* Exact str keys: the lookup runs no Python code. */
    int has = pys__api.PyDict_GetItemWithError(a->kw, k) ? 1 : pys__api.PyErr_Occurred() ? -1 : 0;
    if (has > 0) {
        const char *after = c->p; /* past the value, read already */
        c->p = name;
        char what[96];
        snprintf(what, sizeof what, "keyword argument '%.*s' repeated%s",
                 len > 48 ? 48 : (int)len, name, len > 48 ? "..." : "");
        fail_arg(c, what);
        c->p = after;
    } else if (has < 0 || pys__api.PyDict_SetItem(a->kw, k, v) < 0) {
        check(c, NULL);
    }
    pys__api.Py_DecRef(k);
}

/* Parses a whole call format into a (new references). Returns PYS_OK, or
 * a code with the error set and a emptied. */
static int collect(fmt_ctx *c, fmt_args *a)
{
    vec_init(&a->pos);
    a->kw = NULL;
    if (!c->vals)
        positional(c, &a->pos);
    for (;;) {
        skip_sep(c);
        if (!*c->p)
            break;
        const char *name = NULL;
        size_t name_len = 0;
        bool is_kw = keyword(c, &name, &name_len);
        if (!is_kw && a->kw)
            fail_arg(c, "positional argument after a keyword argument");
        if (is_kw && !*c->p) {
            fail_arg(c, "keyword without a value code");
            break;
        }
        PyObject *v = item(c);
        if (__builtin_expect(v && !is_kw && !failed(c), 1)) {
            vec_push(c, &a->pos, v); /* taken over */
            continue;
        }
        if (v && !failed(c))
            add_keyword(c, a, name, name_len, v);
        pys__api.Py_DecRef(v);
        if (failed(c) && c->rc == PYS_E_ARG && !*c->p)
            break;
    }
    vals_done(c);
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
    fmt_ctx c = {.rt = rt, .fn = fn, .start = fmt ? fmt : "", .p = fmt ? fmt : "", .ap = ap,
                 .vals = vals_take()};
    fmt_args a;
    int rc = collect(&c, &a);
    if (rc != PYS_OK)
        return rc;
    /* Move the values into a tuple of the exact size. */
    *args = pys__api.PyTuple_New((Py_ssize_t)a.pos.n);
    if (!*args) {
        args_free(&a);
        return pys__fail_py(rt, fn);
    }
    for (size_t i = 0; i < a.pos.n; i++)
        pys__api.PyTuple_SetItem(*args, (Py_ssize_t)i, a.pos.v[i]); /* steals */
    a.pos.n = 0;
    *kwargs = a.kw;
    a.kw = NULL;
    args_free(&a);
    return PYS_OK;
}

PyObject *pys__fmt_call(pys_runtime *rt, const char *fn, PyObject *f, const char *fmt,
                        va_list *ap)
{
    fmt_ctx c = {.rt = rt, .fn = fn, .start = fmt ? fmt : "", .p = fmt ? fmt : "", .ap = ap,
                 .vals = vals_take()};
    fmt_args a;
    if (collect(&c, &a) != PYS_OK)
        return NULL;
    /* The values go to the callee as a C array (vectorcall): no tuple. */
    PyObject *r = pys__call_raw(f, a.pos.v, a.pos.n, a.kw);
    if (!r)
        pys__fail_py(rt, fn);
    args_free(&a);
    return r;
}

void pys__fmt_drop(pys_runtime *rt, const char *fn, const char *fmt, va_list *ap, bool keep_error)
{
    pys__err_saved saved;
    if (keep_error)
        pys__err_stash(&saved);
    fmt_ctx c = {.rt = rt, .fn = fn, .start = fmt ? fmt : "", .p = fmt ? fmt : "", .ap = ap,
                 .vals = vals_take()};
    fmt_args a;
    if (collect(&c, &a) == PYS_OK)
        args_free(&a);
    if (keep_error)
        pys__err_unstash(&saved);
}

PyObject *pys__fmt_build(pys_runtime *rt, const char *fn, const char *fmt, va_list *ap, int *rc)
{
    fmt_ctx c = {.rt = rt, .fn = fn, .start = fmt ? fmt : "", .p = fmt ? fmt : "", .ap = ap,
                 .vals = vals_take()};
    if (!fmt) {
        *rc = pys__fail(fn, PYS_E_ARG, "%s: format is NULL", fn);
        return NULL;
    }
    skip_sep(&c);
    PyObject *v = item(&c);
    skip_sep(&c);
    if (*c.p) {
        fail_arg(&c, "more than one value at the top level (wrap them in [] or ())");
        /* consume the rest so N handles are released, also after an
         * earlier failure (fail_arg keeps the first one) */
        while (*c.p) {
            PyObject *x = item(&c);
            pys__api.Py_DecRef(x);
            skip_sep(&c);
        }
    }
    vals_done(&c);
    if (failed(&c)) {
        pys__api.Py_DecRef(v);
        *rc = c.rc;
        return NULL;
    }
    *rc = PYS_OK;
    return v;
}
