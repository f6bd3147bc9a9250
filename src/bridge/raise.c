/* Frames and raising (bridge/internal.h): how a bridge call's failure
 * becomes a Python exception.
 *
 * A per-thread frame stack (one br_frame per call in progress, pushed and
 * popped by call.c's entry) carries pys_bridge_raise() requests: when the
 * callback returns, its call raises what its frame holds. A callback that
 * fails without one raises from its pyshim error instead: while it runs,
 * tls->capture_depth keeps the original exception of a failed nested call
 * so it can be re-raised with its traceback; otherwise the exception is
 * chosen by the error's Python type or code. Argument errors name the
 * function and its signature. */
#include <stdlib.h>
#include <string.h>

#include "bridge/internal.h"

void pys__br_frame_clear(br_frame *f)
{
    pys__api.Py_DecRef(f->exc_type);
    pys__api.Py_DecRef(f->exc_value);
    free(f->exc_msg);
    f->exc_type = f->exc_value = NULL;
    f->exc_msg = NULL;
    f->has_msg = false;
}

void pys__br_frame_raise(br_frame *f)
{
    if (f->exc_value) {
        PyObject *t = pys__api.PyObject_Type(f->exc_value);
        pys__api.PyErr_SetObject(t, f->exc_value);
        pys__api.Py_DecRef(t);
    } else if (f->has_msg) {
        pys__api.PyErr_SetString(f->exc_type, f->exc_msg ? f->exc_msg : "");
    } else {
        pys__api.PyErr_SetNone(f->exc_type);
    }
    pys__br_frame_clear(f);
}

/* Raises exc (stolen) as is: same object, same traceback, no chaining. */
static void reraise(PyObject *exc)
{
    if (pys__api.PyErr_SetRaisedException) {
        pys__api.PyErr_SetRaisedException(exc);
        return;
    }
    PyObject *type = pys__api.PyObject_Type(exc);
    PyObject *tb = pys__api.PyException_GetTraceback(exc);
    pys__api.PyErr_Restore(type, exc, tb);
}

/* The exception class (borrowed) a callback's pyshim error code raises. */
static PyObject *exc_for_code(pys_runtime *rt, int code)
{
    switch (code) {
    case PYS_E_TYPE:
    case PYS_E_HANDLE:
        return PYS__EXC(TypeError);
    case PYS_E_ARG:
    case PYS_E_VALUE:
        return PYS__EXC(ValueError);
    case PYS_E_OVERFLOW:
        return PYS__EXC(OverflowError);
    case PYS_E_NOMEM:
        return PYS__EXC(MemoryError);
    case PYS_E_TIMEOUT:
        return rt->exc_timeout ? rt->exc_timeout : PYS__EXC(TimeoutError);
    case PYS_E_INTERRUPTED:
        return rt->exc_interrupt ? rt->exc_interrupt : PYS__EXC(KeyboardInterrupt);
    case PYS_E_EXIT:
        return PYS__EXC(SystemExit);
    }
    return PYS__EXC(RuntimeError);
}

PyObject *pys__br_builtin_exc(pys_runtime *rt, const char *name)
{
    if (!pys__br_valid_ident(name))
        return NULL;
    PyObject *c = pys__api.PyObject_GetAttrString(rt->builtins, name);
    if (!c) {
        pys__api.PyErr_Clear();
        return NULL;
    }
    if ((pys__tp_flags(c) & PYS__Py_TPFLAGS_TYPE_SUBCLASS) &&
        pys__api.PyType_IsSubtype(c, PYS__EXC(BaseException)))
        return c;
    pys__api.Py_DecRef(c);
    return NULL;
}

void pys__br_raise_failure(pys_runtime *rt, br_reg *r, int rc, const pys_error *e,
                           PyObject *captured)
{
    static const pys_error none = {.code = PYS_OK, .context = "", .type = "", .message = "",
                                   .traceback = ""};
    if (!e)
        e = &none;
    bool fresh = e->code == rc && rc != PYS_OK;
    if (captured && e->type[0] && e->code != PYS_OK) {
        reraise(captured);
        return;
    }
    pys__api.Py_DecRef(captured);
    PyObject *type = fresh && e->type[0] ? pys__br_builtin_exc(rt, e->type) : NULL;
    if (!type) {
        type = exc_for_code(rt, rc);
        pys__api.Py_IncRef(type);
    }
    if (fresh)
        pys__raise(type, "%s: %s", r->qualname, e->message);
    else
        pys__raise(type, "%s failed with %s (%s)", r->qualname, pys_err_name(rc),
                   pys_strerror(rc));
    pys__api.Py_DecRef(type);
}

