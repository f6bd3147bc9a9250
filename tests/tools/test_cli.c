/* The pyshim CLI, run as a user would: probe, run (-c / FILE / -m), eval,
 * exit statuses, venvs, errors. The binary comes from PYSHIM_TEST_CLI. */
#include <cJSON.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <time.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pyshim_test.h"
#include "wheel.h"

extern char **environ;

typedef struct result {
    int status;
    char out[65536];
    char err[65536];
} result;

/* Runs the CLI with args (NULL-terminated), env additions "K=V" (may be
 * NULL), capturing both streams. */
static result *cli(const char *const *args, const char *const *env_add)
{
    static result r;
    memset(&r, 0, sizeof r);
    const char *bin = getenv("PYSHIM_TEST_CLI");
    cr_assert_not_null(bin, "PYSHIM_TEST_CLI is not set (run through meson test)");
    const char *argv[64] = {bin};
    size_t n = 1;
    for (size_t i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    const char *envp[512];
    size_t m = 0;
    for (char **e = environ; *e && m < 400; e++) {
        bool overridden = false;
        for (size_t i = 0; env_add && env_add[i]; i++) {
            size_t k = strcspn(env_add[i], "=");
            if (strncmp(*e, env_add[i], k + 1) == 0)
                overridden = true;
        }
        if (!overridden && strncmp(*e, "VIRTUAL_ENV=", 12) != 0 &&
            strncmp(*e, "PYSHIM_LIBPYTHON=", 17) != 0 &&
            strncmp(*e, "PYSHIM_PYTHON_VERSION=", 22) != 0)
            envp[m++] = *e;
    }
    for (size_t i = 0; env_add && env_add[i]; i++)
        envp[m++] = env_add[i];
    envp[m] = NULL;
    int po[2], pe[2];
    cr_assert_eq(pipe(po), 0);
    cr_assert_eq(pipe(pe), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addclose(&fa, po[0]);
    posix_spawn_file_actions_addclose(&fa, pe[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, (char *const *)envp);
    cr_assert_eq(rc, 0, "spawn %s", bin);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    size_t no = 0, ne = 0;
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        poll(fds, 2, -1);
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            char *buf = i == 0 ? r.out : r.err;
            size_t *len = i == 0 ? &no : &ne;
            ssize_t k = read(fds[i].fd, buf + *len, sizeof r.out - 1 - *len);
            if (k <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else {
                *len += (size_t)k;
            }
        }
    }
    int st = 0;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return &r;
}

#define CLI(...) cli((const char *const[]){__VA_ARGS__, NULL}, NULL)

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes a temporary tree this test made. */
static void rm_tree(const char *dir)
{
    if (dir && dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char tmp_dir[64];

static void rm_tmp_dir(void)
{
    rm_tree(tmp_dir);
}

/* Writes a file into this test's temporary dir (removed at exit). */
static char *write_tmp(const char *name, const char *text)
{
    char *dir = tmp_dir;
    if (!dir[0]) {
        snprintf(dir, sizeof tmp_dir, "/tmp/pyshim-cli-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        atexit(rm_tmp_dir);
    }
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(cli, probe_json_lists_everything)
{
    result *r = CLI("probe", "--json");
    cr_assert_eq(r->status, 0, "stderr: %s", r->err);
    cJSON *j = cJSON_Parse(r->out);
    cr_assert_not_null(j, "not JSON: %s", r->out);
    cJSON *cands = cJSON_GetObjectItem(j, "candidates");
    cr_assert(cJSON_IsArray(cands));
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(j, "chosen")));
    int accepted = 0, chosen = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cands)
    {
        const char *path = cJSON_GetObjectItem(c, "path")->valuestring;
        const char *reason = cJSON_GetObjectItem(c, "reason")->valuestring;
        cr_assert(reason && *reason, "%s has no reason", path);
        cr_assert(cJSON_GetObjectItem(c, "source")->valuestring[0]);
        if (cJSON_IsTrue(cJSON_GetObjectItem(c, "accepted")))
            accepted++;
        if (cJSON_IsTrue(cJSON_GetObjectItem(c, "chosen")))
            chosen++;
        /* 3.7 and older are listed and rejected with a reason */
        if (strstr(path, "libpython3.7m") || strstr(path, "libpython3.6m")) {
            cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(c, "accepted")));
            cr_assert(strstr(reason, "older than"), "%s: %s", path, reason);
        }
        if (strlen(path) > 13 && strcmp(path + strlen(path) - 13, "libpython3.so") == 0)
            cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(c, "accepted")));
    }
    cr_assert_geq(accepted, 1);
    cr_assert_eq(chosen, 1);
    cJSON_Delete(j);
    r = CLI("probe");
    cr_assert_eq(r->status, 0);
    cr_assert(strstr(r->out, "would load:"), "%s", r->out);
}

