/* `pyshim run` against `python`: every row of the table runs under the
 * chosen install's own interpreter (its sys.executable) and under
 * `pyshim run --library <its libpython>`, in the same directory and
 * environment, and must give the same exit status (signals as 128+N), the
 * same stdout and the same stderr. The scripts print what matters for the
 * row (sys.argv, sys.orig_argv, sys.path[0], sys.flags, __main__, ...), so
 * comparing the streams compares those too. Nothing is normalised except,
 * for the rows marked R_ADDR, object addresses (0x...), which differ
 * between two native runs as well. Runs on every Python found. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pyshim_test.h"

/* The table leaves the fields a row does not need unset. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

extern char **environ;

enum {
    R_SIGINT = 1,  /* send SIGINT once stderr has shown "READY\n" */
    R_DEVFULL = 2, /* stdout is /dev/full */
    R_HEAD1 = 4,   /* the reader closes stdout after its first read (`| head -1`) */
    R_ADDR = 8,    /* normalise 0x... addresses in both streams */
};

typedef struct row {
    const char *name;
    const char *args[12]; /* Python's command line after the interpreter; $D = the work dir */
    const char *stdin_text;
    const char *env[4]; /* "K=V" to set, "K" to unset */
    unsigned flags;
    const char *expect; /* python's exit status, checked too (keeps a row honest), or NULL */
} row;

#define SHOW_FLAGS "import sys; print(sys.flags); print(sys.warnoptions, sys._xoptions)"
#define ENCODINGS                                                                                  \
    "import sys, os; print(sys.getfilesystemencoding(), sys.stdout.encoding, "                    \
    "sys.stderr.errors, sys.flags.utf8_mode, os.environ.get('LC_CTYPE')); print('\\u00e9')"
#define SIGINT_BODY                                                                                \
    "import sys, time, atexit\n"                                                                   \
    "atexit.register(print, 'atexit ran')\n"                                                       \
    "print('buffered before the signal')\n"                                                        \
    "try:\n"                                                                                       \
    "    sys.stderr.write('READY\\n'); sys.stderr.flush(); time.sleep(60)\n"                        \
    "finally:\n"                                                                                   \
    "    print('finally ran')\n"

