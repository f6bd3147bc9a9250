/* Internal state of the api layer: the runtime singleton, per-thread state,
 * the handle table and the error helpers shared by every api/convert/async
 * file.
 *
 * Invariants:
 * - One runtime per process; it is a static object, so a pointer to it stays
 *   valid after pys_close and later calls get PYS_E_CLOSED, never UB.
 * - Every CPython call happens between pys__begin and pys__end, which hold
 *   the GIL (attached thread state on free-threaded builds). The handle table
 *   and the compile cache are protected by the GIL, plus rt->lock on
 *   free-threaded builds.
 * - A Python exception is turned into this thread's pys_error by
 *   pys__fail_py before the public call returns; none stays pending. */
#ifndef PYS_INTERNAL_H
#define PYS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "capi.h"
#include "pyshim.h"

enum { PYS__ST_CLOSED = 0, PYS__ST_OPENING, PYS__ST_OPEN, PYS__ST_CLOSING };

/* ---- handle table --------------------------------------------------------- */

/* A handle id is generation << PYS__IDX_BITS | slot index, below 2^53 so
 * that a JavaScript or Lua number carries it exactly. A slot's generation
 * (1 .. PYS__GEN_MAX) moves on at every release; a slot whose generations
 * are used up is retired, never reissued. The table outlives a close (see
 * handles.c), so no id is issued twice in a process. */
#define PYS__IDX_BITS 28u
#define PYS__GEN_BITS 25u
#define PYS__IDX_MASK ((UINT64_C(1) << PYS__IDX_BITS) - 1)
#define PYS__GEN_MAX ((UINT32_C(1) << PYS__GEN_BITS) - 1)
#define PYS__CHUNK_BITS 12u
#define PYS__CHUNK_SIZE (1u << PYS__CHUNK_BITS)
#define PYS__MAX_CHUNKS (1u << (PYS__IDX_BITS - PYS__CHUNK_BITS))

typedef struct pys__slot {
    union {
        PyObject *obj; /* live: the object (strong) */
        uint32_t next; /* free: index + 1 of the next free slot, 0 = end */
    };
    /* Live: the id that names the slot. Free or retired: a word that no id
     * equals (its index bits are the complement of the slot's index), with
     * the next generation to issue above them (0 once retired). */
    uint64_t id;
} pys__slot;

typedef struct pys__htable {
    pys__slot *chunks[PYS__MAX_CHUNKS];
    uint32_t nchunks;
    uint32_t free_head;   /* index + 1, 0 = empty */
    uint32_t next_unused; /* slots below this have been used at least once */
    size_t live;
    size_t retired;       /* slots whose generations are used up */
    uint64_t epoch;       /* which open of the runtime (1, 2, ...); never repeats */
} pys__htable;

/* ---- compile cache -------------------------------------------------------- */

#define PYS__CC_SIZE 256u
typedef struct pys__cc_entry {
    char *src;
    size_t len;
    uint64_t hash;
    int mode;
    PyObject *code;
} pys__cc_entry;

/* ---- the runtime ---------------------------------------------------------- */

struct pys_runtime {
    _Atomic int state;
    _Atomic long inflight;       /* outermost calls in flight not seen in a thread record */
    int version;                 /* 0xMMmm */
    int micro;
    bool free_threaded;
    bool debug;                  /* a debug build (ABI flag d) */
    bool untested;               /* newer than PYS__MAX_MINOR */
    int gil_enabled;             /* sys._is_gil_enabled() after init (1 on GIL builds) */
    bool locking;                /* free_threaded || pys__force_locking */
    /* Offset of ob_type in this build's PyObject (8; 24 on free-threaded
     * and trace-refs builds), found at open by looking at objects of known
     * type; 0 if not found (then type tests call PyObject_Type). */
    size_t type_off;
    bool finalize;               /* !skip_finalize */
    PyThreadState *main_tstate;  /* saved after init; NULL if inherited */
    bool fork_no_finalize;       /* a fork child that cannot finalise (threads.c) */
    pthread_t opener;
    uint64_t opens;              /* pys_open count: tags cached thread states */
    uint64_t finalises;          /* finalising closes: a kept state older than one is gone */
    PyThreadState *first_tstate; /* the main interpreter's oldest thread state at open */
    /* The thread state this thread has attached (NULL if none); always
     * set while open. */
    PyThreadState *(*tstate_now)(void);
    pthread_mutex_t lock;        /* free-threaded builds only */

