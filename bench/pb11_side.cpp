/* The pybind11 side of pysbench: the ops of PB_OPS written the way
 * pybind11's documentation writes them (py::object, .cast<T>(), calls with
 * C++ values, py::exec / py::eval, stl.h for the vector round trip, a
 * py::cpp_function for the callback). It runs in bench_capi, on the
 * interpreter the C-API side initialised, so all three sides share one
 * libpython and one process.
 *
 * pybind11 is measured in batched mode only (the GIL held around the timing
 * loop, as a pybind11 program holds a py::gil_scoped_acquire around its
 * work): that is how its documentation uses it. The ops are extern "C" so that callgrind
 * finds them by the names bench/callgrind.py asks for (pb11_OP). */
#include <pybind11/embed.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pb11_side.h"

namespace py = pybind11;

namespace {
constexpr size_t N1M = 1000000;
// Heap-held so that nothing is destroyed after Python is finalised.
struct objs {
    py::object len, list3, dict, list10, f3, asarray, main;
    py::object code_bridge; // compiled once, like the C-API side's loop
    std::vector<double> in;
};
objs *g;
} // namespace

// Each op catches what pybind11 throws: a failed op returns 1.
#define TRY(body)                                                                                  \
    try {                                                                                          \
        body                                                                                       \
    } catch (const std::exception &) {                                                         \
        return 1;                                                                                  \
    }

extern "C" {

int pb11_exec(void *)
{
    TRY(py::exec("x = 1", g->main); return 0;)
}

int pb11_eval(void *)
{
    TRY(py::object o = py::eval("x + 1", g->main); return o.cast<int64_t>() != 2;)
}

int pb11_len_call(void *)
{
    TRY(py::object r = g->len(g->list3); return r.cast<int64_t>() != 3;)
}

int pb11_int_rt(void *)
{
    TRY(py::object o = py::int_(int64_t(123456789)); return o.cast<int64_t>() != 123456789;)
}

int pb11_str_rt(void *)
{
    TRY(py::object o = py::str("hello, world"); return o.cast<std::string>().size() != 12;)
}

int pb11_dict_get(void *)
{
    TRY(py::object v = g->dict["key"]; return v.cast<int64_t>() != 42;)
}

int pb11_iter10(void *)
{
    TRY(int64_t sum = 0; for (py::handle item : g->list10) sum += item.cast<int64_t>();
        return sum != 45;)
}

int pb11_mixed5(void *)
{
    TRY(py::list l; l.append(int64_t(1)); l.append(2.5); l.append("three"); l.append(true);
        l.append(py::none()); int64_t i = l[0].cast<int64_t>(); double d = l[1].cast<double>();
        std::string s = l[2].cast<std::string>(); bool b = l[3].cast<bool>();
        bool none = l[4].is_none(); return i != 1 || d != 2.5 || s != "three" || !b || !none;)
}

int pb11_callf3(void *)
{
    TRY(py::object r = g->f3(int64_t(1), 2.0, "x"); return 0;)
}

int pb11_list_1m(void *)
{
    TRY(py::object l = py::cast(g->in); std::vector<double> out = l.cast<std::vector<double>>();
        return out.size() != N1M || out[N1M - 1] != g->in[N1M - 1];)
}

int pb11_numpy_1m(void *)
{
    TRY(py::object mv = py::memoryview::from_buffer(g->in.data(), {N1M}, {sizeof(double)});
        py::object a = g->asarray(mv); return 0;)
}

int pb11_bridge(void *)
{
    TRY(auto r = py::reinterpret_steal<py::object>(
            PyEval_EvalCode(g->code_bridge.ptr(), g->main.ptr(), g->main.ptr()));
        if (!r) throw py::error_already_set(); return 0;)
}

int pb11_setup(void)
{
    try {
        g = new objs;
        g->main = py::module_::import("__main__").attr("__dict__");
        g->len = py::module_::import("builtins").attr("len");
        g->list3 = py::cast(std::vector<int64_t>{1, 2, 3});
        g->dict = py::dict(py::arg("key") = 42);
        g->list10 = py::cast(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
        py::exec("def f3(a, b, c):\n    return a\nr100 = range(100)\nx = 1\n", g->main);
        g->f3 = g->main["f3"];
        g->main["f_p"] = py::cpp_function([](int64_t a, int64_t b) { return a + b; });
        g->code_bridge = py::reinterpret_steal<py::object>(
            Py_CompileString("for _ in r100: f_p(1, 2)", "<bench>", Py_file_input));
        if (!g->code_bridge)
            throw py::error_already_set();
        try {
            g->asarray = py::module_::import("numpy").attr("asarray");
        } catch (py::error_already_set &) {
        }
        g->in.resize(N1M);
        for (size_t i = 0; i < N1M; i++)
            g->in[i] = double(i) * 0.25;
        return 0;
    } catch (py::error_already_set &e) {
        e.restore();
        return -1;
    }
}

pb_fn pb11_op(int slot)
{
    static const pb_fn fns[PB_NOPS] = {
        pb11_exec,  pb11_eval,   pb11_len_call, pb11_int_rt,  pb11_str_rt,   pb11_dict_get,
        pb11_iter10, pb11_mixed5, pb11_callf3,  pb11_list_1m, pb11_numpy_1m, pb11_bridge,
        pb11_dict_get, pb11_iter10, pb11_iter10, // pybind11 has one way to write each of these
    };
    static_assert(PB_NOPS == 15, "pb11_side.cpp lists every op of PB_OPS in order");
    if (slot < 0 || slot >= PB_NOPS || (slot == PB_numpy_1m && (!g || !g->asarray)))
        return nullptr;
    return fns[slot];
}

void pb11_teardown(void)
{
    delete g;
    g = nullptr;
}

} // extern "C"