static const row rows[] = {
    /* signals: SIGPIPE and SIGXFSZ are ignored, SIGINT is KeyboardInterrupt */
    {"closed pipe", {"-c", "import os; r, w = os.pipe(); os.close(r); os.write(w, b'x')"}, .expect = "1"},
    {"| head -1", {"-c", "for i in range(200000): print(i)"}, .flags = R_HEAD1},
    {"file size limit",
     {"-c", "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))\n"
            "f = open('big.bin', 'wb', buffering=0)\n"
            "for i in range(3): f.write(b'x')"}, .expect = "1"},
    {"Ctrl-C in time.sleep", {"-c", SIGINT_BODY}, .flags = R_SIGINT, .expect = "130"},
    {"Ctrl-C after import signal", {"-c", "import signal\n" SIGINT_BODY}, .flags = R_SIGINT, .expect = "130"},
    {"Ctrl-C caught", {"-c", "try:\n" "    import sys, time; sys.stderr.write('READY\\n'); "
                             "sys.stderr.flush(); time.sleep(60)\n"
                             "except KeyboardInterrupt:\n    print('caught')"},
     .flags = R_SIGINT, .expect = "0"},
    {"raise KeyboardInterrupt", {"-c", "raise KeyboardInterrupt"}, .expect = "130"},
    {"KeyboardInterrupt in a file", {"$D/kbi.py"}, .expect = "130"},
    /* the debug allocator, locales */
    {"PYTHONDEVMODE=1", {"-c", SHOW_FLAGS}, .env = {"PYTHONDEVMODE=1"}},
    {"PYTHONMALLOC=debug", {"-c", "print([str(i) for i in range(5)])"},
     .env = {"PYTHONMALLOC=debug"}},
    {"locale unset", {"-c", ENCODINGS}, .env = {"LANG", "LC_ALL", "LC_CTYPE"}},
    {"LC_ALL=C", {"-c", ENCODINGS}, .env = {"LC_ALL=C"}},
    {"PYTHONUTF8=1", {"-c", ENCODINGS}, .env = {"PYTHONUTF8=1"}},
    {"PYTHONIOENCODING", {"-c", ENCODINGS}, .env = {"PYTHONIOENCODING=latin-1:replace"}},
    /* flushing at exit */
    {"print() to /dev/full", {"-c", "print('x')"}, .flags = R_DEVFULL},
    {"unflushed write to /dev/full", {"-c", "import sys; sys.stdout.write('x')"},
     .flags = R_DEVFULL, .expect = "120"},
    {"stdout buffering order", {"-c", "print('a'); import os; os.write(1, b'b\\n'); print('c')"}},
    /* tracebacks */
    {"uncaught exception",
     {"-c", "def f():\n    g()\ndef g():\n    raise KeyError('k')\nf()"}},
    {"chained exception", {"-c", "try:\n    1/0\nexcept Exception as e:\n    raise ValueError('v') from e"}},
    {"custom sys.excepthook",
     {"-c", "import sys\ndef h(t, v, tb):\n    print('hook:', t.__name__, v)\n"
            "sys.excepthook = h\nraise ValueError('hooked')"}},
    {"partial stderr line, then an exception",
     {"-c", "import sys; sys.stderr.write('partial '); raise ValueError('after')"}},
    {"SyntaxError in -c", {"-c", "x = (1 +* 2)"}},
    {"SyntaxError in a file", {"$D/bad_syntax.py"}},
    {"exception in a file", {"$D/raises.py"}},
    /* exit statuses */
    {"sys.exit(str)", {"-c", "import sys; sys.exit('SystemExit message')"}, .expect = "1"},
    {"sys.exit(3)", {"-c", "raise SystemExit(3)"}, .expect = "3"},
    {"sys.exit(None)", {"-c", "import sys; sys.exit()"}},
    {"sys.exit(256)", {"-c", "import sys; sys.exit(256)"}},
    {"sys.exit([1])", {"-c", "import sys; sys.exit([1])"}},
    {"os._exit(7)", {"-c", "import os; print('lost'); os._exit(7)"}, .expect = "7"},
    /* __main__, sys.path[0], sys.argv, sys.orig_argv */
    {"FILE: __main__", {"$D/main_info.py", "a", "b c"}},
    {"relative FILE", {"main_info.py", "x"}},
    {"FILE through a symlinked dir", {"link/script.py"}},
    {"-m module", {"-m", "main_info", "a", "-x"}},
    {"-m package", {"-m", "pkg", "arg"}},
    {"-m json.tool", {"-m", "json.tool"}, .stdin_text = "{\"b\": [1, 2], \"a\": null}"},
    {"PYTHONSAFEPATH=1 -m", {"-m", "main_info"}, .env = {"PYTHONSAFEPATH=1"}},
    {"PYTHONSAFEPATH=1 FILE", {"$D/main_info.py"}, .env = {"PYTHONSAFEPATH=1"}},
    {"sys.orig_argv",
     {"-X", "dev", "-W", "ignore", "-c", "import sys; print(sys.argv, getattr(sys, 'orig_argv', None))", "x", "-y"}},
    {"globals in -c", {"-c", "print(sorted(globals())); print(__name__, __spec__, __loader__)"}},
    {"-c sys.path[0]", {"-c", "import sys; print(repr(sys.path[0]), sys.argv)"}},
    {"missing script", {"$D/no_such_script.py"}, .expect = "2"},
    {"missing -m module", {"-m", "no_such_module_q"}, .expect = "1"},
    {"a directory without __main__", {"$D/pkg"}},
    {"multiprocessing spawn", {"$D/mp_spawn.py"}},
    /* stdin, -i, no target */
    {"- reads stdin", {"-", "arg"}, .stdin_text = "import sys; print('from stdin', sys.argv)\n"},
    {"no target reads stdin", {0}, .stdin_text = "import sys; print('no target', sys.argv, sys.flags.interactive)\n"},
    {"-i after -c", {"-i", "-c", "x = 41"}, .stdin_text = "print(x + 1)\n"},
    {"input()", {"-c", "print(input('prompt> ')[::-1])"}, .stdin_text = "olleh\n"},
    /* interpreter options */
    {"-X dev", {"-X", "dev", "-c", SHOW_FLAGS}},
    {"-X utf8", {"-X", "utf8", "-c", ENCODINGS}},
    {"-X utf8=0", {"-X", "utf8=0", "-c", ENCODINGS}, .env = {"PYTHONUTF8=1"}},
    {"-X faulthandler", {"-X", "faulthandler", "-c", "import faulthandler; print(faulthandler.is_enabled())"}},
    {"-X int_max_str_digits", {"-X", "int_max_str_digits=5000", "-c", SHOW_FLAGS}},
    {"-X frozen_modules=off", {"-X", "frozen_modules=off", "-c", SHOW_FLAGS}},
    {"-u", {"-u", "-c", "print('a'); import os; os.write(1, b'b\\n'); print('c')"}},
    {"-I", {"-I", "-c", SHOW_FLAGS "; print(repr(sys.path[0]))"}},
    {"-E", {"-E", "-c", SHOW_FLAGS}, .env = {"PYTHONDONTWRITEBYTECODE=1"}},
    {"-s", {"-s", "-c", SHOW_FLAGS}},
    {"-S", {"-S", "-c", SHOW_FLAGS "; print('site' in sys.modules)"}},
    {"-B", {"-B", "-c", SHOW_FLAGS "; print(sys.dont_write_bytecode)"}},
    {"-O", {"-O", "-c", "print(__debug__)\nassert False, 'kept'"}},
    {"-OO", {"-OO", "-c", "def f():\n    'doc'\nprint(f.__doc__, __debug__)"}},
    {"-W error", {"-W", "error", "-c", "import warnings; warnings.warn('boom')"}},
    {"-W ignore::DeprecationWarning", {"-Wignore::DeprecationWarning", "-c", SHOW_FLAGS}},
    {"-q", {"-q", "-c", SHOW_FLAGS}},
    {"-b", {"-b", "-c", "print(str(b'x'))"}},
    {"-bb", {"-bb", "-c", "print(b'x' == 'x')"}},
    {"-R", {"-R", "-c", "import sys; print(sys.flags.hash_randomization)"}},
    {"-P", {"-P", "-c", "import sys; print(repr(sys.path[0]))"}},
    {"-x", {"-x", "$D/skip_first.py"}},
    {"combined -OBs", {"-OBs", "-c", SHOW_FLAGS}},
    {"-v", {"-v", "-c", "pass"}, .flags = R_ADDR},
    {"--", {"--", "$D/main_info.py", "--", "-c"}},
    {"-c CMD --", {"-c", "import sys; print(sys.argv)", "--", "-m"}},
    {"--version", {"--version"}},
    {"-VV", {"-VV"}},
    {"-h", {"-h"}},
    {"--help-env", {"--help-env"}},
    {"unknown option", {"-Q"}, .expect = "2"},
    {"-c without its argument", {"-c"}},
    {"-X without its argument", {"-X"}},
};

