/* Calls every binding generated for tests/gen/py (gentest, gentest_modern)
 * and smoke-tests the ones for math, statistics, textwrap and json,
 * checking values and errors. Built at test time (tests/gen/test_gen.c)
 * against the files `pyshim gen` wrote on the Python under test.
 *   driver LIBPYTHON PYDIR   -> exit 0 and "ok" when every check passed */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gentest.h"
#include "gentest_modern.h"
#include "json.h"
#include "pymath.h"
#include "statistics.h"
#include "textwrap.h"

#include "driver_check.h"

/* CPython 3.12.0-3.12.4 cannot be initialised again once an extension
 * module of theirs was loaded (gh-122334; pys_open refuses): there the
 * runtime is closed without finalising, and each reopen attaches to the
 * same interpreter, which still makes every cached handle stale. */
static bool keep_python;

static pys_runtime *open_rt(const char *lib, const char *pydir)
{
    pys_options o = {0};
    o.library_path = lib;
    o.ignore_environment = true;
    o.skip_finalize = keep_python;
    pys_runtime *rt = NULL;
    if (pys_open(&o, &rt) != PYS_OK) {
        fprintf(stderr, "pys_open: %s\n", pys_last_error()->message);
        exit(2);
    }
    pys_info info;
    OK(pys_get_info(rt, &info));
    if (!keep_python && info.major == 3 && info.minor == 12 && info.micro < 5) {
        OK(pys_close(rt)); /* nothing imported yet: this reinitialisation is sound */
        keep_python = true;
        return open_rt(lib, pydir);
    }
    pys_obj sys = pys_import(rt, "sys");
    pys_obj path = pys_getattr(sys, "path");
    pys_obj dir = pys_from_str(rt, pydir);
    pys_release(pys_call_method(path, "insert", "q O", (int64_t)0, dir));
    pys_release(dir);
    pys_release(path);
    pys_release(sys);
    return rt;
}

static void scalars(pys_runtime *rt)
{
    int64_t i = 0;
    OK(gentest_add(rt, 2, 3, &i));
    CHECK(i == 5);
    OK(gentest_add(rt, 2, 3, NULL)); /* NULL out: result ignored */
    CHECK(gentest_add(NULL, 2, 3, &i) == PYS_E_ARG);
    i = 42;
    CHECK(gentest_add(rt, INT64_MAX, 1, &i) == PYS_E_OVERFLOW); /* 2**63 does not fit */
    CHECK(i == 42);
    CHECK(gentest_huge(rt, &i) == PYS_E_OVERFLOW);
    CHECK(gentest_wrong_result(rt, 1, &i) == PYS_E_TYPE);
    CHECK(strstr(pys_last_error()->message, "str") != NULL);

    double d = 0;
    OK(gentest_scale(rt, 3, NULL, &d));
    CHECK(d == 6.0);
    gentest_scale_opts so = {0};
    so.offset = 1;
    OK(gentest_scale(rt, 3, &so, &d));
    CHECK(d == 7.0);
    so.factor_set = true; /* factor = 0, passed because of _set */
    OK(gentest_scale(rt, 3, &so, &d));
    CHECK(d == 1.0);

    bool b = true;
    OK(gentest_negate(rt, true, &b));
    CHECK(!b);

    OK(gentest_nothing(rt));

    OK(gentest_clamp(rt, 5, NULL, &d));
    CHECK(d == 1.0);
    gentest_clamp_opts cl = {0};
    cl.hi = 10; /* lo unset: its default 0.0 is passed before hi */
    OK(gentest_clamp(rt, 5, &cl, &d));
    CHECK(d == 5.0);
    OK(gentest_clamp(rt, -5, &cl, &d));
    CHECK(d == 0.0);
    cl.lo = -7;
    OK(gentest_clamp(rt, -9, &cl, &d));
    CHECK(d == -7.0);
    OK(gentest_pick(rt, 1, NULL, &i));
    CHECK(i == 6);
    gentest_pick_opts pk = {0};
    pk.c = 2; /* b's default None is passed as None */
    OK(gentest_pick(rt, 1, &pk, &i));
    CHECK(i == 3);

    gentest_skip_default_opts sd = {0};
    OK(gentest_skip_default(rt, 1, &sd, &i));
    CHECK(i == 7);
    sd.c = 1;
    CHECK(gentest_skip_default(rt, 1, &sd, &i) == PYS_E_ARG);
    CHECK(strstr(pys_last_error()->message, "b (positional-only") != NULL);
    sd.b = pys_build(rt, "[q q]", (int64_t)1, (int64_t)2);
    OK(gentest_skip_default(rt, 1, &sd, &i));
    CHECK(i == 4);
    pys_release(sd.b);

    char *kw = NULL;
    gentest_keywords_opts ko = {0};
    ko.new_ = 2;
    ko.char_ = "ab";
    OK(gentest_keywords(rt, 1, &ko, &kw, NULL));
    CHECK(kw && strcmp(kw, "ababab") == 0);
    free(kw);

    CHECK(gentest_boom(rt, "it broke", &i) == PYS_E_PYTHON);
    CHECK(strcmp(pys_last_error()->type, "ValueError") == 0);
    CHECK(strstr(pys_last_error()->message, "it broke") != NULL);
    CHECK(strstr(pys_last_error()->traceback, "gentest.py") != NULL);
}

