/* Tracebacks as text: the traceback module's own format_exception, taken
 * the first time it is needed and only while it is still the module's
 * function, else a C formatter that walks the traceback and the exception
 * chain itself, iteratively and bounded (3.8 and 3.9's formatter gives up
 * on a long chain), so a hostile or huge exception never hangs or crashes
 * the caller. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/types.h"
#include "core/call.h"
#include "core/error.h"
#include "core/tbformat.h"

/* str(o) as a malloc'd UTF-8 string; never leaves an exception. */
char *pys__str_of(PyObject *o)
{
    if (!o)
        return NULL;
    PyObject *s = pys__api.PyObject_Str(o);
    char *r = NULL;
    if (s) {
        Py_ssize_t n = 0;
        const char *u = pys__api.PyUnicode_AsUTF8AndSize(s, &n);
        if (u)
            r = pys__strndup(u, (size_t)n);
        pys__api.Py_DecRef(s);
    }
    if (pys__api.PyErr_Occurred()) {
        pys__api.PyErr_Clear();
        if (!r)
            r = pys__strdup("<unprintable exception>");
    }
    return r;
}

/* ---- formatting ---------------------------------------------------------------- */

#define TB_FRAMES_MAX 200u /* C formatter: frames per traceback (first and last half) */
#define TB_CHAIN_MAX 64u   /* C formatter: newest exceptions of a chain */

/* o.name as a new reference, NULL for None or on failure (cleared). */
static PyObject *attr(PyObject *o, const char *name)
{
    PyObject *v = o ? pys__api.PyObject_GetAttrString(o, name) : NULL;
    if (!v)
        pys__api.PyErr_Clear();
    if (v == PYS__None) {
        pys__api.Py_DecRef(v);
        v = NULL;
    }
    return v;
}

static void add_str(pys__sb *b, PyObject *s, const char *dflt)
{
    const char *u = s && pys__type_of(s) == (PyObject *)pys__api.PyUnicode_Type
                        ? pys__api.PyUnicode_AsUTF8AndSize(s, NULL)
                        : NULL;
    if (!u)
        pys__api.PyErr_Clear();
    pys__sb_add(b, u ? u : dflt);
}

/* One traceback entry: '  File "f", line N, in name'. Traceback, frame and
 * code objects are builtin types: reading them runs no Python code. */
static void c_format_entry(pys__sb *b, PyObject *tb)
{
    PyObject *frame = attr(tb, "tb_frame");
    PyObject *lineno = attr(tb, "tb_lineno");
    PyObject *code = attr(frame, "f_code");
    PyObject *file = attr(code, "co_filename");
    PyObject *name = attr(code, "co_name");
    long line = lineno ? pys__api.PyLong_AsLong(lineno) : -1;
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    pys__sb_add(b, "  File \"");
    add_str(b, file, "<unknown>");
    if (line >= 0)
        pys__sb_addf(b, "\", line %ld, in ", line);
    else
        pys__sb_add(b, "\", in ");
    add_str(b, name, "<unknown>");
    pys__sb_add(b, "\n");
    PyObject *all[] = {frame, lineno, code, file, name};
    for (size_t i = 0; i < 5; i++)
        pys__api.Py_DecRef(all[i]);
}

static void c_format_tb(pys__sb *b, PyObject *tb)
{
    size_t n = 0;
    pys__api.Py_IncRef(tb);
    for (PyObject *x = tb, *next; x; x = next) {
        next = attr(x, "tb_next");
        pys__api.Py_DecRef(x);
        n++;
    }
    pys__sb_add(b, "Traceback (most recent call last):\n");
    size_t i = 0;
    pys__api.Py_IncRef(tb);
    for (PyObject *x = tb, *next; x; x = next, i++) {
        if (n <= TB_FRAMES_MAX || i < TB_FRAMES_MAX / 2 || i >= n - TB_FRAMES_MAX / 2)
            c_format_entry(b, x);
        else if (i == TB_FRAMES_MAX / 2)
            pys__sb_addf(b, "  [... %zu frames not shown ...]\n", n - TB_FRAMES_MAX);
        next = attr(x, "tb_next");
        pys__api.Py_DecRef(x);
    }
}


/* Whether o is an exception by its real type (the chain accessors read
 * the exception's struct). */
static bool is_exc(PyObject *o)
{
    PyObject *t = pys__api.PyObject_Type(o);
    bool r = t && pys__api.PyType_IsSubtype(t, PYS__EXC(BaseException));
    pys__api.Py_DecRef(t);
    return r;
}

/* s cut to at most PYS_TRACEBACK_MAX_BYTES as join_bounded cuts: its first
 * quarter and its end, at UTF-8 character boundaries. Takes s. */
