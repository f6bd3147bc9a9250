/* Running source: exec/eval in __main__ or a namespace, compile-once, and a
 * bounded cache so repeated identical source is parsed once.
 *
 * The cache is direct-mapped (256 entries keyed by FNV-1a of mode+source,
 * full comparison on hit, replace on collision): O(1), and no eviction
 * bookkeeping on a hit. It is bounded by bytes too: a source longer than
 * PYS_COMPILE_CACHE_MAX_SOURCE is compiled each time and never kept (a
 * large script is usually run once), and the sources kept add up to at
 * most PYS_COMPILE_CACHE_MAX_BYTES (a clock hand evicts entries round the
 * table to make room). A code object takes memory roughly in proportion
 * to its source, so the source bytes stand for both. Code objects are
 * immutable, so sharing one between runs is safe. */
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/types.h"
#include "api/api.h"

static uint64_t fnv1a(const char *s, size_t n, int mode)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)mode;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Empties e; returns its code object (a reference the caller drops, after
 * unlocking: a weakref callback on it could run Python), or NULL. */
static PyObject *cc_take(pys_runtime *rt, pys__cc_entry *e)
{
    PyObject *code = e->code;
    if (!code)
        return NULL;
    free(e->src);
    rt->cc_bytes -= e->len;
    *e = (pys__cc_entry){0};
    return code;
}

/* A new reference to the code object for src, compiled at most once while
 * it stays in the cache. NULL with the exception set on a SyntaxError. */
static PyObject *cached_code(pys_runtime *rt, const char *src, int mode)
{
    size_t n = strlen(src);
    if (n > PYS_COMPILE_CACHE_MAX_SOURCE)
        return pys__api.Py_CompileString(src, "<pyshim>", mode);
    uint64_t h = fnv1a(src, n, mode);
    PYS__LOCK(rt);
    pys__cc_entry *e = &rt->cc[h & (PYS__CC_SIZE - 1)];
    if (e->code && e->hash == h && e->mode == mode && e->len == n && memcmp(e->src, src, n) == 0) {
        PyObject *code = e->code;
        pys__api.Py_IncRef(code);
        PYS__UNLOCK(rt);
        return code;
    }
    PYS__UNLOCK(rt);
    PyObject *code = pys__api.Py_CompileString(src, "<pyshim>", mode);
    if (!code)
        return NULL;
    char *copy = pys__strndup(src, n);
    if (!copy)
        return code; /* still runs; just not cached */
    PyObject *dropped[PYS__CC_SIZE];
    size_t ndropped = 0;
    PYS__LOCK(rt);
    PyObject *old = cc_take(rt, e);
    if (old)
        dropped[ndropped++] = old;
    while (rt->cc_bytes + n > PYS_COMPILE_CACHE_MAX_BYTES) {
        rt->cc_hand = (rt->cc_hand + 1) & (PYS__CC_SIZE - 1);
        if ((old = cc_take(rt, &rt->cc[rt->cc_hand])))
            dropped[ndropped++] = old;
    }
    pys__api.Py_IncRef(code);
    *e = (pys__cc_entry){.src = copy, .len = n, .hash = h, .mode = mode, .code = code};
    rt->cc_bytes += n;
    PYS__UNLOCK(rt);
    for (size_t i = 0; i < ndropped; i++)
        pys__api.Py_DecRef(dropped[i]);
    return code;
}

void pys__cc_clear(pys_runtime *rt)
{
    for (size_t i = 0; i < PYS__CC_SIZE; i++) {
        PyObject *code = cc_take(rt, &rt->cc[i]);
        pys__api.Py_DecRef(code);
    }
    rt->cc_bytes = 0;
    rt->cc_hand = 0;
}

PyObject *pys__run_src(pys_runtime *rt, const char *src, int mode, PyObject *globals)
{
    PyObject *code = cached_code(rt, src, mode);
    if (!code)
        return NULL;
    PyObject *r = pys__api.PyEval_EvalCode(code, globals, globals);
    pys__api.Py_DecRef(code);
    return r;
}

/* The namespace for ns (PYS_NULL = __main__): a new reference, held while
 * the code runs (it may release ns from another thread, or itself), or
 * NULL + error. */
PyObject *pys__namespace_of(pys_runtime *rt, pys_obj ns, const char *fn)
{
    if (!pys_ok(ns)) {
        pys__api.Py_IncRef(rt->main_dict);
        return rt->main_dict;
    }
    PyObject *d = pys__h_ref(rt, ns, fn);
    if (d && !pys__need_dict(d, "the namespace", fn)) {
        pys__api.Py_DecRef(d);
        return NULL;
    }
    /* 3.8/3.9 give a namespace without __builtins__ only {"None": None}
     * when no frame is running; give it the real builtins like __main__. */
    if (d) {
        PyObject *key = pys__api.PyUnicode_FromString("__builtins__");
        int has = key ? pys__api.PySequence_Contains(d, key) : -1;
        if (has == 0)
            has = pys__api.PyDict_SetItem(d, key, rt->builtins) < 0 ? -1 : 1;
        pys__api.Py_DecRef(key);
        if (has < 0) {
            pys__fail_py(rt, fn);
            pys__api.Py_DecRef(d);
            return NULL;
        }
    }
    return d;
}

