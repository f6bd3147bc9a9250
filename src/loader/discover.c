/* Discovery: list every libpython this process could load, say why each one
 * is accepted or rejected, and choose one, without loading anything and
 * without starting a process (this runs at every pys_open).
 *
 * The choice follows the user's own, in this order: an explicit library; an
 * active environment (venv, conda / mamba / micromamba, pixi); a version
 * request (the pin, else the nearest .python-version upward from
 * project_dir, its later lines as fallbacks), with the project's .venv when
 * asked for; the interpreter the user's shell would run for that request
 * (the first python3 / python3.X on PATH, pyenv shims resolved the way pyenv
 * resolves them, its libpython read from its ELF), when it has a shared
 * libpython; then the search (PATH, pyenv, ld.so.cache, standard dirs; uv's
 * with prefer_uv, or when nothing else is found), where the newest minor
 * wins, then a GIL build, then a known patch release, then source
 * precedence, then discovery order. An explicit library or an active
 * environment ends the search: the user named what to use, so failing to use
 * it is an error, never a silent fall-back to another Python. Candidates are
 * unique by realpath (the first source to reach a file owns it). Every
 * source leaves a line in the probe's account (pys__step), and the choice
 * names the file or variable behind it.
 *
 * Versions come from file names (libpython3.12.so.1.0, libpython3.13t.so), the
 * patch release from the install (patchlevel.h, its dir name, conda-meta);
 * the loader checks the real version after dlopen. 3.7 and older, the
 * libpython3.so stable-ABI stub are listed and rejected; minors newer than
 * the tested range are accepted marked untested (rejected with
 * refuse_untested / PYSHIM_REFUSE_UNTESTED). Test hooks, read only with use_env:
 * PYSHIM_LDCONFIG_CACHE replaces /etc/ld.so.cache and PYSHIM_SYSTEM_LIBDIRS
 * (colon-separated, may be empty) replaces the standard library dirs. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/ldcache.h"
#include "loader/loader.h"
#include "loader/parse.h"
#include "pyshim.h"
#include "loader/pyversion_file.h"
#include "loader/pyvenv_cfg.h"

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

typedef struct strset {
    char **v;
    size_t n, cap;
} strset;

typedef enum verdict { V_DUP, V_ACCEPT, V_REJECT, V_REJECT_PIN, V_REJECT_VENV } verdict;

typedef struct ctx {
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
    strset dirs;        /* lib dirs already scanned (realpath) */
    strset path_dirs;   /* PATH entries already looked at */
    strset prefixes;    /* install prefixes already mapped (realpath) */
} ctx;

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static const char *env(const ctx *c, const char *name)
{
    return c->o->use_env ? nonempty(getenv(name)) : NULL;
}

/* Returns false when already present (or on OOM, with c->oom set). */
static bool strset_add(ctx *c, strset *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return false;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **v = pys__realloc_n(s->v, cap, sizeof *v);
        if (!v) {
            c->oom = true;
            return false;
        }
        s->v = v;
        s->cap = cap;
    }
    char *d = pys__strdup(str);
    if (!d) {
        c->oom = true;
        return false;
    }
    s->v[s->n++] = d;
    return true;
}

static void strset_free(strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (strset){0};
}

static char *chk(ctx *c, char *s)
{
    if (!s)
        c->oom = true;
    return s;
}

