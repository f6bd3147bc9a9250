/* Resolving the C-API table.
 *
 * One resolver callback does every lookup (dlsym by default), so tests can
 * drive the table from a fake library. A symbol is required when it is
 * marked REQ and the loaded version is at least the version that added it;
 * optional and removed (GONE) symbols stay NULL when absent and the feature
 * using them checks. The library is opened once per process and never
 * closed: CPython does not survive dlclose. */
#include "loader/capi.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyshim.h"

pys__capi pys__api;

enum { REQ = 1, OPT = 0, GONE = 2 };

typedef struct sym_entry {
    const char *name;
    int since;
    int req;
    bool data;
} sym_entry;

static const sym_entry syms[] = {
#define PYS_FN(ret, name, params, since, req) {#name, since, req, false},
#define PYS_DATA(name, since, req) {#name, since, req, true},
#include "capi.def"
#undef PYS_FN
#undef PYS_DATA
};

#define NSYMS (sizeof syms / sizeof syms[0])

size_t pys__capi_count(void)
{
    return NSYMS;
}

const char *pys__capi_name(size_t i)
{
    return i < NSYMS ? syms[i].name : NULL;
}

int pys__capi_resolve(pys__capi *t, pys__resolve_fn resolve, void *ctx, int version,
                      pys__diag *d)
{
    /* The table is a struct of pointers in .def order; fill it as an array.
     * Function and object pointers have the same size on every platform
     * that has dlsym (POSIX requires it). */
    _Static_assert(sizeof(pys__capi) == NSYMS * sizeof(void *), "capi table layout");
    void *slots[NSYMS];
    const char *first_missing = NULL;
    int first_since = 0;
    for (size_t i = 0; i < NSYMS; i++) {
        slots[i] = resolve(ctx, syms[i].name);
        if (!slots[i] && syms[i].req == REQ && version >= syms[i].since) {
            if (!first_missing) {
                first_missing = syms[i].name;
                first_since = syms[i].since;
            }
            pys__diag_searched(d, "missing required symbol %s (since %d.%d)", syms[i].name,
                               syms[i].since >> 8, syms[i].since & 0xff);
        }
    }
    if (first_missing)
        return pys__diag_set(d, PYS_E_SYMBOL,
                             "libpython %d.%d lacks the required C-API symbol %s "
                             "(expected since Python %d.%d)%s",
                             version >> 8, version & 0xff, first_missing, first_since >> 8,
                             first_since & 0xff,
                             (version & 0xff) > PYS__MAX_MINOR && (version >> 8) == 3
                                 ? "; this Python is newer than the tested range, which may "
                                   "have removed it: pyshim cannot run on it"
                                 : "");
    memcpy(t, slots, sizeof slots);
    return PYS_OK;
}

static void *dlsym_resolve(void *ctx, const char *name)
{
    return dlsym(ctx, name);
}

/* When the host program itself links libpython, a non-PIC host gets copy
 * relocations: Py_True, PyBool_Type ... live in the executable and
 * libpython's own code uses those copies. Data symbols must then come from
 * the global scope (the copies), not from the library's own definitions. */
static void use_global_data(pys__capi *t)
{
    void *slots[NSYMS];
    memcpy(slots, t, sizeof slots);
    for (size_t i = 0; i < NSYMS; i++) {
        if (!syms[i].data)
            continue;
        void *g = dlsym(RTLD_DEFAULT, syms[i].name);
        if (g)
            slots[i] = g;
    }
    memcpy(t, slots, sizeof slots);
}

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static void *loaded_handle;
static char *loaded_path;
static pys__libinfo loaded_info;

/* Free-threaded builds say so in their version text (3.13: "experimental
 * free-threading build", 3.14+: "free-threading build"); debug builds
 * (Py_REF_DEBUG) export _Py_NegativeRefcount, release builds do not. */
