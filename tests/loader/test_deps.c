/* Subprocesses, dependency venvs and the cache, against a real Python,
 * offline: wheels come from a package built here, installs use --no-index.
 * Every test gets its own XDG_CACHE_HOME. The uv tests run only when uv is
 * on PATH (else they are skipped with "skipped: no uv"). */
#include <criterion/criterion.h>

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wheel.h"

#include "loader/loader.h"
#include "pyshim.h"

/* ---- helpers ---------------------------------------------------------------- */

typedef struct tpy {
    char exe[1024];
    int major, minor;
    bool ft;
} tpy;

/* Temp dirs this test made, removed by the suite's fini. */
static char *tmps[16];
static size_t ntmps;

/* A fresh temp dir (owned by the caller; removed after the test). */
static char *tmp_dir(void)
{
    char *t = strdup("/tmp/pys-deps-XXXXXX");
    cr_assert(t && mkdtemp(t), "mkdtemp: %s", strerror(errno));
    if (ntmps < sizeof tmps / sizeof *tmps)
        tmps[ntmps++] = strdup(t);
    return t;
}

static void cleanup(void)
{
    for (size_t i = 0; i < ntmps; i++) {
        const char *rm[] = {"rm", "-rf", tmps[i], NULL};
        pys__spawn(rm, NULL, NULL, NULL, NULL);
        free(tmps[i]);
    }
    ntmps = 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "fopen %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Runs argv; returns the exit status and (if out) stdout. */
static int run(const char *const *argv, char **out, char **err)
{
    pys__diag d = {0};
    int rc = pys__spawn(argv, NULL, out, err, &d);
    pys__diag_free(&d);
    return rc;
}

static void fresh_cache(void)
{
    char *home = tmp_dir();
    setenv("XDG_CACHE_HOME", home, 1);
    free(home);
}

static char *cache_root(void)
{
    char *r = pys__deps_cache_dir();
    cr_assert(r);
    return r;
}

/* Names in dir (sorted), joined by spaces; "" if empty or missing. */
static char *ls(const char *dir)
{
    struct dirent **v = NULL;
    int n = scandir(dir, &v, NULL, alphasort);
    pys__sb b = {0};
    pys__sb_add(&b, "");
    for (int i = 0; i < n; i++) {
        if (strcmp(v[i]->d_name, ".") && strcmp(v[i]->d_name, ".."))
            pys__sb_addf(&b, "%s%s", b.len ? " " : "", v[i]->d_name);
        free(v[i]);
    }
    free(v);
    return pys__sb_take(&b);
}

/* A Python with venv + pip: $PYSHIM_TEST_PYTHON, /usr/bin/python3,
 * /usr/local/bin/python3, pyenv installs, then python3 on PATH (real
 * executables only: a pyenv shim is a shell script). */
static bool probe_python(const char *exe, tpy *py)
{
    if (!exe || access(exe, X_OK) != 0)
        return false;
    char head[2] = {0};
    FILE *f = fopen(exe, "rb");
    if (!f)
        return false;
    size_t k = fread(head, 1, 2, f);
    fclose(f);
    if (k == 2 && head[0] == '#' && head[1] == '!')
        return false;
    const char *argv[] = {exe, "-c",
                          "import sys, sysconfig, venv, pip; "
                          "print(sys.version_info[0], sys.version_info[1], "
                          "int(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))))",
                          NULL};
    char *out = NULL;
    int ft = 0;
    bool ok = run(argv, &out, NULL) == 0 && out &&
              sscanf(out, "%d %d %d", &py->major, &py->minor, &ft) == 3 && py->major == 3 &&
              py->minor >= PYS__MIN_MINOR && py->minor <= PYS__MAX_MINOR;
    free(out);
    py->ft = ft != 0;
    snprintf(py->exe, sizeof py->exe, "%s", exe);
    return ok;
}

static void need_python(tpy *py)
{
    if (probe_python(getenv("PYSHIM_TEST_PYTHON"), py) || probe_python("/usr/bin/python3", py) ||
        probe_python("/usr/local/bin/python3", py))
        return;
    const char *root = getenv("PYENV_ROOT");
    char pat[1024];
    snprintf(pat, sizeof pat, "%s/versions/*/bin/python3",
             root ? root : (getenv("HOME") ? getenv("HOME") : "/root"));
    if (!root)
        snprintf(pat, sizeof pat, "%s/.pyenv/versions/*/bin/python3",
                 getenv("HOME") ? getenv("HOME") : "/root");
    glob_t g;
    bool found = false;
    if (glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = g.gl_pathc; i-- > 0 && !found;) /* newest names last */
            found = probe_python(g.gl_pathv[i], py);
        globfree(&g);
    }
    if (found)
        return;
    char *p = pys__which("python3");
    char *r = p ? realpath(p, NULL) : NULL;
    found = probe_python(r, py);
    free(p);
    free(r);
    if (!found)
        cr_skip_test("no python with venv+pip");
}

