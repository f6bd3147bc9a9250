/* The baseline: the same work as pysbench's pyshim side, written directly
 * against the CPython C-API and linked to libpython. This is the one file
 * in the project that includes Python.h.
 *
 * Auto-GIL mode wraps every step that pyshim does in one public call in its
 * own PyGILState_Ensure/Release (what a thread-safe C caller pays per call);
 * batched mode holds the GIL around the whole timing loop. Every step keeps
 * its own reference where pyshim would return an owned handle, and checks
 * errors the way careful C-API code does. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdbool.h>

#include "bench_util.h"
#include "shim_ops.h"
#ifdef PYSBENCH_PYBIND11
#include "pb11_side.h"
#endif


#define N1M 1000000

static int g_auto;
#define G(stmt)                                                                                    \
    do {                                                                                           \
        if (g_auto) {                                                                              \
            PyGILState_STATE gs_ = PyGILState_Ensure();                                            \
            stmt;                                                                                  \
            PyGILState_Release(gs_);                                                               \
        } else {                                                                                   \
            stmt;                                                                                  \
        }                                                                                          \
    } while (0)

static PyObject *g_main, *g_code_exec, *g_code_eval, *g_code_bridge, *g_len, *g_list3, *g_dict,
    *g_list10, *g_f3, *g_asarray;
static double *g_in, *g_out;
static Py_ssize_t g_shape[1] = {N1M}, g_strides[1] = {sizeof(double)};

static int capi_exec(void *ud)
{
    PyObject *r;
    G(r = PyEval_EvalCode(g_code_exec, g_main, g_main); Py_XDECREF(r));
    return !r;
}

static int capi_eval(void *ud)
{
    PyObject *o;
    long long v;
    int bad;
    G(o = PyEval_EvalCode(g_code_eval, g_main, g_main));
    if (!o)
        return 1;
    G(v = PyLong_AsLongLong(o); bad = v == -1 && PyErr_Occurred());
    G(Py_DECREF(o));
    return bad || v != 2;
}

static int capi_len_call(void *ud)
{
    PyObject *r;
    Py_ssize_t n;
    G(r = PyObject_CallOneArg(g_len, g_list3));
    if (!r)
        return 1;
    G(n = PyLong_AsSsize_t(r));
    G(Py_DECREF(r));
    return n != 3;
}

static int capi_int_rt(void *ud)
{
    PyObject *o;
    long long v;
    G(o = PyLong_FromLongLong(123456789));
    if (!o)
        return 1;
    G(v = PyLong_AsLongLong(o));
    G(Py_DECREF(o));
    return v != 123456789;
}

static int capi_str_rt(void *ud)
{
    PyObject *o;
    const char *s;
    Py_ssize_t n = 0;
    G(o = PyUnicode_FromString("hello, world"));
    if (!o)
        return 1;
    G(s = PyUnicode_AsUTF8AndSize(o, &n));
    G(Py_DECREF(o));
    return !s || n != 12;
}

static int capi_dict_get(void *ud)
{
    PyObject *v;
    long long x;
    G(v = PyDict_GetItemString(g_dict, "key"); Py_XINCREF(v));
    if (!v)
        return 1;
    G(x = PyLong_AsLongLong(v));
    G(Py_DECREF(v));
    return x != 42;
}

static int capi_iter10(void *ud)
{
    PyObject *it, *x;
    long long v, sum = 0;
    G(it = PyObject_GetIter(g_list10));
    if (!it)
        return 1;
    for (;;) {
        G(x = PyIter_Next(it));
        if (!x)
            break;
        G(v = PyLong_AsLongLong(x));
        sum += v;
        G(Py_DECREF(x));
    }
    G(Py_DECREF(it));
    return sum != 45;
}

static int capi_mixed5(void *ud)
{
    PyObject *l, *x;
    long long i;
    double d;
    const char *s;
    int b, none;
    G(l = Py_BuildValue("[LdsOO]", 1LL, 2.5, "three", Py_True, Py_None));
    if (!l)
        return 1;
    G(x = PyList_GetItem(l, 0); Py_XINCREF(x));
    G(i = PyLong_AsLongLong(x));
    G(Py_DECREF(x));
    G(x = PyList_GetItem(l, 1); Py_XINCREF(x));
    G(d = PyFloat_AsDouble(x));
    G(Py_DECREF(x));
    G(x = PyList_GetItem(l, 2); Py_XINCREF(x));
    G(s = PyUnicode_AsUTF8AndSize(x, NULL));
    G(Py_DECREF(x));
    G(x = PyList_GetItem(l, 3); Py_XINCREF(x));
    G(b = PyBool_Check(x) ? x == Py_True : -1);
    G(Py_DECREF(x));
    G(x = PyList_GetItem(l, 4); Py_XINCREF(x));
    G(none = x == Py_None);
    G(Py_DECREF(x));
    G(Py_DECREF(l));
    return i != 1 || d != 2.5 || !s || b != 1 || !none;
}

static int capi_callf3(void *ud)
{
    PyObject *r;
    G(r = PyObject_CallFunction(g_f3, "Lds", 1LL, 2.0, "x"));
    if (!r)
        return 1;
    G(Py_DECREF(r));
    return 0;
}

static int capi_list_1m(void *ud)
{
    PyObject *l;
    int bad = 0;
    G(l = PyList_New(N1M); for (Py_ssize_t i = 0; l && i < N1M; i++) {
        PyObject *x = PyFloat_FromDouble(g_in[i]);
        if (!x) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, i, x);
    });
    if (!l)
        return 1;
    G(for (Py_ssize_t i = 0; i < N1M; i++) {
        double d = PyFloat_AsDouble(PyList_GET_ITEM(l, i));
        if (d == -1.0 && PyErr_Occurred()) {
            bad = 1;
            break;
        }
        g_out[i] = d;
    });
    G(Py_DECREF(l));
    return bad || g_out[N1M - 1] != g_in[N1M - 1];
}

static int capi_numpy_1m(void *ud)
{
    Py_buffer b = {.buf = g_in, .len = N1M * sizeof(double), .itemsize = sizeof(double),
                   .readonly = 0, .ndim = 1, .format = "d", .shape = g_shape,
                   .strides = g_strides};
    PyObject *mv, *a;
    G(mv = PyMemoryView_FromBuffer(&b));
    if (!mv)
        return 1;
    G(a = PyObject_CallOneArg(g_asarray, mv));
    if (!a)
        return 1;
    G(Py_DECREF(a));
    G(Py_DECREF(mv));
    return 0;
}

static int capi_bridge(void *ud)
{
    PyObject *r;
    G(r = PyEval_EvalCode(g_code_bridge, g_main, g_main); Py_XDECREF(r));
    return !r;
}

/* One pyshim call: one GIL round trip. */
static int capi_dict_get1(void *ud)
{
    PyObject *v;
    long long x = -1;
    G(v = PyDict_GetItemString(g_dict, "key"); Py_XINCREF(v);
      if (v) { x = PyLong_AsLongLong(v); Py_DECREF(v); });
    return x != 42;
}