/* src run in ns's namespace (PYS_NULL: __main__) in mode: the result, a
 * new reference, or NULL with the error set; `what` names src in the
 * message for a NULL one. GIL held. Inline: exec and eval are measured per
 * instruction. */
static inline __attribute__((always_inline)) PyObject *run_in(pys_runtime *rt, const char *src,
                                                              pys_obj ns, int mode,
                                                              const char *what, const char *fn)
{
    if (!src) {
        pys__fail(fn, PYS_E_ARG, "%s: %s is NULL", fn, what);
        return NULL;
    }
    PyObject *g = pys__namespace_of(rt, ns, fn);
    if (!g)
        return NULL;
    PyObject *r = pys__run_src(rt, src, mode, g);
    pys__api.Py_DecRef(g);
    if (!r)
        pys__fail_py(rt, fn);
    return r;
}

static int exec_common(pys_runtime *rt, const char *src, pys_obj ns, const char *fn)
{
    if (!pys__begin(rt, fn))
        return pys_last_error()->code;
    PyObject *r = run_in(rt, src, ns, PYS__Py_file_input, "source", fn);
    int rc = r ? PYS_OK : pys_last_error()->code;
    pys__api.Py_DecRef(r);
    pys__end(rt);
    return rc;
}

int pys_exec(pys_runtime *rt, const char *src)
{
    return exec_common(rt, src, PYS_NULL, __func__);
}

int pys_exec_in(pys_runtime *rt, const char *src, pys_obj ns)
{
    if (!pys_ok(ns))
        return pys__fail(__func__, PYS_E_HANDLE, "pys_exec_in: the namespace handle is invalid");
    return exec_common(rt, src, ns, __func__);
}

static pys_obj eval_common(pys_runtime *rt, const char *expr, pys_obj ns, const char *fn)
{
    if (!pys__begin(rt, fn))
        return PYS_NULL;
    PyObject *r = run_in(rt, expr, ns, PYS__Py_eval_input, "expression", fn);
    pys_obj out = r ? pys__h_new(rt, r, fn) : PYS_NULL;
    pys__end(rt);
    return out;
}

pys_obj pys_eval(pys_runtime *rt, const char *expr)
{
    return eval_common(rt, expr, PYS_NULL, __func__);
}

pys_obj pys_eval_in(pys_runtime *rt, const char *expr, pys_obj ns)
{
    if (!pys_ok(ns)) {
        pys__fail(__func__, PYS_E_HANDLE, "pys_eval_in: the namespace handle is invalid");
        return PYS_NULL;
    }
    return eval_common(rt, expr, ns, __func__);
}

pys_obj pys_compile(pys_runtime *rt, const char *src, const char *filename, pys_mode mode)
{
    if (!pys__begin(rt, __func__))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    if (!src) {
        pys__fail(__func__, PYS_E_ARG, "pys_compile: source is NULL");
    } else if (mode != PYS_MODE_EXEC && mode != PYS_MODE_EVAL) {
        pys__fail(__func__, PYS_E_ARG, "pys_compile: unknown mode %d", (int)mode);
    } else {
        int m = mode == PYS_MODE_EVAL ? PYS__Py_eval_input : PYS__Py_file_input;
        PyObject *code = pys__api.Py_CompileString(src, filename ? filename : "<pyshim>", m);
        out = pys__h_new_py(rt, code, __func__);
    }
    pys__end(rt);
    return out;
}

pys_obj pys_run(pys_obj code, pys_obj ns)
{
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt)
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    PyObject *c = pys__h_ref(rt, code, __func__);
    PyObject *g = c ? pys__namespace_of(rt, ns, __func__) : NULL;
    if (c && g) {
        if (!pys__is(c, pys__api.PyCode_Type)) {
            char tn[128];
            pys__fail(__func__, PYS_E_TYPE, "pys_run: expected a code object, got %s",
                      pys__type_name(c, tn, sizeof tn));
        } else {
            PyObject *r = pys__api.PyEval_EvalCode(c, g, g);
            out = pys__h_new_py(rt, r, __func__);
        }
    }
    pys__api.Py_DecRef(g);
    pys__api.Py_DecRef(c);
    pys__end(rt);
    return out;
}

pys_obj pys_main_dict(pys_runtime *rt)
{
    if (!pys__begin(rt, __func__))
        return PYS_NULL;
    pys__api.Py_IncRef(rt->main_dict);
    pys_obj out = pys__h_new(rt, rt->main_dict, __func__);
    pys__end(rt);
    return out;
}
