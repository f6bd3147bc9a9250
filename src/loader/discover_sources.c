/* Discovery's sources: where libpythons are looked for, one function per
 * source, each adding candidates (and "searched" lines) to the probe: an
 * explicit library, a venv (its pyvenv.cfg home), conda / mamba /
 * micromamba and pixi environments, a project's .venv, uv-managed
 * installs, PATH, pyenv, the dynamic linker's cache and the standard
 * library dirs. None of them starts a process. */
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

/* ---- explicit ----------------------------------------------------------- */

int pys__disc_do_explicit(pys__disc_ctx *c, const char *lib, const char *from, pys__diag *d)
{
    pys__disc_place(c, "%s %s", from, lib);
    pys__disc_verdict v = pys__disc_add_lib(c, lib, NULL, PYS__SRC_EXPLICIT);
    if (c->oom || c->out->n == 0)
        return PYS_E_NOMEM;
    const pys__candidate *k = &c->out->v[0];
    switch (v) {
    case PYS__V_ACCEPT:
        c->out->chosen = 0;
        return PYS_OK;
    case PYS__V_REJECT_PIN:
        return pys__disc_fail(c, d, PYS_E_ARG, "%s %s is Python 3.%d%s, which does not match the pin %s (from %s)",
                    from, lib, k->minor, k->free_threaded ? "t" : "", c->out->pin, c->pin_from);
    case PYS__V_REJECT_VENV:
        return pys__disc_fail(c, d, PYS_E_ARG, "%s %s is Python 3.%d%s but the venv %s is Python 3.%d%s", from,
                    lib, k->minor, k->free_threaded ? "t" : "", c->out->venv, c->venv_minor,
                    c->venv_ft ? "t" : "");
    default:
        return pys__disc_fail(c, d, PYS_E_NOTFOUND, "%s %s cannot be used: %s", from, lib,
                    k->reason ? k->reason : "rejected");
    }
}

/* ---- venv --------------------------------------------------------------- */

bool pys__disc_is_python_dir_name(const char *n)
{
    if (strncmp(n, "python3.", 8) != 0)
        return false;
    const char *p = n + 8;
    int mi;
    return pys__disc_read_num(&p, &mi) && (!*p || (p[0] == 't' && !p[1]));
}

/* The venv's minor from its lib/python3.X[t] dir, when pyvenv.cfg is silent. */
static bool minor_from_venv_lib(pys__disc_ctx *c, const char *venv, int *minor, bool *ft)
{
    char *lib = join(c, venv, "lib");
    size_t n = 0;
    char **names = lib ? pys__disc_list_dir(c, lib, pys__disc_is_python_dir_name, &n) : NULL;
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        const char *p = names[i] + 8;
        int mi;
        if (pys__disc_read_num(&p, &mi)) {
            *minor = mi;
            *ft = *p == 't';
            found = true;
        }
    }
    pys__disc_free_list(names, n);
    free(lib);
    return found;
}

/* Reads DIR/pyvenv.cfg: sets out->venv, out->venv_executable and the
 * venv's version. Errors name what was looked at. */
