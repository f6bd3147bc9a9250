/* Internals shared by the api layer's files: runs, namespaces, calls with
 * handles, signals and the policy hook of pys_open. */
#ifndef PYS_API_H
#define PYS_API_H

#include "core/runtime.h"
#include "loader/loader.h"

/* options.c: every default of pys_options filled in (*out a copy of *in,
 * NULL: all zero); the runtime's own copy of the resolved options, made by
 * pys_open (PYS_E_NOMEM, error set) and dropped by close, under open_lock;
 * and the search those options ask for. */
void pys__options_resolve(const pys_options *in, pys_options *out);
int pys__options_keep(const pys_options *ro);
void pys__options_drop(void);
const pys_options *pys__options_kept(void);
pys__probe_opts pys__probe_opts_of(const pys_options *ro);

/* signals.c: the host's signal dispositions, saved by pys_open and put
 * back by pys_close where Python changed them (see there). Called with
 * open_lock held: _open_before before Python initialises, _open_after
 * right after (GIL held); _close_before right before Py_FinalizeEx (GIL
 * held), _close_after right after it; _close_keep instead of both when
 * close does not finalise (GIL held). */
void pys__sig_open_before(void);
void pys__sig_open_after(void);
void pys__sig_close_before(void);
void pys__sig_close_after(void);
void pys__sig_close_keep(void);

/* Run a compiled or cached source (run.c). mode: PYS__Py_file_input /
 * PYS__Py_eval_input. Returns a new reference or NULL (exception set). */
PyObject *pys__run_src(pys_runtime *rt, const char *src, int mode, PyObject *globals);
/* The namespace of a run: __main__'s dict for PYS_NULL, else ns's dict
 * (PYS_E_TYPE for another type), given __builtins__ if it has none. A new
 * reference, held while the code runs, or NULL with the error set (run.c). */
PyObject *pys__namespace_of(pys_runtime *rt, pys_obj ns, const char *fn);
void pys__cc_clear(pys_runtime *rt);


/* f(*args, **kwargs) with the objects of live handles (object.c). Returns
 * a new reference, or NULL with the error set (PYS_E_ARG, PYS_E_HANDLE
 * naming the argument, or the Python exception). Needs the GIL. */
PyObject *pys__call_handles(pys_runtime *rt, PyObject *f, const pys_obj *args, size_t nargs,
                             PyObject *kwargs, const char *name);

/* policy.c, for pys_open (GIL held, at its end): adds the audit hook of
 * policed runs, and their counting allocator if o->memory_caps. */
void pys__policy_open(pys_runtime *rt, const pys_options *o);

#endif
