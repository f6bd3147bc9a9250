/* pyshim — Async: coroutines, futures, a persistent event loop.
 * Included by pyshim.h; do not include directly.
 *
 * Three levels:
 * - Blocking: pys_run_async / pys_await / pys_call_async[f] run a coroutine
 *   to completion on the calling thread (asyncio.run) and return its value.
 * - Loops: pys_loop_start starts an asyncio event loop on its own thread;
 *   pys_loop_submit[f] hands it coroutines from any thread and returns a
 *   pys_future that receives the value, the error or the cancellation.
 * - Background one-shots: pys_run_async_bg / pys_call_async_bg submit to
 *   one internal loop that the runtime starts on first use.
 *
 * Interrupts and deadlines (pyshim_threads.h) apply to the blocking calls
 * like to any call: the loop wakes every 50 ms while it waits, so they land
 * promptly even in a coroutine that sleeps. Coroutines running on loops
 * are not pyshim calls and are not interrupted: cancel their futures.
 *
 * Completion callbacks (pys_future_fn) always run on the thread of the loop
 * that ran the coroutine, with the GIL held: pyshim calls made inside them
 * are cheap, and they must not block (above all, not wait for another
 * future of the same loop). A call that fails and returns NULL never calls
 * its callback; a future that was returned calls it exactly once, unless it
 * was freed before it completed. */
#ifndef PYSHIM_ASYNC_H
#define PYSHIM_ASYNC_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- running to completion on the calling thread ------------------------ */

/* Evaluates `expr` in __main__; the value must be a coroutine or another
 * awaitable (asyncio.Future, an object with __await__). Runs it to
 * completion with asyncio.run() on the calling thread (the loop gives the
 * GIL up while it waits, so other threads keep running Python) and returns
 * its value as a new handle, or PYS_NULL with this thread's error set:
 * PYS_E_PYTHON (the coroutine's exception: type, message and traceback
 * through its frames), PYS_E_CANCELLED (it ended with CancelledError),
 * PYS_E_TYPE (expr gave no awaitable), PYS_E_EXIT / PYS_E_TIMEOUT /
 * PYS_E_INTERRUPTED as for pys_eval (the coroutine is cancelled and unwound
 * first), PYS_E_ARG, PYS_E_CLOSED. Calling it from code already running on
 * an event loop is PYS_E_PYTHON (asyncio's RuntimeError). The handle is
 * owned by the caller. Thread-safe; any number of threads may run their
 * own at once. */
PYS_API pys_obj pys_run_async(pys_runtime *rt, const char *expr);
/* Same for an awaitable handle (borrowed; a coroutine can be awaited only
 * once). */
PYS_API pys_obj pys_await(pys_obj awaitable);
/* Calls the async function fn(*args) (handles borrowed) and runs the
 * coroutine it returns to completion, as pys_run_async. PYS_E_TYPE when
 * fn's result is not awaitable. */
PYS_API pys_obj pys_call_async(pys_obj fn, const pys_obj *args, size_t nargs);
/* Same with C values described by a pys_callf format (keywords allowed). */
PYS_API pys_obj pys_call_asyncf(pys_obj fn, const char *fmt, ...);
PYS_API pys_obj pys_vcall_asyncf(pys_obj fn, const char *fmt, va_list ap);

/* ---- futures -------------------------------------------------------------- */

typedef struct pys_future pys_future;
typedef struct pys_loop pys_loop;

typedef enum pys_future_status {
    PYS_FUTURE_PENDING = 0,   /* not finished yet */
    PYS_FUTURE_FINISHED = 1,  /* returned a value: pys_future_result */
    PYS_FUTURE_FAILED = 2,    /* raised: pys_future_error / pys_future_result */
    PYS_FUTURE_CANCELLED = 3, /* cancelled (by pys_future_cancel, a stop, or itself) */
} pys_future_status;

/* Completion callback: runs once, on the loop's thread, with the GIL held,
 * when the future is finished, failed or cancelled. `f` stays valid during
 * the call; the callback may read it (pys_future_result, pys_future_error)
 * and may free it. Must not block. A callback that frees its future ("fire
 * and forget") may run before the call that submitted the future has
 * returned: the pointer that call returns may then be freed already, and
 * tells the submitter only whether submission succeeded (non-NULL); the
 * submitter must not use or free it. */
typedef void (*pys_future_fn)(pys_future *f, pys_future_status status, void *ud);

/* Waits until f has completed (and its callback, if any, has returned), for
 * at most timeout_ms milliseconds (negative = no limit, 0 = poll). The GIL
 * is not held while waiting, even when the caller holds it in a batch.
 * Returns PYS_OK (finished with a value), the future's error code when it
 * failed (PYS_E_PYTHON ..., detail copied into this thread's error),
 * PYS_E_CANCELLED, PYS_E_PENDING when time ran out (f is untouched),
 * PYS_E_STATE when waiting would deadlock (called on f's own loop thread
 * with a non-zero timeout while f is pending), or PYS_E_ARG (NULL).
 * Thread-safe: any number of threads may wait on one future. */
PYS_API int pys_future_wait(pys_future *f, int64_t timeout_ms);
/* f's status without waiting (PYS_FUTURE_PENDING also for NULL). A future
 * reads as complete once its callback, if any, has returned. Thread-safe. */
