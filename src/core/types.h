/* Type checks that read no struct layout pyshim does not know. */
#ifndef PYS_CORE_TYPES_H
#define PYS_CORE_TYPES_H

#include <stdbool.h>

#include "core/runtime.h"
#include "core/error.h"

/* ---- helpers for typed checks (no struct layouts) ------------------------ */

/* Every type check that decides how pyshim reads an object (which C-API
 * call it may make on it) looks at the object's real type: Py_TYPE, its
 * flags, or PyType_IsSubtype on it. Never isinstance(): it honours a
 * __class__ property, so an object could claim to be a code object, a
 * float or a str and send C code into a layout it does not have. */

/* The flags of o's real type. */
static inline unsigned long pys__tp_flags(PyObject *o)
{
    PyObject *t = pys__api.PyObject_Type(o);
    unsigned long f = pys__api.PyType_GetFlags(t);
    pys__api.Py_DecRef(t);
    return f;
}
/* o's type if this build's layout is known (rt->type_off), else NULL. The
 * stable ABI fixes ob_type's place for GIL builds; open verifies it. */
static inline PyObject *pys__type_of(PyObject *o)
{
    size_t off = pys__the_runtime.type_off;
    return off ? __atomic_load_n((PyObject **)(void *)((char *)o + off), __ATOMIC_RELAXED) : NULL;
}
static __attribute__((noinline)) int pys__is_slow(PyObject *o, PyObject *type)
{
    PyObject *t = pys__api.PyObject_Type(o);
    int r = t == type || pys__api.PyType_IsSubtype(t, type);
    pys__api.Py_DecRef(t);
    return r != 0;
}
/* 1 if o's real type is TYPE or a subtype of it, else 0. Never fails, runs
 * no Python code. An exact match is one load and one compare. */
static inline int pys__is(PyObject *o, void *type)
{
    PyObject *t = pys__type_of(o);
    if (__builtin_expect(t == (PyObject *)type, 1))
        return 1;
    if (__builtin_expect(t != NULL, 1))
        return pys__api.PyType_IsSubtype(t, (PyObject *)type) != 0;
    return pys__is_slow(o, (PyObject *)type);
}
/* Whether o's real type is dict or a subclass of it, as an argument that
 * must be a mapping pyshim writes into or passes on as one (kwargs, a
 * namespace); if not, sets PYS_E_TYPE "FN: WHAT must be a dict, not TYPE"
 * and returns false. Needs the GIL; the check is inline, the failure not. */
static inline bool pys__need_dict(PyObject *o, const char *what, const char *fn)
{
    if (pys__tp_flags(o) & PYS__Py_TPFLAGS_DICT_SUBCLASS)
        return true;
    pys__fail_not_dict(o, what, fn);
    return false;
}

#endif
