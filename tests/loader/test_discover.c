/* Discovery tests: fake install trees under a mkdtemp dir, with PATH, HOME,
 * PYENV_ROOT, the uv dirs, PYSHIM_LDCONFIG_CACHE and PYSHIM_SYSTEM_LIBDIRS
 * pointed at them (Criterion forks per test, so env changes stay local).
 * The "real" suite runs against this machine untouched. */
#include <criterion/criterion.h>

#include <errno.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "pyshim.h"

#if defined(__x86_64__) && !defined(__ILP32__)
#define NATIVE_FLAGS 0x0303u
#define FOREIGN_FLAGS 0x0003u /* i386 entries in an amd64 cache */
#elif defined(__aarch64__)
#define NATIVE_FLAGS 0x0a03u
#define FOREIGN_FLAGS 0x0003u
#else
#define NATIVE_FLAGS 0x0003u
#endif

static char root[PATH_MAX];
static pys__probe pr;
static pys__diag dg;
static bool probed;

/* ---- helpers ------------------------------------------------------------ */

/* A path under the test root, in a ring of static buffers. */
PYS__PRINTF(1, 2)
static const char *P(const char *fmt, ...)
{
    static char ring[32][PATH_MAX];
    static int next;
    char *buf = ring[next++ % 32];
    int n = snprintf(buf, PATH_MAX, "%s/", root);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, (size_t)(PATH_MAX - n), fmt, ap);
    va_end(ap);
    return buf;
}

static void mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *s = tmp + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(tmp, 0755);
            *s = '/';
        }
    }
    cr_assert(mkdir(tmp, 0755) == 0 || errno == EEXIST, "mkdir %s", tmp);
}

static void mkparent(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *s = strrchr(tmp, '/');
    cr_assert(s != NULL);
    *s = '\0';
    mkdirs(tmp);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    mkparent(path);
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "open %s", path);
    cr_assert(fwrite(data, 1, len, f) == len);
    fclose(f);
    cr_assert(chmod(path, mode) == 0);
}

static void touch(const char *path)
{
    write_file(path, "", 0, 0644);
}

static void script(const char *path)
{
    static const char sh[] = "#!/bin/sh\nexit 0\n";
    write_file(path, sh, sizeof sh - 1, 0755);
}

static void symlink_to(const char *target, const char *path)
{
    mkparent(path);
    cr_assert(symlink(target, path) == 0, "symlink %s -> %s", path, target);
}

/* A fake CPython install: PREFIX/lib/libpython3.X[t].so.1.0 (+ the .so
 * symlink), lib/python3.X[t]/os.py, bin/python3.X[t]. */
static void install(const char *prefix, int minor, bool ft, bool stdlib)
{
    const char *t = ft ? "t" : "";
    char real[PATH_MAX], link[PATH_MAX], name[64];
    snprintf(name, sizeof name, "libpython3.%d%s.so.1.0", minor, t);
    snprintf(real, sizeof real, "%s/lib/%s", prefix, name);
    snprintf(link, sizeof link, "%s/lib/libpython3.%d%s.so", prefix, minor, t);
    touch(real);
    symlink_to(name, link);
    if (stdlib) {
        char os[PATH_MAX];
        snprintf(os, sizeof os, "%s/lib/python3.%d%s/os.py", prefix, minor, t);
        touch(os);
    }
    char exe[PATH_MAX];
    snprintf(exe, sizeof exe, "%s/bin/python3.%d%s", prefix, minor, t);
    script(exe);
}

static int probe(pys__probe_opts o)
{
    o.use_env = true;
    probed = true;
    return pys__probe_run(&o, &pr, &dg);
}

static const pys__candidate *chosen(void)
{
    cr_assert(pr.chosen >= 0 && (size_t)pr.chosen < pr.n, "nothing chosen (%s)",
              dg.message ? dg.message : "-");
    return &pr.v[pr.chosen];
}

/* The candidate whose path ends with `suffix`, or NULL. */
static const pys__candidate *cand(const char *suffix)
{
    for (size_t i = 0; i < pr.n; i++)
        if (strlen(pr.v[i].path) >= strlen(suffix) &&
            strcmp(pr.v[i].path + strlen(pr.v[i].path) - strlen(suffix), suffix) == 0)
            return &pr.v[i];
    return NULL;
}

static size_t count_realpath(const char *rp)
{
    size_t n = 0;
    for (size_t i = 0; i < pr.n; i++)
        n += pr.v[i].realpath && strcmp(pr.v[i].realpath, rp) == 0;
    return n;
}

static bool searched(const char *needle)
{
    for (size_t i = 0; i < dg.nsearched; i++)
        if (strstr(dg.searched[i], needle))
            return true;
    return false;
}

static bool has(const char *s, const char *needle)
{
    return s && strstr(s, needle);
}

/* Writes a glibc ld.so.cache (new format, optionally after an old-format
 * prefix) mapping each key to its value. */
