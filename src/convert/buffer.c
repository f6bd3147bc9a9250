/* Zero-copy buffers in both directions.
 *
 * Design notes: docs/internals.md, "src/convert/buffer.c". */
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "convert/buffer.h"

/* PyBUF_* request bits and type slot ids (stable ABI values). */
#define BUF_WRITABLE 0x0001
#define BUF_FORMAT 0x0004
#define BUF_ND 0x0008
#define BUF_STRIDES 0x0018
#define BUF_C_CONTIGUOUS 0x0038
#define BUF_F_CONTIGUOUS 0x0058
#define BUF_ANY_CONTIGUOUS 0x0098
#define REQ(flags, bits) (((flags) & (bits)) == (bits))
#define SLOT_bf_getbuffer 1
#define SLOT_tp_doc 56
#define SLOT_tp_finalize 80
#define TPFLAGS_DEFAULT (1UL << 18)                 /* Py_TPFLAGS_HAVE_VERSION_TAG */
#define TPFLAGS_DISALLOW_INSTANTIATION (1UL << 7) /* 3.10+ */

_Static_assert(sizeof(Py_ssize_t) == sizeof(ptrdiff_t), "Py_ssize_t is ptrdiff_t-sized");

/* ---- formats ------------------------------------------------------------------- */

#define CODES "bBhHiIlLqQnNefd?cP"
#define NCODES (sizeof CODES - 1)
#define ROW(p)                                                                                     \
    {                                                                                              \
        p "b", p "B", p "h", p "H", p "i", p "I", p "l", p "L", p "q", p "Q", p "n", p "N", p "e", \
            p "f", p "d", p "?", p "c", p "P"                                                      \
    }
static const char PREFIXES[] = "@=<>!";
static const char canon_tab[6][NCODES][3] = {ROW(""), ROW("@"), ROW("="), ROW("<"), ROW(">"),
                                             ROW("!")};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BIG 1
#else
#define HOST_BIG 0
#endif

bool pys__bfmt_parse(const char *fmt, pys__bfmt *out)
{
    const char *s = fmt ? fmt : "B";
    int prefix = 0; /* index into canon_tab: 0 none, 1 '@', 2 '=', 3 '<', 4 '>', 5 '!' */
    if (*s && strchr(PREFIXES, *s)) {
        prefix = 1 + (int)(strchr(PREFIXES, *s) - PREFIXES);
        s++;
    }
    if (!*s || s[1] != '\0')
        return false;
    const char *c = strchr(CODES, *s);
    if (!c)
        return false;
    bool native = prefix <= 1;
    Py_ssize_t size;
    char kind;
    pys__bfmt_code(*s, native, &size, &kind);
    if (!native && (*s == 'n' || *s == 'N' || *s == 'P'))
        return false; /* struct: native-only codes */
    bool big = prefix == 4 || prefix == 5;
    *out = (pys__bfmt){
        .code = *s,
        .kind = kind,
        .swap = prefix >= 3 && big != HOST_BIG && size > 1,
        .itemsize = size,
        .canon = canon_tab[prefix][c - CODES],
    };
    return true;
}

/* ---- describing C memory ------------------------------------------------------- */

typedef struct layout {
    pys__bfmt f;
    int ndim;
    Py_ssize_t nitems;
    Py_ssize_t first; /* byte offset of element (0, ..., 0) from data */
    bool c_contig, f_contig;
    Py_ssize_t shape[PYS_BUFFER_MAX_NDIM];
    Py_ssize_t strides[PYS_BUFFER_MAX_NDIM];
} layout;

static bool contiguous(const layout *L, bool c_order)
{
    if (L->nitems == 0)
        return true;
    Py_ssize_t want = L->f.itemsize;
    for (int k = 0; k < L->ndim; k++) {
        int i = c_order ? L->ndim - 1 - k : k;
        if (L->shape[i] > 1 && L->strides[i] != want)
            return false;
        want *= L->shape[i];
    }
    return true;
}

