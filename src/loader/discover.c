/* Discovery: list every libpython this process could load, say why each one
 * is accepted or rejected, and choose one, without loading anything and
 * without starting a process (this runs at every pys_open).
 *
 * Sources are visited in precedence order: explicit > venv > uv > PATH >
 * pyenv > ld.so.cache > standard dirs. An explicit library or a venv ends
 * the search: the user named what to use, so failing to use it is an error,
 * never a silent fall-back to another Python. Otherwise candidates are unique
 * by realpath (the first source to reach a file owns it) and, among the
 * accepted ones, the newest minor wins, then a GIL build over a free-threaded
 * one, then source precedence, then discovery order.
 *
 * Versions come from file names only (libpython3.12.so.1.0, libpython3.13t.so);
 * the loader checks the real version after dlopen. 3.7 and older, the
 * libpython3.so stable-ABI stub and 3.15+ (untested: refusing beats guessing)
 * are listed and rejected. Test hooks, read only with use_env:
 * PYSHIM_LDCONFIG_CACHE replaces /etc/ld.so.cache and PYSHIM_SYSTEM_LIBDIRS
 * (colon-separated, may be empty) replaces the standard library dirs. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loader.h"
#include "parse.h"
#include "pyshim.h"

/* Debian-style multiarch dir and the ld.so.cache "required" flag bits of
 * this ABI (glibc's FLAG_*_LIB64 values; -1 = do not filter). */
#if defined(__x86_64__) && defined(__ILP32__)
#define MULTIARCH "x86_64-linux-gnux32"
#define LDCACHE_ARCH 0x0800
#elif defined(__x86_64__)
#define MULTIARCH "x86_64-linux-gnu"
#define LDCACHE_ARCH 0x0300
#elif defined(__i386__)
#define MULTIARCH "i386-linux-gnu"
#define LDCACHE_ARCH 0x0000
#elif defined(__aarch64__) && defined(__AARCH64EB__)
#define MULTIARCH "aarch64_be-linux-gnu"
#define LDCACHE_ARCH 0x0a00
#elif defined(__aarch64__)
#define MULTIARCH "aarch64-linux-gnu"
#define LDCACHE_ARCH 0x0a00
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
#ifndef LDCACHE_ARCH
#define LDCACHE_ARCH (-1)
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
    int pin_major, pin_minor; /* pin_minor -1: any minor */
    bool pin_ft;
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

/* "3" (minor -1: any), "3.12", "3.13t", "3t". Patch versions are refused:
 * file names do not carry them, so such a pin could not be honoured. */