static unsigned abi_of(void *h, const char *version)
{
    unsigned abi = 0;
    if (strstr(version, "free-threading build"))
        abi |= PYS__ABI_T;
    if (dlsym(h, "_Py_NegativeRefcount"))
        abi |= PYS__ABI_D;
    return abi;
}

int pys__capi_load(const char *path, int expect_major, int expect_minor, bool refuse_untested,
                   pys__libinfo *info, pys__diag *d)
{
    int rc = PYS_OK;
    char *real = pys__realpath(path);
    if (!real)
        return pys__diag_set(d, PYS_E_LOAD, "cannot load %s: file not found", path);
    pthread_mutex_lock(&load_lock);
    if (loaded_handle) {
        if (strcmp(loaded_path, real) != 0) {
            rc = pys__diag_set(d, PYS_E_STATE,
                               "%s was already loaded in this process; cannot load %s as well "
                               "(CPython cannot be unloaded)",
                               loaded_path, real);
        } else {
            *info = loaded_info;
        }
        goto out;
    }
    /* Was this very library mapped before (the host links libpython)? */
    void *pre = dlopen(real, RTLD_NOW | RTLD_NOLOAD);
    bool host_had_it = pre != NULL;
    if (pre)
        dlclose(pre);
    void *h = dlopen(real, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        const char *e = dlerror();
        rc = pys__diag_set(d, PYS_E_LOAD, "dlopen %s failed: %s", real, e ? e : "unknown error");
        goto out;
    }
    const char *(*get_version)(void) = NULL;
    void *gv = dlsym(h, "Py_GetVersion");
    memcpy(&get_version, &gv, sizeof gv);
    if (!get_version) {
        rc = pys__diag_set(d, PYS_E_SYMBOL,
                           "%s is not a CPython runtime library: Py_GetVersion is missing", real);
        dlclose(h);
        goto out;
    }
    int major = 0, minor = 0, micro = 0;
    const char *vs = get_version();
    if (!vs || sscanf(vs, "%d.%d.%d", &major, &minor, &micro) < 2) {
        rc = pys__diag_set(d, PYS_E_LOAD, "%s reports an unreadable version \"%s\"", real,
                           vs ? vs : "(null)");
        dlclose(h);
        goto out;
    }
    if ((expect_major && expect_major != major) || (expect_major && expect_minor != minor)) {
        rc = pys__diag_set(d, PYS_E_LOAD, "%s is named for Python %d.%d but reports %d.%d", real,
                           expect_major, expect_minor, major, minor);
        dlclose(h);
        goto out;
    }
    if (major != 3 || minor < PYS__MIN_MINOR) {
        rc = pys__diag_set(d, PYS_E_LOAD, "%s is Python %d.%d; pyshim supports 3.%d and newer",
                           real, major, minor, PYS__MIN_MINOR);
        dlclose(h);
        goto out;
    }
    if (minor > PYS__MAX_MINOR && refuse_untested) {
        rc = pys__diag_set(d, PYS_E_LOAD,
                           "%s is Python %d.%d, newer than the tested range 3.%d to 3.%d, and "
                           "untested versions are refused (refuse_untested / "
                           "PYSHIM_REFUSE_UNTESTED)",
                           real, major, minor, PYS__MIN_MINOR, PYS__MAX_MINOR);
        dlclose(h);
        goto out;
    }
    int version = (major << 8) | minor;
    unsigned abi = abi_of(h, vs);
    rc = pys__capi_resolve(&pys__api, dlsym_resolve, h, version, d);
    if (rc != PYS_OK) {
        /* Nothing of it has run yet: safe to unload. */
        dlclose(h);
        goto out;
    }
    if (host_had_it)
        use_global_data(&pys__api);
    loaded_handle = h;
    loaded_path = real;
    real = NULL;
    loaded_info = (pys__libinfo){
        .version = version,
        .micro = micro,
        .abi = abi,
        .untested = minor > PYS__MAX_MINOR,
    };
    *info = loaded_info;
out:
    pthread_mutex_unlock(&load_lock);
    free(real);
    return rc;
}