/* tinypkg 1.0 (VALUE = 42, console script tinypkg-hello) built into a
 * wheel dir (tests/common/wheel.c). */
static char *make_wheel(const tpy *py)
{
    char *work = tmp_dir();
    char *wheels = pyt_make_tinypkg_wheel(py->exe, work);
    cr_assert_not_null(wheels, "could not build the test wheel with %s", py->exe);
    free(work);
    return wheels;
}

typedef struct treq {
    pys__deps_req req;
    const char *reqs[4];
    const char *links[2];
} treq;

static void req_init(treq *t, const tpy *py, const char *wheels, const char *r0, const char *r1)
{
    *t = (treq){0};
    t->reqs[0] = r0;
    t->reqs[1] = r1;
    t->links[0] = wheels;
    t->req = (pys__deps_req){.python_executable = py->exe,
                             .major = py->major,
                             .minor = py->minor,
                             .free_threaded = py->ft,
                             .requirements = t->reqs,
                             .find_links = t->links,
                             .no_index = true};
}

static int ensure(const treq *t, char **dir, pys__diag *d)
{
    return pys__deps_ensure(&t->req, dir, d);
}

/* DIR/bin/python -c "import tinypkg; print(tinypkg.VALUE)" */
static void assert_imports(const char *dir)
{
    char py[2048];
    snprintf(py, sizeof py, "%s/bin/python", dir);
    const char *argv[] = {py, "-c", "import tinypkg; print(tinypkg.VALUE)", NULL};
    char *out = NULL, *err = NULL;
    int rc = run(argv, &out, &err);
    cr_assert_eq(rc, 0, "import failed in %s: %s", dir, err ? err : "");
    cr_assert_str_eq(out, "42\n");
    free(out);
    free(err);
}

