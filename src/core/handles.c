/* Handles and scopes.
 *
 * Design notes: docs/internals.md, "src/core/handles.c". */
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"

/* ---- the table ----------------------------------------------------------------- */

/* A chunk: its slots, then each slot's first generation in this open. The
 * table points at the slots (the first member). */
typedef struct chunk {
    pys__slot slot[PYS__CHUNK_SIZE];
    uint32_t gen0[PYS__CHUNK_SIZE];
} chunk;

static inline uint32_t *gen0_at(pys__htable *ht, uint32_t index)
{
    return &((chunk *)(void *)ht->chunks[index >> PYS__CHUNK_BITS])
                ->gen0[index & (PYS__CHUNK_SIZE - 1)];
}

/* The word of a free slot whose next generation is gen (0: retired). */
#define free_word pys__free_word

static inline bool slot_live(const pys__slot *s, uint32_t index)
{
    return (s->id & PYS__IDX_MASK) == index;
}

static void scope_track(pys__tls *t, uint64_t id)
{
    if (t->scope_n == t->scope_cap) {
        size_t cap = t->scope_cap ? t->scope_cap * 2 : 256;
        uint64_t *v = pys__realloc_n(t->scope_ids, cap, sizeof *v);
        if (!v)
            return; /* the handle stays valid; it just outlives the scope */
        t->scope_ids = v;
        t->scope_cap = cap;
    }
    t->scope_ids[t->scope_n++] = id;
}

/* Locking only on free-threaded builds (or when tests force it). The GIL
 * builds' paths below stay free of calls so that they compile to a few
 * instructions; the locked variants are separate, out-of-line functions. */
#define LOCKING(rt) __builtin_expect((rt)->locking, 0)

/* Adds a chunk of slots. Returns false when the table is full or out of
 * memory (error set, o dropped). Lock held when locking. */
static __attribute__((noinline)) bool grow(pys_runtime *rt, PyObject *o, const char *fn)
{
    pys__htable *ht = &rt->ht;
    chunk *c = ht->nchunks == PYS__MAX_CHUNKS ? NULL : malloc(sizeof *c);
    if (!c) {
        bool full = ht->nchunks == PYS__MAX_CHUNKS;
        size_t live = ht->live;
        if (LOCKING(rt))
            pthread_mutex_unlock(&rt->lock);
        pys__api.Py_DecRef(o);
        if (full)
            pys__fail(fn, PYS_E_NOMEM, "%s: handle table full (%zu live handles)", fn, live);
        else
            pys__fail(fn, PYS_E_NOMEM, "%s: out of memory for handles", fn);
        return false;
    }
    for (uint32_t i = 0; i < PYS__CHUNK_SIZE; i++) {
        c->slot[i].id = free_word(ht->nchunks * PYS__CHUNK_SIZE + i, 1);
        c->gen0[i] = 1;
    }
    ht->chunks[ht->nchunks++] = c->slot;
    return true;
}

_Atomic long pys__scopes_open;

/* Takes a free slot for o. Returns the id, or 0 (o dropped, error set)
 * when the table cannot grow. Lock held when locking. */
static inline uint64_t slot_take(pys_runtime *rt, PyObject *o, const char *fn)
{
    pys__htable *ht = &rt->ht;
    uint32_t index;
    if (__builtin_expect(ht->free_head != 0, 1)) {
        index = ht->free_head - 1;
        ht->free_head = pys__slot_at(ht, index)->next;
    } else {
        if (ht->next_unused == ht->nchunks * PYS__CHUNK_SIZE && !grow(rt, o, fn))
            return 0; /* unlocked by grow */
        index = ht->next_unused++;
    }
    pys__slot *s = pys__slot_at(ht, index);
    uint64_t id = (s->id & ~PYS__IDX_MASK) | index; /* the generation waiting there */
    s->obj = o;
    s->id = id;
    ht->live++;
    return id;
}

static __attribute__((noinline)) uint64_t h_new_locked(pys_runtime *rt, PyObject *o,
                                                       const char *fn)
{
    pthread_mutex_lock(&rt->lock);
    uint64_t id = slot_take(rt, o, fn);
    if (id)
        pthread_mutex_unlock(&rt->lock);
    return id;
}

pys_obj pys__h_new(pys_runtime *rt, PyObject *o, const char *fn)
{
    if (!o)
        return PYS_NULL;
    uint64_t id = LOCKING(rt) ? h_new_locked(rt, o, fn) : slot_take(rt, o, fn);
    /* Scopes are rare: look at this thread's only when some thread has one. */
    if (__builtin_expect(atomic_load_explicit(&pys__scopes_open, memory_order_relaxed) != 0, 0) &&
        id) {
        pys__tls *t = pys__tls_get();
        if (t->scope_nmarks)
            scope_track(t, id);
    }
    return (pys_obj){id};
}

