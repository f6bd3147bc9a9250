/* The FFI face (pyshim_ffi.h): open from key/value strings, status after
 * every call, value reads, strings with NULs into caller buffers, calls
 * and builds from typed arrays, errors by field and as JSON, host
 * callbacks (0 is an error; GIL release; owner-thread delivery with
 * pys_bridge_pump). Every PYS_TEST runs once per supported Python found. */
#include <cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pyshim_ffi.h"
#include "pyshim_test.h"

static void run(pys_runtime *rt, const char *src)
{
    int rc = pys_ffi_exec(rt, src);
    char msg[512];
    pys_ffi_error_message(msg, sizeof msg);
    cr_assert_eq(rc, PYS_FFI_OK, "exec failed: %s: %s\n--- source:\n%s", pys_err_name(rc), msg,
                 src);
}

static int64_t eval_i64(pys_runtime *rt, const char *expr)
{
    uint64_t o = pys_ffi_eval(rt, expr);
    cr_assert_neq(o, 0, "eval %s: %s", expr, pys_last_error()->message);
    int64_t v = pys_ffi_int64(o);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_OK, "%s: not an int64", expr);
    pys_ffi_release(o);
    return v;
}

static const char *eval_text(pys_runtime *rt, const char *expr)
{
    static char buf[4096];
    uint64_t o = pys_ffi_eval(rt, expr);
    cr_assert_neq(o, 0, "eval %s: %s", expr, pys_last_error()->message);
    int64_t n = pys_ffi_text_read(o, buf, sizeof buf);
    cr_assert(n >= 0 && n < (int64_t)sizeof buf);
    pys_ffi_release(o);
    return buf;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- basics ---------------------------------------------------------------------- */

Test(ffi, abi_version)
{
    cr_assert_eq(pys_ffi_abi_version(), PYS_FFI_ABI_VERSION);
}

PYS_TEST_NOOPEN(ffi, open_key_value)
{
    const char *keys[] = {"library_path", "argv", "argv", "ignore_environment"};
    const char *vals[] = {py->path, "prog", "x\xc3\xa9", "1"};
    pys_runtime *rt = pys_ffi_open(keys, vals, 4);
    cr_assert_not_null(rt, "pys_ffi_open: %s", pys_last_error()->message);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_OK);
    cr_assert_str_eq(eval_text(rt, "repr(__import__('sys').argv)"), "['prog', 'xé']");
    cr_assert_eq(pys_ffi_close(rt), PYS_FFI_OK);

    const char *bad_keys[] = {"library_path", "no_such_option"};
    const char *bad_vals[] = {py->path, "1"};
    cr_assert_null(pys_ffi_open(bad_keys, bad_vals, 2));
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_ARG);
    char msg[256];
    pys_ffi_error_message(msg, sizeof msg);
    cr_assert(strstr(msg, "no_such_option"), "%s", msg);

    const char *flag_keys[] = {"library_path", "skip_finalize"};
    const char *flag_vals[] = {py->path, "maybe"};
    cr_assert_null(pys_ffi_open(flag_keys, flag_vals, 2));
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_ARG);
    /* Nothing was opened by the failures: a real open works. */
    rt = pys_ffi_open(keys, vals, 1);
    cr_assert_not_null(rt, "%s", pys_last_error()->message);
    cr_assert_eq(pys_ffi_close(rt), PYS_FFI_OK);
}

PYS_TEST(ffi, status_and_reads)
{
    uint64_t big = pys_ffi_eval(rt, "2**70");
    cr_assert_neq(big, 0);
    cr_assert_eq(pys_ffi_int64(big), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_OVERFLOW);
    uint64_t s = pys_ffi_from_str(rt, "x");
    cr_assert_eq(pys_ffi_status(), PYS_FFI_OK, "a success resets the status");
    cr_assert_eq(pys_ffi_double(s), 0.0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_TYPE);
    uint64_t zero = pys_ffi_from_int64(rt, 0);
    cr_assert_eq(pys_ffi_int64(zero), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_OK, "0 read from 0 is no error");
    uint64_t f = pys_ffi_from_double(rt, 2.5);
    cr_assert_eq(pys_ffi_double(f), 2.5);
    uint64_t u = pys_ffi_from_uint64(rt, UINT64_MAX);
    cr_assert_eq(pys_ffi_uint64(u), UINT64_MAX);
    uint64_t t = pys_ffi_from_bool(rt, 7);
    cr_assert_eq(pys_ffi_bool(t), 1);
    uint64_t l = pys_ffi_eval(rt, "[1, 2, 3]");
    cr_assert_eq(pys_ffi_len(l), 3);
    cr_assert_eq(pys_ffi_len(f), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_TYPE);
    /* A stale handle is PYS_FFI_E_HANDLE, never a crash. */
    cr_assert_eq(pys_ffi_release(l), PYS_FFI_OK);
    cr_assert_eq(pys_ffi_len(l), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_HANDLE);
    cr_assert_eq(pys_ffi_getattr(l, "x"), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_HANDLE);
    /* Every id is below 2^53. */
    cr_assert_lt(big, UINT64_C(1) << 53);
    uint64_t hs[] = {big, s, zero, f, u, t};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        cr_assert_eq(pys_ffi_release(hs[i]), PYS_FFI_OK);
}

