/* `pyshim gen`, on every Python found: bindings for the suite's test
 * modules (tests/gen/py) and for math, statistics, textwrap and json are
 * generated with the CLI on that Python, compiled (as C11 with -Wall
 * -Wextra -Werror, and as C++) together with tests/gen/driver.c, and run:
 * the driver calls every binding and checks values and errors.
 * Regeneration is byte-identical and --check finds stale files. With
 * typeshed (found as pyshim gen finds it; "skipped: no typeshed" without
 * one), math and statistics come out mostly typed and their bindings
 * compute; a stub of the suite's own checks that version and platform
 * blocks are decided for the Python under test.
 *
 * Paths and compilers come from meson (tests/gen/meson.build):
 * PYSHIM_TEST_CLI, PYSHIM_TEST_SRCDIR, PYSHIM_TEST_GEN_CC, _CXX, _CFLAGS,
 * _LIB. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pyshim_test.h"

/* The directory part of path, into out. */
static void dir_of(const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set (run through meson test)", name);
    return v;
}

/* What a driver needs besides the library: nothing for the shared one;
 * for a static-only build, the libraries libpyshim.a uses. */
static const char *ldlibs(void)
{
    const char *l = getenv("PYSHIM_TEST_GEN_LDLIBS");
    return l ? l : "";
}

