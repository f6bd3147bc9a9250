/* Bridge tests: C functions called from Python (generic and typed), errors
 * both ways, threads, asyncio, re-entrancy, replace/unregister, pre-open
 * registration, host modules, help(). Every PYS_TEST runs once per
 * supported Python found. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyshim_test.h"

/* ---- helpers ---------------------------------------------------------------------- */

static void run(pys_runtime *rt, const char *src)
{
    int rc = pys_exec(rt, src);
    cr_assert_eq(rc, PYS_OK, "exec failed: %s: %s\n%s\n--- source:\n%s", pys_err_name(rc),
                 pys_last_error()->message, pys_last_error()->traceback, src);
}

/* str(eval(expr)) copied into a static buffer. */
static const char *eval_str(pys_runtime *rt, const char *expr)
{
    static char buf[8192];
    pys_obj o = pys_eval(rt, expr);
    cr_assert(pys_ok(o), "eval %s: %s\n%s", expr, pys_last_error()->message,
              pys_last_error()->traceback);
    char *s = pys_str_copy(o, NULL);
    cr_assert_not_null(s);
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    pys_release(o);
    return buf;
}

static bool eval_true(pys_runtime *rt, const char *expr)
{
    pys_obj o = pys_eval(rt, expr);
    cr_assert(pys_ok(o), "eval %s: %s\n%s", expr, pys_last_error()->message,
              pys_last_error()->traceback);
    int t = pys_truthy(o);
    pys_release(o);
    return t == 1;
}

#define assert_py(rt, expr) cr_assert(eval_true((rt), (expr)), "not true in Python: %s", (expr))
static void expect_raise(pys_runtime *rt, const char *call, const char *exc,
                         const char *const *parts);

/* ---- C functions under test ------------------------------------------------------ */

static int64_t t_add(int64_t a, int64_t b)
{
    return a + b;
}

static double t_mix(int64_t a, double b, int64_t c, double d)
{
    return (double)a * 1000 + b * 100 + (double)c * 10 + d;
}

static const char *t_fmt(const char *s, double d)
{
    static _Thread_local char buf[128];
    snprintf(buf, sizeof buf, "%s=%.2f", s, d);
    return buf;
}

static uint64_t t_u(uint64_t x)
{
    return x;
}

static int t_twice(int x)
{
    return x * 2;
}

static bool t_not(bool b)
{
    return !b;
}

static int64_t t_many(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f,
                      double g, double h, double i, double j, double k, double l, double m,
                      double n)
{
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f +
           (int64_t)(g + 2 * h + 3 * i + 4 * j + 5 * k + 6 * l + 7 * m + 8 * n);
}

static double t_interleave(double a, int64_t b, double c, int64_t d, double e, int64_t f)
{
    return a + (double)b * 10 + c * 100 + (double)d * 1000 + e * 10000 + (double)f * 100000;
}

static int64_t t_bytes(const void *p, size_t n, const char *tag)
{
    const unsigned char *b = p;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += b[i];
    return sum * 1000 + (int64_t)n + (tag ? 1000000 * (int64_t)strlen(tag) : 0);
}

static pys_obj t_first(pys_obj seq)
{
    return pys_getitem_index(seq, 0);
}

static _Atomic int64_t t_side;
static void t_store(int64_t v)
{
    t_side = v;
}

static double t_scale(double x, double y, double scale)
{
    return (x + y) * scale;
}

static const char *t_greet(const char *name, const char *greeting)
{
    static _Thread_local char buf[128];
    snprintf(buf, sizeof buf, "%s, %s", greeting ? greeting : "hello", name);
    return buf;
}

static int64_t t_checked(int64_t x)
{
    if (x < 0)
        pys_bridge_raise(NULL, "ValueError", "negative input: %lld", (long long)x);
    return x * 10;
}

static double t_pi(void)
{
    return 3.25;
}

/* Generic: sum of int positional arguments and keyword values. */
static int g_total(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs, void *ud,
                   pys_obj *result)
{
    int64_t total = 0, v = 0;
    for (size_t i = 0; i < nargs; i++) {
        int rc = pys_to_int64(args[i], &v);
        if (rc != PYS_OK)
            return rc;
        total += v;
    }
    if (pys_ok(kwargs)) {
        pys_obj vals = pys_values(kwargs);
        size_t n = 0;
        pys_len(vals, &n);
        for (size_t i = 0; i < n; i++) {
            pys_obj x = pys_getitem_index(vals, (int64_t)i);
            int rc = pys_to_int64(x, &v);
            pys_release(x);
            if (rc != PYS_OK) {
                pys_release(vals);
                return rc;
            }
            total += v;
        }
        pys_release(vals);
    }
    if (ud)
        total += *(int64_t *)ud;
    *result = pys_from_int64(rt, total);
    return pys_ok(*result) ? PYS_OK : pys_last_error()->code;
}

/* Generic: evaluates its string argument (re-entrant pyshim call). */
static int g_eval(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs, void *ud,
                  pys_obj *result)
{
    if (nargs != 1)
        return pys_bridge_raise(rt, "TypeError", "py_eval takes one string");
    const char *src = pys_str_view(args[0], NULL);
    if (!src)
        return pys_last_error()->code;
    *result = pys_eval(rt, src);
    return pys_ok(*result) ? PYS_OK : pys_last_error()->code;
}

/* Generic: recurse(n) = n + recurse(n - 1) through Python; raises at 0
 * when asked to. */
static int g_recurse(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                     void *ud, pys_obj *result)
{
    int64_t n = 0;
    int rc = pys_to_int64(args[0], &n);
    if (rc != PYS_OK)
        return rc;
    bool fail = nargs > 1 && pys_truthy(args[1]) == 1;
    if (n == 0) {
        if (fail)
            return pys_bridge_raise(rt, "ValueError", "bottom reached");
        *result = pys_from_int64(rt, 0);
        return PYS_OK;
    }
    char src[128];
    snprintf(src, sizeof src, "c_bridge.recurse(%lld, %s)", (long long)(n - 1),
             fail ? "True" : "False");
    pys_obj r = pys_eval(rt, src);
    if (!pys_ok(r))
        return pys_last_error()->code;
    int64_t v = 0;
    rc = pys_to_int64(r, &v);
    pys_release(r);
    if (rc != PYS_OK)
        return rc;
    *result = pys_from_int64(rt, v + n);
    return PYS_OK;
}

/* Generic: calls its argument (a Python callable) and returns the result;
 * a Python failure is returned as is. */
static int g_call(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs, void *ud,
                  pys_obj *result)
{
    *result = pys_call(args[0], NULL, 0);
    return pys_ok(*result) ? PYS_OK : pys_last_error()->code;
}

static int g_const(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs, void *ud,
                   pys_obj *result)
{
    *result = pys_from_int64(rt, (int64_t)(intptr_t)ud);
    return PYS_OK;
}

static int g_none(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs, void *ud,
                  pys_obj *result)
{
    return PYS_OK;
}

/* Returns its first argument handle itself (the bridge must cope). */
static int g_identity(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                      void *ud, pys_obj *result)
{
    *result = args[0];
    return PYS_OK;
}

static int g_fail_code(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                       void *ud, pys_obj *result)
{
    return (int)(intptr_t)ud; /* a code with no error detail */
}

static int g_raise_custom(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                          void *ud, pys_obj *result)
{
    return pys_bridge_raise(rt, (const char *)ud, "custom %d", 7);
}

static int g_raise_obj(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                       void *ud, pys_obj *result)
{
    return pys_bridge_raise_obj(rt, args[0]);
}

static _Atomic int released[8];
static void on_release(void *ud)
{
    released[(intptr_t)ud]++;
}

/* Unregisters itself while running: its release must wait for the call. */
static int g_self_destruct(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                           void *ud, pys_obj *result)
{
    int rc = pys_unregister(rt, "self_destruct");
    if (rc != PYS_OK)
        return rc;
    *result = pys_from_int64(rt, released[(intptr_t)ud]); /* still 0 */
    return PYS_OK;
}

/* Generic: pys_unregister(its string argument). */
static int g_unregister(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                        void *ud, pys_obj *result)
{
    const char *name = nargs == 1 ? pys_str_view(args[0], NULL) : NULL;
    return name ? pys_unregister(rt, name) : PYS_E_ARG;
}

