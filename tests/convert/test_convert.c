/* Conversion tests: scalars (range checks), strings, bytes, JSON, bulk
 * arrays. Every PYS_TEST runs once per supported Python found. */
#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pyshim_test.h"

PYS_TEST(scalars, int64_round_trip_and_limits)
{
    int64_t vals[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1234567890123};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        pys_obj o = pys_from_int64(rt, vals[i]);
        int64_t back = 0;
        pyt_assert_ok(pys_to_int64(o, &back));
        cr_assert_eq(back, vals[i]);
        pys_release(o);
    }
    pys_obj big = pys_eval(rt, "2**63");
    int64_t v = 7;
    cr_assert_eq(pys_to_int64(big, &v), PYS_E_OVERFLOW);
    cr_assert_eq(v, 7, "out is untouched on failure");
    uint64_t u = 0;
    pyt_assert_ok(pys_to_uint64(big, &u));
    cr_assert_eq(u, 9223372036854775808ull);
    pys_obj neg = pys_eval(rt, "-1");
    cr_assert_eq(pys_to_uint64(neg, &u), PYS_E_OVERFLOW);
    pys_obj huge = pys_eval(rt, "2**64");
    cr_assert_eq(pys_to_uint64(huge, &u), PYS_E_OVERFLOW);
    pys_obj umax = pys_from_uint64(rt, UINT64_MAX);
    pyt_assert_ok(pys_to_uint64(umax, &u));
    cr_assert_eq(u, UINT64_MAX);
    int32_t i32 = 0;
    cr_assert_eq(pys_to_int32(umax, &i32), PYS_E_OVERFLOW);
    pys_obj small = pys_from_int64(rt, -2147483648LL);
    pyt_assert_ok(pys_to_int32(small, &i32));
    cr_assert_eq(i32, INT32_MIN);
    pys_obj over32 = pys_from_int64(rt, 2147483648LL);
    cr_assert_eq(pys_to_int32(over32, &i32), PYS_E_OVERFLOW);
    pys_obj all[] = {big, neg, huge, umax, small, over32};
    for (size_t i = 0; i < 6; i++)
        pys_release(all[i]);
}

/* Code I: a uint32_t, all of its range (the va_arg type is unsigned int). */
PYS_TEST(scalars, format_code_I_uint32)
{
    pys_obj l = pys_build(rt, "[I, I, I, q]", (uint32_t)0, (uint32_t)UINT32_MAX, (uint32_t)7,
                          (int64_t)-1);
    pyt_assert_h(l);
    pys_obj r = pys_repr(l);
    cr_assert_str_eq(pys_str_view(r, NULL), "[0, 4294967295, 7, -1]");
    pys_obj eq = pys_eval(rt, "lambda x, y=0: x == 4294967295 and y == 1");
    pys_obj t = pys_callf(eq, "I y=I", (uint32_t)UINT32_MAX, (uint32_t)1);
    pyt_assert_h(t);
    cr_assert_eq(pys_truthy(t), 1);
    pys_obj all[] = {l, r, eq, t};
    for (size_t i = 0; i < 4; i++)
        pys_release(all[i]);
}

PYS_TEST(scalars, wrong_types_name_both)
{
    pys_obj s = pys_from_str(rt, "12");
    int64_t v = 3;
    cr_assert_eq(pys_to_int64(s, &v), PYS_E_TYPE);
    cr_assert_eq(v, 3);
    cr_assert(strstr(pys_last_error()->message, "expected int, got str"),
              "message: %s", pys_last_error()->message);
    pys_obj f = pys_from_double(rt, 2.5);
    cr_assert_eq(pys_to_int64(f, &v), PYS_E_TYPE, "a float is not silently truncated");
    cr_assert(strstr(pys_last_error()->message, "got float"));
    double d = 0;
    cr_assert_eq(pys_to_double(s, &d), PYS_E_TYPE);
    bool b = false;
    cr_assert_eq(pys_to_bool(f, &b), PYS_E_TYPE);
    cr_assert_eq(pys_to_int64(s, NULL), PYS_E_ARG);
    cr_assert_null(pys_str_view(f, NULL));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    cr_assert_null(pys_bytes_view(s, NULL));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    pys_release(s);
    pys_release(f);
}

