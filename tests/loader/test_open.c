/* Opening a runtime: failures that must be clear errors (fake libpython
 * with missing symbols, wrong versions, broken installs, not found, bad
 * pins) and real installs set up right (sys.prefix, sys.executable, venvs,
 * numpy). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader/capi.h"
#include "loader/choose.h"
#include "loader/loader.h"
#include "pyshim_test.h"
#include "wheel.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static char *tmpdir(void)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "/tmp/pyshim-open-XXXXXX");
    cr_assert_not_null(mkdtemp(buf));
    return buf;
}

static void mkdirs(const char *path)
{
    char *buf = strdup(path);
    cr_assert_not_null(buf);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
    free(buf);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    cr_assert(in && out, "copy %s -> %s", from, to);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
}

static int run_cmd(const char *const *argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A fake install tree: PREFIX/lib/libpython<name>, optionally with a stdlib. */
static char *fake_tree(const char *lib_source, const char *lib_name, const char *stdlib_ver)
{
    char *root = tmpdir();
    static char lib[2048];
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/lib", root);
    mkdirs(dir);
    snprintf(lib, sizeof lib, "%s/%s", dir, lib_name);
    copy_file(lib_source, lib);
    if (stdlib_ver) {
        snprintf(dir, sizeof dir, "%s/lib/python%s/encodings", root, stdlib_ver);
        mkdirs(dir);
        char f[1100];
        snprintf(f, sizeof f, "%s/__init__.py", dir);
        write_file(f, "");
        snprintf(f, sizeof f, "%s/lib/python%s/os.py", root, stdlib_ver);
        write_file(f, "");
    }
    return lib;
}

/* ---- the C-API table ---------------------------------------------------------------- */

static void *all_but(void *ctx, const char *name)
{
    static char dummy;
    return strcmp(name, (const char *)ctx) == 0 ? NULL : &dummy;
}

Test(capi, missing_required_symbol_is_named)
{
    pys__capi t;
    pys__diag d = {0};
    int rc = pys__capi_resolve(&t, all_but, "PyErr_GetRaisedException", 0x030c, &d);
    cr_assert_eq(rc, PYS_E_SYMBOL);
    cr_assert(strstr(d.message, "PyErr_GetRaisedException"), "%s", d.message);
    cr_assert(strstr(d.message, "3.12"), "%s", d.message);
    cr_assert_eq(d.nsearched, 1);
    pys__diag_free(&d);
}

Test(capi, symbols_of_later_versions_are_optional_before)
{
    pys__capi t;
    pys__diag d = {0};
    /* 3.11 does not have PyErr_GetRaisedException: fine, the slot is NULL. */
    cr_assert_eq(pys__capi_resolve(&t, all_but, "PyErr_GetRaisedException", 0x030b, &d), PYS_OK);
    cr_assert_null(t.PyErr_GetRaisedException);
    cr_assert_not_null(t.Py_IncRef);
    /* Removed setters (GONE) may be missing on any version. */
    cr_assert_eq(pys__capi_resolve(&t, all_but, "Py_SetProgramName", 0x030e, &d), PYS_OK);
    cr_assert_null(t.Py_SetProgramName);
    pys__diag_free(&d);
}

Test(capi, table_names_are_unique)
{
    size_t n = pys__capi_count();
    cr_assert_gt(n, 150);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(pys__capi_name(i), pys__capi_name(j));
}

/* ---- clear failures -------------------------------------------------------------------- */

Test(open, fake_library_missing_symbols)
{
    const char *fake = getenv("PYSHIM_TEST_FAKE312");
    cr_assert_not_null(fake, "PYSHIM_TEST_FAKE312 not set (run through meson test)");
    const char *lib = fake_tree(fake, "libpython3.12.so.1.0", "3.12");
    pys_options o = {.library_path = lib, .ignore_environment = true};
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_SYMBOL);
    const pys_error *e = pys_last_error();
    cr_assert(strstr(e->message, "Py_InitializeEx"), "%s", e->message);
    cr_assert(strstr(e->message, "3.12"), "%s", e->message);
    cr_assert_gt(e->nsearched, 10, "every missing symbol is listed");
    cr_assert_null(rt);
    cr_assert_null(pys_runtime_current());
}