/* pys_ffi_call0..3 give what pys_ffi_call gives with the same handles in
 * an array: values, Python errors, bad handles (0, stale, in any place),
 * and after close. */
PYS_TEST(ffi, call_n_as_call_with_array)
{
    uint64_t f = pys_ffi_eval(rt, "lambda *a: repr(a)");
    uint64_t args[3] = {pys_ffi_from_int64(rt, 7), pys_ffi_from_str(rt, "x"),
                        pys_ffi_eval(rt, "None")};
    for (size_t n = 0; n <= 3; n++) {
        uint64_t want = pys_ffi_call(f, args, n);
        cr_assert_neq(want, 0);
        uint64_t got = n == 0   ? pys_ffi_call0(f)
                       : n == 1 ? pys_ffi_call1(f, args[0])
                       : n == 2 ? pys_ffi_call2(f, args[0], args[1])
                                : pys_ffi_call3(f, args[0], args[1], args[2]);
        cr_assert_neq(got, 0, "call%zu: %s", n, pys_last_error()->message);
        cr_assert_eq(pys_ffi_status(), PYS_FFI_OK);
        char a[64] = {0}, b[64] = {0};
        cr_assert_gt(pys_ffi_str_read(want, a, sizeof a - 1), 0);
        cr_assert_gt(pys_ffi_str_read(got, b, sizeof b - 1), 0);
        cr_assert_str_eq(a, b, "call%zu", n);
        pys_ffi_release(want);
        pys_ffi_release(got);
    }
    /* A raising call: the same status and exception type. */
    uint64_t boom = pys_ffi_eval(rt, "lambda *a: 1 / 0");
    cr_assert_eq(pys_ffi_call(boom, args, 2), 0);
    int32_t st = pys_ffi_status();
    cr_assert_eq(pys_ffi_call2(boom, args[0], args[1]), 0);
    cr_assert_eq(pys_ffi_status(), st);
    cr_assert_str_eq(pys_last_error()->type, "ZeroDivisionError");
    /* Bad handles in each place: PYS_FFI_E_HANDLE, as from the array call. */
    uint64_t stale = pys_ffi_from_int64(rt, 1);
    pys_ffi_release(stale);
    cr_assert_eq(pys_ffi_call0(0), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_HANDLE);
    cr_assert_eq(pys_ffi_call1(f, stale), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_HANDLE);
    cr_assert_eq(pys_ffi_call2(f, args[0], stale), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_HANDLE);
    cr_assert_eq(pys_ffi_call3(f, args[0], args[1], 0), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_HANDLE);
    cr_assert_eq(pys_ffi_call3(stale, args[0], args[1], args[2]), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_HANDLE);
    /* A success after the failures resets the status. */
    uint64_t ok = pys_ffi_call1(f, args[0]);
    cr_assert_neq(ok, 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_OK);
    cr_assert_eq(pys_ffi_release(ok), PYS_FFI_OK);
    for (size_t i = 0; i < 3; i++)
        pys_ffi_release(args[i]);
    pys_ffi_release(boom);
    pys_ffi_release(f);
}

PYS_TEST_NOOPEN(ffi, call_n_after_close)
{
    pys_runtime *rt = pyt_open(py);
    uint64_t f = pys_ffi_eval(rt, "len");
    uint64_t l = pys_ffi_eval(rt, "[1]");
    pyt_close(rt);
    cr_assert_eq(pys_ffi_call1(f, l), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_CLOSED);
    cr_assert_eq(pys_ffi_call0(f), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_CLOSED);
}

