/* Internal to src/ffi: the thread state of the FFI face and the wrapper
 * that every pys_ffi_* function runs its pys_* call in.
 *
 * - status: what pys_ffi_status() reads. A handle result of 0 means the
 *   call failed (its code is the thread's error code); for other results
 *   the thread's failure count (pys__tls.nfail) tells whether the call
 *   recorded a failure.
 * - unheld: while a host function registered with PYS_FFI_RELEASE_GIL runs
 *   on this thread, the thread state it let go of. The thread is still
 *   inside the bridge call (gil_depth > 0, so pys_* calls skip GIL
 *   handling), so each pys_ffi_* call attaches that state again for its
 *   own length and detaches it after. */
#ifndef PYS_FFI_INTERNAL_H
#define PYS_FFI_INTERNAL_H

#pragma GCC visibility push(default)
#include "pyshim_ffi.h"
#pragma GCC visibility pop

#include "core/runtime.h"
#include "core/error.h"

static inline void pys__ffi_rehold(pys__ffi_tls *f, PyThreadState *u)
{
    f->unheld = NULL;
    pys__api.PyEval_RestoreThread(u);
}
static inline void pys__ffi_unhold(pys__ffi_tls *f)
{
    f->unheld = pys__api.PyEval_SaveThread();
}

#define PYS__FFI_CALL_(expr, failed_now)                                                          \
    do {                                                                                           \
        pys__tls *t_ = pys__tls_get();                                                             \
        pys__ffi_tls *ffi_ = &t_->ffi;                                                             \
        uint64_t nfail_ = t_->nfail;                                                               \
        PyThreadState *unheld_ = ffi_->unheld;                                                     \
        if (__builtin_expect(unheld_ != NULL, 0))                                                  \
            pys__ffi_rehold(ffi_, unheld_);                                                        \
        (void)nfail_;                                                                              \
        expr;                                                                                      \
        if (__builtin_expect(unheld_ != NULL, 0))                                                  \
            pys__ffi_unhold(ffi_);                                                                 \
        ffi_->status = (failed_now) ? pys__err_peek()->code : PYS_OK;                              \
    } while (0)
/* For reads of the error detail that may run Python (formatting a
 * traceback): the GIL as for a call, the status untouched. */
#define PYS__FFI_HELD(expr)                                                                       \
    do {                                                                                           \
        pys__ffi_tls *ffi_ = &pys__tls_get()->ffi;                                                 \
        PyThreadState *unheld_ = ffi_->unheld;                                                     \
        if (__builtin_expect(unheld_ != NULL, 0))                                                  \
            pys__ffi_rehold(ffi_, unheld_);                                                        \
        expr;                                                                                      \
        if (__builtin_expect(unheld_ != NULL, 0))                                                  \
            pys__ffi_unhold(ffi_);                                                                 \
    } while (0)
/* For calls that return anything but a handle. */
#define PYS__FFI_CALL(expr) PYS__FFI_CALL_(expr, t_->nfail != nfail_)
/* For calls that return a handle: id 0 is failure. */
#define PYS__FFI_CALL_H(expr, id) PYS__FFI_CALL_(expr, (id) == 0)

#endif