Test(open, fake_library_too_old)
{
    const char *fake = getenv("PYSHIM_TEST_FAKE37");
    cr_assert_not_null(fake);
    /* Named like a supported version, but it reports 3.7. */
    const char *lib = fake_tree(fake, "libpython3.9.so.1.0", "3.9");
    pys_options o = {.library_path = lib, .ignore_environment = true};
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_LOAD);
    cr_assert(strstr(pys_last_error()->message, "reports 3.7"), "%s",
              pys_last_error()->message);
}

Test(open, explicit_path_not_found)
{
    pys_options o = {.library_path = "/nonexistent/lib/libpython3.12.so",
                     .ignore_environment = true};
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_NOTFOUND);
    const pys_error *e = pys_last_error();
    cr_assert(strstr(e->message, "/nonexistent/lib/libpython3.12.so"));
    cr_assert_geq(e->nsearched, 1);
}

Test(open, env_library_and_pin)
{
    setenv("PYSHIM_LIBPYTHON", "/nonexistent/libpython3.11.so.1.0", 1);
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(NULL, &rt), PYS_E_NOTFOUND);
    cr_assert(strstr(pys_last_error()->message, "/nonexistent/libpython3.11.so.1.0"));
    unsetenv("PYSHIM_LIBPYTHON");
    setenv("PYSHIM_PYTHON_VERSION", "three", 1);
    cr_assert_eq(pys_open(NULL, &rt), PYS_E_ARG);
    cr_assert(strstr(pys_last_error()->message, "three"));
    /* ignore_environment really ignores it */
    pys_probe_result *pr = NULL;
    pys_options o = {.ignore_environment = true};
    cr_assert_eq(pys_probe(&o, &pr), PYS_OK);
    pys_probe_free(pr);
}

Test(open, unsupported_pin)
{
    pys_options o = {.python = "3.7", .ignore_environment = true};
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_NOTFOUND);
    cr_assert(strstr(pys_last_error()->message, "not supported"), "%s",
              pys_last_error()->message);
    o.python = "3.99";
    cr_assert_eq(pys_open(&o, &rt), PYS_E_NOTFOUND);
    o.python = "3.12.1.4";
    cr_assert_eq(pys_open(&o, &rt), PYS_E_ARG);
}

PYS_TEST_NOOPEN(open, broken_install_is_init_error)
{
    /* A real libpython copied away from its stdlib: CPython would print
     * "Fatal Python error" and exit(); pyshim must refuse first. */
    char name[64];
    snprintf(name, sizeof name, "libpython%d.%d%s.so.1.0", py->major, py->minor,
             py->free_threaded ? "t" : "");
    const char *lib = fake_tree(py->path, name, NULL);
    pys_options o = {.library_path = lib, .ignore_environment = true};
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_INIT);
    const pys_error *e = pys_last_error();
    cr_assert(strstr(e->message, "no standard library at"), "%s", e->message);
    cr_assert_geq(e->nsearched, 1);
    cr_assert_null(pys_runtime_current());
    /* The process is alive and another Python still opens... but not a
     * different library than the one already mapped: CPython cannot be
     * unloaded, so that is refused too, clearly. */
    o.library_path = py->path;
    int rc = pys_open(&o, &rt);
    cr_assert(rc == PYS_E_STATE || rc == PYS_OK);
    if (rc == PYS_OK)
        pys_close(rt);
    else
        cr_assert(strstr(pys_last_error()->message, "already loaded"));
}