/* Generic: how often the release hook of userdata args[0] has run. */
static int g_released(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                      void *ud, pys_obj *result)
{
    int64_t i = -1;
    if (nargs != 1 || pys_to_int64(args[0], &i) != PYS_OK || i < 0 || i >= 8)
        return PYS_E_ARG;
    *result = pys_from_int64(rt, released[i]);
    return pys_ok(*result) ? PYS_OK : pys_last_error()->code;
}

/* Test switches (src/api): forced free-threaded locking, and bridge
 * functions' selves read through their slot's descriptor. */
extern void pys__test_force_locking(bool on);
extern void pys__test_bridge_no_self_offset(bool on);

/* ---- generic functions ------------------------------------------------------------ */

PYS_TEST(bridge, generic_args_kwargs_and_result)
{
    int64_t extra = 100;
    pyt_assert_ok(pys_register_func(rt, "total", g_total, &extra));
    pyt_assert_ok(pys_register_func(rt, "nothing", g_none, NULL));
    pyt_assert_ok(pys_register_func(rt, "identity", g_identity, NULL));
    size_t before = pys_handle_count(rt);
    run(rt, "import c_bridge\n"
            "r1 = c_bridge.total(1, 2, 3)\n"
            "r2 = c_bridge.total(1, x=10, y=20)\n"
            "r3 = c_bridge.total()\n"
            "r4 = c_bridge.nothing(1, 2, k=3)\n"
            "o = object()\n"
            "r5 = c_bridge.identity(o) is o\n"
            "r6 = c_bridge.total(*range(20))\n");
    cr_assert_eq(pyt_eval_i64(rt, "r1"), 106);
    cr_assert_eq(pyt_eval_i64(rt, "r2"), 131);
    cr_assert_eq(pyt_eval_i64(rt, "r3"), 100);
    assert_py(rt, "r4 is None");
    assert_py(rt, "r5");
    cr_assert_eq(pyt_eval_i64(rt, "r6"), 290);
    /* argument, kwargs and result handles are all released */
    cr_assert_eq(pys_handle_count(rt), before);
    cr_assert_str_eq(eval_str(rt, "repr(c_bridge.total)"), "<built-in function total>");
    cr_assert_str_eq(eval_str(rt, "c_bridge.total.__module__"), "c_bridge");
    /* a wrong argument type becomes TypeError with pyshim's message */
    run(rt, "try:\n    c_bridge.total('x')\nexcept TypeError as e:\n    msg = str(e)\n");
    assert_py(rt, "msg.startswith('c_bridge.total: ') and 'str' in msg");
}

PYS_TEST(bridge, module_handle_and_custom_name_default)
{
    pys_obj m = pys_bridge_module(rt);
    pyt_assert_h(m);
    pys_obj name = pys_getattr(m, "__name__");
    cr_assert_str_eq(pys_str_view(name, NULL), "c_bridge");
    pys_release(name);
    pys_release(m);
    run(rt, "import c_bridge, importlib.util\n"
            "spec = importlib.util.find_spec('c_bridge')\n");
    assert_py(rt, "spec is not None and spec.origin == 'pyshim'");
}

/* ---- typed functions ---------------------------------------------------------------- */

PYS_TEST(bridge, typed_scalars)
{
    pyt_assert_ok(pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(t_add)));
    pyt_assert_ok(pys_register_typed(rt, "fmt", "sd>s", PYS_CFUNC(t_fmt)));
    pyt_assert_ok(pys_register_typed(rt, "u", "Q>Q", PYS_CFUNC(t_u)));
    pyt_assert_ok(pys_register_typed(rt, "twice", "i>i", PYS_CFUNC(t_twice)));
    pyt_assert_ok(pys_register_typed(rt, "neg", "b>b", PYS_CFUNC(t_not)));
    pyt_assert_ok(pys_register_typed(rt, "store", "q", PYS_CFUNC(t_store)));
    pyt_assert_ok(pys_register_typed(rt, "pi", ">d", PYS_CFUNC(t_pi)));
    run(rt, "import c_bridge as c");
    cr_assert_eq(pyt_eval_i64(rt, "c.add(2, 40)"), 42);
    cr_assert_eq(pyt_eval_i64(rt, "c.add(-5, 3)"), -2);
    cr_assert_eq(pyt_eval_i64(rt, "c.add(2**62, 2**62 - 1)"), INT64_MAX);
    assert_py(rt, "c.add(True, 1) == 2");
    cr_assert_str_eq(eval_str(rt, "c.fmt('pi', 3.14159)"), "pi=3.14");
    cr_assert_str_eq(eval_str(rt, "c.fmt('ünï', 2)"), "ünï=2.00");
    assert_py(rt, "c.u(2**64 - 1) == 2**64 - 1");
    cr_assert_eq(pyt_eval_i64(rt, "c.twice(-21)"), -42);
    assert_py(rt, "c.neg(False) is True and c.neg(True) is False and c.neg(5) is False");
    assert_py(rt, "c.store(77) is None");
    cr_assert_eq(t_side, 77);
    assert_py(rt, "c.pi() == 3.25");
}

PYS_TEST(bridge, typed_mixed_registers)
{
    pyt_assert_ok(pys_register_typed(rt, "mix", "qdqd>d", PYS_CFUNC(t_mix)));
    pyt_assert_ok(pys_register_typed(rt, "many", "qqqqqq dddddddd >q", PYS_CFUNC(t_many)));
    pyt_assert_ok(pys_register_typed(rt, "inter", "dqdqdq>d", PYS_CFUNC(t_interleave)));
    run(rt, "import c_bridge as c");
    assert_py(rt, "c.mix(1, 2.0, 3, 4.5) == 1000 + 200 + 30 + 4.5");
    cr_assert_eq(pyt_eval_i64(rt, "c.many(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)"), 21 + 36);
    cr_assert_eq(pyt_eval_i64(rt, "c.many(0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 2.5)"),
                 60 + 20);
    assert_py(rt, "c.inter(1.0, 2, 3.0, 4, 5.0, 6) == 1 + 20 + 300 + 4000 + 50000 + 600000");
}

PYS_TEST(bridge, typed_bytes_and_objects)
{
    pyt_assert_ok(pys_register_typed(rt, "bsum", "data:y, tag:s=None > q", PYS_CFUNC(t_bytes)));
    pyt_assert_ok(pys_register_typed(rt, "first", "O>O", PYS_CFUNC(t_first)));
    size_t before = pys_handle_count(rt);
    run(rt, "import c_bridge as c");
    cr_assert_eq(pyt_eval_i64(rt, "c.bsum(b'\\x01\\x02\\x00\\x03')"), 6 * 1000 + 4);
    cr_assert_eq(pyt_eval_i64(rt, "c.bsum(bytearray(b'ab'), 'xy')"), (97 + 98) * 1000 + 2 +
                                                                          2000000);
    cr_assert_eq(pyt_eval_i64(rt, "c.bsum(memoryview(b'a'), tag=None)"), 97 * 1000 + 1);
    cr_assert_eq(pyt_eval_i64(rt, "c.bsum(data=b'')"), 0);
    assert_py(rt, "c.first([[1, 2], 3]) == [1, 2]");
    run(rt, "o = object()\nsame = c.first((o,)) is o\n");
    assert_py(rt, "same");
    /* A failing nested call in a typed O function: the IndexError itself. */
    run(rt, "try:\n    c.first([])\nexcept IndexError as e:\n    err = e\n");
    assert_py(rt, "isinstance(err, IndexError)");
    cr_assert_eq(pys_handle_count(rt), before);
}

PYS_TEST(bridge, typed_keywords_and_defaults)
{
    pyt_assert_ok(pys_register_typed(rt, "scale", "x:d, y:d=2.5, *, scale:d=1 > d",
                                     PYS_CFUNC(t_scale)));
    pyt_assert_ok(pys_register_typed(rt, "greet", "name:s, greeting:s=None > s",
                                     PYS_CFUNC(t_greet)));
    pyt_assert_ok(pys_register_typed(rt, "greet2", "name:s, greeting:s='hi \\'you\\'' > s",
                                     PYS_CFUNC(t_greet)));
    run(rt, "import c_bridge as c");
    assert_py(rt, "c.scale(1) == 3.5");
    assert_py(rt, "c.scale(1, 1) == 2.0");
    assert_py(rt, "c.scale(1, y=3, scale=2) == 8.0");
    assert_py(rt, "c.scale(x=1, scale=10) == 35.0");
    cr_assert_str_eq(eval_str(rt, "c.greet('bob')"), "hello, bob");
    cr_assert_str_eq(eval_str(rt, "c.greet('bob', 'hey')"), "hey, bob");
    cr_assert_str_eq(eval_str(rt, "c.greet(greeting=None, name='al')"), "hello, al");
    cr_assert_str_eq(eval_str(rt, "c.greet2('x')"), "hi 'you', x");
    cr_assert_str_eq(eval_str(rt, "c.greet2.__text_signature__"), "(name, greeting='hi \\'you\\'')");
}

