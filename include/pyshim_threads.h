/* pyshim — Threads: batching, free-threaded builds, interrupts and deadlines.
 * Included by pyshim.h; do not include directly. */
#ifndef PYSHIM_THREADS_H
#define PYSHIM_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Batching: takes the GIL (or attaches a thread state on free-threaded
 * builds) for the calling thread until the matching pys_gil_release, so
 * that pyshim calls in between cost what the direct C-API costs.
 * Re-entrant: counted per thread. Returns PYS_OK, PYS_E_ARG, PYS_E_CLOSED.
 * Thread-safe. Do not block on other threads' Python work while holding it. */
PYS_API int pys_gil_acquire(pys_runtime *rt);
/* Ends one level of pys_gil_acquire. PYS_E_STATE when this thread holds
 * no batch. */
PYS_API int pys_gil_release(pys_runtime *rt);
/* Runs fn(rt, ud) inside one batch and returns its result (or PYS_E_ARG /
 * PYS_E_CLOSED without calling it). */
typedef int (*pys_gil_fn)(pys_runtime *rt, void *ud);
PYS_API int pys_with_gil(pys_runtime *rt, pys_gil_fn fn, void *ud);
/* True when the loaded Python is a free-threaded build (no GIL). */
PYS_API bool pys_free_threaded(pys_runtime *rt);

#ifdef __cplusplus
}
#endif

#endif
