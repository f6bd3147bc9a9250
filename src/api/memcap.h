/* The counting allocator behind policed runs' memory caps
 * (api/memcap.c), for api/policy.c. */
#ifndef PYS_API_MEMCAP_H
#define PYS_API_MEMCAP_H

#include <stdbool.h>
#include <stddef.h>

/* One capped run, on its caller's stack from begin to end. */
typedef struct pys__memrun {
    size_t cap, used;
    bool hit;                  /* an allocation was refused */
    struct pys__mblock *tab;   /* the run's live blocks */
    size_t tcap, tn;           /* tcap a power of two */
    struct pys__memrun *next;  /* the active runs */
    struct pys__memrun *outer; /* this thread's run before this one */
} pys__memrun;

/* Wraps whatever allocators Python has installed unless already wrapped
 * (a new initialisation may reset them). With the GIL, at open. */
void pys__memcap_hook(void);
/* The wrapper is in place in all three domains. */
bool pys__memcap_hooked(void);
/* Counts this thread's allocations against m (cap bytes) until
 * pys__memcap_end(m), which returns whether one was refused and makes the
 * outer run (if any) this thread's again. Nest on one thread. */
void pys__memcap_begin(pys__memrun *m, size_t cap);
bool pys__memcap_end(pys__memrun *m);

#endif