PYS_TEST(ffi, strings_with_nul)
{
    static const char text[] = "a\0b\xc3\xa9\xe2\x82\xac"; /* a NUL b é € */
    size_t n = sizeof text - 1;
    uint64_t o = pys_ffi_from_strn(rt, text, n);
    cr_assert_neq(o, 0);
    char buf[64];
    memset(buf, 'X', sizeof buf);
    cr_assert_eq(pys_ffi_str_read(o, buf, sizeof buf), (int64_t)n);
    cr_assert_eq(memcmp(buf, text, n), 0);
    cr_assert_eq(buf[n], '\0');
    /* Too small: the full length, cap bytes copied, nothing beyond. */
    memset(buf, 'X', sizeof buf);
    cr_assert_eq(pys_ffi_str_read(o, buf, 3), (int64_t)n);
    cr_assert_eq(memcmp(buf, text, 3), 0);
    cr_assert_eq(buf[3], 'X');
    cr_assert_eq(pys_ffi_str_read(o, NULL, 0), (int64_t)n);
    uint64_t len = pys_ffi_call(pys_ffi_eval(rt, "len"), &o, 1);
    cr_assert_eq(pys_ffi_int64(len), 5, "a, NUL, b, é, €");
    /* bytes keep NULs too; a str read of bytes is PYS_FFI_E_TYPE. */
    uint64_t b = pys_ffi_from_bytes(rt, "\0\1\0", 3);
    cr_assert_eq(pys_ffi_bytes_read(b, buf, sizeof buf), 3);
    cr_assert_eq(memcmp(buf, "\0\1\0", 3), 0);
    cr_assert_eq(pys_ffi_str_read(b, buf, sizeof buf), PYS_FFI_E_TYPE);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_TYPE);
    /* str() of anything, and malloc'd copies freed with pys_ffi_free. */
    cr_assert_eq(pys_ffi_text_read(b, buf, sizeof buf), 15);
    cr_assert_eq(memcmp(buf, "b'\\x00\\x01\\x00'", 15), 0);
    size_t cn = 0;
    char *copy = pys_ffi_str_copy(o, &cn);
    cr_assert_eq(cn, n);
    cr_assert_eq(memcmp(copy, text, n), 0);
    pys_ffi_free(copy);
}

/* ---- calls with typed arrays ------------------------------------------------------ */

/* pys_ffi_format_codes names exactly the letters the format reader takes
 * from each array: every such letter builds a value from one value of its
 * array and is refused with the value in any other array; every other
 * letter but 'n' (no value) is refused whatever the arrays hold. */
PYS_TEST(ffi, format_codes_name_each_arrays_letters)
{
    const char *arr[4];
    for (int32_t a = 0; a < 4; a++) {
        arr[a] = pys_ffi_format_codes(a);
        cr_assert(arr[a] && *arr[a], "array %d has letters", (int)a);
    }
    cr_assert_str_eq(pys_ffi_format_codes(-1), "");
    cr_assert_str_eq(pys_ffi_format_codes(4), "");
    cr_assert(strchr(arr[PYS_FFI_ARRAY_INTS], 'q') && strchr(arr[PYS_FFI_ARRAY_INTS], 'I'));
    cr_assert_str_eq(arr[PYS_FFI_ARRAY_DBLS], "d");
    uint64_t obj = pys_ffi_from_int64(rt, 1);
    int64_t iv[] = {1};
    double dv[] = {0.5};
    const char *sv[] = {"x"};
    size_t lv[] = {1};
    for (int c = 'A'; c <= 'z'; c++) {
        if (c > 'Z' && c < 'a')
            continue;
        char fmt[2] = {(char)c, 0};
        int home = -1;
        for (int a = 0; a < 4; a++)
            if (strchr(arr[a], c))
                home = a;
        for (int a = 0; a < 4; a++) {
            /* N releases its handle: give it a fresh one each time. */
            uint64_t ov[] = {c == 'N' ? pys_ffi_dup(obj) : obj};
            uint64_t r = pys_ffi_buildv(rt, fmt, iv, a == PYS_FFI_ARRAY_INTS, dv,
                                        a == PYS_FFI_ARRAY_DBLS, sv, lv, a == PYS_FFI_ARRAY_STRS,
                                        ov, a == PYS_FFI_ARRAY_OBJS);
            if (a == home) {
                cr_assert_neq(r, 0, "'%c' from array %d: %s", c, a, pys_last_error()->message);
                pys_ffi_release(r);
            } else {
                cr_assert_eq(r, 0, "'%c' with a value in array %d (its array: %d)", c, a, home);
                cr_assert_eq(pys_ffi_status(), PYS_FFI_E_ARG, "'%c', array %d", c, a);
                if (c == 'N' && a != PYS_FFI_ARRAY_OBJS)
                    pys_ffi_release(ov[0]);
            }
        }
        if (home < 0) {
            uint64_t r = pys_ffi_buildv(rt, fmt, NULL, 0, NULL, 0, NULL, NULL, 0, NULL, 0);
            cr_assert_eq(r != 0, c == 'n', "'%c' with no values", c);
            if (r)
                pys_ffi_release(r);
        }
    }
    pys_ffi_release(obj);
}