static cJSON *read_manifest(const char *dir)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text = pys__read_file(path, NULL);
    cr_assert(text, "no %s", path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    cr_assert(j, "%s does not parse", path);
    return j;
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- pys__spawn ------------------------------------------------------------- */

TestSuite(deps, .timeout = 60, .fini = cleanup);

Test(deps, spawn_status_and_capture)
{
    unsigned long before = pys__spawn_count();
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    char *out = NULL, *err = NULL;
    pys__diag d = {0};
    cr_assert_eq(pys__spawn(argv, NULL, &out, &err, &d), 3);
    cr_assert_str_eq(out, "out\n");
    cr_assert_str_eq(err, "err\n");
    cr_assert_eq(pys__spawn_count(), before + 1);
    free(out);
    free(err);

    const char *ok[] = {"true", NULL};
    cr_assert_eq(pys__spawn(ok, NULL, NULL, NULL, &d), 0);
    const char *sig[] = {"sh", "-c", "kill -TERM $$", NULL};
    cr_assert_eq(pys__spawn(sig, NULL, NULL, NULL, &d), 128 + 15);
    cr_assert_eq(pys__spawn_count(), before + 3);
    pys__diag_free(&d);
}

Test(deps, spawn_env_add_overrides)
{
    setenv("PYS_T_KEEP", "kept", 1);
    setenv("PYS_T_OVER", "old", 1);
    const char *env[] = {"PYS_T_OVER=new", "PYS_T_ADD=added", "PYS_T_ADD=later wins", NULL};
    const char *argv[] = {"sh", "-c", "echo \"$PYS_T_KEEP|$PYS_T_OVER|$PYS_T_ADD\"", NULL};
    char *out = NULL;
    cr_assert_eq(pys__spawn(argv, env, &out, NULL, NULL), 0);
    cr_assert_str_eq(out, "kept|new|later wins\n");
    free(out);
    cr_assert_str_eq(getenv("PYS_T_OVER"), "old", "the parent's environment is untouched");
}

Test(deps, spawn_both_pipes_full_no_deadlock)
{
    /* 1 MiB to stderr first, then 1 MiB to stdout: reading only one pipe
     * at a time would block the child on the other. */
    const char *argv[] = {"sh", "-c",
                          "head -c 1048576 /dev/zero | tr '\\0' e >&2; "
                          "head -c 1048576 /dev/zero | tr '\\0' o",
                          NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(pys__spawn(argv, NULL, &out, &err, NULL), 0);
    cr_assert_eq(strlen(out), 1048576u);
    cr_assert_eq(strlen(err), 1048576u);
    cr_assert_eq(out[12345], 'o');
    cr_assert_eq(err[54321], 'e');
    free(out);
    free(err);
}

Test(deps, spawn_missing_program)
{
    pys__diag d = {0};
    char *out = (char *)"x";
    const char *argv[] = {"pyshim-no-such-program-zzz", NULL};
    cr_assert_eq(pys__spawn(argv, NULL, &out, NULL, &d), -1);
    cr_assert_null(out);
    cr_assert_eq(d.code, PYS_E_NOTFOUND);
    cr_assert(strstr(d.message, "pyshim-no-such-program-zzz"), "%s", d.message);
    const char *abs[] = {"/nonexistent/bin/tool", NULL};
    cr_assert_eq(pys__spawn(abs, NULL, NULL, NULL, &d), -1);
    cr_assert(strstr(d.message, "/nonexistent/bin/tool"), "%s", d.message);
    const char *empty[] = {NULL};
    cr_assert_eq(pys__spawn(empty, NULL, NULL, NULL, &d), -1);
    cr_assert_eq(d.code, PYS_E_ARG);
    pys__diag_free(&d);
}

Test(deps, which)
{
    char *sh = pys__which("sh");
    cr_assert(sh && sh[0] == '/' && access(sh, X_OK) == 0);
    free(sh);
    cr_assert_null(pys__which("pyshim-no-such-program-zzz"));
    cr_assert_null(pys__which(""));
    char *abs = pys__which("/bin/sh");
    cr_assert_str_eq(abs, "/bin/sh");
    free(abs);
    cr_assert_null(pys__which("/tmp"), "a directory is not an executable");
}

/* ---- cache dir and arguments ------------------------------------------------ */

Test(deps, cache_dir_location)
{
    setenv("XDG_CACHE_HOME", "/x/cache", 1);
    char *d = pys__deps_cache_dir();
    cr_assert_str_eq(d, "/x/cache/pyshim/venvs");
    free(d);
    setenv("HOME", "/h/me", 1);
    setenv("XDG_CACHE_HOME", "relative/ignored", 1);
    d = pys__deps_cache_dir();
    cr_assert_str_eq(d, "/h/me/.cache/pyshim/venvs");
    free(d);
    unsetenv("XDG_CACHE_HOME");
    d = pys__deps_cache_dir();
    cr_assert_str_eq(d, "/h/me/.cache/pyshim/venvs");
    free(d);
}

Test(deps, bad_arguments_spawn_nothing)
{
    fresh_cache();
    unsigned long before = pys__spawn_count();
    pys__diag d = {0};
    char *dir = (char *)"x";
    const char *none[] = {NULL};
    const char *opt[] = {"--index-url=http://evil.invalid/", NULL};
    const char *nl[] = {"ok\nbad", NULL};
    const char *one[] = {"tinypkg", NULL};
    pys__deps_req r = {.python_executable = "/nonexistent/python3", .major = 3, .minor = 11,
                       .requirements = one};
    cr_assert_eq(pys__deps_ensure(&r, &dir, &d), PYS_E_ARG);
    cr_assert_null(dir);
    cr_assert(strstr(d.message, "/nonexistent/python3"), "%s", d.message);
    r.python_executable = "/bin/sh"; /* exists: the rest is checked next */
    r.major = 0;
    cr_assert_eq(pys__deps_ensure(&r, &dir, &d), PYS_E_ARG, "a version is needed for the key");
    r.major = 3;
    r.requirements = none;
    cr_assert_eq(pys__deps_ensure(&r, &dir, &d), PYS_E_ARG);
    r.requirements = opt;
    cr_assert_eq(pys__deps_ensure(&r, &dir, &d), PYS_E_ARG);
    cr_assert(strstr(d.message, "--index-url"), "%s", d.message);
    r.requirements = nl;
    cr_assert_eq(pys__deps_ensure(&r, &dir, &d), PYS_E_ARG);
    cr_assert_eq(pys__deps_ensure(NULL, &dir, &d), PYS_E_ARG);
    cr_assert_eq(pys__spawn_count(), before);
    char *root = cache_root();
    cr_assert_not(exists(root), "nothing is created for bad arguments");
    free(root);
    pys__diag_free(&d);
}

/* ---- building and hitting ------------------------------------------------------ */

Test(deps, build_then_hit)
{
    tpy py;
    need_python(&py);
    fresh_cache();
    char *wheels = make_wheel(&py);
    treq t;
    req_init(&t, &py, wheels, "tinypkg==1.0", NULL);
    pys__diag d = {0};
    char *dir = NULL;
    unsigned long before = pys__spawn_count();
    cr_assert_eq(ensure(&t, &dir, &d), PYS_OK, "%s", d.message);
    cr_assert_gt(pys__spawn_count(), before);
    char *root = cache_root();
    char *expect = pys__path_join(root, base(dir));
    cr_assert_str_eq(dir, expect, "the entry is a direct child of the cache root");
    cr_assert_eq(strlen(base(dir)), 32u);

    cJSON *m = read_manifest(dir);
    cr_assert_eq(cJSON_GetObjectItem(m, "format")->valuedouble, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(m, "backend")->valuestring, "pip");
    cJSON *reqs = cJSON_GetObjectItem(m, "requirements");
    cr_assert_eq(cJSON_GetArraySize(reqs), 1);
    cr_assert_str_eq(cJSON_GetArrayItem(reqs, 0)->valuestring, "tinypkg==1.0");
    cJSON *pyj = cJSON_GetObjectItem(m, "python");
    char ver[16];
    snprintf(ver, sizeof ver, "%d.%d", py.major, py.minor);
    cr_assert_str_eq(cJSON_GetObjectItem(pyj, "version")->valuestring, ver);
    char *real = realpath(py.exe, NULL);
    cr_assert_str_eq(cJSON_GetObjectItem(pyj, "executable")->valuestring, real);
    free(real);
    cJSON *ix = cJSON_GetObjectItem(m, "index");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(ix, "no_index")));
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(ix, "find_links"), 0)->valuestring,
                     wheels);
    cr_assert_eq(strlen(cJSON_GetObjectItem(m, "created")->valuestring), 20u);
    cJSON_Delete(m);

    assert_imports(dir);
    /* The console script was written in the build dir: it must have been
     * rewritten to run from the final place. */
    char script[2048];
    snprintf(script, sizeof script, "%s/bin/tinypkg-hello", dir);
    char *text = pys__read_file(script, NULL);
    cr_assert(text, "no console script %s", script);
    cr_assert_null(strstr(text, ".tmp-"), "script still names the build dir:\n%s", text);
    cr_assert(strstr(text, dir), "script does not name %s:\n%s", dir, text);
    free(text);
    const char *hello[] = {script, NULL};
    char *out = NULL;
    cr_assert_eq(run(hello, &out, NULL), 0);
    cr_assert_str_eq(out, "42\n");
    free(out);

    /* Nothing but the entry remains: no temp dir, no lock file. */
    char *names = ls(root);
    cr_assert_str_eq(names, base(dir));
    free(names);

    /* A hit: same dir, no subprocess, also with the list reordered and
     * duplicated. */
    before = pys__spawn_count();
    char *dir2 = NULL;
    cr_assert_eq(ensure(&t, &dir2, &d), PYS_OK);
    cr_assert_str_eq(dir2, dir);
    free(dir2);
    treq t2;
    req_init(&t2, &py, wheels, "tinypkg==1.0", "tinypkg==1.0");
    cr_assert_eq(ensure(&t2, &dir2, &d), PYS_OK);
    cr_assert_str_eq(dir2, dir);
    free(dir2);
    cr_assert_eq(pys__spawn_count(), before, "a cache hit starts no subprocess");
    free(root);
    free(expect);
    free(dir);
    free(wheels);
    pys__diag_free(&d);
}

