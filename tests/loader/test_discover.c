/* Discovery tests: fake install trees under a mkdtemp dir, with PATH, HOME,
 * PYENV_ROOT, the uv dirs, PYSHIM_LDCONFIG_CACHE and PYSHIM_SYSTEM_LIBDIRS
 * pointed at them (Criterion forks per test, so env changes stay local).
 * The "real" suite runs against this machine untouched. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
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

#include "loader/loader.h"
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
static char orig_home[PATH_MAX], orig_pyenv[PATH_MAX]; /* this machine's, before setup */
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
    snprintf(orig_home, sizeof orig_home, "%s", getenv("HOME") ? getenv("HOME") : "/nonexistent");
    snprintf(orig_pyenv, sizeof orig_pyenv, "%s", getenv("PYENV_ROOT") ? getenv("PYENV_ROOT") : "");
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
TestSuite(choice, .init = setup, .fini = teardown);

/* ---- pins and names ----------------------------------------------------- */

Test(discover, parse_pin)
{
    int ma = 0, mi = 0, mc = 0;
    bool ft = true;
    cr_assert(pys__parse_pin("3.12", &ma, &mi, &mc, &ft, NULL));
    cr_assert(ma == 3 && mi == 12 && mc == -1 && !ft);
    cr_assert(pys__parse_pin("3.13t", &ma, &mi, &mc, &ft, NULL));
    cr_assert(ma == 3 && mi == 13 && ft);
    cr_assert(pys__parse_pin("3", &ma, &mi, &mc, &ft, NULL));
    cr_assert(ma == 3 && mi == -1 && !ft);
    cr_assert(pys__parse_pin("3t", &ma, &mi, &mc, &ft, NULL));
    cr_assert(ma == 3 && mi == -1 && ft);
    /* a patch release pins exactly */
    cr_assert(pys__parse_pin("3.12.1", &ma, &mi, &mc, &ft, NULL));
    cr_assert(ma == 3 && mi == 12 && mc == 1 && !ft);
    cr_assert(pys__parse_pin("3.13.0t", &ma, &mi, &mc, &ft, NULL));
    cr_assert(mi == 13 && mc == 0 && ft);
    const char *bad[] = {"3.x", "banana", "3.12.1.4", "", "3.", ".12", "3.12tt", "3.12 ", " 3", "-3",
                         "3.1234", "3.12\n3.11", "#3.12", "system", "cpython@3.12"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert(!pys__parse_pin(bad[i], &ma, &mi, &mc, &ft, NULL), "'%s' accepted", bad[i]);
    cr_assert(!pys__parse_pin(NULL, &ma, &mi, &mc, &ft, NULL));
    bool dbg = false;
    cr_assert(pys__parse_pin("3.15d", &ma, &mi, &mc, &ft, &dbg));
    cr_assert(ma == 3 && mi == 15 && mc == -1 && !ft && dbg);
    cr_assert(pys__parse_pin("3.13td", &ma, &mi, &mc, &ft, &dbg));
    cr_assert(mi == 13 && ft && dbg);
    cr_assert(pys__parse_pin("3.16", &ma, &mi, &mc, &ft, &dbg));
    cr_assert(mi == 16 && !ft && !dbg);
    /* one parser: a patch release and the ABI flags together */
    cr_assert(pys__parse_pin("3.14.2td", &ma, &mi, &mc, &ft, &dbg));
    cr_assert(mi == 14 && mc == 2 && ft && dbg);
    cr_assert(pys__parse_pin("3.13.1t", &ma, &mi, &mc, &ft, &dbg));
    cr_assert(mi == 13 && mc == 1 && ft && !dbg);
    const char *bad_abi[] = {"3.13dt", "3.13dd", "3.13td ", "3d.13", "3.13.1dt"};
    for (size_t i = 0; i < sizeof bad_abi / sizeof *bad_abi; i++)
        cr_assert(!pys__parse_pin(bad_abi[i], &ma, &mi, &mc, &ft, &dbg), "'%s' accepted",
                  bad_abi[i]);
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

/* A debug build (libpython3.Xd, bin/python3.Xd; its stdlib dir has no
 * "d"): a request with 'd' takes it, from a pin or a .python-version line,
 * and without one the release build wins. */
Test(discover, debug_builds_by_pin_and_python_version)
{
    setenv("PYENV_ROOT", P("pyenv"), 1);
    install(P("pyenv/versions/3.12.1"), 12, false, true);
    touch(P("pyenv/versions/3.12.1-debug/lib/libpython3.12d.so.1.0"));
    touch(P("pyenv/versions/3.12.1-debug/lib/python3.12/os.py"));
    script(P("pyenv/versions/3.12.1-debug/bin/python3.12d"));
    setenv("PATH", P("emptybin"), 1);

    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK, "%s", dg.message);
    cr_assert(!chosen()->debug, "%s", chosen()->path);
    const pys__candidate *k = cand(P("pyenv/versions/3.12.1-debug/lib/libpython3.12d.so.1.0"));
    cr_assert_not_null(k);
    cr_assert(k->accepted && k->debug, "%s", k->reason);

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.python = "3.12d"}), PYS_OK, "%s", dg.message);
    cr_assert(chosen()->debug, "%s", chosen()->path);
    cr_assert_str_eq(chosen()->executable, P("pyenv/versions/3.12.1-debug/bin/python3.12d"));
    cr_assert_str_eq(cand(P("pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"))->code, "pin_mismatch");

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    write_file(P("proj/.python-version"), "3.12d\n3.12\n", 11, 0644);
    cr_assert_eq(probe((pys__probe_opts){.project_dir = P("proj")}), PYS_OK, "%s", dg.message);
    cr_assert(chosen()->debug, "%s", chosen()->path);
    cr_assert_str_eq(pr.decided_file, P("proj/.python-version"));
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
    /* Newer than the tested range: accepted with the mark, chosen only
     * when pinned (a tested Python wins the default choice), and refused
     * with refuse_untested. */
    install(P("pyenv/versions/3.16.0a1"), 16, false, true);
    cr_assert_eq(probe((pys__probe_opts){.python = "3.16"}), PYS_OK, "%s", dg.message);
    const pys__candidate *k = cand("libpython3.16.so.1.0");
    cr_assert_not_null(k);
    cr_assert(k->accepted, "reason: %s", k->reason);
    cr_assert(k->untested);
    cr_assert(has(k->reason, "untested version"), "reason: %s", k->reason);
    cr_assert_eq(chosen()->minor, 16);

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->minor, 12, "an untested version is not the default choice");

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.python = "3.16", .refuse_untested = true}),
                 PYS_E_NOTFOUND);
    cr_assert(has(dg.message, "not supported"), "message: %s", dg.message);
    k = cand("libpython3.16.so.1.0");
    cr_assert(!k->accepted);
    cr_assert(has(k->reason, "newer than the tested range"), "reason: %s", k->reason);

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    setenv("PYSHIM_REFUSE_UNTESTED", "1", 1);
    cr_assert_eq(probe((pys__probe_opts){.python = "3.16", .use_env = true}), PYS_E_NOTFOUND);
    unsetenv("PYSHIM_REFUSE_UNTESTED");
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
            cr_assert(k->minor >= 8 && (k->minor <= PYS__MAX_MINOR || k->untested));
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

