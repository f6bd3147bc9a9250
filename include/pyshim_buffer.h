/* pyshim — Buffers: zero-copy memoryviews, buffer views, bulk arrays.
 * Included by pyshim.h; do not include directly.
 *
 * Two zero-copy directions:
 * - C memory -> Python: pys_memoryview() wraps a C array in a memoryview
 *   (typed with a struct-module format, any shape, optional strides) that
 *   numpy and friends accept without copying (np.asarray(mv)).
 * - Python -> C: pys_buffer_get() exposes the memory of any object that
 *   exports the buffer protocol (numpy arrays, bytes, bytearray, array.array,
 *   memoryview) as a pys_buffer: pointer, format, itemsize, shape, strides.
 * And bulk copies of double / float / int64_t / int32_t arrays to and from
 * lists, tuples and buffers, with no handle per element. */
#ifndef PYSHIM_BUFFER_H
#define PYSHIM_BUFFER_H

#ifdef __cplusplus
extern "C" {
#endif

/* Largest number of dimensions of a buffer (CPython's PyBUF_MAX_NDIM). */
#define PYS_BUFFER_MAX_NDIM 64

/* ======================================================================= */
/* C memory as a Python memoryview (zero-copy)                             */
/* ======================================================================= */

/* Formats accepted when describing C memory: one struct-module type code
 * (b B h H i I l L q Q n N e f d ? c P), optionally after a byte-order
 * character (@ = < > !; @ or none is native). NULL means "B" (bytes). */

/* Wraps `len` bytes at `data` in a new memoryview, without copying.
 * `shape` (ndim entries, C order) may be NULL: then the view is 1-D with
 * len / itemsize items. Otherwise ndim is 1..PYS_BUFFER_MAX_NDIM and the
 * product of the shape times the item size must equal len. With readonly
 * false, Python may write through the view into `data`.
 *
 * Lifetime rule: `data` must stay valid and unmoved for as long as Python
 * can reach the memoryview or anything made from it without a copy (slices,
 * casts, np.asarray(mv), np.frombuffer(mv)). pyshim cannot see those
 * references; when the memory may be reclaimed before Python is done with
 * it, use pys_memoryview_ex with a release callback, or call
 * `mv.release()` from Python / drop every reference before freeing.
 *
 * Returns a new handle, or PYS_NULL with PYS_E_ARG (NULL data with len > 0,
 * bad ndim), PYS_E_VALUE (unknown format, len not matching the shape),
 * PYS_E_OVERFLOW (sizes beyond PTRDIFF_MAX), PYS_E_CLOSED. Thread-safe. */
PYS_API pys_obj pys_memoryview(pys_runtime *rt, void *data, size_t len, const char *format,
                               const size_t *shape, int ndim, bool readonly);

/* Called once, with the GIL held, on whichever thread drops the last
 * Python reference to memory lent by pys_memoryview_ex (or at pys_close /
 * interpreter finalisation). It must not call into pyshim. */
typedef void (*pys_release_fn)(void *data, void *ud);

typedef struct pys_memview_desc {
    void *data;               /* first byte (NULL only when len is 0) */
    size_t len;               /* bytes that may be addressed from data */
    const char *format;       /* see above; NULL = "B" */
    int ndim;                 /* 0 with shape NULL: 1-D, len / itemsize items */
    const size_t *shape;      /* ndim entries */
    const ptrdiff_t *strides; /* ndim entries in bytes (may be negative);
                                 NULL = C-contiguous */
    bool readonly;
    pys_release_fn release;   /* NULL: the lifetime rule of pys_memoryview */
    void *release_ud;
} pys_memview_desc;

/* pys_memoryview with strides and an optional release callback. Every
 * element the shape and strides address must lie inside [data, data+len).
 * With a callback, `release(data, release_ud)` runs exactly once after the
 * memoryview and everything made from it are gone; if this call fails the
 * callback is never called. Callbacks need Python 3.9+ (3.8 cannot define
 * buffer exporters without headers): on 3.8 a desc with a callback gives
 * PYS_E_UNSUPPORTED. Same errors as pys_memoryview, plus PYS_E_ARG for a
 * NULL desc. Thread-safe. */
PYS_API pys_obj pys_memoryview_ex(pys_runtime *rt, const pys_memview_desc *desc);

/* Copies len bytes into a new, writable memoryview that owns its memory
 * (a bytearray underneath), typed and shaped as for pys_memoryview. Only
 * native formats (no < > = ! prefix) can be copied. New handle or PYS_NULL
 * (same errors as pys_memoryview, PYS_E_NOMEM). Thread-safe. */
PYS_API pys_obj pys_memoryview_copy(pys_runtime *rt, const void *data, size_t len,
                                    const char *format, const size_t *shape, int ndim);

/* ======================================================================= */
/* Python buffers as C memory (zero-copy)                                  */
/* ======================================================================= */

/* A view of an exporter's memory. Fill with pys_buffer_get, read the
 * public fields, end with pys_buffer_release. Element (i0, i1, ...) is at
 * (char *)data + i0*strides[0] + i1*strides[1] + ... */
typedef struct pys_buffer {
    void *data;               /* first element's address */
    size_t len;               /* bytes: itemsize * product(shape) */
    size_t itemsize;          /* bytes per element */
    const char *format;       /* struct-module format ("d", "<i", "B" ...) */
    int ndim;                 /* 0 for a scalar, else 1..PYS_BUFFER_MAX_NDIM */
    const ptrdiff_t *shape;   /* ndim entries (NULL when ndim is 0) */
    const ptrdiff_t *strides; /* ndim entries in bytes (NULL when ndim is 0) */
    bool readonly;            /* writing through data is not allowed */
    bool c_contiguous;        /* data .. data+len holds the elements in C order */
    pys_obj owner_;           /* private: the handle keeping the export alive */
} pys_buffer;

enum {
    PYS_BUF_READ = 0,         /* a read-only view is enough */
    PYS_BUF_WRITABLE = 1,     /* refuse read-only exporters (PYS_E_VALUE) */
    PYS_BUF_C_CONTIGUOUS = 2, /* C-order memory only (else PYS_E_VALUE) */
};

/* Exports o's buffer into *view (flags: PYS_BUF_*, or'ed). The exporter is
 * locked against resizing and kept alive until pys_buffer_release(view);
 * the export is an owned handle internally, so it also ends at the
 * pys_scope_end of the scope open when it was taken, and at pys_close —
 * after which view->data must not be used. The struct may be copied;
 * release it once. Returns PYS_OK; PYS_E_TYPE (o has no buffer protocol:
 * str, int ...), PYS_E_VALUE (PYS_BUF_WRITABLE on a read-only exporter,
 * or the exporter cannot give C-contiguous memory), PYS_E_HANDLE,
 * PYS_E_ARG (NULL view, unknown flags), PYS_E_CLOSED. On failure *view is
 * zeroed. Thread-safe; reading view->data needs no GIL, but another
 * thread's Python code may write the memory concurrently. */
PYS_API int pys_buffer_get(pys_obj o, pys_buffer *view, int flags);

/* Ends an export taken by pys_buffer_get and zeroes *view. Returns PYS_OK;
 * PYS_E_HANDLE when already released (also by a scope or another copy of
 * the struct), PYS_E_ARG for NULL, PYS_E_CLOSED. Thread-safe. */
PYS_API int pys_buffer_release(pys_buffer *view);

/* ======================================================================= */
/* Bulk numeric arrays (copies, no handle per element)                     */
/* ======================================================================= */

typedef enum pys_elem {
    PYS_ELEM_DOUBLE = 0, /* double   <-> float, buffer format "d" */
    PYS_ELEM_FLOAT = 1,  /* float    <-> float, buffer format "f" */
    PYS_ELEM_INT64 = 2,  /* int64_t  <-> int,   buffer format "q" */
    PYS_ELEM_INT32 = 3,  /* int32_t  <-> int,   buffer format "i" */
} pys_elem;

/* n C values of type `t` to a new list / tuple of float or int. New handle,
 * or PYS_NULL (PYS_E_ARG: NULL v with n > 0 or unknown t; PYS_E_NOMEM;
 * PYS_E_OVERFLOW: n too large; PYS_E_CLOSED). Thread-safe. */
PYS_API pys_obj pys_list_from_array(pys_runtime *rt, pys_elem t, const void *v, size_t n);
PYS_API pys_obj pys_tuple_from_array(pys_runtime *rt, pys_elem t, const void *v, size_t n);

/* Reads o into out[0..cap) as type `t`. o may be a list, a tuple, any
 * other sequence, or a buffer exporter (numpy array, array.array,
 * memoryview, bytes), which is read directly from its memory in C order
 * (every dimension flattened) when its format is numeric.
 * *n_out gets the number of elements; when it exceeds cap nothing is written
 * and PYS_E_OVERFLOW is returned (call again with a larger array).
 * Conversions are checked, never wrapped: int targets take int (and bool,
 * and objects with __index__) or integer buffer formats, and fail with
 * PYS_E_OVERFLOW when a value does not fit; float targets take float, int
 * and objects with __float__ / __index__ (numpy scalars), and a finite
 * value beyond FLT_MAX is PYS_E_OVERFLOW for PYS_ELEM_FLOAT. A wrong type
 * is PYS_E_TYPE. Element errors name the index ("item 3: ..."); out may
 * then be partly written. Also PYS_E_ARG, PYS_E_HANDLE, PYS_E_CLOSED.
 * Thread-safe. */
PYS_API int pys_to_array(pys_obj o, pys_elem t, void *out, size_t cap, size_t *n_out);

/* Typed shorthands of the three calls above (pys_list_from_doubles,
 * pys_list_from_int64s, pys_to_doubles and pys_to_int64s are in pyshim.h
 * and behave the same way). */
PYS_API pys_obj pys_list_from_floats(pys_runtime *rt, const float *v, size_t n);
PYS_API pys_obj pys_list_from_int32s(pys_runtime *rt, const int32_t *v, size_t n);
PYS_API pys_obj pys_tuple_from_doubles(pys_runtime *rt, const double *v, size_t n);
PYS_API pys_obj pys_tuple_from_floats(pys_runtime *rt, const float *v, size_t n);
PYS_API pys_obj pys_tuple_from_int64s(pys_runtime *rt, const int64_t *v, size_t n);
PYS_API pys_obj pys_tuple_from_int32s(pys_runtime *rt, const int32_t *v, size_t n);
PYS_API int pys_to_floats(pys_obj o, float *out, size_t cap, size_t *n_out);
PYS_API int pys_to_int32s(pys_obj o, int32_t *out, size_t cap, size_t *n_out);

#ifdef __cplusplus
}
#endif

#endif