PYS_TEST_NOOPEN(open, pin_selects_version)
{
    char pin[16];
    snprintf(pin, sizeof pin, "%d.%d%s", py->major, py->minor, py->free_threaded ? "t" : "");
    pys_options o = {.python = pin, .ignore_environment = true};
    pys_runtime *rt = NULL;
    pyt_assert_ok(pys_open(&o, &rt));
    pys_info info;
    pys_get_info(rt, &info);
    cr_assert_eq(info.minor, py->minor);
    cr_assert_eq(pyt_eval_i64(rt, "__import__('sys').version_info[1]"), py->minor);
    pyt_close(rt);
}

/* ---- real installs ------------------------------------------------------------------ */

PYS_TEST(install, prefix_and_executable)
{
    pys_obj ok = pys_eval(rt, "__import__('sys').prefix");
    cr_assert_str_eq(pys_str_view(ok, NULL), py->prefix);
    pys_release(ok);
    /* sys.executable is the install's interpreter, so subprocess works. */
    pys_obj out = pys_eval(rt, "__import__('subprocess').run([__import__('sys').executable, '-c', "
                               "'import sys; print(sys.prefix)'], capture_output=True, text=True,"
                               " check=True).stdout.strip()");
    pyt_assert_h(out);
    cr_assert_str_eq(pys_str_view(out, NULL), py->prefix);
    pys_release(out);
    /* and the stdlib, including C extension modules, imports */
    pyt_assert_ok(pys_exec(rt, "import json, ssl, sqlite3, decimal, ctypes"));
}

PYS_TEST(install, multiprocessing_spawn)
{
    pys_obj r = pys_eval(rt, "__import__('multiprocessing').get_context('spawn').Pool(1)"
                             ".map(abs, [-3, -4])");
    pyt_assert_h(r);
    pys_obj want = pys_eval(rt, "[3, 4]");
    cr_assert_eq(pys_compare(r, want, PYS_EQ), 1);
    pys_release(want);
    pys_release(r);
}

PYS_TEST(install, numpy_on_debian_python)
{
    struct stat st;
    bool debian = strcmp(py->prefix, "/usr") == 0;
    char path[128];
    snprintf(path, sizeof path, "/usr/lib/python3/dist-packages/numpy/__init__.py");
    int rc = pys_exec(rt, "import numpy");
    if (debian && stat(path, &st) == 0) {
        pyt_assert_ok(rc);
        pys_obj v = pys_eval(rt, "int(numpy.arange(10).sum())");
        int64_t s = 0;
        pyt_assert_ok(pys_to_int64(v, &s));
        cr_assert_eq(s, 45);
        pys_release(v);
    } else if (rc != PYS_OK) {
        cr_skip_test("numpy is not installed for %s", pyt_name(py));
    }
}

/* Makes a venv with py's interpreter (no pip: fast, offline) holding a
 * module and a .pth file. Returns its directory. */
static const char *make_venv(const pyt_python *py)
{
    char *root = tmpdir();
    static char venv[1024];
    snprintf(venv, sizeof venv, "%s/venv", root);
    const char *argv[] = {py->executable, "-m", "venv", "--without-pip", venv, NULL};
    int rc = run_cmd(argv);
    if (rc != 0)
        cr_skip_test("'%s -m venv' failed (%d): venv module unavailable", py->executable, rc);
    char sp[1200], f[1300], extra[1100];
    snprintf(sp, sizeof sp, "%s/lib/python%d.%d%s/site-packages", venv, py->major, py->minor,
             py->free_threaded ? "t" : "");
    snprintf(f, sizeof f, "%s/venvmod.py", sp);
    write_file(f, "WHERE = 'venv'\n");
    snprintf(extra, sizeof extra, "%s/extra", root);
    mkdirs(extra);
    snprintf(f, sizeof f, "%s/extramod.py", extra);
    write_file(f, "EXTRA = 7\n");
    snprintf(f, sizeof f, "%s/extra.pth", sp);
    write_file(f, extra);
    return venv;
}