PYS_API pys_future_status pys_future_poll(const pys_future *f);
/* pys_future_poll(f) != PYS_FUTURE_PENDING. Thread-safe. */
PYS_API bool pys_future_done(const pys_future *f);
/* The value of a finished future as a new handle (each call gives a new
 * handle; the future keeps its own reference until pys_future_free). For a
 * failed future returns PYS_NULL and copies the future's error (code,
 * context, type, message, traceback) into this thread's pys_last_error();
 * otherwise PYS_NULL with PYS_E_CANCELLED, PYS_E_PENDING, PYS_E_ARG, or
 * PYS_E_CLOSED (the runtime was closed: values are dropped at pys_close).
 * Thread-safe; also callable from the future's own callback. */
PYS_API pys_obj pys_future_result(pys_future *f);
/* The future's own error detail (code PYS_OK when it finished with a value,
 * PYS_E_CANCELLED when cancelled), or NULL while pending or for NULL f.
 * Owned by f, valid until pys_future_free(f). Thread-safe. */
PYS_API const pys_error *pys_future_error(const pys_future *f);
/* Requests cancellation: the coroutine gets CancelledError at its next
 * await (on the loop's thread) and the future completes as
 * PYS_FUTURE_CANCELLED, unless the coroutine catches it and returns or
 * raises something else, or finishes first. Returns PYS_OK when the request
 * was sent (wait for the outcome; also when the loop is already stopping,
 * which cancels f anyway), PYS_E_STATE when f had already completed,
 * PYS_E_ARG, PYS_E_CLOSED. Thread-safe. */
PYS_API int pys_future_cancel(pys_future *f);
/* Frees a future and the value it holds (dropped with the GIL; after
 * pys_close it is just forgotten). Freeing a pending future cancels it;
 * after pys_future_free returns its callback is not called (if the
 * callback is running on another thread, this waits for it). May be called
 * from the future's own callback. NULL is a no-op. f is invalid afterwards.
 * Thread-safe, once per future. */
PYS_API void pys_future_free(pys_future *f);

/* ---- persistent loops ----------------------------------------------------- */

/* Starts a new asyncio event loop running forever on a new thread (signals
 * blocked there). Returns the loop, owned by the caller until
 * pys_loop_stop (which also frees it), or NULL with PYS_E_ARG,
 * PYS_E_CLOSED, PYS_E_PYTHON, PYS_E_NOMEM (thread creation failed). Any
 * number of loops may run at once. pys_close stops loops still running
 * (as pys_loop_stop does, except freeing). Thread-safe. */
PYS_API pys_loop *pys_loop_start(pys_runtime *rt);
/* Submits work to the loop from any thread and returns its future (owned
 * by the caller: pys_future_free), or NULL on failure (then cb is never
 * called). `aw_or_fn` (borrowed) is either an awaitable (a coroutine
 * object; nargs must be 0) or a callable, called here on the calling
 * thread with args (borrowed handles) to produce the awaitable (an async
 * function). The coroutine runs on the loop's thread; cb (may be NULL)
 * runs there when it completes. Errors: PYS_E_TYPE (not awaitable / not
 * callable), PYS_E_ARG (an awaitable that is not callable given nargs > 0),
 * PYS_E_PYTHON (the call raised), PYS_E_STATE (the loop is
 * stopping or stopped), PYS_E_HANDLE, PYS_E_ARG, PYS_E_CLOSED, PYS_E_NOMEM.
 * Thread-safe: many threads may submit to many loops at once. */
PYS_API pys_future *pys_loop_submit(pys_loop *loop, pys_obj aw_or_fn, const pys_obj *args,
                                    size_t nargs, pys_future_fn cb, void *ud);
/* Same, calling fn with C values described by a pys_callf format. 'N'
 * handles are released even on failure. */
PYS_API pys_future *pys_loop_submitf(pys_loop *loop, pys_future_fn cb, void *ud, pys_obj fn,
                                     const char *fmt, ...);
/* Stops the loop and frees it: refuses new submissions, cancels what is
 * pending (queued coroutines included; their futures complete as
 * PYS_FUTURE_CANCELLED and their callbacks run on the loop thread), waits
 * for them to unwind (a coroutine that ignores cancellation is given about
 * two seconds), shuts down async generators and the default executor,
 * closes the loop and joins its thread. The GIL is not held while joining.
 * Returns PYS_OK (also after pys_close has already stopped it, or when the
 * loop stopped on its own), PYS_E_ARG (NULL), or PYS_E_STATE when called
 * on the loop's own thread (nothing is done). loop is invalid afterwards;
 * futures it returned stay valid until freed. Thread-safe, once per loop. */
PYS_API int pys_loop_stop(pys_loop *loop);

/* ---- background one-shots ---------------------------------------------------- */

/* As pys_run_async, but runs the coroutine in the background on the
 * runtime's internal loop (started on first use, stopped by pys_close) and
 * returns its future at once (caller owns it: pys_future_free), or NULL
 * when expr fails or gives no awaitable (error set; cb not called). The
 * expression is evaluated on the calling thread. Thread-safe. */
PYS_API pys_future *pys_run_async_bg(pys_runtime *rt, const char *expr, pys_future_fn cb,
                                     void *ud);
/* As pys_call_async, in the background on the internal loop. fn is called
 * on the calling thread; its coroutine runs on the loop. */
PYS_API pys_future *pys_call_async_bg(pys_obj fn, const pys_obj *args, size_t nargs,
                                      pys_future_fn cb, void *ud);

#ifdef __cplusplus
}
#endif

#endif