/* Validates a description; returns PYS_OK or an error code (error set). */
static int make_layout(const pys_memview_desc *d, layout *L, const char *fn)
{
    if (!pys__bfmt_parse(d->format, &L->f))
        return pys__fail(fn, PYS_E_VALUE,
                         "%s: unsupported format \"%s\" (expected one struct type code of "
                         "\"" CODES "\", optionally after one of \"%s\")",
                         fn, d->format, PREFIXES);
    Py_ssize_t isz = L->f.itemsize;
    if (d->len > (size_t)PTRDIFF_MAX)
        return pys__fail(fn, PYS_E_OVERFLOW, "%s: len %zu is too large", fn, d->len);
    if (!d->data && d->len)
        return pys__fail(fn, PYS_E_ARG, "%s: data is NULL but len is %zu", fn, d->len);
    Py_ssize_t len = (Py_ssize_t)d->len;
    L->first = 0;
    if (!d->shape) {
        if (d->ndim != 0 && d->ndim != 1)
            return pys__fail(fn, PYS_E_ARG, "%s: ndim is %d but shape is NULL", fn, d->ndim);
        if (d->strides)
            return pys__fail(fn, PYS_E_ARG, "%s: strides given without a shape", fn);
        if (len % isz)
            return pys__fail(fn, PYS_E_VALUE,
                             "%s: len %zu is not a multiple of the item size %zd of \"%s\"", fn,
                             d->len, isz, L->f.canon);
        L->ndim = 1;
        L->shape[0] = L->nitems = len / isz;
        L->strides[0] = isz;
        L->c_contig = L->f_contig = true;
        return PYS_OK;
    }
    if (d->ndim < 1 || d->ndim > PYS_BUFFER_MAX_NDIM)
        return pys__fail(fn, PYS_E_ARG, "%s: ndim must be 1..%d, not %d", fn, PYS_BUFFER_MAX_NDIM,
                         d->ndim);
    L->ndim = d->ndim;
    Py_ssize_t n = 1;
    for (int i = 0; i < d->ndim; i++) {
        if (d->shape[i] > (size_t)PTRDIFF_MAX || __builtin_mul_overflow(n, (Py_ssize_t)d->shape[i], &n))
            return pys__fail(fn, PYS_E_OVERFLOW, "%s: the shape has too many elements", fn);
        L->shape[i] = (Py_ssize_t)d->shape[i];
    }
    Py_ssize_t bytes;
    if (__builtin_mul_overflow(n, isz, &bytes))
        return pys__fail(fn, PYS_E_OVERFLOW, "%s: the shape has too many elements", fn);
    L->nitems = n;
    if (!d->strides) {
        Py_ssize_t st = isz;
        for (int i = d->ndim - 1; i >= 0; i--) {
            L->strides[i] = st;
            st *= L->shape[i] ? L->shape[i] : 1; /* bounded by bytes (or 0 items) */
        }
        if (bytes != len)
            return pys__fail(fn, PYS_E_VALUE,
                             "%s: the shape holds %zd bytes of \"%s\" but len is %zu", fn, bytes,
                             L->f.canon, d->len);
    } else {
        Py_ssize_t lo = 0, hi = 0; /* offsets of the lowest/highest element from element 0 */
        for (int i = 0; i < d->ndim; i++) {
            Py_ssize_t st = d->strides[i], ext;
            L->strides[i] = st;
            if (L->shape[i] == 0)
                continue;
            if (__builtin_mul_overflow(st, L->shape[i] - 1, &ext) ||
                __builtin_add_overflow(ext < 0 ? lo : hi, ext, ext < 0 ? &lo : &hi))
                return pys__fail(fn, PYS_E_OVERFLOW, "%s: the strides overflow", fn);
        }
        Py_ssize_t top;
        if (n > 0 && (__builtin_sub_overflow(hi, lo, &top) ||
                      __builtin_add_overflow(top, isz, &top) || top > len))
            return pys__fail(fn, PYS_E_VALUE,
                             "%s: the shape and strides address bytes outside the %zu given", fn,
                             d->len);
        L->first = n > 0 ? -lo : 0;
    }
    L->c_contig = contiguous(L, true);
    L->f_contig = contiguous(L, false);
    return PYS_OK;
}

