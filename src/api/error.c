/* Per-thread error detail and the translation of Python exceptions.
 *
 * The detail lives in this thread's pys__tls; its strings are replaced on
 * the next failure and freed at thread exit (pthread key destructor). A
 * Python exception is fetched (3.12+: PyErr_GetRaisedException; before:
 * PyErr_Fetch + normalise + attach the traceback), formatted with
 * traceback.format_exception, and cleared, so nothing stays pending. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Thread_local pys__tls pys__tls_state;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free_errors(pys__tls *t)
{
    free(t->e_context);
    free(t->e_type);
    free(t->e_message);
    free(t->e_traceback);
    if (t->e_searched) {
        for (size_t i = 0; i < t->err.nsearched; i++)
            free(t->e_searched[i]);
        free(t->e_searched);
    }
    t->e_context = t->e_type = t->e_message = t->e_traceback = NULL;
    t->e_searched = NULL;
    t->err = (pys_error){.code = PYS_OK, .context = "", .type = "", .message = "",
                         .traceback = ""};
}

static void tls_destroy(void *p)
{
    pys__tls *t = p;
    pys__threads_tls_exit(t);
    tls_free_errors(t);
    atomic_fetch_sub_explicit(&pys__scopes_open, (long)t->scope_nmarks, memory_order_relaxed);
    free(t->scope_ids);
    free(t->scope_marks);
    free(t->held); /* empty by now: every call level has ended */
    free(t->held_depth);
    t->held = NULL;
    t->held_depth = NULL;
    t->nheld = t->capheld = 0;
    t->scope_ids = NULL;
    t->scope_marks = NULL;
    t->scope_n = t->scope_cap = t->scope_nmarks = t->scope_capmarks = 0;
    t->registered = false;
}

static void tls_key_make(void)
{
    pthread_key_create(&tls_key, tls_destroy);
}

void pys__tls_register(pys__tls *t)
{
    if (t->registered)
        return;
    pthread_once(&tls_once, tls_key_make);
    pthread_setspecific(tls_key, t);
    t->registered = true;
}

const pys_error *pys_last_error(void)
{
    pys__tls *t = &pys__tls_state;
    if (!t->err.context)
        tls_free_errors(t);
    return &t->err;
}

void pys_clear_error(void)
{
    tls_free_errors(&pys__tls_state);
}

const char *pys_strerror(int code)
{
    switch (code) {
#define PYS__ERR_TEXT(name, value, text)                                                          \
    case value:                                                                                    \
        return text;
        PYS_ERRNO_MAP(PYS__ERR_TEXT)
#undef PYS__ERR_TEXT
    }
    return "unknown error";
}

const char *pys_err_name(int code)
{
    switch (code) {
#define PYS__ERR_NAME(name, value, text)                                                          \
    case value:                                                                                    \
        return "PYS_" #name;
        PYS_ERRNO_MAP(PYS__ERR_NAME)
#undef PYS__ERR_NAME
    }
    return "PYS_E_UNKNOWN";
}

static void set_error(const char *fn, int code, char *type, char *message, char *traceback)
{
    pys__tls *t = &pys__tls_state;
    tls_free_errors(t);
    pys__tls_register(t);
    t->e_context = pys__strdup(fn ? fn : "");
    t->e_type = type;
    t->e_message = message;
    t->e_traceback = traceback;
    t->err.code = code;
    t->err.context = t->e_context ? t->e_context : "";
    t->err.type = type ? type : "";
    t->err.message = message ? message : pys_strerror(code);
    t->err.traceback = traceback ? traceback : "";
}

int pys__fail(const char *fn, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = pys__vasprintf(fmt, ap);
    va_end(ap);
    set_error(fn, code, NULL, msg, NULL);
    return code;
}