/* String defaults outside ASCII: an 's' default must be UTF-8 (else the
 * function's text signature cannot be read), a 'y' default is any bytes and
 * shows as a bytes literal (found by fuzz_bridge_sig). */
PYS_TEST(bridge, typed_non_ascii_defaults)
{
    pyt_assert_ok(pys_register_typed(rt, "bsum2", "data:y='\xff\x01', tag:s='h\xc3\xa9' > q",
                                     PYS_CFUNC(t_bytes)));
    run(rt, "import c_bridge as c, inspect");
    cr_assert_eq(pyt_eval_i64(rt, "c.bsum2()"), 256 * 1000 + 2 + 3 * 1000000);
    cr_assert_str_eq(eval_str(rt, "inspect.signature(c.bsum2)"),
                     "(data=b'\\xff\\x01', tag='h\xc3\xa9')");
    cr_assert(strstr(eval_str(rt, "c.bsum2.__doc__"), "data: bytes = b'\\xff\\x01'"),
              "%s", eval_str(rt, "c.bsum2.__doc__"));
    int rc = pys_register_typed(rt, "bad", "tag:s='a\xff'", PYS_CFUNC(t_bytes));
    cr_assert_eq(rc, PYS_E_ARG);
    cr_assert(strstr(pys_last_error()->message, "UTF-8"), "%s", pys_last_error()->message);
    rc = pys_register_typed(rt, "bad", "tag:s='\xed\xa0\x80'", PYS_CFUNC(t_bytes));
    cr_assert_eq(rc, PYS_E_ARG, "a UTF-8-encoded surrogate is not UTF-8");
}

/* Runs `call` in Python and checks it raises `exc` with all of `parts` in
 * its message. */
static void expect_raise(pys_runtime *rt, const char *call, const char *exc,
                         const char *const *parts)
{
    char src[1024];
    snprintf(src, sizeof src,
             "try:\n    %s\nexcept BaseException as e:\n    got = (type(e).__name__, str(e))\n"
             "else:\n    got = ('no exception', '')\n",
             call);
    run(rt, src);
    cr_assert_str_eq(eval_str(rt, "got[0]"), exc, "%s raised %s (%s), expected %s", call,
                     eval_str(rt, "got[0]"), eval_str(rt, "got[1]"), exc);
    const char *msg = eval_str(rt, "got[1]");
    for (size_t i = 0; parts[i]; i++)
        cr_assert(strstr(msg, parts[i]), "%s: message \"%s\" lacks \"%s\"", call, msg, parts[i]);
}

PYS_TEST(bridge, typed_bad_calls_raise_with_signature)
{
    pyt_assert_ok(pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(t_add)));
    pyt_assert_ok(pys_register_typed(rt, "scale", "x:d, y:d=2.5, *, scale:d=1 > d",
                                     PYS_CFUNC(t_scale)));
    pyt_assert_ok(pys_register_typed(rt, "fmt", "sd>s", PYS_CFUNC(t_fmt)));
    pyt_assert_ok(pys_register_typed(rt, "twice", "i>i", PYS_CFUNC(t_twice)));
    pyt_assert_ok(pys_register_typed(rt, "u", "Q>Q", PYS_CFUNC(t_u)));
    pyt_assert_ok(pys_register_typed(rt, "bsum", "data:y, tag:s=None > q", PYS_CFUNC(t_bytes)));
    run(rt, "import c_bridge as c");
    const char *sig_add = "expected c_bridge.add(arg1: int, arg2: int, /) -> int";
    expect_raise(rt, "c.add(1)", "TypeError",
                 (const char *[]){"c_bridge.add()", "missing required argument 'arg2'", sig_add,
                                  NULL});
    expect_raise(rt, "c.add(1, 2, 3)", "TypeError",
                 (const char *[]){"takes 2 positional arguments but 3 were given", sig_add, NULL});
    expect_raise(rt, "c.add(1, 'x')", "TypeError",
                 (const char *[]){"argument 'arg2' must be int, not str", sig_add, NULL});
    expect_raise(rt, "c.add(1.5, 2)", "TypeError",
                 (const char *[]){"argument 'arg1' must be int, not float", NULL});
    expect_raise(rt, "c.add(None, 2)", "TypeError", (const char *[]){"not NoneType", NULL});
    expect_raise(rt, "c.add(2**63, 1)", "OverflowError",
                 (const char *[]){"'arg1' is out of range for int64", sig_add, NULL});
    expect_raise(rt, "c.add(arg1=1, arg2=2)", "TypeError",
                 (const char *[]){"unexpected keyword argument 'arg1'", NULL});
    expect_raise(rt, "c.scale(1, 2, 3)", "TypeError",
                 (const char *[]){"takes from 1 to 2 positional arguments but 3 were given",
                                  "c_bridge.scale(x: float, y: float = 2.5, *, scale: float = 1.0)",
                                  NULL});
    expect_raise(rt, "c.scale(1, x=2)", "TypeError",
                 (const char *[]){"multiple values for argument 'x'", NULL});
    expect_raise(rt, "c.scale(1, z=2)", "TypeError",
                 (const char *[]){"unexpected keyword argument 'z'", NULL});
    expect_raise(rt, "c.scale('1')", "TypeError",
                 (const char *[]){"argument 'x' must be float, not str", NULL});
    expect_raise(rt, "c.scale(10**400)", "OverflowError",
                 (const char *[]){"too large for a double", NULL});
    expect_raise(rt, "c.fmt('a\\0b', 1)", "ValueError", (const char *[]){"NUL", NULL});
    expect_raise(rt, "c.fmt(b'ab', 1)", "TypeError", (const char *[]){"must be str, not bytes", NULL});
    expect_raise(rt, "c.fmt(None, 1)", "TypeError", (const char *[]){"must be str", NULL});
    expect_raise(rt, "c.twice(2**31)", "OverflowError", (const char *[]){"C int", NULL});
    expect_raise(rt, "c.u(-1)", "OverflowError", (const char *[]){"uint64", NULL});
    expect_raise(rt, "c.bsum('text')", "TypeError", (const char *[]){"must be bytes, not str", NULL});
    /* The same from C: the error detail names the signature too. */
    cr_assert(!pys_ok(pys_eval(rt, "c.add('1', 2)")));
    cr_assert_eq(pys_last_error()->code, PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "TypeError");
    cr_assert(strstr(pys_last_error()->message, sig_add), "%s", pys_last_error()->message);
}

/* The fast path (every argument by position, ints and floats) takes and
 * refuses what the full path does, and never runs an argument's Python
 * code twice (it falls back before running any). */
PYS_TEST(bridge, typed_fast_path_edges)
{
    pyt_assert_ok(pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(t_add)));
    pyt_assert_ok(pys_register_typed(rt, "mix", "qdqd>d", PYS_CFUNC(t_mix)));
    pyt_assert_ok(pys_register_typed(rt, "u", "Q>Q", PYS_CFUNC(t_u)));
    pyt_assert_ok(pys_register_typed(rt, "neg", "b>b", PYS_CFUNC(t_not)));
    run(rt, "import c_bridge as c\n"
            "class I(int): pass\n"
            "class G(float): pass\n"
            "calls = []\n"
            "class F(int):\n"
            "    def __float__(self):\n"
            "        calls.append('float')\n"
            "        return 0.5\n"
            "class Idx:\n"
            "    def __index__(self):\n"
            "        calls.append('index')\n"
            "        return 3\n");
    assert_py(rt, "c.mix(1, 2, 3, 4) == 1000 + 200 + 30 + 4");
    assert_py(rt, "c.mix(I(1), G(2.0), True, 4.5) == 1000 + 200 + 10 + 4.5");
    assert_py(rt, "c.add(I(40), 2) == 42 and c.u(I(7)) == 7 and c.u(2**63) == 2**63");
    assert_py(rt, "c.neg(0) is True and c.neg(I(3)) is False");
    assert_py(rt, "c.mix(0, F(9), 0, 0) == 50.0 and calls == ['float']");
    expect_raise(rt, "c.add(Idx(), 1)", "TypeError",
                 (const char *[]){"argument 'arg1' must be int, not", NULL});
    assert_py(rt, "calls == ['float']");
    expect_raise(rt, "c.mix(1, 10**400, 3, 4)", "OverflowError",
                 (const char *[]){"'arg2' is too large for a double", NULL});
    expect_raise(rt, "c.mix(1, 2, 3, '4')", "TypeError",
                 (const char *[]){"argument 'arg4' must be float, not str", NULL});
    expect_raise(rt, "c.add(-2**63 - 1, 0)", "OverflowError",
                 (const char *[]){"'arg1' is out of range for int64", NULL});
    cr_assert_eq(pyt_eval_i64(rt, "c.add(-2**63, 0)"), INT64_MIN);
}