    pys__htable ht;
    pys__cc_entry cc[PYS__CC_SIZE];
    size_t cc_bytes;             /* sum of the cached sources' lengths */
    unsigned cc_hand;            /* the next entry evicted to make room */

    PyObject *main_dict;         /* __main__.__dict__ (strong) */
    PyObject *builtins;          /* builtins module (strong) */
    PyObject *_Atomic tb_format; /* traceback.format_exception as at open (strong), or NULL */
    PyObject *exc_timeout;       /* pyshim.DeadlineExceeded (BaseException) */
    PyObject *exc_interrupt;     /* pyshim.Interrupted (BaseException) */
    PyObject *current_frames;    /* sys._current_frames as at open (free-threaded only) */

    /* Facts and owned strings behind pys_info. */
    pys_info info;
    char *s_version, *s_library, *s_executable, *s_prefix, *s_base_prefix, *s_venv,
        *s_source, *s_abiflags;
    char *bridge_module;
    pys_log_fn logger;
    void *logger_ud;

    /* Hooks other areas fill in (bridge, async, threads); called at close
     * with the GIL held, before handles are dropped. */
    void (*on_close[8])(pys_runtime *rt);
    int non_close;
    /* Deadline/interrupt state, owned by src/api/threads.c. */
    void *threads;
    /* Host modules and their finder, owned by src/api/bridge.c. */
    void *bridge;
    /* Async state (pys__async: helper namespace, internal loop), owned by
     * src/async/loop.c; its close hook is registered on first async use. */
    void *async;
};

extern pys_runtime pys__the_runtime;
extern _Atomic(pys_runtime *) pys__current;

/* ---- per-thread state ------------------------------------------------------ */

typedef struct pys__tls {
    int gil_depth;      /* >0: this thread holds the GIL through pyshim */
    int gstate;         /* PyGILState_Ensure result for depth 0 -> 1 */
    /* threads.c: when the outermost call in progress (a batch) is to be
     * stopped: its deadline (CLOCK_MONOTONIC ns), 1 once its Python code
     * was stopped, 0 neither. Nested calls check it (pys__begin), so that
     * every call of a stopped batch that runs Python code fails. */
    int64_t stop_due;
    PyObject *stop_exc; /* what to raise then (borrowed from rt) */
    bool registered;    /* destructor key set */
    /* scopes */
    uint64_t *scope_ids;
    size_t scope_n, scope_cap;
    size_t *scope_marks;
    size_t scope_nmarks, scope_capmarks;
    /* pys_with: while capture_depth > 0, pys__fail_py keeps the exception
     * object (strong ref) so __exit__ can receive the real exception. */
    int capture_depth;
    PyObject *captured_exc;
    /* Free-threaded builds (or forced locking): objects looked up by
     * handle are held (strong reference) until the call level that looked
     * them up ends, so a pys_release racing on another thread cannot free
     * them mid-call. Empty on GIL builds. */
    PyObject **held;
    int *held_depth;
    size_t nheld, capheld;
    /* error detail; err_gen changes with every new (or cleared) detail;
     * nfail counts the failures recorded on this thread, so code can tell
     * whether one happened since a point without clearing the detail
     * (which lives until the next failing call). */
    pys_error err;
    uint64_t nfail;
    char *e_context, *e_type, *e_message, *e_traceback;
    char **e_searched;
    uint64_t err_gen;
    /* The exception behind err whose traceback is not formatted yet (see
     * error.c), or NULL. */
    struct pys__kept *kept;
    /* threads.c: batches (gil_depth right after each pys_gil_acquire),
     * this thread's interrupt record, and its per-call deadline. */
    int batch_n;
    int batch_at[64];
    struct pys__thr *thr;
    uint32_t deadline_ms;
    uint64_t deadline_epoch;
    /* The thread state pyshim keeps for this thread between calls (its
     * PyGILState count held), valid while tstate_gen == rt->opens; calls
     * attach it with PyEval_RestoreThread. NULL with tstate_gen current:
     * this thread's state is not pyshim's to keep. tstate_own: pyshim
     * made it and deletes it at thread exit. See threads.c. */
    PyThreadState *tstate;
    uint64_t tstate_gen;
    uint64_t tstate_fin;        /* rt->finalises when tstate was kept */
    bool tstate_own;
    /* bridge.c: below this stack address bridge calls refuse to nest
     * deeper (RecursionError); 0 until this thread's first bridge call. */
    uintptr_t stack_floor;
    /* The outermost call was counted in rt->inflight (this thread has no
     * interrupt record: out of memory) instead of in its record. */
    bool counted;
} pys__tls;