PYS_TEST(ffi, callv_typed_arrays)
{
    uint64_t gcd = pys_ffi_eval(rt, "__import__('math').gcd");
    int64_t ints[] = {84, 36};
    uint64_t r = pys_ffi_callv(gcd, "q q", ints, 2, NULL, 0, NULL, NULL, 0, NULL, 0);
    cr_assert_neq(r, 0, "%s", pys_last_error()->message);
    cr_assert_eq(pys_ffi_int64(r), 12);

    run(rt, "calls = []\ndef f(*a, **k):\n    calls.append(1)\n    return repr((a, k))\n");
    uint64_t f = pys_ffi_eval(rt, "f");
    int64_t iv[] = {-1, INT64_C(1) << 62, 1};
    double dv[] = {0.5};
    const char *sv[] = {"x\0y", "bytes"};
    size_t lv[] = {3, 5};
    uint64_t ov[] = {pys_ffi_from_int64(rt, 7)};
    r = pys_ffi_callv(f, "q Q d s y b O n key=i", (int64_t[]){-1, 5, 1, 2}, 4, dv, 1, sv, lv,
                      2, ov, 1);
    cr_assert_neq(r, 0, "%s", pys_last_error()->message);
    char buf[256];
    pys_ffi_str_read(r, buf, sizeof buf);
    cr_assert_str_eq(buf, "((-1, 5, 0.5, 'x\\x00y', b'bytes', True, 7, None), {'key': 2})");
    (void)iv;

    /* Too few or too many values: PYS_FFI_E_ARG and nothing is called. */
    cr_assert_eq(pys_ffi_callv(f, "q q", ints, 1, NULL, 0, NULL, NULL, 0, NULL, 0), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_ARG);
    cr_assert_eq(pys_ffi_callv(f, "q", ints, 2, NULL, 0, NULL, NULL, 0, NULL, 0), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_ARG);
    char msg[256];
    pys_ffi_error_message(msg, sizeof msg);
    cr_assert(strstr(msg, "uses 1 int"), "%s", msg);
    cr_assert_eq(pys_ffi_callv(f, "d", NULL, 0, NULL, 1, NULL, NULL, 0, NULL, 0), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_ARG);
    cr_assert_eq(pys_ffi_callv(f, "s#", NULL, 0, NULL, 0, sv, NULL, 1, NULL, 0), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_ARG);
    /* 'i' must fit an int: an overflow, not a wrap. */
    int64_t huge[] = {INT64_C(1) << 40};
    cr_assert_eq(pys_ffi_callv(f, "i", huge, 1, NULL, 0, NULL, NULL, 0, NULL, 0), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_OVERFLOW);
    /* 'I' must fit a uint32_t (0..4294967295), with a clear error. */
    int64_t u32[] = {INT64_C(4294967296), -1, INT64_C(4294967295)};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(pys_ffi_callv(f, "I", &u32[k], 1, NULL, 0, NULL, NULL, 0, NULL, 0), 0);
        cr_assert_eq(pys_ffi_status(), PYS_FFI_E_OVERFLOW);
        cr_assert(strstr(pys_last_error()->message, "does not fit in uint32_t ('I')"), "%s",
                  pys_last_error()->message);
    }
    cr_assert_eq(eval_i64(rt, "len(calls)"), 1, "no failed call reached Python");
    uint64_t umax = pys_ffi_buildv(rt, "I", &u32[2], 1, NULL, 0, NULL, NULL, 0, NULL, 0);
    cr_assert_neq(umax, 0, "%s", pys_last_error()->message);
    cr_assert_eq(pys_ffi_int64(umax), INT64_C(4294967295));
    pys_ffi_release(umax);

    /* 'N' handles are released even when the call fails. */
    size_t before = pys_ffi_handle_count(rt);
    uint64_t n1 = pys_ffi_from_int64(rt, 1);
    cr_assert_eq(pys_ffi_callv(f, "N q", NULL, 0, NULL, 0, NULL, NULL, 0, &n1, 1), 0);
    cr_assert_eq(pys_ffi_handle_count(rt), before);
    cr_assert_eq(pys_ffi_check(n1), PYS_FFI_E_HANDLE);

    /* A format of the callback's own runs while arrays were given: the
     * nested pys_callf reads its varargs (a plain C caller). */
    uint64_t d = pys_ffi_buildv(rt, "{s:q, s:[d d], s:s}", (int64_t[]){3}, 1,
                                (double[]){1.5, 2.5}, 2,
                                (const char *[]){"a", "b", "c", "\xc3\xa9"}, NULL, 4, NULL, 0);
    cr_assert_neq(d, 0, "%s", pys_last_error()->message);
    pys_ffi_text_read(d, buf, sizeof buf);
    cr_assert_str_eq(buf, "{'a': 3, 'b': [1.5, 2.5], 'c': 'é'}");
    uint64_t m = pys_ffi_call_methodv(d, "get", "s", NULL, 0, NULL, 0, (const char *[]){"a"},
                                      NULL, 1, NULL, 0);
    cr_assert_eq(pys_ffi_int64(m), 3);
    pys_ffi_release(d);
    pys_ffi_release(m);
    pys_ffi_release(r);
    pys_ffi_release(f);
    pys_ffi_release(gcd);
    pys_ffi_release(ov[0]);
}

