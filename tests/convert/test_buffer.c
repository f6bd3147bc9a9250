/* Zero-copy buffers (C memory as memoryviews, buffer views of Python
 * exporters) and bulk array conversions. Every PYS_TEST runs once per
 * supported Python found; numpy parts skip when numpy is not installed for
 * that Python. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyshim_test.h"

/* Runs Python statements that must succeed (asserts carry the message). */
static void py_ok(pys_runtime *rt, const char *src)
{
    int rc = pys_exec(rt, src);
    cr_assert_eq(rc, PYS_OK, "exec failed: %s\n%s: %s\n%s", src, pys_last_error()->type,
                 pys_last_error()->message, pys_last_error()->traceback);
}

/* Binds a handle to a name in __main__ (the handle stays the caller's). */
static void bind(pys_runtime *rt, const char *name, pys_obj v)
{
    pys_obj m = pys_main_dict(rt);
    pyt_assert_ok(pys_setitem_str(m, name, v));
    pys_release(m);
}

static bool have_numpy(pys_runtime *rt)
{
    pys_obj np = pys_import(rt, "numpy");
    if (!pys_ok(np))
        return false;
    pys_release(np);
    py_ok(rt, "import numpy as np");
    return true;
}

static int released;
static void *released_ptr;
static void on_release(void *data, void *ud)
{
    released += *(int *)ud;
    released_ptr = data;
}

/* ---- C memory -> memoryview -------------------------------------------------------- */

PYS_TEST(memview, writable_1d_is_zero_copy)
{
    double d[4] = {1, 2, 3, 4};
    size_t before = pys_handle_count(rt);
    pys_obj mv = pys_memoryview(rt, d, sizeof d, "d", NULL, 0, false);
    pyt_assert_h(mv);
    bind(rt, "mv", mv);
    py_ok(rt, "assert mv.format == 'd' and mv.itemsize == 8 and mv.shape == (4,), mv.shape\n"
              "assert not mv.readonly and mv.tolist() == [1.0, 2.0, 3.0, 4.0]\n"
              "mv[2] = 30.5");
    cr_assert_eq(d[2], 30.5, "Python wrote into the C array");
    d[0] = -7;
    py_ok(rt, "assert mv[0] == -7.0");
    py_ok(rt, "del mv");
    pys_release(mv);
    cr_assert_eq(pys_handle_count(rt), before);
}

PYS_TEST(memview, readonly_refuses_writes)
{
    int32_t v[3] = {1, 2, 3};
    pys_obj mv = pys_memoryview(rt, v, sizeof v, "i", NULL, 1, true);
    pyt_assert_h(mv);
    bind(rt, "ro", mv);
    py_ok(rt, "assert ro.readonly and ro.tolist() == [1, 2, 3]");
    cr_assert_eq(pys_exec(rt, "ro[0] = 5"), PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "TypeError");
    cr_assert_eq(v[0], 1);
    /* A writable buffer view of it is refused too. */
    pys_buffer b;
    cr_assert_eq(pys_buffer_get(mv, &b, PYS_BUF_WRITABLE), PYS_E_VALUE);
    cr_assert(strstr(pys_last_error()->message, "read-only"), "%s", pys_last_error()->message);
    cr_assert_null(b.data, "the view is zeroed on failure");
    pyt_assert_ok(pys_buffer_get(mv, &b, PYS_BUF_READ));
    cr_assert_eq(b.data, (void *)v);
    cr_assert(b.readonly);
    pyt_assert_ok(pys_buffer_release(&b));
    py_ok(rt, "del ro");
    pys_release(mv);
}

