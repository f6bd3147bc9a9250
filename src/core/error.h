/* This thread's error: set from a message, a loader diagnostic or the
 * pending Python exception (core/error.c). */
#ifndef PYS_CORE_ERROR_H
#define PYS_CORE_ERROR_H

#include <stdarg.h>

#include "core/runtime.h"
#include "loader/loader.h"

/* ---- errors ---------------------------------------------------------------- */

/* The owned copy of a pys_error (core/runtime.h). */
/* Frees o's strings; o then reads as no error (PYS_OK, "" strings). */
void pys__oerr_free(pys__owned_error *o);
/* Replaces o: code and the given strings, which o takes (malloc'd, or
 * NULL: "" then, and a NULL message reads pys_strerror(code)); no exit
 * status, nothing searched. */
void pys__oerr_set(pys__owned_error *o, int code, char *context, char *type, char *message,
                   char *traceback);
/* Replaces o with a copy of e (every string, the searched paths and the
 * exit status); e is not o's own view. */
void pys__oerr_copy(pys__owned_error *o, const pys_error *e);
/* Sets this thread's error to a copy of e, as a new failure (pys__fail);
 * e is not this thread's own error. Returns e->code. */
int pys__fail_copy(const pys_error *e);

/* Sets this thread's error (no Python involved). Returns code. */
int pys__fail(const char *fn, int code, const char *fmt, ...) PYS__PRINTF(3, 4);
/* Turns the pending Python exception into this thread's error and clears
 * it. Returns PYS_E_PYTHON, or PYS_E_EXIT / PYS_E_TIMEOUT / PYS_E_INTERRUPTED
 * by exception type. Needs the GIL. If nothing is pending, records an
 * internal error. */
int pys__fail_py(pys_runtime *rt, const char *fn);
/* Inside the library pys_last_error() reads the detail as it stands and
 * never formats a pending traceback (that takes the GIL and runs Python
 * code: internal code wants the code, type or message). Code that needs
 * the traceback calls pys__last_error_full(). */
const pys_error *pys__err_peek(void);
#define pys_last_error() pys__err_peek()
static inline const pys_error *pys__last_error_full(void)
{
    return (pys_last_error)();
}
/* Sets this thread's error detail aside (the thread then has none) and
 * puts it back, dropping whatever detail was set meanwhile; for code that
 * must fail internally without touching the caller's detail. */
typedef struct pys__err_saved {
    pys__owned_error err;
    struct pys__kept *kept;
    uint64_t gen;
} pys__err_saved;
void pys__err_stash(pys__err_saved *s);
void pys__err_unstash(pys__err_saved *s);
/* At thread exit (core/runtime.c): frees this thread's error detail and
 * detaches its kept exception. */
void pys__err_tls_exit(pys__tls *t);
/* pys_close, GIL held, calls on other threads all returned: drops every
 * kept exception (their tracebacks then read ""). */
void pys__errors_close(void);
/* The error for a runtime that is not live (!pys__rt_live(rt)): PYS_E_ARG
 * "FN: runtime is NULL" or "FN: not a pyshim runtime", else PYS_E_CLOSED
 * "FN: the runtime is closed". Returns the code. */
int pys__rt_fail(pys_runtime *rt, const char *fn);
/* Copies a loader diagnostic into this thread's error. Returns d->code. */
int pys__fail_diag(const char *fn, const pys__diag *d);
/* Type name of o for messages ("int", "numpy.ndarray"); writes into buf. */
const char *pys__type_name(PyObject *o, char *buf, size_t size);
/* Sets PYS_E_TYPE "FN: WHAT must be a dict, not TYPE" for o (see
 * pys__need_dict in core/types.h). Needs the GIL. */
void pys__fail_not_dict(PyObject *o, const char *what, const char *fn);
/* Raises a Python TypeError-like exception `exc` with a printf message. */
void pys__raise(PyObject *exc, const char *fmt, ...) PYS__PRINTF(2, 3);

/* Log through the user's logger, if any: the runtime's, or (before the
 * runtime exists) the one given. */
void pys__log(pys_runtime *rt, pys_log_level level, const char *fmt, ...) PYS__PRINTF(3, 4);
void pys__vlog(pys_log_fn logger, void *ud, pys_log_level level, const char *fmt, va_list ap)
    PYS__PRINTF(4, 0);

#endif
