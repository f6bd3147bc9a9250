#ifndef PYS_INIT_H
#define PYS_INIT_H

#include "loader/capi.h"

typedef struct pys__init_opts {
    const char *executable; /* program name: the install's (or venv's) interpreter */
    const char *home;       /* PYTHONHOME equivalent, or NULL (venvs: found via pyvenv.cfg) */
    const char *stdlib_prefix; /* where the stdlib must be (checked before init) */
    int version;            /* 0xMMmm */
    bool free_threaded;
    bool install_signal_handlers;
    int utf8_mode;          /* PEP 540: 0 Python's default, 1 on, -1 off */
    int coerce_c_locale;    /* PEP 538: 0 Python's default, 1 on, -1 off */
} pys__init_opts;

/* Checks the stdlib, configures and initialises CPython, then releases the
 * GIL. *main_tstate receives the main thread state (for finalisation).
 * If Python is already initialised (an earlier runtime skipped finalize),
 * only takes the state. PYS_E_INIT names the path it checked. */
int pys__py_init(const pys__init_opts *o, PyThreadState **main_tstate, bool *was_initialized,
                 pys__diag *d);
/* Runs the interpreter's own main (Py_BytesMain) on argv[1..argc-1], with
 * argv[0] replaced by o->executable so that Python computes its paths and
 * sys.executable exactly as for that `python`. Checks the stdlib first.
 * Returns PYS_OK with *status the exit status, or PYS_E_INIT / PYS_E_STATE
 * (Python already initialised) / PYS_E_NOMEM with `d` filled. Python's
 * own usage errors and fatal errors exit the process as `python` does. */
int pys__py_main(const pys__init_opts *o, int argc, char **argv, int *status, pys__diag *d);
/* Frees the strings handed to CPython's setters (after Py_FinalizeEx). */
void pys__py_init_free(void);
/* True when `prefix` holds the stdlib of Python 3.minor (ft: python3.Xt). */
bool pys__stdlib_present(const char *prefix, int minor, bool ft, char **looked_at);

#endif