/* Like pys__path_join, but "/" + "lib" is "/lib", not "//lib". */
static char *join(ctx *c, const char *dir, const char *name)
{
    return chk(c, strcmp(dir, "/") == 0 ? pys__asprintf("/%s", name) : pys__path_join(dir, name));
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

PYS__PRINTF(2, 3)
static void place(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
    if (s)
        pys__diag_searched(&c->log, "%s", s);
    free(s);
    c->nplaces++;
}

/* Sets the caller's diag: code, message and every line logged so far. */
PYS__PRINTF(4, 5)
static int fail(ctx *c, pys__diag *d, int code, const char *fmt, ...)
{
    if (!d)
        return code;
    va_list ap;
    va_start(ap, fmt);
    char *msg = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
    pys__diag_set(d, code, "%s", msg ? msg : "out of memory");
    free(msg);
    for (size_t i = 0; i < c->log.nsearched; i++)
        pys__diag_searched(d, "%s", c->log.searched[i]);
    return code;
}

const char *pys__source_name(pys__source s)
{
    switch (s) {
    case PYS__SRC_EXPLICIT: return "explicit";
    case PYS__SRC_VENV: return "venv";
    case PYS__SRC_CONDA: return "conda";
    case PYS__SRC_PIXI: return "pixi";
    case PYS__SRC_UV: return "uv";
    case PYS__SRC_PATH: return "path";
    case PYS__SRC_PYENV: return "pyenv";
    case PYS__SRC_LDCONFIG: return "ldconfig";
    case PYS__SRC_SYSTEM: return "system";
    }
    return "unknown";
}

/* ---- names and versions ------------------------------------------------- */

/* Reads 1 to 3 decimal digits. */
static bool read_num(const char **p, int *out)
{
    int v = 0, n = 0;
    while (**p >= '0' && **p <= '9') {
        if (++n > 3)
            return false;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    if (n == 0)
        return false;
    *out = v;
    return true;
}

/* "3" (minor -1: any), "3.12", "3.12.4", "3.13t", "3t", "3.15d", "3.13td":
 * one .python-version word of kind VERSION, with nothing around it. */
bool pys__parse_pin(const char *pin, int *major, int *minor, int *micro, bool *ft, bool *debug)
{
    pys__pyver v;
    if (!pin || pin[0] < '0' || pin[0] > '9' || strpbrk(pin, " \t\r\n#") ||
        pys__pyversion_parse(pin, strlen(pin), &v, 1) != 1 || v.kind != PYS__PYVER_VERSION)
        return false;
    if (major)
        *major = v.major;
    if (minor)
        *minor = v.minor;
    if (micro)
        *micro = v.micro;
    if (ft)
        *ft = v.free_threaded;
    if (debug)
        *debug = v.debug;
    return true;
}

typedef enum name_kind { NAME_NONE, NAME_STUB, NAME_VERSION, NAME_ODD } name_kind;

/* "" or (".N")+ : what may follow ".so" in a shared library's name. */
static bool so_tail(const char *s)
{
    while (*s) {
        if (s[0] != '.' || s[1] < '0' || s[1] > '9')
            return false;
        s++;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return true;
}

/* Classifies a file name: libpython3.12.so.1.0, libpython3.13t.so,
 * libpython3.13d.so (debug), libpython3.7m.so (the old flags m/u are
 * parsed and ignored), the libpython3.so stub; NAME_NONE for anything that
 * is not a libpython shared library (libpython3.12.a, ...-gdb.py). */
static name_kind parse_libname(const char *name, int *major, int *minor, bool *ft, bool *debug)
{
    *major = *minor = 0;
    *ft = *debug = false;
    if (strncmp(name, "libpython", 9) != 0)
        return NAME_NONE;
    const char *so = strstr(name + 9, ".so");
    while (so && !so_tail(so + 3))
        so = strstr(so + 1, ".so");
    if (!so)
        return NAME_NONE;
    const char *p = name + 9;
    int ma, mi;
    if (!read_num(&p, &ma))
        return NAME_ODD;
    if (p == so)
        return ma == 3 ? NAME_STUB : NAME_ODD;
    if (*p != '.')
        return NAME_ODD;
    p++;
    if (!read_num(&p, &mi))
        return NAME_ODD;
    bool t = false, dbg = false;
    for (; p < so; p++) {
        if (*p == 't')
            t = true;
        else if (*p == 'd')
            dbg = true;
        else if (*p != 'm' && *p != 'u')
            return NAME_ODD;
    }
    *major = ma;
    *minor = mi;
    *ft = t;
    *debug = dbg;
    return NAME_VERSION;
}

/* "3.12.1", "3.12.1.final.0", "3.13.0t", "3.13.0+freethreaded". */
static bool parse_version_str(const char *s, int *minor, bool *ft)
{
    const char *p = s;
    int ma, mi;
    if (!read_num(&p, &ma) || ma != 3 || *p++ != '.' || !read_num(&p, &mi))
        return false;
    *minor = mi;
    *ft = *p == 't' || p[strspn(p, ".0123456789")] == 't' || strstr(p, "freethreaded") != NULL;
    return true;
}

static bool pin_matches(const ctx *c, int major, int minor, bool ft, bool debug)
{
    if (!c->pinned)
        return true;
    if (major != c->pin_major || (c->pin_minor >= 0 && minor != c->pin_minor))
        return false;
    return (!c->pin_ft || ft) && (!c->pin_debug || debug);
}

static char *doctor(ctx *c, const char *prefix, int minor, bool ft);

/* ---- one candidate ------------------------------------------------------ */

static bool is_lib_dir_name(const char *b)
{
    return strcmp(b, "lib") == 0 || strcmp(b, "lib64") == 0 || strcmp(b, "lib32") == 0;
}

/* The install prefix a library dir belongs to: P for P/lib, P/lib64 and
 * P/lib/<triplet>; NULL when the dir has no such shape. */
static char *prefix_of_libdir(ctx *c, const char *dir)
{
    const char *b = base_name(dir);
    if (is_lib_dir_name(b))
        return chk(c, pys__path_dir(dir));
    if (!strstr(b, "-linux-"))
        return NULL;
    char *parent = chk(c, pys__path_dir(dir));
    char *prefix = NULL;
    if (parent && is_lib_dir_name(base_name(parent)))
        prefix = chk(c, pys__path_dir(parent));
    free(parent);
    return prefix;
}

/* PREFIX/lib/python3.X[t] (or lib64, or lib/python3X.zip) when it holds a
 * stdlib; NULL otherwise. */
static char *find_stdlib(ctx *c, const char *prefix, int minor, bool ft)
{
    static const char *const libs[] = {"lib", "lib64"};
    for (size_t i = 0; i < 2; i++) {
        char *rel = chk(c, pys__asprintf("%s/python3.%d%s", libs[i], minor, ft ? "t" : ""));
        char *dir = rel ? join(c, prefix, rel) : NULL;
        char *os = dir ? join(c, dir, "os.py") : NULL;
        bool ok = pys__is_file(os);
        free(rel);
        free(os);
        if (ok)
            return dir;
        free(dir);
    }
    char *rel = chk(c, pys__asprintf("lib/python3%d.zip", minor));
    char *zip = rel ? join(c, prefix, rel) : NULL;
    free(rel);
    if (pys__is_file(zip))
        return zip;
    free(zip);
    return NULL;
}

/* "3.X.Y" at the start of s (after an optional "cpython-"): Y, or -1. */
static int micro_in_name(const char *s, int minor)
{
    if (strncmp(s, "cpython-", 8) == 0)
        s += 8;
    const char *p = s;
    int ma, mi, mc;
    if (!read_num(&p, &ma) || ma != 3 || *p++ != '.' || !read_num(&p, &mi) || mi != minor ||
        *p++ != '.' || !read_num(&p, &mc))
        return -1;
    return *p == '\0' || *p == 't' || *p == '+' || *p == '-' ? mc : -1;
}

/* The install's patch release, without running it: PY_MICRO_VERSION in its
 * include/python3.X/patchlevel.h, else a version in the prefix's name (pyenv
 * "3.11.7", uv "cpython-3.12.7-..."), else conda's conda-meta/python-3.X.Y-*.json.
 * -1 when none says. */
static int detect_micro(ctx *c, const char *prefix, int minor, const char *abiflags)
{
    char *h = chk(c, pys__asprintf("%s/include/python3.%d%s/patchlevel.h", prefix, minor, abiflags));
    char *text = h ? pys__read_file(h, NULL) : NULL;
    free(h);
    int micro = -1;
    const char *m = text ? strstr(text, "#define PY_MICRO_VERSION") : NULL;
    if (m) {
        m += 25;
        while (*m == ' ' || *m == '\t')
            m++;
        int v;
        if (read_num(&m, &v))
            micro = v;
    }
    free(text);
    if (micro >= 0)
        return micro;
    if ((micro = micro_in_name(base_name(prefix), minor)) >= 0)
        return micro;
    char *meta = join(c, prefix, "conda-meta");
    DIR *dh = meta ? opendir(meta) : NULL;
    struct dirent *e;
    while (dh && micro < 0 && (e = readdir(dh)) != NULL)
        if (strncmp(e->d_name, "python-3.", 9) == 0 && pys__ends_with(e->d_name, ".json"))
            micro = micro_in_name(e->d_name + 7, minor);
    if (dh)
        closedir(dh);
    free(meta);
    return micro;
}

PYS__PRINTF(5, 6)
static verdict judged(ctx *c, pys__candidate *k, verdict v, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *reason = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
    free(k->reason);
    k->reason = reason;
    k->accepted = v == V_ACCEPT;
    k->code = code;
    if (!k->accepted) {
        c->nrejected++;
        pys__diag_searched(&c->log, "rejected %s (%s): %s", k->path ? k->path : "?",
                           pys__source_name(k->source), k->reason ? k->reason : "?");
    }
    return v;
}

static verdict judge(ctx *c, pys__candidate *k, const char *prefix_hint)
{
    int ma, mi, ma2, mi2;
    bool ft, ft2, dbg, dbg2;
    name_kind kind = parse_libname(base_name(k->path), &ma, &mi, &ft, &dbg);
    if (kind != NAME_VERSION && kind != NAME_STUB && k->realpath &&
        parse_libname(base_name(k->realpath), &ma2, &mi2, &ft2, &dbg2) == NAME_VERSION) {
        kind = NAME_VERSION;
        ma = ma2, mi = mi2, ft = ft2, dbg = dbg2;
    }
    bool known = kind == NAME_VERSION;
    if (known) {
        k->major = ma;
        k->minor = mi;
        k->free_threaded = ft;
        k->debug = dbg;
    }
    if (!k->realpath || !pys__is_file(k->realpath))
        return judged(c, k, V_REJECT, "no_file", "no such file (or a broken symlink, or not a regular file)");
    if (kind == NAME_STUB)
        return judged(c, k, V_REJECT, "stub", "stable-ABI stub %s, not a full runtime", base_name(k->path));
    if (!known && k->source != PYS__SRC_EXPLICIT)
        return judged(c, k, V_REJECT, "unknown_name", "unrecognised libpython file name");
    if (known) {
        if (ma < 3 || (ma == 3 && mi < PYS__MIN_MINOR))
            return judged(c, k, V_REJECT, "too_old", "Python %d.%d is older than the supported 3.%d", ma, mi,
                          PYS__MIN_MINOR);
        if (ma > 3)
            return judged(c, k, V_REJECT, "too_new", "Python %d.%d is not Python 3", ma, mi);
        k->untested = mi > PYS__MAX_MINOR;
        if (k->untested && c->refuse_untested)
            return judged(c, k, V_REJECT, "too_new",
                          "Python %d.%d is newer than the tested range 3.%d to 3.%d "
                          "(untested versions are refused by refuse_untested / "
                          "PYSHIM_REFUSE_UNTESTED)",
                          ma, mi, PYS__MIN_MINOR, PYS__MAX_MINOR);
        if (!pin_matches(c, ma, mi, ft, dbg))
            return judged(c, k, V_REJECT_PIN, "pin_mismatch", "Python %d.%d%s%s does not match the pin %s",
                          ma, mi, ft ? "t" : "", dbg ? "d" : "", c->out->pin);
        if ((k->source == PYS__SRC_VENV || k->source == PYS__SRC_EXPLICIT) && c->venv_minor >= 0 &&
            (mi != c->venv_minor || ft != c->venv_ft))
            return judged(c, k, V_REJECT_VENV, "venv_mismatch", "Python 3.%d%s is not the venv's Python 3.%d%s", mi,
                          ft ? "t" : "", c->venv_minor, c->venv_ft ? "t" : "");
    }

    /* The prefix: the caller's, else from the resolved dir, else from the
     * dir as found; the first one holding a stdlib wins. */
    char *prefix = NULL, *stdlib = NULL;
    if (prefix_hint) {
        prefix = chk(c, pys__strdup(prefix_hint));
        if (prefix && known)
            stdlib = find_stdlib(c, prefix, mi, ft);
    } else {
        const char *files[2] = {k->realpath, k->path};
        for (size_t i = 0; i < 2 && !stdlib; i++) {
            char *dir = chk(c, pys__path_dir(files[i]));
            char *p = dir ? prefix_of_libdir(c, dir) : NULL;
            free(dir);
            if (!p)
                continue;
            char *s = known ? find_stdlib(c, p, mi, ft) : NULL;
            if (s || !prefix) {
                free(prefix);
                prefix = p;
                stdlib = s;
            } else {
                free(p);
            }
        }
    }

    const char *t = ft ? "t" : "";
    const char *what = ft && dbg  ? " (free-threaded, debug)"
                       : ft       ? " (free-threaded)"
                       : dbg      ? " (debug)"
                       : k->untested ? " (untested version)"
                                     : "";
    if (known)
        pys__lib_file_version(k->realpath, mi, k->full_version, sizeof k->full_version, NULL);
    if (!known) {
        k->prefix = prefix;
        return judged(c, k, V_ACCEPT, "accepted",
                      "accepted: the file name does not show the version (0.0 unknown); the "
                      "loader checks it after loading");
    }
    if (!stdlib && prefix && k->source != PYS__SRC_EXPLICIT) {
        verdict v = judged(c, k, V_REJECT, "no_stdlib", "no standard library at %s%slib/python3.%d%s (no os.py)",
                           prefix, strcmp(prefix, "/") ? "/" : "", mi, t);
        k->prefix = prefix;
        return v;
    }
    if (!stdlib) {
        /* No prefix, or an explicit library away from its stdlib: the user
         * may know better (PYTHONHOME); init checks again. */
        verdict v = judged(c, k, V_ACCEPT, "accepted",
                           "accepted: Python 3.%d%s; no standard library found next to it%s%s, "
                           "init checks again",
                           mi, what, prefix ? " under " : "", prefix ? prefix : "");
        free(prefix);
        return v;
    }
    k->prefix = prefix;
    char tag[4];
    snprintf(tag, sizeof tag, "%s%s", t, dbg ? "d" : "");
    k->micro = detect_micro(c, prefix, mi, tag);
    if (c->pinned && c->pin_micro >= 0 && k->micro != c->pin_micro) {
        free(stdlib);
        if (k->micro < 0)
            return judged(c, k, V_REJECT_PIN, "patch_unknown",
                          "the pin %s names a patch release, and this install's is unknown (no "
                          "include/python3.%d%s/patchlevel.h, no version in its name)",
                          c->out->pin, mi, tag);
        return judged(c, k, V_REJECT_PIN, "pin_mismatch", "Python 3.%d.%d%s does not match the pin %s",
                      mi, k->micro, tag, c->out->pin);
    }
    char *rel = chk(c, pys__asprintf("bin/python3.%d%s", mi, tag));
    char *exe = rel ? join(c, prefix, rel) : NULL;
    free(rel);
    if (pys__is_exec(exe))
        k->executable = exe;
    else
        free(exe);
    char full[32] = "";
    if (k->micro >= 0)
        snprintf(full, sizeof full, ".%d", k->micro);
    verdict v = judged(c, k, V_ACCEPT, "accepted", "accepted: Python 3.%d%s%s%s, stdlib at %s", mi,
                       full, t, what, stdlib);
    free(stdlib);
    return v;
}

/* Considers one library file; V_DUP when its realpath is already listed. */
static verdict add_lib(ctx *c, const char *path, const char *prefix, pys__source src)
{
    char *rp = pys__realpath(path);
    const char *key = rp ? rp : path;
    pys__probe *p = c->out;
    for (size_t i = 0; i < p->n; i++) {
        const pys__candidate *k = &p->v[i];
        if (strcmp(k->realpath ? k->realpath : k->path, key) == 0) {
            free(rp);
            return V_DUP;
        }
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        pys__candidate *v = pys__realloc_n(p->v, cap, sizeof *v);
        if (!v) {
            free(rp);
            c->oom = true;
            return V_DUP;
        }
        p->v = v;
        p->cap = cap;
    }
    char *dup = chk(c, pys__strdup(path));
    if (!dup) {
        free(rp);
        return V_DUP;
    }
    pys__candidate *k = &p->v[p->n++];
    *k = (pys__candidate){.path = dup, .realpath = rp, .source = src, .micro = -1};
    return judge(c, k, prefix);
}

/* A tested version over an untested (newer) one, then the newest minor,
 * then GIL over free-threaded, then release over debug, then source
 * precedence; the earlier of two equals wins. */
static bool better(const pys__candidate *a, const pys__candidate *b)
{
    if (a->untested != b->untested)
        return !a->untested;
    if (a->major != b->major)
        return a->major > b->major;
    if (a->minor != b->minor)
        return a->minor > b->minor;
    if (a->free_threaded != b->free_threaded)
        return !a->free_threaded;
    if (a->debug != b->debug)
        return !a->debug;
    if (a->micro >= 0 && b->micro >= 0 && a->micro != b->micro)
        return a->micro > b->micro;
    return a->source < b->source;
}

static int choose(const pys__probe *p)
{
    int best = -1;
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].accepted && (best < 0 || better(&p->v[i], &p->v[best])))
            best = (int)i;
    return best;
}

/* ---- directories -------------------------------------------------------- */

static int cmp_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Names in `dir` accepted by `keep` (NULL: all but dot-files), sorted
 * descending (libpython3.12.so.1.0 before libpython3.12.so). NULL with
 * *n = 0 when the dir cannot be read. */
static char **list_dir(ctx *c, const char *dir, bool (*keep)(const char *), size_t *n)
{
    *n = 0;
    DIR *dh = opendir(dir);
    if (!dh)
        return NULL;
    char **v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (keep ? !keep(e->d_name) : e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = pys__realloc_n(v, cap, sizeof *nv);
            if (!nv) {
                c->oom = true;
                break;
            }
            v = nv;
        }
        char *s = chk(c, pys__strdup(e->d_name));
        if (!s)
            break;
        v[(*n)++] = s;
    }
    closedir(dh);
    if (*n)
        qsort(v, *n, sizeof *v, cmp_desc);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool is_libpython_name(const char *name)
{
    int a, b;
    bool t;
    bool dbg;
    return parse_libname(name, &a, &b, &t, &dbg) != NAME_NONE;
}

/* Lists every libpython in one dir (once per process probe). Returns false
 * when the dir does not exist. */
static bool scan_libdir(ctx *c, const char *dir, const char *prefix, pys__source src,
                        bool log_missing)
{
    char *rp = pys__realpath(dir);
    if (!rp || !pys__is_dir(rp)) {
        if (log_missing)
            place(c, "%s (%s): no such directory", dir, pys__source_name(src));
        free(rp);
        return false;
    }
    if (!strset_add(c, &c->dirs, rp)) {
        free(rp);
        return true;
    }
    free(rp);
    size_t n;
    char **names = list_dir(c, dir, is_libpython_name, &n);
    place(c, "%s (%s): %zu libpython file%s", dir, pys__source_name(src), n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        char *f = join(c, dir, names[i]);
        if (f)
            add_lib(c, f, prefix, src);
        free(f);
    }
    free_list(names, n);
    return true;
}

/* Lists the libpythons of one install: PREFIX/lib, lib64, lib/<triplet>.
 * Returns false when that install was already looked at. */
static bool scan_prefix(ctx *c, const char *prefix_in, pys__source src)
{
    char *prefix = pys__realpath(prefix_in);
    if (!prefix || !pys__is_dir(prefix)) {
        place(c, "%s (%s): no such directory", prefix_in, pys__source_name(src));
        free(prefix);
        return true;
    }
    if (!strset_add(c, &c->prefixes, prefix)) {
        free(prefix);
        return false;
    }
    static const char *const subs[] = {
        "lib",
        "lib64",
#ifdef MULTIARCH
        ("lib/" MULTIARCH),
#endif
    };
    bool any = false;
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        char *dir = join(c, prefix, subs[i]);
        if (dir && scan_libdir(c, dir, prefix, src, false))
            any = true;
        free(dir);
    }
    if (!any)
        place(c, "%s (%s): no lib directory", prefix, pys__source_name(src));
    free(prefix);
    return true;
}