Test(deps, two_processes_build_once)
{
    tpy py;
    need_python(&py);
    fresh_cache();
    char *wheels = make_wheel(&py);
    treq t;
    req_init(&t, &py, wheels, "tinypkg", NULL);

    typedef struct result {
        int rc;
        unsigned long spawns;
        char dir[1024];
    } result;
    int barrier[2], res[2];
    cr_assert_eq(pipe(barrier), 0);
    cr_assert_eq(pipe(res), 0);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        cr_assert_geq(kids[i], 0);
        if (kids[i] == 0) {
            close(barrier[1]);
            char c;
            while (read(barrier[0], &c, 1) > 0) /* EOF = go */
                ;
            result r = {0};
            unsigned long before = pys__spawn_count();
            char *dir = NULL;
            pys__diag d = {0};
            r.rc = ensure(&t, &dir, &d);
            r.spawns = pys__spawn_count() - before;
            snprintf(r.dir, sizeof r.dir, "%s", dir ? dir : (d.message ? d.message : "?"));
            _exit(write(res[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
        }
    }
    close(barrier[0]);
    close(barrier[1]); /* both start now */
    close(res[1]);
    result r[2];
    for (int i = 0; i < 2; i++) {
        int st;
        cr_assert_eq(waitpid(kids[i], &st, 0), kids[i]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    for (int i = 0; i < 2; i++)
        cr_assert_eq(read(res[0], &r[i], sizeof r[i]), (ssize_t)sizeof r[i]);
    close(res[0]);
    cr_assert_eq(r[0].rc, PYS_OK, "%s", r[0].dir);
    cr_assert_eq(r[1].rc, PYS_OK, "%s", r[1].dir);
    cr_assert_str_eq(r[0].dir, r[1].dir);
    /* Exactly one of them ran the tools; the other started nothing (it
     * waited on the lock and then found the entry, or found it at once). */
    cr_assert((r[0].spawns == 0) != (r[1].spawns == 0), "spawns: %lu and %lu", r[0].spawns,
              r[1].spawns);
    char *root = cache_root();
    char *names = ls(root);
    cr_assert_str_eq(names, base(r[0].dir), "only the entry remains: %s", names);
    free(names);
    free(root);
    assert_imports(r[0].dir);
    free(wheels);
}

/* Five builds of the venv (one per bad variant): 30 s alone here, so it gets
 * more than the deps suite's 60 s per test on a loaded machine. Its own
 * suite, not a .timeout of its own inside deps: that makes Criterion's
 * runner leak 48 bytes, which LeakSanitizer reports at the runner's exit. */
TestSuite(deps_rebuild, .timeout = 180, .fini = cleanup);

Test(deps_rebuild, invalid_entries_are_rebuilt)
{
    tpy py;
    need_python(&py);
    fresh_cache();
    char *wheels = make_wheel(&py);
    treq t;
    req_init(&t, &py, wheels, "tinypkg==1.0", NULL);
    pys__diag d = {0};
    char *dir = NULL, *dir2 = NULL, path[2048];
    cr_assert_eq(ensure(&t, &dir, &d), PYS_OK, "%s", d.message);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *good = pys__read_file(path, NULL);
    cr_assert(good);

    const char *variants[] = {
        NULL,                          /* half-built: no manifest */
        "{\"format\": 1, \"key\": ",   /* does not parse */
        "other",                       /* parses, but lists other requirements */
        "{\"format\": 99}",            /* unknown format */
    };
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        if (!variants[i]) {
            cr_assert_eq(unlink(path), 0);
            char junk[2100];
            snprintf(junk, sizeof junk, "%s/lib/junk-from-killed-build", dir);
            write_text(junk, "x");
        } else if (strcmp(variants[i], "other") == 0) {
            cJSON *m = cJSON_Parse(good);
            cJSON *arr = cJSON_CreateArray();
            cJSON_AddItemToArray(arr, cJSON_CreateString("evil==6.6.6"));
            cJSON_ReplaceItemInObject(m, "requirements", arr);
            char *s = cJSON_Print(m);
            write_text(path, s);
            free(s);
            cJSON_Delete(m);
        } else {
            write_text(path, variants[i]);
        }
        unsigned long before = pys__spawn_count();
        cr_assert_eq(ensure(&t, &dir2, &d), PYS_OK, "variant %zu: %s", i, d.message);
        cr_assert_str_eq(dir2, dir);
        free(dir2);
        cr_assert_gt(pys__spawn_count(), before, "variant %zu was not rebuilt", i);
        cJSON *m = read_manifest(dir);
        cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "requirements"), 0)->valuestring,
                         "tinypkg==1.0");
        cJSON_Delete(m);
        char junk[2100];
        snprintf(junk, sizeof junk, "%s/lib/junk-from-killed-build", dir);
        cr_assert_not(exists(junk), "the bad entry was removed, not patched");
        assert_imports(dir);
    }
    free(good);
    free(dir);
    free(wheels);
    pys__diag_free(&d);
}