/* Fails with PYS_E_HANDLE, saying what h is. Reads the table under the
 * table lock when locking (another thread may be taking or freeing that
 * slot); called without it. */
static __attribute__((noinline)) void describe_bad(pys_runtime *rt, pys_obj h, const char *fn)
{
    uint64_t index = h.id & PYS__IDX_MASK, gen = h.id >> PYS__IDX_BITS;
    const char *what = "was never issued";
    if (h.id == 0) {
        pys__fail(fn, PYS_E_HANDLE, "%s: the invalid handle (id 0) was passed, "
                  "probably the result of a failed call", fn);
        return;
    }
    pys__htable *ht = &rt->ht;
    bool locking = LOCKING(rt);
    if (locking)
        pthread_mutex_lock(&rt->lock);
    if (gen != 0 && gen <= PYS__GEN_MAX && index < ht->next_unused) {
        const pys__slot *s = pys__slot_at(ht, (uint32_t)index);
        /* Generations below this one were issued (all of them once retired). */
        uint64_t issued = s->id >> PYS__IDX_BITS;
        if (slot_live(s, (uint32_t)index))
            issued++;
        else if (issued == 0)
            issued = (uint64_t)PYS__GEN_MAX + 1;
        if (gen < *gen0_at(ht, (uint32_t)index))
            what = "belongs to an earlier runtime";
        else if (gen < issued)
            what = "was released";
    }
    if (locking)
        pthread_mutex_unlock(&rt->lock);
    pys__fail(fn, PYS_E_HANDLE, "%s: handle %#llx %s", fn, (unsigned long long)h.id, what);
}

/* Holds o for the current call level of this thread (see pys__tls.held).
 * Returns false if it could not be recorded (then o is not held). */
static bool held_push(pys__tls *t, PyObject *o)
{
    if (t->nheld == t->capheld) {
        size_t cap = t->capheld ? t->capheld * 2 : 16;
        PyObject **h = pys__realloc_n(t->held, cap, sizeof *h);
        if (h)
            t->held = h;
        int *d = h ? pys__realloc_n(t->held_depth, cap, sizeof *d) : NULL;
        if (!d)
            return false;
        t->held_depth = d;
        t->capheld = cap;
        pys__tls_register(t); /* frees the arrays at thread exit */
    }
    pys__api.Py_IncRef(o);
    t->held[t->nheld] = o;
    t->held_depth[t->nheld++] = t->gil_depth;
    return true;
}

void pys__held_drop(pys__tls *t, int depth)
{
    while (t->nheld && t->held_depth[t->nheld - 1] >= depth) {
        t->nheld--;
        pys__api.Py_DecRef(t->held[t->nheld]);
    }
    if (!t->nheld && t->capheld > 256) {
        free(t->held);
        free(t->held_depth);
        t->held = NULL;
        t->held_depth = NULL;
        t->capheld = 0;
    }
}

void pys__h_tls_exit(pys__tls *t)
{
    atomic_fetch_sub_explicit(&pys__scopes_open, (long)t->scope_nmarks, memory_order_relaxed);
    free(t->scope_ids);
    free(t->scope_marks);
    free(t->held); /* empty by now: every call level has ended */
    free(t->held_depth);
    t->held = NULL;
    t->held_depth = NULL;
    t->nheld = t->capheld = 0;
    t->scope_ids = NULL;
    t->scope_marks = NULL;
    t->scope_n = t->scope_cap = t->scope_nmarks = t->scope_capmarks = 0;
}

/* Free-threaded lookup: the object is held (a strong reference taken under
 * the table lock) until this call level ends, so a pys_release of the same
 * handle on another thread cannot free it while this call uses it. */
static __attribute__((noinline)) PyObject *h_get_locked(pys_runtime *rt, pys_obj h)
{
    pthread_mutex_lock(&rt->lock);
    pys__slot *s = pys__lookup(&rt->ht, h.id);
    PyObject *o = s ? s->obj : NULL;
    if (o && !held_push(pys__tls_get(), o))
        o = NULL; /* out of memory: reported as a bad handle below */
    pthread_mutex_unlock(&rt->lock);
    return o;
}

PyObject *pys__h_get_slow(pys_runtime *rt, pys_obj h, const char *fn)
{
    PyObject *o = NULL;
    if (LOCKING(rt))
        o = h_get_locked(rt, h);
    if (__builtin_expect(!o, 0))
        describe_bad(rt, h, fn);
    return o;
}

