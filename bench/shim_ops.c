/* The pyshim side of pysbench: the ops of PB_OPS written against the
 * public pyshim API only (no Python.h). bench_capi runs them interleaved
 * with its C-API versions, in one process on one interpreter. */
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include <pyshim.h>

#include "shim_ops.h"

#define N1M 1000000

static pys_runtime *rt;
static pys_obj h_len, h_list3, h_dict, h_list10, h_f3, h_asarray;
static double *g_in, *g_out;

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            return 1;                                                                              \
    } while (0)

static int shim_exec(void *ud)
{
    return pys_exec(rt, "x = 1") != PYS_OK;
}

static int shim_eval(void *ud)
{
    pys_obj o = pys_eval(rt, "x + 1");
    int64_t v = 0;
    int rc = pys_to_int64(o, &v);
    pys_release(o);
    return rc != PYS_OK || v != 2;
}

static int shim_len_call(void *ud)
{
    pys_obj r = pys_call(h_len, &h_list3, 1);
    int64_t n = 0;
    int rc = pys_to_int64(r, &n);
    pys_release(r);
    return rc != PYS_OK || n != 3;
}

static int shim_int_rt(void *ud)
{
    pys_obj o = pys_from_int64(rt, 123456789);
    int64_t v = 0;
    int rc = pys_to_int64(o, &v);
    pys_release(o);
    return rc != PYS_OK || v != 123456789;
}

static int shim_str_rt(void *ud)
{
    pys_obj o = pys_from_str(rt, "hello, world");
    size_t n = 0;
    const char *s = pys_str_view(o, &n);
    pys_release(o);
    return !s || n != 12;
}

static int shim_dict_get(void *ud)
{
    pys_obj v = pys_getitem_str(h_dict, "key");
    int64_t x = 0;
    int rc = pys_to_int64(v, &x);
    pys_release(v);
    return rc != PYS_OK || x != 42;
}

static int shim_iter10(void *ud)
{
    pys_obj it = pys_iter(h_list10), x;
    int64_t v, sum = 0;
    int r;
    while ((r = pys_iter_next(it, &x)) == 1) {
        CHECK(pys_to_int64(x, &v) == PYS_OK);
        sum += v;
        pys_release(x);
    }
    pys_release(it);
    return r != 0 || sum != 45;
}

static int shim_mixed5(void *ud)
{
    pys_obj l = pys_build(rt, "[q d s b n]", (int64_t)1, 2.5, "three", 1);
    CHECK(pys_ok(l));
    int64_t i = 0;
    double d = 0;
    bool b = false;
    pys_obj x = pys_getitem_index(l, 0);
    CHECK(pys_to_int64(x, &i) == PYS_OK);
    pys_release(x);
    x = pys_getitem_index(l, 1);
    CHECK(pys_to_double(x, &d) == PYS_OK);
    pys_release(x);
    x = pys_getitem_index(l, 2);
    const char *s = pys_str_view(x, NULL);
    pys_release(x);
    x = pys_getitem_index(l, 3);
    CHECK(pys_to_bool(x, &b) == PYS_OK);
    pys_release(x);
    x = pys_getitem_index(l, 4);
    int none = pys_is_none(x);
    pys_release(x);
    pys_release(l);
    return i != 1 || d != 2.5 || !s || !b || none != 1;
}

static int shim_callf3(void *ud)
{
    pys_obj r = pys_callf(h_f3, "q d s", (int64_t)1, 2.0, "x");
    CHECK(pys_ok(r));
    pys_release(r);
    return 0;
}

static int shim_list_1m(void *ud)
{
    pys_obj l = pys_list_from_doubles(rt, g_in, N1M);
    size_t n = 0;
    int rc = pys_to_doubles(l, g_out, N1M, &n);
    pys_release(l);
    return rc != PYS_OK || g_out[N1M - 1] != g_in[N1M - 1];
}

static int shim_numpy_1m(void *ud)
{
    pys_obj mv = pys_memoryview(rt, g_in, N1M * sizeof(double), "d", NULL, 0, false);
    pys_obj a = pys_call(h_asarray, &mv, 1);
    int bad = !pys_ok(a);
    pys_release(a);
    pys_release(mv);
    return bad;
}

static int shim_bridge(void *ud)
{
    return pys_exec(rt, "for _ in r100: f_b(1, 2)") != PYS_OK;
}

static int shim_dict_get1(void *ud)
{
    int64_t x = 0;
    return pys_getitem_str_int64(h_dict, "key", &x) != PYS_OK || x != 42;
}