static char *bound_text(char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n <= PYS_TRACEBACK_MAX_BYTES)
        return s;
    size_t head = PYS_TRACEBACK_MAX_BYTES / 4;
    size_t start = n - (PYS_TRACEBACK_MAX_BYTES - head);
    while (head > 0 && ((unsigned char)s[head] & 0xC0) == 0x80)
        head--;
    while (start < n && ((unsigned char)s[start] & 0xC0) == 0x80)
        start++;
    pys__sb b = {0};
    pys__sb_addn(&b, s, head);
    pys__sb_addf(&b, "\n[... %zu bytes of the traceback not shown ...]\n", start - head);
    pys__sb_add(&b, s + start);
    free(s);
    return pys__sb_take(&b);
}

/* "Type: message" of exception e; `line` instead for the failure itself
 * (read when it happened). */
static void c_format_line(pys__sb *b, PyObject *e, const char *line)
{
    if (line) {
        pys__sb_addf(b, "%s\n", line);
        return;
    }
    char tname[256];
    pys__type_name(e, tname, sizeof tname);
    char *msg = pys__str_of(e);
    if (msg && *msg)
        pys__sb_addf(b, "%s: %s\n", tname, msg);
    else
        pys__sb_addf(b, "%s\n", tname);
    free(msg);
}

/* The C formatter: Python's layout without source lines, the chain's
 * newest TB_CHAIN_MAX exceptions (iteratively: no recursion), at most
 * TB_FRAMES_MAX frames each. Python code runs only for the messages and
 * type names of chained exceptions (str(), __qualname__). */
static char *c_format(PyObject *value, PyObject *tb, const char *line)
{
    PyObject *chain[TB_CHAIN_MAX];
    bool cause[TB_CHAIN_MAX]; /* chain[i] is chain[i-1]'s __cause__ (else __context__) */
    size_t k = 0;
    bool more = false;
    pys__api.Py_IncRef(value);
    chain[k] = value;
    cause[k++] = false;
    while (is_exc(chain[k - 1])) {
        PyObject *e = chain[k - 1];
        bool by_cause = true;
        PyObject *next = pys__api.PyException_GetCause(e);
        if (!next) {
            by_cause = false;
            PyObject *sup = attr(e, "__suppress_context__");
            int suppressed = sup ? pys__api.PyObject_IsTrue(sup) : 0;
            pys__api.Py_DecRef(sup);
            if (suppressed < 0)
                pys__api.PyErr_Clear();
            next = suppressed > 0 ? NULL : pys__api.PyException_GetContext(e);
        }
        if (!next)
            break;
        bool seen = false;
        for (size_t i = 0; i < k && !seen; i++)
            seen = chain[i] == next;
        if (seen) {
            pys__api.Py_DecRef(next);
            break;
        }
        if (k == TB_CHAIN_MAX) {
            pys__api.Py_DecRef(next);
            more = true;
            break;
        }
        chain[k] = next;
        cause[k++] = by_cause;
    }
    pys__sb b = {0};
    if (more)
        pys__sb_addf(&b, "[... earlier exceptions of the chain not shown ...]\n\n");
    for (size_t j = k; j-- > 0;) {
        PyObject *etb = j == 0 ? tb : is_exc(chain[j]) ? pys__api.PyException_GetTraceback(chain[j])
                                                       : NULL;
        if (j == 0 && etb)
            pys__api.Py_IncRef(etb);
        if (etb) {
            c_format_tb(&b, etb);
            pys__api.Py_DecRef(etb);
        }
        c_format_line(&b, chain[j], j == 0 ? line : NULL);
        if (j > 0)
            pys__sb_add(&b, cause[j] ? "\nThe above exception was the direct cause of the "
                                       "following exception:\n\n"
                                     : "\nDuring handling of the above exception, another "
                                       "exception occurred:\n\n");
        pys__api.Py_DecRef(chain[j]);
    }
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    return bound_text(pys__sb_take(&b));
}

/* Copies at most PYS_TRACEBACK_MAX_BYTES of the strings in `lines` (a
 * list, as the real format_exception returns): all of them, or the first
 * quarter and the last three quarters of the bytes (cut at UTF-8
 * character boundaries) with a line saying how much was left out between.
 * NULL if `lines` is not a list of str. */