void pys__br_raise_sig(br_reg *r, PyObject *exc, const char *fmt, ...)
{
    pys__sb b = {0};
    pys__sb_addf(&b, "%s() ", r->qualname);
    va_list ap;
    va_start(ap, fmt);
    pys__sb_vaddf(&b, fmt, ap);
    va_end(ap);
    pys__sb_addf(&b, "; expected %s", r->human);
    char *s = pys__sb_take(&b);
    pys__api.PyErr_SetString(exc, s ? s : "bad arguments");
    free(s);
}

const pys_error *pys__br_capture_error(const br_capture *c)
{
    return pys__tls_get()->nfail != c->nfail ? pys_last_error() : NULL;
}

int pys_bridge_raise(pys_runtime *rt, const char *exc_type, const char *fmt, ...)
{
    br_frame *f = pys__br_frame_current();
    if (!f)
        return pys__fail(__func__, PYS_E_STATE,
                         "pys_bridge_raise: not inside a bridge callback on this thread");
    if (!rt)
        rt = &pys__the_runtime;
    char *msg = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        msg = pys__vasprintf(fmt, ap);
        va_end(ap);
    }
    /* Inside a callback the GIL is held (gil_depth > 0). */
    PyObject *type = NULL;
    int rc = PYS_E_PYTHON;
    const char *dot = exc_type ? strrchr(exc_type, '.') : NULL;
    if (exc_type && !dot) {
        type = pys__br_builtin_exc(rt, exc_type);
    } else if (exc_type && dot != exc_type && dot[1]) {
        char *mod = pys__strndup(exc_type, (size_t)(dot - exc_type));
        PyObject *m = mod ? pys__api.PyImport_ImportModule(mod) : NULL;
        free(mod);
        PyObject *c = m ? pys__api.PyObject_GetAttrString(m, dot + 1) : NULL;
        pys__api.Py_DecRef(m);
        if (pys__api.PyErr_Occurred())
            pys__api.PyErr_Clear();
        if (c && (pys__tp_flags(c) & PYS__Py_TPFLAGS_TYPE_SUBCLASS) &&
            pys__api.PyType_IsSubtype(c, PYS__EXC(BaseException)))
            type = c;
        else if (c)
            pys__api.Py_DecRef(c);
    }
    if (!type) {
        char *m2 = pys__asprintf("%s raised an unknown exception type \"%s\": %s",
                                 f->reg->qualname, exc_type ? exc_type : "(null)",
                                 msg ? msg : "");
        free(msg);
        msg = m2;
        type = PYS__EXC(RuntimeError);
        pys__api.Py_IncRef(type);
        rc = pys__fail(__func__, PYS_E_ARG,
                       "pys_bridge_raise: \"%s\" is not an exception class",
                       exc_type ? exc_type : "(null)");
    }
    pys__br_frame_clear(f);
    f->exc_type = type;
    f->exc_msg = msg;
    f->has_msg = fmt != NULL || rc != PYS_E_PYTHON;
    return rc;
}

int pys_bridge_raise_obj(pys_runtime *rt, pys_obj exc)
{
    br_frame *f = pys__br_frame_current();
    if (!f)
        return pys__fail(__func__, PYS_E_STATE,
                         "pys_bridge_raise_obj: not inside a bridge callback on this thread");
    if (!rt)
        rt = &pys__the_runtime;
    PyObject *o = pys__h_get(rt, exc, __func__);
    if (!o)
        return PYS_E_HANDLE;
    bool is_class = (pys__tp_flags(o) & PYS__Py_TPFLAGS_TYPE_SUBCLASS) &&
                    pys__api.PyType_IsSubtype(o, PYS__EXC(BaseException));
    bool is_inst = !is_class && (pys__tp_flags(o) & PYS__Py_TPFLAGS_BASE_EXC_SUBCLASS);
    if (!is_class && !is_inst) {
        char tn[128];
        return pys__fail(__func__, PYS_E_TYPE,
                         "pys_bridge_raise_obj: %s is not an exception or exception class",
                         pys__type_name(o, tn, sizeof tn));
    }
    pys__br_frame_clear(f);
    pys__api.Py_IncRef(o);
    if (is_class)
        f->exc_type = o;
    else
        f->exc_value = o;
    return PYS_E_PYTHON;
}
