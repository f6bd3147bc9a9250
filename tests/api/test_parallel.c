/* Real parallelism on free-threaded builds: 8 host threads run CPU-bound
 * Python at once, and the wall time is well under 8 times one thread's (a
 * build with a GIL needs at least 8 times). The ratios are printed.
 *
 * A measurement of parallelism needs idle CPUs, so this program runs
 * alone (is_parallel: false in meson.build) and checks, from /proc/stat,
 * that nothing else took the CPUs while it measured; when something did,
 * it says so and skips rather than measure another process's load. The
 * load-independent check is threads::free_threaded_python_runs_alongside_
 * a_spinning_thread (test_threads.c). Every test runs once per supported
 * Python found (GIL builds skip). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "pyshim_test.h"
#include "pyshim_clock.h"

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Busy CPU time of the whole machine so far, in ms (user + nice + system
 * + irq + softirq + steal of /proc/stat's cpu line), or -1. */
static double machine_busy_ms(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long us = 0, ni = 0, sy = 0, id = 0, io = 0, irq = 0, sirq = 0, st = 0;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &us, &ni, &sy, &id, &io,
                   &irq, &sirq, &st);
    fclose(f);
    if (n < 7)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(us + ni + sy + irq + sirq + st) * 1000.0 / (double)(hz > 0 ? hz : 100);
}

typedef struct par_arg {
    pys_runtime *rt;
    const char *expr;
    int64_t result;
    double ms;
} par_arg;

static void *par_main(void *p)
{
    par_arg *a = p;
    double t0 = pyt_now_ms();
    a->result = pyt_eval_i64(a->rt, a->expr);
    a->ms = pyt_now_ms() - t0;
    return NULL;
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, fn, arg), 0);
    return th;
}

/* The control: the same shape of work in plain C, no Python. On a virtual
 * machine whose two CPUs the host backs with less than two at the moment,
 * the guest's own clocks (and /proc/stat) still show both CPUs busy, so only
 * a measured speed-up of plain C threads tells whether parallelism could be
 * seen at all. */
typedef struct spin_arg {
    uint64_t n;
    uint64_t sink;
    double ms;
} spin_arg;

static void *spin_main(void *p)
{
    spin_arg *a = p;
    double t0 = pyt_now_ms();
    volatile uint64_t s = 0;
    for (uint64_t i = 0; i < a->n; i++)
        s += i * i % 7;
    a->sink = s;
    a->ms = pyt_now_ms() - t0;
    return NULL;
}

/* Wall time of 8 C threads over one C thread's, each doing n steps. */
static double c_ratio(uint64_t n)
{
    spin_arg one = {.n = n};
    pthread_join(spawn(spin_main, &one), NULL);
    enum { N = 8 };
    spin_arg a[N];
    pthread_t th[N];
    double t0 = pyt_now_ms();
    for (int i = 0; i < N; i++) {
        a[i] = (spin_arg){.n = n};
        th[i] = spawn(spin_main, &a[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    return (pyt_now_ms() - t0) / (one.ms > 0 ? one.ms : 1e-3);
}

/* Steps of spin_main that take about ms milliseconds here. */
static uint64_t c_steps_for(double ms)
{
    uint64_t n = 1u << 20;
    for (;;) {
        spin_arg a = {.n = n};
        spin_main(&a);
        if (a.ms >= ms / 4 || n >= (1ull << 40))
            return (uint64_t)((double)n * ms / (a.ms > 0 ? a.ms : 1e-3));
        n *= 4;
    }
}

PYS_TEST(threads, free_threaded_eight_threads_in_parallel, .timeout = 300)
{
    if (!py->free_threaded)
        cr_skip_test("%s has a GIL", pyt_name(py));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 2)
        cr_skip_test("one CPU: nothing can run in parallel");
    pyt_assert_ok(pys_exec(rt, "def work(n):\n"
                               "    s = 0\n"
                               "    for i in range(n):\n"
                               "        s += i * i % 7\n"
                               "    return s\n"));
    const char *expr = "work(1500000)";
    int64_t expect = pyt_eval_i64(rt, expr); /* warm up */
    par_arg one = {.rt = rt, .expr = expr};
    double c0 = cpu_ms();
    pthread_join(spawn(par_main, &one), NULL);
    double one_share = (cpu_ms() - c0) / one.ms;
    cr_assert_eq(one.result, expect);
    enum { N = 8 };
    par_arg a[N];
    pthread_t th[N];
    uint64_t steps = c_steps_for(one.ms);
    double c_before = c_ratio(steps);
    double m0 = machine_busy_ms();
    double t0 = pyt_now_ms();
    c0 = cpu_ms();
    for (int i = 0; i < N; i++) {
        a[i] = (par_arg){.rt = rt, .expr = expr};
        th[i] = spawn(par_main, &a[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    double wall = pyt_now_ms() - t0;
    double ours = cpu_ms() - c0;
    double others = m0 >= 0 ? machine_busy_ms() - m0 - ours : 0;
    double cpu_per_wall = ours / wall;
    double c_after = c_ratio(steps);
    double ratio = wall / one.ms;
    fprintf(stderr,
            "[parallel] %s: one thread %.0f ms, 8 threads %.0f ms wall: %.2fx one thread "
            "(serial would be 8x; %ld CPUs, ideal %.1fx); CPU/wall %.2f (one thread got %.2f "
            "of a CPU; other processes %.2f CPUs meanwhile); plain C threads: %.2fx before, "
            "%.2fx after\n",
            pyt_name(py), one.ms, wall, ratio, ncpu, ncpu >= 8 ? 1.0 : 8.0 / (double)ncpu,
            cpu_per_wall, one_share, others / wall, c_before, c_after);
    for (int i = 0; i < N; i++)
        cr_assert_eq(a[i].result, expect, "thread %d computed %lld", i, (long long)a[i].result);
    if (one_share < 0.9 || others / wall > 0.3 * (double)ncpu)
        cr_skip_test("the machine is busy (one thread got %.2f of a CPU; other processes used "
                     "%.2f CPUs during the 8-thread run), so parallelism cannot be measured "
                     "(8 threads: %.2fx one thread)",
                     one_share, others / wall, ratio);
    /* 8 C threads at 6x one thread's time or worse: the CPUs did not run two
     * threads at once just then (the Python run in between cannot be judged). */
    double c_worst = c_before > c_after ? c_before : c_after;
    if (c_worst > 6.0)
        cr_skip_test("the machine did not run threads in parallel during the measurement: 8 "
                     "plain C threads took %.2fx (before) and %.2fx (after) one thread's time "
                     "(8 Python threads: %.2fx)",
                     c_before, c_after, ratio);
    cr_assert_lt(ratio, 7.0, "8 threads took %.2fx one thread's time: not parallel", ratio);
    cr_assert_gt(cpu_per_wall, 1.1, "8 threads used %.2f CPUs: not parallel", cpu_per_wall);
}
