/* The CPython C-API as a table of function pointers, filled at run time
 * from the dlopen'ed libpython. No Python header is used: the few types the
 * signatures need are declared here as opaque structs (or, for Py_buffer and
 * PyMethodDef, with their documented, version-stable layouts).
 *
 * Everything outside src/loader calls CPython only through `pys__capi`. */
#ifndef PYS_CAPI_H
#define PYS_CAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <wchar.h>

#include "loader/loader.h"

typedef struct pys__pyobject PyObject;
typedef struct pys__pythreadstate PyThreadState;
typedef struct pys__pyinterpreterstate PyInterpreterState;
typedef struct pys__pyinitconfig PyInitConfig;
typedef ssize_t Py_ssize_t;

/* Py_buffer: part of the stable ABI since 3.11 and unchanged since 3.3. */
typedef struct Py_buffer {
    void *buf;
    PyObject *obj;
    Py_ssize_t len;
    Py_ssize_t itemsize;
    int readonly;
    int ndim;
    char *format;
    Py_ssize_t *shape;
    Py_ssize_t *strides;
    Py_ssize_t *suboffsets;
    void *internal;
} Py_buffer;

/* PyMethodDef: stable ABI. */
typedef PyObject *(*PyCFunction)(PyObject *, PyObject *);
typedef struct PyMethodDef {
    const char *ml_name;
    PyCFunction ml_meth;
    int ml_flags;
    const char *ml_doc;
} PyMethodDef;

/* PyType_Slot / PyType_Spec: stable ABI. */
typedef struct PyType_Slot {
    int slot;
    void *pfunc;
} PyType_Slot;
typedef struct PyType_Spec {
    const char *name;
    int basicsize;
    int itemsize;
    unsigned int flags;
    PyType_Slot *slots;
} PyType_Spec;

/* PyStatus (PEP 587): returned by value by the pre-initialisation and
 * config functions; the same layout 3.8-3.14. */
typedef struct PyStatus {
    int _type; /* 0 ok, 1 error, 2 exit */
    const char *func;
    const char *err_msg;
    int exitcode;
} PyStatus;

/* PyPreConfig (PEP 587): ten ints, the same order 3.8-3.14 outside
 * Windows. Filled only by PyPreConfig_InitPythonConfig, whose documented
 * defaults init.c checks before it writes a field; the spare room covers a
 * version that appends fields. */
enum {
    PYS__PRE_CONFIG_INIT,
    PYS__PRE_PARSE_ARGV,
    PYS__PRE_ISOLATED,
    PYS__PRE_USE_ENVIRONMENT,
    PYS__PRE_CONFIGURE_LOCALE,
    PYS__PRE_COERCE_C_LOCALE,
    PYS__PRE_COERCE_C_LOCALE_WARN,
    PYS__PRE_UTF8_MODE,
    PYS__PRE_DEV_MODE,
    PYS__PRE_ALLOCATOR,
};
typedef struct PyPreConfig {
    int f[32];
} PyPreConfig;

/* Constants from the stable ABI (values fixed since 3.x). */
#define PYS__Py_single_input 256
#define PYS__Py_file_input 257
#define PYS__Py_eval_input 258
#define PYS__METH_VARARGS 0x0001
#define PYS__METH_KEYWORDS 0x0002
#define PYS__METH_NOARGS 0x0004
#define PYS__METH_O 0x0008
#define PYS__METH_FASTCALL 0x0080
#define PYS__PyBUF_SIMPLE 0
#define PYS__PyBUF_WRITABLE 0x0001
#define PYS__PyBUF_FORMAT 0x0004
#define PYS__PyBUF_ND 0x0008
#define PYS__PyBUF_STRIDES (0x0010 | PYS__PyBUF_ND)
#define PYS__PyBUF_FULL_RO (PYS__PyBUF_STRIDES | PYS__PyBUF_FORMAT | 0x0100)
#define PYS__PyBUF_RECORDS_RO (PYS__PyBUF_STRIDES | PYS__PyBUF_FORMAT)
#define PYS__PyBUF_READ 0x100
#define PYS__PyBUF_WRITE 0x200
#define PYS__Py_LT 0
#define PYS__Py_TPFLAGS_LONG_SUBCLASS (1UL << 24)
#define PYS__Py_TPFLAGS_LIST_SUBCLASS (1UL << 25)
#define PYS__Py_TPFLAGS_TUPLE_SUBCLASS (1UL << 26)
#define PYS__Py_TPFLAGS_BYTES_SUBCLASS (1UL << 27)
#define PYS__Py_TPFLAGS_UNICODE_SUBCLASS (1UL << 28)
#define PYS__Py_TPFLAGS_DICT_SUBCLASS (1UL << 29)
#define PYS__Py_TPFLAGS_BASE_EXC_SUBCLASS (1UL << 30)
#define PYS__Py_TPFLAGS_TYPE_SUBCLASS (1UL << 31)
#define PYS__PY_VECTORCALL_ARGUMENTS_OFFSET ((size_t)1 << (8 * sizeof(size_t) - 1))