/* ---- explicit ----------------------------------------------------------- */

static int do_explicit(ctx *c, const char *lib, const char *from, pys__diag *d)
{
    place(c, "%s %s", from, lib);
    verdict v = add_lib(c, lib, NULL, PYS__SRC_EXPLICIT);
    if (c->oom || c->out->n == 0)
        return PYS_E_NOMEM;
    const pys__candidate *k = &c->out->v[0];
    switch (v) {
    case V_ACCEPT:
        c->out->chosen = 0;
        return PYS_OK;
    case V_REJECT_PIN:
        return fail(c, d, PYS_E_ARG, "%s %s is Python 3.%d%s, which does not match the pin %s (from %s)",
                    from, lib, k->minor, k->free_threaded ? "t" : "", c->out->pin, c->pin_from);
    case V_REJECT_VENV:
        return fail(c, d, PYS_E_ARG, "%s %s is Python 3.%d%s but the venv %s is Python 3.%d%s", from,
                    lib, k->minor, k->free_threaded ? "t" : "", c->out->venv, c->venv_minor,
                    c->venv_ft ? "t" : "");
    default:
        return fail(c, d, PYS_E_NOTFOUND, "%s %s cannot be used: %s", from, lib,
                    k->reason ? k->reason : "rejected");
    }
}

/* ---- venv --------------------------------------------------------------- */

static bool is_python_dir_name(const char *n)
{
    if (strncmp(n, "python3.", 8) != 0)
        return false;
    const char *p = n + 8;
    int mi;
    return read_num(&p, &mi) && (!*p || (p[0] == 't' && !p[1]));
}

/* The venv's minor from its lib/python3.X[t] dir, when pyvenv.cfg is silent. */
static bool minor_from_venv_lib(ctx *c, const char *venv, int *minor, bool *ft)
{
    char *lib = join(c, venv, "lib");
    size_t n = 0;
    char **names = lib ? list_dir(c, lib, is_python_dir_name, &n) : NULL;
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        const char *p = names[i] + 8;
        int mi;
        if (read_num(&p, &mi)) {
            *minor = mi;
            *ft = *p == 't';
            found = true;
        }
    }
    free_list(names, n);
    free(lib);
    return found;
}

/* Reads DIR/pyvenv.cfg: sets out->venv, out->venv_executable and the
 * venv's version. Errors name what was looked at. */
static int venv_resolve(ctx *c, const char *dir, const char *from, pys__diag *d)
{
    place(c, "venv %s (from %s)", dir, from);
    char *rp = pys__realpath(dir);
    if (!rp || !pys__is_dir(rp)) {
        free(rp);
        return fail(c, d, PYS_E_NOTFOUND, "venv %s (from %s) does not exist or is not a directory",
                    dir, from);
    }
    c->out->venv = rp;
    char *cfgpath = join(c, rp, "pyvenv.cfg");
    if (!cfgpath)
        return PYS_E_NOMEM;
    place(c, "%s", cfgpath);
    pys__venv_cfg cfg;
    if (pys__venv_cfg_read(cfgpath, &cfg) != 0) {
        if (errno == ENOMEM) {
            c->oom = true;
            free(cfgpath);
            return PYS_E_NOMEM;
        }
        int rc = fail(c, d, PYS_E_NOTFOUND,
                      "venv %s (from %s) has no readable pyvenv.cfg (looked for %s): not a "
                      "virtual environment",
                      rp, from, cfgpath);
        free(cfgpath);
        return rc;
    }
    c->venv_home = cfg.home;
    c->venv_base_prefix = cfg.base_prefix;
    char *ver = cfg.version;
    c->venv_minor = -1;
    int mi;
    bool ft = false;
    if (ver && parse_version_str(ver, &mi, &ft)) {
        c->venv_minor = mi;
        c->venv_ft = ft;
    } else if (minor_from_venv_lib(c, rp, &mi, &ft)) {
        c->venv_minor = mi;
        c->venv_ft = ft;
    }
    free(ver);
    if (!c->venv_home) {
        int rc = fail(c, d, PYS_E_NOTFOUND,
                      "%s has no 'home = ' line, so the venv's base Python is unknown", cfgpath);
        free(cfgpath);
        return rc;
    }
    free(cfgpath);

    /* A free-threaded venv has lib/python3.Xt or bin/python3.Xt. */
    char *rel[3] = {0};
    size_t nrel = 0;
    if (c->venv_minor >= 0) {
        char *ftlib = chk(c, pys__asprintf("%s/lib/python3.%dt", rp, c->venv_minor));
        char *ftexe = chk(c, pys__asprintf("%s/bin/python3.%dt", rp, c->venv_minor));
        if (pys__is_dir(ftlib) || pys__is_exec(ftexe))
            c->venv_ft = true;
        free(ftlib);
        free(ftexe);
        rel[nrel++] = chk(c, pys__asprintf("bin/python3.%d%s", c->venv_minor, c->venv_ft ? "t" : ""));
    }
    rel[nrel++] = chk(c, pys__strdup("bin/python3"));
    rel[nrel++] = chk(c, pys__strdup("bin/python"));
    for (size_t i = 0; i < nrel; i++) {
        char *exe = rel[i] ? join(c, rp, rel[i]) : NULL;
        if (!c->out->venv_executable && pys__is_exec(exe))
            c->out->venv_executable = exe;
        else
            free(exe);
        free(rel[i]);
    }
    if (c->oom)
        return PYS_E_NOMEM;
    if (!c->out->venv_executable)
        return fail(c, d, PYS_E_NOTFOUND,
                    "venv %s has no working interpreter (looked for bin/python3.X, bin/python3 "
                    "and bin/python)",
                    rp);
    return PYS_OK;
}

/* Finds the venv base install's libpython. No fall-back to other Pythons. */
static int venv_choose(ctx *c, pys__diag *d)
{
    const char *home = c->venv_home;
    char *prefixes[3] = {0};
    size_t np = 0;
    prefixes[np++] = chk(c, pys__path_dir(home));
    if (c->venv_base_prefix)
        prefixes[np++] = chk(c, pys__strdup(c->venv_base_prefix));
    if (c->venv_minor >= 0) {
        /* home/python3.X may be a symlink into the real install. */
        char *exe = chk(c, pys__asprintf("%s/python3.%d%s", home, c->venv_minor, c->venv_ft ? "t" : ""));
        char *rexe = pys__realpath(exe);
        char *bin = rexe ? chk(c, pys__path_dir(rexe)) : NULL;
        if (bin)
            prefixes[np++] = chk(c, pys__path_dir(bin));
        free(bin);
        free(rexe);
        free(exe);
    }
#ifdef MULTIARCH
    const char *subs = "lib,lib64,lib/" MULTIARCH;
#else
    const char *subs = "lib,lib64";
#endif
    pys__sb looked = {0};
    for (size_t i = 0; i < np; i++) {
        if (prefixes[i] && scan_prefix(c, prefixes[i], PYS__SRC_VENV))
            pys__sb_addf(&looked, "%s%s/{%s}", looked.len ? ", " : "", prefixes[i], subs);
        free(prefixes[i]);
    }
    char *where = chk(c, pys__sb_take(&looked));
    int best = choose(c->out);
    int rc = PYS_OK;
    char ver[32] = "";
    if (c->venv_minor >= 0)
        snprintf(ver, sizeof ver, "3.%d%s", c->venv_minor, c->venv_ft ? "t" : "");
    if (c->oom)
        rc = PYS_E_NOMEM;
    else if (c->pinned && c->venv_minor >= 0 && !pin_matches(c, 3, c->venv_minor, c->venv_ft, c->pin_debug))
        rc = fail(c, d, PYS_E_ARG, "the pin %s (from %s) does not match the venv %s, which is Python %s",
                  c->out->pin, c->pin_from, c->out->venv, ver);
    else if (best < 0) {
        char *base = chk(c, c->venv_base_prefix ? pys__strdup(c->venv_base_prefix) : pys__path_dir(home));
        char *fix = base ? doctor(c, base, c->venv_minor, c->venv_ft) : NULL;
        rc = fail(c, d, PYS_E_NOTFOUND,
                  "venv %s: its base Python (home = %s) has no usable libpython%s shared library "
                  "(looked in %s; %zu rejected); a statically linked Python cannot be loaded: %s",
                  c->out->venv, home, ver, where ? where : "?", c->nrejected, fix ? fix : "?");
        free(base);
        free(fix);
    } else
        c->out->chosen = best;
    free(where);
    return rc;
}

/* ---- uv, PATH, pyenv ---------------------------------------------------- */

static bool is_uv_entry(const char *n)
{
    return strncmp(n, "cpython-", 8) == 0;
}

