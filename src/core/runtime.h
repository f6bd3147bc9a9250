/* The runtime singleton and per-thread state every layer above the loader
 * reads (core/runtime.h). The gate, handles and errors have their own
 * headers beside this one.
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
#ifndef PYS_CORE_RUNTIME_H
#define PYS_CORE_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "loader/capi.h"
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

/* ---- the close sequence --------------------------------------------------- */

/* What pys_close tears down of the areas above core, one step per area
 * that keeps state, run in this order by pys__close_steps: with the GIL
 * held, after the calls on other threads have all returned, before the
 * handles, the compile cache and the kept exceptions go. An area sets its
 * step (pys__close_at) when its state first exists in an open; a step
 * runs once per close and is then cleared, so setting it again is
 * harmless. The order: first what runs Python code on threads of its own
 * (the async loops, whose coroutines may still use everything below);
 * then the script watchers, before the recipes helper their scripts use;
 * then objects no step needs; the policy before the bridge, as they were
 * registered at open and run in reverse. */
typedef enum pys__close_step {
    PYS__CLOSE_ASYNC,   /* async/loop.c: loops stopped and joined, futures failed */
    PYS__CLOSE_WATCHES, /* api/script.c: script watchers stopped */
    PYS__CLOSE_RECIPES, /* api/recipes_py.c: the recipes' helper namespace */
    PYS__CLOSE_EXPORTS, /* convert/buffer.c: pys_memoryview_ex's exporter type */
    PYS__CLOSE_POLICY,  /* api/policy.c: the policy's builtins and key */
    PYS__CLOSE_BRIDGE,  /* src/bridge: registrations, host modules, the finder */
    PYS__CLOSE_NSTEPS
} pys__close_step;

typedef void (*pys__close_fn)(pys_runtime *rt);

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
    bool fork_no_finalize;       /* a fork child that cannot finalise (core/gate.c) */
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
    PyObject *_Atomic tb_format; /* traceback.format_exception once taken (strong), or NULL */
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

    /* The close sequence (above): each area's step, or NULL. */
    _Atomic(pys__close_fn) close_steps[PYS__CLOSE_NSTEPS];
    /* Host modules and their finder, owned by src/bridge/host.c. */
    void *bridge;
    /* Async state (pys__async: helper namespace, internal loop), owned by
     * src/async/loop.c; its close step is set on first async use. */
    void *async;
};

extern pys_runtime pys__the_runtime;
extern _Atomic(pys_runtime *) pys__current;

/* Whether rt is this process's runtime and open: the one test of a live
 * runtime (an acquire load: who sees OPEN sees what pys_open stored
 * before it). pys__rt_fail (core/error.h) sets the error for one that is
 * not. Only code that asks something else reads rt->state itself: the
 * gate's entry (its Dekker pair with pys_close, core/gate.c), the
 * watchdog's start during close, and open, close and fork changing it. */
static inline bool pys__rt_live(pys_runtime *rt)
{
    return rt == &pys__the_runtime &&
           atomic_load_explicit(&rt->state, memory_order_acquire) == PYS__ST_OPEN;
}

/* Sets an area's close step (see pys__close_step). Any thread. */
static inline void pys__close_at(pys_runtime *rt, pys__close_step step, pys__close_fn fn)
{
    atomic_store_explicit(&rt->close_steps[step], fn, memory_order_relaxed);
}
/* For pys_close: runs the steps set, in order, and clears them (GIL held;
 * core/runtime.c). */
void pys__close_steps(pys_runtime *rt);

/* ---- per-thread state ------------------------------------------------------ */

/* A pys_error that owns its strings (a thread's error, a future's): view's
 * pointers point at the copies below or at static text, never NULL once
 * set; a zeroed one is not set yet (view.context NULL). Set, copied and
 * freed by the functions in core/error.h. */
typedef struct pys__owned_error {
    pys_error view;
    char *context, *type, *message, *traceback;
    char **searched; /* view.nsearched entries */
} pys__owned_error;

/* The FFI face's words for this thread (their meaning: src/ffi/ffi.h),
 * kept in the thread's record so that a pys_ffi_* call reaches them and
 * the core's state with one fetch of the record. */