typedef struct outcome {
    int status;
    char *out, *err;
    size_t nout, nerr;
} outcome;

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    cr_assert_not_null(*buf);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static char *subst(const char *s, const char *dir)
{
    char *r = NULL;
    size_t n = 0;
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == 'D') {
            append(&r, &n, dir, strlen(dir));
            p += 2;
        } else {
            append(&r, &n, p, 1);
            p++;
        }
    }
    if (!r)
        append(&r, &n, "", 0);
    return r;
}

static bool env_touched(const row *w, const char *entry)
{
    size_t k = strcspn(entry, "=");
    if (strncmp(entry, "VIRTUAL_ENV=", 12) == 0 || strncmp(entry, "PYSHIM_", 7) == 0 ||
        strncmp(entry, "PYTHON", 6) == 0)
        return true;
    for (size_t i = 0; i < 4 && w->env[i]; i++) {
        size_t m = strcspn(w->env[i], "=");
        if (m == k && strncmp(entry, w->env[i], k) == 0)
            return true;
    }
    return false;
}

/* After "READY", waits until the process sleeps in time.sleep, so that
 * Ctrl-C lands in the same line under both (the traceback shows where).
 * x86-64: clock_nanosleep, nanosleep, pselect6 or select, seen through
 * /proc/PID/syscall; elsewhere a pause. */