/* ---- the user's choice, with this machine's real libpythons -------------- */

/* Real files from this machine's pyenv installs (any machine with pyenv
 * builds made with --enable-shared): hard-linked (or copied) into the fake
 * trees, so every candidate has its own realpath and the libraries are
 * real CPython builds. Tests that need them skip without them. */

static bool real_python(int minor, char *lib, char *exe)
{
    char pat[PATH_MAX * 2];
    if (orig_pyenv[0])
        snprintf(pat, sizeof pat, "%s/versions/3.%d.*/lib/libpython3.%d.so.1.0", orig_pyenv, minor, minor);
    else
        snprintf(pat, sizeof pat, "%s/.pyenv/versions/3.%d.*/lib/libpython3.%d.so.1.0", orig_home, minor,
                 minor);
    glob_t g;
    bool ok = false;
    if (glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc && !ok; i++) {
            snprintf(lib, PATH_MAX, "%s", g.gl_pathv[i]);
            char *slash = strrchr(lib, '/');
            *slash = '\0';
            snprintf(exe, PATH_MAX, "%.*s/bin/python3.%d", (int)(strlen(lib) - 4), lib, minor);
            *slash = '/';
            ok = access(exe, X_OK) == 0;
        }
        globfree(&g);
    }
    return ok;
}

