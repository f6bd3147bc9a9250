/* The handle table: ids to objects (core/handles.c; inline fast paths). */
#ifndef PYS_CORE_HANDLES_H
#define PYS_CORE_HANDLES_H

#include "core/runtime.h"
#include "core/error.h"
#include "core/gate.h"

/* ---- handles ---------------------------------------------------------------- */

/* At thread exit (core/runtime.c): frees this thread's scopes (their
 * marks no longer count as open) and its held-object arrays. */
void pys__h_tls_exit(pys__tls *t);

/* Scope marks open on all threads (handles.c): while 0, making a handle
 * skips the look at this thread's scopes. */
extern _Atomic long pys__scopes_open;
/* Wraps a new reference in a handle (steals it). NULL o gives PYS_NULL
 * without touching the error (the caller reports). On table exhaustion the
 * reference is dropped and PYS_E_NOMEM set. Needs the GIL. */
pys_obj pys__h_new(pys_runtime *rt, PyObject *o, const char *fn);
/* The handle of r, what a C-API call returned (a new reference, taken); for
 * r NULL the pending Python exception becomes this thread's error and the
 * result is PYS_NULL. Needs the GIL. */
static inline pys_obj pys__h_new_py(pys_runtime *rt, PyObject *r, const char *fn)
{
    if (__builtin_expect(!r, 0)) {
        pys__fail_py(rt, fn);
        return PYS_NULL;
    }
    return pys__h_new(rt, r, fn);
}
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

/* pys_release, inline: the library's own wrappers of it (the FFI face)
 * call this, so that they and pys_release are one code with one frame.
 * Same results and errors as pys_release. */
static inline __attribute__((always_inline)) int pys__release_in(pys_obj o)
{
    pys__tls *t = pys__tls_get();
    pys_runtime *rt = pys__begin_t(&pys__the_runtime, "pys_release", t);
    if (!rt)
        return pys_last_error()->code;
    int rc = pys__h_release_fast(rt, o, "pys_release");
    pys__end_t(rt, t);
    return rc;
}

#endif