static void write_ldcache(const char *path, const char *const *keys, const char *const *values,
                          const uint32_t *flags, size_t n, bool old_prefix)
{
    unsigned char buf[16384] = {0};
    size_t off = 0;
    if (old_prefix) {
        memcpy(buf, "ld.so-1.7.0", 11);
        uint32_t one = 1;
        memcpy(buf + 12, &one, 4);
        off = 16 + 12; /* one (ignored) old entry */
        off = (off + 7) & ~(size_t)7;
    }
    unsigned char *h = buf + off;
    memcpy(h, "glibc-ld.so.cache1.1", 20);
    uint32_t nl = (uint32_t)n;
    memcpy(h + 20, &nl, 4);
    h[28] = 2;
    size_t strs = 48 + n * 24, s = strs;
    for (size_t i = 0; i < n; i++) {
        unsigned char *e = h + 48 + i * 24;
        uint32_t k = (uint32_t)s;
        memcpy(h + s, keys[i], strlen(keys[i]) + 1);
        s += strlen(keys[i]) + 1;
        uint32_t v = (uint32_t)s;
        memcpy(h + s, values[i], strlen(values[i]) + 1);
        s += strlen(values[i]) + 1;
        memcpy(e, &flags[i], 4);
        memcpy(e + 4, &k, 4);
        memcpy(e + 8, &v, 4);
        cr_assert(off + s < sizeof buf);
    }
    uint32_t ls = (uint32_t)(s - strs);
    memcpy(h + 24, &ls, 4);
    write_file(path, buf, off + s, 0644);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/pyshim-discover-XXXXXX");
    cr_assert(mkdtemp(root) != NULL);
    /* realpath: /tmp may itself be a symlink. */
    char rp[PATH_MAX];
    cr_assert(realpath(root, rp) != NULL);
    snprintf(root, sizeof root, "%s", rp);
    mkdirs(P("home"));
    mkdirs(P("emptybin"));
    setenv("HOME", P("home"), 1);
    setenv("PATH", P("emptybin"), 1);
    setenv("PYSHIM_LDCONFIG_CACHE", P("no-ld.so.cache"), 1);
    setenv("PYSHIM_SYSTEM_LIBDIRS", "", 1);
    unsetenv("PYENV_ROOT");
    unsetenv("UV_PYTHON_INSTALL_DIR");
    unsetenv("XDG_DATA_HOME");
    unsetenv("VIRTUAL_ENV");
    unsetenv("PYSHIM_LIBPYTHON");
    unsetenv("PYSHIM_PYTHON_VERSION");
    unsetenv("PYENV_VERSION");
    unsetenv("CONDA_PREFIX");
    unsetenv("CONDA_DEFAULT_ENV");
    unsetenv("PIXI_PROJECT_ROOT");
    unsetenv("PIXI_ENVIRONMENT_NAME");
}