/* ---- the exporter type (3.9+) ----------------------------------------------------- */

typedef struct mvstate {
    void *block;       /* desc.data, handed back to the callback */
    void *buf;         /* element (0, ..., 0) */
    Py_ssize_t len, itemsize;
    const char *format; /* static */
    int ndim;
    bool readonly, c_contig, f_contig;
    pys_release_fn release;
    void *ud;
    Py_ssize_t dims[]; /* shape[ndim] then strides[ndim] */
} mvstate;

static _Atomic(PyObject *) exp_type;
static _Atomic Py_ssize_t exp_hdr; /* object header size: where mvstate * lives */

static mvstate **state_slot(PyObject *self)
{
    return (mvstate **)(void *)((char *)self + atomic_load_explicit(&exp_hdr, memory_order_relaxed));
}

static int exp_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    const mvstate *s = *state_slot(self);
    const char *why = NULL;
    if (!s)
        why = "this object was not made by pyshim";
    else if ((flags & BUF_WRITABLE) && s->readonly)
        why = "the memory is read-only";
    else if ((REQ(flags, BUF_C_CONTIGUOUS) && !s->c_contig) ||
             (!REQ(flags, BUF_STRIDES) && !s->c_contig))
        why = "the memory is not C-contiguous";
    else if (REQ(flags, BUF_F_CONTIGUOUS) && !s->f_contig)
        why = "the memory is not Fortran-contiguous";
    else if (REQ(flags, BUF_ANY_CONTIGUOUS) && !s->c_contig && !s->f_contig)
        why = "the memory is not contiguous";
    else if (!REQ(flags, BUF_ND) && (flags & BUF_FORMAT) && s->itemsize != 1)
        why = "a typed view needs a shape (PyBUF_ND)";
    if (why) {
        view->obj = NULL;
        pys__raise(PYS__EXC(BufferError), "pyshim.CMemory: %s", why);
        return -1;
    }
    pys__api.Py_IncRef(self);
    *view = (Py_buffer){
        .buf = s->buf,
        .obj = self,
        .len = s->len,
        .itemsize = s->itemsize,
        .readonly = s->readonly,
        .ndim = s->ndim,
        .format = (flags & BUF_FORMAT) ? (char *)s->format : NULL,
        .shape = REQ(flags, BUF_ND) ? (Py_ssize_t *)s->dims : NULL,
        .strides = REQ(flags, BUF_STRIDES) ? (Py_ssize_t *)s->dims + s->ndim : NULL,
    };
    if (!REQ(flags, BUF_ND)) {
        view->ndim = 1; /* plain bytes */
        view->itemsize = 1;
    }
    return 0;
}

/* Runs once the exporter is unreachable: every memoryview and export of it
 * is gone, so the memory can be handed back. */
static void exp_finalize(PyObject *self)
{
    mvstate **slot = state_slot(self);
    mvstate *s = *slot;
    *slot = NULL;
    if (!s)
        return;
    if (s->release)
        s->release(s->block, s->ud);
    free(s);
}

static void exp_on_close(pys_runtime *rt)
{
    (void)rt;
    PyObject *t = atomic_exchange(&exp_type, NULL);
    if (t)
        pys__api.Py_DecRef(t); /* live exporters keep their type alive */
}

