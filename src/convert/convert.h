/* What the convert layer offers the layers above it: formats (format.c)
 * and range-checked scalar reads (scalar.c). */
#ifndef PYS_CONVERT_H
#define PYS_CONVERT_H

#include <stdarg.h>
#include <stdbool.h>
#include "core/runtime.h"

/* Builds a Python value from one format item (format.c); see pyshim.h. */
typedef struct pys__fmt {
    const char *p;
    const char *fn;
    pys_runtime *rt;
} pys__fmt;
/* Typed arrays a format reads its values from instead of varargs (the FFI
 * face): q Q i b from ints, d from dbls, s s# y from strs (+ lens), O N
 * from objs; the cursors count what was read. pys__fmt_vals_set(v) hands
 * v to the next format parsed on this thread (which takes it: formats
 * parsed meanwhile read varargs); a format that does not use up every
 * array fails with PYS_E_ARG. Set it to NULL after the call in case it
 * failed before parsing. */
typedef struct pys__fmt_vals {
    const int64_t *ints;
    size_t nints;
    const double *dbls;
    size_t ndbls;
    const char *const *strs;
    const size_t *lens;
    size_t nstrs;
    const uint64_t *objs;
    size_t nobjs;
    size_t ii, di, si, oi;
} pys__fmt_vals;
void pys__fmt_vals_set(pys__fmt_vals *v);
/* Parses callf-style arguments: returns a new tuple in *args and a new dict
 * (or NULL) in *kwargs. On failure returns a PYS_E_* with the error set and
 * any 'N' handles still released. */
int pys__fmt_call_args(pys_runtime *rt, const char *fn, const char *fmt, va_list *ap,
                       PyObject **args, PyObject **kwargs);
PyObject *pys__fmt_build(pys_runtime *rt, const char *fn, const char *fmt, va_list *ap, int *rc);
/* f(values of fmt) (format.c): a new reference, or NULL with the error
 * set. */
PyObject *pys__fmt_call(pys_runtime *rt, const char *fn, PyObject *f, const char *fmt,
                        va_list *ap);
/* Reads fmt's values and drops them, releasing 'N' handles as promised
 * (for calls that fail before they can call). With keep_error the error
 * the caller has set stays whatever the format holds; without, a
 * malformed format's error replaces it. */
void pys__fmt_drop(pys_runtime *rt, const char *fn, const char *fmt, va_list *ap, bool keep_error);
/* The one way a format call ends: f(values of fmt) when the caller got its
 * callee f (borrowed), else (f NULL, the caller's error set) the values
 * dropped as pys__fmt_drop does, so 'N' handles are released in every case.
 * Returns a new reference, or NULL with the error set. Inline so that the
 * callf fast path pays no call and no test for the drop. */
static inline PyObject *pys__fmt_call_or_drop(pys_runtime *rt, const char *fn, PyObject *f,
                                              const char *fmt, va_list *ap, bool keep_error)
{
    if (__builtin_expect(f != NULL, 1))
        return pys__fmt_call(rt, fn, f, fmt, ap);
    pys__fmt_drop(rt, fn, fmt, ap, keep_error);
    return NULL;
}

/* Range-checked reads of one object (scalar.c), shared with array.c and
 * json.c. Error set on failure. Need the GIL. */
int pys__as_int64(PyObject *o, int64_t *out, const char *fn);
int pys__as_double(PyObject *o, double *out, const char *fn);

#endif
