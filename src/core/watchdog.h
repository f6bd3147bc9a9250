/* Deadlines and interrupts (core/watchdog.c), and the thread records the
 * gate (core/gate.c) and the watchdog share. */
#ifndef PYS_CORE_WATCHDOG_H
#define PYS_CORE_WATCHDOG_H

#include "core/runtime.h"

/* A record's `armed` word is seq << 2 | state: seq counts the thread's
 * outermost calls (a batch is one). The gate stores ACTIVE on the depth
 * 0 -> 1 transition and goes back to IDLE on 1 -> 0; a poster moves
 * ACTIVE/POSTED -> POSTING -> POSTED for the seq it saw. */
enum { PYS__ARM_IDLE = 0, PYS__ARM_ACTIVE = 1, PYS__ARM_POSTING = 2, PYS__ARM_POSTED = 3 };
#define PYS__ARM_MASK 3u

/* One per thread that calls pyshim: claimed on its first call (core/gate.c),
 * handed back at thread exit for reuse, never freed; on the lock-free list
 * pys__thr_head (push only). */
struct pys__thr {
    struct pys__thr *next;       /* immutable once on the list */
    _Atomic int owned;           /* a live thread owns it */
    _Atomic int busy;            /* its owner is inside an outermost call */
    _Atomic uint64_t armed;      /* seq << 2 | state */
    _Atomic unsigned long ident; /* PyThread_get_thread_ident of the owner */
    _Atomic int64_t expires;     /* deadline of the current call (ns), 0 none */
    _Atomic uint64_t intr_seq;   /* call seq that pys_interrupt targets */
    /* The owner's thread state while it is in an outermost call, NULL
     * otherwise; stored and cleared with the GIL held, so a watchdog
     * holding the GIL that sees it non-NULL sees a live thread state. */
    _Atomic(PyThreadState *) tstate;
    /* Watchdog-only: what it last posted, to which call, when again. */
    uint64_t wd_seq;
    PyObject *wd_exc;
    int64_t wd_again;
};

/* Every record ever claimed (core/gate.c). */
extern _Atomic(struct pys__thr *) pys__thr_head;

/* For the gate's arming of a call whose thread has a per-call deadline
 * (pys_set_deadline): arms r with sequence seq and the deadline, and wakes
 * the watchdog if it must look earlier than it would. */
void pys__wd_arm_deadline(pys_runtime *rt, pys__tls *t, struct pys__thr *r, uint64_t seq);
/* For pys__fail_py: the Python code of this thread's call was stopped by
 * exc (rt->exc_timeout or rt->exc_interrupt); the rest of the outermost
 * call (a batch) fails the same way. */
void pys__threads_stopped(pys_runtime *rt, PyObject *exc);
/* For pys_close (state CLOSING stored, fenced): marks every call in
 * flight on another thread for interruption and starts the watchdog to
 * post to them. */
void pys__wd_closing(pys_runtime *rt);
/* For pys_close, once no call is in flight: stops the watchdog thread and
 * joins it (without the GIL). */
void pys__watchdog_stop(pys_runtime *rt);
/* Parts of core/gate.c's pthread_atfork handlers: wd.mu is held across a
 * fork; the child forgets the watchdog thread (started again on demand). */
void pys__wd_fork_prepare(void);
void pys__wd_fork_parent(void);
void pys__wd_fork_child(void);
/* For the os.register_at_fork after_in_child hook (GIL held, CPython
 * consistent again): starts the watchdog if the call that forked has a
 * deadline or an interrupt pending. */
void pys__wd_after_fork_child(void);

#endif