static int shim_iter10_into(void *ud)
{
    pys_obj it = pys_iter(h_list10), x = PYS_NULL;
    int64_t v, sum = 0;
    int r;
    while ((r = pys_iter_next_into(it, &x)) == 1) {
        CHECK(pys_to_int64(x, &v) == PYS_OK);
        sum += v;
    }
    pys_release(it);
    return r != 0 || sum != 45;
}

static int shim_iter10_int64(void *ud)
{
    pys_obj it = pys_iter(h_list10);
    int64_t v, sum = 0;
    int r;
    while ((r = pys_iter_next_int64(it, &v)) == 1)
        sum += v;
    pys_release(it);
    return r != 0 || sum != 45;
}

static int shim_exec_runstring(void *ud)
{
    return pys_exec(rt, "x = 1") != PYS_OK;
}

static int shim_eval_runstring(void *ud)
{
    pys_obj o = pys_eval(rt, "x + 1");
    CHECK(pys_ok(o));
    pys_release(o);
    return 0;
}

static int64_t c_add(int64_t a, int64_t b)
{
    return a + b;
}

int shim_open(const char *library, bool inherit)
{
    pys_options o = {0};
    o.library_path = library;
    o.ignore_environment = true;
    o.skip_finalize = inherit; /* the host initialised Python; it finalises it */
    return pys_open(&o, &rt);
}

int shim_setup(bool *have_bridge, bool *have_numpy)
{
    pys_obj b = pys_import(rt, "builtins");
    h_len = pys_getattr(b, "len");
    pys_release(b);
    h_list3 = pys_build(rt, "[q q q]", (int64_t)1, (int64_t)2, (int64_t)3);
    h_dict = pys_build(rt, "{s:q}", "key", (int64_t)42);
    int64_t ten[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    h_list10 = pys_list_from_int64s(rt, ten, 10);
    if (pys_exec(rt, "def f3(a, b, c):\n    return a\nr100 = range(100)\nx = 1\n") != PYS_OK)
        return -1;
    pys_obj main = pys_main_dict(rt);
    h_f3 = pys_getitem_str(main, "f3");
    *have_bridge = pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(c_add)) == PYS_OK &&
                   pys_exec(rt, "from c_bridge import add as f_b") == PYS_OK;
    pys_release(main);
    pys_obj np = pys_import(rt, "numpy");
    if (pys_ok(np)) {
        h_asarray = pys_getattr(np, "asarray");
        pys_release(np);
    }
    pys_clear_error();
    if (!pys_ok(h_len) || !pys_ok(h_list3) || !pys_ok(h_dict) || !pys_ok(h_list10) ||
        !pys_ok(h_f3))
        return -1;
    *have_numpy = pys_ok(h_asarray);
    g_in = malloc(N1M * sizeof(double));
    g_out = malloc(N1M * sizeof(double));
    if (!g_in || !g_out)
        return -1;
    for (int i = 0; i < N1M; i++)
        g_in[i] = i * 0.25;
    return 0;
}

pb_fn shim_op(int slot)
{
    static const pb_fn fns[PB_NOPS + 2] = {
        [PB_exec] = shim_exec,         [PB_eval] = shim_eval,
        [PB_len_call] = shim_len_call, [PB_int_rt] = shim_int_rt,
        [PB_str_rt] = shim_str_rt,     [PB_dict_get] = shim_dict_get,
        [PB_iter10] = shim_iter10,     [PB_mixed5] = shim_mixed5,
        [PB_callf3] = shim_callf3,     [PB_list_1m] = shim_list_1m,
        [PB_numpy_1m] = shim_numpy_1m, [PB_bridge] = shim_bridge,
        [PB_dict_get1] = shim_dict_get1, [PB_iter10_into] = shim_iter10_into,
        [PB_iter10_int64] = shim_iter10_int64,
        [PB_NOPS] = shim_exec_runstring, [PB_NOPS + 1] = shim_eval_runstring,
    };
    return slot >= 0 && slot < PB_NOPS + 2 ? fns[slot] : NULL;
}

int shim_batch_begin(void)
{
    return pys_gil_acquire(rt);
}

void shim_batch_end(void)
{
    pys_gil_release(rt);
}

const char *shim_error(void)
{
    return pys_last_error()->message;
}

void shim_close(void)
{
    pys_close(rt);
}

/* For the separate-process startup runs. */
int shim_startup(const char *library, const char *t0s)
{
    int64_t c0 = pb_proc_cpu_now(), t0 = pb_now();
    int rc = shim_open(library, false);
    int64_t t1 = pb_now(), c1 = pb_proc_cpu_now();
    if (rc != PYS_OK) {
        fprintf(stderr, "pysbench: pys_open(%s): %s\n", library, pys_last_error()->message);
        return 1;
    }
    pb_startup("pyshim", t0, t1, c0, c1, t0s);
    _exit(0);
}
