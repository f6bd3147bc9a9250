/* pyshim — Threads: batching, free-threaded builds, interrupts and deadlines.
 * Included by pyshim.h; do not include directly. */
#ifndef PYSHIM_THREADS_H
#define PYSHIM_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Batching ----------------------------------------------------------
 *
 * Every pyshim call takes and gives back the GIL itself (auto-GIL), from any
 * thread, including threads CPython has never seen. A batch keeps it across
 * many calls: between pys_gil_acquire and the matching pys_gil_release (or
 * inside pys_with_gil) a call only counts itself in a thread-local depth
 * and looks up its handles: no GIL round trip, no atomic operation, no lock
 * on GIL builds (BENCHMARKS.md has the cost against the C-API). On free-threaded
 * builds a batch keeps the thread state attached instead; the handle table
 * still takes its lock there, since other threads really run in parallel.
 *
 * Rules: on a GIL build no other thread runs Python while this thread is
 * between calls of a batch (Python code that a call runs still lets other
 * threads in every switch interval, as all Python code does); on a
 * free-threaded build a batch holds up the others' stop-the-world pauses
 * (garbage collection). So do not block in a batch on work that needs
 * Python on another thread. Release a batch
 * before the thread exits. pys_close waits for every batch held by other
 * threads to be released; a batch that is never released makes pys_close
 * wait forever (it logs a warning every 5 s while it waits). A batch is one
 * call for deadlines: pys_set_deadline's time counts from pys_gil_acquire.
 *
 * Thread states: on a thread that had no Python thread state, the first
 * call makes one and pyshim keeps it for the thread's later calls and
 * batches (attached with PyEval_RestoreThread / PyEval_SaveThread, not a
 * PyGILState round trip per call), so Python sees one thread:
 * threading.local() data and threading.get_ident() carry over from call to
 * call. It is deleted when the thread exits (its thread-local data is freed
 * then) or when the runtime is closed. The main thread state of the
 * interpreter is kept the same way. Thread states that belong to someone
 * else (a thread Python started, or one the host made with the C-API) are
 * used through PyGILState_Ensure/Release on each call instead, as is any
 * thread that already holds the GIL when it calls pyshim. */

/* Starts (or, when this thread is already in a batch or a pyshim call,
 * nests) a batch on the calling thread. Returns PYS_OK, PYS_E_ARG (NULL or
 * not a runtime), PYS_E_CLOSED, or PYS_E_STATE when batches are nested more
 * than 64 deep. Thread-safe; counted per thread. */
PYS_API int pys_gil_acquire(pys_runtime *rt);
/* Ends the innermost batch of the calling thread; the GIL is given back
 * when the outermost one ends. Returns PYS_OK, PYS_E_ARG, or PYS_E_STATE
 * when this thread holds no batch, or when a pyshim call made inside that
 * batch has not returned yet (e.g. from a callback). Thread-safe. */
PYS_API int pys_gil_release(pys_runtime *rt);
/* Runs fn(rt, ud) inside one batch and returns fn's result. If the batch
 * cannot be started, returns its error (PYS_E_ARG, PYS_E_CLOSED,
 * PYS_E_STATE) without calling fn; a NULL fn is PYS_E_ARG. Thread-safe. */
typedef int (*pys_gil_fn)(pys_runtime *rt, void *ud);
PYS_API int pys_with_gil(pys_runtime *rt, pys_gil_fn fn, void *ud);
/* True when rt is open on a free-threaded build (3.13t, 3.14t: detected
 * from the library name and sys.abiflags); false otherwise, including for
 * NULL or a closed runtime. Thread-safe; no errors. */
PYS_API bool pys_free_threaded(pys_runtime *rt);