PyObject *pys__h_ref_slow(pys_runtime *rt, pys_obj h, const char *fn)
{
    PyObject *o = NULL;
    if (LOCKING(rt)) {
        pthread_mutex_lock(&rt->lock);
        pys__slot *s = pys__lookup(&rt->ht, h.id);
        if (s) {
            o = s->obj;
            pys__api.Py_IncRef(o);
        }
        pthread_mutex_unlock(&rt->lock);
    }
    if (__builtin_expect(!o, 0))
        describe_bad(rt, h, fn);
    return o;
}

/* Frees live slot s of id (lock held when locking); returns its object.
 * The slot's next generation waits in its word; past the last one the
 * slot is retired, off the free list for good. */
static inline PyObject *slot_free(pys__htable *ht, pys__slot *s, uint64_t id)
{
    PyObject *o = s->obj;
    uint32_t index = (uint32_t)(id & PYS__IDX_MASK);
    uint64_t gen = id >> PYS__IDX_BITS;
    if (__builtin_expect(gen < PYS__GEN_MAX, 1)) {
        s->id = free_word(index, gen + 1);
        s->next = ht->free_head;
        ht->free_head = index + 1;
    } else {
        s->id = free_word(index, 0);
        s->next = 0;
        ht->retired++;
    }
    ht->live--;
    return o;
}

static __attribute__((noinline)) int h_bad(pys_runtime *rt, pys_obj h, const char *fn)
{
    if (fn)
        describe_bad(rt, h, fn);
    return PYS_E_HANDLE;
}

static __attribute__((noinline)) int h_release_locked(pys_runtime *rt, pys_obj h,
                                                      const char *fn)
{
    pys__htable *ht = &rt->ht;
    pthread_mutex_lock(&rt->lock);
    pys__slot *s = pys__lookup(ht, h.id);
    PyObject *o = s ? slot_free(ht, s, h.id) : NULL;
    pthread_mutex_unlock(&rt->lock);
    if (!o)
        return h_bad(rt, h, fn);
    pys__api.Py_DecRef(o);
    return PYS_OK;
}

int pys__h_release(pys_runtime *rt, pys_obj h, const char *fn)
{
    if (LOCKING(rt))
        return h_release_locked(rt, h, fn);
    pys__htable *ht = &rt->ht;
    pys__slot *s = pys__lookup(ht, h.id);
    if (__builtin_expect(!s, 0))
        return h_bad(rt, h, fn);
    pys__api.Py_DecRef(slot_free(ht, s, h.id));
    return PYS_OK;
}

bool pys__h_reuse(pys_runtime *rt, pys_obj *h, PyObject *o)
{
    if (atomic_load_explicit(&pys__scopes_open, memory_order_relaxed) != 0)
        return false;
    pys__htable *ht = &rt->ht;
    PYS__LOCK(rt);
    pys__slot *s = pys__lookup(ht, h->id);
    uint64_t gen = h->id >> PYS__IDX_BITS;
    PyObject *old = NULL;
    if (s && gen < PYS__GEN_MAX) {
        old = s->obj;
        s->obj = o;
        s->id = (gen + 1) << PYS__IDX_BITS | (h->id & PYS__IDX_MASK);
        h->id = s->id;
    }
    PYS__UNLOCK(rt);
    if (!old)
        return false;
    pys__api.Py_DecRef(old); /* may run Python code: the slot is consistent */
    return true;
}

/* At close: releases every live handle. The slots, their generations and
 * the free list stay for the next open (whose ids then differ from every
 * id of this one); each slot's first generation of that open is noted. */
void pys__h_clear(pys_runtime *rt)
{
    pys__htable *ht = &rt->ht;
    for (uint32_t i = 0; i < ht->next_unused; i++) {
        pys__slot *s = pys__slot_at(ht, i);
        if (slot_live(s, i))
            pys__api.Py_DecRef(slot_free(ht, s, s->id));
    }
    for (uint32_t i = 0; i < ht->next_unused; i++) {
        uint64_t gen = pys__slot_at(ht, i)->id >> PYS__IDX_BITS;
        *gen0_at(ht, i) = gen ? (uint32_t)gen : PYS__GEN_MAX;
    }
}

/* Test hook: moves live handle h to the generation that leaves `left`
 * (1 .. PYS__GEN_MAX) releases before its slot retires; returns the new id
 * (h is stale from then on), or PYS_NULL with PYS_E_HANDLE / PYS_E_ARG.
 * Lets tests run the shipped layout past its last generation. A scope
 * that tracks h no longer releases it. */