static char *tmpdir(void)
{
    static char dir[256];
    snprintf(dir, sizeof dir, "/tmp/pyshim-gen-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static char logtext[16384];

/* Runs a shell command, output into `log`; returns its exit status and
 * leaves the output's start in logtext. */
static int sh(const char *dir, const char *fmt, ...)
{
    char cmd[8192], full[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "cd '%s' && (%s) > log 2>&1", dir, cmd);
    int st = system(full);
    char path[512];
    snprintf(path, sizeof path, "%s/log", dir);
    logtext[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(logtext, 1, sizeof logtext - 1, f);
        logtext[n] = '\0';
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* pyshim gen on py's library, into (or --check against) dir. */
static int gen(const pyt_python *py, const char *dir, const char *args)
{
    const char *src = env("PYSHIM_TEST_SRCDIR");
    return sh(dir, "'%s' gen --library '%s' --path '%s/tests/gen/py' %s", env("PYSHIM_TEST_CLI"),
              py->path, src, args);
}

static void gen_all(const pyt_python *py, const char *dir)
{
    char stubs[1200];
    snprintf(stubs, sizeof stubs, "%s/tests/gen/stubs", env("PYSHIM_TEST_SRCDIR"));
    const char *const runs[] = {
        "gentest_modern --out .",
        "statistics --out . --stubs '%s'",
        "math --prefix pymath --out . --stubs '%s/math.pyi'",
        "textwrap --out . --no-typeshed", /* the modules' own annotations only */
        "json --out . --no-typeshed",
        "gentest --out . --report", /* last: its report stays in logtext */
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char args[2048];
        snprintf(args, sizeof args, runs[i], stubs);
        cr_assert_eq(gen(py, dir, args), 0, "pyshim gen %s on %s:\n%s", args, pyt_name(py), logtext);
    }
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

PYS_TEST_NOOPEN(gen, bindings_compile_and_run, .timeout = 300)
{
    char *dir = tmpdir();
    gen_all(py, dir);
    /* The report names every case the generator met. */
    cr_assert(strstr(logtext, "typed     Counter.add") && strstr(logtext, "fallback  varargs: *args") &&
                  strstr(logtext, "skipped   Oops: exception class") &&
                  strstr(logtext, "partial   untyped: x: no annotation"),
              "report:\n%s", logtext);
    const char *src = env("PYSHIM_TEST_SRCDIR");
    const char *lib = env("PYSHIM_TEST_GEN_LIB");
    char libdir[1024];
    dir_of(lib, libdir, sizeof libdir);
    int st = sh(dir,
                "%s -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes "
                "%s -I'%s/include' -I. -o driver '%s/tests/gen/driver.c' *.c '%s' -Wl,-rpath,'%s' "
                "-lpthread %s",
                env("PYSHIM_TEST_GEN_CC"), getenv("PYSHIM_TEST_GEN_CFLAGS") ? getenv("PYSHIM_TEST_GEN_CFLAGS") : "",
                src, src, lib, libdir, ldlibs());
    cr_assert_eq(st, 0, "compiling the bindings on %s:\n%s", pyt_name(py), logtext);
    const char *cxx = getenv("PYSHIM_TEST_GEN_CXX");
    if (cxx && *cxx) {
        st = sh(dir, "%s -x c++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only -I'%s/include' -I. *.c",
                cxx, src);
        cr_assert_eq(st, 0, "compiling the bindings as C++ on %s:\n%s", pyt_name(py), logtext);
    }
    st = sh(dir, "./driver '%s' '%s/tests/gen/py'", py->path, src);
    cr_assert_eq(st, 0, "driver on %s (status %d):\n%s", pyt_name(py), st, logtext);
    cr_assert(strstr(logtext, "ok\n"), "%s", logtext);
    sh(dir, "rm -rf '%s'", dir);
}

PYS_TEST_NOOPEN(gen, regenerate_and_check, .timeout = 300)
{
    char *a = strdup(tmpdir());
    char *b = strdup(tmpdir());
    const char *args = "gentest --out .";
    cr_assert_eq(gen(py, a, args), 0, "%s", logtext);
    cr_assert_eq(gen(py, b, args), 0, "%s", logtext);
    const char *const names[] = {"gentest.h", "gentest.c"};
    for (int i = 0; i < 2; i++) {
        size_t na = 0, nb = 0;
        char *ta = slurp(a, names[i], &na), *tb = slurp(b, names[i], &nb);
        cr_assert(na == nb && memcmp(ta, tb, na) == 0, "%s differs between two runs", names[i]);
        if (i == 0) {
            char want[64];
            snprintf(want, sizeof want, "on CPython %d.%d.", py->major, py->minor);
            cr_assert(strstr(ta, want) && strstr(ta, "`gentest` (version 1.2.3)"),
                      "the header names the module, its version and the Python");
        }
        free(ta);
        free(tb);
    }
    char check[1200];
    snprintf(check, sizeof check, "gentest --check '%s'", a);
    cr_assert_eq(gen(py, b, check), 0, "--check on fresh files: %s", logtext);
    /* A stale file: one byte changed. */
    cr_assert_eq(sh(a, "sed -i 's/Returns a + b./Returns a+b./' gentest.h"), 0);
    cr_assert_eq(gen(py, b, check), 1, "--check must fail on a stale file: %s", logtext);
    cr_assert(strstr(logtext, "gentest.h is stale"), "%s", logtext);
    cr_assert_eq(sh(a, "rm gentest.c"), 0);
    cr_assert_eq(gen(py, b, check), 1, "%s", logtext);
    cr_assert(strstr(logtext, "gentest.c is missing"), "%s", logtext);
    /* --only keeps the names asked for. */
    cr_assert_eq(gen(py, b, "gentest --only add,Counter --prefix only --out ."), 0, "%s", logtext);
    size_t n = 0;
    char *h = slurp(b, "only.h", &n);
    cr_assert(strstr(h, "int only_add(") && strstr(h, "int only_Counter_new(") &&
                  strstr(h, "int only_Counter_get_value(") && !strstr(h, "only_greet"),
              "--only: %s", h);
    free(h);
    /* Bad input: an unknown module, a bad prefix. */
    cr_assert_eq(gen(py, b, "no_such_module_xyz"), 1);
    cr_assert(strstr(logtext, "ModuleNotFoundError"), "%s", logtext);
    cr_assert_eq(gen(py, b, "gentest --prefix 'no-good'"), 1);
    cr_assert(strstr(logtext, "not a C identifier"), "%s", logtext);
    sh(a, "rm -rf '%s' '%s'", a, b);
    free(a);
    free(b);
}

/* Counts the function lines of a --report (not notes or skipped names). */
static void report_counts(const char *rep, int *typed, int *all)
{
    *typed = *all = 0;
    for (const char *l = rep; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        if (strncmp(l, "typed ", 6) == 0)
            ++*typed, ++*all;
        else if (strncmp(l, "partial ", 8) == 0 || strncmp(l, "fallback ", 9) == 0)
            ++*all;
    }
}

static char *header_of(const char *dir, const char *name)
{
    size_t n = 0;
    return slurp(dir, name, &n);
}

/* A stub of the suite's own: its sys.version_info / sys.platform blocks
 * are decided for the Python under test, not by their order in the file;
 * aliases, numeric protocols and @overload are handled. */
PYS_TEST_NOOPEN(gen, stub_conditions, .timeout = 120)
{
    char *dir = tmpdir();
    char args[1200];
    snprintf(args, sizeof args, "genver --out . --report --stubs '%s/tests/gen/stubs/genver.pyi'",
             env("PYSHIM_TEST_SRCDIR"));
    cr_assert_eq(gen(py, dir, args), 0, "%s", logtext);
    char rep[sizeof logtext];
    memcpy(rep, logtext, sizeof rep);
    char *h = header_of(dir, "genver.h");
    int v = py->major * 100 + py->minor;
    const char *pick = v >= 310 ? "int genver_pick(pys_runtime *rt, int64_t x, int64_t *out);"
                                : "int genver_pick(pys_runtime *rt, double x, double *out);";
    const char *later = v >= 311 ? "int genver_later(pys_runtime *rt, bool x, bool *out);"
                                 : "int genver_later(pys_runtime *rt, const char *x, char **out, size_t *out_len);";
    const char *alias = v >= 312 ? "int genver_via_alias(pys_runtime *rt, int64_t x, int64_t *out);"
                                 : "int genver_via_alias(pys_runtime *rt, double x, double *out);";
    const char *old = v < 309 ? "int genver_old_only(pys_runtime *rt, const char *x, char **out, size_t *out_len);"
                              : "int genver_old_only(pys_runtime *rt, pys_obj x, pys_obj *out);";
    cr_assert(strstr(h, pick), "%s on %s:\n%s", pick, pyt_name(py), h);
    cr_assert(strstr(h, later), "%s on %s:\n%s", later, pyt_name(py), h);
    cr_assert(strstr(h, alias), "%s on %s:\n%s", alias, pyt_name(py), h);
    cr_assert(strstr(h, old), "%s on %s:\n%s", old, pyt_name(py), h);
    /* sys.platform: this suite runs on Linux. */
    cr_assert(strstr(h, "int genver_plat(pys_runtime *rt, int64_t x, int64_t *out);"), "%s", h);
    /* SupportsFloat | SupportsIndex and Iterable of it: double and doubles. */
    cr_assert(strstr(h, "int genver_numeric(pys_runtime *rt, double x, const double *xs, size_t xs_len, "
                        "double *out);"),
              "%s", h);
    /* A protocol result is no promise of a float. */
    cr_assert(strstr(h, "int genver_proto_result(pys_runtime *rt, double x, pys_obj *out);"), "%s", h);
    cr_assert(strstr(rep, "fallback  ov: overloaded (in the stub)  [types: stub]"), "%s", rep);
    cr_assert(strstr(rep, "partial   proto_result: result: SupportsFloat result (a protocol"), "%s", rep);
    cr_assert(strstr(rep, "typed     pick  [types: stub]"), "%s", rep);
    cr_assert(strstr(h, " * Types also from the stub genver.pyi given with --stubs."), "%s", h);
    free(h);
    sh(dir, "rm -rf '%s'", dir);
}

/* typeshed: math and statistics are mostly typed, the bindings compute
 * and give pyshim's errors; the header names the stub, and regenerating
 * is byte-identical. */
PYS_TEST_NOOPEN(gen, typeshed_math_statistics, .timeout = 300)
{
    char *dir = tmpdir();
    cr_assert_eq(gen(py, dir, "math --prefix tsmath --out . --report"), 0, "%s", logtext);
    if (strstr(logtext, "no typeshed found")) {
        sh(dir, "rm -rf '%s'", dir);
        cr_skip_test("skipped: no typeshed");
    }
    int typed = 0, all = 0;
    report_counts(logtext, &typed, &all);
    cr_assert(all > 40 && typed * 10 >= all * 8, "math on %s: %d of %d typed:\n%s", pyt_name(py), typed, all,
              logtext);
    cr_assert(strstr(logtext, "typed     sqrt  [types: typeshed]") &&
                  strstr(logtext, "fallback  floor: overloaded (in typeshed)  [types: typeshed]") &&
                  strstr(logtext, "note      types also from typeshed: "),
              "%s", logtext);
    char *h = header_of(dir, "tsmath.h");
    cr_assert(strstr(h, " * Types also from typeshed (stdlib/math.pyi).") &&
                  strstr(h, "int tsmath_sqrt(pys_runtime *rt, double x, double *out);") &&
                  strstr(h, "int tsmath_isqrt(pys_runtime *rt, int64_t n, int64_t *out);") &&
                  strstr(h, "int tsmath_fsum(pys_runtime *rt, const double *seq, size_t seq_len, double *out);"),
              "%s", h);
    free(h);
    cr_assert_eq(gen(py, dir, "math --prefix tsmath --check ."), 0, "regenerating: %s", logtext);
    cr_assert_eq(gen(py, dir, "statistics --prefix tsstats --out . --report"), 0, "%s", logtext);
    report_counts(logtext, &typed, &all);
    cr_assert(all > 20 && typed * 10 >= all * 7, "statistics on %s: %d of %d typed:\n%s", pyt_name(py), typed,
              all, logtext);
    const char *src = env("PYSHIM_TEST_SRCDIR");
    const char *lib = env("PYSHIM_TEST_GEN_LIB");
    char libdir[1024];
    dir_of(lib, libdir, sizeof libdir);
    int st = sh(dir,
                "%s -std=c11 -Wall -Wextra -Werror -DPY_MINOR=%d %s -I'%s/include' -I. -o driver "
                "'%s/tests/gen/driver_typeshed.c' tsmath.c tsstats.c '%s' -Wl,-rpath,'%s' -lpthread -lm %s",
                env("PYSHIM_TEST_GEN_CC"), py->minor,
                getenv("PYSHIM_TEST_GEN_CFLAGS") ? getenv("PYSHIM_TEST_GEN_CFLAGS") : "", src, src, lib, libdir,
                ldlibs());
    cr_assert_eq(st, 0, "compiling on %s:\n%s", pyt_name(py), logtext);
    st = sh(dir, "./driver '%s'", py->path);
    cr_assert_eq(st, 0, "driver on %s (status %d):\n%s", pyt_name(py), st, logtext);
    cr_assert(strstr(logtext, "ok\n"), "%s", logtext);
    sh(dir, "rm -rf '%s'", dir);
}

/* pys_set_error, which generated bindings use for their own failures. */
PYS_TEST(gen, set_error)
{
    (void)py;
    cr_assert_eq(pys_set_error(PYS_E_TYPE, "mylib_f", "expected a tuple"), PYS_E_TYPE);
    const pys_error *e = pys_last_error();
    cr_assert_eq(e->code, PYS_E_TYPE);
    cr_assert_str_eq(e->context, "mylib_f");
    cr_assert_str_eq(e->message, "expected a tuple");
    cr_assert_str_eq(e->type, "");
    cr_assert_eq(pys_set_error(PYS_E_VALUE, NULL, NULL), PYS_E_VALUE);
    cr_assert_str_eq(pys_last_error()->message, pys_strerror(PYS_E_VALUE));
    cr_assert_str_eq(pys_last_error()->context, "");
    cr_assert_eq(pys_set_error(0, "x", "y"), PYS_E_ARG);
    cr_assert_eq(pys_set_error(-9999, "x", "y"), PYS_E_ARG);
    cr_assert(strstr(pys_last_error()->message, "-9999 is not a PYS_E_* code"));
    /* No Python exception is involved: the runtime goes on as before. */
    cr_assert_eq(pyt_eval_i64(rt, "1 + 1"), 2);
}