PYS_TEST_NOOPEN(cli, run_pinned_version_and_prefix)
{
    char pin[16], expect[2200];
    snprintf(pin, sizeof pin, "%d.%d%s", py->major, py->minor, py->free_threaded ? "t" : "");
    result *r = CLI("run", "--python", pin, "-c",
                    "import sys; print('%d.%d' % sys.version_info[:2])");
    cr_assert_eq(r->status, 0, "stderr: %s", r->err);
    snprintf(expect, sizeof expect, "%d.%d\n", py->major, py->minor);
    cr_assert_str_eq(r->out, expect);
    r = CLI("run", "--library", py->path, "-c", "import sys; print(sys.prefix); print(sys.executable)");
    cr_assert_eq(r->status, 0, "stderr: %s", r->err);
    snprintf(expect, sizeof expect, "%s\n%s\n", py->prefix, py->executable);
    cr_assert_str_eq(r->out, expect);
}

Test(cli, run_argv_and_exit_status)
{
    result *r = CLI("run", "-c", "import sys; print(sys.argv)", "a", "b c");
    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert_str_eq(r->out, "['-c', 'a', 'b c']\n");
    r = CLI("run", "-c", "raise SystemExit(5)");
    cr_assert_eq(r->status, 5);
    r = CLI("run", "-c", "import sys; sys.exit('bye')");
    cr_assert_eq(r->status, 1);
    cr_assert_str_eq(r->err, "bye\n");
    r = CLI("run", "-c", "def f():\n    g()\ndef g():\n    raise KeyError('k')\nf()");
    cr_assert_eq(r->status, 1);
    cr_assert(strstr(r->err, "Traceback (most recent call last)"), "%s", r->err);
    cr_assert(strstr(r->err, "in f") && strstr(r->err, "in g"), "%s", r->err);
    cr_assert(strstr(r->err, "KeyError: 'k'"), "%s", r->err);
    r = CLI("run", "-c", "print('out'); import sys; sys.stdout.flush(); print('err', file=sys.stderr)");
    cr_assert_str_eq(r->out, "out\n");
    cr_assert_str_eq(r->err, "err\n");
}

/* The CLI never captures: run and eval write to the process's own streams
 * (the objects Python made, with their file descriptors). */
Test(cli, run_and_eval_write_straight_to_the_terminal_streams)
{
    result *r = CLI("run", "-c",
                    "import sys; print(type(sys.stdout).__name__, type(sys.stderr).__name__, "
                    "sys.stdout is sys.__stdout__, sys.stdout.fileno(), sys.stderr.fileno())");
    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert_str_eq(r->out, "TextIOWrapper TextIOWrapper True 1 2\n");
    r = CLI("eval", "__import__('sys').stdout is __import__('sys').__stdout__");
    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert_str_eq(r->out, "true\n"); /* JSON */
}

Test(cli, run_file_and_module)
{
    char *script = write_tmp("script.py", "import sys, helper\n"
                                          "print(__name__, sys.argv[1:], helper.X)\n");
    char path[256];
    snprintf(path, sizeof path, "%s", script);
    write_tmp("helper.py", "X = 42\n");
    result *r = CLI("run", path, "one", "two");
    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert_str_eq(r->out, "__main__ ['one', 'two'] 42\n");
    r = CLI("run", "-m", "json.tool", "--help");
    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert(strstr(r->out, "usage:"), "%s", r->out);
    r = CLI("run", "-m", "no_such_module_q");
    cr_assert_eq(r->status, 1);
    cr_assert(strstr(r->err, "No module named"), "%s", r->err);
}