/* A new reference to the exporter type, created on first use. */
static PyObject *exporter_type(pys_runtime *rt, const char *fn)
{
    PyObject *t = atomic_load_explicit(&exp_type, memory_order_acquire);
    if (t) {
        pys__api.Py_IncRef(t);
        return t;
    }
    PyObject *object = pys__api.PyObject_GetAttrString(rt->builtins, "object");
    PyObject *bs = object ? pys__api.PyObject_GetAttrString(object, "__basicsize__") : NULL;
    long hdr = bs ? pys__api.PyLong_AsLong(bs) : -1;
    pys__api.Py_DecRef(object);
    pys__api.Py_DecRef(bs);
    if (hdr <= 0 || hdr > 4096 || hdr % (long)sizeof(void *)) {
        if (pys__api.PyErr_Occurred())
            pys__api.PyErr_Clear();
        pys__fail(fn, PYS_E_INTERNAL, "%s: cannot tell the object header size (%ld)", fn, hdr);
        return NULL;
    }
    atomic_store_explicit(&exp_hdr, (Py_ssize_t)hdr, memory_order_relaxed);
    static char doc[] = "C memory lent to Python by pyshim (pys_memoryview_ex)";
    PyType_Slot slots[] = {
        {SLOT_bf_getbuffer, (void *)exp_getbuffer},
        {SLOT_tp_finalize, (void *)exp_finalize},
        {SLOT_tp_doc, doc},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = "pyshim.CMemory",
        .basicsize = (int)hdr + (int)sizeof(mvstate *),
        .flags = (unsigned)(TPFLAGS_DEFAULT |
                            (rt->version >= 0x030a ? TPFLAGS_DISALLOW_INSTANTIATION : 0)),
        .slots = slots,
    };
    t = pys__api.PyType_FromSpec(&spec);
    if (!t) {
        pys__fail_py(rt, fn);
        return NULL;
    }
    /* Publish (another thread may have won on a free-threaded build) and
     * drop it at close. */
    PyObject *expect = NULL;
    bool cached = false;
    if (atomic_compare_exchange_strong(&exp_type, &expect, t)) {
        pys__close_at(rt, PYS__CLOSE_EXPORTS, exp_on_close);
        cached = true;
    }
    if (cached)
        pys__api.Py_IncRef(t); /* one for the cache, one for the caller */
    return t;
}

/* ---- C memory -> memoryview ------------------------------------------------------ */

static char empty_block[8];

static PyObject *view_from_buffer(const pys_memview_desc *d, const layout *L)
{
    Py_buffer b = {
        .buf = d->data ? (char *)d->data + L->first : empty_block,
        .obj = NULL,
        .len = L->nitems * L->f.itemsize,
        .itemsize = L->f.itemsize,
        .readonly = d->readonly,
        .ndim = L->ndim,
        .format = (char *)L->f.canon,
        .shape = (Py_ssize_t *)L->shape,
        .strides = (Py_ssize_t *)L->strides,
    };
    return pys__api.PyMemoryView_FromBuffer(&b);
}