PYS_TEST(ffi, errors_by_field_and_json)
{
    cr_assert_eq(pys_ffi_eval(rt, "1/0"), 0);
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_PYTHON);
    cr_assert_eq(pys_ffi_error_code(), PYS_FFI_E_PYTHON);
    char buf[4096];
    cr_assert_eq(pys_ffi_error_type(buf, sizeof buf), 17);
    cr_assert_str_eq(buf, "ZeroDivisionError");
    pys_ffi_error_message(buf, sizeof buf);
    cr_assert(strstr(buf, "division"), "%s", buf);
    pys_ffi_error_context(buf, sizeof buf);
    cr_assert_str_eq(buf, "pys_eval");
    cr_assert_gt(pys_ffi_error_traceback(buf, sizeof buf), 0);
    cr_assert(strstr(buf, "ZeroDivisionError"), "%s", buf);
    int64_t n = pys_ffi_error_json(NULL, 0);
    char *json = malloc((size_t)n + 1);
    cr_assert_eq(pys_ffi_error_json(json, (size_t)n + 1), n);
    cJSON *j = cJSON_Parse(json);
    cr_assert_not_null(j, "%s", json);
    cr_assert_eq(cJSON_GetObjectItem(j, "code")->valuedouble, PYS_FFI_E_PYTHON);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "name")->valuestring, "PYS_E_PYTHON");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "type")->valuestring, "ZeroDivisionError");
    cr_assert(strstr(cJSON_GetObjectItem(j, "traceback")->valuestring, "ZeroDivisionError"));
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(j, "searched")));
    cJSON_Delete(j);
    free(json);
    /* The status follows each call; the detail stays until the next failure. */
    uint64_t one = pys_ffi_eval(rt, "1");
    cr_assert_eq(pys_ffi_status(), PYS_FFI_OK);
    cr_assert_eq(pys_ffi_error_code(), PYS_FFI_E_PYTHON);
    pys_ffi_clear_error();
    cr_assert_eq(pys_ffi_error_code(), PYS_FFI_OK);
    cr_assert_eq(pys_ffi_exec(rt, "raise SystemExit(3)"), PYS_FFI_E_EXIT);
    cr_assert_eq(pys_ffi_error_exit_code(), 3);
    pys_ffi_release(one);
}

/* ---- host callbacks ---------------------------------------------------------------- */

static pys_runtime *g_rt;

/* ctx 1: sum of int arguments + kwargs["plus"]; ctx 2: return 0 with no
 * exception; ctx 3: return 0 after pys_ffi_fail; ctx 4: return 0 after a
 * failed nested call (an AttributeError). */