static void strings_bytes(pys_runtime *rt)
{
    char *s = NULL;
    size_t n = 0;
    OK(gentest_greet(rt, "bob", NULL, &s, &n));
    CHECK(s && strcmp(s, "hello bob!") == 0 && n == 10);
    free(s);
    gentest_greet_opts go = {0};
    go.punct = "?";
    OK(gentest_greet(rt, "bob", &go, &s, NULL));
    CHECK(s && strcmp(s, "hello bob?") == 0);
    free(s);
    s = NULL;
    CHECK(gentest_greet(rt, NULL, NULL, &s, NULL) == PYS_E_ARG);
    CHECK(s == NULL);
    CHECK(gentest_greet(rt, "\xff", NULL, &s, NULL) == PYS_E_VALUE); /* not UTF-8 */

    void *out = NULL;
    OK(gentest_rev_bytes(rt, "a\0b", 3, &out, &n));
    CHECK(out && n == 3 && memcmp(out, "b\0a", 3) == 0);
    free(out);

    gentest_needs_opts no = {0};
    no.level = 3;
    OK(gentest_needs(rt, "ab", &no, &s, NULL));
    CHECK(s && strcmp(s, "ababab") == 0);
    free(s);
    OK(gentest_needs(rt, "ab", NULL, &s, NULL));
    CHECK(s && strcmp(s, "ab") == 0);
    free(s);
    no.level = 0;
    no.level_set = true;
    OK(gentest_needs(rt, "ab", &no, &s, NULL));
    CHECK(s && strcmp(s, "") == 0);
    free(s);

    /* The _n twins: str parameters with their length, embedded NULs kept
     * both ways (the result's length is out_len). */
    OK(gentest_echo_n(rt, "a\0b\xc3\xa9", 5, NULL, &s, &n));
    CHECK(s && n == 5 && memcmp(s, "a\0b\xc3\xa9", 6) == 0);
    free(s);
    gentest_echo_opts eo = {0};
    eo.suffix = "\0z!";
    eo.suffix_len = 2; /* "\0z": the length decides, not the NUL */
    OK(gentest_echo_n(rt, "x\0", 2, &eo, &s, &n));
    CHECK(s && n == 4 && memcmp(s, "x\0\0z", 5) == 0);
    free(s);
    OK(gentest_echo(rt, "x\0y", &eo, &s, &n)); /* the plain one stops at the NUL */
    CHECK(s && n == 1 && strcmp(s, "x") == 0);
    free(s);
    OK(gentest_echo_n(rt, "", 0, NULL, &s, &n));
    CHECK(s && n == 0 && s[0] == '\0');
    free(s);
    OK(gentest_greet_n(rt, "bo\0b", 4, NULL, &s, &n));
    CHECK(s && n == 11 && memcmp(s, "hello bo\0b!", 12) == 0);
    free(s);
    /* Invalid UTF-8, also past a NUL, and a NULL pointer with a length:
     * refused with a PYS_E_* code, nothing called. */
    s = NULL;
    CHECK(gentest_echo_n(rt, "ok\0\xff", 4, NULL, &s, &n) == PYS_E_VALUE);
    CHECK(s == NULL && strstr(pys_last_error()->message, "UTF-8") != NULL);
    CHECK(gentest_echo_n(rt, "\xc3", 1, NULL, &s, &n) == PYS_E_VALUE); /* truncated sequence */
    eo.suffix = "\xed\xa0\x80"; /* an encoded surrogate is no UTF-8 */
    eo.suffix_len = 3;
    CHECK(gentest_echo_n(rt, "a", 1, &eo, &s, &n) == PYS_E_VALUE);
    CHECK(gentest_echo_n(rt, NULL, 3, NULL, &s, &n) == PYS_E_ARG);
    CHECK(s == NULL);
}