Test(deps, stale_temp_dirs_are_cleaned)
{
    tpy py;
    need_python(&py);
    fresh_cache();
    char *wheels = make_wheel(&py);
    treq t;
    req_init(&t, &py, wheels, "tinypkg==1.0", NULL);
    pys__diag d = {0};
    char *dir = NULL, *dir2 = NULL;
    cr_assert_eq(ensure(&t, &dir, &d), PYS_OK, "%s", d.message);
    char *root = cache_root();
    const char *name = base(dir);

    /* A killed build of our entry (and the entry gone), a killed build of
     * another entry (lock free), and a build in progress of a third (its
     * lock held, here by us). */
    const char *other = "0123456789abcdef0123456789abcdef";
    const char *busy = "fedcba9876543210fedcba9876543210";
    char p1[2048], p2[2048], p3[2048], lk[2048], f[2100];
    snprintf(p1, sizeof p1, "%s/.tmp-%s-99999-AbCdEf", root, name);
    snprintf(p2, sizeof p2, "%s/.tmp-%s-99998-XyZ123", root, other);
    snprintf(p3, sizeof p3, "%s/.tmp-%s-%d-Busy01", root, busy, (int)getpid());
    snprintf(lk, sizeof lk, "%s/%s.lock", root, busy);
    const char *paths[] = {p1, p2, p3};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mkdir(paths[i], 0755), 0);
        snprintf(f, sizeof f, "%s/bin", paths[i]);
        mkdir(f, 0755);
        snprintf(f, sizeof f, "%s/bin/python", paths[i]);
        cr_assert_eq(symlink("/nonexistent/python", f), 0);
    }
    int fd = open(lk, O_RDWR | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(flock(fd, LOCK_EX), 0);

    char *entry = strdup(dir);
    const char *rm[] = {"rm", "-rf", entry, NULL};
    cr_assert_eq(run(rm, NULL, NULL), 0);

    cr_assert_eq(ensure(&t, &dir2, &d), PYS_OK, "%s", d.message);
    cr_assert_str_eq(dir2, entry);
    assert_imports(dir2);
    cr_assert_not(exists(p1), "our stale temp dir was removed");
    cr_assert_not(exists(p2), "a stale temp dir with a free lock was removed");
    cr_assert(exists(p3), "a build in progress was left alone");
    flock(fd, LOCK_UN);
    close(fd);
    free(dir);
    free(dir2);
    free(entry);
    free(root);
    free(wheels);
    pys__diag_free(&d);
}