static void do_uv(ctx *c)
{
    char *dir;
    const char *v;
    if ((v = nonempty(getenv("UV_PYTHON_INSTALL_DIR"))))
        dir = chk(c, pys__strdup(v));
    else if ((v = nonempty(getenv("XDG_DATA_HOME"))))
        dir = join(c, v, "uv/python");
    else if (c->home)
        dir = join(c, c->home, ".local/share/uv/python");
    else
        dir = NULL;
    if (!dir) {
        place(c, "uv python dir: unknown (no HOME)");
        return;
    }
    size_t n = 0;
    char **names = list_dir(c, dir, is_uv_entry, &n);
    place(c, "%s (uv): %s%zu cpython install%s", dir, pys__is_dir(dir) ? "" : "no such directory, ",
          n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        char *prefix = join(c, dir, names[i]);
        if (pys__is_dir(prefix))
            scan_prefix(c, prefix, PYS__SRC_UV);
        free(prefix);
    }
    free_list(names, n);
    free(dir);
}

static bool is_python_exe_name(const char *n)
{
    return strcmp(n, "python3") == 0 || is_python_dir_name(n);
}

/* pyenv's shims are bash scripts that run `pyenv exec`: they say nothing
 * about an install, so pyenv's versions dir is scanned instead. */
static bool is_pyenv_shims(ctx *c, const char *dir)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len < 6 || memcmp(dir + len - 6, "/shims", 6) != 0)
        return false;
    bool yes = false;
    char *rp = pys__realpath(dir);
    char *root = c->pyenv_root ? pys__realpath(c->pyenv_root) : NULL;
    if (rp && root) {
        size_t rl = strlen(root);
        yes = strncmp(rp, root, rl) == 0 && rp[rl] == '/';
    }
    char *parent = chk(c, pys__strndup(dir, len - 6));
    for (int i = 0; !yes && parent && i < 2; i++) {
        char *f = chk(c, pys__asprintf("%s/%s/pyenv", parent, i ? "libexec" : "bin"));
        yes = pys__is_file(f);
        free(f);
    }
    if (!yes) {
        char *shim = chk(c, pys__asprintf("%.*s/python3", (int)len, dir));
        FILE *f = shim ? fopen(shim, "rb") : NULL;
        if (f) {
            char buf[513];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = '\0';
            fclose(f);
            yes = n > 2 && buf[0] == '#' && buf[1] == '!' && strstr(buf, "pyenv");
        }
        free(shim);
    }
    free(parent);
    free(root);
    free(rp);
    return yes;
}

static void do_path(ctx *c)
{
    const char *path = getenv("PATH");
    if (!path) {
        place(c, "PATH is not set");
        return;
    }
    for (const char *p = path; p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        char *dir = len ? chk(c, pys__strndup(p, len)) : NULL;
        p = colon ? colon + 1 : NULL;
        if (!dir || !strset_add(c, &c->path_dirs, dir)) {
            free(dir);
            continue;
        }
        if (is_pyenv_shims(c, dir)) {
            place(c, "PATH %s: pyenv shims, not interpreters (pyenv's versions are scanned)", dir);
            free(dir);
            continue;
        }
        size_t n = 0;
        char **names = list_dir(c, dir, is_python_exe_name, &n);
        pys__sb b = {0};
        for (size_t i = 0; i < n; i++)
            pys__sb_addf(&b, "%s%s", i ? ", " : "", names[i]);
        char *found = chk(c, pys__sb_take(&b));
        place(c, "PATH %s: %s", dir,
              !pys__is_dir(dir) ? "no such directory" : !n ? "no python3 interpreter" : found ? found : "?");
        free(found);
        for (size_t i = 0; i < n; i++) {
            char *exe = join(c, dir, names[i]);
            char *rexe = pys__is_exec(exe) ? pys__realpath(exe) : NULL;
            char *bin = rexe ? chk(c, pys__path_dir(rexe)) : NULL;
            char *prefix = bin && strcmp(base_name(bin), "bin") == 0 ? chk(c, pys__path_dir(bin)) : NULL;
            if (prefix)
                scan_prefix(c, prefix, PYS__SRC_PATH);
            free(prefix);
            free(bin);
            free(rexe);
            free(exe);
        }
        free_list(names, n);
        free(dir);
    }
}

static void do_pyenv(ctx *c)
{
    if (!c->pyenv_root) {
        place(c, "pyenv: no PYENV_ROOT and no HOME");
        return;
    }
    char *versions = join(c, c->pyenv_root, "versions");
    if (!versions)
        return;
    size_t n = 0;
    char **names = list_dir(c, versions, NULL, &n);
    place(c, "%s (pyenv): %s%zu version%s", versions,
          pys__is_dir(versions) ? "" : "no such directory, ", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        char *prefix = join(c, versions, names[i]);
        if (pys__is_dir(prefix))
            scan_prefix(c, prefix, PYS__SRC_PYENV);
        free(prefix);
    }
    free_list(names, n);
    free(versions);
}

/* ---- the dynamic linker's cache ---------------------------------------- */

typedef struct ldc_ud {
    ctx *c;
    size_t *nlib;
} ldc_ud;

static void ldc_entry(void *ud, uint32_t flags, const char *key, const char *value)
{
    ldc_ud *u = ud;
    if (strncmp(key, "libpython", 9) != 0)
        return;
    (*u->nlib)++;
    if (!pys__ldcache_flags_match(flags)) {
        pys__diag_searched(&u->c->log, "skipped %s (ldconfig): built for another architecture (flags 0x%04x)",
                           value, (unsigned)flags);
        return;
    }
    add_lib(u->c, value, NULL, PYS__SRC_LDCONFIG);
}

/* Adds the cache's libpython entries; false when the format is not
 * recognised. */
static bool ldc_parse(ctx *c, const unsigned char *buf, size_t len, size_t *nlib)
{
    ldc_ud u = {c, nlib};
    return pys__ldcache_foreach(buf, len, ldc_entry, &u) >= 0;
}

bool pys__ldcache_parse(const unsigned char *buf, size_t len, pys__probe *out, size_t *nlib)
{
    static const pys__probe_opts defaults = {0};
    ctx c = {.o = &defaults, .out = out, .venv_minor = -1};
    *nlib = 0;
    bool ok = ldc_parse(&c, buf, len, nlib);
    pys__diag_free(&c.log);
    strset_free(&c.dirs);
    strset_free(&c.path_dirs);
    strset_free(&c.prefixes);
    return ok;
}

static void do_ldcache(ctx *c)
{
    const char *file = env(c, "PYSHIM_LDCONFIG_CACHE");
    if (!file)
        file = "/etc/ld.so.cache";
    size_t len = 0;
    char *buf = pys__read_file(file, &len);
    if (!buf) {
        place(c, "%s (ldconfig): cannot be read", file);
        return;
    }
    place(c, "%s (ldconfig)", file);
    size_t nlib = 0;
    if (!ldc_parse(c, (const unsigned char *)buf, len, &nlib))
        pys__diag_searched(&c->log, "%s (ldconfig): unrecognised format", file);
    else if (nlib == 0)
        pys__diag_searched(&c->log, "%s (ldconfig): no libpython entry", file);
    free(buf);
}

static void do_system(ctx *c)
{
    const char *list = c->o->use_env ? getenv("PYSHIM_SYSTEM_LIBDIRS") : NULL;
    if (list) {
        for (const char *p = list; p && *p;) {
            const char *colon = strchr(p, ':');
            size_t len = colon ? (size_t)(colon - p) : strlen(p);
            char *dir = len ? chk(c, pys__strndup(p, len)) : NULL;
            if (dir)
                scan_libdir(c, dir, NULL, PYS__SRC_SYSTEM, true);
            free(dir);
            p = colon ? colon + 1 : NULL;
        }
        return;
    }
    static const char *const dirs[] = {
#ifdef MULTIARCH
        ("/usr/lib/" MULTIARCH),
#endif
        "/usr/lib64", "/usr/lib", "/usr/local/lib", "/usr/local/lib64",
    };
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        scan_libdir(c, dirs[i], NULL, PYS__SRC_SYSTEM, true);
}

/* ---- the account: one step per source ---------------------------------- */

