/* recipes_bench: what the run recipes cost, as ratios on one libpython.
 *
 *   capture    pys_exec_captured vs pys_exec of the same source (both a
 *              quiet one and one that prints 100 lines; pys_exec's stdout
 *              is /dev/null)
 *   policed    pys_exec_policed (an allow-list of 4 events, default
 *              builtins) vs pys_exec_in a fresh dict
 *   audit      an audit event (id()) against a call that raises none (abs()),
 *              before and after the first policy exists: the hook's cost on
 *              unpoliced code
 *   allocator  allocation-heavy code with the counting allocator installed
 *              (as pys_open leaves it) vs with Python's own put back
 *
 * Medians of interleaved repetitions, CPU time of this thread. Uses the
 * public API, plus PyMem_Get/SetAllocator looked up with dlsym to take the
 * allocator hook out for the comparison. Usage: recipes_bench [--quick]
 * [--python 3.12] */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pyshim.h>

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void discard(void *ud, const char *data, size_t len)
{
    (void)ud;
    (void)data;
    (void)len;
}

typedef int (*run_fn)(pys_runtime *rt, const char *src, void *ud);

static int run_exec(pys_runtime *rt, const char *src, void *ud)
{
    (void)ud;
    return pys_exec(rt, src);
}

static int run_captured(pys_runtime *rt, const char *src, void *ud)
{
    (void)ud;
    return pys_exec_captured(rt, src, PYS_NULL, PYS_STDOUT | PYS_STDERR, discard, NULL);
}

static int run_fresh(pys_runtime *rt, const char *src, void *ud)
{
    (void)ud;
    pys_obj ns = pys_eval(rt, "{}");
    int rc = pys_exec_in(rt, src, ns);
    pys_release(ns);
    return rc;
}

static int run_policed(pys_runtime *rt, const char *src, void *ud)
{
    return pys_exec_policed(rt, src, PYS_NULL, ud);
}

static int reps = 41, inner = 200;

/* ns per run of a and of b, interleaved; prints the ratio b / a. */
static void compare(pys_runtime *rt, const char *what, const char *src, run_fn a, void *ua,
                    run_fn b, void *ub)
{
    double *va = malloc(sizeof(double) * (size_t)reps), *vb = malloc(sizeof(double) * (size_t)reps);
    for (int w = 0; w < 3; w++)
        if (a(rt, src, ua) != PYS_OK || b(rt, src, ub) != PYS_OK) {
            printf("%-44s failed: %s\n", what, pys_last_error()->message);
            free(va);
            free(vb);
            return;
        }
    for (int r = 0; r < reps; r++) {
        for (int side = 0; side < 2; side++) {
            double t0 = cpu_ns();
            for (int i = 0; i < inner; i++)
                (side ? b : a)(rt, src, side ? ub : ua);
            double t = (cpu_ns() - t0) / inner;
            (side ? vb : va)[r] = t;
        }
    }
    double ma = median(va, reps), mb = median(vb, reps);
    printf("%-44s %10.0f ns %10.0f ns   x%.2f\n", what, ma, mb, mb / ma);
    free(va);
    free(vb);
}

typedef struct PyMemAllocatorEx {
    void *ctx;
    void *(*malloc)(void *, size_t);
    void *(*calloc)(void *, size_t, size_t);
    void *(*realloc)(void *, void *, size_t);
    void (*free)(void *, void *);
} PyMemAllocatorEx;

static void (*get_alloc)(int, PyMemAllocatorEx *);
static void (*set_alloc)(int, PyMemAllocatorEx *);
static PyMemAllocatorEx hooked[3];

/* on = false: Python's own allocators (the hook's ctx is what it wraps). */
static int set_hook(pys_runtime *rt, bool on)
{
    if (pys_gil_acquire(rt) != PYS_OK)
        return -1;
    for (int d = 0; d < 3; d++)
        set_alloc(d, on ? &hooked[d] : (PyMemAllocatorEx *)hooked[d].ctx);
    pys_gil_release(rt);
    return 0;
}

/* ns per run of src with Python's own allocators and with the hook,
 * switched per block of runs, interleaved. */
static void compare_alloc(pys_runtime *rt, const char *what, const char *src)
{
    double *va = malloc(sizeof(double) * (size_t)reps), *vb = malloc(sizeof(double) * (size_t)reps);
    for (int r = 0; r < reps; r++) {
        for (int side = 0; side < 2; side++) {
            set_hook(rt, side == 1);
            double t0 = cpu_ns();
            for (int i = 0; i < inner; i++)
                pys_exec(rt, src);
            (side ? vb : va)[r] = (cpu_ns() - t0) / inner;
        }
    }
    set_hook(rt, true);
    double ma = median(va, reps), mb = median(vb, reps);
    printf("%-44s %10.0f ns %10.0f ns   x%.3f\n", what, ma, mb, mb / ma);
    free(va);
    free(vb);
}