static uint64_t host_fn(uint64_t ctx, const uint64_t *args, size_t nargs, uint64_t kwargs)
{
    switch (ctx) {
    case 1: {
        int64_t sum = 0;
        for (size_t i = 0; i < nargs; i++)
            sum += pys_ffi_int64(args[i]);
        if (kwargs) {
            uint64_t p = pys_ffi_getitem_str(kwargs, "plus");
            sum += pys_ffi_int64(p);
            pys_ffi_release(p);
        }
        return pys_ffi_from_int64(g_rt, sum);
    }
    case 2:
        return 0;
    case 3:
        pys_ffi_fail("ValueError", "the host says no");
        return 0;
    case 4: {
        uint64_t leak_free = pys_ffi_from_int64(g_rt, 5);
        uint64_t bad = pys_ffi_getattr(args[0], "no_such_attribute");
        pys_ffi_release(leak_free);
        return bad;
    }
    }
    return 0;
}

static _Atomic int g_released;
static void host_release(uint64_t ctx)
{
    atomic_fetch_add(&g_released, (int)ctx);
}

PYS_TEST(ffi, callback_results_and_errors)
{
    g_rt = rt;
    g_released = 0;
    cr_assert_eq(pys_ffi_register(rt, "add", host_fn, 1, 0, host_release), PYS_FFI_OK);
    cr_assert_eq(pys_ffi_register(rt, "zero", host_fn, 2, 0, NULL), PYS_FFI_OK);
    cr_assert_eq(pys_ffi_register(rt, "refuse", host_fn, 3, 0, NULL), PYS_FFI_OK);
    cr_assert_eq(pys_ffi_register(rt, "nested", host_fn, 4, 0, NULL), PYS_FFI_OK);
    cr_assert_eq(pys_ffi_register(rt, "bad", host_fn, 1, 8, host_release), PYS_FFI_E_ARG);
    cr_assert_eq(eval_i64(rt, "__import__('c_bridge').add(1, 2, plus=39)"), 42);
    size_t before = pys_ffi_handle_count(rt);
    run(rt, "import c_bridge\n"
            "def kind(f):\n"
            "    try:\n"
            "        f(1)\n"
            "    except BaseException as e:\n"
            "        return type(e).__name__ + ': ' + str(e)\n"
            "    return 'no error'\n"
            "r = [kind(c_bridge.zero), kind(c_bridge.refuse), kind(c_bridge.nested)]\n"
            "for i in range(200):\n"
            "    kind(c_bridge.zero); kind(c_bridge.refuse); kind(c_bridge.nested)\n");
    const char *r = eval_text(rt, "r[0]");
    cr_assert(strstr(r, "RuntimeError") && strstr(r, "zero"), "%s", r);
    cr_assert_str_eq(eval_text(rt, "r[1]"), "ValueError: the host says no");
    r = eval_text(rt, "r[2]");
    cr_assert(strstr(r, "AttributeError") && strstr(r, "no_such_attribute"), "%s", r);
    cr_assert_eq(pys_ffi_handle_count(rt), before, "a failing callback leaks no handle");
    cr_assert_eq(pys_ffi_fail("ValueError", "x"), PYS_FFI_E_STATE, "outside a host function");
    cr_assert_eq(pys_ffi_unregister(rt, "add"), PYS_FFI_OK);
    cr_assert_eq(g_released, 1);
}

/* RELEASE_GIL: the host function waits for a Python thread that needs the
 * GIL to make progress; its own pyshim calls still work. */