PYS__PRINTF(5, 6)
static void step(ctx *c, const char *source, const char *status, const char *file, const char *fmt, ...)
{
    pys__probe *p = c->out;
    if (p->nsteps == p->capsteps) {
        size_t cap = p->capsteps ? p->capsteps * 2 : 16;
        pys__step *v = realloc(p->steps, cap * sizeof *v);
        if (!v) {
            c->oom = true;
            return;
        }
        p->steps = v;
        p->capsteps = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *detail = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
    char *f = file ? chk(c, pys__strdup(file)) : NULL;
    p->steps[p->nsteps++] = (pys__step){.source = source, .status = status, .file = f, .detail = detail};
}

/* Records the choice: index, the step that made it, its file, a sentence. */
PYS__PRINTF(5, 6)
static void decide(ctx *c, int idx, const char *source, const char *file, const char *fmt, ...)
{
    pys__probe *p = c->out;
    p->chosen = idx;
    p->decided_source = source;
    free(p->decided_file);
    p->decided_file = file ? chk(c, pys__strdup(file)) : NULL;
    va_list ap;
    va_start(ap, fmt);
    free(p->decision);
    p->decision = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
}

/* ---- the doctor --------------------------------------------------------- */

static bool under_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return n && strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* How to get a usable shared libpython3.X for the install at `prefix`. */
static char *doctor(ctx *c, const char *prefix, int minor, bool ft)
{
    const char *t = ft ? "t" : "";
    char *rp = prefix ? pys__realpath(prefix) : NULL;
    const char *pp = rp ? rp : prefix ? prefix : "";
    char *root = c->pyenv_root ? pys__realpath(c->pyenv_root) : NULL;
    char *deb = *pp ? join(c, pp, "lib/python3/dist-packages") : NULL;
    char *meta = *pp ? join(c, pp, "conda-meta") : NULL;
    char ver[16] = "X";
    if (minor > 0)
        snprintf(ver, sizeof ver, "%d", minor);
    char *s;
    if (strstr(pp, ".framework/"))
        s = pys__asprintf("framework builds (python.org / Homebrew style) are not supported on Linux: "
                          "use a Linux build with a shared libpython3.%s%s.so (the distribution's "
                          "libpython3.%s package, pyenv's built with --enable-shared, uv's or conda's)",
                          ver, t, ver);
    else if (pys__is_dir(meta))
        s = pys__asprintf("install Python into the environment again (conda install python, mamba "
                          "install python, or pixi add python): conda-forge's builds ship "
                          "libpython3.%s%s.so in lib/",
                          ver, t);
    else if (root && *pp && under_dir(pp, root))
        s = pys__asprintf("rebuild it with a shared library: PYTHON_CONFIGURE_OPTS=--enable-shared "
                          "pyenv install --force %s",
                          base_name(pp));
    else if (strcmp(pp, "/usr") == 0 || pys__is_dir(deb))
        s = pys__asprintf("install the shared library: apt install libpython3.%s%s (Debian/Ubuntu; "
                          "Fedora: dnf install python3-libs)",
                          ver, t);
    else
        s = pys__asprintf("rebuild it with ./configure --enable-shared, or use a Python that ships "
                          "libpython3.%s%s.so: the distribution's libpython3.%s package, pyenv with "
                          "PYTHON_CONFIGURE_OPTS=--enable-shared, uv or conda",
                          ver, t, ver);
    free(deb);
    free(meta);
    free(root);
    free(rp);
    return chk(c, s);
}

/* ---- version requests: the pin, or the project's .python-version -------- */

/* DIR/name in start or its nearest parent holding it; malloc'd or NULL. */
static char *find_upward(ctx *c, const char *start, const char *name, bool want_dir)
{
    char *dir = pys__realpath(start);
    while (dir) {
        char *f = join(c, dir, name);
        if (f && (want_dir ? pys__is_dir(f) : pys__is_file(f))) {
            free(dir);
            return f;
        }
        free(f);
        if (strcmp(dir, "/") == 0) {
            free(dir);
            return NULL;
        }
        char *up = chk(c, pys__path_dir(dir));
        free(dir);
        dir = up;
    }
    return NULL;
}

static void req_label(const pys__pyver *r, char *buf, size_t n)
{
    if (r->line)
        snprintf(buf, n, "%s (line %u)", r->text, r->line);
    else
        snprintf(buf, n, "%s", r->text);
}

/* A NAME request is a pyenv version dir: its realpath, or NULL. */
static char *pyenv_name_prefix(ctx *c, const char *name)
{
    if (!c->pyenv_root)
        return NULL;
    char *rel = chk(c, pys__asprintf("versions/%s", name));
    char *dir = rel ? join(c, c->pyenv_root, rel) : NULL;
    free(rel);
    char *rp = dir && pys__is_dir(dir) ? pys__realpath(dir) : NULL;
    free(dir);
    return rp;
}

/* Fills c->req from the pin, else from the nearest .python-version. Returns
 * PYS_OK or PYS_E_ARG (malformed pin). */
static int read_requests(ctx *c, const char *pin, pys__diag *d)
{
    const pys__probe_opts *o = c->o;
    if (pin) {
        c->out->pin = chk(c, pys__strdup(pin));
        if (!c->out->pin)
            return PYS_E_NOMEM;
        if (!pys__parse_pin(pin, &c->pin_major, &c->pin_minor, &c->pin_micro, &c->pin_ft, &c->pin_debug))
            return fail(c, d, PYS_E_ARG,
                        "invalid Python version pin '%s' (from %s): expected MAJOR, MAJOR.MINOR or "
                        "MAJOR.MINOR.PATCH with an optional 't' for free-threaded and 'd' for debug, "
                        "like 3, 3.12, 3.12.4, 3.13t or 3.13d",
                        pin, c->pin_from);
        c->pinned = true;
        pys__pyversion_parse(pin, strlen(pin), &c->req[0], 1);
        c->req[0].line = 0;
        c->nreq = 1;
        step(c, "request", "used", c->pin_from, "pin %s from %s%s", pin, c->pin_from,
             c->o->project_dir ? " (a .python-version is not read)" : "");
        return PYS_OK;
    }
    if (o->prefer_newest) {
        step(c, "request", "skipped", NULL, "prefer_newest: no .python-version is read");
        return PYS_OK;
    }
    if (!nonempty(o->project_dir)) {
        step(c, "request", "none", NULL, "no pin, and no project directory to find a .python-version in");
        return PYS_OK;
    }
    char *file = find_upward(c, o->project_dir, ".python-version", false);
    if (!file) {
        place(c, "%s and its parents: no .python-version", o->project_dir);
        step(c, "request", "none", NULL, "no pin, and no .python-version in %s or its parents",
             o->project_dir);
        return PYS_OK;
    }
    place(c, "%s", file);
    size_t len = 0;
    char *text = pys__read_file(file, &len);
    pys__pyver all[64];
    size_t n = text ? pys__pyversion_parse(text, len, all, 64) : 0;
    free(text);
    if (n > 64)
        n = 64;
    pys__sb b = {0};
    for (size_t i = 0; i < n; i++) {
        char label[160];
        req_label(&all[i], label, sizeof label);
        if (all[i].kind == PYS__PYVER_UNSUPPORTED) {
            pys__sb_addf(&b, "%s%s: ignored, %s", b.len ? "; " : "", label, all[i].why);
            continue;
        }
        if (c->nreq == sizeof c->req / sizeof *c->req) {
            pys__sb_addf(&b, "%s%s: ignored, too many lines", b.len ? "; " : "", label);
            continue;
        }
        size_t k = c->nreq++;
        c->req[k] = all[i];
        if (all[i].kind == PYS__PYVER_NAME) {
            c->name_prefix[k] = pyenv_name_prefix(c, all[i].text);
            pys__sb_addf(&b, "%s%s: pyenv version %s", b.len ? "; " : "", label,
                         c->name_prefix[k] ? c->name_prefix[k] : "(not installed)");
        } else {
            pys__sb_addf(&b, "%s%s%s", b.len ? "; " : "", label,
                         all[i].kind == PYS__PYVER_SYSTEM ? ": the Python outside pyenv" : "");
        }
    }
    char *what = chk(c, pys__sb_take(&b));
    c->req_file = file;
    step(c, "request", c->nreq ? "used" : "none", file, "%s: %s%s", file,
         what ? what : n ? "?" : "empty",
         c->nreq > 1 ? " (later lines are fallbacks)" : "");
    free(what);
    return PYS_OK;
}

static bool req_matches(const ctx *c, int ri, const pys__candidate *k)
{
    if (!k->accepted)
        return false;
    if (ri < 0)
        return true;
    const pys__pyver *r = &c->req[ri];
    switch (r->kind) {
    case PYS__PYVER_VERSION:
        return k->major == r->major && (r->minor < 0 || k->minor == r->minor) &&
               (!r->free_threaded || k->free_threaded) && (!r->debug || k->debug) &&
               (r->micro < 0 || k->micro == r->micro);
    case PYS__PYVER_NAME: {
        if (!c->name_prefix[ri] || !k->prefix)
            return false;
        char *rp = pys__realpath(k->prefix);
        bool yes = rp && strcmp(rp, c->name_prefix[ri]) == 0;
        free(rp);
        return yes;
    }
    case PYS__PYVER_SYSTEM: {
        if (k->source == PYS__SRC_PYENV)
            return false;
        char *root = c->pyenv_root ? pys__realpath(c->pyenv_root) : NULL;
        bool yes = !root || !k->realpath || !under_dir(k->realpath, root);
        free(root);
        return yes;
    }
    case PYS__PYVER_UNSUPPORTED:
        break;
    }
    return false;
}

/* The best accepted candidate matching request ri (-1: any), of source
 * `src` (-1: any); -1 when none. */
static int best_for(const ctx *c, int ri, int src)
{
    const pys__probe *p = c->out;
    int best = -1;
    for (size_t i = 0; i < p->n; i++)
        if (req_matches(c, ri, &p->v[i]) && (src < 0 || (int)p->v[i].source == src) &&
            (best < 0 || better(&p->v[i], &p->v[best])))
            best = (int)i;
    return best;
}

/* ---- active environments: conda, mamba, micromamba, pixi ---------------- */

/* Chooses among the env's own libpythons; no fall-back to another Python. */
static int env_prefix_choose(ctx *c, const char *prefix, pys__source src, const char *from,
                             pys__diag *d)
{
    const char *what = src == PYS__SRC_PIXI ? "pixi environment" : "conda environment";
    size_t first = c->out->n;
    scan_prefix(c, prefix, src);
    if (c->oom)
        return PYS_E_NOMEM;
    int best = -1;
    bool pin_mismatch = false;
    for (size_t i = first; i < c->out->n; i++) {
        const pys__candidate *k = &c->out->v[i];
        pin_mismatch |= k->code && (strcmp(k->code, "pin_mismatch") == 0 || strcmp(k->code, "patch_unknown") == 0);
        if (k->accepted && (best < 0 || better(k, &c->out->v[best])))
            best = (int)i;
    }
    if (best >= 0) {
        const pys__candidate *k = &c->out->v[best];
        step(c, src == PYS__SRC_PIXI ? "pixi" : "conda", "chosen", from, "the active %s %s (from %s)",
             what, prefix, from);
        decide(c, best, src == PYS__SRC_PIXI ? "pixi" : "conda", from, "the active %s %s (%s): %s",
               what, prefix, from, k->path);
        return PYS_OK;
    }
    const char *name = src == PYS__SRC_PIXI ? "pixi" : "conda";
    if (pin_mismatch) {
        int rc = fail(c, d, PYS_E_ARG, "the pin %s (from %s) does not match the active %s %s (from %s)",
                      c->out->pin, c->pin_from, what, prefix, from);
        step(c, name, "failed", from, "%s", d && d->message ? d->message : "?");
        return rc;
    }
    /* Which Python is there, to say how to fix it. */
    int minor = -1;
    char *bin = join(c, prefix, "bin");
    size_t n = 0;
    char **names = bin ? list_dir(c, bin, is_python_dir_name, &n) : NULL;
    const char *p = n ? names[0] + 8 : NULL;
    if (p)
        read_num(&p, &minor);
    free_list(names, n);
    free(bin);
    char *fix = doctor(c, prefix, minor, false);
    char ver[16] = "";
    if (minor >= 0)
        snprintf(ver, sizeof ver, "3.%d", minor);
    int rc = fail(c, d, PYS_E_NOTFOUND,
                  "the active %s %s (from %s) has no usable shared libpython%s in %s/lib (%zu "
                  "candidates rejected): %s",
                  what, prefix, from, ver, prefix, c->nrejected, fix ? fix : "install python in it");
    free(fix);
    step(c, name, "failed", from, "%s", d && d->message ? d->message : "?");
    return rc;
}

/* CONDA_PREFIX (conda, mamba, micromamba; pixi sets it too) and pixi's
 * PIXI_PROJECT_ROOT. Returns 1 when no env is active (go on), else the
 * result of choosing in it. */
static int do_envs(ctx *c, pys__diag *d)
{
    const char *conda = env(c, "CONDA_PREFIX");
    const char *pixi_root = env(c, "PIXI_PROJECT_ROOT");
    char *pixi = NULL;
    if (pixi_root) {
        const char *name = env(c, "PIXI_ENVIRONMENT_NAME");
        char *rel = chk(c, pys__asprintf(".pixi/envs/%s", name ? name : "default"));
        pixi = rel ? join(c, pixi_root, rel) : NULL;
        free(rel);
    }
    int rc = 1;
    char *rconda = conda ? pys__realpath(conda) : NULL;
    char *rpixi = pixi ? pys__realpath(pixi) : NULL;
    bool conda_is_pixi = rconda && rpixi && strcmp(rconda, rpixi) == 0;
    if (!conda) {
        step(c, "conda", "none", NULL, "no CONDA_PREFIX: no conda, mamba or micromamba environment is active");
    } else if (conda_is_pixi) {
        step(c, "conda", "skipped", "CONDA_PREFIX", "CONDA_PREFIX %s is the pixi environment", conda);
    } else {
        char *meta = join(c, conda, "conda-meta");
        const char *dflt = env(c, "CONDA_DEFAULT_ENV");
        place(c, "CONDA_PREFIX %s", conda);
        if (!rconda || !pys__is_dir(rconda))
            step(c, "conda", "skipped", "CONDA_PREFIX", "CONDA_PREFIX %s is not a directory", conda);
        else if (!pys__is_dir(meta))
            step(c, "conda", "skipped", "CONDA_PREFIX", "CONDA_PREFIX %s has no conda-meta/: not a conda environment", conda);
        else if (dflt && strcmp(dflt, "base") == 0)
            step(c, "conda", "skipped", "CONDA_DEFAULT_ENV",
                 "%s is conda's base environment: not treated as an active project environment (as uv "
                 "does); its python3 on PATH counts as the shell's",
                 conda);
        else
            rc = env_prefix_choose(c, rconda, PYS__SRC_CONDA, "CONDA_PREFIX", d);
        free(meta);
    }
    if (rc == 1) {
        if (!pixi_root)
            step(c, "pixi", "none", NULL, "not under pixi (no PIXI_PROJECT_ROOT)");
        else if (!rpixi || !pys__is_dir(rpixi))
            step(c, "pixi", "skipped", "PIXI_PROJECT_ROOT", "PIXI_PROJECT_ROOT is set, but %s does not exist", pixi);
        else
            rc = env_prefix_choose(c, rpixi, PYS__SRC_PIXI, conda_is_pixi ? "CONDA_PREFIX" : "PIXI_PROJECT_ROOT", d);
    }
    free(rconda);
    free(rpixi);
    free(pixi);
    return rc;
}

/* ---- the shell's interpreter --------------------------------------------- */

/* Compares dotted numeric version names, descending order helper: >0 when a
 * is newer. Non-numeric parts compare as 0. */
static int vercmp(const char *a, const char *b)
{
    while (*a || *b) {
        char *ea, *eb;
        long x = strtol(a, &ea, 10), y = strtol(b, &eb, 10);
        if (x != y)
            return x > y ? 1 : -1;
        a = ea;
        b = eb;
        while (*a && (*a < '0' || *a > '9'))
            a++;
        while (*b && (*b < '0' || *b > '9'))
            b++;
    }
    return 0;
}

static bool ends_prerelease(const char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] >= '0' && s[n - 1] <= '9')
        n--;
    if (n == strlen(s))
        return false;
    return (n >= 1 && (s[n - 1] == 'a' || s[n - 1] == 'b')) || (n >= 2 && s[n - 2] == 'r' && s[n - 1] == 'c');
}

