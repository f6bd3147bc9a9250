/* The counting allocator behind a policy's memory cap: wraps Python's
 * three allocator domains (PyMem_SetAllocator at open, opt-in with
 * pys_options.memory_caps) and counts the blocks of each thread's capped
 * run against its cap, failing the allocations beyond it (Python turns
 * that into MemoryError). While no capped run is in progress, each
 * allocation pays one relaxed atomic load and an indirect call. A block
 * is counted where it was allocated and uncounted wherever it is freed:
 * the active runs are kept in one list under mem_mu. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/types.h"
#include "api/memcap.h"

/* A counted block: open addressing, linear probing, backward-shift
 * deletion. The table's memory is libc's, never Python's. */
typedef struct pys__mblock {
    uintptr_t p;
    size_t n;
} pys__mblock;

static PyMemAllocatorEx prev[3];
static _Atomic int mem_nactive;
static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;
static pys__memrun *mem_active;
/* This thread's run (pys__tls.mem_run) and whether it is inside a counted
 * call (pys__tls.mem_nested): the allocator that call wraps may call the
 * raw domain's (pymalloc does for large blocks), which must not count the
 * block again. Both live in the thread's record, so the allocator hooks
 * reach them with one fetch even where the library was dlopen'ed. */

static size_t slot_of(uintptr_t p, size_t tcap)
{
    return (size_t)((p >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> 20) & (tcap - 1);
}

static bool tab_put(pys__memrun *m, uintptr_t p, size_t n)
{
    if ((m->tn + 1) * 2 > m->tcap) {
        size_t nc = m->tcap ? m->tcap * 2 : 1024;
        pys__mblock *nt = calloc(nc, sizeof *nt);
        if (!nt)
            return false;
        for (size_t i = 0; i < m->tcap; i++)
            if (m->tab[i].p) {
                size_t j = slot_of(m->tab[i].p, nc);
                while (nt[j].p)
                    j = (j + 1) & (nc - 1);
                nt[j] = m->tab[i];
            }
        free(m->tab);
        m->tab = nt;
        m->tcap = nc;
    }
    size_t j = slot_of(p, m->tcap);
    while (m->tab[j].p && m->tab[j].p != p)
        j = (j + 1) & (m->tcap - 1);
    if (!m->tab[j].p)
        m->tn++;
    m->tab[j] = (pys__mblock){p, n};
    return true;
}

/* Removes p; its size, or (size_t)-1 if absent. */
static size_t tab_take(pys__memrun *m, uintptr_t p)
{
    if (!m->tcap)
        return (size_t)-1;
    size_t mask = m->tcap - 1, i = slot_of(p, m->tcap);
    while (m->tab[i].p && m->tab[i].p != p)
        i = (i + 1) & mask;
    if (!m->tab[i].p)
        return (size_t)-1;
    size_t n = m->tab[i].n;
    m->tn--;
    /* Backward shift: pull later entries of the run into the hole unless
     * their home slot lies cyclically in (hole, their slot]. */
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (!m->tab[j].p)
            break;
        size_t k = slot_of(m->tab[j].p, m->tcap);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        m->tab[i] = m->tab[j];
        i = j;
    }
    m->tab[i] = (pys__mblock){0, 0};
    return n;
}

/* Forgets p in whichever active run counted it (mem_mu held). */
static void forget(uintptr_t p)
{
    for (pys__memrun *m = mem_active; m; m = m->next) {
        size_t n = tab_take(m, p);
        if (n != (size_t)-1) {
            m->used -= n;
            return;
        }
    }
}

/* Reserves n bytes in this thread's run; false when over the cap. */
static bool reserve(pys__memrun *m, size_t n)
{
    pthread_mutex_lock(&mem_mu);
    bool ok = n <= m->cap - m->used;
    if (ok)
        m->used += n;
    else
        m->hit = true;
    pthread_mutex_unlock(&mem_mu);
    return ok;
}

static void *commit(pys__memrun *m, void *p, size_t n)
{
    pthread_mutex_lock(&mem_mu);
    if (!p) {
        m->used -= n;
    } else if (!tab_put(m, (uintptr_t)p, n)) {
        m->used -= n; /* not tracked: its free will not be counted either */
    }
    pthread_mutex_unlock(&mem_mu);
    return p;
}

static __attribute__((noinline)) void *c_malloc(PyMemAllocatorEx *a, size_t n, size_t k)
{
    pys__tls *t = pys__tls_get();
    pys__memrun *m = t->mem_run;
    if (!m || t->mem_nested)
        return k ? a->calloc(a->ctx, n, k) : a->malloc(a->ctx, n);
    size_t bytes = n;
    if (k && __builtin_mul_overflow(n, k, &bytes))
        return NULL;
    if (!reserve(m, bytes))
        return NULL;
    t->mem_nested = true;
    void *q = k ? a->calloc(a->ctx, n, k) : a->malloc(a->ctx, n);
    t->mem_nested = false;
    return commit(m, q, bytes);
}