Test(deps, failed_build_leaves_nothing)
{
    tpy py;
    need_python(&py);
    fresh_cache();
    char *wheels = make_wheel(&py);
    treq t;
    req_init(&t, &py, wheels, "nonexistent-pkg-zzz", NULL);
    pys__diag d = {0};
    char *dir = (char *)"x";
    cr_assert_eq(ensure(&t, &dir, &d), PYS_E_DEPS);
    cr_assert_null(dir);
    cr_assert(strstr(d.message, "nonexistent-pkg-zzz"), "%s", d.message);
    cr_assert(strstr(d.message, "No matching distribution") ||
                  strstr(d.message, "Could not find a version"),
              "pip's stderr is in the message: %s", d.message);
    char *root = cache_root();
    char *names = ls(root);
    cr_assert_str_eq(names, "", "left behind: %s", names);
    free(names);
    free(root);
    free(wheels);
    pys__diag_free(&d);
}

Test(deps, requirement_is_never_a_shell_command)
{
    tpy py;
    need_python(&py);
    fresh_cache();
    char *home = tmp_dir(), canary[2048], pwned[2048], req2[2200], req3[2200];
    snprintf(canary, sizeof canary, "%s/canary", home);
    snprintf(pwned, sizeof pwned, "%s/pwned", home);
    write_text(canary, "alive");
    setenv("HOME", home, 1); /* even a broken shim could only hit this dir */
    snprintf(req2, sizeof req2, "x; touch %s", pwned);
    snprintf(req3, sizeof req3, "tinypkg; $(touch %s)", pwned);
    char *wheels = make_wheel(&py);
    const char *cases[] = {"x; rm -rf ~", req2, req3};
    for (size_t i = 0; i < 3; i++) {
        treq t;
        req_init(&t, &py, wheels, cases[i], NULL);
        pys__diag d = {0};
        char *dir = NULL;
        cr_assert_eq(ensure(&t, &dir, &d), PYS_E_DEPS, "case %zu", i);
        cr_assert(strstr(d.message, "nvalid"), "pip rejects it as invalid: %s", d.message);
        cr_assert(strstr(d.message, cases[i]), "%s", d.message);
        pys__diag_free(&d);
    }
    cr_assert(exists(canary), "the canary survived");
    cr_assert_not(exists(pwned), "no command ran");
    char *root = cache_root();
    char *names = ls(root);
    cr_assert_str_eq(names, "");
    free(names);
    free(root);
    free(wheels);
    free(home);
}