/* pys_iter_next_into drops the previous item in the same call. */
static int capi_iter10_into(void *ud)
{
    PyObject *it, *x = NULL;
    long long v, sum = 0;
    G(it = PyObject_GetIter(g_list10));
    if (!it)
        return 1;
    for (;;) {
        G(Py_XDECREF(x); x = PyIter_Next(it));
        if (!x)
            break;
        G(v = PyLong_AsLongLong(x));
        sum += v;
    }
    G(Py_DECREF(it));
    return sum != 45;
}

/* pys_iter_next_int64 reads and drops the item in the same call. */
static int capi_iter10_int64(void *ud)
{
    PyObject *it, *x;
    long long v = 0, sum = 0;
    G(it = PyObject_GetIter(g_list10));
    if (!it)
        return 1;
    for (;;) {
        G(x = PyIter_Next(it); if (x) { v = PyLong_AsLongLong(x); Py_DECREF(x); });
        if (!x)
            break;
        sum += v;
    }
    G(Py_DECREF(it));
    return sum != 45;
}

static int capi_exec_runstring(void *ud)
{
    PyObject *r;
    G(r = PyRun_String("x = 1", Py_file_input, g_main, g_main); Py_XDECREF(r));
    return !r;
}

static int capi_eval_runstring(void *ud)
{
    PyObject *r;
    G(r = PyRun_String("x + 1", Py_eval_input, g_main, g_main));
    if (!r)
        return 1;
    G(Py_DECREF(r));
    return 0;
}

/* The bridge baseline: a METH_FASTCALL function taking two ints. */
static PyObject *c_add(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add() takes 2 arguments");
        return NULL;
    }
    long long a = PyLong_AsLongLong(args[0]);
    if (a == -1 && PyErr_Occurred())
        return NULL;
    long long b = PyLong_AsLongLong(args[1]);
    if (b == -1 && PyErr_Occurred())
        return NULL;
    return PyLong_FromLongLong(a + b);
}

static PyMethodDef add_def = {"add", (PyCFunction)(void (*)(void))c_add, METH_FASTCALL, NULL};