static void lists_optional_tuples(pys_runtime *rt)
{
    double d = 0;
    const double xs[] = {1, 2, 3.5};
    OK(gentest_total(rt, xs, 3, &d));
    CHECK(d == 6.5);
    OK(gentest_total(rt, NULL, 0, &d));
    CHECK(d == 0.0);
    CHECK(gentest_total(rt, NULL, 2, &d) == PYS_E_ARG);

    int64_t i = 0;
    const int64_t is[] = {5, 20, 30};
    OK(gentest_count_big(rt, is, 3, NULL, &i));
    CHECK(i == 2);
    gentest_count_big_opts co = {0};
    co.limit = 25;
    OK(gentest_count_big(rt, is, 3, &co, &i));
    CHECK(i == 1);
    co.limit = 0;
    co.limit_set = true;
    OK(gentest_count_big(rt, is, 3, &co, &i));
    CHECK(i == 3);

    bool none = false;
    OK(gentest_maybe_len(rt, NULL, &i, &none));
    CHECK(none);
    gentest_maybe_len_opts mo = {0};
    mo.s = "abcd";
    i = 0;
    OK(gentest_maybe_len(rt, &mo, &i, &none));
    CHECK(!none && i == 4);

    int64_t a = 2;
    double bv = 1.5;
    OK(gentest_opt_add(rt, &a, NULL, &d));
    CHECK(d == 2.0);
    gentest_opt_add_opts ao = {0};
    ao.b = &bv;
    OK(gentest_opt_add(rt, NULL, &ao, &d));
    CHECK(d == 1.5);

    int64_t q = 0, r = 0;
    OK(gentest_divmod2(rt, 7, 2, &q, &r));
    CHECK(q == 3 && r == 1);
    CHECK(gentest_divmod2(rt, 1, 0, &q, &r) == PYS_E_PYTHON);
    CHECK(strcmp(pys_last_error()->type, "ZeroDivisionError") == 0);

    char *s = NULL;
    OK(gentest_split_name(rt, "Ada Lovelace", &s, NULL, &i));
    CHECK(s && strcmp(s, "Ada") == 0 && i == 3);
    free(s);

    s = NULL;
    OK(gentest_pair_or_bad(rt, true, &i, &s, NULL));
    CHECK(i == 1 && s && strcmp(s, "one") == 0);
    free(s);
    s = NULL;
    CHECK(gentest_pair_or_bad(rt, false, &i, &s, NULL) == PYS_E_TYPE);
    CHECK(strstr(pys_last_error()->message, "tuple of 2 items, got 3") != NULL);
    CHECK(s == NULL);

    /* PEP 585 / 604 spellings */
    OK(gentest_modern_mean2(rt, xs, 3, &d));
    CHECK(d > 2.16 && d < 2.17);
    pys_obj dict = pys_build(rt, "{s:q}", "k", (int64_t)9);
    OK(gentest_modern_find(rt, dict, "k", &i, &none));
    CHECK(!none && i == 9);
    OK(gentest_modern_find(rt, dict, "nope", &i, &none));
    CHECK(none);
    pys_release(dict);
    OK(gentest_modern_pair(rt, 4, NULL, &i, &s, NULL));
    CHECK(i == 8 && s && strcmp(s, "none") == 0);
    free(s);
}

