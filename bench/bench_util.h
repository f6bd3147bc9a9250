/* Shared by both benchmark sides: the clock, the op list, the timing loop
 * and the line protocol the runner reads. Neither Python.h nor pyshim.h.
 *
 * Protocol (one line each, on stdout):
 *   I key value          a fact (python version, library, ...)
 *   R op mode ns         one repetition's nanoseconds per op
 *   S op reason          the op was skipped */
#ifndef PYSBENCH_UTIL_H
#define PYSBENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline int64_t pb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The ops, in table order: id, "calls" (public pyshim calls per op, which
 * is also how many GIL round trips the auto-GIL C baseline makes), text. */
#define PB_OPS(X)                                                                                  \
    X(exec, 1, "exec \"x = 1\" (same source each time)")                                           \
    X(eval, 3, "eval \"x + 1\" -> int64")                                                          \
    X(len_call, 3, "call len() on a 3-list -> int64")                                              \
    X(int_rt, 3, "int64 -> int -> int64")                                                          \
    X(str_rt, 3, "UTF-8 -> str -> UTF-8 view")                                                     \
    X(dict_get, 3, "dict[\"key\"] -> int64")                                                       \
    X(iter10, 33, "iterate a 10-list, each item -> int64")                                         \
    X(mixed5, 17, "build [int, float, str, bool, None], read back")                                \
    X(callf3, 2, "call f(a, b, c) with 3 C values")                                                \
    X(list_1m, 3, "1M doubles -> list -> 1M doubles")                                              \
    X(numpy_1m, 4, "1M doubles -> numpy array, zero-copy")                                         \
    X(bridge, 1, "Python calls a C function (per call)")                                          \
    X(dict_get1, 1, "dict[\"key\"] -> int64, no item handle")                                        \
    X(iter10_into, 23, "iterate a 10-list, one reused item handle")                               \
    X(iter10_int64, 13, "iterate a 10-list, items read as int64")

enum {
#define PB_ENUM(id, calls, text) PB_##id,
    PB_OPS(PB_ENUM)
#undef PB_ENUM
        PB_NOPS
};

static const char *const pb_op_name[] = {
#define PB_NAME(id, calls, text) #id,
    PB_OPS(PB_NAME)
#undef PB_NAME
};

/* Ops that run a Python loop of this many calls per op (reported per call). */
#define PB_BRIDGE_LOOP 100

/* Extra comparisons outside the table (same protocol, op names here). */
#define PB_EXEC_RUNSTRING "exec_vs_runstring"
#define PB_EVAL_RUNSTRING "eval_vs_runstring"

/* CPU time of the calling thread: on a loaded machine wall time mostly
 * measures the scheduler; both sides run single-threaded, so the GIL never
 * makes them wait and thread CPU time is the cost of the work itself. */
static inline int64_t pb_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time of the whole process since it started (startup runs). */
static inline int64_t pb_proc_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Reports a startup run: wall and CPU time of the init call, and from the
 * runner's spawn (t0s, CLOCK_MONOTONIC) / process start to ready. */
static inline void pb_startup(const char *side, int64_t t0, int64_t t1, int64_t c0, int64_t c1,
                              const char *t0s)
{
    printf("R startup_init %s %.0f\n", side, (double)(t1 - t0));
    printf("R startup_initcpu %s %.0f\n", side, (double)(c1 - c0));
    printf("R startup_execcpu %s %.0f\n", side, (double)c1);
    if (t0s)
        printf("R startup_exec %s %.0f\n", side, (double)(t1 - strtoll(t0s, NULL, 10)));
    fflush(stdout);
}

/* Times fn(ud) per call in thread CPU time: calibrates a batch lasting
 * about `target_ns`, then returns the mean of one such batch. */
typedef int (*pb_fn)(void *ud);
static inline double pb_time(pb_fn fn, void *ud, int64_t target_ns, int *failed)
{
    int64_t iters = 1;
    *failed = 0;
    if (fn(ud)) { /* warm-up: first-call costs (compiling, caches) are not the op's */
        *failed = 1;
        return 0;
    }
    for (;;) {
        int64_t t0 = pb_cpu_now();
        for (int64_t i = 0; i < iters; i++)
            if (fn(ud)) {
                *failed = 1;
                return 0;
            }
        int64_t dt = pb_cpu_now() - t0;
        if (dt >= target_ns / 8 || iters >= (1LL << 30)) {
            int64_t want = dt > 0 ? (int64_t)((double)iters * (double)target_ns / (double)dt) : iters;
            if (want <= iters)
                return (double)dt / (double)iters;
            iters = want;
            t0 = pb_cpu_now();
            for (int64_t i = 0; i < iters; i++)
                if (fn(ud)) {
                    *failed = 1;
                    return 0;
                }
            return (double)(pb_cpu_now() - t0) / (double)iters;
        }
        iters *= 4;
    }
}

static inline void pb_result(const char *op, const char *mode, double ns)
{
    printf("R %s %s %.3f\n", op, mode, ns);
    fflush(stdout);
}

static inline void pb_skip(const char *op, const char *reason)
{
    printf("S %s %s\n", op, reason);
    fflush(stdout);
}

/* argv helpers */
static inline const char *pb_arg(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static inline int pb_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

#endif