Test(cli, eval_json_or_repr)
{
    result *r = CLI("eval", "{'a': [1, 2.5, None, True], 'b': 'x'}");
    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert_str_eq(r->out, "{\"a\":[1,2.5,null,true],\"b\":\"x\"}\n");
    r = CLI("eval", "complex(1, 2)");
    cr_assert_eq(r->status, 0);
    cr_assert_str_eq(r->out, "(1+2j)\n");
    r = CLI("eval", "1/0");
    cr_assert_eq(r->status, 1);
    cr_assert(strstr(r->err, "ZeroDivisionError"));
}

Test(cli, pyshim_errors_exit_2)
{
    result *r = CLI("run", "--library", "/nonexistent/libpython3.12.so", "-c", "1");
    cr_assert_eq(r->status, 2);
    cr_assert(strstr(r->err, "PYS_E_NOTFOUND"), "%s", r->err);
    cr_assert(strstr(r->err, "tried:"), "%s", r->err);
    r = CLI("run", "--python", "3.x", "-c", "1");
    cr_assert_eq(r->status, 2);
    cr_assert(strstr(r->err, "PYS_E_ARG"), "%s", r->err);
    r = CLI("run", "--python", "3.7", "-c", "1");
    cr_assert_eq(r->status, 2);
    cr_assert(strstr(r->err, "not supported"), "%s", r->err);
    r = CLI("run", "--python");
    cr_assert_eq(r->status, 2);
    cr_assert(strstr(r->err, "needs a value"), "%s", r->err);
    /* No target: Python reads its program from stdin (empty here). */
    r = CLI("run");
    cr_assert_eq(r->status, 0, "%s", r->err);
    r = CLI("frobnicate");
    cr_assert_eq(r->status, 2);
    r = CLI("--help");
    cr_assert_eq(r->status, 0);
    cr_assert(strstr(r->out, "pyshim probe"));
    const char *env[] = {"PYSHIM_PYTHON_VERSION=2.7", NULL};
    r = cli((const char *const[]){"run", "-c", "1", NULL}, env);
    cr_assert_eq(r->status, 2);
}

PYS_TEST_NOOPEN(cli, run_in_venv)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/pyshim-cli-venv-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char venv[128], cmd[2048];
    snprintf(venv, sizeof venv, "%s/env", dir);
    snprintf(cmd, sizeof cmd, "'%s' -m venv --without-pip '%s' >/dev/null 2>&1", py->executable,
             venv);
    if (system(cmd) != 0) {
        rm_tree(dir);
        cr_skip_test("no venv module for %s", pyt_name(py));
    }
    char mod[512];
    snprintf(mod, sizeof mod, "%s/lib/python%d.%d%s/site-packages/venv_only.py", venv, py->major,
             py->minor, py->free_threaded ? "t" : "");
    FILE *f = fopen(mod, "w");
    cr_assert_not_null(f);
    fputs("MARK = 'in venv'\n", f);
    fclose(f);
    const char *code = "import sys, venv_only; print(venv_only.MARK); print(sys.prefix)";
    char *real = realpath(venv, NULL);
    char expect[512];
    snprintf(expect, sizeof expect, "in venv\n%s\n", real);
    result *r = CLI("run", "--venv", venv, "-c", code);
    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert_str_eq(r->out, expect);
    char envvar[256];
    snprintf(envvar, sizeof envvar, "VIRTUAL_ENV=%s", venv);
    const char *env[] = {envvar, NULL};
    r = cli((const char *const[]){"run", "-c", code, NULL}, env);
    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert_str_eq(r->out, expect);
    r = cli((const char *const[]){"probe", "--json", NULL}, env);
    cr_assert(strstr(r->out, "\"venv\""));
    free(real);
    rm_tree(dir);
}