/* Identity functions for the value-rule test below. */
static int64_t t_id_q(int64_t x)
{
    return x;
}
static int t_id_i(int x)
{
    return x;
}
static double t_id_d(double x)
{
    return x;
}
static bool t_id_b(bool x)
{
    return x;
}

static uint32_t t_id_I(uint32_t x)
{
    return x;
}
/* Returns a register whose upper half is set: the result is its uint32_t. */
static uint64_t t_wide(void)
{
    return UINT64_C(0xffffffff00000005);
}

/* Code I: a uint32_t, 0..4294967295; outside is OverflowError, by
 * position and by keyword, as a default too (PYS_E_ARG at registration). */
PYS_TEST(bridge, typed_code_I_uint32)
{
    pyt_assert_ok(pys_register_typed(rt, "id_I", "x:I>I", PYS_CFUNC(t_id_I)));
    pyt_assert_ok(pys_register_typed(rt, "dflt", "x:I=4294967295>I", PYS_CFUNC(t_id_I)));
    pyt_assert_ok(pys_register_typed(rt, "wide", ">I", PYS_CFUNC(t_wide)));
    run(rt, "import c_bridge as c\n"
            "class I(int): pass\n");
    assert_py(rt, "c.id_I(0) == 0 and c.id_I(2**32 - 1) == 2**32 - 1 and c.id_I(True) == 1");
    assert_py(rt, "c.id_I(x=I(7)) == 7 and c.dflt() == 4294967295 and c.wide() == 5");
    expect_raise(rt, "c.id_I(2**32)", "OverflowError",
                 (const char *[]){"argument 'x' is out of range for uint32", NULL});
    expect_raise(rt, "c.id_I(x=-1)", "OverflowError",
                 (const char *[]){"argument 'x' is out of range for uint32", NULL});
    expect_raise(rt, "c.id_I(1.0)", "TypeError",
                 (const char *[]){"argument 'x' must be int, not float",
                                  "c_bridge.id_I(x: int) -> int", NULL});
    cr_assert_str_eq(eval_str(rt, "c.id_I.__text_signature__"), "(x)");
    for (int k = 0; k < 2; k++) {
        const char *sig = k ? "x:I=-1" : "x:I=4294967296";
        cr_assert_eq(pys_register_typed(rt, "bad", sig, PYS_CFUNC(t_id_I)), PYS_E_ARG, "%s", sig);
        cr_assert(strstr(pys_last_error()->message, "does not suit"), "%s",
                  pys_last_error()->message);
    }
}

/* What pys_to_* gives for a value, as the bridge's probe words it. */
static const char *to_word(int rc)
{
    return rc == PYS_OK ? "ok" : rc == PYS_E_TYPE ? "type" : rc == PYS_E_OVERFLOW ? "range" : "py";
}

/* One acceptance rule per value code (convert/scalar.h): a typed bridge
 * parameter takes, refuses as a type or as out of range, or lets an
 * exception through exactly where pys_to_* does for the same code, by
 * position (the fast path) and by keyword (the full path). Before,
 * pys_to_bool refused the ints that the bridge's b took (both take bool
 * and int now), and the bridge turned every error of d's conversion into
 * OverflowError. */
PYS_TEST(bridge, typed_value_rules_match_to_scalar)
{
    pyt_assert_ok(pys_register_typed(rt, "id_q", "x:q>q", PYS_CFUNC(t_id_q)));
    pyt_assert_ok(pys_register_typed(rt, "id_Q", "x:Q>Q", PYS_CFUNC(t_u)));
    pyt_assert_ok(pys_register_typed(rt, "id_i", "x:i>i", PYS_CFUNC(t_id_i)));
    pyt_assert_ok(pys_register_typed(rt, "id_d", "x:d>d", PYS_CFUNC(t_id_d)));
    pyt_assert_ok(pys_register_typed(rt, "id_b", "x:b>b", PYS_CFUNC(t_id_b)));
    run(rt, "import c_bridge as c\n"
            "class I(int): pass\n"
            "class G(float): pass\n"
            "class BadF(int):\n"
            "    def __float__(self):\n"
            "        raise ValueError('no float')\n"
            "class Idx:\n"
            "    def __index__(self):\n"
            "        return 3\n"
            "class Fl:\n"
            "    def __float__(self):\n"
            "        return 2.0\n"
            "def probe(f, v, kw):\n"
            "    try:\n"
            "        f(x=v) if kw else f(v)\n"
            "        return 'ok'\n"
            "    except TypeError:\n"
            "        return 'type'\n"
            "    except OverflowError:\n"
            "        return 'range'\n"
            "    except Exception:\n"
            "        return 'py'\n");
    static const char *const vals[] = {
        "0",        "1",           "-1",       "5",        "True",      "False",
        "2**31 - 1", "2**31",      "-2**31",   "-2**31 - 1", "2**63 - 1", "2**63",
        "-2**63",   "-2**63 - 1",  "2**64 - 1", "2**64",   "10**400",   "1.5",
        "-0.0",     "float('inf')", "'1'",     "None",     "I(5)",      "I(-1)",
        "G(2.5)",   "Idx()",       "Fl()",     "BadF(7)",  "1 + 0j",    "b'1'",
    };
    static const char codes[] = "qQidb";
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        for (const char *cp = codes; *cp; cp++) {
            pys_obj v = pys_eval(rt, vals[k]);
            pyt_assert_h(v);
            int64_t q;
            uint64_t u;
            int32_t i;
            double d;
            bool b;
            int rc = *cp == 'q'   ? pys_to_int64(v, &q)
                     : *cp == 'Q' ? pys_to_uint64(v, &u)
                     : *cp == 'i' ? pys_to_int32(v, &i)
                     : *cp == 'd' ? pys_to_double(v, &d)
                                  : pys_to_bool(v, &b);
            const char *want = to_word(rc);
            pys_release(v);
            for (int kw = 0; kw < 2; kw++) {
                char expr[128];
                snprintf(expr, sizeof expr, "probe(c.id_%c, %s, %d)", *cp, vals[k], kw);
                const char *got = eval_str(rt, expr);
                cr_expect_str_eq(got, want, "code %c, value %s, %s: bridge says %s, pys_to_* %s",
                                 *cp, vals[k], kw ? "by keyword" : "by position", got, want);
            }
        }
    }
    /* The exception d's rule lets through is the one __float__ raised. */
    expect_raise(rt, "c.id_d(BadF(7))", "ValueError", (const char *[]){"no float", NULL});
    assert_py(rt, "c.id_b(1) is True and c.id_b(0) is False and c.id_b(2**100) is True");
    expect_raise(rt, "c.id_b('1')", "TypeError",
                 (const char *[]){"argument 'x' must be bool, not str", NULL});
}

