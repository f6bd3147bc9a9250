/* A generated binding against the same call written by hand with pyshim:
 * statistics.mean and statistics.fmean on 10 doubles, through stats_mean /
 * stats_fmean (bindings `pyshim gen` wrote at build time, see
 * bench/gen/meson.build) and through the code a careful person writes
 * (function looked up once; list from the C array, call, convert,
 * release). Blocks of calls alternate between the two sides (and which
 * goes first); the result is
 * the median ns per call of each side and their ratio.
 *   bench_gen [--library LIBPYTHON] [--reps N] [--calls N]
 *   bench_gen --callgrind generated|hand [--op mean|fmean] [--library ...]:
 *   runs only the bench_gen_one_* function of that side, for
 *   bench/gen/callgrind.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats.h"

#define N 10

static pys_runtime *rt;
static pys_obj hand_mean_fn, hand_fmean_fn;
static const double xs[N] = {1.5, 2.25, 3, 4.75, 5, 6.5, 7, 8.125, 9, 10};

static int hand_call(pys_obj fn, const double *v, size_t n, double *out)
{
    pys_obj list = pys_list_from_doubles(rt, v, n);
    if (!pys_ok(list))
        return pys_last_error_brief()->code;
    pys_obj r = pys_call(fn, &list, 1);
    pys_release(list);
    if (!pys_ok(r))
        return pys_last_error_brief()->code;
    int rc = pys_to_double(r, out);
    pys_release(r);
    return rc;
}

/* One call per side, not inlined: callgrind counts inside these. */
static int cg_fmean; /* --op fmean */
__attribute__((noinline)) int bench_gen_one_generated(double *out);
__attribute__((noinline)) int bench_gen_one_hand(double *out);
int bench_gen_one_generated(double *out)
{
    return cg_fmean ? stats_fmean(rt, xs, N, NULL, out) : stats_mean(rt, xs, N, out);
}
int bench_gen_one_hand(double *out)
{
    return hand_call(cg_fmean ? hand_fmean_fn : hand_mean_fn, xs, N, out);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* CPU time: on a shared machine wall time measures the scheduler */
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_gen: %s: %s\n", what, pys_last_error()->message);
    exit(1);
}

int main(int argc, char **argv)
{
    pys_options o = {0};
    int reps = 41, calls = 2000;
    const char *cg = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--library") == 0 && i + 1 < argc)
            o.library_path = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            calls = atoi(argv[++i]);
        else if (strcmp(argv[i], "--callgrind") == 0 && i + 1 < argc)
            cg = argv[++i];
        else if (strcmp(argv[i], "--op") == 0 && i + 1 < argc)
            cg_fmean = strcmp(argv[++i], "fmean") == 0;
        else {
            fprintf(stderr, "usage: bench_gen [--library LIB] [--reps N] [--calls N] [--callgrind generated|hand [--op fmean]]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 1000 || calls < 1)
        return 2;
    if (pys_open(&o, &rt) != PYS_OK)
        die("pys_open");
    pys_info info;
    pys_get_info(rt, &info);
    pys_obj mod = pys_import(rt, "statistics");
    hand_mean_fn = pys_getattr(mod, "mean");
    hand_fmean_fn = pys_getattr(mod, "fmean");
    pys_release(mod);
    if (!pys_ok(hand_mean_fn) || !pys_ok(hand_fmean_fn))
        die("lookup");
    double a = 0, b = 0;
    if (stats_mean(rt, xs, N, &a) != PYS_OK || hand_call(hand_mean_fn, xs, N, &b) != PYS_OK || a != b)
        die("warm-up");
    if (cg) {
        int gen = strcmp(cg, "generated") == 0;
        for (int k = 0; k < calls; k++)
            if ((gen ? bench_gen_one_generated(&a) : bench_gen_one_hand(&a)) != PYS_OK)
                die("call");
        pys_close(rt);
        return 0;
    }
    printf("Python %d.%d.%d, %d blocks of %d calls per side, %d doubles\n", info.major, info.minor,
           info.micro, reps, calls, N);
    printf("%-8s %14s %14s %8s\n", "op", "generated ns", "hand ns", "ratio");
    for (int op = 0; op < 2; op++) {
        double *g = calloc((size_t)reps, sizeof *g), *h = calloc((size_t)reps, sizeof *h);
        pys_obj fn = op == 0 ? hand_mean_fn : hand_fmean_fn;
        for (int r = 0; r < reps; r++) {
            /* which side goes first alternates */
            for (int side = r % 2, done = 0; done < 2; done++, side ^= 1) {
                double t0 = now();
                for (int k = 0; k < calls; k++) {
                    int rc = side == 0 ? (op == 0 ? stats_mean(rt, xs, N, &a) : stats_fmean(rt, xs, N, NULL, &a))
                                       : hand_call(fn, xs, N, &b);
                    if (rc != PYS_OK)
                        die(side == 0 ? "generated" : "hand");
                }
                (side == 0 ? g : h)[r] = (now() - t0) / calls;
            }
        }
        double mg = median(g, reps), mh = median(h, reps);
        printf("%-8s %14.1f %14.1f %8.3f\n", op == 0 ? "mean" : "fmean", mg, mh, mg / mh);
        free(g);
        free(h);
    }
    pys_release(hand_mean_fn);
    pys_release(hand_fmean_fn);
    pys_close(rt);
    return 0;
}
