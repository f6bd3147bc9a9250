/* Internal header of the recipe files of src/api (recipes_py.c, capture.c,
 * policy.c, script.c): output routing, policed runs and script reloading.
 *
 * Their Python side is one private helper namespace (recipes_py.c), made
 * on first use after each pys_open and dropped by a close hook; it is in
 * no module table, so no Python code can import it. Everything here needs
 * the GIL unless it says otherwise. */
#ifndef PYS_API_RECIPES_H
#define PYS_API_RECIPES_H

#include "core/runtime.h"
#include "pyshim_run.h"

typedef struct pys__rcp {
    PyObject *ns;            /* the helper namespace (strong) */
    PyObject *enter, *leave; /* route a run's output (strong, borrowed from ns) */
    PyObject *redirect;
    PyObject *check_compile; /* policed source -> code object */
    PyObject *make_builtins;
    PyObject *script_class;
    PyObject *exc_output;    /* pyshim.OutputLimitExceeded */
} pys__rcp;

/* The helper of the open runtime, made on first use. NULL with the error
 * set (the Python exception turned into it). */
pys__rcp *pys__rcp_get(pys_runtime *rt, const char *fn);

/* f(*args): a new reference, or NULL with a Python exception set. */
PyObject *pys__rcp_call(PyObject *f, PyObject *const *args, size_t n);

/* A Python callable that passes the bytes it is given to fn(ud, ...): a new
 * reference, or NULL with a Python exception set. */
PyObject *pys__rcp_emitter(pys_write_fn fn, void *ud);


/* Routes this context's output of `streams` to fn until pys__rcp_unroute:
 * returns the route token (a new reference), or NULL with the error set.
 * limit > 0: after that many bytes, writes raise OutputLimitExceeded. */
PyObject *pys__rcp_route(pys_runtime *rt, pys__rcp *h, int streams, pys_write_fn fn, void *ud,
                         size_t limit, const char *fn_name);
/* Ends the route (flushing what it buffered) and drops tok. Keeps a
 * pending exception as it is; returns 0, or -1 with an exception set when
 * none was pending and ending failed. */
int pys__rcp_unroute(pys__rcp *h, PyObject *tok);

#endif