static void *h_malloc(void *ctx, size_t n)
{
    PyMemAllocatorEx *a = ctx;
    if (__builtin_expect(atomic_load_explicit(&mem_nactive, memory_order_relaxed) == 0, 1))
        return a->malloc(a->ctx, n);
    return c_malloc(a, n, 0);
}

static void *h_calloc(void *ctx, size_t n, size_t k)
{
    PyMemAllocatorEx *a = ctx;
    if (__builtin_expect(atomic_load_explicit(&mem_nactive, memory_order_relaxed) == 0, 1))
        return a->calloc(a->ctx, n, k);
    return c_malloc(a, n, k ? k : 1);
}

static __attribute__((noinline)) void *c_realloc(PyMemAllocatorEx *a, void *p, size_t n)
{
    pys__tls *t = pys__tls_get();
    if (t->mem_nested)
        return a->realloc(a->ctx, p, n);
    pys__memrun *m = t->mem_run;
    pthread_mutex_lock(&mem_mu);
    size_t old = 0;
    if (p) {
        size_t o = m ? tab_take(m, (uintptr_t)p) : (size_t)-1;
        if (o != (size_t)-1) {
            old = o;
            m->used -= o;
        } else {
            forget((uintptr_t)p);
        }
    }
    if (m) {
        if (n > m->cap - m->used) {
            m->hit = true;
            if (old && tab_put(m, (uintptr_t)p, old))
                m->used += old; /* p stays valid and counted */
            pthread_mutex_unlock(&mem_mu);
            return NULL;
        }
        m->used += n;
    }
    pthread_mutex_unlock(&mem_mu);
    t->mem_nested = true;
    void *q = a->realloc(a->ctx, p, n);
    t->mem_nested = false;
    if (!m)
        return q;
    pthread_mutex_lock(&mem_mu);
    if (!q) {
        m->used -= n;
        if (old && tab_put(m, (uintptr_t)p, old))
            m->used += old;
    } else if (!tab_put(m, (uintptr_t)q, n)) {
        m->used -= n;
    }
    pthread_mutex_unlock(&mem_mu);
    return q;
}

static void *h_realloc(void *ctx, void *p, size_t n)
{
    PyMemAllocatorEx *a = ctx;
    if (__builtin_expect(atomic_load_explicit(&mem_nactive, memory_order_relaxed) == 0, 1))
        return a->realloc(a->ctx, p, n);
    return c_realloc(a, p, n);
}

static __attribute__((noinline)) void c_free(PyMemAllocatorEx *a, void *p)
{
    pys__tls *t = pys__tls_get();
    if (t->mem_nested) {
        a->free(a->ctx, p);
        return;
    }
    pthread_mutex_lock(&mem_mu);
    forget((uintptr_t)p);
    pthread_mutex_unlock(&mem_mu);
    t->mem_nested = true;
    a->free(a->ctx, p);
    t->mem_nested = false;
}

static void h_free(void *ctx, void *p)
{
    PyMemAllocatorEx *a = ctx;
    if (__builtin_expect(atomic_load_explicit(&mem_nactive, memory_order_relaxed) == 0, 1) || !p) {
        a->free(a->ctx, p);
        return;
    }
    c_free(a, p);
}

void pys__memcap_hook(void)
{
    /* Python's allocators outlive finalisation, but a new initialisation
     * may reset them (PYTHONMALLOC): wrap whatever is installed unless it
     * is this hook already. */
    for (int d = 0; d < 3; d++) {
        PyMemAllocatorEx cur;
        pys__api.PyMem_GetAllocator(d, &cur);
        if (cur.malloc == h_malloc)
            continue;
        prev[d] = cur;
        PyMemAllocatorEx h = {&prev[d], h_malloc, h_calloc, h_realloc, h_free};
        pys__api.PyMem_SetAllocator(d, &h);
    }
}

void pys__memcap_begin(pys__memrun *m, size_t cap)
{
    *m = (pys__memrun){.cap = cap, .outer = pys__tls_get()->mem_run};
    pthread_mutex_lock(&mem_mu);
    m->next = mem_active;
    mem_active = m;
    pthread_mutex_unlock(&mem_mu);
    atomic_fetch_add(&mem_nactive, 1);
    pys__tls_get()->mem_run = m;
}

bool pys__memcap_end(pys__memrun *m)
{
    pys__tls_get()->mem_run = m->outer;
    pthread_mutex_lock(&mem_mu);
    for (pys__memrun **pp = &mem_active; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    pthread_mutex_unlock(&mem_mu);
    atomic_fetch_sub(&mem_nactive, 1);
    free(m->tab);
    m->tab = NULL;
    return m->hit;
}

bool pys__memcap_hooked(void)
{
    PyMemAllocatorEx cur;
    for (int d = 0; d < 3; d++) {
        pys__api.PyMem_GetAllocator(d, &cur);
        if (cur.malloc != h_malloc)
            return false;
    }
    return true;
}