PYS_TEST(bridge, registration_errors)
{
    static const struct {
        const char *sig;
        int code;
        const char *part;
    } bad[] = {
        {"qx>q", PYS_E_ARG, "unknown parameter code 'x'"},
        {"qq>", PYS_E_ARG, "missing return code"},
        {"qq>z", PYS_E_ARG, "unknown return code"},
        {"qq>qq", PYS_E_ARG, "after the return code"},
        {"a:q=1, b:q", PYS_E_ARG, "without a default follows"},
        {"a:q, q", PYS_E_ARG, "positional-only"},
        {"a:q='x'", PYS_E_ARG, "does not suit"},
        {"a:i=3000000000", PYS_E_ARG, "does not suit"},
        {"a:Q=-1", PYS_E_ARG, "does not suit"},
        {"a:d=inf", PYS_E_ARG, "finite"},
        {"a:s='unterminated", PYS_E_ARG, "unterminated"},
        {"a:q, a:q", PYS_E_ARG, "used twice"},
        {"**", PYS_E_ARG, "twice"},
        {"a:q, *", PYS_E_ARG, "'*' must be followed"},
        {"class:q", PYS_E_ARG, "Python keyword"},
        {"a:q, *, q", PYS_E_ARG, "must come first"},
        {"qqqqqqq>q", PYS_E_UNSUPPORTED, "at most 6"},
        {"ddddddddd>d", PYS_E_UNSUPPORTED, "at most 6 and 8"},
        {"yyyq", PYS_E_UNSUPPORTED, "7 integer-class"},
        {"q>y", PYS_E_UNSUPPORTED, "'y' is not supported"},
        {"f>f", PYS_E_UNSUPPORTED, "'f'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = pys_register_typed(rt, "f", bad[i].sig, PYS_CFUNC(t_add));
        cr_assert_eq(rc, bad[i].code, "\"%s\": got %s (%s)", bad[i].sig, pys_err_name(rc),
                     pys_last_error()->message);
        cr_assert(strstr(pys_last_error()->message, bad[i].part), "\"%s\": message \"%s\"",
                  bad[i].sig, pys_last_error()->message);
        cr_assert(strstr(pys_last_error()->message, "c_bridge.f"), "%s",
                  pys_last_error()->message);
    }
    cr_assert_eq(pys_register_typed(rt, "f", NULL, PYS_CFUNC(t_add)), PYS_E_ARG);
    cr_assert_eq(pys_register_typed(rt, "f", "q", NULL), PYS_E_ARG);
    cr_assert_eq(pys_register_func(rt, "bad name", g_none, NULL), PYS_E_ARG);
    cr_assert_eq(pys_register_func(rt, "1x", g_none, NULL), PYS_E_ARG);
    cr_assert_eq(pys_register_func(rt, NULL, g_none, NULL), PYS_E_ARG);
    cr_assert_eq(pys_register_func(rt, "f", NULL, NULL), PYS_E_ARG);
    cr_assert_eq(pys_register(rt, NULL), PYS_E_ARG);
    pys_bridge_func both = {.name = "f", .fn = g_none, .cfunc = PYS_CFUNC(t_add),
                            .signature = "q", .release = on_release, .userdata = (void *)0};
    released[0] = 0;
    cr_assert_eq(pys_register(rt, &both), PYS_E_ARG);
    pys_bridge_func badts = {.name = "f", .fn = g_none, .text_signature = "a, b",
                             .release = on_release};
    cr_assert_eq(pys_register(rt, &badts), PYS_E_ARG);
    cr_assert_eq(released[0], 0, "release must not run for a failed registration");
    /* Nothing was registered. */
    run(rt, "import c_bridge");
    assert_py(rt, "not hasattr(c_bridge, 'f')");
    /* Outside a callback */
    cr_assert_eq(pys_bridge_raise(rt, "ValueError", "x"), PYS_E_STATE);
    cr_assert_eq(pys_register_func(NULL, "f", g_none, NULL), PYS_E_ARG);
}

/* ---- errors both ways --------------------------------------------------------------- */

PYS_TEST(bridge, callback_raises_chosen_exception)
{
    pyt_assert_ok(pys_register_typed(rt, "checked", "q>q", PYS_CFUNC(t_checked)));
    pyt_assert_ok(pys_register_func(rt, "val", g_raise_custom, (void *)"ValueError"));
    pyt_assert_ok(pys_register_func(rt, "mine", g_raise_custom, (void *)"__main__.MyError"));
    pyt_assert_ok(pys_register_func(rt, "unknown", g_raise_custom, (void *)"NoSuchError"));
    pyt_assert_ok(pys_register_func(rt, "notexc", g_raise_custom, (void *)"int"));
    pyt_assert_ok(pys_register_func(rt, "raise_obj", g_raise_obj, NULL));
    pyt_assert_ok(pys_register_func(rt, "code_value", g_fail_code, (void *)(intptr_t)PYS_E_VALUE));
    pyt_assert_ok(pys_register_func(rt, "code_state", g_fail_code, (void *)(intptr_t)PYS_E_STATE));
    run(rt, "import c_bridge as c\nclass MyError(Exception): pass\n");
    cr_assert_eq(pyt_eval_i64(rt, "c.checked(4)"), 40);
    expect_raise(rt, "c.checked(-3)", "ValueError", (const char *[]){"negative input: -3", NULL});
    run(rt, "try:\n    c.val()\nexcept ValueError as e:\n    m = str(e)\n");
    cr_assert_str_eq(eval_str(rt, "m"), "custom 7");
    run(rt, "try:\n    c.mine()\nexcept MyError as e:\n    m = str(e)\n");
    cr_assert_str_eq(eval_str(rt, "m"), "custom 7");
    expect_raise(rt, "c.unknown()", "RuntimeError",
                 (const char *[]){"unknown exception type \"NoSuchError\"", "custom 7", NULL});
    expect_raise(rt, "c.notexc()", "RuntimeError", (const char *[]){"\"int\"", NULL});
    run(rt, "e0 = KeyError('given')\n"
            "try:\n    c.raise_obj(e0)\nexcept KeyError as e:\n    same = e is e0\n");
    assert_py(rt, "same");
    expect_raise(rt, "c.raise_obj(LookupError)", "LookupError", (const char *[]){NULL});
    expect_raise(rt, "c.raise_obj(5)", "TypeError",
                 (const char *[]){"c_bridge.raise_obj", "not an exception", NULL});
    expect_raise(rt, "c.code_value()", "ValueError",
                 (const char *[]){"c_bridge.code_value failed with PYS_E_VALUE", NULL});
    expect_raise(rt, "c.code_state()", "RuntimeError", (const char *[]){"PYS_E_STATE", NULL});
    /* From C, the exception raised in Python comes back as the error. */
    cr_assert_eq(pys_exec(rt, "c.checked(-1)"), PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "ValueError");
    cr_assert(strstr(pys_last_error()->message, "negative input: -1"));
}

PYS_TEST(bridge, python_exception_in_callback_propagates_with_traceback)
{
    pyt_assert_ok(pys_register_func(rt, "call", g_call, NULL));
    run(rt, "import c_bridge, traceback\n"
            "def inner():\n"
            "    global E\n"
            "    E = KeyError('deep')\n"
            "    raise E\n"
            "try:\n"
            "    c_bridge.call(inner)\n"
            "except KeyError as e:\n"
            "    same = e is E\n"
            "    tb = ''.join(traceback.format_exception(type(e), e, e.__traceback__))\n");
    assert_py(rt, "same");
    assert_py(rt, "'line 5, in inner' in tb");
    assert_py(rt, "[f.name for f in traceback.extract_tb(E.__traceback__)] == ['<module>', 'inner']");
    /* Uncaught: pyshim's error carries the type and the whole traceback. */
    cr_assert_eq(pys_exec(rt, "c_bridge.call(inner)"), PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "KeyError");
    cr_assert(strstr(pys_last_error()->traceback, "in inner"), "%s",
              pys_last_error()->traceback);
    cr_assert(strstr(pys_last_error()->traceback, "line 5, in inner"));
    /* Inside a with-statement in Python (exception context kept). */
    run(rt, "import contextlib\n"
            "seen = []\n"
            "@contextlib.contextmanager\n"
            "def cm():\n"
            "    try:\n"
            "        yield\n"
            "    except KeyError as e:\n"
            "        seen.append(e is E)\n"
            "        raise\n"
            "try:\n"
            "    with cm():\n"
            "        c_bridge.call(inner)\n"
            "except KeyError:\n"
            "    pass\n");
    assert_py(rt, "seen == [True]");
    /* SystemExit raised inside keeps its type too. */
    run(rt, "def bye():\n    raise SystemExit(3)\n"
            "try:\n    c_bridge.call(bye)\nexcept SystemExit as e:\n    code = e.code\n");
    cr_assert_eq(pyt_eval_i64(rt, "code"), 3);
}

static int with_body(pys_obj value, void *ud)
{
    pys_runtime *rt = ud;
    return pys_exec(rt, "c_bridge.call(inner)");
}

PYS_TEST(bridge, callback_failure_inside_pys_with)
{
    /* pys_with's own exception capture and the bridge's do not mix up. */
    pyt_assert_ok(pys_register_func(rt, "call", g_call, NULL));
    run(rt, "import c_bridge, contextlib\n"
            "def inner():\n    raise KeyError('deep')\n"
            "got = []\n"
            "@contextlib.contextmanager\n"
            "def cm():\n"
            "    try:\n        yield 1\n"
            "    except KeyError as e:\n        got.append(repr(e))\n");
    pys_obj cm = pys_eval(rt, "cm()");
    pyt_assert_h(cm);
    pyt_assert_ok(pys_with(cm, with_body, rt));
    pys_release(cm);
    cr_assert_str_eq(eval_str(rt, "got[0]"), "KeyError('deep')");
}

/* ---- re-entrancy, threads, asyncio ------------------------------------------------ */

PYS_TEST(bridge, reentrant_callbacks)
{
    pyt_assert_ok(pys_register_func(rt, "recurse", g_recurse, NULL));
    pyt_assert_ok(pys_register_func(rt, "py_eval", g_eval, NULL));
    pyt_assert_ok(pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(t_add)));
    run(rt, "import c_bridge");
    cr_assert_eq(pyt_eval_i64(rt, "c_bridge.recurse(30)"), 30 * 31 / 2);
    cr_assert_eq(pyt_eval_i64(rt, "c_bridge.py_eval('c_bridge.py_eval(\"c_bridge.add(2, 3)\")')"),
                 5);
    /* A failure at the bottom travels up through every level unchanged. */
    run(rt, "import traceback\n"
            "try:\n    c_bridge.recurse(5, True)\n"
            "except ValueError as e:\n"
            "    msg = str(e)\n"
            "    depth = len(traceback.extract_tb(e.__traceback__))\n");
    cr_assert_str_eq(eval_str(rt, "msg"), "bottom reached");
    cr_assert(pyt_eval_i64(rt, "depth") >= 6, "depth %lld", (long long)pyt_eval_i64(rt, "depth"));
    /* The runtime is in a sane state afterwards: other threads can run
     * Python (the GIL was given back), handles balance. */
    size_t before = pys_handle_count(rt);
    run(rt, "import threading\n"
            "out = []\n"
            "t = threading.Thread(target=lambda: out.append(c_bridge.recurse(3)))\n"
            "t.start(); t.join()\n");
    cr_assert_eq(pyt_eval_i64(rt, "out[0]"), 6);
    cr_assert_eq(pys_handle_count(rt), before);
}

