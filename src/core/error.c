/* Per-thread error detail and the translation of Python exceptions.
 *
 * Design notes: docs/internals.md, "src/core/error.c". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/watchdog.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/types.h"
#include "core/call.h"
#include "core/list.h"
#include "core/tbformat.h"

_Thread_local pys__tls pys__tls_state;
#ifdef PYS__TLS_CACHE
_Thread_local pys__tls *pys__tls_cache __attribute__((tls_model("initial-exec")));

__attribute__((noinline)) pys__tls *pys__tls_first(void)
{
    pys__tls *t = &pys__tls_state;
    pys__tls_cache = t;
    return t;
}
#endif

/* ---- kept exceptions ---------------------------------------------------------- */

struct pys__kept {
    PyObject *type, *value, *tb; /* strong; all NULL once dropped by pys_close */
    bool orphan;                 /* its thread will not ask for it */
    pys__link link;              /* on kept_list while it holds objects */
};

static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;
static pys__list kept_list;
static _Atomic size_t kept_orphans;

/* This thread no longer needs its kept exception: make it an orphan (the
 * next failure with the GIL drops it). Any thread, no GIL needed. */
static void kept_detach(pys__tls *t)
{
    struct pys__kept *n = t->kept;
    if (!n)
        return;
    t->kept = NULL;
    pthread_mutex_lock(&kept_mu);
    bool live = n->type != NULL;
    if (live) {
        n->orphan = true;
        atomic_fetch_add(&kept_orphans, 1);
    }
    pthread_mutex_unlock(&kept_mu);
    if (!live)
        free(n); /* emptied by pys_close */
}

static void kept_release(struct pys__kept *n)
{
    pys__api.Py_DecRef(n->type);
    pys__api.Py_DecRef(n->value);
    pys__api.Py_DecRef(n->tb);
    free(n);
}

/* Drops the orphans, GIL held, no exception pending. Dropping a traceback
 * can run Python code (finalisers of its frames' locals), so each node is
 * unlinked under the lock and released outside it. */
static void kept_drain(void)
{
    while (atomic_load_explicit(&kept_orphans, memory_order_relaxed) > 0) {
        pthread_mutex_lock(&kept_mu);
        struct pys__kept *n = PYS__LIST_FIRST(struct pys__kept, &kept_list, link);
        while (n && !n->orphan)
            n = PYS__LIST_NEXT(struct pys__kept, n, link);
        if (n) {
            pys__list_remove(&n->link);
            atomic_fetch_sub(&kept_orphans, 1);
        }
        pthread_mutex_unlock(&kept_mu);
        if (!n)
            return;
        kept_release(n);
        if (pys__api.PyErr_Occurred())
            pys__api.PyErr_Clear();
    }
}

/* Keeps (type, value, tb) for this thread's lazy traceback; takes the
 * three references. False (nothing taken) when out of memory. */
static bool kept_keep(pys__tls *t, PyObject *type, PyObject *value, PyObject *tb)
{
    struct pys__kept *n = calloc(1, sizeof *n);
    if (!n)
        return false;
    n->type = type;
    n->value = value;
    n->tb = tb;
    pthread_mutex_lock(&kept_mu);
    pys__list_push(&kept_list, &n->link);
    pthread_mutex_unlock(&kept_mu);
    t->kept = n;
    return true;
}

/* Takes this thread's kept exception back (GIL held, the runtime open and
 * this thread counted in): true with the references moved to the
 * caller, false if pys_close dropped them. */
static bool kept_take(pys__tls *t, PyObject **type, PyObject **value, PyObject **tb)
{
    struct pys__kept *n = t->kept;
    t->kept = NULL;
    pthread_mutex_lock(&kept_mu);
    bool live = n->type != NULL;
    if (live)
        pys__list_remove(&n->link);
    pthread_mutex_unlock(&kept_mu);
    *type = n->type;
    *value = n->value;
    *tb = n->tb;
    free(n);
    return live;
}

