/* The runtime singleton (core/runtime.h): a static object, so a pointer to
 * it stays valid after pys_close and later calls get PYS_E_CLOSED. */
#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"

pys_runtime pys__the_runtime;
_Atomic(pys_runtime *) pys__current;

/* ---- thread exit ------------------------------------------------------------ */

/* One pthread key; its destructor tears the thread's state down in this
 * order, each part of it left usable until its turn:
 * 1. the thread state pyshim kept for the thread (core/gate.c): deleting
 *    it runs Python code (finalisers of thread-local data) that may call
 *    pyshim, which may need every part below;
 * 2. the error detail and its kept exception (core/error.c);
 * 3. scopes and held objects (core/handles.c);
 * 4. the thread record (core/gate.c), last: once handed back another
 *    thread may claim it, and a call made by step 1 still needs it.
 * A pyshim call made after that (another library's destructor) registers
 * again, and the destructor runs again (POSIX repeats them). */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_destroy(void *p)
{
    pys__tls *t = p;
    pys__threads_tls_exit(t);
    pys__err_tls_exit(t);
    pys__h_tls_exit(t);
    pys__thr_tls_exit(t);
    t->registered = false;
}

static void tls_key_make(void)
{
    pthread_key_create(&tls_key, tls_destroy);
}

void pys__tls_register(pys__tls *t)
{
    if (t->registered)
        return;
    pthread_once(&tls_once, tls_key_make);
    pthread_setspecific(tls_key, t);
    t->registered = true;
}

void pys__close_steps(pys_runtime *rt)
{
    for (int i = 0; i < PYS__CLOSE_NSTEPS; i++) {
        pys__close_fn fn = atomic_exchange_explicit(&rt->close_steps[i], NULL,
                                                    memory_order_relaxed);
        if (fn)
            fn(rt);
    }
}