/* pyenv's resolution of one version word to $PYENV_ROOT/versions/DIR: the
 * dir itself, then without "python-", then the newest installed release
 * with that prefix (what `pyenv latest` picks). malloc'd or NULL. */
static char *pyenv_resolve(ctx *c, const char *word)
{
    char *versions = c->pyenv_root ? join(c, c->pyenv_root, "versions") : NULL;
    if (!versions)
        return NULL;
    char *res = NULL;
    const char *forms[2] = {word, strncmp(word, "python-", 7) == 0 ? word + 7 : NULL};
    for (size_t i = 0; i < 2 && !res; i++) {
        if (!forms[i] || !*forms[i] || strchr(forms[i], '/') || strcmp(forms[i], "..") == 0)
            continue;
        char *dir = join(c, versions, forms[i]);
        if (pys__is_dir(dir))
            res = dir;
        else
            free(dir);
    }
    for (size_t i = 0; i < 2 && !res; i++) {
        if (!forms[i] || !*forms[i] || strchr(forms[i], '/'))
            continue;
        char pre[128];
        snprintf(pre, sizeof pre, "%s", forms[i]);
        size_t pl = strlen(pre);
        bool t = pl >= 2 && pre[pl - 1] == 't' && pre[pl - 2] >= '0' && pre[pl - 2] <= '9';
        if (t)
            pre[--pl] = '\0';
        size_t n = 0;
        char **names = list_dir(c, versions, NULL, &n);
        const char *best = NULL;
        for (size_t k = 0; k < n; k++) {
            const char *nm = names[k];
            size_t nl = strlen(nm);
            if (strncmp(nm, pre, pl) != 0 || (nm[pl] != '.' && nm[pl] != '-'))
                continue;
            bool nt = nl >= 2 && nm[nl - 1] == 't' && nm[nl - 2] >= '0' && nm[nl - 2] <= '9';
            if (nt != t || pys__ends_with(nm, "-dev") || pys__ends_with(nm, "-src") ||
                pys__ends_with(nm, "-latest") || ends_prerelease(nm))
                continue;
            if (!best || vercmp(nm, best) > 0)
                best = nm;
        }
        if (best)
            res = join(c, versions, best);
        free_list(names, n);
    }
    free(versions);
    return res;
}

/* pyenv's version list, as `pyenv version-name` finds it: PYENV_VERSION
 * (colon-separated), else the nearest .python-version upward from the
 * project dir, else $PYENV_ROOT/version. *origin: the variable or file. */
static size_t pyenv_versions(ctx *c, pys__pyver *v, size_t cap, char **origin)
{
    *origin = NULL;
    const char *pv = nonempty(getenv("PYENV_VERSION"));
    if (pv) {
        char *copy = chk(c, pys__strdup(pv));
        for (char *s = copy; s && *s; s++)
            if (*s == ':')
                *s = '\n';
        size_t n = copy ? pys__pyversion_parse(copy, strlen(copy), v, cap) : 0;
        free(copy);
        *origin = chk(c, pys__strdup("PYENV_VERSION"));
        return n < cap ? n : cap;
    }
    char *file = nonempty(c->o->project_dir) ? find_upward(c, c->o->project_dir, ".python-version", false) : NULL;
    if (!file && c->pyenv_root)
        file = join(c, c->pyenv_root, "version");
    size_t len = 0;
    char *text = file ? pys__read_file(file, &len) : NULL;
    size_t n = text ? pys__pyversion_parse(text, len, v, cap) : 0;
    free(text);
    if (n) {
        *origin = file;
        return n < cap ? n : cap;
    }
    free(file);
    return 0;
}

typedef struct shell {
    char name[32];   /* python3, python3.11, python3.13t */
    char *found;     /* what the PATH lookup hit: a file, or a pyenv shim */
    char *exe;       /* the interpreter that runs (realpath) */
    char *pyenv;     /* the pyenv version a shim resolved to, or NULL */
    char *origin;    /* where pyenv read it (PYENV_VERSION, a file), or NULL */
    int cand;        /* its libpython candidate, or -1 */
    char *note;      /* how the library was found, or NULL */
    char *problem;   /* why it cannot be used (with the fix), or NULL */
} shell;

static void shell_free(shell *s)
{
    free(s->found);
    free(s->exe);
    free(s->pyenv);
    free(s->origin);
    free(s->note);
    free(s->problem);
    *s = (shell){.cand = -1};
}

static int cand_by_realpath(const ctx *c, const char *path)
{
    char *rp = pys__realpath(path);
    int idx = -1;
    for (size_t i = 0; rp && i < c->out->n && idx < 0; i++)
        if (c->out->v[i].realpath && strcmp(c->out->v[i].realpath, rp) == 0)
            idx = (int)i;
    free(rp);
    return idx;
}

/* The best candidate whose install prefix is `prefix` (Python 3.minor[t]
 * when minor >= 0; a debug build or not when dbg is 1 or 0, either when -1);
 * -1 when none. Rejected ones count when nothing is accepted. */
static int cand_in_prefix(const ctx *c, const char *prefix, int minor, bool ft, int dbg)
{
    char *rp = pys__realpath(prefix);
    int best = -1;
    for (size_t i = 0; rp && i < c->out->n; i++) {
        const pys__candidate *k = &c->out->v[i];
        if (!k->prefix || k->major != 3 ||
            (minor >= 0 && (k->minor != minor || k->free_threaded != ft ||
                             (dbg >= 0 && k->debug != (dbg != 0)))))
            continue;
        char *kp = pys__realpath(k->prefix);
        bool same = kp && strcmp(kp, rp) == 0;
        free(kp);
        if (!same)
            continue;
        if (best < 0 || (k->accepted && !c->out->v[best].accepted) ||
            (k->accepted == c->out->v[best].accepted && better(k, &c->out->v[best])))
            best = (int)i;
    }
    free(rp);
    return best;
}

/* Finds the libpython of the interpreter sh->exe: the one its ELF needs
 * (through its run path, then its install's lib dirs), or, for a
 * statically linked interpreter, a shared one its install ships beside it
 * (Debian's python3.X with libpython3.X). Sets sh->cand, or sh->problem. */
static void shell_library(ctx *c, shell *sh, pys__source src)
{
    char *bin = chk(c, pys__path_dir(sh->exe));
    char *prefix = bin && strcmp(base_name(bin), "bin") == 0 ? chk(c, pys__path_dir(bin)) : NULL;
    int minor = -1, ma;
    bool ft = false;
    int dbg = -1; /* unknown */
    const char *names[2] = {base_name(sh->exe), sh->found ? base_name(sh->found) : ""};
    for (size_t i = 0; i < 2 && minor < 0; i++)
        if (is_python_dir_name(names[i])) {
            const char *p = names[i] + 8;
            read_num(&p, &minor);
            ft = *p == 't';
            dbg = p[ft] == 'd';
        }
    char **needed = NULL, *runpath = NULL;
    size_t nn = 0;
    int elf = pys__elf_deps(sh->exe, &needed, &nn, &runpath);
    const char *pylib = NULL;
    for (size_t i = 0; i < nn && !pylib; i++) {
        int mi;
        bool t, g;
        if (parse_libname(needed[i], &ma, &mi, &t, &g) == NAME_VERSION) {
            pylib = needed[i];
            minor = mi;
            ft = t;
            dbg = g;
        }
    }
    if (pylib) {
        for (char *p = runpath; p && *p && sh->cand < 0;) {
            char *colon = strchr(p, ':');
            size_t len = colon ? (size_t)(colon - p) : strlen(p);
            char *dir = chk(c, pys__strndup(p, len));
            if (dir && (pys__starts_with(dir, "$ORIGIN") || pys__starts_with(dir, "${ORIGIN}"))) {
                const char *rest = dir + (dir[1] == '{' ? 9 : 7);
                char *x = chk(c, pys__asprintf("%s%s", bin ? bin : ".", rest));
                free(dir);
                dir = x;
            }
            char *rdir = dir ? pys__realpath(dir) : NULL; /* no "bin/../lib" in the path shown */
            char *f = rdir ? join(c, rdir, pylib) : NULL;
            free(rdir);
            if (f && pys__is_file(f)) {
                add_lib(c, f, NULL, src);
                sh->cand = cand_by_realpath(c, f);
            }
            free(f);
            free(dir);
            p = colon ? colon + 1 : NULL;
        }
        if (sh->cand < 0 && prefix) {
            scan_prefix(c, prefix, src);
            sh->cand = cand_in_prefix(c, prefix, minor, ft, dbg);
        }
        if (sh->cand < 0) {
            char *fix = doctor(c, prefix, minor, ft);
            sh->problem = chk(c, pys__asprintf("%s needs %s, which is neither in its run path (%s) nor "
                                               "in %s/lib: %s",
                                               sh->exe, pylib, runpath ? runpath : "none",
                                               prefix ? prefix : "?", fix ? fix : "?"));
            free(fix);
        } else {
            sh->note = chk(c, pys__asprintf("linked against %s", pylib));
        }
    } else if (prefix) {
        if (minor < 0) {
            /* a bare python3: the install's stdlib dir says which */
            char *lib = join(c, prefix, "lib");
            size_t n = 0;
            char **dirs = lib ? list_dir(c, lib, is_python_dir_name, &n) : NULL;
            if (n) {
                const char *p = dirs[0] + 8;
                read_num(&p, &minor);
                ft = *p == 't';
            }
            free_list(dirs, n);
            free(lib);
        }
        scan_prefix(c, prefix, src);
        sh->cand = cand_in_prefix(c, prefix, minor, ft, dbg);
        const char *how = elf == 0 ? "is statically linked (its ELF needs no libpython)"
                                   : "is not an ELF executable of this machine";
        if (sh->cand >= 0) {
            sh->note = chk(c, pys__asprintf("%s %s; its install ships the shared library", sh->exe, how));
        } else {
            char ver[16] = "";
            if (minor >= 0)
                snprintf(ver, sizeof ver, "3.%d%s", minor, ft ? "t" : "");
            char *fix = doctor(c, prefix, minor, ft);
            sh->problem = chk(c, pys__asprintf("%s %s, and %s has no shared libpython%s (looked in "
                                               "lib, lib64 and the multiarch lib dir): %s",
                                               sh->exe, how, prefix, ver, fix ? fix : "?"));
            free(fix);
        }
    } else {
        sh->problem = chk(c, pys__asprintf("%s is not in an install's bin directory, so its library "
                                           "cannot be found",
                                           sh->exe));
    }
    for (size_t i = 0; i < nn; i++)
        free(needed[i]);
    free(needed);
    free(runpath);
    free(prefix);
    free(bin);
    if (sh->cand >= 0 && !sh->problem && !c->out->v[sh->cand].accepted)
        sh->problem = chk(c, pys__asprintf("its library %s is rejected: %s", c->out->v[sh->cand].path,
                                           c->out->v[sh->cand].reason ? c->out->v[sh->cand].reason : "?"));
}