void pys__errors_close(void)
{
    /* Calls on other threads have all returned: no node is being taken.
     * A node still owned by its thread is emptied (its thread frees it);
     * its objects move to a node of their own, released below. */
    pys__list drop = {0};
    pthread_mutex_lock(&kept_mu);
    struct pys__kept *n;
    while ((n = PYS__LIST_FIRST(struct pys__kept, &kept_list, link))) {
        pys__list_remove(&n->link);
        if (n->orphan) {
            atomic_fetch_sub(&kept_orphans, 1);
        } else {
            struct pys__kept *m = calloc(1, sizeof *m);
            if (m) {
                m->type = n->type;
                m->value = n->value;
                m->tb = n->tb;
            } /* else: leak the objects; finalisation frees them */
            n->type = n->value = n->tb = NULL;
            n = m;
        }
        if (n)
            pys__list_push(&drop, &n->link);
    }
    pthread_mutex_unlock(&kept_mu);
    while ((n = PYS__LIST_FIRST(struct pys__kept, &drop, link))) {
        pys__list_remove(&n->link);
        kept_release(n);
        if (pys__api.PyErr_Occurred())
            pys__api.PyErr_Clear();
    }
}

/* ---- owned errors ------------------------------------------------------------- */

void pys__oerr_free(pys__owned_error *o)
{
    free(o->context);
    free(o->type);
    free(o->message);
    free(o->traceback);
    if (o->searched) {
        for (size_t i = 0; i < o->view.nsearched; i++)
            free(o->searched[i]);
        free(o->searched);
    }
    *o = (pys__owned_error){
        .view = {.code = PYS_OK, .context = "", .type = "", .message = "", .traceback = ""}};
}

void pys__oerr_set(pys__owned_error *o, int code, char *context, char *type, char *message,
                   char *traceback)
{
    pys__oerr_free(o);
    o->context = context;
    o->type = type;
    o->message = message;
    o->traceback = traceback;
    o->view.code = code;
    o->view.context = context ? context : "";
    o->view.type = type ? type : "";
    o->view.message = message ? message : pys_strerror(code);
    o->view.traceback = traceback ? traceback : "";
}

/* Gives o copies of n searched paths (none when out of memory). */
static void oerr_searched(pys__owned_error *o, const char *const *searched, size_t n)
{
    if (!n || !(o->searched = calloc(n, sizeof(char *))))
        return;
    for (size_t i = 0; i < n; i++)
        o->searched[i] = pys__strdup(searched[i]);
    o->view.searched = (const char *const *)o->searched;
    o->view.nsearched = n;
}

/* Replaces o's traceback with text (taken; NULL keeps the old one). */
static void oerr_traceback(pys__owned_error *o, char *text)
{
    if (!text)
        return;
    free(o->traceback);
    o->traceback = text;
    o->view.traceback = text;
}

void pys__oerr_copy(pys__owned_error *o, const pys_error *e)
{
    pys__oerr_set(o, e->code, pys__strdup(e->context ? e->context : ""), pys__strdup(e->type),
                  pys__strdup(e->message), pys__strdup(e->traceback));
    o->view.exit_code = e->exit_code;
    o->view.exit_kind = e->exit_kind;
    o->view.exit_value = e->exit_value;
    oerr_searched(o, e->searched, e->nsearched);
}

/* ---- the detail --------------------------------------------------------------- */

static void tls_free_errors(pys__tls *t)
{
    kept_detach(t);
    t->err_gen++;
    pys__oerr_free(&t->err);
}

void pys__err_tls_exit(pys__tls *t)
{
    tls_free_errors(t);
}

static void format_pending(pys__tls *t);

const pys_error *pys__err_peek(void)
{
    pys__tls *t = pys__tls_get();
    if (!t->err.view.context)
        tls_free_errors(t);
    return &t->err.view;
}

const pys_error *pys_last_error_brief(void)
{
    return pys__err_peek();
}

const pys_error *(pys_last_error)(void)
{
    pys__tls *t = pys__tls_get();
    if (!t->err.view.context)
        tls_free_errors(t);
    if (t->kept)
        format_pending(t);
    return &t->err.view;
}