static char *join_bounded(PyObject *lines)
{
    if (pys__type_of(lines) != (PyObject *)pys__api.PyList_Type)
        return NULL;
    Py_ssize_t n = pys__api.PyList_Size(lines);
    size_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = pys__api.PyList_GetItem(lines, i); /* borrowed */
        Py_ssize_t len = 0;
        if (!s || pys__type_of(s) != (PyObject *)pys__api.PyUnicode_Type ||
            !pys__api.PyUnicode_AsUTF8AndSize(s, &len))
            return NULL;
        total += (size_t)len;
    }
    bool cut = total > PYS_TRACEBACK_MAX_BYTES;
    size_t head = cut ? PYS_TRACEBACK_MAX_BYTES / 4 : total;
    size_t start = cut ? total - (PYS_TRACEBACK_MAX_BYTES - head) : total; /* of the tail */
    pys__sb b = {0};
    size_t lo = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t len = 0;
        const char *u = pys__api.PyUnicode_AsUTF8AndSize(pys__api.PyList_GetItem(lines, i), &len);
        size_t hi = lo + (size_t)len;
        if (lo < head) {
            size_t end = hi < head ? hi : head;
            while (end < hi && end > lo && ((unsigned char)u[end - lo] & 0xC0) == 0x80)
                end--;
            pys__sb_addn(&b, u, end - lo);
        }
        if (cut && hi > start) {
            size_t from = lo > start ? lo : start;
            if (from == start)
                pys__sb_addf(&b, "\n[... %zu bytes of the traceback not shown ...]\n",
                             start - head);
            while (from < hi && ((unsigned char)u[from - lo] & 0xC0) == 0x80)
                from++;
            pys__sb_addn(&b, u + (from - lo), hi - from);
        }
        lo = hi;
    }
    return pys__sb_take(&b);
}

/* 1 if attribute `name` of o is the str `want`. o must be of a type whose
 * attributes run no Python code (a function, a code object). */
static int attr_is(PyObject *o, const char *name, const char *want)
{
    PyObject *v = attr(o, name);
    Py_ssize_t n = 0;
    const char *u = v && pys__is(v, pys__api.PyUnicode_Type)
                        ? pys__api.PyUnicode_AsUTF8AndSize(v, &n) : NULL;
    int r = u && (size_t)n == strlen(want) && memcmp(u, want, (size_t)n) == 0;
    pys__api.Py_DecRef(v);
    return r;
}

/* traceback.format_exception, GIL held: taken the first time a traceback
 * is formatted and kept until close, or NULL (no exception left). It is
 * taken only while it is still the module's own function: a function (a
 * type no Python code can subclass or change) whose globals are the
 * module's and whose name and code are format_exception's. Anything that
 * Python code put in its place is never called (not even its attributes
 * are read), and the C formatter serves. */
static PyObject *tb_format_get(pys_runtime *rt)
{
    PyObject *fmt = atomic_load(&rt->tb_format);
    if (fmt)
        return fmt;
    PyObject *m = pys__api.PyImport_ImportModule("traceback");
    PyObject *md = m && pys__is(m, pys__api.PyModule_Type) ? pys__api.PyModule_GetDict(m) : NULL;
    PyObject *f = NULL; /* from the dict: a module __getattr__ is not called */
    if (md && pys__api.PyDict_GetItemStringRef) {
        if (pys__api.PyDict_GetItemStringRef(md, "format_exception", &f) < 0)
            f = NULL;
    } else if (md) {
        PyObject *key = pys__api.PyUnicode_FromString("format_exception");
        f = key ? pys__api.PyDict_GetItemWithError(md, key) : NULL;
        pys__api.Py_IncRef(f);
        pys__api.Py_DecRef(key);
    }
    PyObject *g = f && pys__is(f, pys__api.PyFunction_Type)
                      ? pys__api.PyObject_GetAttrString(f, "__globals__") : NULL;
    PyObject *code = g && g == md ? pys__api.PyObject_GetAttrString(f, "__code__") : NULL;
    bool real = code && pys__is(code, pys__api.PyCode_Type) &&
                attr_is(f, "__qualname__", "format_exception") &&
                attr_is(code, "co_name", "format_exception");
    pys__api.Py_DecRef(code);
    pys__api.Py_DecRef(g);
    pys__api.Py_DecRef(m);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    if (!real) {
        pys__api.Py_DecRef(f);
        return NULL;
    }
    PyObject *none = NULL;
    if (!atomic_compare_exchange_strong(&rt->tb_format, &none, f)) {
        pys__api.Py_DecRef(f); /* another thread took it first */
        f = none;
    }
    return f;
}

/* The traceback of (type, value, tb), GIL held: the traceback module's
 * format_exception, else (or if that fails) the C formatter. */
char *pys__tb_format(pys_runtime *rt, PyObject *type, PyObject *value, PyObject *tb,
                     const char *line)
{
    PyObject *fmt = tb_format_get(rt);
    char *r = NULL;
    if (fmt) {
        PyObject *args[3] = {type, value, tb};
        PyObject *lines = pys__call_raw(fmt, args, 3, NULL);
        if (lines) {
            r = join_bounded(lines);
            pys__api.Py_DecRef(lines);
        }
        if (pys__api.PyErr_Occurred())
            pys__api.PyErr_Clear();
    }
    if (!r || !*r) {
        free(r);
        r = c_format(value, tb, line);
    }
    return r;
}

