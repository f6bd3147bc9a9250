/* Bridge-internal: the types and entry points the src/bridge/ files share (the
 * layer's face upward is bridge/bridge.h).
 *
 * Each registration is a PyCFunction (METH_FASTCALL | METH_KEYWORDS: no
 * argument tuple per call, 3.8+) whose PyMethodDef lives in a malloc'd
 * `br_reg`. Its `self` is a small private module object (a BridgeSelf, a
 * ModuleType subclass made by self_class in host.c) whose one __slots__
 * slot holds a capsule that owns the br_reg; the capsule's destructor frees
 * it when the last reference to the function goes. A module as `self`
 * (rather than the capsule itself) keeps the function an ordinary
 * module-level builtin: repr "<built-in function add>", no "method of
 * PyCapsule" in help(), and pickling by name. CPython keeps m_ml valid
 * while m_self lives (3.10+ drops the class before self for exactly this;
 * 3.8/3.9 never touch m_ml after dropping self).
 *
 * Files: sig.c the signatures (pure C), registry.c the registrations'
 * lifecycle, host.c the bridge state, finder, BridgeSelf and host modules,
 * raise.c frames and raising, call.c everything one call runs (the entry,
 * binding, conversions, trampolines), api.c the public calls and pys_open's
 * part. */
#ifndef PYS_BRIDGE_INTERNAL_H
#define PYS_BRIDGE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "bridge/bridge_sig.h"
#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/types.h"
#include "core/list.h"
#include "convert/convert.h"
#include "bridge/bridge.h"

/* ---- registrations (registry.c) ------------------------------------------ */

typedef struct br_reg {
    PyMethodDef def;     /* referenced by the function object */
    char *name;          /* "add" */
    char *qualname;      /* "c_bridge.add" */
    char *doc;           /* ml_doc: text signature marker + docstring */
    char *human;         /* "c_bridge.add(a: int, b: int, /) -> int" */
    PyObject *host;      /* identity of the host module (no reference) */
    PyObject *func;      /* identity of the function object (no reference) */
    pys_bridge_fn fn;
    void *userdata;
    void (*release)(void *);
    pys_cfunc cfunc;
    br_sig *sig;
    int nfast;           /* typed: arguments of a fast call (call_fast), or -1 */
    char fcode[BR_MAXP]; /* ... their parameter codes */
    uint8_t fidx[BR_MAXP]; /* ... their C argument indexes (in u[] or d[]) */
    int fshape;          /* ... the trampoline's shape */
    char fret;           /* ... and the return code */
    _Atomic bool dead;
    _Atomic int active;  /* calls in progress */
    bool released;       /* release hook taken (list lock) */
    bool orphan;         /* its capsule went while calls ran: the last one frees it */
    pys__link link;      /* on the process-wide list (registry.c) */
} br_reg;

struct br_state;

/* Frees r and what it owns (not its userdata); NULL is a no-op. */
void pys__br_reg_free(br_reg *r);
/* Validates f and builds its registration (no Python): PYS_OK with *out
 * set, or a code with the error set. */
int pys__br_reg_build(const pys_bridge_func *f, const char *modname, const char *fn,
                      br_reg **out);
/* Creates the function object for r (owning r from here on, also on
 * failure) and puts it in host, whose name is hn. Returns PYS_OK or a code
 * with the error set. GIL held. */
int pys__br_reg_install(pys_runtime *rt, struct br_state *st, PyObject *host, PyObject *hn,
                        br_reg *r, const char *fn);
/* Marks registrations dead: one (r), or all of host module `host`, or all
 * (both NULL); runs the release hooks of idle ones. */
void pys__br_reg_kill(br_reg *one, PyObject *host);
/* The live registration `name` of host module `host` other than `except`,
 * or NULL. */
br_reg *pys__br_reg_find(PyObject *host, const char *name, const br_reg *except);
/* Runs r's release hook once r is dead and no call of it is in progress;
 * frees an orphan r after its last call. */
void pys__br_reg_try_release(br_reg *r);
/* Marks every registration's release hook as taken, so that none runs (a
 * pys_open that fails hands none of them to Python code). */
void pys__br_reg_disown_all(void);

/* ---- the bridge state and host modules (host.c) ------------------------- */

typedef struct br_state {
    PyObject *finder;    /* PyshimHostFinder instance, on sys.meta_path */
    PyObject *modules;   /* finder.modules: name -> module */
    PyObject *self_type; /* BridgeSelf: the class of functions' selves */
    PyObject *self_set;  /* its slot's __set__(self, capsule) */
    PyObject *self_get;  /* its slot's __get__(self): the capsule of a self */
    Py_ssize_t self_off; /* offset of that slot in a self; 0: use self_get */
} br_state;

/* The bridge state (GIL held): made by pys__bridge_open, and again on use
 * only if that did not happen. NULL with the error set. */
br_state *pys__br_state_get(pys_runtime *rt, const char *fn);
/* Close hook (GIL held): every registration dies, the modules and the
 * finder go. */