static void teardown(void)
{
    if (probed) {
        pys__probe_free(&pr);
        pys__diag_free(&dg);
    }
    if (root[0])
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(discover, .init = setup, .fini = teardown);

/* ---- pins and names ----------------------------------------------------- */

Test(discover, parse_pin)
{
    int ma = 0, mi = 0, mc = 0;
    bool ft = true;
    cr_assert(pys__parse_pin("3.12", &ma, &mi, &mc, &ft));
    cr_assert(ma == 3 && mi == 12 && mc == -1 && !ft);
    cr_assert(pys__parse_pin("3.13t", &ma, &mi, &mc, &ft));
    cr_assert(ma == 3 && mi == 13 && ft);
    cr_assert(pys__parse_pin("3", &ma, &mi, &mc, &ft));
    cr_assert(ma == 3 && mi == -1 && !ft);
    cr_assert(pys__parse_pin("3t", &ma, &mi, &mc, &ft));
    cr_assert(ma == 3 && mi == -1 && ft);
    /* a patch release pins exactly */
    cr_assert(pys__parse_pin("3.12.1", &ma, &mi, &mc, &ft));
    cr_assert(ma == 3 && mi == 12 && mc == 1 && !ft);
    cr_assert(pys__parse_pin("3.13.0t", &ma, &mi, &mc, &ft));
    cr_assert(mi == 13 && mc == 0 && ft);
    const char *bad[] = {"3.x", "banana", "3.12.1.4", "", "3.", ".12", "3.12tt", "3.12 ", " 3", "-3",
                         "3.1234", "3.12\n3.11", "#3.12", "system", "cpython@3.12"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert(!pys__parse_pin(bad[i], &ma, &mi, &mc, &ft), "'%s' accepted", bad[i]);
    cr_assert(!pys__parse_pin(NULL, &ma, &mi, &mc, &ft));
}

Test(discover, source_names)
{
    cr_assert_str_eq(pys__source_name(PYS__SRC_EXPLICIT), "explicit");
    cr_assert_str_eq(pys__source_name(PYS__SRC_VENV), "venv");
    cr_assert_str_eq(pys__source_name(PYS__SRC_UV), "uv");
    cr_assert_str_eq(pys__source_name(PYS__SRC_PATH), "path");
    cr_assert_str_eq(pys__source_name(PYS__SRC_PYENV), "pyenv");
    cr_assert_str_eq(pys__source_name(PYS__SRC_LDCONFIG), "ldconfig");
    cr_assert_str_eq(pys__source_name(PYS__SRC_SYSTEM), "system");
}

Test(discover, malformed_pin)
{
    install(P("inst"), 12, false, true);
    setenv("PATH", P("inst/bin"), 1);
    const char *bad[] = {"3.x", "banana", "3.12.1.4"};
    for (size_t i = 0; i < 3; i++) {
        pys__probe_free(&pr);
        pys__diag_free(&dg);
        cr_assert_eq(probe((pys__probe_opts){.python = bad[i]}), PYS_E_ARG);
        cr_assert_eq(pr.chosen, -1);
        cr_assert(has(dg.message, bad[i]), "message: %s", dg.message);
    }
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    setenv("PYSHIM_PYTHON_VERSION", "banana", 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_ARG);
    cr_assert(has(dg.message, "PYSHIM_PYTHON_VERSION"), "message: %s", dg.message);
}

/* ---- explicit ----------------------------------------------------------- */

Test(discover, explicit_no_search)
{
    install(P("x"), 12, false, true);
    install(P("newer"), 13, false, true);
    setenv("PATH", P("newer/bin"), 1);
    cr_assert_eq(probe((pys__probe_opts){.library_path = P("x/lib/libpython3.12.so")}), PYS_OK);
    cr_assert_eq(pr.n, 1, "explicit must not search");
    const pys__candidate *k = chosen();
    cr_assert_eq(k->source, PYS__SRC_EXPLICIT);
    cr_assert(k->accepted);
    cr_assert_eq(k->major, 3);
    cr_assert_eq(k->minor, 12);
    cr_assert_str_eq(k->path, P("x/lib/libpython3.12.so"));
    cr_assert_str_eq(k->realpath, P("x/lib/libpython3.12.so.1.0"));
    cr_assert_str_eq(k->prefix, P("x"));
    cr_assert_str_eq(k->executable, P("x/bin/python3.12"));
    cr_assert(has(k->reason, "accepted"));
}

Test(discover, explicit_from_env_only_with_use_env)
{
    install(P("x"), 11, false, true);
    setenv("PYSHIM_LIBPYTHON", P("x/lib/libpython3.11.so.1.0"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_EXPLICIT);
    cr_assert_eq(chosen()->minor, 11);
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    /* use_env false: the variable is ignored (and so are the test hooks,
     * so this searches the real machine) */
    pys__probe_opts o = {0};
    pys__probe_run(&o, &pr, &dg);
    cr_assert_null(cand(P("x/lib/libpython3.11.so.1.0")));
    for (size_t i = 0; i < pr.n; i++)
        cr_assert_neq(pr.v[i].source, PYS__SRC_EXPLICIT);
}

Test(discover, explicit_odd_name_accepted_unknown)
{
    touch(P("custom/my-python-runtime.so"));
    cr_assert_eq(probe((pys__probe_opts){.library_path = P("custom/my-python-runtime.so")}), PYS_OK);
    const pys__candidate *k = chosen();
    cr_assert(k->accepted);
    cr_assert_eq(k->major, 0);
    cr_assert_eq(k->minor, 0);
    cr_assert(has(k->reason, "does not show the version"), "reason: %s", k->reason);
}

Test(discover, explicit_missing_is_notfound)
{
    install(P("inst"), 12, false, true);
    setenv("PATH", P("inst/bin"), 1); /* must not be used */
    const char *lib = P("nowhere/libpython3.12.so.1.0");
    cr_assert_eq(probe((pys__probe_opts){.library_path = lib}), PYS_E_NOTFOUND);
    cr_assert_eq(pr.chosen, -1);
    cr_assert_eq(pr.n, 1);
    cr_assert(!pr.v[0].accepted);
    cr_assert(has(dg.message, lib), "message: %s", dg.message);
    cr_assert(searched(lib));
}

Test(discover, explicit_pin_mismatch)
{
    install(P("x"), 11, false, true);
    cr_assert_eq(probe((pys__probe_opts){.library_path = P("x/lib/libpython3.11.so"), .python = "3.12"}),
                 PYS_E_ARG);
    cr_assert(has(dg.message, "3.11") && has(dg.message, "3.12"), "message: %s", dg.message);
}

Test(discover, explicit_old_version_rejected)
{
    touch(P("old/lib/libpython3.7m.so.1.0"));
    cr_assert_eq(probe((pys__probe_opts){.library_path = P("old/lib/libpython3.7m.so.1.0")}),
                 PYS_E_NOTFOUND);
    cr_assert(has(dg.message, "older than the supported 3.8"), "message: %s", dg.message);
}

/* ---- PATH --------------------------------------------------------------- */

Test(discover, path_interpreter)
{
    install(P("opt/py312"), 12, false, true);
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s:%s", P("emptybin"), P("opt/py312/bin"));
    setenv("PATH", path, 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    const pys__candidate *k = chosen();
    cr_assert_eq(k->source, PYS__SRC_PATH);
    cr_assert_eq(k->minor, 12);
    cr_assert(!k->free_threaded);
    cr_assert_str_eq(k->prefix, P("opt/py312"));
    cr_assert_str_eq(k->executable, P("opt/py312/bin/python3.12"));
    cr_assert(has(k->reason, P("opt/py312/lib/python3.12")), "reason: %s", k->reason);
    cr_assert_null(pr.pin);
}

Test(discover, path_python3_without_minor_via_symlinked_bin)
{
    /* a bare bin/python3 (no python3.X) reached through a symlink in another dir */
    touch(P("opt/py/lib/libpython3.10.so.1.0"));
    touch(P("opt/py/lib/python3.10/os.py"));
    script(P("opt/py/bin/python3"));
    symlink_to(P("opt/py/bin/python3"), P("links/python3"));
    setenv("PATH", P("links"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_PATH);
    cr_assert_eq(chosen()->minor, 10);
    cr_assert_str_eq(chosen()->prefix, P("opt/py"));
}

Test(discover, symlinks_deduplicated)
{
    install(P("opt/py"), 12, false, true);
    symlink_to("libpython3.12.so.1.0", P("opt/py/lib/libpython3.12.so.1"));
    symlink_to(P("opt/py/bin"), P("bin2"));
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s:%s:%s", P("opt/py/bin"), P("bin2"), P("opt/py/bin"));
    setenv("PATH", path, 1);
    setenv("PYSHIM_SYSTEM_LIBDIRS", P("opt/py/lib"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(count_realpath(P("opt/py/lib/libpython3.12.so.1.0")), 1);
    cr_assert_eq(pr.n, 1);
    cr_assert_eq(pr.v[0].source, PYS__SRC_PATH, "first source wins");
    cr_assert_str_eq(pr.v[0].path, P("opt/py/lib/libpython3.12.so.1.0"));
}

Test(discover, missing_stdlib_rejected)
{
    install(P("opt/nostd"), 12, false, false);
    setenv("PATH", P("opt/nostd/bin"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    const pys__candidate *k = cand("libpython3.12.so.1.0");
    cr_assert_not_null(k);
    cr_assert(!k->accepted);
    cr_assert(has(k->reason, "no standard library at"), "reason: %s", k->reason);
    cr_assert(has(k->reason, P("opt/nostd/lib/python3.12")), "reason: %s", k->reason);
    cr_assert(searched("no standard library at"));
}

Test(discover, broken_symlink_rejected)
{
    symlink_to("libpython3.12.so.1.0", P("sys/lib/libpython3.12.so"));
    setenv("PYSHIM_SYSTEM_LIBDIRS", P("sys/lib"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    const pys__candidate *k = cand("libpython3.12.so");
    cr_assert_not_null(k);
    cr_assert(!k->accepted);
    cr_assert(has(k->reason, "no such file"), "reason: %s", k->reason);
}

/* ---- pyenv -------------------------------------------------------------- */

Test(discover, pyenv_versions_and_old_ones_rejected)
{
    setenv("PYENV_ROOT", P("pyenv"), 1);
    install(P("pyenv/versions/3.12.1"), 12, false, true);
    touch(P("pyenv/versions/3.12.1/lib/libpython3.so"));
    touch(P("pyenv/versions/3.7.16/lib/libpython3.7m.so.1.0"));
    symlink_to("libpython3.7m.so.1.0", P("pyenv/versions/3.7.16/lib/libpython3.7m.so"));
    touch(P("pyenv/versions/3.7.16/lib/python3.7/os.py"));
    touch(P("pyenv/versions/3.6.15/lib/libpython3.6m.so.1.0"));
    touch(P("pyenv/versions/2.7.18/lib/libpython2.7.so.1.0"));
    touch(P("pyenv/versions/3.12.1/lib/libpython3.12.a"));
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    const pys__candidate *k = chosen();
    cr_assert_eq(k->source, PYS__SRC_PYENV);
    cr_assert_eq(k->minor, 12);
    cr_assert(has(k->reason, "accepted: Python 3.12.1, stdlib at"), "reason: %s", k->reason);
    cr_assert_eq(k->micro, 1, "the patch release from the version dir's name");
    cr_assert_str_eq(k->code, "accepted");

    const pys__candidate *old = cand("libpython3.7m.so.1.0");
    cr_assert_not_null(old);
    cr_assert(!old->accepted);
    cr_assert_eq(old->minor, 7);
    cr_assert(has(old->reason, "Python 3.7 is older than the supported 3.8"), "reason: %s", old->reason);
    cr_assert(has(cand("libpython3.6m.so.1.0")->reason, "older than"));
    cr_assert(has(cand("libpython2.7.so.1.0")->reason, "Python 2.7 is older"));
    const pys__candidate *stub = cand("3.12.1/lib/libpython3.so");
    cr_assert_not_null(stub);
    cr_assert(!stub->accepted);
    cr_assert(has(stub->reason, "stable-ABI stub libpython3.so, not a full runtime"), "reason: %s",
              stub->reason);
    cr_assert_null(cand("libpython3.12.a"), "static archives are not candidates");
}

Test(discover, pyenv_default_root_and_shims_on_path)
{
    /* no PYENV_ROOT: ~/.pyenv; its shims dir on PATH holds scripts only */
    install(P("home/.pyenv/versions/3.11.7"), 11, false, true);
    static const char shim[] = "#!/usr/bin/env bash\nset -e\nexec \"/x/libexec/pyenv\" exec \"$program\" \"$@\"\n";
    write_file(P("home/.pyenv/shims/python3.11"), shim, sizeof shim - 1, 0755);
    write_file(P("home/.pyenv/shims/python3"), shim, sizeof shim - 1, 0755);
    setenv("PATH", P("home/.pyenv/shims"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_PYENV);
    cr_assert_eq(chosen()->minor, 11);
    for (size_t i = 0; i < pr.n; i++)
        cr_assert_neq(pr.v[i].source, PYS__SRC_PATH);
}

Test(discover, pyenv_shims_detected_by_content)
{
    /* a shims dir that is not under PYENV_ROOT: recognised by its scripts */
    static const char shim[] = "#!/usr/bin/env bash\nexec \"/opt/pyenv/libexec/pyenv\" exec \"$@\"\n";
    write_file(P("elsewhere/shims/python3"), shim, sizeof shim - 1, 0755);
    setenv("PATH", P("elsewhere/shims"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    cr_assert(searched("pyenv shims"), "the shims dir is reported as such");
}

/* ---- uv ----------------------------------------------------------------- */

Test(discover, uv_when_preferred_or_nothing_else)
{
    setenv("UV_PYTHON_INSTALL_DIR", P("uvpy"), 1);
    install(P("uvpy/cpython-3.12.7-linux-x86_64-gnu"), 12, false, true);
    touch(P("uvpy/.lock"));
    setenv("PYENV_ROOT", P("pyenv"), 1);
    install(P("pyenv/versions/3.11.4"), 11, false, true);
    /* another Python applies: uv's are not looked at */
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_PYENV);
    cr_assert_null(cand("libpython3.12.so.1.0"));
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    /* nothing else: uv's are */
    nftw(P("pyenv"), rm_one, 16, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_UV);
    cr_assert_str_eq(pr.decided_source, "uv");
    cr_assert_eq(chosen()->micro, 7, "the patch release from uv's dir name");
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    install(P("pyenv/versions/3.12.1"), 12, false, true);
    cr_assert_eq(probe((pys__probe_opts){.prefer_uv = true}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_UV, "prefer_uv: uv first, even against an equal pyenv 3.12");
    cr_assert_str_eq(chosen()->executable, P("uvpy/cpython-3.12.7-linux-x86_64-gnu/bin/python3.12"));
}

Test(discover, uv_xdg_and_home_dirs_and_freethreaded)
{
    setenv("XDG_DATA_HOME", P("xdg"), 1);
    install(P("xdg/uv/python/cpython-3.13.0+freethreaded-linux-x86_64-gnu"), 13, true, true);
    cr_assert_eq(probe((pys__probe_opts){.prefer_uv = true}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_UV);
    cr_assert(chosen()->free_threaded);
    cr_assert_eq(chosen()->minor, 13);
    cr_assert(has(chosen()->reason, "free-threaded"));
    cr_assert_str_eq(chosen()->executable,
                     P("xdg/uv/python/cpython-3.13.0+freethreaded-linux-x86_64-gnu/bin/python3.13t"));

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    unsetenv("XDG_DATA_HOME");
    install(P("home/.local/share/uv/python/cpython-3.11.9-linux-x86_64-gnu"), 11, false, true);
    cr_assert_eq(probe((pys__probe_opts){.prefer_uv = true}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_UV);
    cr_assert_eq(chosen()->minor, 11);
}

/* ---- ld.so.cache and the standard dirs --------------------------------- */

Test(discover, ldconfig_cache_new_format)
{
    install(P("sys/usr"), 12, false, true);
    touch(P("sys/usr/lib/libpython3.so"));
    const char *keys[] = {"libc.so.6", "libpython3.12.so.1.0", "libpython3.so"};
    const char *values[] = {"/lib/libc.so.6", P("sys/usr/lib/libpython3.12.so.1.0"), P("sys/usr/lib/libpython3.so")};
    const uint32_t flags[] = {NATIVE_FLAGS, NATIVE_FLAGS, NATIVE_FLAGS};
    write_ldcache(P("ld.so.cache"), keys, values, flags, 3, false);
    setenv("PYSHIM_LDCONFIG_CACHE", P("ld.so.cache"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    const pys__candidate *k = chosen();
    cr_assert_eq(k->source, PYS__SRC_LDCONFIG);
    cr_assert_str_eq(k->path, P("sys/usr/lib/libpython3.12.so.1.0"));
    cr_assert_str_eq(k->prefix, P("sys/usr"));
    cr_assert_str_eq(k->executable, P("sys/usr/bin/python3.12"));
    cr_assert_eq(pr.n, 2);
    cr_assert(has(cand("libpython3.so")->reason, "stable-ABI stub"));
}

Test(discover, ldconfig_cache_old_plus_new_format)
{
    install(P("sys/usr"), 11, false, true);
    const char *keys[] = {"libpython3.11.so.1.0"};
    const char *values[] = {P("sys/usr/lib/libpython3.11.so.1.0")};
    const uint32_t flags[] = {NATIVE_FLAGS};
    write_ldcache(P("ld.so.cache"), keys, values, flags, 1, true);
    setenv("PYSHIM_LDCONFIG_CACHE", P("ld.so.cache"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_LDCONFIG);
    cr_assert_eq(chosen()->minor, 11);
}

#ifdef FOREIGN_FLAGS
Test(discover, ldconfig_other_architecture_skipped)
{
    install(P("sys/usr"), 11, false, true);
    const char *keys[] = {"libpython3.11.so.1.0"};
    const char *values[] = {P("sys/usr/lib/libpython3.11.so.1.0")};
    const uint32_t flags[] = {FOREIGN_FLAGS};
    write_ldcache(P("ld.so.cache"), keys, values, flags, 1, false);
    setenv("PYSHIM_LDCONFIG_CACHE", P("ld.so.cache"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    cr_assert_eq(pr.n, 0);
    cr_assert(searched("another architecture"));
}
#endif

Test(discover, ldconfig_cache_garbage_and_truncated)
{
    write_file(P("junk.cache"), "not a cache at all, just text\n", 30, 0644);
    setenv("PYSHIM_LDCONFIG_CACHE", P("junk.cache"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    cr_assert(searched("unrecognised format"));
    pys__probe_free(&pr);
    pys__diag_free(&dg);

    /* a header claiming a million entries in a 64-byte file */
    unsigned char buf[64] = {0};
    memcpy(buf, "glibc-ld.so.cache1.1", 20);
    uint32_t n = 1000000;
    memcpy(buf + 20, &n, 4);
    write_file(P("trunc.cache"), buf, sizeof buf, 0644);
    setenv("PYSHIM_LDCONFIG_CACHE", P("trunc.cache"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    cr_assert(searched("unrecognised format"));
    pys__probe_free(&pr);
    pys__diag_free(&dg);

    /* string offsets pointing past the end */
    unsigned char b2[48 + 24] = {0};
    memcpy(b2, "glibc-ld.so.cache1.1", 20);
    n = 1;
    memcpy(b2 + 20, &n, 4);
    uint32_t big = 0x7fffffff;
    memcpy(b2 + 48 + 4, &big, 4);
    memcpy(b2 + 48 + 8, &big, 4);
    write_file(P("bad.cache"), b2, sizeof b2, 0644);
    setenv("PYSHIM_LDCONFIG_CACHE", P("bad.cache"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    cr_assert_eq(pr.n, 0);
}

Test(discover, system_dirs_multiarch_prefix)
{
    touch(P("usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"));
    symlink_to("libpython3.11.so.1.0", P("usr/lib/x86_64-linux-gnu/libpython3.11.so"));
    touch(P("usr/lib/python3.11/os.py"));
    script(P("usr/bin/python3.11"));
    char dirs[PATH_MAX * 2];
    snprintf(dirs, sizeof dirs, "%s:%s", P("usr/lib/x86_64-linux-gnu"), P("usr/lib64"));
    setenv("PYSHIM_SYSTEM_LIBDIRS", dirs, 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    const pys__candidate *k = chosen();
    cr_assert_eq(k->source, PYS__SRC_SYSTEM);
    cr_assert_str_eq(k->prefix, P("usr"));
    cr_assert_str_eq(k->executable, P("usr/bin/python3.11"));
    cr_assert_eq(pr.n, 1);
}

/* ---- choosing ----------------------------------------------------------- */

Test(discover, newest_wins_across_sources)
{
    install(P("opt/py312"), 12, false, true);
    setenv("PATH", P("opt/py312/bin"), 1);
    setenv("PYENV_ROOT", P("pyenv"), 1);
    install(P("pyenv/versions/3.13.0"), 13, false, true);
    install(P("pyenv/versions/3.9.18"), 9, false, true);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->minor, 13);
    cr_assert_eq(chosen()->source, PYS__SRC_PYENV);
    cr_assert(cand("libpython3.12.so.1.0")->accepted);
    cr_assert(cand("libpython3.9.so.1.0")->accepted);
}

Test(discover, precedence_breaks_ties)
{
    install(P("opt/py312"), 12, false, true);
    setenv("PATH", P("opt/py312/bin"), 1);
    setenv("PYENV_ROOT", P("pyenv"), 1);
    install(P("pyenv/versions/3.12.1"), 12, false, true);
    setenv("UV_PYTHON_INSTALL_DIR", P("uvpy"), 1);
    install(P("uvpy/cpython-3.12.7-linux-x86_64-gnu"), 12, false, true);
    install(P("sys/usr"), 12, false, true);
    setenv("PYSHIM_SYSTEM_LIBDIRS", P("sys/usr/lib"), 1);

    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_PATH, "path > pyenv > system");
    cr_assert_eq(pr.n, 3);
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.prefer_uv = true}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_UV, "uv > path");
    cr_assert_eq(pr.n, 4);
}

Test(discover, ldconfig_entry_seen_by_path_first_is_one_candidate)
{
    install(P("opt/py"), 12, false, true);
    setenv("PATH", P("opt/py/bin"), 1);
    const char *keys[] = {"libpython3.12.so.1.0", "libpython3.12.so"};
    const char *values[] = {P("opt/py/lib/libpython3.12.so.1.0"), P("opt/py/lib/libpython3.12.so")};
    const uint32_t flags[] = {NATIVE_FLAGS, NATIVE_FLAGS};
    write_ldcache(P("ld.so.cache"), keys, values, flags, 2, false);
    setenv("PYSHIM_LDCONFIG_CACHE", P("ld.so.cache"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(pr.n, 1);
    cr_assert_eq(chosen()->source, PYS__SRC_PATH);
}

Test(discover, gil_beats_freethreaded_and_pins)
{
    setenv("PYENV_ROOT", P("pyenv"), 1);
    install(P("pyenv/versions/3.13.0t"), 13, true, true);
    install(P("pyenv/versions/3.13.0"), 13, false, true);
    install(P("pyenv/versions/3.12.1"), 12, false, true);

    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->minor, 13);
    cr_assert(!chosen()->free_threaded, "GIL build beats free-threaded");

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.python = "3.13t"}), PYS_OK);
    cr_assert(chosen()->free_threaded);
    cr_assert_str_eq(pr.pin, "3.13t");
    const pys__candidate *gil = cand("3.13.0/lib/libpython3.13.so.1.0");
    cr_assert(!gil->accepted);
    cr_assert(has(gil->reason, "does not match the pin 3.13t"), "reason: %s", gil->reason);

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.python = "3.12"}), PYS_OK);
    cr_assert_eq(chosen()->minor, 12);
    cr_assert(has(cand("3.13.0/lib/libpython3.13.so.1.0")->reason, "does not match the pin 3.12"));

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.python = "3"}), PYS_OK);
    cr_assert_eq(chosen()->minor, 13);
    cr_assert(!chosen()->free_threaded);
    cr_assert_str_eq(pr.pin, "3");
}

Test(discover, pin_minor_takes_freethreaded_only_if_nothing_else)
{
    setenv("PYENV_ROOT", P("pyenv"), 1);
    install(P("pyenv/versions/3.13.0t"), 13, true, true);
    install(P("pyenv/versions/3.12.1"), 12, false, true);
    setenv("PYSHIM_PYTHON_VERSION", "3.13", 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->minor, 13);
    cr_assert(chosen()->free_threaded);
    cr_assert_str_eq(pr.pin, "3.13");
    /* options beat the environment */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.python = "3.12"}), PYS_OK);
    cr_assert_eq(chosen()->minor, 12);
}

Test(discover, pin_unsupported_versions)
{
    setenv("PYENV_ROOT", P("pyenv"), 1);
    install(P("pyenv/versions/3.12.1"), 12, false, true);
    touch(P("pyenv/versions/3.7.16/lib/libpython3.7m.so.1.0"));
    touch(P("pyenv/versions/3.7.16/lib/python3.7/os.py"));
    cr_assert_eq(probe((pys__probe_opts){.python = "3.7"}), PYS_E_NOTFOUND);
    cr_assert(has(dg.message, "3.7") && has(dg.message, "not supported"), "message: %s", dg.message);
    cr_assert(has(cand("libpython3.7m.so.1.0")->reason, "older than the supported 3.8"));
    cr_assert(!cand("libpython3.12.so.1.0")->accepted);
    cr_assert(searched("rejected"));

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    install(P("pyenv/versions/3.15.0a1"), 15, false, true);
    cr_assert_eq(probe((pys__probe_opts){.python = "3.15"}), PYS_E_NOTFOUND);
    cr_assert(has(dg.message, "not supported"), "message: %s", dg.message);
    const pys__candidate *k = cand("libpython3.15.so.1.0");
    cr_assert_not_null(k);
    cr_assert(!k->accepted);
    cr_assert(has(k->reason, "newer than the tested range"), "reason: %s", k->reason);

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->minor, 12, "3.15 is never chosen");
}

Test(discover, notfound_lists_searched_places)
{
    setenv("PYSHIM_SYSTEM_LIBDIRS", P("sys/lib"), 1);
    touch(P("sys/lib/libpython3.so"));
    touch(P("sys/lib/libpython3.7m.so.1.0"));
    cr_assert_eq(probe((pys__probe_opts){.python = "3.12"}), PYS_E_NOTFOUND);
    cr_assert_eq(pr.chosen, -1);
    cr_assert(has(dg.message, "no usable libpython found"), "message: %s", dg.message);
    cr_assert(has(dg.message, "pin 3.12"), "message: %s", dg.message);
    cr_assert(searched(P("emptybin")), "PATH dirs are listed");
    cr_assert(searched(P("no-ld.so.cache")), "the ld.so.cache is listed");
    cr_assert(searched(P("sys/lib")), "system dirs are listed");
    cr_assert(searched("home/.pyenv/versions"), "the pyenv dir is listed");
    cr_assert(searched("stable-ABI stub"), "rejected candidates are listed with their reason");
    cr_assert(searched("libpython3.7m.so.1.0 (system): Python 3.7 is older"));
}

/* ---- venv --------------------------------------------------------------- */

static void make_venv(const char *venv, const char *home, const char *version_line, int minor)
{
    char cfg[PATH_MAX * 2];
    int n = snprintf(cfg, sizeof cfg, "home = %s\ninclude-system-site-packages = false\n%s\n", home,
                     version_line ? version_line : "");
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/pyvenv.cfg", venv);
    write_file(p, cfg, (size_t)n, 0644);
    char target[PATH_MAX];
    snprintf(target, sizeof target, "%s/python3.%d", home, minor);
    snprintf(p, sizeof p, "%s/bin/python3.%d", venv, minor);
    symlink_to(target, p);
    snprintf(p, sizeof p, "%s/bin/python3", venv);
    symlink_to(target, p);
    snprintf(p, sizeof p, "%s/lib/python3.%d/site-packages", venv, minor);
    mkdirs(p);
}

Test(discover, venv_with_version_wins_over_search)
{
    install(P("base"), 12, false, true);
    make_venv(P("venv"), P("base/bin"), "version = 3.12.1", 12);
    install(P("opt/py313"), 13, false, true);
    setenv("PATH", P("opt/py313/bin"), 1);
    cr_assert_eq(probe((pys__probe_opts){.venv = P("venv")}), PYS_OK);
    const pys__candidate *k = chosen();
    cr_assert_eq(k->source, PYS__SRC_VENV);
    cr_assert_eq(k->minor, 12);
    cr_assert_str_eq(k->prefix, P("base"));
    cr_assert_str_eq(pr.venv, P("venv"));
    cr_assert_str_eq(pr.venv_executable, P("venv/bin/python3.12"));
    cr_assert_null(cand("libpython3.13.so.1.0"), "a venv ends the search");
}

Test(discover, venv_version_info_from_env_picks_venv_minor)
{
    install(P("base"), 12, false, true);
    install(P("base"), 11, false, true);
    make_venv(P("venv"), P("base/bin"), "implementation = CPython\nversion_info = 3.11.9.final.0", 11);
    symlink_to(P("venv"), P("venvlink"));
    setenv("VIRTUAL_ENV", P("venvlink"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_VENV);
    cr_assert_eq(chosen()->minor, 11);
    cr_assert_str_eq(pr.venv, P("venv"), "the venv dir is resolved");
    const pys__candidate *other = cand("libpython3.12.so.1.0");
    cr_assert_not_null(other);
    cr_assert(!other->accepted);
    cr_assert(has(other->reason, "not the venv's Python 3.11"), "reason: %s", other->reason);

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    pys__probe_opts o = {0}; /* VIRTUAL_ENV ignored without use_env */
    pys__probe_run(&o, &pr, &dg);
    cr_assert_null(pr.venv);
    for (size_t i = 0; i < pr.n; i++)
        cr_assert_neq(pr.v[i].source, PYS__SRC_VENV);
}

#if defined(__x86_64__) && !defined(__ILP32__)
Test(discover, venv_debian_multiarch_base)
{
    /* Debian: home = /usr/bin, libpython in /usr/lib/x86_64-linux-gnu */
    touch(P("usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"));
    touch(P("usr/lib/python3.11/os.py"));
    script(P("usr/bin/python3.11"));
    make_venv(P("venv"), P("usr/bin"), "version = 3.11.2", 11);
    cr_assert_eq(probe((pys__probe_opts){.venv = P("venv")}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_VENV);
    cr_assert_str_eq(chosen()->path, P("usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"));
    cr_assert_str_eq(chosen()->prefix, P("usr"));
}
#endif

Test(discover, venv_without_pyvenv_cfg_is_error)
{
    mkdirs(P("notavenv/bin"));
    install(P("opt/py312"), 12, false, true);
    setenv("PATH", P("opt/py312/bin"), 1);
    cr_assert_eq(probe((pys__probe_opts){.venv = P("notavenv")}), PYS_E_NOTFOUND);
    cr_assert_eq(pr.chosen, -1, "no silent fall-back to another Python");
    cr_assert(has(dg.message, "pyvenv.cfg"), "message: %s", dg.message);
    cr_assert(has(dg.message, P("notavenv")), "message: %s", dg.message);
    cr_assert(searched(P("notavenv/pyvenv.cfg")));

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.venv = P("does-not-exist")}), PYS_E_NOTFOUND);
    cr_assert(has(dg.message, P("does-not-exist")), "message: %s", dg.message);
}

Test(discover, venv_static_base_is_error)
{
    script(P("static/bin/python3.12"));
    touch(P("static/lib/python3.12/os.py"));
    make_venv(P("venv"), P("static/bin"), "version = 3.12.4", 12);
    install(P("opt/py312"), 12, false, true);
    setenv("PATH", P("opt/py312/bin"), 1);
    cr_assert_eq(probe((pys__probe_opts){.venv = P("venv")}), PYS_E_NOTFOUND);
    cr_assert_eq(pr.chosen, -1);
    cr_assert(has(dg.message, P("static/bin")), "message: %s", dg.message);
    cr_assert(has(dg.message, "statically linked"), "message: %s", dg.message);
    cr_assert(searched(P("static/lib")));
}

Test(discover, venv_pin_mismatch)
{
    install(P("base"), 12, false, true);
    make_venv(P("venv"), P("base/bin"), "version = 3.12.1", 12);
    cr_assert_eq(probe((pys__probe_opts){.venv = P("venv"), .python = "3.13"}), PYS_E_ARG);
    cr_assert_eq(pr.chosen, -1);
    cr_assert(has(dg.message, "3.13") && has(dg.message, "3.12"), "message: %s", dg.message);
}

Test(discover, venv_without_interpreter_is_error)
{
    install(P("base"), 12, false, true);
    char cfg[PATH_MAX + 64];
    int n = snprintf(cfg, sizeof cfg, "home = %s\nversion = 3.12.1\n", P("base/bin"));
    write_file(P("venv/pyvenv.cfg"), cfg, (size_t)n, 0644);
    cr_assert_eq(probe((pys__probe_opts){.venv = P("venv")}), PYS_E_NOTFOUND);
    cr_assert(has(dg.message, "interpreter"), "message: %s", dg.message);
}

Test(discover, explicit_library_with_venv)
{
    install(P("base"), 12, false, true);
    install(P("other"), 11, false, true);
    make_venv(P("venv"), P("base/bin"), "version = 3.12.1", 12);
    cr_assert_eq(probe((pys__probe_opts){.venv = P("venv"), .library_path = P("base/lib/libpython3.12.so")}),
                 PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_EXPLICIT);
    cr_assert_str_eq(pr.venv_executable, P("venv/bin/python3.12"));
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.venv = P("venv"), .library_path = P("other/lib/libpython3.11.so")}),
                 PYS_E_ARG);
    cr_assert(has(dg.message, "venv"), "message: %s", dg.message);
}

/* ---- this machine, untouched ------------------------------------------- */

/* True when some libpython3.8 ... 3.14 with a stdlib beside it exists in
 * the usual places: then the probe must accept at least one. */
static bool machine_has_python(void)
{
    const char *home = getenv("HOME");
    const char *pyenv = getenv("PYENV_ROOT");
    char pat[5][PATH_MAX];
    snprintf(pat[0], PATH_MAX, "/usr/lib/*-linux-*/libpython3.*.so*");
    snprintf(pat[1], PATH_MAX, "/usr/lib64/libpython3.*.so*");
    snprintf(pat[2], PATH_MAX, "/usr/lib/libpython3.*.so*");
    snprintf(pat[3], PATH_MAX, "/usr/local/lib/libpython3.*.so*");
    if (pyenv)
        snprintf(pat[4], PATH_MAX, "%s/versions/*/lib/libpython3.*.so*", pyenv);
    else
        snprintf(pat[4], PATH_MAX, "%s/.pyenv/versions/*/lib/libpython3.*.so*", home ? home : "/nonexistent");
    for (int i = 0; i < 5; i++) {
        glob_t g;
        if (glob(pat[i], 0, NULL, &g) != 0)
            continue;
        bool found = false;
        for (size_t j = 0; j < g.gl_pathc && !found; j++) {
            int minor;
            const char *b = strrchr(g.gl_pathv[j], '/') + 1;
            if (sscanf(b, "libpython3.%d", &minor) == 1 && minor >= 8 && minor <= 14)
                found = true;
        }
        globfree(&g);
        if (found)
            return true;
    }
    return false;
}

Test(discover_real, this_machine)
{
    pys__probe_opts o = {.prefer_newest = true};
    pys__probe p;
    pys__diag d = {0};
    int rc = pys__probe_run(&o, &p, &d);
    cr_assert(rc == PYS_OK || rc == PYS_E_NOTFOUND, "rc %d: %s", rc, d.message ? d.message : "-");
    size_t accepted = 0;
    for (size_t i = 0; i < p.n; i++) {
        const pys__candidate *k = &p.v[i];
        cr_assert_not_null(k->reason);
        cr_assert_not_null(k->path);
        accepted += k->accepted;
        const char *b = strrchr(k->path, '/') ? strrchr(k->path, '/') + 1 : k->path;
        if (strncmp(b, "libpython3.6", 12) == 0 || strncmp(b, "libpython3.7", 12) == 0) {
            cr_assert(!k->accepted, "%s accepted", k->path);
            cr_assert(has(k->reason, "older than the supported 3.8"), "%s: %s", k->path, k->reason);
        }
        if (strncmp(b, "libpython3.so", 13) == 0)
            cr_assert(!k->accepted && has(k->reason, "stable-ABI stub"), "%s", k->path);
        if (k->accepted && k->major == 3)
            cr_assert(k->minor >= 8 && k->minor <= 14);
    }
    if (machine_has_python()) {
        cr_assert_eq(rc, PYS_OK, "a libpython exists but: %s", d.message ? d.message : "-");
        cr_assert(accepted >= 1);
    }
    if (rc == PYS_OK) {
        const pys__candidate *k = &p.v[p.chosen];
        cr_assert(k->accepted);
        for (size_t i = 0; i < p.n; i++)
            if (p.v[i].accepted && p.v[i].major == 3)
                cr_assert(p.v[i].minor <= k->minor, "prefer_newest: the newest is chosen");
        cr_assert_not_null(p.decision);
        cr_log_info("chosen: %s (%s, Python %d.%d%s)", k->path, pys__source_name(k->source), k->major,
                    k->minor, k->free_threaded ? "t" : "");
    } else {
        cr_assert_eq(p.chosen, -1);
        cr_assert(d.nsearched > 0);
    }
    pys__probe_free(&p);
    pys__diag_free(&d);
}
