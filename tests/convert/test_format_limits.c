/* Formats at their limits: nesting depth, keyword names of any length, a
 * keyword given twice. Every PYS_TEST runs once per supported Python. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyshim_test.h"

/* "[" * n + "]" * n (or with `inner` in the middle), malloc'd. */
static char *nested(size_t n, char open, char close, const char *inner)
{
    size_t k = strlen(inner);
    char *s = malloc(2 * n + k + 1);
    cr_assert_not_null(s);
    memset(s, open, n);
    memcpy(s + n, inner, k);
    memset(s + n + k, close, n);
    s[2 * n + k] = '\0';
    return s;
}

PYS_TEST(format_limits, nesting_100000_deep_is_an_error_not_a_crash, .timeout = 60)
{
    char *lists = nested(100000, '[', ']', "");
    pys_obj v = pys_build(rt, lists);
    cr_assert(!pys_ok(v));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert(strstr(pys_last_error()->message, "PYS_FORMAT_MAX_DEPTH"), "%s",
              pys_last_error()->message);
    char *tuples = nested(100000, '(', ')', "");
    pys_obj len = pys_eval(rt, "len");
    pyt_assert_h(len);
    cr_assert(!pys_ok(pys_callf(len, tuples)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    char *dicts = nested(100000, '{', '}', "");
    cr_assert(!pys_ok(pys_build(rt, dicts)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    free(lists);
    free(tuples);
    free(dicts);
    pys_release(len);
}

PYS_TEST(format_limits, the_limit_itself_builds)
{
    char *ok = nested(PYS_FORMAT_MAX_DEPTH, '[', ']', "q");
    pys_obj v = pys_build(rt, ok, (int64_t)7);
    pyt_assert_h(v);
    pys_obj depth = pys_eval(rt, "lambda v: (lambda f, v: f(f, v))"
                                 "(lambda f, v: 1 + f(f, v[0]) if isinstance(v, list) else 0, v)");
    pyt_assert_h(depth);
    /* The recursive lambda needs a recursion limit above the depth. */
    pys_obj sys = pys_import(rt, "sys");
    pys_obj r = pys_call_method(sys, "setrecursionlimit", "q", (int64_t)10000);
    pyt_assert_h(r);
    pys_obj d = pys_callf(depth, "O", v);
    pyt_assert_h(d);
    int64_t n = 0;
    pyt_assert_ok(pys_to_int64(d, &n));
    cr_assert_eq(n, PYS_FORMAT_MAX_DEPTH);
    char *over = nested(PYS_FORMAT_MAX_DEPTH + 1, '[', ']', "q");
    cr_assert(!pys_ok(pys_build(rt, over, (int64_t)7)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    free(ok);
    free(over);
    pys_release(v);
    pys_release(depth);
    pys_release(sys);
    pys_release(r);
    pys_release(d);
}

/* A format that fails at the depth limit still reads every value after it
 * and releases its 'N' handles, as any malformed format does. */
PYS_TEST(format_limits, too_deep_still_releases_n_handles)
{
    pys_obj probe = pys_eval(rt, "object()");
    pyt_assert_h(probe);
    pys_obj a = pys_dup(probe), b = pys_dup(probe);
    size_t n = PYS_FORMAT_MAX_DEPTH + 10;
    char *f = nested(n, '(', ')', "N q N");
    /* the innermost values, then one more N at the top level */
    char *fmt = malloc(strlen(f) + 4);
    strcpy(fmt, f);
    strcat(fmt, " N");
    pys_obj c = pys_dup(probe);
    pys_obj len = pys_eval(rt, "len");
    cr_assert(!pys_ok(pys_callf(len, fmt, a, (int64_t)1, b, c)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert_eq(pys_release(a), PYS_E_HANDLE, "N inside the too-deep part was released");
    cr_assert_eq(pys_release(b), PYS_E_HANDLE);
    cr_assert_eq(pys_release(c), PYS_E_HANDLE, "N after the too-deep part was released");
    free(f);
    free(fmt);
    pys_release(probe);
    pys_release(len);
}

PYS_TEST(format_limits, repeated_keyword_is_an_error)
{
    pys_obj f = pys_eval(rt, "lambda **kw: sorted(kw.items())");
    pyt_assert_h(f);
    pys_obj r = pys_callf(f, "a=q a=q", (int64_t)1, (int64_t)2);
    cr_assert(!pys_ok(r), "a=1, a=2 must not be merged silently");
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert(strstr(pys_last_error()->message, "keyword argument 'a' repeated"), "%s",
              pys_last_error()->message);
    /* N handles after the repeat are still released. */
    pys_obj h = pys_eval(rt, "object()");
    cr_assert(!pys_ok(pys_callf(f, "a=q b=q a=s c=N", (int64_t)1, (int64_t)2, "x", h)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert_eq(pys_release(h), PYS_E_HANDLE);
    /* Distinct names still work. */
    pys_obj ok = pys_callf(f, "a=q b=q", (int64_t)1, (int64_t)2);
    pyt_assert_h(ok);
    char *json = pys_to_json_text(ok);
    cr_assert_str_eq(json, "[[\"a\",1],[\"b\",2]]");
    free(json);
    pys_release(ok);
    pys_release(f);
}

PYS_TEST(format_limits, long_keyword_reaches_the_callee_whole)
{
    char name[301];
    for (size_t i = 0; i < 300; i++)
        name[i] = (char)('a' + i % 26);
    name[300] = '\0';
    char fmt[320];
    snprintf(fmt, sizeof fmt, "%s=q", name);
    pys_obj f = pys_eval(rt, "lambda **kw: list(kw)[0]");
    pyt_assert_h(f);
    pys_obj r = pys_callf(f, fmt, (int64_t)5);
    pyt_assert_h(r);
    const char *got = pys_str_view(r, NULL);
    cr_assert_not_null(got);
    cr_assert_str_eq(got, name, "the callee got a different keyword");
    /* Two long names that share their first 127 bytes are two keywords. */
    char fmt2[700];
    snprintf(fmt2, sizeof fmt2, "%s=q %.*sZ=q", name, 299, name);
    pys_obj g = pys_eval(rt, "lambda **kw: len(kw)");
    pys_obj two = pys_callf(g, fmt2, (int64_t)1, (int64_t)2);
    pyt_assert_h(two);
    int64_t n = 0;
    pyt_assert_ok(pys_to_int64(two, &n));
    cr_assert_eq(n, 2);
    pys_release(r);
    pys_release(f);
    pys_release(g);
    pys_release(two);
}
