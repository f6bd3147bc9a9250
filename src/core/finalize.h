/* Python threads at finalisation (core/finalize.c), for pys_close and
 * pys_open. */
#ifndef PYS_CORE_FINALIZE_H
#define PYS_CORE_FINALIZE_H

#include "core/runtime.h"

/* For pys_close: with the GIL, before Py_FinalizeEx (threading's shutdown
 * would wait forever for a "main thread" that is not this one). */
void pys__threads_before_finalize(pys_runtime *rt);
/* For pys_close right after Py_FinalizeEx, and for pys_open before it
 * initialises Python again (open_lock held): Python threads that were
 * still running at finalisation make pys_open fail with PYS_E_STATE
 * (error set) while they may still wake up. */
void pys__threads_after_finalize(pys_runtime *rt);
int pys__threads_reopen_check(const char *fn);
/* For pys_open before it initialises Python again after a finalising
 * close (open_lock held): PYS_E_STATE (error set) when the library is
 * CPython 3.12.0-3.12.4 (version 0xMMmm, micro) and an extension module
 * from its lib-dynload was loaded, which such a Python initialised again
 * can crash on; PYS_OK otherwise. */
int pys__reinit_check(const char *fn, int version, int micro);

#endif