/* The calling thread's state (the variable lives in error.c). Inline, as
 * every call reads it on entry and exit. */
extern _Thread_local pys__tls pys__tls_state;
static inline pys__tls *pys__tls_get(void)
{
    return &pys__tls_state;
}
/* Frees heap memory held by this thread's state (called at thread exit). */
void pys__tls_register(pys__tls *t);

/* ---- entering and leaving ------------------------------------------------ */

/* Out-of-line halves of pys__begin / pys__end (threads.c): the runtime
 * checks, the depth 0 -> 1 and 1 -> 0 transitions (in-flight accounting,
 * interrupt records, PyGILState_Ensure/Release), and the held-reference
 * drop of free-threaded builds. */
pys_runtime *pys__begin_slow(pys_runtime *rt, pys__tls *t, const char *fn);
/* The outermost call runs pyshim's own Python code from here on: no
 * deadline or interrupt lands in it (threads.c). */
void pys__threads_shield(pys_runtime *rt);
void pys__end_slow(pys_runtime *rt, pys__tls *t);
/* threads.c, for a nested entry while t->stop_due is set: once it is due,
 * posts the outermost call's exception to this thread again, so the next
 * Python code run in that call raises it (GIL held). */
void pys__stop_check(pys_runtime *rt, pys__tls *t);
/* threads.c, for pys__fail_py: the Python code of this thread's call was
 * stopped by exc (rt->exc_timeout or rt->exc_interrupt); the rest of the
 * outermost call (a batch) fails the same way. */
void pys__threads_stopped(pys_runtime *rt, PyObject *exc);

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
/* Drops the objects this thread holds from call levels >= depth (see
 * pys__tls.held). Code that lowers gil_depth by hand calls it first. */
void pys__held_drop(pys__tls *t, int depth);

/* threads.c: a thread entering from Python (a bridge callback on a thread
 * that is not inside a pyshim call) counts itself in flight so that
 * pys_close waits for it. pys__enter_outer returns false (nothing counted)
 * when the runtime is not open. GIL held or not, both are cheap. */
bool pys__enter_outer(pys_runtime *rt, pys__tls *t);
void pys__leave_outer(pys_runtime *rt, pys__tls *t);
/* threads.c: registers for asymmetric fences (membarrier), once per
 * process; pys_open calls it before the runtime is open. */
void pys__threads_init(void);
/* threads.c, for pys_open (GIL held, after init): registers the os.fork
 * hooks (the one that restarts the watchdog in a child; on free-threaded
 * builds the ones that keep thread-state births out of a fork). */