typedef struct {
    pys_runtime *rt;
    int n;
    int failures;
} c_thread_arg;

static void *c_thread(void *p)
{
    c_thread_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        pys_obj r = pys_eval(a->rt, "c_bridge.add(20, 22) + c_bridge.total(1, x=1)");
        int64_t v = 0;
        if (!pys_ok(r) || pys_to_int64(r, &v) != PYS_OK || v != 44)
            a->failures++;
        pys_release(r);
    }
    return NULL;
}

PYS_TEST(bridge, python_and_c_threads)
{
    pyt_assert_ok(pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(t_add)));
    pyt_assert_ok(pys_register_func(rt, "total", g_total, NULL));
    pyt_assert_ok(pys_exec(rt, "import c_bridge"));
    c_thread_arg ca = {rt, 300, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, c_thread, &ca), 0);
    run(rt, "import threading, c_bridge\n"
            "res = [None] * 8\n"
            "def worker(i):\n"
            "    s = 0\n"
            "    for k in range(1500):\n"
            "        s += c_bridge.add(k, i) + c_bridge.total(1, x=1)\n"
            "    res[i] = s\n"
            "ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]\n"
            "for t in ts: t.start()\n"
            "for t in ts: t.join()\n"
            "ok = all(res[i] == sum(range(1500)) + 1500 * i + 2 * 1500 for i in range(8))\n");
    pthread_join(th, NULL);
    assert_py(rt, "ok");
    cr_assert_eq(ca.failures, 0);
}

PYS_TEST(bridge, asyncio)
{
    pyt_assert_ok(pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(t_add)));
    pyt_assert_ok(pys_register_func(rt, "py_eval", g_eval, NULL));
    pyt_assert_ok(pys_register_func(rt, "call", g_call, NULL));
    run(rt, "import asyncio, c_bridge\n"
            "async def work(i):\n"
            "    await asyncio.sleep(0)\n"
            "    return c_bridge.add(i, 1) + c_bridge.py_eval('1 + 1')\n"
            "async def failing():\n"
            "    await asyncio.sleep(0)\n"
            "    c_bridge.call(lambda: 1 / 0)\n"
            "async def main():\n"
            "    loop = asyncio.get_running_loop()\n"
            "    a = await asyncio.gather(*(work(i) for i in range(50)))\n"
            "    b = await asyncio.gather(*(loop.run_in_executor(None, c_bridge.add, i, 2)\n"
            "                                for i in range(20)))\n"
            "    try:\n"
            "        await failing()\n"
            "    except ZeroDivisionError:\n"
            "        z = 1\n"
            "    return sum(a) + sum(b) + z\n"
            "r = asyncio.run(main())\n");
    cr_assert_eq(pyt_eval_i64(rt, "r"), (49 * 50 / 2 + 50 * 3) + (19 * 20 / 2 + 20 * 2) + 1);
}

/* ---- replace, unregister, close ---------------------------------------------------- */

PYS_TEST(bridge, replace_and_unregister)
{
    memset(released, 0, sizeof released);
    pys_bridge_func f1 = {.name = "f", .fn = g_const, .userdata = (void *)1,
                          .release = on_release};
    pys_bridge_func f2 = {.name = "f", .fn = g_const, .userdata = (void *)2,
                          .release = on_release};
    pyt_assert_ok(pys_register(rt, &f1));
    run(rt, "import c_bridge\nold = c_bridge.f\n");
    cr_assert_eq(pyt_eval_i64(rt, "c_bridge.f()"), 1);
    pyt_assert_ok(pys_register(rt, &f2));
    cr_assert_eq(released[1], 1, "the replaced function's release runs");
    cr_assert_eq(released[2], 0);
    cr_assert_eq(pyt_eval_i64(rt, "c_bridge.f()"), 2);
    expect_raise(rt, "old()", "RuntimeError",
                 (const char *[]){"c_bridge.f was unregistered or replaced", NULL});
    pyt_assert_ok(pys_unregister(rt, "f"));
    cr_assert_eq(released[2], 1);
    assert_py(rt, "not hasattr(c_bridge, 'f')");
    cr_assert_eq(pys_unregister(rt, "f"), PYS_E_ARG);
    cr_assert_eq(pys_unregister(rt, "never"), PYS_E_ARG);
    cr_assert_eq(released[1], 1);
    cr_assert_eq(released[2], 1);
    /* A function that unregisters itself: release runs after its call. */
    pys_bridge_func sd = {.name = "self_destruct", .fn = g_self_destruct,
                          .userdata = (void *)5, .release = on_release};
    pyt_assert_ok(pys_register(rt, &sd));
    cr_assert_eq(pyt_eval_i64(rt, "c_bridge.self_destruct()"), 0);
    cr_assert_eq(released[5], 1);
    assert_py(rt, "not hasattr(c_bridge, 'self_destruct')");
    /* Typed replaces generic and back. */
    pyt_assert_ok(pys_register_typed(rt, "g", "qq>q", PYS_CFUNC(t_add)));
    pyt_assert_ok(pys_register_func(rt, "g", g_const, (void *)5));
    cr_assert_eq(pyt_eval_i64(rt, "c_bridge.g()"), 5);
    /* Python may also delete it; registering again still works. */
    run(rt, "del c_bridge.g");
    pyt_assert_ok(pys_register_typed(rt, "g", "qq>q", PYS_CFUNC(t_add)));
    cr_assert_eq(pyt_eval_i64(rt, "c_bridge.g(1, 2)"), 3);
}

/* A function's __self__ is a module named after its module; Python code
 * can empty it without breaking the function (the registration is out of
 * its reach). */
PYS_TEST(bridge, self_is_sealed)
{
    pyt_assert_ok(pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(t_add)));
    pyt_assert_ok(pys_register_func(rt, "total", g_total, NULL));
    run(rt, "import c_bridge, types, gc\n"
            "s = c_bridge.add.__self__\n"
            "ok = isinstance(s, types.ModuleType) and s.__name__ == 'c_bridge'\n"
            "ok = ok and (type(s).__module__, type(s).__name__) == ('pyshim', 'BridgeSelf')\n"
            "s.extra = 1\n"
            "hidden = not hasattr(type(s), 'registration') and 'registration' not in dir(s)\n"
            "for f in (c_bridge.add, c_bridge.total):\n"
            "    vars(f.__self__).clear()\n"
            "del s, f\n"
            "gc.collect()\n");
    assert_py(rt, "ok and hidden");
    cr_assert_eq(pyt_eval_i64(rt, "c_bridge.add(40, 2) + c_bridge.total(1, 2)"), 45);
    assert_py(rt, "repr(c_bridge.add) == '<built-in function add>'");
}

