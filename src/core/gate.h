/* Entering and leaving the library: the gate every public call passes
 * (inline fast paths; the slow halves and the thread-state keeping are in
 * core/gate.c; deadlines and interrupts in core/watchdog.h). */
#ifndef PYS_CORE_GATE_H
#define PYS_CORE_GATE_H

#include "core/runtime.h"
#include "core/error.h"

/* ---- entering and leaving ------------------------------------------------ */

/* Out-of-line halves of pys__begin / pys__end (core/gate.c): the runtime
 * checks, the depth 0 -> 1 and 1 -> 0 transitions (in-flight accounting,
 * interrupt records, PyGILState_Ensure/Release), and the held-reference
 * drop of free-threaded builds. */
pys_runtime *pys__begin_slow(pys_runtime *rt, pys__tls *t, const char *fn);
/* The outermost call runs pyshim's own Python code from here on: no
 * deadline or interrupt lands in it (core/gate.c). */
void pys__threads_shield(pys_runtime *rt);
void pys__end_slow(pys_runtime *rt, pys__tls *t);
/* core/watchdog.c, for a nested entry while t->stop_due is set: once it is
 * due, posts the outermost call's exception to this thread again, so the
 * next Python code run in that call raises it (GIL held). */
void pys__stop_check(pys_runtime *rt, pys__tls *t);

/* Checks rt is the open runtime and takes the GIL unless this thread holds
 * it already through pyshim. Returns rt, or NULL with the error set
 * (PYS_E_ARG for NULL, PYS_E_CLOSED). Inside a batch or a callback this is
 * a thread-local depth count, inlined into every public call. t is this
 * thread's state (pys__tls_get()); the hot calls fetch it once and pass it
 * to both halves (pys__begin_t / pys__end_t). */
static inline __attribute__((always_inline)) pys_runtime *pys__begin_t(pys_runtime *rt,
                                                                       const char *fn,
                                                                       pys__tls *t)
{
    if (__builtin_expect(t->gil_depth > 0 && rt == &pys__the_runtime, 1)) {
        /* Nested inside a batch or a callback of this runtime: the GIL is
         * ours already; the batch counted us in. */
        t->gil_depth++;
        if (__builtin_expect(t->stop_due != 0, 0))
            pys__stop_check(rt, t);
        return rt;
    }
    return pys__begin_slow(rt, t, fn);
}
static inline __attribute__((always_inline)) pys_runtime *pys__begin(pys_runtime *rt,
                                                                     const char *fn)
{
    return pys__begin_t(rt, fn, pys__tls_get());
}
/* Same, for calls that only get a handle: uses the current runtime. */
static inline __attribute__((always_inline)) pys_runtime *pys__begin_h(const char *fn)
{
    return pys__begin(&pys__the_runtime, fn);
}
static inline __attribute__((always_inline)) void pys__end_t(pys_runtime *rt, pys__tls *t)
{
    if (__builtin_expect(t->gil_depth > 1 && t->nheld == 0, 1)) {
        t->gil_depth--;
        return;
    }
    pys__end_slow(rt, t);
}
static inline __attribute__((always_inline)) void pys__end(pys_runtime *rt)
{
    pys__end_t(rt, pys__tls_get());
}
/* The leaf gate, for calls that run no Python code and leave nothing
 * held: making an int, float or str, reading an int, viewing a str. Inside
 * a batch or a callback of the open runtime (gil_depth > 0: the GIL is
 * this thread's, and the runtime cannot close under it), with no stop
 * pending and no table lock (GIL builds), such a call needs none of
 * pys__begin_t's work: no nested call can happen inside it, so the depth
 * count is not needed, and no Python code runs in it to raise a stop.
 * True: the caller may do its work without pys__begin_t / pys__end_t. A
 * read that fails then takes the full way, which does it again and
 * reports (so the fast attempt must change nothing when it fails). */
static inline __attribute__((always_inline)) bool pys__leaf(pys__tls *t)
{
    return __builtin_expect(t->gil_depth > 0 && t->stop_due == 0 && !pys__the_runtime.locking, 1);
}

/* Drops the objects this thread holds from call levels >= depth (see
 * pys__tls.held). Code that lowers gil_depth by hand calls it first. */
void pys__held_drop(pys__tls *t, int depth);

/* core/gate.c: a thread entering from Python (a bridge callback on a thread
 * that is not inside a pyshim call) counts itself in flight so that
 * pys_close waits for it. pys__enter_outer returns false (nothing counted)
 * when the runtime is not open. GIL held or not, both are cheap. */
bool pys__enter_outer(pys_runtime *rt, pys__tls *t);
void pys__leave_outer(pys_runtime *rt, pys__tls *t);
/* core/gate.c: registers for asymmetric fences (membarrier), once per
 * process; pys_open calls it before the runtime is open. */
void pys__threads_init(void);
/* core/gate.c, for pys_open (GIL held, after init): registers the os.fork
 * hooks (the one that restarts the watchdog in a child; on free-threaded
 * builds the ones that keep thread-state births out of a fork). */
void pys__threads_open(pys_runtime *rt);
/* core/gate.c: PyGILState_Ensure for a thread that may have no thread state
 * yet. On a free-threaded build, a thread state it makes is made while
 * no os.fork() is under way (see core/gate.c, "Thread-state births").
 * Returns what PyGILState_Ensure returns. Any thread, runtime open. */
int pys__gilstate_ensure(pys_runtime *rt);
/* core/gate.c, at thread exit (core/runtime.c): pys__threads_tls_exit gives
 * back the thread state pyshim kept for this thread, if the runtime that
 * made it is still open; pys__thr_tls_exit hands the thread's record back
 * for reuse. */
void pys__threads_tls_exit(pys__tls *t);
void pys__thr_tls_exit(pys__tls *t);
/* core/gate.c, for pys_close (state CLOSING already stored): fence, then
 * interrupt the calls in flight; pys__threads_in_flight counts the
 * outermost calls still in progress on other threads; once none are,
 * pys__watchdog_stop (core/watchdog.h) stops the watchdog thread. */
void pys__threads_closing(pys_runtime *rt);
long pys__threads_in_flight(pys_runtime *rt);

#endif
