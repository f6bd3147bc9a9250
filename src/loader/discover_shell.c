/* Discovery's "shell" step: the interpreter the user's shell would run
 * for a version request (the first python3 / python3.X on PATH, pyenv
 * shims resolved the way pyenv resolves them: PYENV_VERSION, the nearest
 * .python-version, the global version file, prefix matching of version
 * names), and its libpython, read from the interpreter's ELF (DT_NEEDED
 * through its run path, then its install's lib dirs), without running it.
 * A statically linked interpreter is reported, not silently replaced. */
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
static char *pyenv_resolve(pys__disc_ctx *c, const char *word)
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
        char **names = pys__disc_list_dir(c, versions, NULL, &n);
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
        pys__disc_free_list(names, n);
    }
    free(versions);
    return res;
}

/* pyenv's version list, as `pyenv version-name` finds it: PYENV_VERSION
 * (colon-separated), else the nearest .python-version upward from the
 * project dir, else $PYENV_ROOT/version. *origin: the variable or file. */
static size_t pyenv_versions(pys__disc_ctx *c, pys__pyver *v, size_t cap, char **origin)
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
    char *file = nonempty(c->o->project_dir) ? pys__disc_find_upward(c, c->o->project_dir, ".python-version", false) : NULL;
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


void pys__disc_shell_free(pys__disc_shell *s)
{
    free(s->found);
    free(s->exe);
    free(s->pyenv);
    free(s->origin);
    free(s->note);
    free(s->problem);
    *s = (pys__disc_shell){.cand = -1};
}

static int cand_by_realpath(const pys__disc_ctx *c, const char *path)
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
static int cand_in_prefix(const pys__disc_ctx *c, const char *prefix, int minor, bool ft, int dbg)
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
            (k->accepted == c->out->v[best].accepted && pys__disc_better(k, &c->out->v[best])))
            best = (int)i;
    }
    free(rp);
    return best;
}

/* Finds the libpython of the interpreter sh->exe: the one its ELF needs
 * (through its run path, then its install's lib dirs), or, for a
 * statically linked interpreter, a shared one its install ships beside it
 * (Debian's python3.X with libpython3.X). Sets sh->cand, or sh->problem. */
static void shell_library(pys__disc_ctx *c, pys__disc_shell *sh, pys__source src)
{
    char *bin = chk(c, pys__path_dir(sh->exe));
    char *prefix = bin && strcmp(base_name(bin), "bin") == 0 ? chk(c, pys__path_dir(bin)) : NULL;
    int minor = -1, ma;
    bool ft = false;
    int dbg = -1; /* unknown */
    const char *names[2] = {base_name(sh->exe), sh->found ? base_name(sh->found) : ""};
    for (size_t i = 0; i < 2 && minor < 0; i++)
        if (pys__disc_is_python_dir_name(names[i])) {
            const char *p = names[i] + 8;
            pys__disc_read_num(&p, &minor);
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
        if (pys__disc_parse_libname(needed[i], &ma, &mi, &t, &g) == PYS__NAME_VERSION) {
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
                pys__disc_add_lib(c, f, NULL, src);
                sh->cand = cand_by_realpath(c, f);
            }
            free(f);
            free(dir);
            p = colon ? colon + 1 : NULL;
        }
        if (sh->cand < 0 && prefix) {
            pys__disc_scan_prefix(c, prefix, src);
            sh->cand = cand_in_prefix(c, prefix, minor, ft, dbg);
        }
        if (sh->cand < 0) {
            char *fix = pys__disc_doctor(c, prefix, minor, ft);
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
            char **dirs = lib ? pys__disc_list_dir(c, lib, pys__disc_is_python_dir_name, &n) : NULL;
            if (n) {
                const char *p = dirs[0] + 8;
                pys__disc_read_num(&p, &minor);
                ft = *p == 't';
            }
            pys__disc_free_list(dirs, n);
            free(lib);
        }
        pys__disc_scan_prefix(c, prefix, src);
        sh->cand = cand_in_prefix(c, prefix, minor, ft, dbg);
        const char *how = elf == 0 ? "is statically linked (its ELF needs no libpython)"
                                   : "is not an ELF executable of this machine";
        if (sh->cand >= 0) {
            sh->note = chk(c, pys__asprintf("%s %s; its install ships the shared library", sh->exe, how));
        } else {
            char ver[16] = "";
            if (minor >= 0)
                snprintf(ver, sizeof ver, "3.%d%s", minor, ft ? "t" : "");
            char *fix = pys__disc_doctor(c, prefix, minor, ft);
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
void pys__disc_shell_find(pys__disc_ctx *c, int ri, pys__disc_shell *sh)
{
    *sh = (pys__disc_shell){.cand = -1};
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
            if (!pys__disc_is_pyenv_shims(c, dir)) {
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

char *pys__disc_shell_text(pys__disc_ctx *c, const pys__disc_shell *sh)
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