int pys__fail_diag(const char *fn, const pys__diag *d)
{
    int code = d->code ? d->code : PYS_E_INTERNAL;
    set_error(fn, code, NULL, pys__strdup(d->message ? d->message : pys_strerror(code)), NULL);
    pys__tls *t = &pys__tls_state;
    if (d->nsearched) {
        t->e_searched = calloc(d->nsearched, sizeof(char *));
        if (t->e_searched) {
            for (size_t i = 0; i < d->nsearched; i++)
                t->e_searched[i] = pys__strdup(d->searched[i]);
            t->err.searched = (const char *const *)t->e_searched;
            t->err.nsearched = d->nsearched;
        }
    }
    return code;
}

const char *pys__type_name(PyObject *o, char *buf, size_t size)
{
    snprintf(buf, size, "?");
    PyObject *t = pys__api.PyObject_Type(o);
    if (!t)
        return buf;
    PyObject *mod = pys__api.PyObject_GetAttrString(t, "__module__");
    PyObject *qn = pys__api.PyObject_GetAttrString(t, "__qualname__");
    const char *m = mod && pys__is(mod, pys__api.PyUnicode_Type)
                        ? pys__api.PyUnicode_AsUTF8AndSize(mod, NULL)
                        : NULL;
    const char *q = qn && pys__is(qn, pys__api.PyUnicode_Type)
                        ? pys__api.PyUnicode_AsUTF8AndSize(qn, NULL)
                        : NULL;
    if (q) {
        if (m && strcmp(m, "builtins") != 0 && strcmp(m, "__main__") != 0)
            snprintf(buf, size, "%s.%s", m, q);
        else
            snprintf(buf, size, "%s", q);
    }
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    if (mod)
        pys__api.Py_DecRef(mod);
    if (qn)
        pys__api.Py_DecRef(qn);
    pys__api.Py_DecRef(t);
    return buf;
}

void pys__raise(PyObject *exc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = pys__vasprintf(fmt, ap);
    va_end(ap);
    pys__api.PyErr_SetString(exc, s ? s : "error");
    free(s);
}

/* str(o) as a malloc'd UTF-8 string; never leaves an exception. */
static char *str_of(PyObject *o)
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

static char *format_traceback(pys_runtime *rt, PyObject *type, PyObject *value, PyObject *tb)
{
    if (!tb)
        return NULL;
    PyObject *fmt = atomic_load_explicit(&rt->tb_format, memory_order_acquire);
    if (!fmt) {
        /* Looked up on first use (it imports traceback, which pys_open
         * should not pay for). Two threads may race here on free-threaded
         * builds: one publishes, the other drops its copy. */
        PyObject *m = pys__api.PyImport_ImportModule("traceback");
        if (m) {
            fmt = pys__api.PyObject_GetAttrString(m, "format_exception");
            pys__api.Py_DecRef(m);
        }
        if (!fmt) {
            pys__api.PyErr_Clear();
            return NULL;
        }
        PyObject *expected = NULL;
        if (!atomic_compare_exchange_strong(&rt->tb_format, &expected, fmt)) {
            pys__api.Py_DecRef(fmt);
            fmt = expected;
        }
    }
    PyObject *args = pys__api.PyTuple_New(3);
    if (!args) {
        pys__api.PyErr_Clear();
        return NULL;
    }
    pys__api.Py_IncRef(type);
    pys__api.Py_IncRef(value);
    pys__api.Py_IncRef(tb);
    pys__api.PyTuple_SetItem(args, 0, type);
    pys__api.PyTuple_SetItem(args, 1, value);
    pys__api.PyTuple_SetItem(args, 2, tb);
    PyObject *lines = pys__api.PyObject_CallObject(fmt, args);
    pys__api.Py_DecRef(args);
    char *r = NULL;
    if (lines) {
        pys__sb b = {0};
        PyObject *it = pys__api.PyObject_GetIter(lines);
        PyObject *line;
        while (it && (line = pys__api.PyIter_Next(it))) {
            Py_ssize_t n = 0;
            const char *u = pys__api.PyUnicode_AsUTF8AndSize(line, &n);
            if (u)
                pys__sb_addn(&b, u, (size_t)n);
            pys__api.Py_DecRef(line);
        }
        if (it)
            pys__api.Py_DecRef(it);
        pys__api.Py_DecRef(lines);
        r = pys__sb_take(&b);
    }
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    return r;
}