void pys__threads_open(pys_runtime *rt);
/* threads.c: PyGILState_Ensure for a thread that may have no thread state
 * yet. On a free-threaded build, a thread state it makes is made while
 * no os.fork() is under way (see threads.c, "Thread-state births").
 * Returns what PyGILState_Ensure returns. Any thread, runtime open. */
int pys__gilstate_ensure(pys_runtime *rt);
/* threads.c: at thread exit (pthread key destructor of the tls), gives
 * back the thread state pyshim kept for this thread, if the runtime that
 * made it is still open. */
void pys__threads_tls_exit(pys__tls *t);
/* threads.c, for pys_close (state CLOSING already stored): fence, then
 * interrupt the calls in flight; pys__threads_in_flight counts the
 * outermost calls still in progress on other threads; once none are,
 * pys__threads_stop stops the watchdog thread (without the GIL). */
void pys__threads_closing(pys_runtime *rt);
long pys__threads_in_flight(pys_runtime *rt);
void pys__threads_stop(pys_runtime *rt);
/* threads.c, for pys_close: with the GIL, before Py_FinalizeEx (threading's
 * shutdown would wait forever for a "main thread" that is not this one). */
void pys__threads_before_finalize(pys_runtime *rt);
/* threads.c, for pys_close right after Py_FinalizeEx, and for pys_open
 * before it initialises Python again (open_lock held): Python threads
 * that were still running at finalisation make pys_open fail with
 * PYS_E_STATE (error set) while they may still wake up. */
void pys__threads_after_finalize(pys_runtime *rt);
int pys__threads_reopen_check(const char *fn);
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
/* Test switch (threads.c; env PYSHIM_FORCE_LOCKING=1 at load, or
 * pys__test_force_locking): take rt->lock on GIL builds too, to run the
 * free-threaded locking path. Changed only while no call is in progress. */
extern bool pys__force_locking;

#define PYS__LOCK(rt)                                                                             \
    do {                                                                                           \
        if ((rt)->locking)                                                                         \
            pthread_mutex_lock(&(rt)->lock);                                                       \
    } while (0)
#define PYS__UNLOCK(rt)                                                                           \
    do {                                                                                           \
        if ((rt)->locking)                                                                         \
            pthread_mutex_unlock(&(rt)->lock);                                                     \
    } while (0)

/* ---- errors ---------------------------------------------------------------- */

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
    pys_error err;
    char *context, *type, *message, *traceback;
    char **searched;
    struct pys__kept *kept;
    uint64_t gen;
} pys__err_saved;
void pys__err_stash(pys__err_saved *s);
void pys__err_unstash(pys__err_saved *s);
/* pys_close, GIL held, calls on other threads all returned: drops every
 * kept exception (their tracebacks then read ""). */
void pys__errors_close(void);
/* Copies a loader diagnostic into this thread's error. Returns d->code. */
int pys__fail_diag(const char *fn, const pys__diag *d);
/* Type name of o for messages ("int", "numpy.ndarray"); writes into buf. */
const char *pys__type_name(PyObject *o, char *buf, size_t size);
/* Raises a Python TypeError-like exception `exc` with a printf message. */
void pys__raise(PyObject *exc, const char *fmt, ...) PYS__PRINTF(2, 3);

/* ---- handles ---------------------------------------------------------------- */

/* Scope marks open on all threads (handles.c): while 0, making a handle
 * skips the look at this thread's scopes. */
extern _Atomic long pys__scopes_open;
/* Wraps a new reference in a handle (steals it). NULL o gives PYS_NULL
 * without touching the error (the caller reports). On table exhaustion the
 * reference is dropped and PYS_E_NOMEM set. Needs the GIL. */
pys_obj pys__h_new(pys_runtime *rt, PyObject *o, const char *fn);
/* The live slot of handle id, or NULL. Needs the GIL (and rt->lock when
 * locking). One bounds test and one compare: a free, retired or reissued
 * slot holds a word that differs from every id of it that is not live. */