PYS_TEST_NOOPEN(cli, run_with_dependencies_and_deps_commands, .timeout = 240)
{
    /* The Python under test builds the wheel and runs the dependencies. */
    const char *exe = py->executable;
    if (!exe[0])
        cr_skip_test("%s has no interpreter next to it", pyt_name(py));
    const char *lib = py->path;
    char work[64];
    snprintf(work, sizeof work, "/tmp/pyshim-cli-deps-XXXXXX");
    cr_assert_not_null(mkdtemp(work));
    char *wheels = pyt_make_tinypkg_wheel(exe, work);
    if (!wheels) {
        rm_tree(work);
        cr_skip_test("cannot build a wheel with %s", exe);
    }
    char cache[128];
    snprintf(cache, sizeof cache, "XDG_CACHE_HOME=%s/cache", work);
    const char *env[] = {cache, NULL};
    result *r = cli((const char *const[]){"run", "--library", lib, "--with", "tinypkg==1.0",
                                          "--find-links", wheels, "--no-index", "-c",
                                          "import sys, tinypkg; print(tinypkg.VALUE); "
                                          "print('%d.%d' % sys.version_info[:2])",
                                          NULL},
                    env);
    if (r->status == 2 && strstr(r->err, "No module named pip")) {
        rm_tree(work);
        cr_skip_test("%s has no pip", exe);
    }
    cr_assert_eq(r->status, 0, "%s", r->err);
    char expect[64];
    snprintf(expect, sizeof expect, "42\n%d.%d\n", py->major, py->minor);
    cr_assert_str_eq(r->out, expect);
    r = cli((const char *const[]){"deps", "list", "--json", NULL}, env);
    cr_assert_eq(r->status, 0, "%s", r->err);
    cJSON *j = cJSON_Parse(r->out);
    cr_assert(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 1, "%s", r->out);
    cJSON *e = cJSON_GetArrayItem(j, 0);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(e, "valid")));
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "requirements"), 0)->valuestring,
                     "tinypkg==1.0");
    cJSON_Delete(j);
    r = cli((const char *const[]){"deps", "list", NULL}, env);
    cr_assert(strstr(r->out, "tinypkg==1.0"), "%s", r->out);
    r = cli((const char *const[]){"deps", "clear", NULL}, env);
    cr_assert_eq(r->status, 0, "%s", r->err);
    r = cli((const char *const[]){"deps", "list", NULL}, env);
    cr_assert_str_eq(r->out, "no cached dependency venvs\n");
    r = cli((const char *const[]){"deps", "bogus", NULL}, env);
    cr_assert_eq(r->status, 2);
    free(wheels);
    rm_tree(work);
}

/* ---- how a Python is chosen, as a user sees it --------------------------- */

static void mkdirs_cli(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(tmp, 0755);
            *s = '/';
        }
    mkdir(tmp, 0755);
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* First line of a command's stdout (run by the test, never by pyshim). */
static bool first_line(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    bool ok = fgets(out, (int)n, p) != NULL;
    int st = pclose(p);
    if (!ok || st != 0)
        return false;
    out[strcspn(out, "\n")] = '\0';
    return *out != '\0';
}