/* The two newest minors with a real library and interpreter: a > b. */
static bool two_minors(int *a, int *b)
{
    char lib[PATH_MAX], exe[PATH_MAX];
    *a = *b = 0;
    for (int mi = PYS__MAX_MINOR; mi >= PYS__MIN_MINOR; mi--) {
        if (!real_python(mi, lib, exe))
            continue;
        if (!*a)
            *a = mi;
        else if (!*b) {
            *b = mi;
            return true;
        }
    }
    return false;
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    size_t len = 0;
    char *data = pys__read_file(from, &len);
    cr_assert_not_null(data, "read %s", from);
    write_file(to, data, len, mode);
    free(data);
}

static void place_lib(const char *from, const char *to)
{
    mkparent(to);
    if (link(from, to) != 0)
        copy_file(from, to, 0644);
}

/* A copy of a real interpreter, its run path rewritten to $ORIGIN/../lib
 * so that it links against the library beside it, as a relocated install
 * would. Never run: only its ELF is read. */
static void place_interp(const char *from, const char *to)
{
    char **needed = NULL, *rpath = NULL;
    size_t n = 0;
    cr_assert_eq(pys__elf_deps(from, &needed, &n, &rpath), 0, "%s is not an ELF", from);
    size_t len = 0;
    char *data = pys__read_file(from, &len);
    cr_assert_not_null(data);
    if (rpath) {
        const char *want = "$ORIGIN/../lib";
        cr_assert_geq(strlen(rpath), strlen(want));
        char *at = memmem(data, len, rpath, strlen(rpath) + 1);
        cr_assert_not_null(at);
        memset(at, 0, strlen(rpath));
        memcpy(at, want, strlen(want));
    }
    write_file(to, data, len, 0755);
    free(data);
    for (size_t i = 0; i < n; i++)
        free(needed[i]);
    free(needed);
    free(rpath);
}

/* PREFIX with a real libpython3.X, its stdlib marker, patchlevel.h saying
 * 3.X.micro (when micro >= 0), and bin/python3.X + bin/python3. */
static void real_install(const char *prefix, int minor, int micro)
{
    char lib[PATH_MAX], exe[PATH_MAX], p[PATH_MAX], name[64];
    cr_assert(real_python(minor, lib, exe));
    snprintf(name, sizeof name, "libpython3.%d.so.1.0", minor);
    snprintf(p, sizeof p, "%s/lib/%s", prefix, name);
    place_lib(lib, p);
    snprintf(p, sizeof p, "%s/lib/libpython3.%d.so", prefix, minor);
    symlink_to(name, p);
    snprintf(p, sizeof p, "%s/lib/python3.%d/os.py", prefix, minor);
    touch(p);
    if (micro >= 0) {
        char h[256];
        int n = snprintf(h, sizeof h, "#define PY_MAJOR_VERSION 3\n#define PY_MINOR_VERSION %d\n"
                                      "#define PY_MICRO_VERSION %d\n", minor, micro);
        snprintf(p, sizeof p, "%s/include/python3.%d/patchlevel.h", prefix, minor);
        write_file(p, h, (size_t)n, 0644);
    }
    snprintf(p, sizeof p, "%s/bin/python3.%d", prefix, minor);
    place_interp(exe, p);
    snprintf(p, sizeof p, "%s/bin/python3", prefix);
    snprintf(name, sizeof name, "python3.%d", minor);
    symlink_to(name, p);
}

/* A pyenv root: versions/3.X.micro for each (minor, micro) pair, shims for
 * python3 and each python3.X, and a global `version` file (or none). */
static void fake_pyenv(const char *global, const int *mm, size_t n)
{
    setenv("PYENV_ROOT", P("pyenv"), 1);
    static const char shim[] = "#!/usr/bin/env bash\nset -e\nprogram=\"${0##*/}\"\n"
                               "exec \"/pyenv-root/libexec/pyenv\" exec \"$program\" \"$@\"\n";
    write_file(P("pyenv/shims/python3"), shim, sizeof shim - 1, 0755);
    for (size_t i = 0; i < n; i++) {
        real_install(P("pyenv/versions/3.%d.%d", mm[2 * i], mm[2 * i + 1]), mm[2 * i], mm[2 * i + 1]);
        write_file(P("pyenv/shims/python3.%d", mm[2 * i]), shim, sizeof shim - 1, 0755);
    }
    if (global)
        write_file(P("pyenv/version"), global, strlen(global), 0644);
}