void pys__br_close(pys_runtime *rt);
/* A new BridgeSelf named `name` whose slot holds `value`, or NULL with an
 * exception set. */
PyObject *pys__br_self_make(br_state *st, PyObject *name, PyObject *value);
/* The host module `name` (borrowed), or NULL (no error set). */
PyObject *pys__br_host_get(br_state *st, const char *name);
/* Host module of a module object, or NULL with PYS_E_TYPE set. */
PyObject *pys__br_host_of(br_state *st, PyObject *m, const char *fn);
/* Removes host module `m` named `name`: its functions die, it leaves
 * sys.modules. -1 with an exception set. */
int pys__br_host_remove(br_state *st, PyObject *m, const char *name);
/* Creates host module `name` and returns a new reference, or NULL with
 * the error set. An existing host module of that name is replaced, or with
 * !replace returned instead (also when another thread won the race to
 * create it). */
PyObject *pys__br_host_new(pys_runtime *rt, br_state *st, const char *name, const char *doc,
                           bool replace, const char *fn);
/* The bridge module (borrowed), created if needed; NULL with the error set. */
PyObject *pys__br_bridge_mod(pys_runtime *rt, br_state *st, const char *fn);
/* Sets host.name = value, killing a live registration of that name other
 * than `keep`. Returns PYS_OK or a code with the error set. */
int pys__br_host_set(pys_runtime *rt, PyObject *host, const char *name, PyObject *value,
                     br_reg *keep, const char *fn);

/* A Python identifier (ASCII, see sig.c): module, function and attribute
 * names. */
static inline bool pys__br_valid_ident(const char *s)
{
    if (!s || !pys__br_ident_start(*s))
        return false;
    for (s++; *s; s++)
        if (!pys__br_ident_char(*s))
            return false;
    return true;
}

/* ---- frames and raising (raise.c) ---------------------------------------- */

/* One per bridge call in progress on a thread (a stack, innermost first,
 * kept by call.c): what pys_bridge_raise asked the call to raise. */
typedef struct br_frame {
    struct br_frame *prev;
    br_reg *reg;
    PyObject *exc_type; /* pys_bridge_raise: class + message */
    char *exc_msg;
    bool has_msg;
    PyObject *exc_value; /* pys_bridge_raise_obj: instance */
} br_frame;

static inline bool pys__br_frame_pending(const br_frame *f)
{
    return f->exc_type || f->exc_value;
}
void pys__br_frame_clear(br_frame *f);
/* Raises what pys_bridge_raise recorded; clears it. */
void pys__br_frame_raise(br_frame *f);
/* This thread's innermost frame (call.c), or NULL outside a callback. */
br_frame *pys__br_frame_current(void);

/* A builtin exception class by name (new reference), or NULL (no error). */
PyObject *pys__br_builtin_exc(pys_runtime *rt, const char *name);
/* Sets the Python exception for a callback that returned `rc` != 0 with
 * nothing recorded by pys_bridge_raise. `e` is the error recorded during
 * the callback (NULL if none); `captured` (stolen, may be NULL) is the
 * exception of the last failed nested call. */
void pys__br_raise_failure(pys_runtime *rt, br_reg *r, int rc, const pys_error *e,
                           PyObject *captured);
/* TypeError-like exception naming the function and its signature. */
void pys__br_raise_sig(br_reg *r, PyObject *exc, const char *fmt, ...) PYS__PRINTF(3, 4);

/* Around a callback that may make failing pyshim calls: keep the exception
 * of the last one (pys__fail_py stores it while capture_depth > 0), and
 * note this thread's failure count, so that an error recorded before the
 * callback is not mistaken for one of its own. The error detail itself is
 * left alone: it belongs to the host until its next failing call. */
typedef struct br_capture {
    PyObject *outer; /* the enclosing capture (a pys_with body), to restore */
    uint64_t nfail;  /* t->nfail at the start */
} br_capture;

static inline br_capture pys__br_capture_begin(pys__tls *t)
{
    br_capture c = {t->captured_exc, t->nfail};
    t->captured_exc = NULL;
    t->capture_depth++;
    return c;
}

/* Ends pys__br_capture_begin; returns the kept exception (new reference)
 * or NULL. */
static inline PyObject *pys__br_capture_end(pys__tls *t, br_capture c)
{
    t->capture_depth--;
    PyObject *captured = t->captured_exc;
    t->captured_exc = c.outer;
    return captured;
}

/* This thread's error if it was recorded since capture c began, else NULL. */
const pys_error *pys__br_capture_error(const br_capture *c);

/* ---- calls (call.c) -------------------------------------------------------- */

/* METH_FASTCALL | METH_KEYWORDS entry of every bridge function. */
PyObject *pys__br_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames);
/* Forgets cap if it is the capsule of the last function called (it is
 * going). GIL held. */
void pys__br_forget_cap(PyObject *cap);

#endif