Test(cli, run_follows_pyenv_as_the_shell_does)
{
    /* The oracle is pyenv itself, run here in an empty directory: pyshim
     * must land on the prefix pyenv names, without running pyenv. */
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/pyshim-cli-pyenv-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(chdir(dir), 0);
    char expect[1024], lib[1200];
    if (!first_line("pyenv prefix 2>/dev/null", expect, sizeof expect))
        cr_skip_test("pyenv is not on PATH, or has no version set");
    char minor_s[64];
    cr_assert(first_line("python3 -c 'import sys; print(sys.version_info[1])' 2>/dev/null", minor_s,
                         sizeof minor_s));
    snprintf(lib, sizeof lib, "%s/lib/libpython3.%s.so.1.0", expect, minor_s);
    if (access(lib, F_OK) != 0)
        cr_skip_test("pyenv's Python %s has no shared library", expect);
    const char *code = "import sys; print(sys.prefix)";
    result *r = CLI("run", "-c", code);
    cr_assert_eq(r->status, 0, "%s", r->err);
    char want[1100];
    snprintf(want, sizeof want, "%s\n", expect);
    cr_assert_str_eq(r->out, want, "pyshim run chose another Python than pyenv's");

    /* --python 3.X: the shell's python3.X, which pyenv resolves the same way */
    char pin[80], which[1024], cmd[128];
    snprintf(pin, sizeof pin, "3.%s", minor_s);
    snprintf(cmd, sizeof cmd, "pyenv which python3.%s 2>/dev/null", minor_s);
    cr_assert(first_line(cmd, which, sizeof which));
    char *rw = realpath(which, NULL);
    cr_assert_not_null(rw);
    *strrchr(rw, '/') = '\0';
    *strrchr(rw, '/') = '\0';
    r = CLI("run", "--python", pin, "-c", code);
    cr_assert_eq(r->status, 0, "%s", r->err);
    snprintf(want, sizeof want, "%s\n", rw);
    cr_assert_str_eq(r->out, want);
    free(rw);

    r = CLI("probe", "--why");
    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert(strstr(r->out, "shell        chosen"), "%s", r->out);
    cr_assert(strstr(r->out, "a pyenv shim for"), "%s", r->out);
    rmdir(dir);
}

Test(cli, probe_why_and_json_name_the_deciding_file)
{
    /* a project asking for the minor of some Python on this machine */
    pys_probe_result *pr = NULL;
    cr_assert_eq(pys_probe(&(pys_options){.prefer_newest = true}, &pr), PYS_OK);
    cr_assert_geq(pys_probe_chosen(pr), 0);
    const pys_candidate *k = pys_probe_get(pr, (size_t)pys_probe_chosen(pr));
    char text[64];
    snprintf(text, sizeof text, "# fallbacks follow\n3.99\n%d.%d%s\n", k->major, k->minor,
             k->free_threaded ? "t" : "");
    int minor = k->minor;
    pys_probe_free(pr);
    char dir[64], file[128], sub[128];
    snprintf(dir, sizeof dir, "/tmp/pyshim-cli-proj-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/.python-version", dir);
    put(file, text);
    snprintf(sub, sizeof sub, "%s/src/pkg", dir);
    mkdirs_cli(sub);
    cr_assert_eq(chdir(sub), 0);

    result *r = CLI("probe", "--why");
    cr_assert_eq(r->status, 0, "%s", r->err);
    static const char *const order[] = {"explicit", "venv", "conda", "pixi", "request",
                                        "project-venv", "shell", "uv", "search"};
    const char *at = r->out;
    for (size_t i = 0; i < 9; i++) {
        char head[32];
        snprintf(head, sizeof head, "%s ", order[i]);
        const char *p = strstr(at, head);
        cr_assert_not_null(p, "no line for %s in order:\n%s", order[i], r->out);
        at = p;
    }
    char want[256];
    snprintf(want, sizeof want, "pinned by %s", file);
    cr_assert(strstr(r->out, want), "%s", r->out);
    cr_assert(strstr(r->out, "(line 3)"), "%s", r->out);
    cr_assert(strstr(r->out, "3.99 (line 2)"), "%s", r->out);

    r = CLI("probe", "--json");
    cr_assert_eq(r->status, 0, "%s", r->err);
    cJSON *j = cJSON_Parse(r->out);
    cr_assert_not_null(j);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "decided_file")->valuestring, file);
    cr_assert(strstr(cJSON_GetObjectItem(j, "decision")->valuestring, "pinned by"));
    cr_assert_geq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "steps")), 9, "a line per source (fallback lines add their own)");
    cJSON *c;
    int rejected = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "candidates"))
    {
        const char *code = cJSON_GetObjectItem(c, "reason_code")->valuestring;
        cr_assert(code && *code);
        if (cJSON_IsFalse(cJSON_GetObjectItem(c, "accepted"))) {
            rejected++;
            cr_assert_str_neq(code, "accepted");
        }
        if (cJSON_IsTrue(cJSON_GetObjectItem(c, "chosen")))
            cr_assert_eq((int)cJSON_GetObjectItem(c, "micro")->valuedouble >= -1, 1);
    }
    (void)rejected;
    cJSON *chosen = NULL;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "candidates")) if (cJSON_IsTrue(cJSON_GetObjectItem(c, "chosen"))) chosen = c;
    cr_assert_not_null(chosen);
    char v[16];
    snprintf(v, sizeof v, "3.%d", minor);
    cr_assert(strncmp(cJSON_GetObjectItem(chosen, "version")->valuestring, v, strlen(v)) == 0);
    cJSON_Delete(j);

    /* --newest: the old default, the file is not read */
    r = CLI("probe", "--why", "--newest");
    cr_assert_eq(r->status, 0, "%s", r->err);
    cr_assert(strstr(r->out, "prefer_newest"), "%s", r->out);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    cr_assert_eq(system(rm), 0);
}