int pys__disc_venv_resolve(pys__disc_ctx *c, const char *dir, const char *from, pys__diag *d)
{
    pys__disc_place(c, "venv %s (from %s)", dir, from);
    char *rp = pys__realpath(dir);
    if (!rp || !pys__is_dir(rp)) {
        free(rp);
        return pys__disc_fail(c, d, PYS_E_NOTFOUND, "venv %s (from %s) does not exist or is not a directory",
                    dir, from);
    }
    c->out->venv = rp;
    char *cfgpath = join(c, rp, "pyvenv.cfg");
    if (!cfgpath)
        return PYS_E_NOMEM;
    pys__disc_place(c, "%s", cfgpath);
    pys__venv_cfg cfg;
    if (pys__venv_cfg_read(cfgpath, &cfg) != 0) {
        if (errno == ENOMEM) {
            c->oom = true;
            free(cfgpath);
            return PYS_E_NOMEM;
        }
        int rc = pys__disc_fail(c, d, PYS_E_NOTFOUND,
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
    if (ver && pys__disc_parse_version_str(ver, &mi, &ft)) {
        c->venv_minor = mi;
        c->venv_ft = ft;
    } else if (minor_from_venv_lib(c, rp, &mi, &ft)) {
        c->venv_minor = mi;
        c->venv_ft = ft;
    }
    free(ver);
    if (!c->venv_home) {
        int rc = pys__disc_fail(c, d, PYS_E_NOTFOUND,
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
        return pys__disc_fail(c, d, PYS_E_NOTFOUND,
                    "venv %s has no working interpreter (looked for bin/python3.X, bin/python3 "
                    "and bin/python)",
                    rp);
    return PYS_OK;
}

/* Finds the venv base install's libpython. No fall-back to other Pythons. */
int pys__disc_venv_choose(pys__disc_ctx *c, pys__diag *d)
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
        if (prefixes[i] && pys__disc_scan_prefix(c, prefixes[i], PYS__SRC_VENV))
            pys__sb_addf(&looked, "%s%s/{%s}", looked.len ? ", " : "", prefixes[i], subs);
        free(prefixes[i]);
    }
    char *where = chk(c, pys__sb_take(&looked));
    int best = pys__disc_choose(c->out);
    int rc = PYS_OK;
    char ver[32] = "";
    if (c->venv_minor >= 0)
        snprintf(ver, sizeof ver, "3.%d%s", c->venv_minor, c->venv_ft ? "t" : "");
    if (c->oom)
        rc = PYS_E_NOMEM;
    else if (c->pinned && c->venv_minor >= 0 && !pys__disc_pin_matches(c, 3, c->venv_minor, c->venv_ft, c->pin_debug))
        rc = pys__disc_fail(c, d, PYS_E_ARG, "the pin %s (from %s) does not match the venv %s, which is Python %s",
                  c->out->pin, c->pin_from, c->out->venv, ver);
    else if (best < 0) {
        char *base = chk(c, c->venv_base_prefix ? pys__strdup(c->venv_base_prefix) : pys__path_dir(home));
        char *fix = base ? pys__disc_doctor(c, base, c->venv_minor, c->venv_ft) : NULL;
        rc = pys__disc_fail(c, d, PYS_E_NOTFOUND,
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

/* Scans each subdirectory of dir (a folder of installs) whose name keep
 * accepts (NULL: every one) as an install's prefix from src, after noting
 * the place: "DIR (LABEL): N NOUNs", with "no such directory, " before N
 * when dir is missing. */
static void scan_installs(pys__disc_ctx *c, const char *dir, bool (*keep)(const char *),
                          const char *label, const char *noun, pys__source src)
{
    size_t n = 0;
    char **names = pys__disc_list_dir(c, dir, keep, &n);
    pys__disc_place(c, "%s (%s): %s%zu %s%s", dir, label,
                    pys__is_dir(dir) ? "" : "no such directory, ", n, noun, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        char *prefix = join(c, dir, names[i]);
        if (pys__is_dir(prefix))
            pys__disc_scan_prefix(c, prefix, src);
        free(prefix);
    }
    pys__disc_free_list(names, n);
}

void pys__disc_do_uv(pys__disc_ctx *c)
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
        pys__disc_place(c, "uv python dir: unknown (no HOME)");
        return;
    }
    scan_installs(c, dir, is_uv_entry, "uv", "cpython install", PYS__SRC_UV);
    free(dir);
}

static bool is_python_exe_name(const char *n)
{
    return strcmp(n, "python3") == 0 || pys__disc_is_python_dir_name(n);
}

/* pyenv's shims are bash scripts that run `pyenv exec`: they say nothing
 * about an install, so pyenv's versions dir is scanned instead. */
bool pys__disc_is_pyenv_shims(pys__disc_ctx *c, const char *dir)
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

void pys__disc_do_path(pys__disc_ctx *c)
{
    const char *path = getenv("PATH");
    if (!path) {
        pys__disc_place(c, "PATH is not set");
        return;
    }
    for (const char *p = path; p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        char *dir = len ? chk(c, pys__strndup(p, len)) : NULL;
        p = colon ? colon + 1 : NULL;
        if (!dir || !pys__disc_strset_add(c, &c->path_dirs, dir)) {
            free(dir);
            continue;
        }
        if (pys__disc_is_pyenv_shims(c, dir)) {
            pys__disc_place(c, "PATH %s: pyenv shims, not interpreters (pyenv's versions are scanned)", dir);
            free(dir);
            continue;
        }
        size_t n = 0;
        char **names = pys__disc_list_dir(c, dir, is_python_exe_name, &n);
        pys__sb b = {0};
        for (size_t i = 0; i < n; i++)
            pys__sb_addf(&b, "%s%s", i ? ", " : "", names[i]);
        char *found = chk(c, pys__sb_take(&b));
        pys__disc_place(c, "PATH %s: %s", dir,
              !pys__is_dir(dir) ? "no such directory" : !n ? "no python3 interpreter" : found ? found : "?");
        free(found);
        for (size_t i = 0; i < n; i++) {
            char *exe = join(c, dir, names[i]);
            char *rexe = pys__is_exec(exe) ? pys__realpath(exe) : NULL;
            char *bin = rexe ? chk(c, pys__path_dir(rexe)) : NULL;
            char *prefix = bin && strcmp(base_name(bin), "bin") == 0 ? chk(c, pys__path_dir(bin)) : NULL;
            if (prefix)
                pys__disc_scan_prefix(c, prefix, PYS__SRC_PATH);
            free(prefix);
            free(bin);
            free(rexe);
            free(exe);
        }
        pys__disc_free_list(names, n);
        free(dir);
    }
}

void pys__disc_do_pyenv(pys__disc_ctx *c)
{
    if (!c->pyenv_root) {
        pys__disc_place(c, "pyenv: no PYENV_ROOT and no HOME");
        return;
    }
    char *versions = join(c, c->pyenv_root, "versions");
    if (!versions)
        return;
    scan_installs(c, versions, NULL, "pyenv", "version", PYS__SRC_PYENV);
    free(versions);
}

/* ---- the dynamic linker's cache ---------------------------------------- */

typedef struct ldc_ud {
    pys__disc_ctx *c;
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
    pys__disc_add_lib(u->c, value, NULL, PYS__SRC_LDCONFIG);
}

/* Adds the cache's libpython entries; false when the format is not
 * recognised. */
static bool ldc_parse(pys__disc_ctx *c, const unsigned char *buf, size_t len, size_t *nlib)
{
    ldc_ud u = {c, nlib};
    return pys__ldcache_foreach(buf, len, ldc_entry, &u) >= 0;
}

bool pys__ldcache_parse(const unsigned char *buf, size_t len, pys__probe *out, size_t *nlib)
{
    static const pys__probe_opts defaults = {0};
    pys__disc_ctx c = {.o = &defaults, .out = out, .venv_minor = -1};
    *nlib = 0;
    bool ok = ldc_parse(&c, buf, len, nlib);
    pys__diag_free(&c.log);
    pys__disc_strset_free(&c.dirs);
    pys__disc_strset_free(&c.path_dirs);
    pys__disc_strset_free(&c.prefixes);
    return ok;
}

void pys__disc_do_ldcache(pys__disc_ctx *c)
{
    const char *file = env(c, "PYSHIM_LDCONFIG_CACHE");
    if (!file)
        file = "/etc/ld.so.cache";
    size_t len = 0;
    char *buf = pys__read_file(file, &len);
    if (!buf) {
        pys__disc_place(c, "%s (ldconfig): cannot be read", file);
        return;
    }
    pys__disc_place(c, "%s (ldconfig)", file);
    size_t nlib = 0;
    if (!ldc_parse(c, (const unsigned char *)buf, len, &nlib))
        pys__diag_searched(&c->log, "%s (ldconfig): unrecognised format", file);
    else if (nlib == 0)
        pys__diag_searched(&c->log, "%s (ldconfig): no libpython entry", file);
    free(buf);
}

void pys__disc_do_system(pys__disc_ctx *c)
{
    const char *list = c->o->use_env ? getenv("PYSHIM_SYSTEM_LIBDIRS") : NULL;
    if (list) {
        for (const char *p = list; p && *p;) {
            const char *colon = strchr(p, ':');
            size_t len = colon ? (size_t)(colon - p) : strlen(p);
            char *dir = len ? chk(c, pys__strndup(p, len)) : NULL;
            if (dir)
                pys__disc_scan_libdir(c, dir, NULL, PYS__SRC_SYSTEM, true);
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
        pys__disc_scan_libdir(c, dirs[i], NULL, PYS__SRC_SYSTEM, true);
}

/* ---- active environments: conda, mamba, micromamba, pixi ---------------- */

/* Chooses among the env's own libpythons; no fall-back to another Python. */
static int env_prefix_choose(pys__disc_ctx *c, const char *prefix, pys__source src, const char *from,
                             pys__diag *d)
{
    const char *what = src == PYS__SRC_PIXI ? "pixi environment" : "conda environment";
    size_t first = c->out->n;
    pys__disc_scan_prefix(c, prefix, src);
    if (c->oom)
        return PYS_E_NOMEM;
    int best = -1;
    bool pin_mismatch = false;
    for (size_t i = first; i < c->out->n; i++) {
        const pys__candidate *k = &c->out->v[i];
        pin_mismatch |= k->code && (strcmp(k->code, "pin_mismatch") == 0 || strcmp(k->code, "patch_unknown") == 0);
        if (k->accepted && (best < 0 || pys__disc_better(k, &c->out->v[best])))
            best = (int)i;
    }
    if (best >= 0) {
        const pys__candidate *k = &c->out->v[best];
        pys__disc_step(c, src == PYS__SRC_PIXI ? "pixi" : "conda", "chosen", from, "the active %s %s (from %s)",
             what, prefix, from);
        pys__disc_decide(c, best, src == PYS__SRC_PIXI ? "pixi" : "conda", from, "the active %s %s (%s): %s",
               what, prefix, from, k->path);
        return PYS_OK;
    }
    const char *name = src == PYS__SRC_PIXI ? "pixi" : "conda";
    if (pin_mismatch) {
        int rc = pys__disc_fail(c, d, PYS_E_ARG, "the pin %s (from %s) does not match the active %s %s (from %s)",
                      c->out->pin, c->pin_from, what, prefix, from);
        pys__disc_step(c, name, "failed", from, "%s", d && d->message ? d->message : "?");
        return rc;
    }
    /* Which Python is there, to say how to fix it. */
    int minor = -1;
    char *bin = join(c, prefix, "bin");
    size_t n = 0;
    char **names = bin ? pys__disc_list_dir(c, bin, pys__disc_is_python_dir_name, &n) : NULL;
    const char *p = n ? names[0] + 8 : NULL;
    if (p)
        pys__disc_read_num(&p, &minor);
    pys__disc_free_list(names, n);
    free(bin);
    char *fix = pys__disc_doctor(c, prefix, minor, false);
    char ver[16] = "";
    if (minor >= 0)
        snprintf(ver, sizeof ver, "3.%d", minor);
    int rc = pys__disc_fail(c, d, PYS_E_NOTFOUND,
                  "the active %s %s (from %s) has no usable shared libpython%s in %s/lib (%zu "
                  "candidates rejected): %s",
                  what, prefix, from, ver, prefix, c->nrejected, fix ? fix : "install python in it");
    free(fix);
    pys__disc_step(c, name, "failed", from, "%s", d && d->message ? d->message : "?");
    return rc;
}

/* CONDA_PREFIX (conda, mamba, micromamba; pixi sets it too) and pixi's
 * PIXI_PROJECT_ROOT. Returns 1 when no env is active (go on), else the
 * result of choosing in it. */
int pys__disc_do_envs(pys__disc_ctx *c, pys__diag *d)
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
        pys__disc_step(c, "conda", "none", NULL, "no CONDA_PREFIX: no conda, mamba or micromamba environment is active");
    } else if (conda_is_pixi) {
        pys__disc_step(c, "conda", "skipped", "CONDA_PREFIX", "CONDA_PREFIX %s is the pixi environment", conda);
    } else {
        char *meta = join(c, conda, "conda-meta");
        const char *dflt = env(c, "CONDA_DEFAULT_ENV");
        pys__disc_place(c, "CONDA_PREFIX %s", conda);
        if (!rconda || !pys__is_dir(rconda))
            pys__disc_step(c, "conda", "skipped", "CONDA_PREFIX", "CONDA_PREFIX %s is not a directory", conda);
        else if (!pys__is_dir(meta))
            pys__disc_step(c, "conda", "skipped", "CONDA_PREFIX", "CONDA_PREFIX %s has no conda-meta/: not a conda environment", conda);
        else if (dflt && strcmp(dflt, "base") == 0)
            pys__disc_step(c, "conda", "skipped", "CONDA_DEFAULT_ENV",
                 "%s is conda's base environment: not treated as an active project environment (as uv "
                 "does); its python3 on PATH counts as the shell's",
                 conda);
        else
            rc = env_prefix_choose(c, rconda, PYS__SRC_CONDA, "CONDA_PREFIX", d);
        free(meta);
    }
    if (rc == 1) {
        if (!pixi_root)
            pys__disc_step(c, "pixi", "none", NULL, "not under pixi (no PIXI_PROJECT_ROOT)");
        else if (!rpixi || !pys__is_dir(rpixi))
            pys__disc_step(c, "pixi", "skipped", "PIXI_PROJECT_ROOT", "PIXI_PROJECT_ROOT is set, but %s does not exist", pixi);
        else
            rc = env_prefix_choose(c, rpixi, PYS__SRC_PIXI, conda_is_pixi ? "CONDA_PREFIX" : "PIXI_PROJECT_ROOT", d);
    }
    free(rconda);
    free(rpixi);
    free(pixi);
    return rc;
}

/* ---- the project's .venv ------------------------------------------------- */

/* Returns 1 when no project .venv applies (go on), else venv_choose's result. */
int pys__disc_do_project_venv(pys__disc_ctx *c, pys__diag *d)
{
    const pys__probe_opts *o = c->o;
    if (!o->project_venv || !nonempty(o->project_dir)) {
        pys__disc_step(c, "project-venv", "none", NULL, "not asked for (project_venv)");
        return 1;
    }
    char *dir = pys__disc_find_upward(c, o->project_dir, ".venv", true);
    char *cfgp = dir ? join(c, dir, "pyvenv.cfg") : NULL;
    if (!dir || !pys__is_file(cfgp)) {
        pys__disc_step(c, "project-venv", "none", NULL, "no .venv with a pyvenv.cfg in %s or its parents",
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
        if (pys__disc_parse_version_str(ver, &mi, &ft) && pys__disc_read_num(&p, &ma) && *p == '.' && (p++, pys__disc_read_num(&p, &mi)) &&
            *p == '.') {
            p++;
            pys__disc_read_num(&p, &micro);
        }
    }
    pys__candidate probe = {.major = ma, .minor = mi, .micro = micro, .free_threaded = ft, .accepted = true,
                            .source = PYS__SRC_VENV};
    bool ok = c->nreq == 0 || mi < 0;
    for (size_t i = 0; i < c->nreq && !ok; i++)
        ok = c->req[i].kind == PYS__PYVER_VERSION && pys__disc_req_matches(c, (int)i, &probe);
    if (!ok) {
        pys__disc_step(c, "project-venv", "skipped", cfgp, "%s is Python %s, which no version request asks for",
             dir, ver ? ver : "?");
        free(ver);
        free(dir);
        free(cfgp);
        return 1;
    }
    free(ver);
    int rc = pys__disc_venv_resolve(c, dir, "the project's .venv", d);
    if (rc == PYS_OK)
        rc = pys__disc_venv_choose(c, d);
    if (rc == PYS_OK) {
        pys__disc_step(c, "project-venv", "chosen", cfgp, "%s (no environment is active)", dir);
        pys__disc_decide(c, c->out->chosen, "project-venv", cfgp, "the project's virtual environment %s", dir);
    } else {
        pys__disc_step(c, "project-venv", "failed", cfgp, "%s", d && d->message ? d->message : "?");
    }
    free(dir);
    free(cfgp);
    return rc;
}

