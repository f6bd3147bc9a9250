/* The runtime singleton (core/runtime.h): a static object, so a pointer to
 * it stays valid after pys_close and later calls get PYS_E_CLOSED. */
#include "core/runtime.h"

pys_runtime pys__the_runtime;
_Atomic(pys_runtime *) pys__current;

void pys__close_steps(pys_runtime *rt)
{
    for (int i = 0; i < PYS__CLOSE_NSTEPS; i++) {
        pys__close_fn fn = atomic_exchange_explicit(&rt->close_steps[i], NULL,
                                                    memory_order_relaxed);
        if (fn)
            fn(rt);
    }
}