static void check_venv(pys_runtime *rt, const pyt_python *py, const char *venv)
{
    char *real = realpath(venv, NULL);
    pys_info info;
    pyt_assert_ok(pys_get_info(rt, &info));
    cr_assert_str_eq(info.venv, real);
    cr_assert_str_eq(info.prefix, real, "sys.prefix %s", info.prefix);
    cr_assert_str_eq(info.base_prefix, py->prefix, "sys.base_prefix %s", info.base_prefix);
    cr_assert(strncmp(info.executable, real, strlen(real)) == 0, "sys.executable %s",
              info.executable);
    pys_obj w = pys_eval(rt, "__import__('venvmod').WHERE");
    pyt_assert_h(w);
    cr_assert_str_eq(pys_str_view(w, NULL), "venv");
    pys_release(w);
    cr_assert_eq(pyt_eval_i64(rt, "__import__('extramod').EXTRA"), 7, ".pth file honoured");
    /* set up by site like the venv's own interpreter, not appended by us */
    cr_assert_eq(pyt_eval_i64(rt, "int(any(p.endswith('site-packages') and p.startswith("
                                  "__import__('sys').prefix) for p in __import__('sys').path))"),
                 1);
    free(real);
}

PYS_TEST_NOOPEN(venv, option)
{
    const char *venv = make_venv(py);
    pys_options o = {.venv = venv, .ignore_environment = true};
    pys_runtime *rt = NULL;
    pyt_assert_ok(pys_open(&o, &rt));
    check_venv(rt, py, venv);
    pyt_close(rt);
}

PYS_TEST_NOOPEN(venv, virtual_env_variable)
{
    const char *venv = make_venv(py);
    setenv("VIRTUAL_ENV", venv, 1);
    unsetenv("PYSHIM_LIBPYTHON");
    unsetenv("PYSHIM_PYTHON_VERSION");
    pys_runtime *rt = NULL;
    pyt_assert_ok(pys_open(NULL, &rt));
    check_venv(rt, py, venv);
    pyt_close(rt);
}

Test(venv, not_a_venv)
{
    char *d = tmpdir();
    pys_options o = {.venv = d, .ignore_environment = true};
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_NOTFOUND);
    cr_assert(strstr(pys_last_error()->message, "pyvenv.cfg"), "%s", pys_last_error()->message);
}

/* ---- dependencies through pys_open ------------------------------------------------ */

PYS_TEST_NOOPEN(deps, open_builds_then_hits_cache, .timeout = 240)
{
    char *work = tmpdir();
    char *wheels = pyt_make_tinypkg_wheel(py->executable, work);
    if (!wheels)
        cr_skip_test("cannot build a wheel with %s", pyt_name(py));
    char cache[2048];
    snprintf(cache, sizeof cache, "%s/cache", work);
    setenv("XDG_CACHE_HOME", cache, 1);
    const char *deps[] = {"tinypkg==1.0", NULL};
    const char *links[] = {wheels, NULL};
    pys_options o = {.library_path = py->path, .ignore_environment = true,
                     .dependencies = deps, .find_links = links, .no_index = true};
    pys_runtime *rt = NULL;
    int rc = pys_open(&o, &rt);
    if (rc == PYS_E_DEPS && strstr(pys_last_error()->message, "No module named pip"))
        cr_skip_test("%s has no pip", pyt_name(py));
    pyt_assert_ok(rc);
    unsigned long spawns = pys__spawn_count();
    cr_assert_gt(spawns, 0, "the first open builds the venv");
    cr_assert_eq(pyt_eval_i64(rt, "__import__('tinypkg').VALUE"), 42);
    pys_info info;
    pys_get_info(rt, &info);
    cr_assert(strstr(info.venv, "/pyshim/venvs/"), "venv %s", info.venv);
    cr_assert_str_eq(info.prefix, info.venv);
    pyt_close(rt);
    /* Again, and with the requirement listed twice: a cache hit, no subprocess. */
    const char *deps2[] = {"tinypkg==1.0", "tinypkg==1.0", NULL};
    o.dependencies = deps2;
    pyt_assert_ok(pys_open(&o, &rt));
    cr_assert_eq(pys__spawn_count(), spawns, "a cache hit must start no subprocess");
    cr_assert_eq(pyt_eval_i64(rt, "__import__('tinypkg').VALUE"), 42);
    pyt_close(rt);
    free(wheels);
}