static _Atomic int g_progress;
static char g_tb[256];
static uint64_t waiting_fn(uint64_t ctx, const uint64_t *args, size_t nargs, uint64_t kwargs)
{
    /* A failed call and its traceback (formatting it runs Python). */
    if (pys_ffi_eval(g_rt, "1/0") == 0) {
        pys_ffi_error_traceback(g_tb, sizeof g_tb);
        char json[1024];
        pys_ffi_error_json(json, sizeof json);
    }
    double until = now_s() + 30;
    while (atomic_load(&g_progress) < 3 && now_s() < until) {
        uint64_t x = pys_ffi_from_int64(g_rt, 1); /* takes the GIL for itself */
        pys_ffi_release(x);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return pys_ffi_from_int64(g_rt, atomic_load(&g_progress));
}
static uint64_t tick_fn(uint64_t ctx, const uint64_t *args, size_t nargs, uint64_t kwargs)
{
    atomic_fetch_add(&g_progress, 1);
    return pys_ffi_none(g_rt);
}

PYS_TEST(ffi, callback_releases_gil)
{
    g_rt = rt;
    g_progress = 0;
    cr_assert_eq(pys_ffi_register(rt, "wait", waiting_fn, 0, PYS_FFI_RELEASE_GIL, NULL),
                 PYS_FFI_OK);
    cr_assert_eq(pys_ffi_register(rt, "tick", tick_fn, 0, 0, NULL), PYS_FFI_OK);
    run(rt, "import c_bridge, threading, time\n"
            "def ticker():\n"
            "    for i in range(3):\n"
            "        time.sleep(0.01)\n"
            "        c_bridge.tick()\n"
            "t = threading.Thread(target=ticker)\n"
            "t.start()\n"
            "seen = c_bridge.wait()\n"
            "t.join()\n");
    cr_assert_eq(eval_i64(rt, "seen"), 3, "the Python thread ran while the host waited");
    cr_assert(strstr(g_tb, "ZeroDivisionError"), "traceback read in the host: %s", g_tb);
}

/* OWNER_THREAD: Python threads call a host function while the owner is
 * busy elsewhere; the owner pumps, then joins them. */
static pthread_t g_owner;
static _Atomic int g_wrong_thread, g_calls;
static uint64_t owner_fn(uint64_t ctx, const uint64_t *args, size_t nargs, uint64_t kwargs)
{
    if (!pthread_equal(pthread_self(), g_owner))
        atomic_fetch_add(&g_wrong_thread, 1);
    atomic_fetch_add(&g_calls, 1);
    if (ctx == 3) {
        pys_ffi_fail("KeyError", "thrown on the owner");
        return 0;
    }
    int64_t v = nargs ? pys_ffi_int64(args[0]) : 0;
    return pys_ffi_from_int64(g_rt, v * 2);
}

PYS_TEST(ffi, owner_thread_pump)
{
    g_rt = rt;
    g_owner = pthread_self();
    g_wrong_thread = 0;
    g_calls = 0;
    cr_assert_eq(pys_ffi_register(rt, "double", owner_fn, 1, PYS_FFI_OWNER_THREAD, NULL),
                 PYS_FFI_OK);
    cr_assert_eq(pys_ffi_register(rt, "throws", owner_fn, 3, PYS_FFI_OWNER_THREAD, NULL),
                 PYS_FFI_OK);
    /* On the owner itself the call runs at once. */
    cr_assert_eq(eval_i64(rt, "__import__('c_bridge').double(21)"), 42);
    run(rt, "import c_bridge, threading\n"
            "out = []\n"
            "def worker(i):\n"
            "    out.append(c_bridge.double(i))\n"
            "    try:\n"
            "        c_bridge.throws()\n"
            "    except KeyError as e:\n"
            "        out.append('KeyError ' + str(e))\n"
            "ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]\n"
            "for t in ts: t.start()\n");
    /* The owner is busy (no pyshim call) for a while: the threads wait. */
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL);
    cr_assert_eq(g_calls, 1, "nothing ran off the owner thread");
    /* Python runs meanwhile: the waiting threads do not hold the GIL. */
    cr_assert_eq(eval_i64(rt, "sum(range(10))"), 45);
    double until = now_s() + 60;
    while (g_calls < 9 && now_s() < until)
        cr_assert_geq(pys_bridge_pump(rt, 100), 0);
    cr_assert_eq(g_calls, 9);
    run(rt, "for t in ts: t.join()\n");
    cr_assert_eq(g_wrong_thread, 0);
    cr_assert_str_eq(eval_text(rt, "sorted(x for x in out if isinstance(x, int))"),
                     "[0, 2, 4, 6]");
    cr_assert_eq(eval_i64(rt, "sum(1 for x in out if x == \"KeyError 'thrown on the owner'\")"),
                 4);
    cr_assert_eq(pys_bridge_pump(rt, 0), 0, "nothing left");
    cr_assert_eq(pys_bridge_pump(NULL, 0), PYS_FFI_E_ARG);
}

/* ---- notifications ------------------------------------------------------------------- */

static _Atomic int g_done_status = -1, g_done_calls;
static _Atomic uint64_t g_done_ctx;
static pthread_t g_done_thread;
static void done_fn(uint64_t ctx, int32_t status)
{
    g_done_ctx = ctx;
    g_done_status = status;
    g_done_thread = pthread_self();
    atomic_fetch_add(&g_done_calls, 1);
}