PYS_TEST(scalars, doubles_bools_none)
{
    pys_obj f = pys_from_double(rt, -0.25);
    double d = 0;
    pyt_assert_ok(pys_to_double(f, &d));
    cr_assert_eq(d, -0.25);
    pys_obj i = pys_from_int64(rt, 3);
    pyt_assert_ok(pys_to_double(i, &d));
    cr_assert_eq(d, 3.0);
    pys_obj inf = pys_eval(rt, "float('inf')");
    pyt_assert_ok(pys_to_double(inf, &d));
    cr_assert(isinf(d));
    pys_obj huge = pys_eval(rt, "10**400");
    cr_assert_eq(pys_to_double(huge, &d), PYS_E_OVERFLOW);
    pys_obj t = pys_from_bool(rt, true), fl = pys_from_bool(rt, false);
    bool b = false;
    pyt_assert_ok(pys_to_bool(t, &b));
    cr_assert(b);
    pyt_assert_ok(pys_to_bool(fl, &b));
    cr_assert(!b);
    int64_t v;
    pyt_assert_ok(pys_to_int64(t, &v));
    cr_assert_eq(v, 1);
    pys_obj n = pys_none(rt);
    cr_assert_eq(pys_is_none(n), 1);
    cr_assert_eq(pys_to_bool(n, &b), PYS_E_TYPE);
    /* An int is read as nonzero (the rule of code b, as the bridge takes
     * it), without running an int subclass's __bool__. */
    static const struct {
        const char *expr;
        bool want;
    } ints[] = {{"0", false}, {"7", true}, {"-1", true}, {"2**100", true}, {"-2**100", true},
                {"type('B', (int,), {'__bool__': lambda s: 1/0})(0)", false},
                {"type('B', (int,), {'__bool__': lambda s: 1/0})(3)", true}};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        pys_obj o = pys_eval(rt, ints[k].expr);
        pyt_assert_h(o);
        b = !ints[k].want;
        pyt_assert_ok(pys_to_bool(o, &b));
        cr_assert_eq(b, ints[k].want, "pys_to_bool(%s)", ints[k].expr);
        pys_release(o);
    }
    pys_obj str = pys_from_str(rt, "1");
    cr_assert_eq(pys_to_bool(str, &b), PYS_E_TYPE);
    pys_release(str);
    pys_obj all[] = {f, i, inf, huge, t, fl, n};
    for (size_t k = 0; k < 7; k++)
        pys_release(all[k]);
}

PYS_TEST(strings, utf8_and_embedded_nuls)
{
    pys_obj s = pys_from_str(rt, "h\xc3\xa9llo \xe2\x82\xac");
    size_t len = 0;
    const char *v = pys_str_view(s, &len);
    cr_assert_str_eq(v, "h\xc3\xa9llo \xe2\x82\xac");
    cr_assert_eq(len, 10);
    pys_obj nlen = pys_eval(rt, "len('h\\u00e9llo \\u20ac')");
    int64_t chars;
    pys_to_int64(nlen, &chars);
    cr_assert_eq(chars, 7);
    pys_obj z = pys_from_strn(rt, "a\0b", 3);
    v = pys_str_view(z, &len);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(v, "a\0b", 3), 0);
    cr_assert(!pys_ok(pys_from_str(rt, "\xff\xfe")));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE);
    cr_assert(!pys_ok(pys_from_str(rt, NULL)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    pys_obj empty = pys_from_strn(rt, "", 0);
    cr_assert_str_eq(pys_str_view(empty, &len), "");
    pys_obj sur = pys_eval(rt, "'\\ud800'");
    cr_assert_null(pys_str_view(sur, &len));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE);
    pys_obj num = pys_eval(rt, "[1, 'x']");
    char *copy = pys_str_copy(num, &len);
    cr_assert_str_eq(copy, "[1, 'x']");
    cr_assert_eq(len, 8);
    free(copy);
    pys_obj all[] = {s, nlen, z, empty, sur, num};
    for (size_t k = 0; k < 6; k++)
        pys_release(all[k]);
}