struct pys__ffi_frame;
typedef struct pys__ffi_tls {
    int32_t status;
    PyThreadState *unheld;
    struct pys__ffi_frame *frame;
} pys__ffi_tls;

typedef struct pys__tls {
    int gil_depth;      /* >0: this thread holds the GIL through pyshim */
    int gstate;         /* PyGILState_Ensure result for depth 0 -> 1 */
    /* core/watchdog.c: when the outermost call in progress (a batch) is to be
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
    pys__owned_error err;
    uint64_t nfail;
    uint64_t err_gen;
    /* The exception behind err whose traceback is not formatted yet (see
     * error.c), or NULL. */
    struct pys__kept *kept;
    /* core/gate.c: batches (gil_depth right after each pys_gil_acquire) and
     * this thread's record; core/watchdog.c: its per-call deadline. */
    int batch_n;
    int batch_at[64];
    struct pys__thr *thr;
    uint32_t deadline_ms;
    uint64_t deadline_epoch;
    /* The thread state pyshim keeps for this thread between calls (its
     * PyGILState count held), valid while tstate_gen == rt->opens; calls
     * attach it with PyEval_RestoreThread. NULL with tstate_gen current:
     * this thread's state is not pyshim's to keep. tstate_own: pyshim
     * made it and deletes it at thread exit. See core/gate.c. */
    PyThreadState *tstate;
    uint64_t tstate_gen;
    uint64_t tstate_fin;        /* rt->finalises when tstate was kept */
    bool tstate_own;
    /* bridge/call.c: below this stack address bridge calls refuse to nest
     * deeper (RecursionError); 0 until this thread's first bridge call. */
    uintptr_t stack_floor;
    /* The outermost call was counted in rt->inflight (this thread has no
     * interrupt record: out of memory) instead of in its record. */
    bool counted;
    pys__ffi_tls ffi; /* src/ffi */
    /* Per-thread words of the layers above core, here rather than in a
     * _Thread_local of their own so that a dlopen'ed library reaches them
     * through the one cached fetch of this record (see pys__tls_get). */
    struct pys__fmt_vals *fmt_vals; /* convert/format.c: arrays for the next format */
    struct br_frame *br_frame;      /* bridge/call.c: the innermost bridge frame */
    struct prun *policy_run;        /* api/policy.c: the policed run in progress */
    struct pys__memrun *mem_run;    /* api/memcap.c: the memory-capped run in progress */
    bool mem_nested;                /* api/memcap.c: inside the allocator hook's own work */
} pys__tls;

/* The calling thread's state (the variable lives in error.c). Inline, as
 * every call reads it on entry and exit.
 *
 * The record is a dynamic-TLS variable: where the library was dlopen'ed (a
 * LuaJIT, Node or Python host loads it that way) its address costs a call
 * of glibc's _dl_tlsdesc_dynamic, about 22 instructions, at every use. So
 * on glibc each thread keeps that address in an 8-byte initial-exec
 * variable (static TLS: one load off %fs), filled on the thread's first
 * call. Both live and die with the thread, so the cache is never stale.
 * glibc gives a dlopen'ed library's initial-exec variables room from its
 * static-TLS surplus (8 bytes of it here); other C libraries need not, so
 * there the plain address is taken. */
extern _Thread_local pys__tls pys__tls_state;
#if defined(__GLIBC__) && !defined(PYS_NO_TLS_CACHE)
#define PYS__TLS_CACHE 1
extern _Thread_local pys__tls *pys__tls_cache __attribute__((tls_model("initial-exec")));
/* Fills this thread's cache; returns &pys__tls_state (core/error.c). */
pys__tls *pys__tls_first(void);
static inline __attribute__((always_inline)) pys__tls *pys__tls_get(void)
{
    pys__tls *t = pys__tls_cache;
    if (__builtin_expect(t != NULL, 1))
        return t;
    return pys__tls_first();
}
#else
static inline pys__tls *pys__tls_get(void)
{
    return &pys__tls_state;
}
#endif
/* Has this thread's state torn down at thread exit (core/runtime.c); cheap
 * once done. Whoever gives t heap memory, a kept thread state or a record
 * calls it. */
void pys__tls_register(pys__tls *t);


/* Test switch (core/gate.c; env PYSHIM_FORCE_LOCKING=1 at load, or
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

#endif
