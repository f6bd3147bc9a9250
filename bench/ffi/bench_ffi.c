/* The C side of the FFI benchmarks (bench/ffi/run.sh): the same two ops
 * the host bindings run, through pyshim.h and through pyshim_ffi.h, in one
 * GIL batch, on the Python PYSHIM_LIBPYTHON names.
 *   bench_ffi OP N        OP: int_c int_ffi len_c len_ffi noop_ffi
 * Prints "OP ns/op" (thread CPU time over N iterations). N = 0 runs the
 * setup only (callgrind differences use it). */
#include <pyshim.h>
#include <pyshim_ffi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_ffi OP N\n");
        return 2;
    }
    const char *op = argv[1];
    long n = atol(argv[2]);
    pys_options o = {.library_path = getenv("PYSHIM_LIBPYTHON")};
    pys_runtime *rt;
    if (pys_open(&o, &rt) != PYS_OK) {
        fprintf(stderr, "pys_open: %s\n", pys_last_error()->message);
        return 1;
    }
    pys_obj len = pys_eval(rt, "len");
    pys_obj list = pys_eval(rt, "[1, 2, 3]");
    volatile int64_t sink = 0;
    pys_gil_acquire(rt);
    double t0 = cpu_ns();
    if (!strcmp(op, "int_c")) {
        for (long i = 0; i < n; i++) {
            pys_obj h = pys_from_int64(rt, i);
            int64_t v;
            pys_to_int64(h, &v);
            pys_release(h);
            sink += v;
        }
    } else if (!strcmp(op, "int_ffi")) {
        for (long i = 0; i < n; i++) {
            uint64_t h = pys_ffi_from_int64(rt, i);
            sink += pys_ffi_int64(h);
            pys_ffi_release(h);
        }
    } else if (!strcmp(op, "len_c")) {
        for (long i = 0; i < n; i++) {
            pys_obj r = pys_call(len, &list, 1);
            int64_t v;
            pys_to_int64(r, &v);
            pys_release(r);
            sink += v;
        }
    } else if (!strcmp(op, "len_ffi")) {
        for (long i = 0; i < n; i++) {
            uint64_t r = pys_ffi_call(len.id, &list.id, 1);
            sink += pys_ffi_int64(r);
            pys_ffi_release(r);
        }
    } else if (!strcmp(op, "noop_ffi")) {
        for (long i = 0; i < n; i++)
            sink += pys_ffi_abi_version();
    } else {
        fprintf(stderr, "unknown op %s\n", op);
        return 2;
    }
    double t1 = cpu_ns();
    pys_gil_release(rt);
    if (n > 0)
        printf("%s %.1f\n", op, (t1 - t0) / (double)n);
    pys_release(len);
    pys_release(list);
    pys_close(rt);
    return sink == -1;
}