static void wait_asleep(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    for (int i = 0; i < 300; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
#if defined(__x86_64__)
        FILE *f = fopen(path, "r");
        long nr = -1;
        if (f) {
            if (fscanf(f, "%ld", &nr) != 1)
                nr = -1;
            fclose(f);
        }
        if (nr == 230 || nr == 35 || nr == 270 || nr == 23)
            return;
#else
        if (i == 30)
            return;
#endif
    }
}

/* Runs argv in dir with the row's environment, stdin and signal. */
static outcome run(char *const *argv, const row *w, const char *dir)
{
    const char *envp[600];
    size_t m = 0;
    for (char **e = environ; *e && m < 580; e++)
        if (!env_touched(w, *e))
            envp[m++] = *e;
    for (size_t i = 0; i < 4 && w->env[i]; i++)
        if (strchr(w->env[i], '='))
            envp[m++] = w->env[i];
    envp[m] = NULL;
    int pin[2], pout[2], perr[2];
    cr_assert_eq(pipe(pin), 0);
    cr_assert_eq(pipe(pout), 0);
    cr_assert_eq(pipe(perr), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(pin[0], 0);
        if (w->flags & R_DEVFULL) {
            int f = open("/dev/full", 1);
            dup2(f, 1);
        } else {
            dup2(pout[1], 1);
        }
        dup2(perr[1], 2);
        for (int fd = 3; fd < 64; fd++)
            close(fd);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        if (chdir(dir) != 0)
            _exit(126);
        execve(argv[0], argv, (char *const *)envp);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    if (w->stdin_text) {
        signal(SIGPIPE, SIG_IGN);
        ssize_t k = write(pin[1], w->stdin_text, strlen(w->stdin_text));
        (void)k;
    }
    close(pin[1]);
    outcome o = {0};
    append(&o.out, &o.nout, "", 0);
    append(&o.err, &o.nerr, "", 0);
    struct pollfd fds[2] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}};
    int open_fds = 2;
    bool signalled = false;
    time_t start = time(NULL);
    while (open_fds > 0) {
        int n = poll(fds, 2, 1000);
        if (time(NULL) - start > 60) {
            kill(pid, SIGKILL);
            cr_log_error("%s: timed out", w->name);
            break;
        }
        if (n <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            char buf[8192];
            ssize_t k = read(fds[i].fd, buf, sizeof buf);
            if (k <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                append(&o.out, &o.nout, buf, (size_t)k);
                if (w->flags & R_HEAD1) {
                    /* `head -1`: keep the first line, then go away. */
                    char *nl = strchr(o.out, '\n');
                    if (nl) {
                        nl[1] = '\0';
                        o.nout = (size_t)(nl + 1 - o.out);
                        close(fds[0].fd);
                        fds[0].fd = -1;
                        open_fds--;
                    }
                }
            } else {
                append(&o.err, &o.nerr, buf, (size_t)k);
            }
        }
        if ((w->flags & R_SIGINT) && !signalled && strstr(o.err, "READY\n")) {
            wait_asleep(pid);
            kill(pid, SIGINT);
            signalled = true;
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    int st = 0;
    waitpid(pid, &st, 0);
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return o;
}

/* Replaces every 0x<hex> by 0xADDR; returns a new string, frees s. */
static char *normalise_addresses(char *s)
{
    char *r = NULL;
    size_t n = 0;
    append(&r, &n, "", 0);
    for (char *p = s; *p;) {
        if (p[0] == '0' && p[1] == 'x') {
            append(&r, &n, "0xADDR", 6);
            p += 2;
            while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
                p++;
        } else {
            append(&r, &n, p, 1);
            p++;
        }
    }
    free(s);
    return r;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

#define MAIN_INFO                                                                                  \
    "import sys, os, atexit, pickle, threading, time\n"                                           \
    "class Point:\n"                                                                               \
    "    def __init__(self, x): self.x = x\n"                                                      \
    "print(__name__, type(__builtins__).__name__, type(__loader__).__name__)\n"                    \
    "print('file', __file__, os.path.isabs(__file__))\n"                                           \
    "print('spec', __spec__.name if __spec__ else None)\n"                                         \
    "print('argv', sys.argv)\n"                                                                    \
    "print('orig_argv', getattr(sys, 'orig_argv', None))\n"                                        \
    "print('path0', repr(sys.path[0]))\n"                                                          \
    "print('main is real', sys.modules['__main__'] is sys.modules[__name__])\n"                   \
    "print('pickle', pickle.loads(pickle.dumps(Point(3))).x)\n"                                    \
    "LATE = 'a global of __main__'\n"                                                              \
    "def at_exit(): print('atexit sees', LATE)\n"                                                  \
    "atexit.register(at_exit)\n"                                                                   \
    "def late(): time.sleep(0.2); print('late thread sees', LATE)\n"                              \
    "threading.Thread(target=late).start()\n"

static void make_workdir(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/pyshim-rundiff-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char *real = realpath(dir, NULL);
    snprintf(dir, n, "%s", real);
    free(real);
    write_file(dir, "main_info.py", MAIN_INFO);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/pkg", dir);
    mkdir(sub, 0755);
    write_file(dir, "pkg/__init__.py", "print('pkg init')\n");
    write_file(dir, "pkg/__main__.py", MAIN_INFO);
    snprintf(sub, sizeof sub, "%s/real", dir);
    mkdir(sub, 0755);
    write_file(dir, "real/script.py", "import sys; print(__file__, repr(sys.path[0]))\n");
    char link[600];
    snprintf(link, sizeof link, "%s/link", dir);
    cr_assert_eq(symlink("real", link), 0);
    write_file(dir, "kbi.py", "print('before')\nraise KeyboardInterrupt\n");
    write_file(dir, "bad_syntax.py", "x = 1\ndef f(:\n    pass\n");
    write_file(dir, "raises.py", "def inner():\n    return {}['missing']\n\ninner()\n");
    write_file(dir, "skip_first.py", "this line is skipped by -x\nprint('second line')\n");
    write_file(dir, "mp_spawn.py",
               "import multiprocessing as mp, sys\n"
               "def square(x): return x * x\n"
               "if __name__ == '__main__':\n"
               "    ctx = mp.get_context('spawn')\n"
               "    with ctx.Pool(2) as p: print(p.map(square, range(5)))\n"
               "    print('executable is', sys.executable == mp.spawn.get_executable())\n");
}

PYS_TEST_NOOPEN(run_diff, every_row_matches_python, .timeout = 900)
{
    const char *cli = getenv("PYSHIM_TEST_CLI");
    cr_assert_not_null(cli, "PYSHIM_TEST_CLI is not set (run through meson test)");
    char dir[512];
    make_workdir(dir, sizeof dir);
    size_t nrows = sizeof rows / sizeof rows[0], failures = 0;
    for (size_t r = 0; r < nrows; r++) {
        const row *w = &rows[r];
        char *nat[20] = {(char *)py->executable};
        char *shim[24] = {(char *)cli, "run", "--library", (char *)py->path};
        size_t nn = 1, ns = 4;
        for (size_t i = 0; i < 12 && w->args[i]; i++) {
            char *a = subst(w->args[i], dir);
            nat[nn++] = a;
            shim[ns++] = a;
        }
        outcome a = run(nat, w, dir);
        outcome b = run(shim, w, dir);
        if (w->flags & R_ADDR) {
            a.out = normalise_addresses(a.out);
            a.err = normalise_addresses(a.err);
            b.out = normalise_addresses(b.out);
            b.err = normalise_addresses(b.err);
        }
        char st[16];
        snprintf(st, sizeof st, "%d", a.status);
        if (w->expect && strcmp(st, w->expect) != 0) {
            failures++;
            cr_log_error("%s: row '%s': python itself exited %d, the table expects %s:\n%s%s",
                         pyt_name(py), w->name, a.status, w->expect, a.out, a.err);
        }
        bool same = a.status == b.status && strcmp(a.out, b.out) == 0 && strcmp(a.err, b.err) == 0;
        if (!same) {
            failures++;
            cr_log_error("%s: row '%s' differs:\n"
                         "  python:     exit %d\n--- stdout\n%s--- stderr\n%s\n"
                         "  pyshim run: exit %d\n--- stdout\n%s--- stderr\n%s\n",
                         pyt_name(py), w->name, a.status, a.out, a.err, b.status, b.out, b.err);
        }
        for (size_t i = 1; i < nn; i++)
            free(nat[i]);
        free(a.out);
        free(a.err);
        free(b.out);
        free(b.err);
    }
    cr_assert_eq(failures, 0, "%zu of %zu rows differ from python on %s", failures, nrows,
                 pyt_name(py));
}