pys_obj pys__test_handle_age(pys_obj h, uint32_t left);
pys_obj pys__test_handle_age(pys_obj h, uint32_t left)
{
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt)
        return PYS_NULL;
    pys_obj r = PYS_NULL;
    if (left < 1 || left > PYS__GEN_MAX) {
        pys__fail(__func__, PYS_E_ARG, "%s: left %u is out of range", __func__, left);
    } else {
        PYS__LOCK(rt);
        pys__slot *s = pys__lookup(&rt->ht, h.id);
        if (s) {
            s->id = (uint64_t)(PYS__GEN_MAX - left + 1) << PYS__IDX_BITS | (h.id & PYS__IDX_MASK);
            r.id = s->id;
        }
        PYS__UNLOCK(rt);
        if (!r.id)
            describe_bad(rt, h, __func__);
    }
    pys__end(rt);
    return r;
}

/* ---- public handle calls ------------------------------------------------------ */

int pys_release(pys_obj o)
{
    return pys__release_in(o);
}

pys_obj pys_dup(pys_obj o)
{
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt)
        return PYS_NULL;
    pys_obj r = PYS_NULL;
    PyObject *p = pys__h_get(rt, o, __func__);
    if (p) {
        pys__api.Py_IncRef(p);
        r = pys__h_new(rt, p, __func__);
    }
    pys__end(rt);
    return r;
}

int pys_check(pys_obj o)
{
    pys_runtime *rt = pys__begin_h(__func__);
    if (!rt)
        return pys_last_error()->code;
    int rc = pys__h_get(rt, o, __func__) ? PYS_OK : PYS_E_HANDLE;
    pys__end(rt);
    return rc;
}

size_t pys_handle_count(pys_runtime *rt)
{
    if (!pys__rt_live(rt))
        return 0;
    PYS__LOCK(rt);
    size_t n = rt->ht.live;
    PYS__UNLOCK(rt);
    return n;
}

/* ---- scopes ----------------------------------------------------------------------- */

int pys_scope_begin(pys_runtime *rt)
{
    if (!pys__begin(rt, __func__))
        return pys_last_error()->code;
    pys__tls *t = pys__tls_get();
    int rc = PYS_OK;
    if (t->scope_nmarks == t->scope_capmarks) {
        size_t cap = t->scope_capmarks ? t->scope_capmarks * 2 : 8;
        size_t *v = pys__realloc_n(t->scope_marks, cap, sizeof *v);
        if (!v) {
            rc = pys__fail(__func__, PYS_E_NOMEM, "pys_scope_begin: out of memory");
            goto out;
        }
        t->scope_marks = v;
        t->scope_capmarks = cap;
    }
    pys__tls_register(t);
    t->scope_marks[t->scope_nmarks++] = t->scope_n;
    atomic_fetch_add_explicit(&pys__scopes_open, 1, memory_order_relaxed);
out:
    pys__end(rt);
    return rc;
}

/* Pops the innermost scope, releasing its handles except `keep`. Returns
 * whether `keep` was found live among them (then it is still live). */
static int scope_pop(pys_runtime *rt, uint64_t keep, bool *kept, const char *fn)
{
    pys__tls *t = pys__tls_get();
    if (!t->scope_nmarks)
        return pys__fail(fn, PYS_E_STATE, "%s: no scope is open on this thread", fn);
    size_t mark = t->scope_marks[--t->scope_nmarks];
    atomic_fetch_sub_explicit(&pys__scopes_open, 1, memory_order_relaxed);
    for (size_t i = t->scope_n; i > mark; i--) {
        uint64_t id = t->scope_ids[i - 1];
        if (keep && id == keep) {
            *kept = true;
            continue;
        }
        PYS__LOCK(rt);
        pys__slot *s = pys__lookup(&rt->ht, id);
        PYS__UNLOCK(rt);
        if (s)
            pys__h_release(rt, (pys_obj){id}, fn);
    }
    t->scope_n = mark;
    if (!t->scope_nmarks && t->scope_cap > 4096) {
        free(t->scope_ids);
        t->scope_ids = NULL;
        t->scope_cap = 0;
    }
    return PYS_OK;
}

int pys_scope_end(pys_runtime *rt)
{
    if (!pys__begin(rt, __func__))
        return pys_last_error()->code;
    bool kept = false;
    int rc = scope_pop(rt, 0, &kept, __func__);
    pys__end(rt);
    return rc;
}

pys_obj pys_scope_end_keep(pys_runtime *rt, pys_obj keep)
{
    if (!pys__begin(rt, __func__))
        return PYS_NULL;
    pys_obj r = PYS_NULL;
    PyObject *o = pys__h_get(rt, keep, __func__);
    if (o)
        pys__api.Py_IncRef(o);
    bool kept = false;
    int rc = scope_pop(rt, keep.id, &kept, __func__);
    if (kept)
        pys__h_release(rt, keep, __func__);
    if (o) {
        if (rc == PYS_OK)
            r = pys__h_new(rt, o, __func__); /* tracked by the enclosing scope */
        else
            pys__api.Py_DecRef(o);
    }
    pys__end(rt);
    return r;
}