bool pys__parse_pin(const char *pin, int *major, int *minor, bool *ft)
{
    int ma, mi = -1;
    bool t = false;
    const char *p = pin;
    if (!p || !read_num(&p, &ma))
        return false;
    if (*p == '.') {
        p++;
        if (!read_num(&p, &mi))
            return false;
    }
    if (*p == 't') {
        t = true;
        p++;
    }
    if (*p)
        return false;
    if (major)
        *major = ma;
    if (minor)
        *minor = mi;
    if (ft)
        *ft = t;
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
 * libpython3.7m.so (old ABI flags d/m/u are parsed and ignored), the
 * libpython3.so stub; NAME_NONE for anything that is not a libpython
 * shared library (libpython3.12.a, ...-gdb.py). */
static name_kind parse_libname(const char *name, int *major, int *minor, bool *ft)
{
    *major = *minor = 0;
    *ft = false;
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
    bool t = false;
    for (; p < so; p++) {
        if (*p == 't')
            t = true;
        else if (*p != 'd' && *p != 'm' && *p != 'u')
            return NAME_ODD;
    }
    *major = ma;
    *minor = mi;
    *ft = t;
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

static bool pin_matches(const ctx *c, int major, int minor, bool ft)
{
    if (!c->pinned)
        return true;
    if (major != c->pin_major || (c->pin_minor >= 0 && minor != c->pin_minor))
        return false;
    return !c->pin_ft || ft;
}

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

PYS__PRINTF(4, 5)
static verdict judged(ctx *c, pys__candidate *k, verdict v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *reason = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
    free(k->reason);
    k->reason = reason;
    k->accepted = v == V_ACCEPT;
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
    bool ft, ft2;
    name_kind kind = parse_libname(base_name(k->path), &ma, &mi, &ft);
    if (kind != NAME_VERSION && kind != NAME_STUB && k->realpath &&
        parse_libname(base_name(k->realpath), &ma2, &mi2, &ft2) == NAME_VERSION) {
        kind = NAME_VERSION;
        ma = ma2, mi = mi2, ft = ft2;
    }
    bool known = kind == NAME_VERSION;
    if (known) {
        k->major = ma;
        k->minor = mi;
        k->free_threaded = ft;
    }
    if (!k->realpath || !pys__is_file(k->realpath))
        return judged(c, k, V_REJECT, "no such file (or a broken symlink, or not a regular file)");
    if (kind == NAME_STUB)
        return judged(c, k, V_REJECT, "stable-ABI stub %s, not a full runtime", base_name(k->path));
    if (!known && k->source != PYS__SRC_EXPLICIT)
        return judged(c, k, V_REJECT, "unrecognised libpython file name");
    if (known) {
        if (ma < 3 || (ma == 3 && mi < PYS__MIN_MINOR))
            return judged(c, k, V_REJECT, "Python %d.%d is older than the supported 3.%d", ma, mi,
                          PYS__MIN_MINOR);
        if (ma > 3 || mi > PYS__MAX_MINOR)
            return judged(c, k, V_REJECT,
                          "Python %d.%d is newer than the tested range 3.%d to 3.%d", ma, mi,
                          PYS__MIN_MINOR, PYS__MAX_MINOR);
        if (!pin_matches(c, ma, mi, ft))
            return judged(c, k, V_REJECT_PIN, "Python %d.%d%s does not match the pin %s", ma, mi,
                          ft ? "t" : "", c->out->pin);
        if ((k->source == PYS__SRC_VENV || k->source == PYS__SRC_EXPLICIT) && c->venv_minor >= 0 &&
            (mi != c->venv_minor || ft != c->venv_ft))
            return judged(c, k, V_REJECT_VENV, "Python 3.%d%s is not the venv's Python 3.%d%s", mi,
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
    const char *what = ft ? " (free-threaded)" : "";
    if (!known) {
        k->prefix = prefix;
        return judged(c, k, V_ACCEPT,
                      "accepted: the file name does not show the version (0.0 unknown); the "
                      "loader checks it after loading");
    }
    if (!stdlib && prefix && k->source != PYS__SRC_EXPLICIT) {
        verdict v = judged(c, k, V_REJECT, "no standard library at %s%slib/python3.%d%s (no os.py)",
                           prefix, strcmp(prefix, "/") ? "/" : "", mi, t);
        k->prefix = prefix;
        return v;
    }
    if (!stdlib) {
        /* No prefix, or an explicit library away from its stdlib: the user
         * may know better (PYTHONHOME); init checks again. */
        verdict v = judged(c, k, V_ACCEPT,
                           "accepted: Python 3.%d%s; no standard library found next to it%s%s, "
                           "init checks again",
                           mi, what, prefix ? " under " : "", prefix ? prefix : "");
        free(prefix);
        return v;
    }
    k->prefix = prefix;
    char *rel = chk(c, pys__asprintf("bin/python3.%d%s", mi, t));
    char *exe = rel ? join(c, prefix, rel) : NULL;
    free(rel);
    if (pys__is_exec(exe))
        k->executable = exe;
    else
        free(exe);
    verdict v = judged(c, k, V_ACCEPT, "accepted: Python 3.%d%s, stdlib at %s", mi, what, stdlib);
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
    *k = (pys__candidate){.path = dup, .realpath = rp, .source = src};
    return judge(c, k, prefix);
}

/* Newest minor, then GIL over free-threaded, then source precedence; the
 * earlier of two equals wins. */
static bool better(const pys__candidate *a, const pys__candidate *b)
{
    if (a->major != b->major)
        return a->major > b->major;
    if (a->minor != b->minor)
        return a->minor > b->minor;
    if (a->free_threaded != b->free_threaded)
        return !a->free_threaded;
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
    return parse_libname(name, &a, &b, &t) != NAME_NONE;
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

/* The value of `key = value` in pyvenv.cfg (keys are case-insensitive). */
static char *cfg_get(ctx *c, const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (p < line + len && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(line + len - p) > klen && strncasecmp(p, key, klen) == 0) {
            const char *q = p + klen;
            while (q < line + len && (*q == ' ' || *q == '\t'))
                q++;
            if (q < line + len && *q == '=') {
                q++;
                const char *e = line + len;
                while (q < e && (*q == ' ' || *q == '\t'))
                    q++;
                while (e > q && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                    e--;
                return e > q ? chk(c, pys__strndup(q, (size_t)(e - q))) : NULL;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

char *pys__venv_cfg_get(const char *text, const char *key)
{
    ctx c = {0};
    return cfg_get(&c, text, key);
}

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
    char *cfg = pys__read_file(cfgpath, NULL);
    if (!cfg) {
        int rc = fail(c, d, PYS_E_NOTFOUND,
                      "venv %s (from %s) has no readable pyvenv.cfg (looked for %s): not a "
                      "virtual environment",
                      rp, from, cfgpath);
        free(cfgpath);
        return rc;
    }
    c->venv_home = cfg_get(c, cfg, "home");
    c->venv_base_prefix = cfg_get(c, cfg, "base-prefix");
    char *ver = cfg_get(c, cfg, "version");
    if (!ver)
        ver = cfg_get(c, cfg, "version_info");
    free(cfg);
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
    else if (c->pinned && c->venv_minor >= 0 && !pin_matches(c, 3, c->venv_minor, c->venv_ft))
        rc = fail(c, d, PYS_E_ARG, "the pin %s (from %s) does not match the venv %s, which is Python %s",
                  c->out->pin, c->pin_from, c->out->venv, ver);
    else if (best < 0)
        rc = fail(c, d, PYS_E_NOTFOUND,
                  "venv %s: its base Python (home = %s) has no usable libpython%s shared library "
                  "(looked in %s; %zu rejected); a statically linked Python cannot be loaded",
                  c->out->venv, home, ver, where ? where : "?", c->nrejected);
    else
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

#define LDC_OLD_MAGIC "ld.so-1.7.0"
#define LDC_NEW_MAGIC "glibc-ld.so.cache1.1"
#define LDC_OLD_HDR 16   /* magic[11], pad, uint32 nlibs */
#define LDC_OLD_ENTRY 12 /* int32 flags, uint32 key, value */
#define LDC_NEW_HDR 48   /* magic+version[20], nlibs, len_strings, flags, pad, ext, unused[3] */
#define LDC_NEW_ENTRY 24 /* flags, key, value, osversion, uint64 hwcap */

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The NUL-terminated string at `off` in [base, base+len), or NULL. */
static const char *ldc_str(const unsigned char *base, size_t len, uint32_t off)
{
    if (off >= len || !memchr(base + off, '\0', len - off))
        return NULL;
    return (const char *)base + off;
}

static void ldc_entry(ctx *c, uint32_t flags, const char *key, const char *value, size_t *nlib)
{
    if (!key || !value || strncmp(key, "libpython", 9) != 0)
        return;
    (*nlib)++;
    if (LDCACHE_ARCH >= 0 && (flags & 0xff00u) != (uint32_t)LDCACHE_ARCH) {
        pys__diag_searched(&c->log, "skipped %s (ldconfig): built for another architecture (flags 0x%04x)",
                           value, (unsigned)flags);
        return;
    }
    add_lib(c, value, NULL, PYS__SRC_LDCONFIG);
}

/* glibc's formats: the new one ("glibc-ld.so.cache1.1", string offsets
 * relative to its header), alone or after the old one ("ld.so-1.7.0",
 * string offsets relative to the end of its entry array). Every offset is
 * bounds-checked. Returns false when the format is not recognised. */
static bool ldc_parse(ctx *c, const unsigned char *buf, size_t len, size_t *nlib)
{
    size_t off = 0;
    if (len >= LDC_OLD_HDR && memcmp(buf, LDC_OLD_MAGIC, sizeof LDC_OLD_MAGIC - 1) == 0) {
        uint64_t n = rd32(buf + 12);
        uint64_t end = LDC_OLD_HDR + n * LDC_OLD_ENTRY;
        if (end > len)
            return false;
        /* The new format follows, aligned to its struct (8, or 4 on i386). */
        off = SIZE_MAX;
        for (uint64_t a = 8; a >= 4 && off == SIZE_MAX; a /= 2) {
            uint64_t o = (end + a - 1) & ~(a - 1);
            if (o + LDC_NEW_HDR <= len && memcmp(buf + o, LDC_NEW_MAGIC, sizeof LDC_NEW_MAGIC - 1) == 0)
                off = (size_t)o;
        }
        if (off == SIZE_MAX) {
            const unsigned char *strs = buf + end;
            for (uint64_t i = 0; i < n; i++) {
                const unsigned char *e = buf + LDC_OLD_HDR + i * LDC_OLD_ENTRY;
                ldc_entry(c, rd32(e), ldc_str(strs, len - end, rd32(e + 4)),
                          ldc_str(strs, len - end, rd32(e + 8)), nlib);
            }
            return true;
        }
    }
    if (len - off < LDC_NEW_HDR || memcmp(buf + off, LDC_NEW_MAGIC, sizeof LDC_NEW_MAGIC - 1) != 0)
        return false;
    const unsigned char *h = buf + off;
    size_t hlen = len - off;
    uint64_t n = rd32(h + 20);
    if (LDC_NEW_HDR + n * LDC_NEW_ENTRY > hlen)
        return false;
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *e = h + LDC_NEW_HDR + i * LDC_NEW_ENTRY;
        ldc_entry(c, rd32(e), ldc_str(h, hlen, rd32(e + 4)), ldc_str(h, hlen, rd32(e + 8)), nlib);
    }
    return true;
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

/* ---- the probe ---------------------------------------------------------- */

static int run(ctx *c, pys__diag *d)
{
    const pys__probe_opts *o = c->o;
    pys__probe *out = c->out;
    c->venv_minor = -1;
    c->home = nonempty(getenv("HOME"));
    const char *root = nonempty(getenv("PYENV_ROOT"));
    c->pyenv_root = root ? chk(c, pys__strdup(root)) : c->home ? join(c, c->home, ".pyenv") : NULL;

    const char *pin = nonempty(o->python);
    c->pin_from = "options";
    if (!pin) {
        pin = env(c, "PYSHIM_PYTHON_VERSION");
        c->pin_from = "PYSHIM_PYTHON_VERSION";
    }
    bool pin_supported = true;
    if (pin) {
        out->pin = chk(c, pys__strdup(pin));
        if (!out->pin)
            return PYS_E_NOMEM;
        if (!pys__parse_pin(pin, &c->pin_major, &c->pin_minor, &c->pin_ft))
            return fail(c, d, PYS_E_ARG,
                        "invalid Python version pin '%s' (from %s): expected MAJOR or MAJOR.MINOR "
                        "with an optional 't' for free-threaded, like 3, 3.12 or 3.13t",
                        pin, c->pin_from);
        c->pinned = true;
        pin_supported = c->pin_major == 3 &&
                        (c->pin_minor < 0 || (c->pin_minor >= PYS__MIN_MINOR && c->pin_minor <= PYS__MAX_MINOR));
    }

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
    if (venv) {
        int rc = venv_resolve(c, venv, venv_from, d);
        if (rc != PYS_OK)
            return rc;
    }
    if (lib)
        return do_explicit(c, lib, lib_from, d);
    if (venv)
        return venv_choose(c, d);

    if (o->prefer_uv)
        do_uv(c);
    do_path(c);
    do_pyenv(c);
    do_ldcache(c);
    do_system(c);
    if (c->oom)
        return PYS_E_NOMEM;

    int best = choose(out);
    if (best >= 0) {
        out->chosen = best;
        return PYS_OK;
    }
    /* NOTFOUND, not ARG: the pin is well-formed, and pys_probe still shows
     * the candidates it rejected. */
    if (!pin_supported)
        return fail(c, d, PYS_E_NOTFOUND,
                    "Python %s (pin from %s) is not supported: pyshim supports 3.%d to 3.%d "
                    "(searched %zu places, %zu candidates rejected)",
                    pin, c->pin_from, PYS__MIN_MINOR, PYS__MAX_MINOR, c->nplaces, c->nrejected);
    return fail(c, d, PYS_E_NOTFOUND,
                "no usable libpython found (searched %zu places, %zu candidates rejected; %s%s)",
                c->nplaces, c->nrejected, pin ? "pin " : "no pin", pin ? pin : "");
}

int pys__probe_run(const pys__probe_opts *o, pys__probe *out, pys__diag *d)
{
    static const pys__probe_opts defaults = {0};
    if (!out)
        return pys__diag_set(d, PYS_E_ARG, "pys__probe_run: out is NULL");
    *out = (pys__probe){.chosen = -1};
    ctx c = {.o = o ? o : &defaults, .out = out};
    int rc = run(&c, d);
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
    *p = (pys__probe){.chosen = -1};
}
