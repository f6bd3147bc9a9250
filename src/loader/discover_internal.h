/* Internal to discovery (discover.c, discover_candidate.c,
 * discover_sources.c, discover_shell.c): the probe's context and the
 * functions its units call across. One probe runs on one thread; nothing
 * here is shared between probes. */
#ifndef PYS_LOADER_DISCOVER_INTERNAL_H
#define PYS_LOADER_DISCOVER_INTERNAL_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "loader/loader.h"
#include "loader/pyversion_file.h"

/* Debian-style multiarch dir of this ABI. */
#if defined(__x86_64__) && defined(__ILP32__)
#define MULTIARCH "x86_64-linux-gnux32"
#elif defined(__x86_64__)
#define MULTIARCH "x86_64-linux-gnu"
#elif defined(__i386__)
#define MULTIARCH "i386-linux-gnu"
#elif defined(__aarch64__) && defined(__AARCH64EB__)
#define MULTIARCH "aarch64_be-linux-gnu"
#elif defined(__aarch64__)
#define MULTIARCH "aarch64-linux-gnu"
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
#define MULTIARCH "arm-linux-gnueabihf"
#elif defined(__arm__)
#define MULTIARCH "arm-linux-gnueabi"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MULTIARCH "powerpc64le-linux-gnu"
#elif defined(__powerpc64__)
#define MULTIARCH "powerpc64-linux-gnu"
#elif defined(__s390x__)
#define MULTIARCH "s390x-linux-gnu"
#elif defined(__riscv) && __riscv_xlen == 64
#define MULTIARCH "riscv64-linux-gnu"
#elif defined(__loongarch64)
#define MULTIARCH "loongarch64-linux-gnu"
#endif

typedef struct pys__disc_strset {
    char **v;
    size_t n, cap;
} pys__disc_strset;

typedef enum pys__disc_verdict { PYS__V_DUP, PYS__V_ACCEPT, PYS__V_REJECT, PYS__V_REJECT_PIN, PYS__V_REJECT_VENV } pys__disc_verdict;

typedef struct pys__disc_ctx {
    const pys__probe_opts *o;
    pys__probe *out;
    pys__diag log;      /* "searched" lines; copied into the caller's on failure */
    size_t nplaces;     /* directories and files looked at */
    size_t nrejected;
    bool oom;
    /* the pin */
    bool pinned;
    const char *pin_from;
    int pin_major, pin_minor, pin_micro; /* -1: any */
    bool pin_ft;
    bool pin_debug;
    bool refuse_untested;
    /* version requests, in order: the pin, or a .python-version's lines */
    pys__pyver req[16];
    size_t nreq;
    char *req_file;     /* the .python-version read, or NULL */
    char *name_prefix[16]; /* NAME requests: realpath of $PYENV_ROOT/versions/NAME */
    /* the venv, once its pyvenv.cfg is read */
    int venv_minor; /* -1: unknown */
    bool venv_ft;
    char *venv_home, *venv_base_prefix;
    const char *home;   /* $HOME or NULL */
    char *pyenv_root;
    pys__disc_strset dirs;        /* lib dirs already scanned (realpath) */
    pys__disc_strset path_dirs;   /* PATH entries already looked at */
    pys__disc_strset prefixes;    /* install prefixes already mapped (realpath) */
} pys__disc_ctx;

typedef enum pys__disc_name_kind { PYS__NAME_NONE, PYS__NAME_STUB, PYS__NAME_VERSION, PYS__NAME_ODD } pys__disc_name_kind;

typedef struct pys__disc_shell {
    char name[32];   /* python3, python3.11, python3.13t */
    char *found;     /* what the PATH lookup hit: a file, or a pyenv shim */
    char *exe;       /* the interpreter that runs (realpath) */
    char *pyenv;     /* the pyenv version a shim resolved to, or NULL */
    char *origin;    /* where pyenv read it (PYENV_VERSION, a file), or NULL */
    int cand;        /* its libpython candidate, or -1 */
    char *note;      /* how the library was found, or NULL */
    char *problem;   /* why it cannot be used (with the fix), or NULL */
} pys__disc_shell;

/* ---- small helpers (inline: every unit uses them) ----------------------- */