/* ---- Interrupts and deadlines -----------------------------------------
 *
 * Both stop Python code that pyshim calls are running by raising an
 * exception in the thread that runs it (PyThreadState_SetAsyncExc):
 * pyshim.Interrupted for pys_interrupt, pyshim.DeadlineExceeded for a
 * deadline. Both derive from BaseException, so `except Exception` does not
 * catch them. The interrupted call returns PYS_E_INTERRUPTED or
 * PYS_E_TIMEOUT (pys_last_error()->type names the exception, with the
 * Python traceback); no exception stays pending, and the runtime and the
 * thread are fully usable afterwards.
 *
 * The exception is raised again every PYS_INTERRUPT_REPEAT_MS
 * milliseconds until the interrupted pyshim call returns, so code that
 * catches BaseException (or KeyboardInterrupt handlers, `finally` blocks
 * that loop) cannot swallow it for good. Code that catches it in a loop
 * forever (`while True: try: ... except BaseException: pass`) cannot be
 * stopped, as with Ctrl-C in plain Python. A batch is one call here: once
 * it is interrupted, or once its deadline has passed (even while the batch
 * was between calls), every call in it that runs Python code fails the
 * same way until the batch ends (calls that run none still work); the same
 * holds for calls made from a bridge callback inside a stopped call.
 * pys_close interrupts the calls in progress on other threads the same way.
 *
 * What is not stopped: Python raises the exception only when it runs
 * bytecode (at loop back-edges and calls, at the latest every
 * sys.getswitchinterval() on GIL builds). A blocking C call (time.sleep,
 * socket or file reads, lock.acquire() without a timeout, a long numpy or
 * other C-extension operation) runs to its end; the exception is raised when
 * it returns to Python code, so the call returns later than the deadline.
 * If the Python code finishes before reaching such a point, the call
 * succeeds and the exception is dropped. Delivery also waits while the
 * thread is inside importlib's own code (taking or releasing an import
 * lock): an exception there could leave the lock held and hang every later
 * import of that module; the body of a module being imported is stopped
 * normally (best effort on free-threaded builds, where the thread keeps
 * running while pyshim looks). A thread that holds the GIL without running
 * bytecode (a long C call, a batch between calls) delays the delivery to
 * every other thread until it lets go.
 * As with KeyboardInterrupt, stopping Python code at an arbitrary point can
 * leave Python-level state half-updated (a half-done import, objects
 * mid-update); `finally` and `with` blocks do run. */

#define PYS_INTERRUPT_REPEAT_MS 50

/* Interrupts every pyshim call (and batch) in progress on other threads
 * at this moment: the Python code they run gets pyshim.Interrupted, and
 * they return PYS_E_INTERRUPTED. Calls that start later are not affected,
 * nor is the calling thread's own call. Returns immediately (delivery is
 * done by a watchdog thread, started on first use, within a few ms plus the
 * time to get the GIL) with the number of calls targeted (0 when none), or
 * PYS_E_ARG, PYS_E_CLOSED, or PYS_E_NOMEM (the watchdog thread could not
 * be started). Thread-safe; may be called from inside a pyshim call or
 * batch. Not async-signal-safe: from a signal handler, wake a thread that
 * calls it. */
PYS_API int pys_interrupt(pys_runtime *rt);

/* Sets a per-call deadline for the calling thread: from now on, every
 * pyshim call this thread makes that has not returned `ms` milliseconds
 * after it started (time spent waiting for the GIL included) has its Python
 * code stopped and returns PYS_E_TIMEOUT. A batch counts as one call, timed
 * from pys_gil_acquire. ms = 0 clears it. The setting applies to calls
 * started afterwards and lasts until changed, until the thread exits or
 * until the runtime is closed (a call refused after pys_close starts no
 * watchdog, whatever was set). Returns PYS_OK, PYS_E_ARG, PYS_E_CLOSED, or
 * PYS_E_NOMEM (the watchdog thread could not be started). Thread-safe
 * (affects only the calling thread). Cost: a call with a deadline reads the
 * clock once; the watchdog sleeps until the earliest deadline of the calls
 * in progress. */
PYS_API int pys_set_deadline(pys_runtime *rt, uint32_t ms);
/* The calling thread's per-call deadline in ms; 0 when none is set, or rt
 * is NULL or not open. Thread-safe; no errors. */
PYS_API uint32_t pys_get_deadline(pys_runtime *rt);

#ifdef __cplusplus
}
#endif

#endif