/* Calls, replacement, unregistration while a call of the function is in
 * progress on another thread that let go of the GIL (its release waits
 * for that call), and calls from several threads. */
static void lifetime_cycle(pys_runtime *rt)
{
    memset(released, 0, sizeof released);
    pys_bridge_func f1 = {.name = "f", .fn = g_const, .userdata = (void *)1,
                          .release = on_release};
    pys_bridge_func f2 = {.name = "f", .fn = g_const, .userdata = (void *)2,
                          .release = on_release};
    pys_bridge_func slow = {.name = "slow", .fn = g_call, .userdata = (void *)6,
                            .release = on_release};
    pyt_assert_ok(pys_register(rt, &f1));
    pyt_assert_ok(pys_register(rt, &slow));
    pyt_assert_ok(pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(t_add)));
    pyt_assert_ok(pys_register_func(rt, "unreg", g_unregister, NULL));
    pyt_assert_ok(pys_register_func(rt, "rel", g_released, NULL));
    run(rt, "import c_bridge\nold = c_bridge.f\n");
    cr_assert_eq(pyt_eval_i64(rt, "c_bridge.f() + c_bridge.add(40, 1)"), 42);
    pyt_assert_ok(pys_register(rt, &f2));
    cr_assert_eq(released[1], 1);
    expect_raise(rt, "old()", "RuntimeError",
                 (const char *[]){"c_bridge.f was unregistered or replaced", NULL});
    run(rt, "import threading\n"
            "started, go = threading.Event(), threading.Event()\n"
            "seen = []\n"
            "def body():\n"
            "    started.set()\n"
            "    go.wait()\n"
            "    seen.append(c_bridge.rel(6))\n"
            "    return 7\n"
            "t = threading.Thread(target=lambda: seen.append(c_bridge.slow(body)))\n"
            "t.start()\n"
            "started.wait()\n"
            "c_bridge.unreg('slow')\n"
            "seen.append(c_bridge.rel(6))\n"
            "go.set()\n"
            "t.join()\n"
            "seen.append(c_bridge.rel(6))\n");
    assert_py(rt, "seen == [0, 0, 7, 1]");
    cr_assert_eq(released[6], 1);
    run(rt, "res = []\n"
            "def work():\n"
            "    s = 0\n"
            "    for i in range(3000):\n"
            "        s += c_bridge.add(i, 1)\n"
            "    res.append(s)\n"
            "ts = [threading.Thread(target=work) for _ in range(4)]\n"
            "for t in ts: t.start()\n"
            "for t in ts: t.join()\n");
    assert_py(rt, "res == [sum(range(3000)) + 3000] * 4");
    pyt_assert_ok(pys_unregister(rt, "f"));
    cr_assert_eq(released[2], 1);
}

PYS_TEST(bridge, lifetime_while_calls_run)
{
    lifetime_cycle(rt);
}

/* The same on the free-threaded builds' path (seq_cst counts), forced on
 * this GIL build. */
PYS_TEST(bridge, lifetime_locking_path)
{
    pys__test_force_locking(true);
    lifetime_cycle(rt);
    pys__test_force_locking(false);
}

/* The same with selves read through their slot's descriptor: the path
 * taken if the slot's offset could not be confirmed at open. */
PYS_TEST_NOOPEN(bridge, lifetime_self_through_descriptor)
{
    pys__test_bridge_no_self_offset(true);
    pys_runtime *rt = pyt_open(py);
    pys__test_bridge_no_self_offset(false);
    lifetime_cycle(rt);
    run(rt, "vars(c_bridge.add.__self__).clear()\n");
    cr_assert_eq(pyt_eval_i64(rt, "c_bridge.add(1, 2)"), 3);
    pyt_close(rt);
}

PYS_TEST_NOOPEN(bridge, close_releases_and_reopen_starts_empty)
{
    memset(released, 0, sizeof released);
    pys_runtime *rt = pyt_open(py);
    pys_bridge_func f = {.name = "f", .fn = g_const, .userdata = (void *)3,
                         .release = on_release};
    pyt_assert_ok(pys_register(rt, &f));
    pys_obj m = pys_module_new(rt, "hosted");
    pyt_assert_h(m);
    pys_bridge_func h = {.name = "h", .fn = g_const, .userdata = (void *)4,
                         .release = on_release};
    pyt_assert_ok(pys_module_add(m, &h));
    pys_release(m);
    run(rt, "import c_bridge, hosted\nkeep = c_bridge.f\n");
    pyt_close(rt);
    cr_assert_eq(released[3], 1);
    cr_assert_eq(released[4], 1);
    rt = pyt_open(py);
    cr_assert_eq(pys_exec(rt, "import c_bridge"), PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "ModuleNotFoundError");
    cr_assert_eq(pys_exec(rt, "import hosted"), PYS_E_PYTHON);
    pyt_assert_ok(pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(t_add)));
    cr_assert_eq(pyt_eval_i64(rt, "__import__('c_bridge').add(1, 1)"), 2);
    pyt_close(rt);
    cr_assert_eq(released[3], 1);
}

/* ---- pre-open registration ------------------------------------------------------------ */

PYS_TEST_NOOPEN(bridge, registered_before_open)
{
    memset(released, 0, sizeof released);
    int64_t extra = 0;
    const pys_bridge_func funcs[] = {
        {.name = "add", .cfunc = PYS_CFUNC(t_add), .signature = "a:q, b:q=1 > q",
         .doc = "Adds two integers."},
        {.name = "total", .fn = g_total, .userdata = &extra},
        {.name = "zero", .fn = g_const, .userdata = (void *)0, .release = on_release},
    };
    pys_options o = {.bridge_module = "hostfns", .bridge_funcs = funcs, .nbridge_funcs = 3};
    pys_runtime *rt = pyt_open_opts(py, &o);
    run(rt, "import hostfns\n");
    cr_assert_eq(pyt_eval_i64(rt, "hostfns.add(40, 2) + hostfns.add(1)"), 44);
    cr_assert_eq(pyt_eval_i64(rt, "hostfns.total(1, 2, z=3)"), 6);
    cr_assert_eq(pyt_eval_i64(rt, "hostfns.zero()"), 0);
    cr_assert_eq(pys_exec(rt, "import c_bridge"), PYS_E_PYTHON, "only the configured name");
    /* The runtime API uses the configured name too. */
    pyt_assert_ok(pys_register_typed(rt, "twice", "i>i", PYS_CFUNC(t_twice)));
    cr_assert_eq(pyt_eval_i64(rt, "hostfns.twice(4)"), 8);
    pyt_close(rt);
    cr_assert_eq(released[0], 1);
}

PYS_TEST_NOOPEN(bridge, bad_pre_open_registration_fails_open_early)
{
    memset(released, 0, sizeof released);
    const pys_bridge_func funcs[] = {
        {.name = "ok", .fn = g_none, .release = on_release},
        {.name = "bad", .cfunc = PYS_CFUNC(t_add), .signature = "qqqqqqq>q"},
    };
    pys_options o = {.library_path = py->path, .ignore_environment = true,
                     .bridge_funcs = funcs, .nbridge_funcs = 2};
    pys_runtime *rt = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_UNSUPPORTED);
    cr_assert_null(rt);
    cr_assert(strstr(pys_last_error()->message, "c_bridge.bad"), "%s", pys_last_error()->message);
    cr_assert_str_eq(pys_last_error()->context, "pys_open");
    o.nbridge_funcs = 1;
    o.bridge_funcs = NULL;
    cr_assert_eq(pys_open(&o, &rt), PYS_E_ARG);
    o.bridge_funcs = funcs;
    o.bridge_module = "no.dots";
    cr_assert_eq(pys_open(&o, &rt), PYS_E_ARG);
    cr_assert_eq(released[0], 0);
    /* Nothing was loaded or left open: a good open works. */
    o.bridge_module = NULL;
    rt = pyt_open_opts(py, &o);
    assert_py(rt, "__import__('c_bridge').ok() is None");
    pyt_close(rt);
    cr_assert_eq(released[0], 1);
}

/* ---- host modules ------------------------------------------------------------------------ */