static inline const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static inline const char *env(const pys__disc_ctx *c, const char *name)
{
    return c->o->use_env ? nonempty(getenv(name)) : NULL;
}

static inline char *chk(pys__disc_ctx *c, char *s)
{
    if (!s)
        c->oom = true;
    return s;
}

/* Like pys__path_join, but "/" + "lib" is "/lib", not "//lib". */
static inline char *join(pys__disc_ctx *c, const char *dir, const char *name)
{
    return chk(c, strcmp(dir, "/") == 0 ? pys__asprintf("/%s", name) : pys__path_join(dir, name));
}

static inline const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- the probe (discover.c) --------------------------------------------- */

PYS__PRINTF(5, 6)
void pys__disc_decide(pys__disc_ctx *c, int idx, const char *source, const char *file, const char *fmt, ...);
PYS__PRINTF(4, 5)
int pys__disc_fail(pys__disc_ctx *c, pys__diag *d, int code, const char *fmt, ...);
char *pys__disc_find_upward(pys__disc_ctx *c, const char *start, const char *name, bool want_dir);
PYS__PRINTF(2, 3)
void pys__disc_place(pys__disc_ctx *c, const char *fmt, ...);
bool pys__disc_req_matches(const pys__disc_ctx *c, int ri, const pys__candidate *k);
PYS__PRINTF(5, 6)
void pys__disc_step(pys__disc_ctx *c, const char *source, const char *status, const char *file, const char *fmt, ...);
bool pys__disc_strset_add(pys__disc_ctx *c, pys__disc_strset *s, const char *str);
void pys__disc_strset_free(pys__disc_strset *s);

/* ---- candidates (discover_candidate.c) ---------------------------------- */

pys__disc_verdict pys__disc_add_lib(pys__disc_ctx *c, const char *path, const char *prefix, pys__source src);
bool pys__disc_better(const pys__candidate *a, const pys__candidate *b);
int pys__disc_choose(const pys__probe *p);
char *pys__disc_doctor(pys__disc_ctx *c, const char *prefix, int minor, bool ft);
void pys__disc_free_list(char **v, size_t n);
char **pys__disc_list_dir(pys__disc_ctx *c, const char *dir, bool (*keep)(const char *), size_t *n);
pys__disc_name_kind pys__disc_parse_libname(const char *name, int *major, int *minor, bool *ft, bool *debug);
bool pys__disc_parse_version_str(const char *s, int *minor, bool *ft);
bool pys__disc_pin_matches(const pys__disc_ctx *c, int major, int minor, bool ft, bool debug);
bool pys__disc_read_num(const char **p, int *out);
bool pys__disc_scan_libdir(pys__disc_ctx *c, const char *dir, const char *prefix, pys__source src,
                        bool log_missing);
bool pys__disc_scan_prefix(pys__disc_ctx *c, const char *prefix_in, pys__source src);
bool pys__disc_under_dir(const char *path, const char *dir);

/* ---- sources (discover_sources.c) --------------------------------------- */

int pys__disc_do_envs(pys__disc_ctx *c, pys__diag *d);
int pys__disc_do_explicit(pys__disc_ctx *c, const char *lib, const char *from, pys__diag *d);
void pys__disc_do_ldcache(pys__disc_ctx *c);
void pys__disc_do_path(pys__disc_ctx *c);
int pys__disc_do_project_venv(pys__disc_ctx *c, pys__diag *d);
void pys__disc_do_pyenv(pys__disc_ctx *c);
void pys__disc_do_system(pys__disc_ctx *c);
void pys__disc_do_uv(pys__disc_ctx *c);
bool pys__disc_is_pyenv_shims(pys__disc_ctx *c, const char *dir);
bool pys__disc_is_python_dir_name(const char *n);
int pys__disc_venv_choose(pys__disc_ctx *c, pys__diag *d);
int pys__disc_venv_resolve(pys__disc_ctx *c, const char *dir, const char *from, pys__diag *d);

/* ---- the shell's interpreter (discover_shell.c) ------------------------- */

void pys__disc_shell_find(pys__disc_ctx *c, int ri, pys__disc_shell *sh);
void pys__disc_shell_free(pys__disc_shell *s);
char *pys__disc_shell_text(pys__disc_ctx *c, const pys__disc_shell *sh);

#endif