static const pys__step *step_of(const char *source)
{
    for (size_t i = 0; i < pr.nsteps; i++)
        if (strcmp(pr.steps[i].source, source) == 0)
            return &pr.steps[i];
    return NULL;
}

#define NEED_TWO(a, b)                                                                             \
    int a, b;                                                                                      \
    if (!two_minors(&a, &b))                                                                       \
        cr_skip_test("needs two pyenv Pythons built with --enable-shared on this machine");

Test(choice, pyenv_global_version_through_shims)
{
    NEED_TWO(a, b);
    /* global is the older b; the newer a is installed too */
    char global[32];
    snprintf(global, sizeof global, "3.%d.4\n", b);
    fake_pyenv(global, (int[]){a, 2, b, 4}, 2);
    setenv("PATH", P("pyenv/shims"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("pyenv/versions/3.%d.4/lib/libpython3.%d.so.1.0", b, b));
    cr_assert_eq(chosen()->source, PYS__SRC_PYENV);
    cr_assert_eq(chosen()->micro, 4);
    cr_assert_str_eq(pr.decided_source, "shell");
    cr_assert_str_eq(pr.decided_file, P("pyenv/version"));
    cr_assert(has(step_of("shell")->detail, "a pyenv shim for 3."), "%s", step_of("shell")->detail);
    cr_assert(has(step_of("shell")->detail, "linked against libpython3."), "%s", step_of("shell")->detail);

    /* pyenv's prefix resolution: "3.b" is the newest installed 3.b.x */
    snprintf(global, sizeof global, "3.%d", b);
    write_file(P("pyenv/version"), global, strlen(global), 0644);
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->minor, b);

    /* the old default on request */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.prefer_newest = true}), PYS_OK);
    cr_assert_eq(chosen()->minor, a);
    cr_assert_str_eq(pr.decided_source, "search");
    cr_assert_str_eq(step_of("shell")->status, "skipped");
}