/* PyMemAllocatorEx (documented, stable since 3.5) and the audit hook
 * signature (PEP 578, 3.8). Domains: 0 raw, 1 mem, 2 obj. */
typedef struct PyMemAllocatorEx {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} PyMemAllocatorEx;
typedef int (*Py_AuditHookFunction)(const char *event, PyObject *args, void *ud);

typedef struct pys__capi {
#define PYS_FN(ret, name, params, since, req) ret(*name) params;
#define PYS_DATA(name, since, req) void *name;
#include "capi.def"
#undef PYS_FN
#undef PYS_DATA
} pys__capi;

/* The process-wide table; valid once pys__capi_load succeeded. Never
 * unloaded: CPython cannot be dlclose'd safely. */
extern pys__capi pys__api;

/* Resolves one symbol. The default resolver is dlsym on the opened
 * library; tests substitute their own. */
typedef void *(*pys__resolve_fn)(void *ctx, const char *name);

/* Fills `t` using `resolve`. `version` is 0xMMmm of the library. Returns
 * PYS_OK, or PYS_E_SYMBOL naming the first missing required symbol and the
 * version (all missing ones are listed in d->searched). */
int pys__capi_resolve(pys__capi *t, pys__resolve_fn resolve, void *ctx, int version,
                      pys__diag *d);

/* Number of entries in the table and the name of entry i (for tests/CLI). */
size_t pys__capi_count(void);
const char *pys__capi_name(size_t i);

/* What pys__capi_load found out about the library itself. */
typedef struct pys__libinfo {
    int version;        /* 0xMMmm */
    int micro;
    unsigned abi;       /* PYS__ABI_T (its version text says "free-threading
                           build"), PYS__ABI_D (it exports the debug-build
                           _Py_NegativeRefcount) */
    bool untested;      /* minor > PYS__MAX_MINOR */
} pys__libinfo;

/* dlopen(path, RTLD_NOW|RTLD_GLOBAL), read its version (Py_GetVersion, checked
 * against `expect_major/minor` from the file name when non-zero) and resolve
 * the table into pys__api. Loading a second, different library in one
 * process is PYS_E_STATE. A minor newer than PYS__MAX_MINOR is PYS_E_LOAD
 * when refuse_untested; otherwise it loads if every required symbol
 * resolves (PYS_E_SYMBOL names the first that does not and says the
 * version is untested). On success *out is filled. */
int pys__capi_load(const char *path, int expect_major, int expect_minor, bool refuse_untested,
                   pys__libinfo *out, pys__diag *d);

/* Shorthands for data symbols. */
#define PYS__None ((PyObject *)pys__api._Py_NoneStruct)
#define PYS__True ((PyObject *)pys__api._Py_TrueStruct)
#define PYS__False ((PyObject *)pys__api._Py_FalseStruct)
#define PYS__TYPE(name) ((PyObject *)pys__api.name)
/* PyExc_* are `PyObject *` variables: the symbol is their address. */
#define PYS__EXC(name) (*(PyObject **)pys__api.PyExc_##name)

#endif