PYS_TEST(strings, bytes_bytearray_memoryview)
{
    pys_obj b = pys_from_bytes(rt, "x\0y", 3);
    size_t len = 0;
    const char *v = pys_bytes_view(b, &len);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(v, "x\0y", 3), 0);
    pys_obj ba = pys_from_bytearray(rt, "abc", 3);
    cr_assert_null(pys_bytes_view(ba, &len), "bytes_view is for bytes only");
    char *c = pys_bytes_copy(ba, &len);
    cr_assert_eq(len, 3);
    cr_assert_str_eq(c, "abc");
    free(c);
    pys_obj mv = pys_eval(rt, "memoryview(b'12345')[1:4]");
    c = pys_bytes_copy(mv, &len);
    cr_assert_eq(len, 3);
    cr_assert_str_eq(c, "234");
    free(c);
    pys_obj arr = pys_eval(rt, "__import__('array').array('i', [1, 2])");
    c = pys_bytes_copy(arr, &len);
    cr_assert_eq(len, 8);
    free(c);
    pys_obj s = pys_from_str(rt, "text");
    cr_assert_null(pys_bytes_copy(s, &len));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    pys_obj i = pys_from_int64(rt, 1);
    cr_assert_null(pys_bytes_copy(i, &len));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    pys_obj e = pys_from_bytes(rt, NULL, 0);
    pyt_assert_h(e);
    cr_assert(!pys_ok(pys_from_bytes(rt, NULL, 4)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    pys_obj all[] = {b, ba, mv, arr, s, i, e};
    for (size_t k = 0; k < 7; k++)
        pys_release(all[k]);
}

/* ---- JSON ---------------------------------------------------------------------------- */

PYS_TEST(json, round_trip_nested)
{
    const char *text = "{\"a\":[1,2.5,\"s\",true,false,null],\"b\":{\"c\":{}},\"big\":9007199254740992,"
                       "\"neg\":-3}";
    pys_obj o = pys_from_json_text(rt, text);
    pyt_assert_h(o);
    pys_obj r = pys_repr(o);
    cr_assert_str_eq(pys_str_view(r, NULL),
                     "{'a': [1, 2.5, 's', True, False, None], 'b': {'c': {}}, "
                     "'big': 9007199254740992, 'neg': -3}");
    char *back = pys_to_json_text(o);
    cr_assert_str_eq(back, text);
    free(back);
    cJSON *j = pys_to_json(o);
    cr_assert_not_null(j);
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(j, "a")));
    pys_obj o2 = pys_from_json(rt, j);
    cr_assert_eq(pys_compare(o, o2, PYS_EQ), 1);
    cJSON_Delete(j);
    pys_obj tup = pys_eval(rt, "{'t': (1, 2), 's': {3}, 'f': frozenset()}");
    back = pys_to_json_text(tup);
    pys_obj esc = pys_eval(rt, "['q\"b\\\\s\\n\\x01', 0.1, -2.5e-300, 1e300]");
    char *et = pys_to_json_text(esc);
    cr_assert_str_eq(et, "[\"q\\\"b\\\\s\\n\\u0001\",0.1,-2.5e-300,1e+300]");
    pys_obj esc2 = pys_from_json_text(rt, et);
    cr_assert_eq(pys_compare(esc, esc2, PYS_EQ), 1, "JSON text must read back to the same values");
    free(et);
    pys_release(esc);
    pys_release(esc2);
    cr_assert_str_eq(back, "{\"t\":[1,2],\"s\":[3],\"f\":[]}");
    free(back);
    pys_release(tup);
    pys_release(o2);
    pys_release(r);
    pys_release(o);
}