Test(choice, pyenv_version_variable_beats_the_version_file)
{
    NEED_TWO(a, b);
    char global[32];
    snprintf(global, sizeof global, "3.%d.4\n", b);
    fake_pyenv(global, (int[]){a, 2, b, 4}, 2);
    setenv("PATH", P("pyenv/shims"), 1);
    char v[64];
    snprintf(v, sizeof v, "3.%d.2:3.%d.4", a, b);
    setenv("PYENV_VERSION", v, 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("pyenv/versions/3.%d.2/lib/libpython3.%d.so.1.0", a, a));
    cr_assert_str_eq(pr.decided_file, "PYENV_VERSION");
    cr_assert(has(pr.decision, "pyenv version set by PYENV_VERSION"), "%s", pr.decision);

    /* a pinned minor asks the shell for python3.b: pyenv takes the first
     * listed version that has it (PYENV_VERSION lists both) */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    char pin[16];
    snprintf(pin, sizeof pin, "3.%d", b);
    cr_assert_eq(probe((pys__probe_opts){.python = pin}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("pyenv/versions/3.%d.4/lib/libpython3.%d.so.1.0", b, b));
    cr_assert(has(step_of("shell")->detail, "python3."), "%s", step_of("shell")->detail);
    cr_assert_str_eq(pr.decided_file, "options.python");
}

Test(choice, project_python_version_with_t_line_and_fallback)
{
    NEED_TWO(a, b);
    fake_pyenv(NULL, (int[]){a, 2, b, 4}, 2);
    setenv("PATH", P("emptybin"), 1);
    /* line 2 asks for a free-threaded build that is not installed; line 4
     * (the fallback) for the older b */
    char text[128];
    int n = snprintf(text, sizeof text, "# pythons\n3.%dt\n\n3.%d\n", a, b);
    write_file(P("proj/.python-version"), text, (size_t)n, 0644);
    mkdirs(P("proj/src/pkg"));
    cr_assert_eq(probe((pys__probe_opts){.project_dir = P("proj/src/pkg")}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("pyenv/versions/3.%d.4/lib/libpython3.%d.so.1.0", b, b));
    cr_assert_str_eq(pr.decided_file, P("proj/.python-version"));
    cr_assert(has(pr.decision, "pinned by "), "%s", pr.decision);
    cr_assert(has(pr.decision, "(line 4)"), "%s", pr.decision);
    const pys__step *rq = step_of("request");
    cr_assert_str_eq(rq->status, "used");
    cr_assert_str_eq(rq->file, P("proj/.python-version"));
    char want[32];
    snprintf(want, sizeof want, "3.%dt (line 2)", a);
    cr_assert(has(rq->detail, want), "%s", rq->detail);
    cr_assert(has(rq->detail, "fallbacks"), "%s", rq->detail);

    /* the t line first, once a free-threaded build is there */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    char lib[PATH_MAX], exe[PATH_MAX], name[PATH_MAX];
    cr_assert(real_python(a, lib, exe));
    snprintf(name, sizeof name, "ft/lib/libpython3.%dt.so.1.0", a);
    place_lib(lib, P("%s", name));
    touch(P("ft/lib/python3.%dt/os.py", a));
    setenv("PYSHIM_SYSTEM_LIBDIRS", P("ft/lib"), 1);
    cr_assert_eq(probe((pys__probe_opts){.project_dir = P("proj")}), PYS_OK);
    cr_assert(chosen()->free_threaded);
    cr_assert_str_eq(chosen()->path, P("%s", name));
    cr_assert(has(pr.decision, "(line 2)"), "%s", pr.decision);

    /* nothing matches any line: an error naming the file, no silent other Python */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    write_file(P("proj/.python-version"), "3.7\n2.7\n", 8, 0644);
    cr_assert_eq(probe((pys__probe_opts){.project_dir = P("proj")}), PYS_E_NOTFOUND);
    cr_assert(has(dg.message, P("proj/.python-version")), "%s", dg.message);
    cr_assert(has(dg.message, "3.7 (line 1), 2.7 (line 2)"), "%s", dg.message);

    /* an explicit pin wins over the file */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    char pin[16];
    snprintf(pin, sizeof pin, "3.%d", a);
    setenv("PYSHIM_PYTHON_VERSION", pin, 1);
    cr_assert_eq(probe((pys__probe_opts){.project_dir = P("proj")}), PYS_OK);
    cr_assert_eq(chosen()->minor, a);
    cr_assert_str_eq(pr.decided_file, "PYSHIM_PYTHON_VERSION");
}

Test(choice, patch_pin_is_exact_and_patch_breaks_ties)
{
    NEED_TWO(a, b);
    (void)a;
    fake_pyenv(NULL, (int[]){b, 2}, 1);
    real_install(P("sys/usr"), b, 7);
    setenv("PYSHIM_SYSTEM_LIBDIRS", P("sys/usr/lib"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("sys/usr/lib/libpython3.%d.so.1.0", b), "3.b.7 over 3.b.2");
    cr_assert_eq(chosen()->micro, 7);
    cr_assert_str_eq(pr.decided_source, "search");

    char pin[16];
    snprintf(pin, sizeof pin, "3.%d.2", b);
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.python = pin}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("pyenv/versions/3.%d.2/lib/libpython3.%d.so.1.0", b, b));
    const pys__candidate *other = cand(P("sys/usr/lib/libpython3.%d.so.1.0", b));
    cr_assert(!other->accepted);
    cr_assert_str_eq(other->code, "pin_mismatch");

    snprintf(pin, sizeof pin, "3.%d.9", b);
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.python = pin}), PYS_E_NOTFOUND);
    cr_assert_str_eq(cand(P("sys/usr/lib/libpython3.%d.so.1.0", b))->code, "pin_mismatch");

    /* no patchlevel.h and no version in the name: a patch pin cannot match */
    unlink(P("sys/usr/include/python3.%d/patchlevel.h", b));
    snprintf(pin, sizeof pin, "3.%d.7", b);
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.python = pin}), PYS_E_NOTFOUND);
    const pys__candidate *k = cand(P("sys/usr/lib/libpython3.%d.so.1.0", b));
    cr_assert_str_eq(k->code, "patch_unknown");
    cr_assert(has(k->reason, "patchlevel.h"), "%s", k->reason);
}