/* ---- listing and clearing ----------------------------------------------------- */

Test(deps, cache_list_and_clear)
{
    tpy py;
    need_python(&py);
    fresh_cache();
    pys_cache_entry *v = NULL;
    size_t n = 99;
    cr_assert_eq(pys_cache_list(&v, &n), PYS_OK, "a missing cache is empty");
    cr_assert_eq(n, 0u);
    cr_assert_null(v);
    cr_assert_eq(pys_clear_cache(), PYS_OK);

    char *wheels = make_wheel(&py);
    treq t;
    req_init(&t, &py, wheels, "tinypkg==1.0", NULL);
    t.req.prefer_uv = true; /* uv when available, else pip */
    pys__diag d = {0};
    char *dir = NULL;
    cr_assert_eq(ensure(&t, &dir, &d), PYS_OK, "%s", d.message);
    char *root = cache_root();
    char bad[2048], busy_tmp[2048], lk[2048], foreign[2048];
    snprintf(bad, sizeof bad, "%s/00000000000000000000000000000000", root);
    cr_assert_eq(mkdir(bad, 0755), 0);
    snprintf(foreign, sizeof foreign, "%s/README-not-ours", root);
    write_text(foreign, "keep me");
    const char *busy = "fedcba9876543210fedcba9876543210";
    snprintf(busy_tmp, sizeof busy_tmp, "%s/.tmp-%s-1-Busy01", root, busy);
    snprintf(lk, sizeof lk, "%s/%s.lock", root, busy);
    cr_assert_eq(mkdir(busy_tmp, 0755), 0);

    cr_assert_eq(pys_cache_list(&v, &n), PYS_OK);
    cr_assert_eq(n, 2u, "the entry and the invalid dir (not the temp dir, not the file)");
    pys_cache_entry *bad_e = &v[0], *good = &v[1]; /* sorted by key */
    cr_assert_str_eq(bad_e->key, "00000000000000000000000000000000");
    cr_assert_not(bad_e->valid);
    cr_assert(strstr(bad_e->problem, "no manifest"), "%s", bad_e->problem);
    cr_assert_eq(bad_e->nrequirements, 0u);
    cr_assert_null(bad_e->requirements[0]);
    cr_assert(good->valid, "%s", good->problem);
    cr_assert_str_eq(good->dir, dir);
    cr_assert_str_eq(good->key, base(dir));
    char ver[16];
    snprintf(ver, sizeof ver, "%d.%d%s", py.major, py.minor, py.ft ? "t" : "");
    cr_assert_str_eq(good->python, ver);
    cr_assert_eq(good->nrequirements, 1u);
    cr_assert_str_eq(good->requirements[0], "tinypkg==1.0");
    cr_assert_null(good->requirements[1]);
    cr_assert_str_eq(good->find_links[0], wheels);
    cr_assert(good->no_index);
    cr_assert_str_eq(good->index_url, "");
    cr_assert_str_eq(good->backend, pys_uv_available() ? "uv" : "pip");
    cr_assert_eq(strlen(good->created), 20u);
    cr_assert_eq(good->created[10], 'T');
    cr_assert_eq(good->created[19], 'Z');
    cr_assert_str_eq(good->problem, "");
    pys_cache_list_free(v, n);

    /* A build in progress (its lock held) survives a clear. */
    int fd = open(lk, O_RDWR | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    cr_assert_eq(pys_clear_cache(), PYS_E_STATE);
    cr_assert_eq(pys_last_error()->code, PYS_E_STATE);
    cr_assert(strstr(pys_last_error()->message, busy), "%s", pys_last_error()->message);
    cr_assert_not(exists(dir));
    cr_assert_not(exists(bad));
    cr_assert(exists(busy_tmp));
    flock(fd, LOCK_UN);
    close(fd);

    cr_assert_eq(pys_clear_cache(), PYS_OK);
    char *names = ls(root);
    cr_assert_str_eq(names, "README-not-ours", "only the foreign file remains: %s", names);
    free(names);
    cr_assert_eq(pys_cache_list(&v, &n), PYS_OK);
    cr_assert_eq(n, 0u);
    cr_assert_eq(pys_cache_list(NULL, &n), PYS_E_ARG);
    free(dir);
    free(root);
    free(wheels);
    pys__diag_free(&d);
}

/* ---- uv ------------------------------------------------------------------------ */

Test(deps, uv_available_and_version)
{
    char *uv = pys__which("uv");
    cr_assert_eq(pys_uv_available(), uv != NULL);
    char *v = pys_uv_version();
    if (uv) {
        cr_assert(v && strncmp(v, "uv ", 3) == 0, "%s", v ? v : pys_last_error()->message);
        cr_assert_neq(v[strlen(v) - 1], '\n');
    } else {
        cr_assert_null(v);
        cr_assert_eq(pys_last_error()->code, PYS_E_NOTFOUND);
    }
    free(v);
    free(uv);
}

Test(deps, uv_sync_needs_pyproject)
{
    char *dir = tmp_dir();
    pys__diag d = {0};
    char *venv = (char *)"x";
    cr_assert_eq(pys__uv_sync(dir, NULL, &venv, &d), PYS_E_ARG);
    cr_assert_null(venv);
    cr_assert(strstr(d.message, "pyproject.toml"), "%s", d.message);
    cr_assert_eq(pys__uv_sync("/nonexistent/project", NULL, &venv, &d), PYS_E_ARG);
    cr_assert(strstr(d.message, "/nonexistent/project/pyproject.toml"), "%s", d.message);
    cr_assert_eq(pys__uv_sync(dir, "--evil", &venv, &d), PYS_E_ARG);
    pys__diag_free(&d);
    free(dir);
}

Test(deps, uv_builds_dependency_venv)
{
    char *uv = pys__which("uv");
    if (!uv)
        cr_skip_test("skipped: no uv");
    free(uv);
    tpy py;
    need_python(&py);
    fresh_cache();
    char *wheels = make_wheel(&py);
    treq t;
    req_init(&t, &py, wheels, "tinypkg==1.0", NULL);
    t.req.prefer_uv = true;
    pys__diag d = {0};
    char *dir = NULL;
    cr_assert_eq(ensure(&t, &dir, &d), PYS_OK, "%s", d.message);
    cJSON *m = read_manifest(dir);
    cr_assert_str_eq(cJSON_GetObjectItem(m, "backend")->valuestring, "uv");
    cJSON_Delete(m);
    assert_imports(dir);
    unsigned long before = pys__spawn_count();
    char *dir2 = NULL;
    cr_assert_eq(ensure(&t, &dir2, &d), PYS_OK);
    cr_assert_str_eq(dir2, dir);
    cr_assert_eq(pys__spawn_count(), before);
    free(dir);
    free(dir2);
    free(wheels);
    pys__diag_free(&d);
}

Test(deps, uv_sync_project)
{
    char *uv = pys__which("uv");
    if (!uv)
        cr_skip_test("skipped: no uv");
    free(uv);
    tpy py;
    need_python(&py);
    fresh_cache();
    setenv("UV_OFFLINE", "1", 1);
    char *wheels = make_wheel(&py);
    char *proj = tmp_dir(), path[2048];
    snprintf(path, sizeof path, "%s/pyproject.toml", proj);
    pys__sb b = {0};
    pys__sb_addf(&b,
                 "[project]\nname = \"proj\"\nversion = \"0.1\"\n"
                 "requires-python = \">=3.8\"\ndependencies = [\"tinypkg==1.0\"]\n\n"
                 "[tool.uv]\nno-index = true\nfind-links = [\"%s\"]\n",
                 wheels);
    write_text(path, b.s);
    pys__sb_free(&b);
    pys__diag d = {0};
    char *venv = NULL;
    cr_assert_eq(pys__uv_sync(proj, py.exe, &venv, &d), PYS_OK, "%s", d.message);
    char expect[2100];
    char *real = realpath(proj, NULL);
    snprintf(expect, sizeof expect, "%s/.venv", real);
    cr_assert_str_eq(venv, expect);
    assert_imports(venv);
    free(real);
    free(venv);
    free(proj);
    free(wheels);
    pys__diag_free(&d);
}
