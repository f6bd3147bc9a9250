/* Discovery's candidates: what a libpython's file name says (version,
 * ABI flags, the stable-ABI stub), what its install says (prefix, stdlib,
 * patch release), the verdict on each one found (accepted, or why not),
 * scanning lib dirs and prefixes for them, the ranking that picks the
 * best, and the doctor's advice when none is usable. Candidates are unique
 * by realpath: the first source to reach a file owns it. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/discover_internal.h"
#include "loader/ldcache.h"
#include "loader/loader.h"
#include "loader/parse.h"
#include "loader/pyvenv_cfg.h"
#include "loader/pyversion_file.h"
#include "pyshim.h"

/* ---- names and versions ------------------------------------------------- */

/* Reads 1 to 3 decimal digits. */
bool pys__disc_read_num(const char **p, int *out)
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
 * parsed and ignored), the libpython3.so stub; PYS__NAME_NONE for anything that
 * is not a libpython shared library (libpython3.12.a, ...-gdb.py). */
pys__disc_name_kind pys__disc_parse_libname(const char *name, int *major, int *minor, bool *ft, bool *debug)
{
    *major = *minor = 0;
    *ft = *debug = false;
    if (strncmp(name, "libpython", 9) != 0)
        return PYS__NAME_NONE;
    const char *so = strstr(name + 9, ".so");
    while (so && !so_tail(so + 3))
        so = strstr(so + 1, ".so");
    if (!so)
        return PYS__NAME_NONE;
    const char *p = name + 9;
    int ma, mi;
    if (!pys__disc_read_num(&p, &ma))
        return PYS__NAME_ODD;
    if (p == so)
        return ma == 3 ? PYS__NAME_STUB : PYS__NAME_ODD;
    if (*p != '.')
        return PYS__NAME_ODD;
    p++;
    if (!pys__disc_read_num(&p, &mi))
        return PYS__NAME_ODD;
    bool t = false, dbg = false;
    for (; p < so; p++) {
        if (*p == 't')
            t = true;
        else if (*p == 'd')
            dbg = true;
        else if (*p != 'm' && *p != 'u')
            return PYS__NAME_ODD;
    }
    *major = ma;
    *minor = mi;
    *ft = t;
    *debug = dbg;
    return PYS__NAME_VERSION;
}

/* "3.12.1", "3.12.1.final.0", "3.13.0t", "3.13.0+freethreaded". */
bool pys__disc_parse_version_str(const char *s, int *minor, bool *ft)
{
    const char *p = s;
    int ma, mi;
    if (!pys__disc_read_num(&p, &ma) || ma != 3 || *p++ != '.' || !pys__disc_read_num(&p, &mi))
        return false;
    *minor = mi;
    *ft = *p == 't' || p[strspn(p, ".0123456789")] == 't' || strstr(p, "freethreaded") != NULL;
    return true;
}

bool pys__disc_pin_matches(const pys__disc_ctx *c, int major, int minor, bool ft, bool debug)
{
    if (!c->pinned)
        return true;
    if (major != c->pin_major || (c->pin_minor >= 0 && minor != c->pin_minor))
        return false;
    return (!c->pin_ft || ft) && (!c->pin_debug || debug);
}


/* ---- one candidate ------------------------------------------------------ */

static bool is_lib_dir_name(const char *b)
{
    return strcmp(b, "lib") == 0 || strcmp(b, "lib64") == 0 || strcmp(b, "lib32") == 0;
}

/* The install prefix a library dir belongs to: P for P/lib, P/lib64 and
 * P/lib/<triplet>; NULL when the dir has no such shape. */
static char *prefix_of_libdir(pys__disc_ctx *c, const char *dir)
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
static char *find_stdlib(pys__disc_ctx *c, const char *prefix, int minor, bool ft)
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
    if (!pys__disc_read_num(&p, &ma) || ma != 3 || *p++ != '.' || !pys__disc_read_num(&p, &mi) || mi != minor ||
        *p++ != '.' || !pys__disc_read_num(&p, &mc))
        return -1;
    return *p == '\0' || *p == 't' || *p == '+' || *p == '-' ? mc : -1;
}

/* The install's patch release, without running it: PY_MICRO_VERSION in its
 * include/python3.X/patchlevel.h, else a version in the prefix's name (pyenv
 * "3.11.7", uv "cpython-3.12.7-..."), else conda's conda-meta/python-3.X.Y-*.json.
 * -1 when none says. */