static inline pys__slot *pys__slot_at(pys__htable *ht, uint32_t index)
{
    return &ht->chunks[index >> PYS__CHUNK_BITS][index & (PYS__CHUNK_SIZE - 1)];
}
static inline __attribute__((always_inline)) pys__slot *pys__lookup(pys__htable *ht, uint64_t id)
{
    uint64_t index = id & PYS__IDX_MASK;
    if (__builtin_expect(index >= ht->next_unused, 0))
        return NULL;
    pys__slot *s = pys__slot_at(ht, (uint32_t)index);
    if (__builtin_expect(s->id != id, 0))
        return NULL;
    return s;
}
/* Out of line: the locked lookup, and the error for a bad handle. */
PyObject *pys__h_get_slow(pys_runtime *rt, pys_obj h, const char *fn);
/* Borrowed object of a live handle, or NULL with PYS_E_HANDLE set. Only
 * for calls that run no Python code with it (see pys__h_ref); on
 * free-threaded builds it is held until the call level ends. */
static inline __attribute__((always_inline)) PyObject *pys__h_get(pys_runtime *rt, pys_obj h,
                                                                  const char *fn)
{
    if (__builtin_expect(!rt->locking, 1)) {
        pys__slot *s = pys__lookup(&rt->ht, h.id);
        if (__builtin_expect(s != NULL, 1))
            return s->obj;
    }
    return pys__h_get_slow(rt, h, fn);
}
/* Out of line: pys__h_ref's locked lookup, and the error for a bad handle. */
PyObject *pys__h_ref_slow(pys_runtime *rt, pys_obj h, const char *fn);
/* A new reference to the object of a live handle, for a call that may run
 * Python code with it (anything in CPython that can reach a __dunder__ or
 * a finaliser, or let go of the GIL): the GIL can pass to another thread
 * that releases h, and the code run (a bridge callback, a pys_with body)
 * can release h itself, so a borrowed pointer could be freed while CPython
 * still uses it. The caller drops it (Py_DecRef) once the call is done.
 * NULL with PYS_E_HANDLE set. The plain borrow of pys__h_get is for calls
 * that run no Python code with the object. */
static inline __attribute__((always_inline)) PyObject *pys__h_ref(pys_runtime *rt, pys_obj h,
                                                                  const char *fn)
{
    if (__builtin_expect(!rt->locking, 1)) {
        pys__slot *s = pys__lookup(&rt->ht, h.id);
        if (__builtin_expect(s != NULL, 1)) {
            pys__api.Py_IncRef(s->obj);
            return s->obj;
        }
    }
    return pys__h_ref_slow(rt, h, fn);
}
/* Releases; PYS_E_HANDLE if not live (error set unless fn is NULL). */
int pys__h_release(pys_runtime *rt, pys_obj h, const char *fn);
/* Puts o (a new reference, stolen) into live handle *h's slot under the
 * slot's next generation (*h gets the new id; the old one is stale), and
 * drops the object it held. Returns false, touching nothing (o not
 * stolen), where *h is not live, its slot has no generation left, or a
 * scope is open (a scope tracks ids). Needs the GIL. */
bool pys__h_reuse(pys_runtime *rt, pys_obj *h, PyObject *o);

/* Inline fast paths of pys__h_new and pys__h_release for the hottest calls
 * (GIL builds, a slot on the free list, no scope open anywhere; a live
 * handle of a generation below the last). Anything else goes the
 * out-of-line way, which handles every case, so both give the same ids,
 * results and errors. The free word of a slot: see pys__slot. */