static PyObject *view_from_exporter(pys_runtime *rt, const pys_memview_desc *d, const layout *L,
                                    const char *fn)
{
    PyObject *type = exporter_type(rt, fn);
    if (!type)
        return NULL;
    /* ndim <= PYS_BUFFER_MAX_NDIM (make_layout): no overflow */
    mvstate *s = malloc(sizeof *s + 2 * (size_t)L->ndim * sizeof(Py_ssize_t));
    if (!s) {
        pys__api.Py_DecRef(type);
        pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    *s = (mvstate){
        .block = d->data,
        .buf = d->data ? (char *)d->data + L->first : empty_block,
        .len = L->nitems * L->f.itemsize,
        .itemsize = L->f.itemsize,
        .format = L->f.canon,
        .ndim = L->ndim,
        .readonly = d->readonly,
        .c_contig = L->c_contig,
        .f_contig = L->f_contig,
        .release = d->release,
        .ud = d->release_ud,
    };
    memcpy(s->dims, L->shape, (size_t)L->ndim * sizeof(Py_ssize_t));
    memcpy(s->dims + L->ndim, L->strides, (size_t)L->ndim * sizeof(Py_ssize_t));
    PyObject *ex = pys__api.PyType_GenericAlloc(type, 0);
    pys__api.Py_DecRef(type);
    if (!ex) {
        free(s);
        pys__fail_py(rt, fn);
        return NULL;
    }
    *state_slot(ex) = s;
    PyObject *mv = pys__api.PyMemoryView_FromObject(ex);
    if (!mv) {
        s->release = NULL; /* a failed call never calls the callback */
        pys__fail_py(rt, fn);
    }
    pys__api.Py_DecRef(ex);
    return mv;
}

static pys_obj memview(pys_runtime *rt, const pys_memview_desc *d, const char *fn)
{
    if (!pys__begin(rt, fn))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    layout L;
    if (!d) {
        pys__fail(fn, PYS_E_ARG, "%s: desc is NULL", fn);
        goto out;
    }
    if (make_layout(d, &L, fn) != PYS_OK)
        goto out;
    PyObject *mv;
    if (!d->release) {
        mv = view_from_buffer(d, &L);
        if (!mv)
            pys__fail_py(rt, fn);
    } else if (rt->version < 0x0309) {
        pys__fail(fn, PYS_E_UNSUPPORTED,
                  "%s: release callbacks need Python 3.9 or later (3.8 cannot define buffer "
                  "exporters without its headers); use pys_memoryview's lifetime rule",
                  fn);
        goto out;
    } else {
        mv = view_from_exporter(rt, d, &L, fn);
    }
    if (mv)
        out = pys__h_new(rt, mv, fn);
out:
    pys__end(rt);
    return out;
}

pys_obj pys_memoryview(pys_runtime *rt, void *data, size_t len, const char *format,
                       const size_t *shape, int ndim, bool readonly)
{
    pys_memview_desc d = {.data = data, .len = len, .format = format, .ndim = ndim,
                          .shape = shape, .readonly = readonly};
    return memview(rt, &d, __func__);
}

pys_obj pys_memoryview_ex(pys_runtime *rt, const pys_memview_desc *desc)
{
    return memview(rt, desc, __func__);
}

pys_obj pys_memoryview_copy(pys_runtime *rt, const void *data, size_t len, const char *format,
                            const size_t *shape, int ndim)
{
    static const char fn[] = "pys_memoryview_copy";
    if (!pys__begin(rt, fn))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    pys_memview_desc d = {.data = (void *)(uintptr_t)data, .len = len, .format = format,
                          .ndim = ndim, .shape = shape};
    layout L;
    if (make_layout(&d, &L, fn) != PYS_OK)
        goto out;
    if (strchr("=<>!", L.f.canon[0])) {
        pys__fail(fn, PYS_E_VALUE, "%s: only native formats can be copied, not \"%s\"", fn,
                  L.f.canon);
        goto out;
    }
    PyObject *ba = pys__api.PyByteArray_FromStringAndSize(data ? data : "", (Py_ssize_t)len);
    PyObject *mv = ba ? pys__api.PyMemoryView_FromObject(ba) : NULL;
    pys__api.Py_DecRef(ba);
    if (mv && (L.f.code != 'B' || L.ndim != 1)) {
        /* mv.cast(format, shape): the bytearray stays the owner. */
        PyObject *cast = pys__api.PyObject_GetAttrString(mv, "cast");
        PyObject *args = pys__api.PyTuple_New(2);
        PyObject *fs = pys__api.PyUnicode_FromString(L.f.canon);
        PyObject *sh = pys__api.PyTuple_New(L.ndim);
        PyObject *r = NULL;
        if (cast && args && fs && sh) {
            bool ok = true;
            for (int i = 0; ok && i < L.ndim; i++) {
                PyObject *x = pys__api.PyLong_FromSsize_t(L.shape[i]);
                ok = x && pys__api.PyTuple_SetItem(sh, i, x) == 0;
            }
            if (ok) {
                pys__api.PyTuple_SetItem(args, 0, fs);
                pys__api.PyTuple_SetItem(args, 1, sh);
                fs = sh = NULL;
                r = pys__api.PyObject_CallObject(cast, args);
            }
        }
        PyObject *drop[] = {cast, args, fs, sh, mv};
        for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
            pys__api.Py_DecRef(drop[i]);
        mv = r;
    }
    out = pys__h_new_py(rt, mv, fn);
out:
    pys__end(rt);
    return out;
}

/* ---- Python buffer -> C --------------------------------------------------------------- */

#define HOLDER_NAME "pyshim.buffer"

typedef struct holder {
    Py_buffer view;
    Py_ssize_t *fill; /* shape/strides when the exporter gave none */
} holder;

static void holder_destroy(PyObject *cap)
{
    holder *h = pys__api.PyCapsule_GetPointer(cap, HOLDER_NAME);
    if (!h) {
        pys__api.PyErr_Clear();
        return;
    }
    pys__api.PyBuffer_Release(&h->view);
    free(h->fill);
    free(h);
}

/* Fills missing shape/strides (exporters may omit them for C-contiguous
 * memory). Returns false on out-of-memory. */
static bool complete(holder *h)
{
    Py_buffer *v = &h->view;
    if (v->ndim <= 0 || (v->shape && v->strides))
        return true;
    h->fill = pys__malloc_n((size_t)v->ndim, 2 * sizeof(Py_ssize_t));
    if (!h->fill)
        return false;
    Py_ssize_t *shape = h->fill, *strides = h->fill + v->ndim;
    if (v->shape)
        memcpy(shape, v->shape, (size_t)v->ndim * sizeof(Py_ssize_t));
    else
        shape[0] = v->itemsize ? v->len / v->itemsize : v->len; /* ndim is 1 without a shape */
    Py_ssize_t st = v->itemsize ? v->itemsize : 1;
    for (int i = v->ndim - 1; i >= 0; i--) {
        strides[i] = st;
        st *= shape[i];
    }
    if (v->strides)
        memcpy(strides, v->strides, (size_t)v->ndim * sizeof(Py_ssize_t));
    v->shape = shape;
    v->strides = strides;
    return true;
}

int pys_buffer_get(pys_obj o, pys_buffer *view, int flags)
{
    static const char fn[] = "pys_buffer_get";
    if (!view)
        return pys__fail(fn, PYS_E_ARG, "%s: view is NULL", fn);
    memset(view, 0, sizeof *view);
    if (flags & ~(PYS_BUF_WRITABLE | PYS_BUF_C_CONTIGUOUS))
        return pys__fail(fn, PYS_E_ARG, "%s: unknown flags %#x", fn, (unsigned)flags);
    pys_runtime *rt = pys__begin_h(fn);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    holder *h = NULL;
    /* Held: an exporter written in Python (__buffer__) runs code that can
     * let go of the GIL while another thread releases o. */
    PyObject *obj = pys__h_ref(rt, o, fn);
    if (!obj) {
        rc = PYS_E_HANDLE;
        goto out;
    }
    char tn[128];
    if (!(h = calloc(1, sizeof *h))) {
        rc = pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        goto out;
    }
    int req = BUF_STRIDES | BUF_FORMAT;
    if (flags & PYS_BUF_C_CONTIGUOUS)
        req |= BUF_C_CONTIGUOUS;
    if (pys__api.PyObject_GetBuffer(obj, &h->view, req | ((flags & PYS_BUF_WRITABLE) ? BUF_WRITABLE : 0)) < 0) {
        if (pys__api.PyErr_ExceptionMatches(PYS__EXC(TypeError))) {
            pys__api.PyErr_Clear();
            rc = pys__fail(fn, PYS_E_TYPE, "%s: %s does not support the buffer protocol", fn,
                           pys__type_name(obj, tn, sizeof tn));
            goto out;
        }
        /* Read-only? Ask again without PyBUF_WRITABLE to tell. */
        if (flags & PYS_BUF_WRITABLE) {
            PyObject *t, *v, *tb;
            pys__api.PyErr_Fetch(&t, &v, &tb);
            if (pys__api.PyObject_GetBuffer(obj, &h->view, req) == 0) {
                bool ro = h->view.readonly;
                pys__api.PyBuffer_Release(&h->view);
                if (ro) {
                    PyObject *drop[] = {t, v, tb};
                    for (size_t i = 0; i < 3; i++)
                        pys__api.Py_DecRef(drop[i]);
                    rc = pys__fail(fn, PYS_E_VALUE,
                                   "%s: the %s object is read-only but PYS_BUF_WRITABLE was asked",
                                   fn, pys__type_name(obj, tn, sizeof tn));
                    goto out;
                }
            } else {
                pys__api.PyErr_Clear();
            }
            pys__api.PyErr_Restore(t, v, tb);
        }
        if (pys__api.PyErr_ExceptionMatches(PYS__EXC(BufferError)) ||
            pys__api.PyErr_ExceptionMatches(PYS__EXC(ValueError))) {
            pys__fail_py(rt, fn); /* keeps the exporter's message ("not C-contiguous") */
            pys__tls_get()->err.view.code = PYS_E_VALUE;
            rc = PYS_E_VALUE;
        } else {
            rc = pys__fail_py(rt, fn);
        }
        goto out;
    }
    if ((flags & PYS_BUF_WRITABLE) && h->view.readonly) {
        pys__api.PyBuffer_Release(&h->view);
        rc = pys__fail(fn, PYS_E_VALUE, "%s: the %s object is read-only but PYS_BUF_WRITABLE was asked", fn,
                       pys__type_name(obj, tn, sizeof tn));
        goto out;
    }
    if (!complete(h)) {
        pys__api.PyBuffer_Release(&h->view);
        rc = pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        goto out;
    }
    PyObject *cap = pys__api.PyCapsule_New(h, HOLDER_NAME, holder_destroy);
    if (!cap) {
        pys__api.PyBuffer_Release(&h->view);
        free(h->fill);
        rc = pys__fail_py(rt, fn);
        goto out;
    }
    holder *hh = h;
    h = NULL; /* owned by the capsule now */
    pys_obj owner = pys__h_new(rt, cap, fn);
    if (!pys_ok(owner)) {
        rc = pys_last_error()->code;
        goto out;
    }
    const Py_buffer *v = &hh->view;
    *view = (pys_buffer){
        .data = v->buf,
        .len = (size_t)v->len,
        .itemsize = (size_t)v->itemsize,
        .format = v->format ? v->format : "B",
        .ndim = v->ndim,
        .shape = v->ndim > 0 ? (const ptrdiff_t *)v->shape : NULL,
        .strides = v->ndim > 0 ? (const ptrdiff_t *)v->strides : NULL,
        .readonly = v->readonly != 0,
        .c_contiguous = pys__api.PyBuffer_IsContiguous(v, 'C') != 0,
        .owner_ = owner,
    };
out:
    free(h);
    pys__api.Py_DecRef(obj);
    pys__end(rt);
    return rc;
}

int pys_buffer_release(pys_buffer *view)
{
    static const char fn[] = "pys_buffer_release";
    if (!view)
        return pys__fail(fn, PYS_E_ARG, "%s: view is NULL", fn);
    pys_runtime *rt = pys__begin_h(fn);
    if (!rt)
        return pys_last_error()->code;
    int rc = pys__h_release(rt, view->owner_, fn);
    memset(view, 0, sizeof *view);
    pys__end(rt);
    return rc;
}