Test(cli, interpreter_without_shared_library_exit_2_with_the_fix)
{
    /* A Debian-style /usr without libpython3.X.so: a statically linked
     * python3.X (this machine's Debian one, else any ELF that needs no
     * libpython: only its ELF is read), the stdlib, dist-packages. */
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/pyshim-cli-deb-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    int minor = 0;
    char src[64] = "/bin/true";
    for (int mi = 14; mi >= 8 && !minor; mi--) {
        char p[64];
        snprintf(p, sizeof p, "/usr/bin/python3.%d", mi);
        if (access(p, X_OK) == 0) {
            minor = mi;
            snprintf(src, sizeof src, "%s", p);
        }
    }
    if (!minor)
        minor = 11;
    char p[256], cmd[600];
    snprintf(p, sizeof p, "%s/usr/bin", dir);
    mkdirs_cli(p);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/usr/bin/python3.%d' && ln -s python3.%d '%s/usr/bin/python3'", src,
             dir, minor, minor, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(p, sizeof p, "%s/usr/lib/python3.%d", dir, minor);
    mkdirs_cli(p);
    snprintf(p, sizeof p, "%s/usr/lib/python3.%d/os.py", dir, minor);
    put(p, "");
    snprintf(p, sizeof p, "%s/usr/lib/python3/dist-packages", dir);
    mkdirs_cli(p);
    cr_assert_eq(chdir(dir), 0);

    char path[256], home[256], none[256], ld[256], uv[256];
    snprintf(path, sizeof path, "PATH=%s/usr/bin", dir);
    snprintf(home, sizeof home, "HOME=%s", dir);
    snprintf(none, sizeof none, "PYENV_ROOT=%s/no-pyenv", dir);
    snprintf(ld, sizeof ld, "PYSHIM_LDCONFIG_CACHE=%s/no-cache", dir);
    snprintf(uv, sizeof uv, "UV_PYTHON_INSTALL_DIR=%s/no-uv", dir);
    const char *env[] = {path, home, none, ld, uv, "PYSHIM_SYSTEM_LIBDIRS=", "PYENV_VERSION=", NULL};
    result *r = cli((const char *const[]){"run", "-c", "pass", NULL}, env);
    cr_assert_eq(r->status, 2, "out: %s\nerr: %s", r->out, r->err);
    char want[64];
    snprintf(want, sizeof want, "apt install libpython3.%d", minor);
    cr_assert(strstr(r->err, want), "%s", r->err);
    cr_assert(strstr(r->err, "statically linked"), "%s", r->err);
    cr_assert(strstr(r->err, "PYS_E_NOTFOUND"), "%s", r->err);

    r = cli((const char *const[]){"probe", "--why", NULL}, env);
    cr_assert_eq(r->status, 2);
    cr_assert(strstr(r->out, "shell        skipped"), "%s", r->out);
    cr_assert(strstr(r->out, want), "%s", r->out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* ---- the REPL under a pseudo-terminal ------------------------------------------------- */

/* Reads from fd into buf (appending) until `done` says so or 30 s pass. */
static bool read_until(int fd, char *buf, size_t cap, size_t *len, bool (*done)(const char *))
{
    time_t start = time(NULL);
    while (!done(buf)) {
        if (time(NULL) - start > 30)
            return false;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        ssize_t k = read(fd, buf + *len, cap - 1 - *len);
        if (k <= 0)
            return false;
        *len += (size_t)k;
        buf[*len] = '\0';
    }
    return true;
}

static bool has_prompt(const char *s)
{
    return strstr(s, ">>> ") != NULL;
}

/* The terminal's text without escape sequences (the 3.13+ REPL draws
 * with them): ESC [ ... final byte, and two-byte ESC x. */
static char *plain(const char *s)
{
    static char out[65536];
    size_t n = 0;
    for (const char *p = s; *p && n < sizeof out - 1;) {
        if (p[0] == '\x1b' && p[1] == '[') {
            p += 2;
            while (*p && !(*p >= '@' && *p <= '~'))
                p++;
            if (*p)
                p++;
        } else if (p[0] == '\x1b' && p[1]) {
            p += 2;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

/* The result line: "2" alone on a line after the echoed input. */
static bool has_two(const char *raw)
{
    const char *s = plain(raw);
    const char *in = strstr(s, "1+1");
    for (const char *p = in ? strchr(in, '\n') : NULL; p; p = strchr(p + 1, '\n')) {
        const char *q = p + 1;
        while (*q == '\r')
            q++;
        if (q[0] == '2' && (q[1] == '\r' || q[1] == '\n'))
            return true;
    }
    return false;
}

/* A prompt after the result line. */
static bool has_prompt_after_two(const char *raw)
{
    if (!has_two(raw))
        return false;
    const char *s = plain(raw);
    const char *in = strstr(s, "1+1");
    return in && strstr(in + 3, ">>> ") != NULL;
}

PYS_TEST_NOOPEN(cli, repl_under_a_pty, .timeout = 120)
{
    const char *bin = getenv("PYSHIM_TEST_CLI");
    cr_assert_not_null(bin);
    int master = -1;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_geq(pid, 0, "forkpty");
    if (pid == 0) {
        setenv("TERM", "xterm", 1);
        unsetenv("PYTHONSTARTUP");
        unsetenv("VIRTUAL_ENV");
        execl(bin, bin, "run", "--library", py->path, (char *)NULL);
        _exit(127);
    }
    static char buf[65536];
    size_t len = 0;
    buf[0] = '\0';
    bool prompt = read_until(master, buf, sizeof buf, &len, has_prompt);
    if (!prompt)
        kill(pid, SIGKILL);
    cr_assert(prompt, "%s: no prompt; the terminal showed:\n%s", pyt_name(py), buf);
    cr_assert_eq(write(master, "1+1\r", 4), 4);
    bool two = read_until(master, buf, sizeof buf, &len, has_two);
    if (!two)
        kill(pid, SIGKILL);
    cr_assert(two, "%s: no '2' after 1+1; the terminal showed:\n%s", pyt_name(py), buf);
    /* Ctrl-D once the REPL waits at its next prompt: sent earlier, it can
     * reach the terminal while the line editor switches its mode and be
     * dropped. */
    bool again = read_until(master, buf, sizeof buf, &len, has_prompt_after_two);
    if (!again)
        kill(pid, SIGKILL);
    cr_assert(again, "%s: no prompt after the result; the terminal showed:\n%s", pyt_name(py), buf);
    cr_assert_eq(write(master, "\x04", 1), 1);
    /* Drain until the child closes the terminal. */
    char sink[4096];
    time_t start = time(NULL);
    for (;;) {
        struct pollfd p = {master, POLLIN, 0};
        if (time(NULL) - start > 30) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(&p, 1, 1000) <= 0)
            continue;
        if (read(master, sink, sizeof sink) <= 0)
            break;
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    close(master);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "%s: Ctrl-D should exit 0 (status %#x); the terminal showed:\n%s", pyt_name(py),
              st, buf);
}