static void objects_fallbacks(pys_runtime *rt)
{
    pys_obj gen = PYS_NULL;
    OK(gentest_counter(rt, 3, &gen));
    pys_obj it = pys_iter(gen), item = PYS_NULL;
    int64_t v = -1, want = 0;
    while (pys_iter_next(it, &item) == 1) {
        OK(pys_to_int64(item, &v));
        CHECK(v == want++);
        pys_release(item);
    }
    CHECK(want == 3);
    pys_release(it);
    pys_release(gen);

    pys_obj args[2] = {pys_from_int64(rt, 1), pys_from_int64(rt, 2)};
    pys_obj kw = pys_build(rt, "{s:q}", "x", (int64_t)1), out = PYS_NULL;
    OK(gentest_varargs(rt, args, 2, kw, &out));
    OK(pys_to_int64(out, &v));
    CHECK(v == 201);
    pys_release(out);
    OK(gentest_varargs(rt, NULL, 0, PYS_NULL, &out));
    OK(pys_to_int64(out, &v));
    CHECK(v == 0);
    pys_release(out);

    /* untyped(x, y=3): x a pys_obj, y typed from its default */
    OK(gentest_untyped(rt, args[0], NULL, &out));
    char *text = pys_str_copy(out, NULL);
    CHECK(text && strcmp(text, "(1, 3)") == 0);
    free(text);
    pys_release(out);
    pys_obj stale = pys_from_int64(rt, 5);
    pys_release(stale);
    CHECK(gentest_untyped(rt, stale, NULL, &out) == PYS_E_HANDLE);
    pys_release(args[0]);
    pys_release(args[1]);
    pys_release(kw);
}

static void classes(pys_runtime *rt)
{
    gentest_Counter c = {PYS_NULL}, c2 = {PYS_NULL}, d = {PYS_NULL};
    gentest_Counter_new_opts no = {0};
    no.start = 5;
    OK(gentest_Counter_new(rt, "c", &no, &c));
    int64_t v = 0;
    OK(gentest_Counter_get_value(rt, c, &v));
    CHECK(v == 5);
    OK(gentest_Counter_add(rt, c, NULL, &v));
    CHECK(v == 6);
    gentest_Counter_add_opts ao = {0};
    ao.n = 4;
    OK(gentest_Counter_add(rt, c, &ao, &v));
    CHECK(v == 10);
    char *s = NULL;
    OK(gentest_Counter_label(rt, c, &s, NULL));
    CHECK(s && strcmp(s, "c=10") == 0);
    free(s);
    OK(gentest_Counter_set_value(rt, c, 1));
    double dv = 0;
    OK(gentest_Counter_get_doubled(rt, c, &dv));
    CHECK(dv == 2.0);
    pys_obj tag = pys_from_str(rt, "t1"), got = PYS_NULL;
    OK(gentest_Counter_set_tag(rt, c, tag));
    OK(gentest_Counter_get_tag(rt, c, &got));
    CHECK(pys_compare(got, tag, PYS_EQ) == 1);
    pys_release(got);
    pys_release(tag);
    OK(gentest_Counter_clone(rt, c, &c2));
    OK(gentest_Counter_add(rt, c2, NULL, &v));
    CHECK(v == 2);
    OK(gentest_Counter_merge(rt, c, c2, &v));
    CHECK(v == 3);
    OK(gentest_Counter_make_default(rt, &d));
    OK(gentest_Counter_get_value(rt, d, &v));
    CHECK(v == 7);
    pys_obj one = pys_from_int64(rt, 1), out = PYS_NULL;
    OK(gentest_Counter_spread(rt, c, &one, 1, PYS_NULL, &out));
    OK(pys_to_int64(out, &v));
    CHECK(v == 2);
    pys_release(out);
    pys_release(one);
    gentest_Counter e = {PYS_NULL};
    OK(gentest_new_counter(rt, "e", &e));
    OK(gentest_Counter_label(rt, e, &s, NULL));
    CHECK(s && strcmp(s, "e=0") == 0);
    free(s);
    CHECK(gentest_not_a_counter(rt, &e) == PYS_E_TYPE);
    CHECK(strstr(pys_last_error()->message, "expected a gentest.Counter, got int") != NULL);
    /* a plain object where a Counter is expected */
    gentest_Counter fake = {pys_from_int64(rt, 3)};
    CHECK(gentest_Counter_merge(rt, c, fake, &v) == PYS_E_PYTHON); /* AttributeError in Python */
    pys_release(fake.o);
    OK(gentest_Counter_free(e));
    OK(gentest_Counter_free(c2));
    OK(gentest_Counter_free(d));
    OK(gentest_Counter_free(c));
    CHECK(gentest_Counter_free(c) == PYS_E_HANDLE);
    CHECK(gentest_Counter_label(rt, c, &s, NULL) == PYS_E_HANDLE);
}