PYS_TEST(memview, shapes_and_strides)
{
    int32_t m[2][3] = {{1, 2, 3}, {4, 5, 6}};
    size_t shape[2] = {2, 3};
    pys_obj mv = pys_memoryview(rt, m, sizeof m, "i", shape, 2, false);
    pyt_assert_h(mv);
    bind(rt, "m", mv);
    py_ok(rt, "assert m.shape == (2, 3) and m.strides == (12, 4), (m.shape, m.strides)\n"
              "assert m.tolist() == [[1, 2, 3], [4, 5, 6]]\n"
              "assert m.c_contiguous\n"
              "m[1, 2] = 60");
    cr_assert_eq(m[1][2], 60);
    pys_release(mv);

    /* Every other double, and the same reversed (negative stride). */
    double d[6] = {0, 1, 2, 3, 4, 5};
    size_t three = 3;
    ptrdiff_t every2 = 16, back2 = -16;
    pys_memview_desc desc = {.data = d, .len = sizeof d, .format = "d", .ndim = 1,
                             .shape = &three, .strides = &every2, .readonly = true};
    pys_obj ev = pys_memoryview_ex(rt, &desc);
    pyt_assert_h(ev);
    bind(rt, "ev", ev);
    py_ok(rt, "assert ev.tolist() == [0.0, 2.0, 4.0] and ev.strides == (16,)\n"
              "assert not ev.c_contiguous");
    desc.strides = &back2;
    pys_obj rv = pys_memoryview_ex(rt, &desc);
    pyt_assert_h(rv);
    bind(rt, "rv", rv);
    /* With a negative stride element 0 sits at the high end of the block. */
    py_ok(rt, "assert rv.tolist() == [4.0, 2.0, 0.0], rv.tolist()");

    /* A C array read through pys_buffer_get keeps shape and strides. */
    pys_buffer b;
    pyt_assert_ok(pys_buffer_get(ev, &b, PYS_BUF_READ));
    cr_assert_eq(b.ndim, 1);
    cr_assert_eq(b.shape[0], 3);
    cr_assert_eq(b.strides[0], 16);
    cr_assert_not(b.c_contiguous);
    cr_assert_eq(b.data, (void *)d);
    pyt_assert_ok(pys_buffer_release(&b));
    cr_assert_eq(pys_buffer_get(ev, &b, PYS_BUF_C_CONTIGUOUS), PYS_E_VALUE);
    pys_release(ev);
    pys_release(rv);
}