static int detect_micro(pys__disc_ctx *c, const char *prefix, int minor, const char *abiflags)
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
        if (pys__disc_read_num(&m, &v))
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
static pys__disc_verdict judged(pys__disc_ctx *c, pys__candidate *k, pys__disc_verdict v, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *reason = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
    free(k->reason);
    k->reason = reason;
    k->accepted = v == PYS__V_ACCEPT;
    k->code = code;
    if (!k->accepted) {
        c->nrejected++;
        pys__diag_searched(&c->log, "rejected %s (%s): %s", k->path ? k->path : "?",
                           pys__source_name(k->source), k->reason ? k->reason : "?");
    }
    return v;
}

static pys__disc_verdict judge(pys__disc_ctx *c, pys__candidate *k, const char *prefix_hint)
{
    int ma, mi, ma2, mi2;
    bool ft, ft2, dbg, dbg2;
    pys__disc_name_kind kind = pys__disc_parse_libname(base_name(k->path), &ma, &mi, &ft, &dbg);
    if (kind != PYS__NAME_VERSION && kind != PYS__NAME_STUB && k->realpath &&
        pys__disc_parse_libname(base_name(k->realpath), &ma2, &mi2, &ft2, &dbg2) == PYS__NAME_VERSION) {
        kind = PYS__NAME_VERSION;
        ma = ma2, mi = mi2, ft = ft2, dbg = dbg2;
    }
    bool known = kind == PYS__NAME_VERSION;
    if (known) {
        k->major = ma;
        k->minor = mi;
        k->free_threaded = ft;
        k->debug = dbg;
    }
    if (!k->realpath || !pys__is_file(k->realpath))
        return judged(c, k, PYS__V_REJECT, "no_file", "no such file (or a broken symlink, or not a regular file)");
    if (kind == PYS__NAME_STUB)
        return judged(c, k, PYS__V_REJECT, "stub", "stable-ABI stub %s, not a full runtime", base_name(k->path));
    if (!known && k->source != PYS__SRC_EXPLICIT)
        return judged(c, k, PYS__V_REJECT, "unknown_name", "unrecognised libpython file name");
    if (known) {
        if (ma < 3 || (ma == 3 && mi < PYS__MIN_MINOR))
            return judged(c, k, PYS__V_REJECT, "too_old", "Python %d.%d is older than the supported 3.%d", ma, mi,
                          PYS__MIN_MINOR);
        if (ma > 3)
            return judged(c, k, PYS__V_REJECT, "too_new", "Python %d.%d is not Python 3", ma, mi);
        k->untested = mi > PYS__MAX_MINOR;
        if (k->untested && c->refuse_untested)
            return judged(c, k, PYS__V_REJECT, "too_new",
                          "Python %d.%d is newer than the tested range 3.%d to 3.%d "
                          "(untested versions are refused by refuse_untested / "
                          "PYSHIM_REFUSE_UNTESTED)",
                          ma, mi, PYS__MIN_MINOR, PYS__MAX_MINOR);
        if (!pys__disc_pin_matches(c, ma, mi, ft, dbg))
            return judged(c, k, PYS__V_REJECT_PIN, "pin_mismatch", "Python %d.%d%s%s does not match the pin %s",
                          ma, mi, ft ? "t" : "", dbg ? "d" : "", c->out->pin);
        if ((k->source == PYS__SRC_VENV || k->source == PYS__SRC_EXPLICIT) && c->venv_minor >= 0 &&
            (mi != c->venv_minor || ft != c->venv_ft))
            return judged(c, k, PYS__V_REJECT_VENV, "venv_mismatch", "Python 3.%d%s is not the venv's Python 3.%d%s", mi,
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
        return judged(c, k, PYS__V_ACCEPT, "accepted",
                      "accepted: the file name does not show the version (0.0 unknown); the "
                      "loader checks it after loading");
    }
    if (!stdlib && prefix && k->source != PYS__SRC_EXPLICIT) {
        pys__disc_verdict v = judged(c, k, PYS__V_REJECT, "no_stdlib", "no standard library at %s%slib/python3.%d%s (no os.py)",
                           prefix, strcmp(prefix, "/") ? "/" : "", mi, t);
        k->prefix = prefix;
        return v;
    }
    if (!stdlib) {
        /* No prefix, or an explicit library away from its stdlib: the user
         * may know better (PYTHONHOME); init checks again. */
        pys__disc_verdict v = judged(c, k, PYS__V_ACCEPT, "accepted",
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
            return judged(c, k, PYS__V_REJECT_PIN, "patch_unknown",
                          "the pin %s names a patch release, and this install's is unknown (no "
                          "include/python3.%d%s/patchlevel.h, no version in its name)",
                          c->out->pin, mi, tag);
        return judged(c, k, PYS__V_REJECT_PIN, "pin_mismatch", "Python 3.%d.%d%s does not match the pin %s",
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
    pys__disc_verdict v = judged(c, k, PYS__V_ACCEPT, "accepted", "accepted: Python 3.%d%s%s%s, stdlib at %s", mi,
                       full, t, what, stdlib);
    free(stdlib);
    return v;
}

/* Considers one library file; PYS__V_DUP when its realpath is already listed. */
pys__disc_verdict pys__disc_add_lib(pys__disc_ctx *c, const char *path, const char *prefix, pys__source src)
{
    char *rp = pys__realpath(path);
    const char *key = rp ? rp : path;
    pys__probe *p = c->out;
    for (size_t i = 0; i < p->n; i++) {
        const pys__candidate *k = &p->v[i];
        if (strcmp(k->realpath ? k->realpath : k->path, key) == 0) {
            free(rp);
            return PYS__V_DUP;
        }
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        pys__candidate *v = pys__realloc_n(p->v, cap, sizeof *v);
        if (!v) {
            free(rp);
            c->oom = true;
            return PYS__V_DUP;
        }
        p->v = v;
        p->cap = cap;
    }
    char *dup = chk(c, pys__strdup(path));
    if (!dup) {
        free(rp);
        return PYS__V_DUP;
    }
    pys__candidate *k = &p->v[p->n++];
    *k = (pys__candidate){.path = dup, .realpath = rp, .source = src, .micro = -1};
    return judge(c, k, prefix);
}

/* A tested version over an untested (newer) one, then the newest minor,
 * then GIL over free-threaded, then release over debug, then source
 * precedence; the earlier of two equals wins. */
bool pys__disc_better(const pys__candidate *a, const pys__candidate *b)
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

int pys__disc_choose(const pys__probe *p)
{
    int best = -1;
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].accepted && (best < 0 || pys__disc_better(&p->v[i], &p->v[best])))
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
char **pys__disc_list_dir(pys__disc_ctx *c, const char *dir, bool (*keep)(const char *), size_t *n)
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

void pys__disc_free_list(char **v, size_t n)
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
    return pys__disc_parse_libname(name, &a, &b, &t, &dbg) != PYS__NAME_NONE;
}

/* Lists every libpython in one dir (once per process probe). Returns false
 * when the dir does not exist. */
bool pys__disc_scan_libdir(pys__disc_ctx *c, const char *dir, const char *prefix, pys__source src,
                        bool log_missing)
{
    char *rp = pys__realpath(dir);
    if (!rp || !pys__is_dir(rp)) {
        if (log_missing)
            pys__disc_place(c, "%s (%s): no such directory", dir, pys__source_name(src));
        free(rp);
        return false;
    }
    if (!pys__disc_strset_add(c, &c->dirs, rp)) {
        free(rp);
        return true;
    }
    free(rp);
    size_t n;
    char **names = pys__disc_list_dir(c, dir, is_libpython_name, &n);
    pys__disc_place(c, "%s (%s): %zu libpython file%s", dir, pys__source_name(src), n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        char *f = join(c, dir, names[i]);
        if (f)
            pys__disc_add_lib(c, f, prefix, src);
        free(f);
    }
    pys__disc_free_list(names, n);
    return true;
}

/* Lists the libpythons of one install: PREFIX/lib, lib64, lib/<triplet>.
 * Returns false when that install was already looked at. */
bool pys__disc_scan_prefix(pys__disc_ctx *c, const char *prefix_in, pys__source src)
{
    char *prefix = pys__realpath(prefix_in);
    if (!prefix || !pys__is_dir(prefix)) {
        pys__disc_place(c, "%s (%s): no such directory", prefix_in, pys__source_name(src));
        free(prefix);
        return true;
    }
    if (!pys__disc_strset_add(c, &c->prefixes, prefix)) {
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
        if (dir && pys__disc_scan_libdir(c, dir, prefix, src, false))
            any = true;
        free(dir);
    }
    if (!any)
        pys__disc_place(c, "%s (%s): no lib directory", prefix, pys__source_name(src));
    free(prefix);
    return true;
}

/* ---- the doctor --------------------------------------------------------- */

bool pys__disc_under_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return n && strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* How to get a usable shared libpython3.X for the install at `prefix`. */
char *pys__disc_doctor(pys__disc_ctx *c, const char *prefix, int minor, bool ft)
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
    else if (root && *pp && pys__disc_under_dir(pp, root))
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