/* The interpreter the user's shell would run for request ri (-1: none):
 * the first python3 (python3.X[t] for a request naming a minor) on PATH,
 * pyenv shims resolved as pyenv resolves them, without running pyenv. */
static void shell_find(ctx *c, int ri, shell *sh)
{
    *sh = (shell){.cand = -1};
    const pys__pyver *r = ri >= 0 ? &c->req[ri] : NULL;
    if (r && r->kind == PYS__PYVER_VERSION && r->major != 3)
        return;
    if (r && r->kind == PYS__PYVER_VERSION && r->minor >= 0)
        snprintf(sh->name, sizeof sh->name, "python3.%d%s%s", r->minor, r->free_threaded ? "t" : "",
                 r->debug ? "d" : "");
    else
        snprintf(sh->name, sizeof sh->name, "python3");
    bool system_only = r && r->kind == PYS__PYVER_SYSTEM;
    const char *path = getenv("PATH");
    char *exe = NULL;
    for (const char *p = path; p && !exe;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        char *dir = len ? chk(c, pys__strndup(p, len)) : NULL;
        p = colon ? colon + 1 : NULL;
        if (!dir)
            continue;
        char *f = join(c, dir, sh->name);
        if (f && pys__is_exec(f) && !pys__is_dir(f)) {
            if (!is_pyenv_shims(c, dir)) {
                sh->found = f;
                exe = chk(c, pys__strdup(f));
                f = NULL;
            } else if (!system_only) {
                pys__pyver v[16];
                char *origin = NULL;
                size_t n = pyenv_versions(c, v, 16, &origin);
                for (size_t i = 0; i < n && !exe; i++) {
                    if (strcmp(v[i].text, "system") == 0)
                        break; /* pyenv runs the first one outside its shims: go on */
                    char *prefix = pyenv_resolve(c, v[i].text);
                    char *rel = chk(c, pys__asprintf("bin/%s", sh->name));
                    char *cand = prefix && rel ? join(c, prefix, rel) : NULL;
                    if (cand && pys__is_exec(cand)) {
                        exe = cand;
                        cand = NULL;
                        sh->found = f;
                        f = NULL;
                        sh->pyenv = chk(c, pys__strdup(base_name(prefix)));
                        sh->origin = origin;
                        origin = NULL;
                    }
                    free(cand);
                    free(rel);
                    free(prefix);
                }
                free(origin);
            }
        }
        free(f);
        free(dir);
    }
    if (!exe)
        return;
    sh->exe = pys__realpath(exe);
    free(exe);
    if (!sh->exe) {
        sh->problem = chk(c, pys__asprintf("%s does not resolve to a file", sh->found));
        return;
    }
    shell_library(c, sh, sh->pyenv ? PYS__SRC_PYENV : PYS__SRC_PATH);
}

static char *shell_text(ctx *c, const shell *sh)
{
    if (!sh->found)
        return chk(c, pys__asprintf("no %s on PATH%s", sh->name,
                                    strcmp(sh->name, "python3") ? "" : " (outside pyenv shims that resolve to nothing)"));
    pys__sb b = {0};
    pys__sb_addf(&b, "%s on PATH is %s", sh->name, sh->found);
    if (sh->pyenv)
        pys__sb_addf(&b, ", a pyenv shim for %s (set by %s)", sh->pyenv, sh->origin ? sh->origin : "?");
    if (sh->exe && strcmp(sh->exe, sh->found) != 0)
        pys__sb_addf(&b, ", running %s", sh->exe);
    if (sh->problem)
        pys__sb_addf(&b, "; cannot be used: %s", sh->problem);
    else if (sh->cand >= 0)
        pys__sb_addf(&b, "; %s%s%s", c->out->v[sh->cand].path, sh->note ? ", " : "", sh->note ? sh->note : "");
    return chk(c, pys__sb_take(&b));
}

/* ---- the project's .venv ------------------------------------------------- */

/* Returns 1 when no project .venv applies (go on), else venv_choose's result. */
static int do_project_venv(ctx *c, pys__diag *d)
{
    const pys__probe_opts *o = c->o;
    if (!o->project_venv || !nonempty(o->project_dir)) {
        step(c, "project-venv", "none", NULL, "not asked for (project_venv)");
        return 1;
    }
    char *dir = find_upward(c, o->project_dir, ".venv", true);
    char *cfgp = dir ? join(c, dir, "pyvenv.cfg") : NULL;
    if (!dir || !pys__is_file(cfgp)) {
        step(c, "project-venv", "none", NULL, "no .venv with a pyvenv.cfg in %s or its parents",
             o->project_dir);
        free(dir);
        free(cfgp);
        return 1;
    }
    pys__venv_cfg cfg;
    if (pys__venv_cfg_read(cfgp, &cfg) != 0 && errno == ENOMEM)
        c->oom = true;
    char *ver = cfg.version;
    cfg.version = NULL;
    pys__venv_cfg_free(&cfg);
    int mi = -1, ma = 3, micro = -1;
    bool ft = false;
    if (ver) {
        const char *p = ver;
        if (parse_version_str(ver, &mi, &ft) && read_num(&p, &ma) && *p == '.' && (p++, read_num(&p, &mi)) &&
            *p == '.') {
            p++;
            read_num(&p, &micro);
        }
    }
    pys__candidate probe = {.major = ma, .minor = mi, .micro = micro, .free_threaded = ft, .accepted = true,
                            .source = PYS__SRC_VENV};
    bool ok = c->nreq == 0 || mi < 0;
    for (size_t i = 0; i < c->nreq && !ok; i++)
        ok = c->req[i].kind == PYS__PYVER_VERSION && req_matches(c, (int)i, &probe);
    if (!ok) {
        step(c, "project-venv", "skipped", cfgp, "%s is Python %s, which no version request asks for",
             dir, ver ? ver : "?");
        free(ver);
        free(dir);
        free(cfgp);
        return 1;
    }
    free(ver);
    int rc = venv_resolve(c, dir, "the project's .venv", d);
    if (rc == PYS_OK)
        rc = venv_choose(c, d);
    if (rc == PYS_OK) {
        step(c, "project-venv", "chosen", cfgp, "%s (no environment is active)", dir);
        decide(c, c->out->chosen, "project-venv", cfgp, "the project's virtual environment %s", dir);
    } else {
        step(c, "project-venv", "failed", cfgp, "%s", d && d->message ? d->message : "?");
    }
    free(dir);
    free(cfgp);
    return rc;
}

/* ---- the probe ---------------------------------------------------------- */