static void stdlib(pys_runtime *rt)
{
    const double xs[] = {1, 2, 3, 4};
    double d = 0;
    OK(statistics_mean(rt, xs, 4, &d));
    CHECK(d == 2.5);
    OK(statistics_median(rt, xs, 4, &d));
    CHECK(d == 2.5);
    CHECK(statistics_mean(rt, NULL, 0, &d) == PYS_E_PYTHON);
    CHECK(strstr(pys_last_error()->type, "StatisticsError") != NULL);
    pys_obj qs = PYS_NULL;
    statistics_quantiles_opts qo = {0};
    qo.n = 2;
    OK(statistics_quantiles(rt, xs, 4, &qo, &qs));
    double q[4];
    size_t nq = 0;
    OK(pys_to_doubles(qs, q, 4, &nq));
    CHECK(nq == 1 && q[0] == 2.5);
    pys_release(qs);
    statistics_NormalDist nd = {PYS_NULL};
    statistics_NormalDist_new_opts ndo = {0};
    ndo.mu = 10;
    ndo.sigma = 2;
    OK(statistics_NormalDist_new(rt, &ndo, &nd));
    OK(statistics_NormalDist_cdf(rt, nd, 10, &d));
    CHECK(d == 0.5);
    OK(statistics_NormalDist_get_mean(rt, nd, &d));
    CHECK(d == 10);
    OK(statistics_NormalDist_free(nd));

    OK(pymath_sqrt(rt, 2.25, &d));
    CHECK(d == 1.5);
    CHECK(pymath_sqrt(rt, -1, &d) == PYS_E_PYTHON);
    bool b = false;
    pymath_isclose_opts io = {0};
    io.abs_tol = 0.5;
    OK(pymath_isclose(rt, 1.0, 1.25, &io, &b));
    CHECK(b);
    OK(pymath_isclose(rt, 1.0, 1.25, NULL, &b));
    CHECK(!b);
    pys_obj a = pys_from_int64(rt, 3), bb = pys_from_int64(rt, 4), r = PYS_NULL;
    pys_obj ab[2] = {a, bb};
    OK(pymath_hypot(rt, ab, 2, PYS_NULL, &r)); /* no __text_signature__: the fallback */
    OK(pys_to_double(r, &d));
    CHECK(d == 5.0);
    pys_release(r);
    pys_release(a);
    pys_release(bb);

    pys_obj text = pys_from_str(rt, "  a\n  b\n"), out = PYS_NULL;
    OK(textwrap_dedent(rt, text, &out));
    const char *sv = pys_str_view(out, NULL);
    CHECK(sv && strcmp(sv, "a\nb\n") == 0);
    pys_release(out);
    pys_release(text);
    pys_obj words = pys_from_str(rt, "aa bb cc"), kw = pys_build(rt, "{s:q}", "width", (int64_t)5);
    OK(textwrap_wrap(rt, &words, 1, kw, &out));
    size_t n = 0;
    OK(pys_len(out, &n));
    CHECK(n == 2);
    pys_release(out);
    pys_release(kw);
    pys_release(words);

    pys_obj v = pys_build(rt, "[q s]", (int64_t)1, "x");
    OK(json_dumps(rt, &v, 1, PYS_NULL, &out));
    sv = pys_str_view(out, NULL);
    CHECK(sv && strcmp(sv, "[1, \"x\"]") == 0);
    pys_obj back = PYS_NULL;
    OK(json_loads(rt, &out, 1, PYS_NULL, &back));
    CHECK(pys_compare(back, v, PYS_EQ) == 1);
    pys_release(back);
    pys_release(out);
    pys_release(v);
    json_JSONEncoder enc = {PYS_NULL};
    OK(json_JSONEncoder_new(rt, NULL, &enc));
    pys_obj none = pys_none(rt);
    OK(json_JSONEncoder_encode(rt, enc, none, &out));
    CHECK(strcmp(pys_str_view(out, NULL), "null") == 0);
    pys_release(out);
    pys_release(none);
    OK(json_JSONEncoder_free(enc));
}