PYS_TEST(hostmod, create_import_reload)
{
    memset(released, 0, sizeof released);
    pys_obj m = pys_module_new(rt, "mymod");
    pyt_assert_h(m);
    pyt_assert_ok(pys_module_set_doc(m, "My host module."));
    pyt_assert_ok(pys_module_add_typed(m, "add", "qq>q", PYS_CFUNC(t_add)));
    pys_bridge_func g = {.name = "seven", .fn = g_const, .userdata = (void *)7,
                         .release = on_release, .doc = "Returns seven."};
    pyt_assert_ok(pys_module_add(m, &g));
    pys_obj v = pys_from_str(rt, "1.2.3");
    pyt_assert_ok(pys_module_add_const(m, "VERSION", v));
    pys_release(v);
    pyt_assert_ok(pys_module_add_constf(m, "LIMITS", "(q d)", (int64_t)10, 2.5));
    run(rt, "import mymod, sys, importlib, importlib.util\n"
            "r1 = mymod.add(1, 2) + mymod.seven()\n"
            "del sys.modules['mymod']\n"
            "import mymod as again\n"
            "same = again is mymod\n"
            "r2 = importlib.reload(mymod).add(3, 4)\n"
            "spec = importlib.util.find_spec('mymod')\n");
    cr_assert_eq(pyt_eval_i64(rt, "r1"), 10);
    assert_py(rt, "same");
    cr_assert_eq(pyt_eval_i64(rt, "r2"), 7);
    assert_py(rt, "spec.name == 'mymod' and spec.origin == 'pyshim'");
    assert_py(rt, "mymod.__doc__ == 'My host module.'");
    assert_py(rt, "mymod.VERSION == '1.2.3' and mymod.LIMITS == (10, 2.5)");
    assert_py(rt, "mymod.seven.__doc__ == 'Returns seven.'");
    assert_py(rt, "'mymod' in repr(mymod)");
    assert_py(rt, "__import__('pickle').loads(__import__('pickle').dumps(mymod.add)) is mymod.add");
    /* Removing a function; replacing a constant. */
    pyt_assert_ok(pys_module_remove_func(m, "seven"));
    cr_assert_eq(released[7], 1);
    cr_assert_eq(pys_module_remove_func(m, "seven"), PYS_E_ARG);
    cr_assert_eq(pys_module_remove_func(m, "VERSION"), PYS_E_ARG, "constants are not functions");
    assert_py(rt, "not hasattr(mymod, 'seven')");
    /* A constant over a function unregisters it. */
    pyt_assert_ok(pys_module_add_constf(m, "add", "n"));
    assert_py(rt, "mymod.add is None");
    pyt_assert_ok(pys_module_set_doc(m, NULL));
    assert_py(rt, "mymod.__doc__ is None");
    /* Removing the module. */
    pyt_assert_ok(pys_module_remove(rt, "mymod"));
    cr_assert_eq(pys_module_remove(rt, "mymod"), PYS_E_ARG);
    cr_assert_eq(pys_exec(rt, "del sys.modules['mymod']"), PYS_E_PYTHON);
    cr_assert_eq(pys_exec(rt, "import mymod"), PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "ModuleNotFoundError");
    cr_assert_eq(pys_module_add_typed(m, "add", "qq>q", PYS_CFUNC(t_add)), PYS_E_TYPE);
    pys_release(m);
}

PYS_TEST(hostmod, replace_and_refusals)
{
    memset(released, 0, sizeof released);
    pys_obj m1 = pys_module_new(rt, "tools");
    pys_bridge_func g = {.name = "one", .fn = g_const, .userdata = (void *)1,
                         .release = on_release};
    pyt_assert_ok(pys_module_add(m1, &g));
    run(rt, "import tools\nold_mod = tools\nold_one = tools.one\n");
    /* A new module of the same name replaces the old one cleanly. */
    pys_obj m2 = pys_module_new(rt, "tools");
    pyt_assert_h(m2);
    cr_assert_eq(released[1], 1);
    run(rt, "import tools\n");
    assert_py(rt, "tools is not old_mod and not hasattr(tools, 'one')");
    expect_raise(rt, "old_one()", "RuntimeError", (const char *[]){"tools.one", NULL});
    cr_assert_eq(pys_module_add_func(m1, "x", g_none, NULL), PYS_E_TYPE, "old module is gone");
    pyt_assert_ok(pys_module_add_func(m2, "x", g_none, NULL));
    /* Names: no dots, no clash with real modules. */
    run(rt, "import json");
    cr_assert(!pys_ok(pys_module_new(rt, "json")));
    cr_assert_eq(pys_last_error()->code, PYS_E_STATE);
    cr_assert(!pys_ok(pys_module_new(rt, "a.b")));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert(!pys_ok(pys_module_new(rt, "")));
    /* Not a host module. */
    pys_obj json = pys_import(rt, "json");
    cr_assert_eq(pys_module_add_func(json, "x", g_none, NULL), PYS_E_TYPE);
    cr_assert_eq(pys_module_add_const(json, "x", json), PYS_E_TYPE);
    cr_assert_eq(pys_module_add_func(PYS_NULL, "x", g_none, NULL), PYS_E_HANDLE);
    cr_assert_eq(pys_module_add_const(m2, "bad name", json), PYS_E_ARG);
    cr_assert_eq(pys_module_add_constf(m2, "x", "[q", (int64_t)1), PYS_E_ARG);
    pys_release(json);
    cr_assert_eq(pys_module_remove(rt, "json"), PYS_E_ARG);
    run(rt, "import json");
    pys_release(m1);
    pys_release(m2);
}

/* ---- help() ----------------------------------------------------------------------------- */

PYS_TEST(bridge, help_shows_signature_and_doc)
{
    pys_bridge_func typed = {.name = "add", .cfunc = PYS_CFUNC(t_add),
                             .signature = "a:q, b:q=1 > q", .doc = "Adds two integers."};
    pys_bridge_func generic = {.name = "total", .fn = g_total, .doc = "Sums everything.",
                               .text_signature = "(*values, **named)"};
    pys_bridge_func plain = {.name = "nothing", .fn = g_none};
    pyt_assert_ok(pys_register(rt, &typed));
    pyt_assert_ok(pys_register(rt, &generic));
    pyt_assert_ok(pys_register(rt, &plain));
    pyt_assert_ok(pys_register_typed(rt, "pos", "qd>d", PYS_CFUNC(t_mix)));
    run(rt, "import c_bridge, inspect, io, contextlib\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    help(c_bridge.add)\n"
            "h = buf.getvalue()\n");
    const char *h = eval_str(rt, "h");
    cr_assert(strstr(h, "add(a, b=1)"), "help text:\n%s", h);
    cr_assert(strstr(h, "add(a: int, b: int = 1) -> int"), "help text:\n%s", h);
    cr_assert(strstr(h, "Adds two integers."), "help text:\n%s", h);
    cr_assert(!strstr(h, "PyCapsule") && !strstr(h, "method of"), "help text:\n%s", h);
    cr_assert_str_eq(eval_str(rt, "inspect.signature(c_bridge.add)"), "(a, b=1)");
    cr_assert_str_eq(eval_str(rt, "c_bridge.add.__text_signature__"), "(a, b=1)");
    cr_assert_str_eq(eval_str(rt, "inspect.signature(c_bridge.total)"), "(*values, **named)");
    cr_assert_str_eq(eval_str(rt, "c_bridge.total.__doc__"), "Sums everything.");
    cr_assert_str_eq(eval_str(rt, "inspect.signature(c_bridge.nothing)"), "(*args, **kwargs)");
    cr_assert_str_eq(eval_str(rt, "inspect.signature(c_bridge.pos)"), "(arg1, arg2, /)");
    const char *d = eval_str(rt, "c_bridge.pos.__doc__");
    cr_assert_str_eq(d, "pos(arg1: int, arg2: float, /) -> float");
    run(rt, "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    help(c_bridge)\n"
            "hm = buf.getvalue()\n");
    h = eval_str(rt, "hm");
    cr_assert(strstr(h, "c_bridge") && strstr(h, "add(a, b=1)") && strstr(h, "total(*values"),
              "module help:\n%s", h);
}

/* ---- many calls (what the benchmark does) -------------------------------------------- */

PYS_TEST(bridge, tight_loop)
{
    pyt_assert_ok(pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(t_add)));
    size_t before = pys_handle_count(rt);
    run(rt, "import c_bridge\n"
            "add = c_bridge.add\n"
            "s = 0\n"
            "for i in range(200000):\n"
            "    s = add(s, i) & 0xffffffff\n");
    cr_assert_eq(pyt_eval_i64(rt, "s"), (int64_t)((199999LL * 200000 / 2) & 0xffffffff));
    cr_assert_eq(pys_handle_count(rt), before);
}