PYS_TEST(memview, bad_descriptions)
{
    double d[4] = {0};
    size_t shape[2] = {2, 3};
    cr_assert(!pys_ok(pys_memoryview(rt, d, sizeof d, "dd", NULL, 0, false)));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE);
    cr_assert(strstr(pys_last_error()->message, "unsupported format"));
    cr_assert(!pys_ok(pys_memoryview(rt, d, sizeof d, "<n", NULL, 0, false)));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE);
    cr_assert(!pys_ok(pys_memoryview(rt, d, 12, "d", NULL, 0, false)));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE, "12 bytes are not whole doubles");
    cr_assert(!pys_ok(pys_memoryview(rt, d, sizeof d, "d", shape, 2, false)));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE, "2x3 doubles do not fit in 32 bytes");
    cr_assert(!pys_ok(pys_memoryview(rt, NULL, 8, "d", NULL, 0, false)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert(!pys_ok(pys_memoryview(rt, d, sizeof d, "d", shape, 65, false)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert(!pys_ok(pys_memoryview(rt, d, sizeof d, "d", NULL, 2, false)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    size_t four = 4;
    ptrdiff_t st = 16;
    pys_memview_desc desc = {.data = d, .len = sizeof d, .format = "d", .ndim = 1,
                             .shape = &four, .strides = &st};
    cr_assert(!pys_ok(pys_memoryview_ex(rt, &desc)));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE, "strides past the end are refused");
    cr_assert(!pys_ok(pys_memoryview_ex(rt, NULL)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    /* A failing call never calls the callback. */
    int one = 1;
    released = 0;
    desc.release = on_release;
    desc.release_ud = &one;
    cr_assert(!pys_ok(pys_memoryview_ex(rt, &desc)));
    cr_assert_eq(released, 0);
    /* Empty memory is fine. */
    pys_obj e = pys_memoryview(rt, NULL, 0, "d", NULL, 0, true);
    pyt_assert_h(e);
    bind(rt, "e", e);
    py_ok(rt, "assert len(e) == 0 and e.tolist() == []");
    pys_release(e);
    /* Byte-order prefixes are kept. */
    uint16_t be[2] = {0x0100, 0x0200};
    pys_obj b = pys_memoryview(rt, be, sizeof be, "<H", NULL, 0, true);
    pyt_assert_h(b);
    bind(rt, "b", b);
    py_ok(rt, "assert b.format == '<H' and b.shape == (2,)");
    pys_release(b);
}

PYS_TEST(memview, release_callback_after_last_user)
{
    static double d[3] = {1, 2, 3};
    static int one = 1; /* the callback may run at pys_close */
    released = 0;
    released_ptr = NULL;
    pys_memview_desc desc = {.data = d, .len = sizeof d, .format = "d", .release = on_release,
                             .release_ud = &one};
    pys_obj mv = pys_memoryview_ex(rt, &desc);
    if (py->major == 3 && py->minor == 8) {
        cr_assert(!pys_ok(mv));
        cr_assert_eq(pys_last_error()->code, PYS_E_UNSUPPORTED);
        cr_assert_eq(released, 0);
        return;
    }
    pyt_assert_h(mv);
    bind(rt, "mv", mv);
    py_ok(rt, "tail = mv[1:]\n"
              "cast = mv.cast('B')\n"
              "assert tail.tolist() == [2.0, 3.0] and len(cast) == 24\n"
              "tail[0] = 20.0\n"
              "del mv");
    cr_assert_eq(d[1], 20.0);
    pys_release(mv);
    cr_assert_eq(released, 0, "a slice and a cast still use the memory");
    py_ok(rt, "del cast");
    cr_assert_eq(released, 0);
    py_ok(rt, "del tail");
    cr_assert_eq(released, 1, "released once the last view is gone");
    cr_assert_eq(released_ptr, (void *)d);
    py_ok(rt, "import gc; gc.collect()");
    cr_assert_eq(released, 1, "exactly once");

    /* Still pending at close: released by pys_close. */
    released = 0;
    mv = pys_memoryview_ex(rt, &desc);
    pyt_assert_h(mv);
    (void)mv;
}

PYS_TEST(memview, copy_owns_its_memory)
{
    double d[2][2] = {{1, 2}, {3, 4}};
    size_t shape[2] = {2, 2};
    pys_obj c = pys_memoryview_copy(rt, d, sizeof d, "d", shape, 2);
    pyt_assert_h(c);
    d[0][0] = 100;
    bind(rt, "c", c);
    py_ok(rt, "assert c.tolist() == [[1.0, 2.0], [3.0, 4.0]] and not c.readonly\n"
              "c[0, 1] = 5.0\n"
              "assert c.tolist()[0][1] == 5.0");
    cr_assert_eq(d[0][1], 2, "a copy does not write back");
    pys_release(c);
    pys_obj raw = pys_memoryview_copy(rt, "abc", 3, NULL, NULL, 0);
    pyt_assert_h(raw);
    bind(rt, "raw", raw);
    py_ok(rt, "assert raw.tobytes() == b'abc' and raw.format == 'B'");
    pys_release(raw);
    cr_assert(!pys_ok(pys_memoryview_copy(rt, d, sizeof d, ">d", NULL, 0)));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE);
}

/* ---- Python exporters -> pys_buffer -------------------------------------------------- */

PYS_TEST(bufview, bytes_and_bytearray)
{
    pys_obj by = pys_from_bytes(rt, "hello", 5);
    pys_buffer b;
    pyt_assert_ok(pys_buffer_get(by, &b, PYS_BUF_READ));
    cr_assert_eq(b.len, 5);
    cr_assert_eq(b.itemsize, 1);
    cr_assert_str_eq(b.format, "B");
    cr_assert_eq(b.ndim, 1);
    cr_assert_eq(b.shape[0], 5);
    cr_assert(b.readonly);
    cr_assert(b.c_contiguous);
    cr_assert_eq(memcmp(b.data, "hello", 5), 0);
    pys_buffer copy = b; /* the struct may be copied; released once */
    pyt_assert_ok(pys_buffer_release(&b));
    cr_assert_eq(pys_buffer_release(&copy), PYS_E_HANDLE, "second release is refused");
    cr_assert_eq(pys_buffer_release(&b), PYS_E_HANDLE);
    cr_assert_eq(pys_buffer_get(by, &b, PYS_BUF_WRITABLE), PYS_E_VALUE);
    cr_assert(strstr(pys_last_error()->message, "read-only"), "%s", pys_last_error()->message);

    pys_obj ba = pys_eval(rt, "bytearray(b'abc')");
    bind(rt, "ba", ba);
    pyt_assert_ok(pys_buffer_get(ba, &b, PYS_BUF_WRITABLE));
    cr_assert_not(b.readonly);
    ((char *)b.data)[0] = 'X';
    /* The export pins the bytearray: it cannot be resized meanwhile. */
    cr_assert_eq(pys_exec(rt, "ba.extend(b'more')"), PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "BufferError");
    pyt_assert_ok(pys_buffer_release(&b));
    py_ok(rt, "assert ba == bytearray(b'Xbc'), ba\nba.extend(b'!')");
    pys_release(ba);
    pys_release(by);
}

PYS_TEST(bufview, array_module_and_memoryview)
{
    pys_obj a = pys_eval(rt, "__import__('array').array('d', [1.5, 2.5, 3.5])");
    pys_buffer b;
    pyt_assert_ok(pys_buffer_get(a, &b, PYS_BUF_WRITABLE | PYS_BUF_C_CONTIGUOUS));
    cr_assert_str_eq(b.format, "d");
    cr_assert_eq(b.itemsize, 8);
    cr_assert_eq(b.len, 24);
    cr_assert_eq(b.shape[0], 3);
    cr_assert_eq(b.strides[0], 8);
    cr_assert_eq(((double *)b.data)[2], 3.5);
    ((double *)b.data)[0] = -1;
    pyt_assert_ok(pys_buffer_release(&b));
    bind(rt, "a", a);
    py_ok(rt, "assert a[0] == -1.0");

    pys_obj ai = pys_eval(rt, "__import__('array').array('i', [7, -8])");
    pyt_assert_ok(pys_buffer_get(ai, &b, PYS_BUF_READ));
    cr_assert_str_eq(b.format, "i");
    cr_assert_eq(((int32_t *)b.data)[1], -8);
    pyt_assert_ok(pys_buffer_release(&b));

    pys_obj m2 = pys_eval(rt, "memoryview(bytearray(48)).cast('d', (2, 3))");
    pyt_assert_ok(pys_buffer_get(m2, &b, PYS_BUF_READ));
    cr_assert_eq(b.ndim, 2);
    cr_assert_eq(b.shape[0], 2);
    cr_assert_eq(b.shape[1], 3);
    cr_assert_eq(b.strides[0], 24);
    cr_assert_eq(b.strides[1], 8);
    pyt_assert_ok(pys_buffer_release(&b));

    pys_obj strided = pys_eval(rt, "memoryview(bytearray(48)).cast('d')[::2]");
    pyt_assert_ok(pys_buffer_get(strided, &b, PYS_BUF_READ));
    cr_assert_eq(b.strides[0], 16);
    cr_assert_not(b.c_contiguous);
    pyt_assert_ok(pys_buffer_release(&b));
    cr_assert_eq(pys_buffer_get(strided, &b, PYS_BUF_C_CONTIGUOUS), PYS_E_VALUE);

    pys_obj s = pys_from_str(rt, "text");
    cr_assert_eq(pys_buffer_get(s, &b, PYS_BUF_READ), PYS_E_TYPE);
    cr_assert(strstr(pys_last_error()->message, "str"), "%s", pys_last_error()->message);
    cr_assert_eq(pys_buffer_get(a, &b, 0x40), PYS_E_ARG);
    cr_assert_eq(pys_buffer_get(a, NULL, 0), PYS_E_ARG);
    pys_obj all[] = {a, ai, m2, strided, s};
    for (size_t i = 0; i < 5; i++)
        pys_release(all[i]);
    cr_assert_eq(pys_buffer_get(s, &b, PYS_BUF_READ), PYS_E_HANDLE);
}

PYS_TEST(bufview, scopes_and_close_end_exports)
{
    size_t before = pys_handle_count(rt);
    pys_obj ba = pys_eval(rt, "bytearray(8)");
    bind(rt, "ba2", ba);
    pys_buffer b;
    pyt_assert_ok(pys_scope_begin(rt));
    pyt_assert_ok(pys_buffer_get(ba, &b, PYS_BUF_READ));
    pyt_assert_ok(pys_scope_end(rt));
    cr_assert_eq(pys_buffer_release(&b), PYS_E_HANDLE, "the scope ended the export");
    py_ok(rt, "ba2.extend(b'x')"); /* no export left */
    pys_release(ba);
    cr_assert_eq(pys_handle_count(rt), before);
    /* One left open is ended by pys_close (checked by ASan/LSan). */
    pys_obj keep = pys_eval(rt, "bytearray(4)");
    pyt_assert_ok(pys_buffer_get(keep, &b, PYS_BUF_READ));
    pys_release(keep);
}

/* ---- numpy ------------------------------------------------------------------------------ */

PYS_TEST(numpy, views_both_ways)
{
    if (!have_numpy(rt))
        cr_skip_test("numpy is not installed for %s", pyt_name(py));
    pys_obj a = pys_eval(rt, "np.arange(6, dtype=np.float64).reshape(2, 3)");
    pys_buffer b;
    pyt_assert_ok(pys_buffer_get(a, &b, PYS_BUF_WRITABLE));
    cr_assert_str_eq(b.format, "d");
    cr_assert_eq(b.ndim, 2);
    cr_assert_eq(b.shape[1], 3);
    cr_assert_eq(b.strides[0], 24);
    cr_assert_eq(((double *)b.data)[4], 4.0);
    ((double *)b.data)[5] = 50;
    pyt_assert_ok(pys_buffer_release(&b));
    bind(rt, "a", a);
    py_ok(rt, "assert a[1, 2] == 50\nt = a.T\nro = np.ones(3)\nro.flags.writeable = False");
    pys_obj t = pys_eval(rt, "t");
    pyt_assert_ok(pys_buffer_get(t, &b, PYS_BUF_READ));
    cr_assert_eq(b.strides[0], 8);
    cr_assert_eq(b.strides[1], 24);
    cr_assert_not(b.c_contiguous);
    pyt_assert_ok(pys_buffer_release(&b));
    cr_assert_eq(pys_buffer_get(t, &b, PYS_BUF_C_CONTIGUOUS), PYS_E_VALUE);
    pys_obj ro = pys_eval(rt, "ro");
    cr_assert_eq(pys_buffer_get(ro, &b, PYS_BUF_WRITABLE), PYS_E_VALUE);
    cr_assert(strstr(pys_last_error()->message, "read-only"), "%s", pys_last_error()->message);

    /* C memory to numpy without a copy, both directions of writes. */
    double d[4] = {1, 2, 3, 4};
    pys_obj mv = pys_memoryview(rt, d, sizeof d, "d", NULL, 0, false);
    bind(rt, "mv", mv);
    py_ok(rt, "x = np.asarray(mv)\n"
              "assert x.dtype == np.float64 and x.shape == (4,)\n"
              "x *= 10\n"
              "y = np.frombuffer(mv, dtype=np.float64)\n"
              "assert y[3] == 40.0\n"
              "del x, y, mv");
    cr_assert_eq(d[3], 40.0);
    pys_release(mv);

    if (!(py->major == 3 && py->minor == 8)) {
        static double e[2] = {5, 6};
        int one = 1;
        released = 0;
        pys_memview_desc desc = {.data = e, .len = sizeof e, .format = "d",
                                 .release = on_release, .release_ud = &one};
        pys_obj mv2 = pys_memoryview_ex(rt, &desc);
        pyt_assert_h(mv2);
        bind(rt, "mv2", mv2);
        py_ok(rt, "arr = np.asarray(mv2)\ndel mv2");
        pys_release(mv2);
        cr_assert_eq(released, 0, "the numpy array still uses the memory");
        py_ok(rt, "assert arr.sum() == 11.0\ndel arr");
        cr_assert_eq(released, 1);
    }
    pys_release(a);
    pys_release(t);
    pys_release(ro);
}

PYS_TEST(numpy, bulk_reads)
{
    if (!have_numpy(rt))
        cr_skip_test("numpy is not installed for %s", pyt_name(py));
    double d[6];
    int32_t i32[6];
    size_t n = 0;
    pys_obj f32 = pys_eval(rt, "np.array([[1.5, 2.5, 3.5], [4, 5, 6]], dtype=np.float32)");
    pyt_assert_ok(pys_to_doubles(f32, d, 6, &n));
    cr_assert_eq(n, 6);
    cr_assert_eq(d[2], 3.5);
    cr_assert_eq(d[5], 6.0);
    pys_obj tr = pys_eval(rt, "np.arange(6, dtype=np.int64).reshape(2, 3).T");
    pyt_assert_ok(pys_to_int32s(tr, i32, 6, &n));
    int32_t want[6] = {0, 3, 1, 4, 2, 5}; /* C order of the transposed view */
    cr_assert_eq(memcmp(i32, want, sizeof want), 0);
    pys_obj be = pys_eval(rt, "np.array([1, -2, 300], dtype='>i4')");
    int64_t i64[3];
    pyt_assert_ok(pys_to_int64s(be, i64, 3, &n));
    cr_assert_eq(i64[1], -2);
    cr_assert_eq(i64[2], 300);
    pys_obj big = pys_eval(rt, "np.array([1, 2**40], dtype=np.int64)");
    cr_assert_eq(pys_to_int32s(big, i32, 6, &n), PYS_E_OVERFLOW);
    cr_assert(strstr(pys_last_error()->message, "item 1"), "%s", pys_last_error()->message);
    cr_assert_eq(pys_to_int64s(f32, i64, 6, &n), PYS_E_TYPE, "floats are not truncated");
    pys_obj scalars = pys_eval(rt, "[np.int64(3), np.float64(2.5)]");
    pyt_assert_ok(pys_to_doubles(scalars, d, 6, &n));
    cr_assert_eq(d[0], 3.0);
    cr_assert_eq(d[1], 2.5);
    pys_obj zero_d = pys_eval(rt, "np.array(1.0)");
    cr_assert_eq(pys_to_doubles(zero_d, d, 6, &n), PYS_E_TYPE);
    pys_obj all[] = {f32, tr, be, big, scalars, zero_d};
    for (size_t i = 0; i < 6; i++)
        pys_release(all[i]);
}

/* ---- bulk arrays --------------------------------------------------------------------------- */

PYS_TEST(bulk, floats_and_int32s_both_ways)
{
    float f[3] = {0.5f, -1.25f, 3e38f};
    int32_t i[3] = {INT32_MIN, 0, INT32_MAX};
    pys_obj lf = pys_list_from_floats(rt, f, 3);
    pys_obj li = pys_list_from_int32s(rt, i, 3);
    bind(rt, "lf", lf);
    bind(rt, "li", li);
    py_ok(rt, "assert type(lf) is list and lf[:2] == [0.5, -1.25]\n"
              "assert li == [-2**31, 0, 2**31 - 1]");
    float fb[3];
    int32_t ib[3];
    size_t n = 0;
    pyt_assert_ok(pys_to_floats(lf, fb, 3, &n));
    cr_assert_eq(memcmp(fb, f, sizeof f), 0);
    pyt_assert_ok(pys_to_int32s(li, ib, 3, &n));
    cr_assert_eq(memcmp(ib, i, sizeof i), 0);

    double dd[2] = {1, 2};
    int64_t qq[2] = {INT64_MIN, 5};
    pys_obj t[4] = {pys_tuple_from_doubles(rt, dd, 2), pys_tuple_from_floats(rt, f, 2),
                    pys_tuple_from_int64s(rt, qq, 2), pys_tuple_from_int32s(rt, i, 2)};
    bind(rt, "td", t[0]);
    bind(rt, "tf", t[1]);
    bind(rt, "tq", t[2]);
    bind(rt, "ti", t[3]);
    py_ok(rt, "assert td == (1.0, 2.0) and tf == (0.5, -1.25)\n"
              "assert tq == (-2**63, 5) and ti == (-2**31, 0)");
    int64_t qb[2];
    pyt_assert_ok(pys_to_array(t[2], PYS_ELEM_INT64, qb, 2, &n));
    cr_assert_eq(qb[0], INT64_MIN);
    pys_obj g = pys_list_from_array(rt, PYS_ELEM_INT32, i, 3);
    pyt_assert_h(g);
    cr_assert(!pys_ok(pys_list_from_array(rt, (pys_elem)9, i, 3)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert_eq(pys_to_array(g, (pys_elem)-1, ib, 3, &n), PYS_E_ARG);
    for (size_t k = 0; k < 4; k++)
        pys_release(t[k]);
    pys_release(g);
    pys_release(lf);
    pys_release(li);
}

PYS_TEST(bulk, errors_name_the_index)
{
    int32_t ib[4];
    float fb[4];
    int64_t qb[4];
    size_t n = 0;
    pys_obj over = pys_eval(rt, "[1, 2, 2**31]");
    cr_assert_eq(pys_to_int32s(over, ib, 4, &n), PYS_E_OVERFLOW);
    cr_assert(strstr(pys_last_error()->message, "item 2"), "%s", pys_last_error()->message);
    cr_assert(strstr(pys_last_error()->message, "int32_t"), "%s", pys_last_error()->message);
    pys_obj under = pys_eval(rt, "(0, -2**31 - 1)");
    cr_assert_eq(pys_to_int32s(under, ib, 4, &n), PYS_E_OVERFLOW);
    cr_assert(strstr(pys_last_error()->message, "item 1"), "%s", pys_last_error()->message);
    pys_obj bad = pys_eval(rt, "[1, 'two', 3]");
    cr_assert_eq(pys_to_int32s(bad, ib, 4, &n), PYS_E_TYPE);
    cr_assert(strstr(pys_last_error()->message, "item 1: expected an int, got str"), "%s",
              pys_last_error()->message);
    cr_assert_eq(pys_to_floats(bad, fb, 4, &n), PYS_E_TYPE);
    cr_assert(strstr(pys_last_error()->message, "item 1: expected a number, got str"), "%s",
              pys_last_error()->message);
    pys_obj flt = pys_eval(rt, "[1, 2.0]");
    cr_assert_eq(pys_to_int32s(flt, ib, 4, &n), PYS_E_TYPE, "2.0 is not an int");
    cr_assert(strstr(pys_last_error()->message, "item 1"), "%s", pys_last_error()->message);
    pys_obj huge = pys_eval(rt, "[0.0, 1e300]");
    cr_assert_eq(pys_to_floats(huge, fb, 4, &n), PYS_E_OVERFLOW);
    cr_assert(strstr(pys_last_error()->message, "item 1"), "%s", pys_last_error()->message);
    pys_obj inf = pys_eval(rt, "[float('inf'), float('nan')]");
    pyt_assert_ok(pys_to_floats(inf, fb, 4, &n));
    cr_assert(isinf(fb[0]) && isnan(fb[1]));
    pys_obj bools = pys_eval(rt, "[True, False]");
    pyt_assert_ok(pys_to_int32s(bools, ib, 4, &n));
    cr_assert_eq(ib[0], 1);
    pys_obj bigint = pys_eval(rt, "[10**400]");
    cr_assert_eq(pys_to_floats(bigint, fb, 4, &n), PYS_E_OVERFLOW);
    cr_assert_eq(pys_to_int64s(bigint, qb, 4, &n), PYS_E_OVERFLOW);
    pys_obj d = pys_dict_new(rt);
    cr_assert_eq(pys_to_int32s(d, ib, 4, &n), PYS_E_TYPE);
    pys_obj all[] = {over, under, bad, flt, huge, inf, bools, bigint, d};
    for (size_t k = 0; k < 9; k++)
        pys_release(all[k]);
}

PYS_TEST(bulk, reads_buffer_exporters)
{
    double d[8];
    int32_t ib[8];
    int64_t qb[8];
    size_t n = 0;
    pys_obj ad = pys_eval(rt, "__import__('array').array('d', [1.0, 2.5])");
    pyt_assert_ok(pys_to_doubles(ad, d, 8, &n));
    cr_assert_eq(n, 2);
    cr_assert_eq(d[1], 2.5);
    cr_assert_eq(pys_to_int64s(ad, qb, 8, &n), PYS_E_TYPE);
    cr_assert(strstr(pys_last_error()->message, "item 0"), "%s", pys_last_error()->message);
    pys_obj aq = pys_eval(rt, "__import__('array').array('q', [5, 2**40, 7])");
    cr_assert_eq(pys_to_int32s(aq, ib, 8, &n), PYS_E_OVERFLOW);
    cr_assert(strstr(pys_last_error()->message, "item 1"), "%s", pys_last_error()->message);
    pyt_assert_ok(pys_to_doubles(aq, d, 8, &n));
    cr_assert_eq(d[1], 1099511627776.0);
    pys_obj au = pys_eval(rt, "__import__('array').array('Q', [2**64 - 1])");
    cr_assert_eq(pys_to_int64s(au, qb, 8, &n), PYS_E_OVERFLOW);
    pys_obj ah = pys_eval(rt, "__import__('array').array('H', [1, 65535])");
    pyt_assert_ok(pys_to_int32s(ah, ib, 8, &n));
    cr_assert_eq(ib[1], 65535);
    pys_obj by = pys_from_bytes(rt, "\x01\xff", 2);
    pyt_assert_ok(pys_to_int64s(by, qb, 8, &n));
    cr_assert_eq(qb[1], 255);
    pys_obj strided = pys_eval(rt, "memoryview(__import__('array').array('i', range(6)))[::-2]");
    pyt_assert_ok(pys_to_int32s(strided, ib, 8, &n));
    cr_assert_eq(n, 3);
    cr_assert_eq(ib[0], 5);
    cr_assert_eq(ib[2], 1);
    pys_obj m2 = pys_eval(rt, "memoryview(__import__('array').array('f', [1, 2, 3, 4])).cast('B').cast('f', (2, 2))");
    float fb[8];
    pyt_assert_ok(pys_to_floats(m2, fb, 8, &n));
    cr_assert_eq(n, 4);
    cr_assert_eq(fb[3], 4.0f);
    cr_assert_eq(pys_to_floats(m2, fb, 3, &n), PYS_E_OVERFLOW);
    cr_assert_eq(n, 4);
    /* A C array round trip through a zero-copy view. */
    double src[3] = {7, 8, 9};
    pys_obj mv = pys_memoryview(rt, src, sizeof src, "d", NULL, 0, true);
    pyt_assert_ok(pys_to_doubles(mv, d, 8, &n));
    cr_assert_eq(d[2], 9);
    pys_obj all[] = {ad, aq, au, ah, by, strided, m2, mv};
    for (size_t k = 0; k < 8; k++)
        pys_release(all[k]);
}

/* Every element type as pyshim_buffer.h documents it: C size, the buffer
 * format read as is, the name errors use, and its range (integer types) or
 * largest finite value (float types). A new pys_elem gets a row here. */
static const struct elem_row {
    pys_elem t;
    size_t size;
    const char *fmt, *swapped; /* native, and the other byte order */
    const char *name;
    bool real;
    const char *lo, *hi; /* as Python expressions */
} elem_rows[] = {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define OTHER "<"
#else
#define OTHER ">"
#endif
    {PYS_ELEM_DOUBLE, sizeof(double), "d", OTHER "d", "double", true, "-1.7976931348623157e308",
     "1.7976931348623157e308"},
    {PYS_ELEM_FLOAT, sizeof(float), "f", OTHER "f", "float", true, "-3.4028234663852886e38",
     "3.4028234663852886e38"},
    {PYS_ELEM_INT64, sizeof(int64_t), "q", OTHER "q", "int64_t", false, "-2**63", "2**63 - 1"},
    {PYS_ELEM_INT32, sizeof(int32_t), "i", OTHER "i", "int32_t", false, "-2**31", "2**31 - 1"},
#undef OTHER
};
#define N_ELEM_ROWS (sizeof elem_rows / sizeof *elem_rows)

/* Evaluates a Python expression made with printf-style arguments. */
static pys_obj evalf(pys_runtime *rt, const char *fmt, const char *a, const char *b)
{
    char src[256];
    snprintf(src, sizeof src, fmt, a, b);
    pys_obj o = pys_eval(rt, src);
    cr_assert(pys_ok(o), "%s: %s", src, pys_last_error()->message);
    return o;
}

PYS_TEST(bulk, every_elem_type_round_trips_and_keeps_its_range)
{
    for (size_t r = 0; r < N_ELEM_ROWS; r++) {
        const struct elem_row *e = &elem_rows[r];
        unsigned char raw[4 * 8], back[4 * 8], swapped[4 * 8];
        size_t n = 0;
        /* Python values -> C: the ends of the range, and zero. */
        pys_obj src = evalf(rt, "[%s, 0, %s, 1]", e->lo, e->hi);
        pyt_assert_ok(pys_to_array(src, e->t, raw, 4, &n));
        cr_assert_eq(n, 4, "%s", e->name);
        /* C -> list and tuple, and back. */
        pys_obj l = pys_list_from_array(rt, e->t, raw, 4), t = pys_tuple_from_array(rt, e->t, raw, 4);
        pyt_assert_h(l);
        pyt_assert_h(t);
        bind(rt, "src", src);
        bind(rt, "l", l);
        bind(rt, "t", t);
        py_ok(rt, e->real ? "assert type(l) is list and all(type(x) is float for x in l)\n"
                            "assert tuple(l) == t and l[1] == 0.0 and l[3] == 1.0"
                          : "assert l == src and tuple(src) == t and type(l[0]) is int");
        memset(back, 0, sizeof back);
        pyt_assert_ok(pys_to_array(t, e->t, back, 4, &n));
        cr_assert_eq(memcmp(raw, back, 4 * e->size), 0, "%s", e->name);
        /* A buffer of the type's own format (one memcpy), and the same
         * values byte-swapped (read element by element). */
        pys_obj mv = pys_memoryview(rt, raw, 4 * e->size, e->fmt, NULL, 0, true);
        memset(back, 0, sizeof back);
        pyt_assert_ok(pys_to_array(mv, e->t, back, 4, &n));
        cr_assert_eq(memcmp(raw, back, 4 * e->size), 0, "%s", e->name);
        for (size_t i = 0; i < 4; i++)
            for (size_t k = 0; k < e->size; k++)
                swapped[i * e->size + k] = raw[i * e->size + e->size - 1 - k];
        pys_obj sw = pys_memoryview(rt, swapped, 4 * e->size, e->swapped, NULL, 0, true);
        memset(back, 0, sizeof back);
        pyt_assert_ok(pys_to_array(sw, e->t, back, 4, &n));
        cr_assert_eq(memcmp(raw, back, 4 * e->size), 0, "%s", e->name);
        /* Just past either end does not fit, and the error names the type
         * (float types: beyond the largest finite value; a double has none
         * past its own). */
        const char *past[2] = {e->real ? "[0.0, (%s) * 2.0]" : "[0, (%s) - 1]",
                               e->real ? "[0.0, (%s) * 2.0]" : "[0, (%s) + 1]"};
        for (int end = 0; end < 2; end++) {
            if (e->real && e->size == sizeof(double))
                break;
            pys_obj o = evalf(rt, past[end], end ? e->hi : e->lo, NULL);
            cr_assert_eq(pys_to_array(o, e->t, back, 4, &n), PYS_E_OVERFLOW, "%s %d", e->name, end);
            cr_assert(strstr(pys_last_error()->message, "item 1: "), "%s", pys_last_error()->message);
            cr_assert(strstr(pys_last_error()->message, e->name), "%s", pys_last_error()->message);
            pys_release(o);
        }
        pys_obj all[] = {src, l, t, mv, sw};
        for (size_t k = 0; k < 5; k++)
            pys_release(all[k]);
    }
    /* The value after the last type is none. */
    double d[1] = {0};
    size_t n = 0;
    cr_assert(!pys_ok(pys_list_from_array(rt, (pys_elem)N_ELEM_ROWS, d, 1)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    pys_obj l = pys_list_from_array(rt, PYS_ELEM_DOUBLE, d, 1);
    cr_assert_eq(pys_to_array(l, (pys_elem)N_ELEM_ROWS, d, 1, &n), PYS_E_ARG);
    pys_release(l);
}

PYS_TEST(bulk, large_round_trip)
{
    enum { N = 100000 };
    double *v = malloc(N * sizeof *v), *back = malloc(N * sizeof *back);
    cr_assert(v && back);
    for (size_t i = 0; i < N; i++)
        v[i] = (double)i * 0.5;
    size_t before = pys_handle_count(rt);
    pys_obj l = pys_list_from_doubles(rt, v, N);
    cr_assert_eq(pys_handle_count(rt), before + 1, "one handle, not one per element");
    size_t n = 0;
    pyt_assert_ok(pys_to_doubles(l, back, N, &n));
    cr_assert_eq(n, N);
    cr_assert_eq(memcmp(v, back, N * sizeof *v), 0);
    pys_release(l);
    free(v);
    free(back);
}