Test(deps, bad_requirement_is_a_clear_error, .timeout = 120)
{
    char *work = tmpdir();
    char cache[128];
    snprintf(cache, sizeof cache, "%s/cache", work);
    setenv("XDG_CACHE_HOME", cache, 1);
    const char *deps[] = {"definitely-not-a-package-zz==9", NULL};
    const char *links[] = {work, NULL};
    pys_options o = {.dependencies = deps, .find_links = links, .no_index = true,
                     .ignore_environment = true};
    pys_runtime *rt = NULL;
    int rc = pys_open(&o, &rt);
    cr_assert_eq(rc, PYS_E_DEPS, "%s", pys_last_error()->message);
    cr_assert(strstr(pys_last_error()->message, "definitely-not-a-package-zz"), "%s",
              pys_last_error()->message);
    cr_assert_null(pys_runtime_current());
    const char *both[] = {"x", NULL};
    o.dependencies = both;
    o.uv_project = work;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_ARG);
}

Test(deps, uv_project_needs_pyproject)
{
    char *work = tmpdir();
    pys_options o = {.uv_project = work, .ignore_environment = true};
    pys_runtime *rt = NULL;
    int rc = pys_open(&o, &rt);
    cr_assert(rc == PYS_E_ARG || rc == PYS_E_DEPS, "%s", pys_err_name(rc));
    cr_assert(strstr(pys_last_error()->message, "pyproject.toml") ||
                  strstr(pys_last_error()->message, "uv"),
              "%s", pys_last_error()->message);
}

/* ---- versions newer than the tested range ----------------------------------------------- */

typedef struct logbuf {
    char text[8192];
} logbuf;

static void log_collect(pys_log_level level, const char *msg, void *ud)
{
    (void)level;
    logbuf *b = ud;
    size_t n = strlen(b->text);
    snprintf(b->text + n, sizeof b->text - n, "%s\n", msg);
}

static const pys_candidate *only_candidate(const char *lib, bool refuse, pys_probe_result **pr)
{
    pys_options o = {.library_path = lib, .ignore_environment = true, .refuse_untested = refuse};
    cr_assert_eq(pys_probe(&o, pr), PYS_OK);
    cr_assert_eq(pys_probe_count(*pr), 1);
    return pys_probe_get(*pr, 0);
}

Test(open, fake_untested_version_loads_marked)
{
    const char *fake = getenv("PYSHIM_TEST_FAKE316");
    cr_assert_not_null(fake, "PYSHIM_TEST_FAKE316 not set (run through meson test)");
    const char *lib = fake_tree(fake, "libpython3.16.so.1.0", NULL);
    pys_probe_result *pr = NULL;
    const pys_candidate *k = only_candidate(lib, false, &pr);
    cr_assert(k->accepted, "%s", k->reason);
    cr_assert(k->untested);
    cr_assert_eq(k->minor, 16);
    pys_probe_free(pr);
    /* Every symbol resolves, so it loads (with the warning) and goes on to
     * initialisation, which stops cleanly at the missing stdlib before any
     * stub could run. */
    logbuf b = {{0}};
    pys_options o = {.library_path = lib, .ignore_environment = true, .logger = log_collect,
                     .logger_userdata = &b};
    pys_runtime *rt = NULL;
    int rc = pys_open(&o, &rt);
    cr_assert_eq(rc, PYS_E_INIT, "%s: %s", pys_err_name(rc), pys_last_error()->message);
    cr_assert(strstr(pys_last_error()->message, "standard library"), "%s",
              pys_last_error()->message);
    cr_assert(strstr(b.text, "untested version"), "log: %s", b.text);
    cr_assert(strstr(b.text, "3.16"), "log: %s", b.text);
}

