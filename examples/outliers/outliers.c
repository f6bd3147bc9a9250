/* outliers: hand 1 000 doubles to numpy without copying them, and print
 * the indices of the values more than 2 standard deviations from the mean.
 *
 *   outliers [--python 3.12 | --library /path/to/libpython3.X.so]
 *
 * Without a choice it uses the first Python found that has numpy,
 * preferring the system's python3 (Debian: apt install python3-numpy).
 * When numpy is missing it says so and exits with 77 ("skipped"). */
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <pyshim.h>

#define N 1000
#define SKIP 77

extern char **environ;

/* 1 000 normally distributed values (fixed seed) with a few planted
 * outliers, so the output is the same on every run. */
static void make_data(double *v)
{
    uint64_t s = 42;
    for (int i = 0; i < N; i += 2) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            u[k] = ((double)(s >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
        }
        double r = sqrt(-2 * log(u[0])), t = 6.283185307179586 * u[1];
        v[i] = 10 + 2 * r * cos(t);
        v[i + 1] = 10 + 2 * r * sin(t);
    }
    v[17] = 31.5;
    v[423] = -12.25;
    v[999] = 24.0;
}

/* True when `python -c "import numpy"` works for that interpreter. */
static int has_numpy(const char *python)
{
    char *argv[] = {(char *)python, "-c", "import numpy", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int ok = posix_spawn(&pid, python, &fa, NULL, argv, environ) == 0;
    posix_spawn_file_actions_destroy(&fa);
    int st = 0;
    if (ok && waitpid(pid, &st, 0) < 0)
        ok = 0;
    return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The library of the first accepted Python that has numpy, system python3
 * first; malloc'd, or NULL. */
static char *pick_python(void)
{
    pys_probe_result *pr = NULL;
    if (pys_probe(NULL, &pr) != PYS_OK)
        return NULL;
    char *found = NULL;
    for (int pass = 0; pass < 2 && !found; pass++) {
        for (size_t i = 0; i < pys_probe_count(pr) && !found; i++) {
            const pys_candidate *c = pys_probe_get(pr, i);
            bool system = strncmp(c->executable, "/usr/bin/", 9) == 0;
            if (!c->accepted || !c->executable[0] || (pass == 0) != system)
                continue;
            if (has_numpy(c->executable))
                found = strdup(c->realpath);
        }
    }
    pys_probe_free(pr);
    return found;
}

static int fail(const char *what)
{
    const pys_error *e = pys_last_error();
    fprintf(stderr, "outliers: %s: %s: %s\n", what, pys_err_name(e->code), e->message);
    return 1;
}

static const char *const finder =
    "import numpy as np\n"
    "def outliers(buf):\n"
    "    a = np.frombuffer(buf, dtype=np.float64)  # no copy: reads the C array\n"
    "    return np.flatnonzero(np.abs(a - a.mean()) > 2 * a.std())\n";

int main(int argc, char **argv)
{
    pys_options o = {0};
    char *picked = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--python") == 0 && i + 1 < argc) {
            o.python = argv[++i];
        } else if (strcmp(argv[i], "--library") == 0 && i + 1 < argc) {
            o.library_path = argv[++i];
        } else {
            fprintf(stderr, "usage: outliers [--python VERSION | --library LIBPYTHON]\n");
            return 2;
        }
    }
    if (!o.python && !o.library_path) {
        picked = pick_python();
        if (!picked) {
            printf("outliers: skipped: no Python with numpy was found (on Debian: apt install "
                   "python3-numpy; or pass --python / --library)\n");
            return SKIP;
        }
        o.library_path = picked;
    }

    pys_runtime *rt = NULL;
    if (pys_open(&o, &rt) != PYS_OK) {
        free(picked);
        return fail("pys_open");
    }
    pys_info info;
    pys_get_info(rt, &info);
    int rc = 0;
    pys_obj mv = PYS_NULL, fn = PYS_NULL, idx = PYS_NULL, main_dict = PYS_NULL;
    if (pys_exec(rt, finder) != PYS_OK) {
        if (strcmp(pys_last_error()->type, "ModuleNotFoundError") == 0) {
            printf("outliers: skipped: numpy is not installed for Python %d.%d (%s)\n",
                   info.major, info.minor, info.library);
            rc = SKIP;
        } else {
            rc = fail("defining outliers()");
        }
        goto out;
    }

    static double data[N];
    make_data(data);
    /* Zero-copy: numpy reads `data` through this view; it must outlive the
     * view and anything made from it (here: until the call returns). */
    mv = pys_memoryview(rt, data, sizeof data, "d", NULL, 0, true);
    main_dict = pys_main_dict(rt);
    fn = pys_getitem_str(main_dict, "outliers");
    idx = pys_call(fn, &mv, 1);
    if (!pys_ok(idx)) {
        rc = fail("outliers()");
        goto out;
    }
    int64_t found[N];
    size_t n = 0;
    if (pys_to_int64s(idx, found, N, &n) != PYS_OK) { /* read from numpy's buffer */
        rc = fail("reading the indices");
        goto out;
    }
    printf("Python %d.%d (%s): %zu of %d values are more than 2 standard deviations from the "
           "mean:\n",
           info.major, info.minor, info.library, n, N);
    for (size_t i = 0; i < n; i++)
        printf("  [%3lld] %8.3f\n", (long long)found[i], data[found[i]]);
out:
    pys_release(idx);
    pys_release(fn);
    pys_release(main_dict);
    pys_release(mv);
    pys_close(rt);
    free(picked);
    return rc;
}