static void audit_cost(pys_runtime *rt, const char *what)
{
    const char *ev = "for i in range(1000):\n    id(i)\n";
    const char *noev = "for i in range(1000):\n    abs(i)\n";
    /* The per-event cost: id() raises "builtins.id", abs() nothing. */
    double *va = malloc(sizeof(double) * (size_t)reps), *vb = malloc(sizeof(double) * (size_t)reps);
    int n = inner / 10 + 1;
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_ns();
        for (int i = 0; i < n; i++)
            pys_exec(rt, noev);
        va[r] = (cpu_ns() - t0) / n;
        t0 = cpu_ns();
        for (int i = 0; i < n; i++)
            pys_exec(rt, ev);
        vb[r] = (cpu_ns() - t0) / n;
    }
    double a = median(va, reps), b = median(vb, reps);
    printf("%-44s %10.0f ns %10.0f ns   %.1f ns/event\n", what, a, b, (b - a) / 1000);
    free(va);
    free(vb);
}

int main(int argc, char **argv)
{
    pys_options o = {.memory_caps = true};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            reps = 9;
            inner = 50;
        } else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc) {
            o.python = argv[++i];
        }
    }
    pys_runtime *rt;
    if (pys_open(&o, &rt) != PYS_OK) {
        fprintf(stderr, "pys_open: %s\n", pys_last_error()->message);
        return 1;
    }
    pys_info info;
    pys_get_info(rt, &info);
    printf("Python %s (%s)\n", info.version, info.library);
    printf("%-44s %13s %13s   ratio\n", "", "baseline", "recipe");
    /* pys_exec's prints go to /dev/null. */
    int devnull = open("/dev/null", O_WRONLY);
    fflush(stdout);
    int saved = dup(1);
    const char *quiet = "s = 0\nfor i in range(20):\n    s += i\n";
    const char *noisy = "for i in range(100):\n    print('line', i)\n";

    dup2(devnull, 1);
    FILE *out = fdopen(saved, "w");
    setvbuf(out, NULL, _IONBF, 0);
#define SHOW(...) fprintf(out, __VA_ARGS__)
    /* compare() prints to stdout: point it at the saved descriptor. */
    stdout = out;

    audit_cost(rt, "audit: 1000 abs() vs id(), no policy yet");
    compare(rt, "capture: quiet source (exec -> captured)", quiet, run_exec, NULL, run_captured,
            NULL);
    compare(rt, "capture: 100 prints (exec -> captured)", noisy, run_exec, NULL, run_captured,
            NULL);

    pys_policy *p = pys_policy_new();
    pys_policy_allow(p, "open", "ro:/usr/lib");
    pys_policy_allow(p, "import", "json");
    pys_policy_allow(p, "socket.connect", "127.0.0.1");
    pys_policy_allow(p, "subprocess.Popen", "true");
    pys_policy_memory_limit(p, 1u << 30);
    compare(rt, "policed: quiet source (fresh dict -> policy)", quiet, run_fresh, NULL,
            run_policed, p);
    const char *json = "import json\nx = json.dumps([1, 2, 3])\n";
    compare(rt, "policed: import json + dumps (-> policy)", json, run_fresh, NULL, run_policed,
            p);

    audit_cost(rt, "audit: the same once a policy exists");

    get_alloc = (void (*)(int, PyMemAllocatorEx *))dlsym(RTLD_DEFAULT, "PyMem_GetAllocator");
    set_alloc = (void (*)(int, PyMemAllocatorEx *))dlsym(RTLD_DEFAULT, "PyMem_SetAllocator");
    if (get_alloc && set_alloc) {
        pys_gil_acquire(rt);
        for (int d = 0; d < 3; d++)
            get_alloc(d, &hooked[d]);
        pys_gil_release(rt);
        const char *alloc = "l = [str(i) for i in range(2000)]\nd = {i: (i, i) for i in l}\n";
        compare_alloc(rt, "allocator: 2000 str+tuple+dict (own -> hook)", alloc);
        compare_alloc(rt, "allocator: exec \"x = 1\" (own -> hook)", "x = 1\n");
    } else {
        SHOW("allocator: PyMem_SetAllocator not found with dlsym\n");
    }
    pys_policy_free(p);
    fflush(out);
    dup2(saved, 1);
    pys_close(rt);
    return 0;
}