Test(open, fake_untested_version_refused_by_option)
{
    const char *fake = getenv("PYSHIM_TEST_FAKE316");
    cr_assert_not_null(fake);
    const char *lib = fake_tree(fake, "libpython3.16.so.1.0", NULL);
    pys_probe_result *pr = NULL;
    const pys_candidate *k = only_candidate(lib, true, &pr);
    cr_assert(!k->accepted);
    cr_assert(strstr(k->reason, "untested"), "%s", k->reason);
    pys_probe_free(pr);
    pys_options o = {.library_path = lib, .ignore_environment = true, .refuse_untested = true};
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_NOTFOUND);
    cr_assert(strstr(pys_last_error()->message, "untested"), "%s", pys_last_error()->message);
    cr_assert_null(rt);
}

Test(open, fake_untested_version_refused_by_env)
{
    const char *fake = getenv("PYSHIM_TEST_FAKE316");
    cr_assert_not_null(fake);
    /* A name that does not show the version: only the loader can tell. */
    const char *lib = fake_tree(fake, "libpython-custom.so", NULL);
    setenv("PYSHIM_REFUSE_UNTESTED", "1", 1);
    pys_options o = {.library_path = lib};
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_LOAD);
    cr_assert(strstr(pys_last_error()->message, "3.16"), "%s", pys_last_error()->message);
    cr_assert(strstr(pys_last_error()->message, "untested"), "%s", pys_last_error()->message);
}

/* pys_main chooses and loads through the same steps as pys_open: the
 * loader's refusal of an untested version reaches it too, before any of
 * the library's code runs. */
Test(open, fake_untested_version_refused_by_pys_main)
{
    const char *fake = getenv("PYSHIM_TEST_FAKE316");
    cr_assert_not_null(fake);
    const char *lib = fake_tree(fake, "libpython-custom.so", NULL);
    pys_options o = {.library_path = lib, .ignore_environment = true, .refuse_untested = true};
    char *argv[] = {"python", "-c", "pass", NULL};
    int status = -1;
    cr_assert_eq(pys_main(&o, 3, argv, &status), PYS_E_LOAD, "%s", pys_last_error()->message);
    cr_assert(strstr(pys_last_error()->message, "3.16"), "%s", pys_last_error()->message);
    cr_assert(strstr(pys_last_error()->message, "untested"), "%s", pys_last_error()->message);
    cr_assert_eq(status, -1, "Python did not run");
}

Test(open, fake_untested_version_missing_symbol)
{
    const char *fake = getenv("PYSHIM_TEST_FAKE316_NODICT");
    cr_assert_not_null(fake);
    const char *lib = fake_tree(fake, "libpython3.16.so.1.0", NULL);
    pys_options o = {.library_path = lib, .ignore_environment = true};
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_SYMBOL);
    const char *m = pys_last_error()->message;
    cr_assert(strstr(m, "PyDict_New"), "%s", m);
    cr_assert(strstr(m, "newer than the tested range"), "%s", m);
    cr_assert_null(rt);
}

/* ---- choosing: pys__choose and pys__choice_load ------------------------------------------- */

/* The prefix of a fake tree's library ROOT/lib/NAME. */
static void tree_root(const char *lib, char *root, size_t n)
{
    snprintf(root, n, "%s", lib);
    char *cut = strstr(root, "/lib/");
    cr_assert_not_null(cut, "%s", lib);
    *cut = '\0';
}