static int setup(void)
{
    PyObject *m = PyImport_AddModule("__main__");
    if (!m)
        return -1;
    g_main = PyModule_GetDict(m);
    Py_INCREF(g_main);
    g_code_exec = Py_CompileString("x = 1", "<bench>", Py_file_input);
    g_code_eval = Py_CompileString("x + 1", "<bench>", Py_eval_input);
    g_code_bridge = Py_CompileString("for _ in r100: f_c(1, 2)", "<bench>", Py_file_input);
    PyObject *builtins = PyEval_GetBuiltins(); /* borrowed */
    g_len = PyDict_GetItemString(builtins, "len");
    Py_XINCREF(g_len);
    g_list3 = Py_BuildValue("[iii]", 1, 2, 3);
    g_dict = Py_BuildValue("{s:i}", "key", 42);
    g_list10 = Py_BuildValue("[iiiiiiiiii]", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    PyObject *r = PyRun_String("def f3(a, b, c):\n    return a\nr100 = range(100)\nx = 1\n",
                               Py_file_input, g_main, g_main);
    Py_XDECREF(r);
    g_f3 = PyDict_GetItemString(g_main, "f3");
    Py_XINCREF(g_f3);
    PyObject *f = PyCFunction_New(&add_def, NULL);
    if (!f || PyDict_SetItemString(g_main, "f_c", f) < 0)
        return -1;
    Py_DECREF(f);
    PyObject *np = PyImport_ImportModule("numpy");
    if (np) {
        g_asarray = PyObject_GetAttrString(np, "asarray");
        Py_DECREF(np);
    }
    PyErr_Clear();
    if (!g_code_exec || !g_code_eval || !g_code_bridge || !g_len || !g_list3 || !g_dict ||
        !g_list10 || !g_f3)
        return -1;
    g_in = malloc(N1M * sizeof(double));
    g_out = malloc(N1M * sizeof(double));
    if (!g_in || !g_out)
        return -1;
    for (int i = 0; i < N1M; i++)
        g_in[i] = i * 0.25;
    return 0;
}

static pb_fn capi_op(int slot)
{
    static const pb_fn fns[PB_NOPS + 2] = {
        [PB_exec] = capi_exec,         [PB_eval] = capi_eval,
        [PB_len_call] = capi_len_call, [PB_int_rt] = capi_int_rt,
        [PB_str_rt] = capi_str_rt,     [PB_dict_get] = capi_dict_get,
        [PB_iter10] = capi_iter10,     [PB_mixed5] = capi_mixed5,
        [PB_callf3] = capi_callf3,     [PB_list_1m] = capi_list_1m,
        [PB_numpy_1m] = capi_numpy_1m, [PB_bridge] = capi_bridge,
        [PB_dict_get1] = capi_dict_get1, [PB_iter10_into] = capi_iter10_into,
        [PB_iter10_int64] = capi_iter10_int64,
        [PB_NOPS] = capi_exec_runstring, [PB_NOPS + 1] = capi_eval_runstring,
    };
    return fns[slot];
}

static const char *slot_name(int slot)
{
    return slot < PB_NOPS ? pb_op_name[slot] : slot == PB_NOPS ? PB_EXEC_RUNSTRING
                                                               : PB_EVAL_RUNSTRING;
}

enum { S_CAPI, S_SHIM, S_PB11, S_N };
static const char *const side_name[S_N] = {"capi", "pyshim", "pybind11"};

/* The pybind11 op of a slot, batched mode only; NULL: none (or not built). */
static pb_fn pb11_fn(int slot, bool batched)
{
#ifdef PYSBENCH_PYBIND11
    return batched ? pb11_op(slot) : NULL;
#else
    (void)slot;
    (void)batched;
    return NULL;
#endif
}

/* Times one op on one side in one mode; prints the result line. */
static int time_one(int slot, int who, bool batched, int64_t target_ns)
{
    const char *name = slot_name(slot);
    bool shim = who == S_SHIM;
    g_auto = !batched;
    PyGILState_STATE gs = PyGILState_UNLOCKED;
    if (batched) {
        if (shim) {
            if (shim_batch_begin() != 0) {
                fprintf(stderr, "bench: pys_gil_acquire: %s\n", shim_error());
                return -1;
            }
        } else {
            gs = PyGILState_Ensure();
        }
    }
    int failed = 0;
    pb_fn fn = shim ? shim_op(slot) : who == S_PB11 ? pb11_fn(slot, batched) : capi_op(slot);
    double ns = pb_time(fn, NULL, target_ns, &failed);
    if (batched) {
        if (shim)
            shim_batch_end();
        else
            PyGILState_Release(gs);
    }
    if (failed) {
        if (shim) {
            fprintf(stderr, "bench: pyshim %s failed: %s\n", name, shim_error());
        } else {
            gs = PyGILState_Ensure();
            PyErr_Print();
            PyGILState_Release(gs);
            fprintf(stderr, "bench: %s %s failed\n", who == S_PB11 ? "pybind11" : "C-API", name);
        }
        return -1;
    }
    if (slot == PB_bridge)
        ns /= PB_BRIDGE_LOOP;
    printf("R %s %s %.3f %s\n", name, batched ? "batched" : "auto", ns, side_name[who]);
    fflush(stdout);
    return 0;
}

/* Both sides in this one process, on one interpreter: the C-API side
 * initialises Python, pyshim attaches to it (loading the same library), and
 * every op is timed on both sides back to back, alternating which goes
 * first, so a load spike on the machine hits both. */
static int run_ops(const char *library, int reps, int64_t target_ns, const char *only,
                   const char *mode, const char *side)
{
    Py_InitializeEx(0);
    if (setup() < 0) {
        PyErr_Print();
        fprintf(stderr, "bench: C-API setup failed\n");
        return 1;
    }
    PyThreadState *ts = PyEval_SaveThread();
    if (shim_open(library, true) != 0) {
        fprintf(stderr, "bench: pys_open(%s): %s\n", library, shim_error());
        return 1;
    }
#ifdef PYSBENCH_PYBIND11
    PyEval_RestoreThread(ts);
    if (pb11_setup() < 0) {
        PyErr_Print();
        fprintf(stderr, "bench: pybind11 setup failed\n");
        return 1;
    }
    ts = PyEval_SaveThread();
#endif
    bool have_bridge = false, have_numpy = false;
    if (shim_setup(&have_bridge, &have_numpy) != 0) {
        fprintf(stderr, "bench: pyshim setup failed: %s\n", shim_error());
        return 1;
    }
    if (!g_asarray || !have_numpy)
        pb_skip("numpy_1m", "numpy is not installed for this Python");
    if (!have_bridge)
        pb_skip("bridge", "the bridge API (pys_register_typed) is not available");
    for (int rep = 0; rep < reps; rep++) {
        for (int slot = 0; slot < PB_NOPS + 2; slot++) {
            if ((slot == PB_numpy_1m && (!g_asarray || !have_numpy)) ||
                (slot == PB_bridge && !have_bridge))
                continue;
            if (only && strcmp(only, slot_name(slot)) != 0)
                continue;
            for (int batched = 0; batched < 2; batched++) {
                if (mode && strcmp(mode, batched ? "batched" : "auto") != 0)
                    continue;
                for (int k = 0; k < S_N; k++) {
                    int who = (rep + slot + batched + k) % S_N;
                    if (side && strcmp(side, side_name[who]) != 0)
                        continue;
                    if (who == S_PB11 && !pb11_fn(slot, batched))
                        continue;
                    if (time_one(slot, who, batched, target_ns) != 0)
                        return 1;
                }
            }
        }
    }
    shim_close();
    PyEval_RestoreThread(ts);
#ifdef PYSBENCH_PYBIND11
    pb11_teardown();
#endif
    return 0;
}

static int library_path(char *buf, size_t n)
{
    Dl_info info;
    char real[PATH_MAX];
    if (!dladdr((void *)Py_InitializeEx, &info) || !info.dli_fname ||
        !realpath(info.dli_fname, real))
        return -1;
    snprintf(buf, n, "%s", real);
    return 0;
}

int main(int argc, char **argv)
{
    const char *child = pb_arg(argc, argv, "--child");
    if (!child) {
        fprintf(stderr, "bench_capi is started by pysbench (run that instead)\n");
        return 2;
    }
    char lib[PATH_MAX];
    if (library_path(lib, sizeof lib) != 0) {
        fprintf(stderr, "bench_capi: cannot tell which libpython is loaded\n");
        return 1;
    }
    if (strcmp(child, "info") == 0) {
        printf("I library %s\n", lib);
        printf("I version %s\n", PY_VERSION);
        return 0;
    }
    if (strcmp(child, "startup") == 0) {
        const char *t0s = pb_arg(argc, argv, "--t0");
        int64_t c0 = pb_proc_cpu_now(), t0 = pb_now();
        Py_InitializeEx(0);
        int64_t t1 = pb_now(), c1 = pb_proc_cpu_now();
        pb_startup("capi", t0, t1, c0, c1, t0s);
        _exit(0);
    }
    if (strcmp(child, "ops") == 0) {
        const char *r = pb_arg(argc, argv, "--reps");
        const char *t = pb_arg(argc, argv, "--target-ms");
        return run_ops(lib, r ? atoi(r) : 5, (t ? atoll(t) : 20) * 1000000LL,
                       pb_arg(argc, argv, "--only"), pb_arg(argc, argv, "--mode"),
                       pb_arg(argc, argv, "--side"));
    }
    fprintf(stderr, "bench_capi: unknown --child %s\n", child);
    return 2;
}