/* SystemExit.code -> exit status and message, as the interpreter does. */
static int exit_code_of(PyObject *value, char **msg, bool *textual)
{
    PyObject *code = pys__api.PyObject_GetAttrString(value, "code");
    int status = 1;
    if (!code) {
        pys__api.PyErr_Clear();
        return 1;
    }
    if (code == PYS__None) {
        status = 0;
    } else if (pys__is(code, pys__api.PyLong_Type)) {
        long v = pys__api.PyLong_AsLong(code);
        if (pys__api.PyErr_Occurred()) {
            pys__api.PyErr_Clear();
            v = 1;
        }
        status = (int)(v & 0xff);
    } else {
        free(*msg);
        *msg = str_of(code);
        *textual = true;
        status = 1;
    }
    pys__api.Py_DecRef(code);
    return status;
}

int pys__fail_py(pys_runtime *rt, const char *fn)
{
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    if (pys__api.PyErr_GetRaisedException) {
        value = pys__api.PyErr_GetRaisedException();
        if (value) {
            type = pys__api.PyObject_Type(value);
            tb = pys__api.PyException_GetTraceback(value);
        }
    } else {
        pys__api.PyErr_Fetch(&type, &value, &tb);
        if (type) {
            pys__api.PyErr_NormalizeException(&type, &value, &tb);
            if (tb && value)
                pys__api.PyException_SetTraceback(value, tb);
        }
    }
    if (!type) {
        if (value)
            pys__api.Py_DecRef(value);
        if (tb)
            pys__api.Py_DecRef(tb);
        return pys__fail(fn, PYS_E_INTERNAL, "a Python call failed without setting an exception");
    }
    if (!value) {
        value = PYS__None;
        pys__api.Py_IncRef(value);
    }
    char tname[256];
    pys__type_name(value, tname, sizeof tname);
    char *msg = str_of(value);
    char *trace = format_traceback(rt, type, value, tb);
    int code = PYS_E_PYTHON;
    int exit_status = 0;
    bool textual = false;
    if (pys__api.PyErr_GivenExceptionMatches(type, PYS__EXC(SystemExit))) {
        code = PYS_E_EXIT;
        exit_status = exit_code_of(value, &msg, &textual);
    } else if (rt->exc_timeout && pys__api.PyErr_GivenExceptionMatches(type, rt->exc_timeout)) {
        code = PYS_E_TIMEOUT;
        pys__threads_stopped(rt, rt->exc_timeout);
    } else if (rt->exc_interrupt &&
               pys__api.PyErr_GivenExceptionMatches(type, rt->exc_interrupt)) {
        code = PYS_E_INTERRUPTED;
        pys__threads_stopped(rt, rt->exc_interrupt);
    } else if (pys__api.PyErr_GivenExceptionMatches(type, PYS__EXC(KeyboardInterrupt))) {
        code = PYS_E_INTERRUPTED;
    }
    pys__tls *t = &pys__tls_state;
    if (t->capture_depth > 0 && value != PYS__None) {
        if (t->captured_exc)
            pys__api.Py_DecRef(t->captured_exc);
        pys__api.Py_IncRef(value);
        t->captured_exc = value;
    }
    pys__api.Py_DecRef(type);
    pys__api.Py_DecRef(value);
    if (tb)
        pys__api.Py_DecRef(tb);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    /* Messages read "ValueError: bad value" like Python's last line. */
    /* SystemExit with a message reads like the interpreter prints it. */
    char *full = textual && msg && *msg ? pys__strdup(msg)
                 : msg && *msg ? pys__asprintf("%s: %s", tname, msg)
                               : pys__strdup(tname);
    free(msg);
    set_error(fn, code, pys__strdup(tname), full, trace);
    pys__tls_state.err.exit_code = exit_status;
    return code;
}

void pys__log(pys_runtime *rt, pys_log_level level, const char *fmt, ...)
{
    if (!rt || !rt->logger)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = pys__vasprintf(fmt, ap);
    va_end(ap);
    if (s)
        rt->logger(level, s, rt->logger_ud);
    free(s);
}