/* The cache: handles released by a scope are looked up again. */
static void scopes(pys_runtime *rt)
{
    int64_t v = 0;
    OK(pys_scope_begin(rt));
    OK(gentest_Counter_make_default(rt, NULL)); /* first lookups happen inside the scope */
    OK(gentest_add(rt, 1, 1, &v));
    OK(pys_scope_end(rt));
    OK(gentest_add(rt, 1, 2, &v));
    CHECK(v == 3);
    size_t before = pys_handle_count(rt);
    for (int k = 0; k < 200; k++) {
        char *s = NULL;
        gentest_scale_opts so = {0};
        so.offset = 1;
        OK(gentest_scale(rt, k, &so, NULL));
        OK(gentest_greet(rt, "x", NULL, &s, NULL));
        free(s);
        CHECK(gentest_boom(rt, "x", &v) == PYS_E_PYTHON);
        CHECK(gentest_pair_or_bad(rt, false, NULL, NULL, NULL) == PYS_E_TYPE);
    }
    CHECK(pys_handle_count(rt) == before); /* no handle leaks, failures included */
}

static void *worker(void *ud)
{
    pys_runtime *rt = (pys_runtime *)ud;
    for (int64_t k = 0; k < 300; k++) {
        int64_t v = 0;
        if (gentest_add(rt, k, 1, &v) != PYS_OK || v != k + 1)
            return (void *)1;
        double d = 0;
        const double xs[] = {(double)k, 1};
        if (gentest_total(rt, xs, 2, &d) != PYS_OK || d != (double)k + 1)
            return (void *)1;
    }
    return NULL;
}

static void threads(const char *lib, const char *pydir)
{
    /* A fresh runtime: the cache is empty, so the threads race on first lookups. */
    pys_runtime *rt = open_rt(lib, pydir);
    pthread_t t[4];
    for (int k = 0; k < 4; k++)
        CHECK(pthread_create(&t[k], NULL, worker, rt) == 0);
    for (int k = 0; k < 4; k++) {
        void *r = NULL;
        pthread_join(t[k], &r);
        CHECK(r == NULL);
    }
    OK(pys_close(rt));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: driver LIBPYTHON PYDIR\n");
        return 2;
    }
    pys_runtime *rt = open_rt(argv[1], argv[2]);
    scalars(rt);
    strings_bytes(rt);
    lists_optional_tuples(rt);
    objects_fallbacks(rt);
    classes(rt);
    stdlib(rt);
    scopes(rt);
    OK(pys_close(rt));
    /* Reopened: every cached handle is stale and is looked up again. */
    threads(argv[1], argv[2]);
    rt = open_rt(argv[1], argv[2]);
    int64_t v = 0;
    OK(gentest_add(rt, 40, 2, &v));
    CHECK(v == 42);
    OK(pys_close(rt));
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    puts("ok");
    return 0;
}
