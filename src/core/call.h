/* The one call primitive: f(*args[:n], **kwargs) with borrowed arguments.
 * Every layer above core calls Python through it (the format, handle and
 * bridge calls build their arguments and end here). */
#ifndef PYS_CORE_CALL_H
#define PYS_CORE_CALL_H

#include <stddef.h>

#include "loader/capi.h"

/* f(*args[:n], **kwargs) through vectorcall where the library has it (3.9+;
 * a tuple call on 3.8). Returns a new reference, or NULL with a Python
 * exception set. Needs the GIL; args and kwargs stay the caller's. Inline:
 * the batched call paths are measured per instruction. */
static inline PyObject *pys__call_raw(PyObject *f, PyObject *const *args, size_t n,
                                      PyObject *kwargs)
{
    if (!kwargs && pys__api.PyObject_Vectorcall) /* 3.11+: one step less */
        return pys__api.PyObject_Vectorcall(f, args, n, NULL);
    if (pys__api.PyObject_VectorcallDict)
        return pys__api.PyObject_VectorcallDict(f, args, n, kwargs);
    PyObject *t = pys__api.PyTuple_New((Py_ssize_t)n);
    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        pys__api.Py_IncRef(args[i]);
        pys__api.PyTuple_SetItem(t, (Py_ssize_t)i, args[i]);
    }
    PyObject *r = pys__api.PyObject_Call(f, t, kwargs);
    pys__api.Py_DecRef(t);
    return r;
}

/* f(a[, b[, c]]) with borrowed arguments, the trailing NULL ones left out:
 * pys__call_raw with the arguments on the stack, for pyshim's own calls of
 * its helpers. Same results and needs. */
static inline PyObject *pys__call3(PyObject *f, PyObject *a, PyObject *b, PyObject *c)
{
    PyObject *argv[3] = {a, b, c};
    return pys__call_raw(f, argv, c ? 3 : b ? 2 : a ? 1 : 0, NULL);
}

#endif