void pys__err_stash(pys__err_saved *s)
{
    pys__tls *t = pys__tls_get();
    if (!t->err.view.context)
        tls_free_errors(t);
    s->err = t->err;
    s->kept = t->kept;
    s->gen = t->err_gen;
    t->err = (pys__owned_error){0};
    t->kept = NULL;
    tls_free_errors(t);
}

void pys__err_unstash(pys__err_saved *s)
{
    pys__tls *t = pys__tls_get();
    tls_free_errors(t);
    t->err = s->err;
    t->kept = s->kept;
    t->err_gen = s->gen;
}

void pys_clear_error(void)
{
    tls_free_errors(pys__tls_get());
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
    pys__tls *t = pys__tls_get();
    tls_free_errors(t);
    pys__tls_register(t); /* the strings are freed, a kept exception detached at exit */
    t->nfail++;
    pys__oerr_set(&t->err, code, pys__strdup(fn ? fn : ""), type, message, traceback);
}

int pys__fail_copy(const pys_error *e)
{
    pys__tls *t = pys__tls_get();
    tls_free_errors(t);
    pys__tls_register(t);
    t->nfail++;
    pys__oerr_copy(&t->err, e);
    return e->code;
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

int pys__rt_fail(pys_runtime *rt, const char *fn)
{
    if (!rt)
        return pys__fail(fn, PYS_E_ARG, "%s: runtime is NULL", fn);
    if (rt != &pys__the_runtime)
        return pys__fail(fn, PYS_E_ARG, "%s: not a pyshim runtime", fn);
    return pys__fail(fn, PYS_E_CLOSED, "%s: the runtime is closed", fn);
}

int pys_set_error(int code, const char *context, const char *message)
{
    if (code >= 0 || strcmp(pys_err_name(code), "PYS_E_UNKNOWN") == 0)
        return pys__fail(__func__, PYS_E_ARG, "pys_set_error: %d is not a PYS_E_* code", code);
    return pys__fail(context ? context : "", code, "%s", message ? message : pys_strerror(code));
}

int pys__fail_diag(const char *fn, const pys__diag *d)
{
    int code = d->code ? d->code : PYS_E_INTERNAL;
    set_error(fn, code, NULL, pys__strdup(d->message ? d->message : pys_strerror(code)), NULL);
    oerr_searched(&pys__tls_get()->err, (const char *const *)d->searched, d->nsearched);
    return code;
}

void pys__fail_not_dict(PyObject *o, const char *what, const char *fn)
{
    char tn[128];
    pys__fail(fn, PYS_E_TYPE, "%s: %s must be a dict, not %s", fn, what,
              pys__type_name(o, tn, sizeof tn));
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
    pys__api.Py_DecRef(mod);
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

/* Formats this thread's kept exception into its error detail (see the top
 * of the file). The runtime is entered as by a call, with this thread's
 * error detail set aside meanwhile, so a refusal (closed) does not touch
 * it; Python code run by the formatting that fails on this thread makes
 * its own error current, and this result is then dropped. */
static void format_pending(pys__tls *t)
{
    pys_runtime *rt = &pys__the_runtime;
    pys__err_saved saved;
    pys__err_stash(&saved);
    bool in = pys__begin(rt, "pys_last_error") != NULL;
    pys__err_unstash(&saved);
    if (!in) {
        kept_detach(t); /* pys_close drops it, or did */
        return;
    }
    pys__threads_shield(rt);
    uint64_t gen = t->err_gen;
    PyObject *type, *value, *tb;
    if (kept_take(t, &type, &value, &tb)) {
        char *line = pys__strdup(t->err.view.message);
        char *text = pys__tb_format(rt, type, value, tb, line);
        free(line);
        if (t->err_gen == gen)
            oerr_traceback(&t->err, text);
        else
            free(text);
        pys__api.Py_DecRef(type);
        pys__api.Py_DecRef(value);
        pys__api.Py_DecRef(tb);
        if (pys__api.PyErr_Occurred())
            pys__api.PyErr_Clear();
    }
    pys__end(rt);
}

/* SystemExit.code as Python has it, and the status the OS would see had
 * the interpreter exited with it: (int)PyLong_AsLong(code) passed to
 * exit(), -1 when it does not fit a long; 1 (and str(code) printed) for
 * anything but None or an int. */
typedef struct exit_info {
    int os;
    int kind;
    int64_t value;
} exit_info;

static exit_info exit_code_of(PyObject *value, char **msg, bool *textual)
{
    exit_info x = {.os = 1, .kind = PYS_EXIT_OTHER};
    PyObject *code = pys__api.PyObject_GetAttrString(value, "code");
    if (!code) {
        pys__api.PyErr_Clear();
        return x;
    }
    if (code == PYS__None) {
        x = (exit_info){.os = 0, .kind = PYS_EXIT_NONE};
    } else if (pys__is(code, pys__api.PyLong_Type)) {
        int overflow = 0;
        long long v = pys__api.PyLong_AsLongLongAndOverflow(code, &overflow);
        if (overflow) {
            x = (exit_info){.os = 255, .kind = PYS_EXIT_BIG_INT, .value = overflow};
        } else if (v == -1 && pys__api.PyErr_Occurred()) {
            pys__api.PyErr_Clear(); /* cannot happen for a real int; stay a failure */
        } else {
            x = (exit_info){.os = (int)((unsigned long long)v & 0xffu), .kind = PYS_EXIT_INT,
                            .value = v};
        }
    } else {
        free(*msg);
        *msg = pys__str_of(code);
        *textual = true;
    }
    pys__api.Py_DecRef(code);
    return x;
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
        pys__api.Py_DecRef(value);
        pys__api.Py_DecRef(tb);
        return pys__fail(fn, PYS_E_INTERNAL, "a Python call failed without setting an exception");
    }
    if (!value) {
        value = PYS__None;
        pys__api.Py_IncRef(value);
    }
    pys__tls *t = pys__tls_get();
    /* Nothing is pending now: drop what no thread needs any more (this
     * thread's previous exception among them). */
    kept_detach(t);
    kept_drain();
    char tname[256];
    pys__type_name(value, tname, sizeof tname);
    char *msg = pys__str_of(value);
    int code = PYS_E_PYTHON;
    exit_info exit = {0};
    bool textual = false;
    if (pys__api.PyErr_GivenExceptionMatches(type, PYS__EXC(SystemExit))) {
        code = PYS_E_EXIT;
        exit = exit_code_of(value, &msg, &textual);
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
    if (t->capture_depth > 0 && value != PYS__None) {
        pys__api.Py_DecRef(t->captured_exc);
        pys__api.Py_IncRef(value);
        t->captured_exc = value;
    }
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    /* Messages read "ValueError: bad value" like Python's last line. */
    /* SystemExit with a message reads like the interpreter prints it. */
    char *full = textual && msg && *msg ? pys__strdup(msg)
                 : msg && *msg ? pys__asprintf("%s: %s", tname, msg)
                               : pys__strdup(tname);
    free(msg);
    set_error(fn, code, pys__strdup(tname), full, NULL);
    t->err.view.exit_code = exit.os;
    t->err.view.exit_kind = exit.kind;
    t->err.view.exit_value = exit.value;
    /* The traceback is formatted when asked for (pys_last_error). */
    if (tb && kept_keep(t, type, value, tb))
        return code;
    if (tb) {
        /* Out of memory for the node: format now. */
        oerr_traceback(&t->err, pys__tb_format(rt, type, value, tb, t->err.view.message));
        pys__api.Py_DecRef(tb);
    }
    pys__api.Py_DecRef(type);
    pys__api.Py_DecRef(value);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    return code;
}

void pys__vlog(pys_log_fn logger, void *ud, pys_log_level level, const char *fmt, va_list ap)
{
    if (!logger)
        return;
    char *s = pys__vasprintf(fmt, ap);
    if (s)
        logger(level, s, ud);
    free(s);
}

void pys__log(pys_runtime *rt, pys_log_level level, const char *fmt, ...)
{
    if (!rt || !rt->logger)
        return;
    va_list ap;
    va_start(ap, fmt);
    pys__vlog(rt->logger, rt->logger_ud, level, fmt, ap);
    va_end(ap);
}