PYS_TEST(json, errors_not_garbage)
{
    struct {
        const char *expr;
        int code;
        const char *needle;
    } cases[] = {
        {"{1: 2}", PYS_E_TYPE, "dict key is not a str"},
        {"{'a': [1, float('nan')]}", PYS_E_VALUE, "$.a[1]"},
        {"float('inf')", PYS_E_VALUE, "NaN or infinity"},
        {"2**53 + 1", PYS_E_OVERFLOW, "2^53"},
        {"{'x': object()}", PYS_E_TYPE, "$.x"},
        {"b'bytes'", PYS_E_TYPE, "bytes"},
        {"'a\\x00b'", PYS_E_VALUE, "NUL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pys_obj o = pys_eval(rt, cases[i].expr);
        pyt_assert_h(o);
        cr_assert_null(pys_to_json(o), "%s converted", cases[i].expr);
        cr_assert_eq(pys_last_error()->code, cases[i].code, "%s: %s", cases[i].expr,
                     pys_last_error()->message);
        cr_assert(strstr(pys_last_error()->message, cases[i].needle), "%s: %s", cases[i].expr,
                  pys_last_error()->message);
        pys_release(o);
    }
    pyt_assert_ok(pys_exec(rt, "cyc = []\ncyc.append(cyc)\nd = {}\nd['self'] = [d]"));
    pys_obj cyc = pys_eval(rt, "cyc");
    cr_assert_null(pys_to_json(cyc));
    cr_assert(strstr(pys_last_error()->message, "cycle"));
    pys_obj d = pys_eval(rt, "d");
    cr_assert_null(pys_to_json(d));
    cr_assert(strstr(pys_last_error()->message, "cycle"));
    pyt_assert_ok(pys_exec(rt, "deep = []\nfor _ in range(600): deep = [deep]"));
    pys_obj deep = pys_eval(rt, "deep");
    cr_assert_null(pys_to_json(deep));
    cr_assert(strstr(pys_last_error()->message, "deeper"));
    /* shared (not cyclic) references are fine */
    pys_obj shared = pys_eval(rt, "(lambda x: [x, x])([1])");
    char *t = pys_to_json_text(shared);
    cr_assert_str_eq(t, "[[1],[1]]");
    free(t);
    cr_assert(!pys_ok(pys_from_json_text(rt, "{\"a\": ")));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE);
    cr_assert(!pys_ok(pys_from_json(rt, NULL)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    pys_release(shared);
    pys_release(deep);
    pys_release(d);
    pys_release(cyc);
}

PYS_TEST(json, deep_input_is_bounded)
{
    size_t n = PYS_JSON_MAX_DEPTH + 10;
    char *text = malloc(2 * n + 1);
    memset(text, '[', n);
    memset(text + n, ']', n);
    text[2 * n] = '\0';
    cJSON *j = cJSON_ParseWithOpts(text, NULL, 0);
    free(text);
    if (!j)
        cr_skip_test("this cJSON refuses input nested %zu deep itself", n);
    cr_assert(!pys_ok(pys_from_json(rt, j)));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE);
    cJSON_Delete(j);
}

/* A number beyond a double's range is not read as infinity: that value has
 * no JSON form, so it would not convert back (found by fuzz_json). */
PYS_TEST(json, out_of_range_number_refused)
{
    const char *texts[] = {"1e400", "[1, -1e999]", "{\"a\": 2e308}"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        pys_obj o = pys_from_json_text(rt, texts[i]);
        cr_assert(!pys_ok(o), "%s was read", texts[i]);
        cr_assert_eq(pys_last_error()->code, PYS_E_OVERFLOW, "%s: %s", texts[i],
                     pys_last_error()->message);
        cr_assert(strstr(pys_last_error()->message, "range"), "%s", pys_last_error()->message);
    }
    cJSON *inf = cJSON_CreateNumber(HUGE_VAL);
    cr_assert(!pys_ok(pys_from_json(rt, inf)));
    cr_assert_eq(pys_last_error()->code, PYS_E_OVERFLOW);
    cJSON_Delete(inf);
    pys_obj big = pys_from_json_text(rt, "1.7976931348623157e308");
    pyt_assert_h(big);
    pys_release(big);
}

/* cJSON decodes \u0000 into a NUL that ends its C string, so "a\u0000b"
 * would silently read as "a": refused instead (found by fuzz_json). A
 * backslash before the escape makes it plain text. */
PYS_TEST(json, nul_escape_refused_not_truncated)
{
    const char *texts[] = {"\"a\\u0000b\"", "{\"k\\u0000\": 1}", "[\"\\u0000\"]"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        pys_obj o = pys_from_json_text(rt, texts[i]);
        cr_assert(!pys_ok(o), "%s was read", texts[i]);
        cr_assert_eq(pys_last_error()->code, PYS_E_VALUE, "%s: %s", texts[i],
                     pys_last_error()->message);
        cr_assert(strstr(pys_last_error()->message, "\\u0000"), "%s", pys_last_error()->message);
    }
    pys_obj o = pys_from_json_text(rt, "[\"\\\\u0000\", \"\\u0041\"]");
    pyt_assert_h(o);
    pys_obj r = pys_repr(o);
    cr_assert_str_eq(pys_str_view(r, NULL), "['\\\\u0000', 'A']");
    pys_release(r);
    pys_release(o);
}

/* ---- bulk arrays --------------------------------------------------------------------- */

PYS_TEST(arrays, doubles_and_int64s)
{
    double d[5] = {0.5, -1, 2e10, 3, 4};
    pys_obj l = pys_list_from_doubles(rt, d, 5);
    pys_obj s = pys_eval_in(rt, "1", PYS_NULL);
    pys_release(s);
    double back[5] = {0};
    size_t n = 0;
    pyt_assert_ok(pys_to_doubles(l, back, 5, &n));
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(back, d, sizeof d), 0);
    double tiny[2];
    cr_assert_eq(pys_to_doubles(l, tiny, 2, &n), PYS_E_OVERFLOW);
    cr_assert_eq(n, 5, "n_out reports the length needed");
    int64_t iv[3] = {INT64_MIN, 0, INT64_MAX};
    pys_obj li = pys_list_from_int64s(rt, iv, 3);
    int64_t ib[3];
    pyt_assert_ok(pys_to_int64s(li, ib, 3, &n));
    cr_assert_eq(memcmp(ib, iv, sizeof iv), 0);
    pys_obj mixed = pys_eval(rt, "(1, 2.5, 3)");
    cr_assert_eq(pys_to_int64s(mixed, ib, 3, &n), PYS_E_TYPE);
    cr_assert(strstr(pys_last_error()->message, "item 1"), "%s", pys_last_error()->message);
    pyt_assert_ok(pys_to_doubles(mixed, back, 5, &n));
    cr_assert_eq(back[1], 2.5);
    pys_obj rng = pys_eval(rt, "range(3)");
    pyt_assert_ok(pys_to_int64s(rng, ib, 3, &n));
    cr_assert_eq(ib[2], 2);
    pys_obj big = pys_eval(rt, "[2**70]");
    cr_assert_eq(pys_to_int64s(big, ib, 3, &n), PYS_E_OVERFLOW);
    pys_obj notseq = pys_from_int64(rt, 3);
    cr_assert_eq(pys_to_doubles(notseq, back, 5, &n), PYS_E_TYPE);
    cr_assert(!pys_ok(pys_list_from_doubles(rt, NULL, 3)));
    pys_obj empty = pys_list_from_doubles(rt, NULL, 0);
    pyt_assert_ok(pys_to_doubles(empty, NULL, 0, &n));
    cr_assert_eq(n, 0);
    pys_obj all[] = {l, li, mixed, rng, big, notseq, empty};
    for (size_t k = 0; k < 7; k++)
        pys_release(all[k]);
}

PYS_TEST(arrays, tuple_from_array)
{
    int32_t v[3] = {INT32_MIN, 0, INT32_MAX};
    pys_obj t = pys_tuple_from_array(rt, PYS_ELEM_INT32, v, 3);
    pyt_assert_h(t);
    pys_obj r = pys_repr(t);
    cr_assert_str_eq(pys_str_view(r, NULL), "(-2147483648, 0, 2147483647)");
    int32_t back[3] = {0};
    size_t n = 0;
    pyt_assert_ok(pys_to_array(t, PYS_ELEM_INT32, back, 3, &n));
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(back, v, sizeof v), 0);
    cr_assert(!pys_ok(pys_tuple_from_array(rt, PYS_ELEM_INT32, NULL, 2)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    pys_release(r);
    pys_release(t);
}