/* An explicit library with no stdlib found beside it: the choice names the
 * conventional prefix (PREFIX/lib/libpython) as home and stdlib place, and
 * once loaded the interpreter after the version the library reports. */
Test(choose, explicit_library_guesses_prefix_and_interpreter)
{
    const char *fake = getenv("PYSHIM_TEST_FAKE316");
    cr_assert_not_null(fake, "PYSHIM_TEST_FAKE316 not set (run through meson test)");
    const char *lib = fake_tree(fake, "libpython-custom.so", NULL);
    char root[2048];
    tree_root(lib, root, sizeof root);
    pys__choose_in in = {.probe = {.library_path = lib}, .utf8_mode = -1};
    pys__choice ch;
    pys__diag d = {0};
    cr_assert_eq(pys__choose(&in, &ch, &d), PYS_OK, "%s", d.message);
    cr_assert_not_null(ch.lib);
    cr_assert_eq(ch.lib->source, PYS__SRC_EXPLICIT);
    cr_assert_str_eq(ch.library, lib);
    cr_assert_null(ch.venv);
    cr_assert_str_eq(ch.init.home, root);
    cr_assert_str_eq(ch.init.stdlib_prefix, root);
    cr_assert_null(ch.init.executable, "no interpreter beside it: named once loaded");
    cr_assert_eq(ch.init.utf8_mode, -1);
    cr_assert_eq(pys__choice_load(&ch, false, &d), PYS_OK, "%s", d.message);
    cr_assert(ch.li.untested);
    cr_assert_eq(ch.init.version, 0x0310);
    cr_assert(!ch.init.free_threaded);
    char exe[2100];
    snprintf(exe, sizeof exe, "%s/bin/python3.16", root);
    cr_assert_str_eq(ch.init.executable, exe);
    pys__choice_free(&ch);
    pys__choice_free(&ch); /* zeroed: a no-op */
    pys__diag_free(&d);
}

/* uv_project with dependencies: refused before anything is searched,
 * synced or built. */
Test(choose, uv_project_with_dependencies_is_refused_first)
{
    const char *deps[] = {"x", NULL};
    pys__choose_in in = {.probe = {.library_path = "/nonexistent/libpython3.12.so"},
                         .uv_project = "/nonexistent", .dependencies = deps};
    pys__choice ch;
    pys__diag d = {0};
    unsigned long spawns = pys__spawn_count();
    cr_assert_eq(pys__choose(&in, &ch, &d), PYS_E_ARG);
    cr_assert(strstr(d.message, "uv_project and dependencies cannot be combined"), "%s",
              d.message);
    cr_assert_eq(pys__spawn_count(), spawns);
    cr_assert_null(ch.lib);
    cr_assert_eq(d.nsearched, 0, "nothing was searched");
    pys__choice_free(&ch);
    pys__diag_free(&d);
}

/* Dependencies are installed with the chosen install's interpreter: an
 * install without one is a clear PYS_E_DEPS, with nothing started. */
Test(choose, dependencies_need_an_interpreter)
{
    const char *fake = getenv("PYSHIM_TEST_FAKE312");
    cr_assert_not_null(fake);
    const char *lib = fake_tree(fake, "libpython3.12.so.1.0", "3.12");
    const char *deps[] = {"six", NULL};
    pys__choose_in in = {.probe = {.library_path = lib}, .dependencies = deps};
    pys__choice ch;
    pys__diag d = {0};
    unsigned long spawns = pys__spawn_count();
    cr_assert_eq(pys__choose(&in, &ch, &d), PYS_E_DEPS, "%s", d.message);
    cr_assert(strstr(d.message, "dependencies need the interpreter of"), "%s", d.message);
    cr_assert(strstr(d.message, lib), "%s", d.message);
    cr_assert_eq(pys__spawn_count(), spawns);
    pys__choice_free(&ch);
    pys__diag_free(&d);
}