static void conda_env(const char *prefix, int minor, bool with_lib)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/conda-meta/python-3.%d.5-h1234_0_cpython.json", prefix, minor);
    write_file(p, "{}", 2, 0644);
    snprintf(p, sizeof p, "%s/conda-meta/history", prefix);
    touch(p);
    if (with_lib) {
        real_install(prefix, minor, -1);
    } else {
        char lib[PATH_MAX], exe[PATH_MAX];
        cr_assert(real_python(minor, lib, exe));
        snprintf(p, sizeof p, "%s/bin/python3.%d", prefix, minor);
        place_interp(exe, p);
        snprintf(p, sizeof p, "%s/lib/python3.%d/os.py", prefix, minor);
        touch(p);
    }
}

Test(choice, conda_environment)
{
    NEED_TWO(a, b);
    fake_pyenv(NULL, (int[]){a, 2}, 1);
    setenv("PATH", P("pyenv/shims"), 1);
    conda_env(P("conda/envs/work"), b, true);
    setenv("CONDA_PREFIX", P("conda/envs/work"), 1);
    setenv("CONDA_DEFAULT_ENV", "work", 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("conda/envs/work/lib/libpython3.%d.so.1.0", b));
    cr_assert_eq(chosen()->source, PYS__SRC_CONDA);
    cr_assert_eq(chosen()->micro, 5, "from conda-meta");
    cr_assert_str_eq(pr.decided_source, "conda");
    cr_assert_str_eq(pr.decided_file, "CONDA_PREFIX");
    cr_assert_str_eq(step_of("conda")->status, "chosen");

    /* conda's base env is not an active project env (as uv does) */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    setenv("CONDA_DEFAULT_ENV", "base", 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_neq(chosen()->source, PYS__SRC_CONDA);
    cr_assert_str_eq(step_of("conda")->status, "skipped");
    cr_assert(has(step_of("conda")->detail, "base environment"));

    /* an active env without its libpython: an error that says so */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    setenv("CONDA_DEFAULT_ENV", "broken", 1);
    conda_env(P("conda/envs/broken"), b, false);
    setenv("CONDA_PREFIX", P("conda/envs/broken"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    cr_assert(has(dg.message, "conda environment"), "%s", dg.message);
    cr_assert(has(dg.message, "no usable shared libpython3."), "%s", dg.message);
    cr_assert(has(dg.message, "conda install python"), "%s", dg.message);
    cr_assert_str_eq(step_of("conda")->status, "failed");
}

Test(choice, pixi_environment)
{
    NEED_TWO(a, b);
    fake_pyenv(NULL, (int[]){a, 2}, 1);
    setenv("PATH", P("pyenv/shims"), 1);
    conda_env(P("proj/.pixi/envs/default"), b, true);
    setenv("PIXI_PROJECT_ROOT", P("proj"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("proj/.pixi/envs/default/lib/libpython3.%d.so.1.0", b));
    cr_assert_eq(chosen()->source, PYS__SRC_PIXI);
    cr_assert_str_eq(pr.decided_source, "pixi");
    cr_assert_str_eq(pr.decided_file, "PIXI_PROJECT_ROOT");

    /* pixi run also sets CONDA_PREFIX to its env: still pixi's */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    setenv("CONDA_PREFIX", P("proj/.pixi/envs/default"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_PIXI);
    cr_assert_str_eq(step_of("conda")->status, "skipped");
}

Test(choice, project_dot_venv)
{
    NEED_TWO(a, b);
    fake_pyenv(NULL, (int[]){a, 2}, 1);
    setenv("PATH", P("pyenv/shims"), 1);
    real_install(P("base"), b, 3);
    char ver[32];
    snprintf(ver, sizeof ver, "version = 3.%d.3", b);
    make_venv(P("proj/.venv"), P("base/bin"), ver, b);
    mkdirs(P("proj/sub"));
    cr_assert_eq(probe((pys__probe_opts){.project_dir = P("proj/sub"), .project_venv = true}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("base/lib/libpython3.%d.so.1.0", b));
    cr_assert_str_eq(pr.venv, P("proj/.venv"));
    cr_assert_str_eq(pr.decided_source, "project-venv");
    cr_assert_str_eq(pr.decided_file, P("proj/.venv/pyvenv.cfg"));

    /* not asked for: not used */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    cr_assert_eq(probe((pys__probe_opts){.project_dir = P("proj/sub")}), PYS_OK);
    cr_assert_null(pr.venv);

    /* a .python-version asking for another minor: the .venv is skipped */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    char text[16];
    int n = snprintf(text, sizeof text, "3.%d\n", a);
    write_file(P("proj/.python-version"), text, (size_t)n, 0644);
    cr_assert_eq(probe((pys__probe_opts){.project_dir = P("proj/sub"), .project_venv = true}), PYS_OK);
    cr_assert_null(pr.venv);
    cr_assert_eq(chosen()->minor, a);
    cr_assert_str_eq(step_of("project-venv")->status, "skipped");
}

Test(choice, path_order_system_before_and_after_pyenv)
{
    NEED_TWO(a, b);
    char global[32];
    snprintf(global, sizeof global, "3.%d.2\n", a);
    fake_pyenv(global, (int[]){a, 2}, 1);
    real_install(P("sys/usr"), b, 6);
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s:%s", P("sys/usr/bin"), P("pyenv/shims"));
    setenv("PATH", path, 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("sys/usr/lib/libpython3.%d.so.1.0", b), "the system's python3 comes first");
    cr_assert_eq(chosen()->source, PYS__SRC_PATH);
    cr_assert_str_eq(pr.decided_source, "shell");
    cr_assert_str_eq(pr.decided_file, "PATH");

    pys__probe_free(&pr);
    pys__diag_free(&dg);
    snprintf(path, sizeof path, "%s:%s", P("pyenv/shims"), P("sys/usr/bin"));
    setenv("PATH", path, 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("pyenv/versions/3.%d.2/lib/libpython3.%d.so.1.0", a, a), "pyenv's comes first");
    cr_assert_str_eq(pr.decided_file, P("pyenv/version"));

    /* pyenv's "system": the first python3 outside the shims */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    write_file(P("pyenv/version"), "system\n", 7, 0644);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("sys/usr/lib/libpython3.%d.so.1.0", b));

    /* a pinned minor the shims' version lacks: pyenv falls back to the system's */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    write_file(P("pyenv/version"), global, strlen(global), 0644);
    char pin[16];
    snprintf(pin, sizeof pin, "3.%d", b);
    cr_assert_eq(probe((pys__probe_opts){.python = pin}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("sys/usr/lib/libpython3.%d.so.1.0", b));
    cr_assert_str_eq(pr.decided_source, "shell");
}

/* A Debian-style install without its shared library: /usr/bin/python3.X is
 * linked statically (its ELF needs no libpython), the stdlib is there,
 * lib/python3/dist-packages marks the layout, libpython3.X.so is not. The
 * interpreter is this machine's Debian python3.X when there is one, else
 * any ELF that needs no libpython (only its ELF is read). */
static int debian_layout(const char *prefix, bool with_lib)
{
    int minor = 0;
    char exe[PATH_MAX] = "";
    for (int mi = PYS__MAX_MINOR; mi >= PYS__MIN_MINOR && !minor; mi--) {
        snprintf(exe, sizeof exe, "/usr/bin/python3.%d", mi);
        if (access(exe, X_OK) == 0)
            minor = mi;
    }
    if (!minor) {
        minor = 11;
        snprintf(exe, sizeof exe, "/bin/true");
    }
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/bin/python3.%d", prefix, minor);
    mkparent(p);
    if (link(exe, p) != 0)
        copy_file(exe, p, 0755);
    char name[32];
    snprintf(name, sizeof name, "python3.%d", minor);
    snprintf(p, sizeof p, "%s/bin/python3", prefix);
    symlink_to(name, p);
    snprintf(p, sizeof p, "%s/lib/python3.%d/os.py", prefix, minor);
    touch(p);
    snprintf(p, sizeof p, "%s/lib/python3/dist-packages", prefix);
    mkdirs(p);
    if (with_lib) {
        char lib[PATH_MAX], rexe[PATH_MAX];
        if (!real_python(minor, lib, rexe))
            return -1;
        snprintf(p, sizeof p, "%s/lib/" "x86_64-linux-gnu" "/libpython3.%d.so.1.0", prefix, minor);
        place_lib(lib, p);
    }
    return minor;
}

Test(choice, static_interpreter_without_shared_library_says_how_to_fix)
{
    int minor = debian_layout(P("deb/usr"), false);
    setenv("PATH", P("deb/usr/bin"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    char want[64];
    snprintf(want, sizeof want, "apt install libpython3.%d", minor);
    cr_assert(has(dg.message, want), "%s", dg.message);
    cr_assert(has(dg.message, "statically linked"), "%s", dg.message);
    cr_assert(has(dg.message, P("deb/usr/bin/python3.%d", minor)), "%s", dg.message);
    cr_assert_str_eq(step_of("shell")->status, "skipped");
    cr_assert(has(step_of("shell")->detail, want), "%s", step_of("shell")->detail);

    /* another Python elsewhere: used, and the account says why not the shell's */
    int a, b;
    if (!two_minors(&a, &b))
        return;
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    fake_pyenv(NULL, (int[]){a, 2}, 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_eq(chosen()->source, PYS__SRC_PYENV);
    cr_assert_str_eq(pr.decided_source, "search");
    cr_assert(has(step_of("shell")->detail, want), "%s", step_of("shell")->detail);
}

#if defined(__x86_64__) && !defined(__ILP32__)
Test(choice, static_interpreter_with_the_shared_library_beside_it)
{
    int minor = debian_layout(P("deb/usr"), true);
    if (minor < 0)
        cr_skip_test("no real libpython of the Debian interpreter's version");
    setenv("PATH", P("deb/usr/bin"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_OK);
    cr_assert_str_eq(chosen()->path, P("deb/usr/lib/x86_64-linux-gnu/libpython3.%d.so.1.0", minor));
    cr_assert_str_eq(pr.decided_source, "shell");
    cr_assert(has(step_of("shell")->detail, "statically linked"), "%s", step_of("shell")->detail);
    cr_assert(has(step_of("shell")->detail, "ships the shared library"), "%s", step_of("shell")->detail);
}
#endif

Test(choice, pyenv_build_without_shared_library_says_rebuild)
{
    NEED_TWO(a, b);
    (void)b;
    /* a pyenv version whose interpreter needs libpython3.a.so.1.0, which is gone */
    fake_pyenv("3.0.0\n", (int[]){a, 2}, 1);
    char v[32];
    snprintf(v, sizeof v, "3.%d.2\n", a);
    write_file(P("pyenv/version"), v, strlen(v), 0644);
    unlink(P("pyenv/versions/3.%d.2/lib/libpython3.%d.so.1.0", a, a));
    unlink(P("pyenv/versions/3.%d.2/lib/libpython3.%d.so", a, a));
    setenv("PATH", P("pyenv/shims"), 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    cr_assert(has(dg.message, "PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install --force 3."), "%s", dg.message);
    cr_assert(has(dg.message, "needs libpython3."), "%s", dg.message);
}

Test(choice, every_source_has_a_line_in_order)
{
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    static const char *const order[] = {"explicit", "venv", "conda", "pixi", "request",
                                        "project-venv", "shell", "uv", "search"};
    size_t at = 0;
    for (size_t i = 0; i < pr.nsteps; i++) {
        while (at < 9 && strcmp(order[at], pr.steps[i].source) != 0)
            at++;
        cr_assert_lt(at, 9, "step %s out of order", pr.steps[i].source);
        cr_assert_not_null(pr.steps[i].detail);
    }
    for (size_t k = 0; k < 9; k++)
        cr_assert_not_null(step_of(order[k]), "no line for %s", order[k]);
    /* reason codes for rejections */
    pys__probe_free(&pr);
    pys__diag_free(&dg);
    touch(P("sys/lib/libpython3.so"));
    touch(P("sys/lib/libpython3.7m.so.1.0"));
    install(P("sys2"), 12, false, false);
    char dirs[PATH_MAX * 2];
    snprintf(dirs, sizeof dirs, "%s:%s", P("sys/lib"), P("sys2/lib"));
    setenv("PYSHIM_SYSTEM_LIBDIRS", dirs, 1);
    cr_assert_eq(probe((pys__probe_opts){0}), PYS_E_NOTFOUND);
    cr_assert_str_eq(cand("libpython3.so")->code, "stub");
    cr_assert_str_eq(cand("libpython3.7m.so.1.0")->code, "too_old");
    cr_assert_str_eq(cand("sys2/lib/libpython3.12.so.1.0")->code, "no_stdlib");
}