static inline uint64_t pys__free_word(uint32_t index, uint64_t gen)
{
    return gen << PYS__IDX_BITS | (~(uint64_t)index & PYS__IDX_MASK);
}
static inline __attribute__((always_inline)) pys_obj pys__h_new_fast(pys_runtime *rt,
                                                                    PyObject *o,
                                                                    const char *fn)
{
    pys__htable *ht = &rt->ht;
    if (__builtin_expect(!rt->locking && ht->free_head != 0 && o != NULL &&
                             atomic_load_explicit(&pys__scopes_open, memory_order_relaxed) == 0,
                         1)) {
        uint32_t index = ht->free_head - 1;
        pys__slot *s = pys__slot_at(ht, index);
        ht->free_head = s->next;
        uint64_t id = (s->id & ~PYS__IDX_MASK) | index; /* the generation waiting there */
        s->obj = o;
        s->id = id;
        ht->live++;
        return (pys_obj){id};
    }
    return pys__h_new(rt, o, fn);
}
static inline __attribute__((always_inline)) int pys__h_release_fast(pys_runtime *rt, pys_obj h,
                                                                    const char *fn)
{
    pys__htable *ht = &rt->ht;
    if (__builtin_expect(!rt->locking, 1)) {
        pys__slot *s = pys__lookup(ht, h.id);
        uint64_t gen = h.id >> PYS__IDX_BITS;
        if (__builtin_expect(s != NULL && gen < PYS__GEN_MAX, 1)) {
            uint32_t index = (uint32_t)(h.id & PYS__IDX_MASK);
            PyObject *o = s->obj;
            s->id = pys__free_word(index, gen + 1);
            s->next = ht->free_head;
            ht->free_head = index + 1;
            ht->live--;
            pys__api.Py_DecRef(o);
            return PYS_OK;
        }
    }
    return pys__h_release(rt, h, fn);
}
/* Drops every handle (close). */
void pys__h_clear(pys_runtime *rt);

/* ---- helpers for typed checks (no struct layouts) ------------------------ */

/* Every type check that decides how pyshim reads an object (which C-API
 * call it may make on it) looks at the object's real type: Py_TYPE, its
 * flags, or PyType_IsSubtype on it. Never isinstance(): it honours a
 * __class__ property, so an object could claim to be a code object, a
 * float or a str and send C code into a layout it does not have. */

/* The flags of o's real type. */
static inline unsigned long pys__tp_flags(PyObject *o)
{
    PyObject *t = pys__api.PyObject_Type(o);
    unsigned long f = pys__api.PyType_GetFlags(t);
    pys__api.Py_DecRef(t);
    return f;
}
/* o's type if this build's layout is known (rt->type_off), else NULL. The
 * stable ABI fixes ob_type's place for GIL builds; open verifies it. */
static inline PyObject *pys__type_of(PyObject *o)
{
    size_t off = pys__the_runtime.type_off;
    return off ? __atomic_load_n((PyObject **)(void *)((char *)o + off), __ATOMIC_RELAXED) : NULL;
}
static __attribute__((noinline)) int pys__is_slow(PyObject *o, PyObject *type)
{
    PyObject *t = pys__api.PyObject_Type(o);
    int r = t == type || pys__api.PyType_IsSubtype(t, type);
    pys__api.Py_DecRef(t);
    return r != 0;
}
/* 1 if o's real type is TYPE or a subtype of it, else 0. Never fails, runs
 * no Python code. An exact match is one load and one compare. */
static inline int pys__is(PyObject *o, void *type)
{
    PyObject *t = pys__type_of(o);
    if (__builtin_expect(t == (PyObject *)type, 1))
        return 1;
    if (__builtin_expect(t != NULL, 1))
        return pys__api.PyType_IsSubtype(t, (PyObject *)type) != 0;
    return pys__is_slow(o, (PyObject *)type);
}

/* Run a compiled or cached source (run.c). mode: PYS__Py_file_input /
 * PYS__Py_eval_input. Returns a new reference or NULL (exception set). */
PyObject *pys__run_src(pys_runtime *rt, const char *src, int mode, PyObject *globals);
/* The namespace of a run: __main__'s dict for PYS_NULL, else ns's dict
 * (PYS_E_TYPE for another type), given __builtins__ if it has none. A new
 * reference, held while the code runs, or NULL with the error set (run.c). */