PYS_TEST(ffi, future_notifications)
{
    run(rt, "import asyncio\nasync def twice(x):\n    await asyncio.sleep(0.01)\n    return 2 * x\n");
    /* No flags: on the loop's thread, before wait returns. */
    g_done_calls = 0;
    pys_future *f = pys_ffi_run_async_notify(rt, "twice(4)", done_fn, 7, 0);
    cr_assert_not_null(f, "%s", pys_last_error()->message);
    cr_assert_eq(pys_ffi_future_wait(f, 60000), PYS_FFI_OK);
    cr_assert_eq(g_done_calls, 1);
    cr_assert_eq(g_done_ctx, 7);
    cr_assert_eq(g_done_status, PYS_FFI_FUTURE_FINISHED);
    cr_assert(!pthread_equal(g_done_thread, pthread_self()));
    uint64_t v = pys_ffi_future_result(f);
    cr_assert_eq(pys_ffi_int64(v), 8);
    pys_ffi_release(v);
    pys_ffi_future_free(f);

    /* Owner thread: only pys_bridge_pump delivers, on this thread. */
    g_done_calls = 0;
    g_done_status = -1;
    uint64_t fn = pys_ffi_eval(rt, "twice");
    uint64_t arg = pys_ffi_from_str(rt, "x");
    f = pys_ffi_call_async_notify(fn, &arg, 1, done_fn, 9, PYS_FFI_OWNER_THREAD);
    cr_assert_not_null(f, "%s", pys_last_error()->message);
    cr_assert_eq(pys_ffi_future_wait(f, 60000), PYS_FFI_OK);
    cr_assert_eq(g_done_calls, 0, "not delivered before the pump");
    double until = now_s() + 60;
    while (g_done_calls == 0 && now_s() < until)
        cr_assert_geq(pys_bridge_pump(rt, 100), 0);
    cr_assert_eq(g_done_calls, 1);
    cr_assert_eq(g_done_ctx, 9);
    cr_assert_eq(g_done_status, PYS_FFI_FUTURE_FINISHED);
    cr_assert(pthread_equal(g_done_thread, pthread_self()));
    char buf[16];
    uint64_t r = pys_ffi_future_result(f);
    cr_assert_eq(pys_ffi_str_read(r, buf, sizeof buf), 2);
    cr_assert_eq(memcmp(buf, "xx", 2), 0);
    pys_ffi_release(r);
    pys_ffi_future_free(f);

    /* A failing coroutine notifies FAILED; bad arguments never call back. */
    f = pys_ffi_run_async_notify(rt, "twice(None)", done_fn, 1, 0);
    cr_assert_not_null(f);
    cr_assert_eq(pys_ffi_future_wait(f, 60000), PYS_FFI_E_PYTHON);
    cr_assert_eq(g_done_status, PYS_FFI_FUTURE_FAILED);
    pys_ffi_future_free(f);
    g_done_calls = 0;
    cr_assert_null(pys_ffi_run_async_notify(rt, "twice(1)", done_fn, 1, 4));
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_ARG);
    cr_assert_null(pys_ffi_run_async_notify(rt, "42", done_fn, 1, 0));
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_TYPE);
    cr_assert_eq(g_done_calls, 0);
    pys_ffi_release(fn);
    pys_ffi_release(arg);
}

static _Atomic int g_log_lines;
static uint64_t g_log_ctx;
static void log_fn(uint64_t ctx, int32_t level, const char *msg, size_t len)
{
    g_log_ctx = ctx;
    if (len == strlen(msg) && level >= PYS_FFI_LOG_DEBUG && level <= PYS_FFI_LOG_ERROR)
        atomic_fetch_add(&g_log_lines, 1);
}

PYS_TEST_NOOPEN(ffi, open_logged)
{
    const char *keys[] = {"library_path"};
    const char *vals[] = {py->path};
    cr_assert_null(pys_ffi_open_logged(keys, vals, 1, log_fn, 5, PYS_FFI_RELEASE_GIL));
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_ARG);
    cr_assert_null(pys_ffi_open_logged(keys, vals, 1, NULL, 5, 0));
    cr_assert_eq(pys_ffi_status(), PYS_FFI_E_ARG);
    g_log_lines = 0;
    pys_runtime *rt = pys_ffi_open_logged(keys, vals, 1, log_fn, 5, PYS_FFI_OWNER_THREAD);
    cr_assert_not_null(rt, "%s", pys_last_error()->message);
    cr_assert_gt(g_log_lines, 0, "pys_open logs on the owner thread: delivered at once");
    cr_assert_eq(g_log_ctx, 5);
    cr_assert_eq(pys_ffi_close(rt), PYS_FFI_OK);
}