static int run(ctx *c, pys__diag *d)
{
    const pys__probe_opts *o = c->o;
    pys__probe *out = c->out;
    c->venv_minor = -1;
    c->pin_micro = -1;
    c->home = nonempty(getenv("HOME"));
    const char *root = nonempty(getenv("PYENV_ROOT"));
    c->pyenv_root = root ? chk(c, pys__strdup(root)) : c->home ? join(c, c->home, ".pyenv") : NULL;

    c->refuse_untested = o->refuse_untested;
    if (!c->refuse_untested) {
        const char *ru = env(c, "PYSHIM_REFUSE_UNTESTED");
        c->refuse_untested = ru && strcmp(ru, "0") != 0;
    }
    const char *pin = nonempty(o->python);
    c->pin_from = "options.python";
    if (!pin) {
        pin = env(c, "PYSHIM_PYTHON_VERSION");
        c->pin_from = "PYSHIM_PYTHON_VERSION";
    }
    /* A malformed pin is an error before anything else is looked at. */
    if (pin && !pys__parse_pin(pin, NULL, NULL, NULL, NULL, NULL))
        return read_requests(c, pin, d);

    /* 1. explicit; 2. an active environment */
    const char *lib = nonempty(o->library_path), *lib_from = "library_path";
    if (!lib) {
        lib = env(c, "PYSHIM_LIBPYTHON");
        lib_from = "PYSHIM_LIBPYTHON";
    }
    const char *venv = nonempty(o->venv), *venv_from = "options.venv";
    if (!venv) {
        venv = env(c, "VIRTUAL_ENV");
        venv_from = "VIRTUAL_ENV";
    }
    if (pin) {
        c->pinned = true;
        pys__parse_pin(pin, &c->pin_major, &c->pin_minor, &c->pin_micro, &c->pin_ft, &c->pin_debug);
        out->pin = chk(c, pys__strdup(pin));
    }
    if (venv) {
        int rc = venv_resolve(c, venv, venv_from, d);
        if (rc != PYS_OK) {
            step(c, "venv", "failed", venv_from, "%s", d && d->message ? d->message : "?");
            return rc;
        }
    }
    if (lib) {
        int rc = do_explicit(c, lib, lib_from, d);
        step(c, "explicit", rc == PYS_OK ? "chosen" : "failed", lib_from, "%s %s%s%s", lib_from, lib,
             rc == PYS_OK ? "" : ": ", rc == PYS_OK ? "" : d && d->message ? d->message : "?");
        if (rc == PYS_OK)
            decide(c, out->chosen, "explicit", lib_from, "named by %s", lib_from);
        return rc;
    }
    step(c, "explicit", "none", NULL, "no library_path, no PYSHIM_LIBPYTHON");
    if (venv) {
        int rc = venv_choose(c, d);
        if (rc == PYS_OK) {
            step(c, "venv", "chosen", venv_from, "%s (from %s)", out->venv, venv_from);
            decide(c, out->chosen, "venv", venv_from, "the virtual environment %s (from %s)", out->venv,
                   venv_from);
        } else {
            step(c, "venv", "failed", venv_from, "%s", d && d->message ? d->message : "?");
        }
        return rc;
    }
    step(c, "venv", "none", NULL, "no venv option, no VIRTUAL_ENV");
    int rc = do_envs(c, d);
    if (rc != 1)
        return rc;

    /* 3. a version request; the project's .venv */
    c->pinned = false; /* read_requests sets it again */
    free(out->pin);
    out->pin = NULL;
    rc = read_requests(c, pin, d);
    if (rc != PYS_OK)
        return rc;
    rc = do_project_venv(c, d);
    if (rc != 1)
        return rc;
    bool pin_supported =
        !c->pinned || (c->pin_major == 3 && (c->pin_minor < 0 || (c->pin_minor >= PYS__MIN_MINOR &&
                                                                 (c->pin_minor <= PYS__MAX_MINOR ||
                                                                  !c->refuse_untested))));

    /* 4. the shell's interpreter (per request); 5. the search */
    bool uv_done = false;
    if (o->prefer_uv) {
        do_uv(c);
        uv_done = true;
    }
    size_t nr = c->nreq ? c->nreq : 1;
    shell sh[16];
    for (size_t i = 0; i < nr; i++) {
        sh[i] = (shell){.cand = -1};
        if (!o->prefer_newest)
            shell_find(c, c->nreq ? (int)i : -1, &sh[i]);
    }
    do_path(c);
    do_pyenv(c);
    do_ldcache(c);
    do_system(c);
    if (c->oom) {
        for (size_t i = 0; i < nr; i++)
            shell_free(&sh[i]);
        return PYS_E_NOMEM;
    }

    const char *req_from = c->req_file ? c->req_file : c->pin_from;
    for (int pass = 0; pass < 2 && out->chosen < 0; pass++) {
        if (pass == 1) {
            if (uv_done)
                break;
            do_uv(c); /* no earlier source applied */
            uv_done = true;
        }
        for (size_t i = 0; i < nr && out->chosen < 0; i++) {
            int ri = c->nreq ? (int)i : -1;
            char label[200] = "";
            if (ri >= 0) {
                char l[160];
                req_label(&c->req[ri], l, sizeof l);
                snprintf(label, sizeof label, "%s by %s (%s)", c->req_file ? "pinned" : "pinned",
                         req_from, l);
            }
            if (pass == 0 && o->prefer_uv) {
                int b = best_for(c, ri, PYS__SRC_UV);
                if (b >= 0) {
                    step(c, "uv", "chosen", NULL, "prefer_uv: the newest uv-managed match");
                    decide(c, b, "uv", ri >= 0 ? req_from : NULL, "%s%sthe newest uv-managed Python (prefer_uv)",
                           label, *label ? "; " : "");
                    break;
                }
            }
            if (pass == 0 && !o->prefer_newest) {
                char *txt = shell_text(c, &sh[i]);
                bool use = sh[i].cand >= 0 && !sh[i].problem && req_matches(c, ri, &out->v[sh[i].cand]);
                if (sh[i].cand >= 0 && !sh[i].problem && !use) {
                    char *x = chk(c, pys__asprintf("%s; it does not match the request", txt ? txt : "?"));
                    free(txt);
                    txt = x;
                }
                step(c, "shell", use ? "chosen" : sh[i].found ? "skipped" : "none", sh[i].origin, "%s%s%s",
                     *label ? label : "", *label ? ": " : "", txt ? txt : "?");
                if (use) {
                    const char *file = ri >= 0 ? req_from : sh[i].origin ? sh[i].origin : "PATH";
                    decide(c, sh[i].cand, "shell", file, "%s%sthe shell's %s (%s%s%s)", label,
                           *label ? "; " : "", sh[i].name, sh[i].found,
                           sh[i].pyenv ? ", pyenv version set by " : "",
                           sh[i].pyenv ? (sh[i].origin ? sh[i].origin : "?") : "");
                }
                free(txt);
                if (use)
                    break;
            }
            int b = best_for(c, ri, -1);
            size_t nacc = 0;
            for (size_t k = 0; k < out->n; k++)
                nacc += req_matches(c, ri, &out->v[k]);
            step(c, pass ? "uv" : "search", b >= 0 ? "chosen" : "none", NULL,
                 "%s%s%zu accepted candidate%s%s%s", label, *label ? ": " : "", nacc, nacc == 1 ? "" : "s",
                 pass ? " after scanning uv-managed Pythons (nothing else was found)" : "",
                 b >= 0 ? "; the newest wins (a patch release breaks ties)" : "");
            if (b >= 0)
                decide(c, b, pass ? "uv" : "search", ri >= 0 ? req_from : NULL, "%s%sthe newest %s",
                       label, *label ? "; " : "",
                       pass ? "uv-managed Python (nothing else was found)" : o->prefer_newest ? "supported Python (prefer_newest)" : "supported Python found");
        }
    }
    if (!uv_done)
        step(c, "uv", "skipped", NULL, "uv-managed Pythons are looked at with prefer_uv, or when nothing else is found");

    /* What stopped the shell's interpreter, for the error. */
    pys__sb why = {0};
    for (size_t i = 0; i < nr; i++)
        if (sh[i].problem)
            pys__sb_addf(&why, "; the shell's %s (%s) cannot be used: %s", sh[i].name, sh[i].found,
                         sh[i].problem);
    char *shell_why = chk(c, pys__sb_take(&why));
    for (size_t i = 0; i < nr; i++)
        shell_free(&sh[i]);
    if (c->oom) {
        free(shell_why);
        return PYS_E_NOMEM;
    }
    if (out->chosen >= 0) {
        free(shell_why);
        return PYS_OK;
    }
    const char *sw = shell_why ? shell_why : "";
    if (c->req_file) {
        pys__sb b = {0};
        for (size_t i = 0; i < c->nreq; i++) {
            char l[160];
            req_label(&c->req[i], l, sizeof l);
            pys__sb_addf(&b, "%s%s", i ? ", " : "", l);
        }
        char *asks = chk(c, pys__sb_take(&b));
        rc = fail(c, d, PYS_E_NOTFOUND,
                  "%s asks for %s, and no Python with a shared libpython matches (searched %zu places, "
                  "%zu candidates rejected)%s",
                  c->req_file, asks ? asks : "?", c->nplaces, c->nrejected, sw);
        free(asks);
    } else if (!pin_supported) {
        /* NOTFOUND, not ARG: the pin is well-formed, and pys_probe still
         * shows the candidates it rejected. */
        rc = fail(c, d, PYS_E_NOTFOUND,
                  "Python %s (pin from %s) is not supported: pyshim supports 3.%d to 3.%d%s "
                  "(searched %zu places, %zu candidates rejected)",
                  pin, c->pin_from, PYS__MIN_MINOR, PYS__MAX_MINOR,
                  c->refuse_untested ? " (newer ones are refused by refuse_untested)" : "",
                  c->nplaces, c->nrejected);
    } else {
        rc = fail(c, d, PYS_E_NOTFOUND,
                  "no usable libpython found (searched %zu places, %zu candidates rejected; %s%s)%s",
                  c->nplaces, c->nrejected, pin ? "pin " : "no pin", pin ? pin : "", sw);
    }
    free(shell_why);
    return rc;
}

/* Every source gets its line: those not reached say why. */
static void finish_steps(ctx *c, int rc)
{
    static const char *const order[] = {"explicit", "venv",  "conda", "pixi",  "request",
                                        "project-venv", "shell", "uv",    "search"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        bool seen = false;
        for (size_t k = 0; k < c->out->nsteps && !seen; k++)
            seen = strcmp(c->out->steps[k].source, order[i]) == 0;
        if (seen)
            continue;
        if (rc != PYS_OK)
            step(c, order[i], "skipped", NULL, "not asked: the probe stopped at an error above");
        else
            step(c, order[i], "skipped", NULL, "%s",
                 strcmp(order[i], "shell") == 0 && c->o->prefer_newest
                     ? "prefer_newest: the shell's interpreter has no precedence"
                     : "not asked: an earlier source chose");
    }
    /* In the documented order (stable: a source's lines keep theirs). */
    pys__step *v = c->out->steps;
    for (size_t i = 1; i < c->out->nsteps; i++) {
        pys__step x = v[i];
        size_t rank = 0, j = i;
        while (rank < sizeof order / sizeof *order && strcmp(order[rank], x.source) != 0)
            rank++;
        for (; j > 0; j--) {
            size_t r2 = 0;
            while (r2 < sizeof order / sizeof *order && strcmp(order[r2], v[j - 1].source) != 0)
                r2++;
            if (r2 <= rank)
                break;
            v[j] = v[j - 1];
        }
        v[j] = x;
    }
}

int pys__probe_run(const pys__probe_opts *o, pys__probe *out, pys__diag *d)
{
    static const pys__probe_opts defaults = {0};
    if (!out)
        return pys__diag_set(d, PYS_E_ARG, "pys__probe_run: out is NULL");
    *out = (pys__probe){.chosen = -1};
    ctx c = {.o = o ? o : &defaults, .out = out};
    int rc = run(&c, d);
    finish_steps(&c, rc);
    if (c.oom || rc == PYS_E_NOMEM)
        rc = pys__diag_set(d, PYS_E_NOMEM, "out of memory while looking for libpython");
    if (rc != PYS_OK)
        out->chosen = -1;
    pys__diag_free(&c.log);
    strset_free(&c.dirs);
    strset_free(&c.path_dirs);
    strset_free(&c.prefixes);
    free(c.venv_home);
    free(c.venv_base_prefix);
    free(c.pyenv_root);
    free(c.req_file);
    for (size_t i = 0; i < sizeof c.name_prefix / sizeof *c.name_prefix; i++)
        free(c.name_prefix[i]);
    return rc;
}

void pys__probe_free(pys__probe *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        pys__candidate *k = &p->v[i];
        free(k->path);
        free(k->realpath);
        free(k->executable);
        free(k->prefix);
        free(k->reason);
    }
    free(p->v);
    free(p->venv);
    free(p->venv_executable);
    free(p->pin);
    for (size_t i = 0; i < p->nsteps; i++) {
        free(p->steps[i].file);
        free(p->steps[i].detail);
    }
    free(p->steps);
    free(p->decided_file);
    free(p->decision);
    *p = (pys__probe){.chosen = -1};
}