PyObject *pys__namespace_of(pys_runtime *rt, pys_obj ns, const char *fn);
void pys__cc_clear(pys_runtime *rt);

/* Builds a Python value from one format item (format.c); see pyshim.h. */
typedef struct pys__fmt {
    const char *p;
    const char *fn;
    pys_runtime *rt;
} pys__fmt;
/* Typed arrays a format reads its values from instead of varargs (the FFI
 * face): q Q i b from ints, d from dbls, s s# y from strs (+ lens), O N
 * from objs; the cursors count what was read. pys__fmt_vals_set(v) hands
 * v to the next format parsed on this thread (which takes it: formats
 * parsed meanwhile read varargs); a format that does not use up every
 * array fails with PYS_E_ARG. Set it to NULL after the call in case it
 * failed before parsing. */
typedef struct pys__fmt_vals {
    const int64_t *ints;
    size_t nints;
    const double *dbls;
    size_t ndbls;
    const char *const *strs;
    const size_t *lens;
    size_t nstrs;
    const uint64_t *objs;
    size_t nobjs;
    size_t ii, di, si, oi;
} pys__fmt_vals;
void pys__fmt_vals_set(pys__fmt_vals *v);
/* Parses callf-style arguments: returns a new tuple in *args and a new dict
 * (or NULL) in *kwargs. On failure returns a PYS_E_* with the error set and
 * any 'N' handles still released. */
int pys__fmt_call_args(pys_runtime *rt, const char *fn, const char *fmt, va_list *ap,
                       PyObject **args, PyObject **kwargs);
PyObject *pys__fmt_build(pys_runtime *rt, const char *fn, const char *fmt, va_list *ap, int *rc);
/* f(values of fmt) (format.c): a new reference, or NULL with the error
 * set. */
PyObject *pys__fmt_call(pys_runtime *rt, const char *fn, PyObject *f, const char *fmt,
                        va_list *ap);
/* Reads fmt's values and drops them, releasing 'N' handles as promised
 * (for calls that fail before they can call). Returns PYS_OK, or the
 * format's error (set). */
int pys__fmt_consume(pys_runtime *rt, const char *fn, const char *fmt, va_list *ap);
/* f(*args[:n], **kwargs) through vectorcall where the library has it
 * (object.c). A new reference, or NULL with a Python exception set. */
PyObject *pys__call_raw(PyObject *f, PyObject *const *args, size_t n, PyObject *kwargs);

/* Range-checked reads of one object (scalar.c), shared with array.c and
 * json.c. Error set on failure. Need the GIL. */
int pys__as_int64(PyObject *o, int64_t *out, const char *fn);
int pys__as_double(PyObject *o, double *out, const char *fn);

/* Bridge (bridge.c). pys__bridge_check validates pys_options.bridge_funcs
 * without Python (pys_open calls it before loading anything);
 * pys__bridge_open registers them, GIL held, at the end of pys_open. Both
 * return PYS_OK or a code with the error set. */
int pys__bridge_check(const pys_options *o);
int pys__bridge_open(pys_runtime *rt, const pys_options *o);

/* f(*args, **kwargs) with the objects of live handles (object.c). Returns
 * a new reference, or NULL with the error set (PYS_E_ARG, PYS_E_HANDLE
 * naming the argument, or the Python exception). Needs the GIL. */
PyObject *pys__call_handles(pys_runtime *rt, PyObject *f, const pys_obj *args, size_t nargs,
                             PyObject *kwargs, const char *name);

/* policy.c, for pys_open (GIL held, at its end): adds the audit hook of
 * policed runs, and their counting allocator if o->memory_caps. */
void pys__policy_open(pys_runtime *rt, const pys_options *o);

/* Log through the user's logger, if any. */
void pys__log(pys_runtime *rt, pys_log_level level, const char *fmt, ...) PYS__PRINTF(3, 4);

#endif
