/* Types that lie.
 *
 * Objects whose __class__ property claims a builtin type pass isinstance()
 * but have another memory layout: every check that decides how pyshim
 * reads an object must use its real type. Every PYS_TEST runs once per
 * supported Python found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "pyshim_test.h"

/* liar(cls): an object of class Liar whose __class__ says cls. It also
 * converts itself to 5 / 2.5 / "liar" when asked politely. */
static const char liars[] =
    "import types\n"
    "class Liar:\n"
    "    def __init__(self, cls): self._cls = cls\n"
    "    @property\n"
    "    def __class__(self): return self._cls\n"
    "    def __index__(self): return 5\n"
    "    def __int__(self): return 5\n"
    "    def __float__(self): return 2.5\n"
    "    def __str__(self): return 'liar'\n"
    "    def __iter__(self): return iter([1])\n"
    "fake_code = Liar(types.CodeType)\n"
    "fake_int = Liar(int)\n"
    "fake_float = Liar(float)\n"
    "fake_str = Liar(str)\n"
    "fake_set = Liar(set)\n"
    "fake_dict = Liar(dict)\n"
    "fake_list = Liar(list)\n"
    "assert isinstance(fake_code, types.CodeType) and isinstance(fake_int, int)\n"
    "assert isinstance(fake_float, float) and isinstance(fake_str, str)\n"
    "assert isinstance(fake_set, set)\n";

static pys_obj liar(pys_runtime *rt, const char *name)
{
    pyt_assert_ok(pys_exec(rt, liars));
    pys_obj o = pys_eval(rt, name);
    pyt_assert_h(o);
    return o;
}

/* The last error is PYS_E_TYPE, names the real type, and Python is fine. */
static void assert_type_error(pys_runtime *rt, const char *call)
{
    const pys_error *e = pys_last_error();
    cr_assert_eq(e->code, PYS_E_TYPE, "%s: %s: %s", call, pys_err_name(e->code), e->message);
    cr_assert(strstr(e->message, "Liar"), "%s: the message names the real type: %s", call,
              e->message);
    /* Nothing stayed pending: the next call works and sees no exception. */
    cr_assert_eq(pyt_eval_i64(rt, "6 * 7"), 42);
}

PYS_TEST(types, run_refuses_a_fake_code_object)
{
    pys_obj fake = liar(rt, "fake_code");
    cr_assert(!pys_ok(pys_run(fake, PYS_NULL)));
    assert_type_error(rt, "pys_run");
    cr_assert(strstr(pys_last_error()->message, "code object"));
    /* A real code object still runs. */
    pys_obj code = pys_compile(rt, "40 + 2", NULL, PYS_MODE_EVAL);
    pyt_assert_h(code);
    pys_obj v = pys_run(code, PYS_NULL);
    pyt_assert_h(v);
    int64_t i = 0;
    pyt_assert_ok(pys_to_int64(v, &i));
    cr_assert_eq(i, 42);
    pys_release(v);
    pys_release(code);
    pys_release(fake);
}

PYS_TEST(types, to_json_refuses_fake_floats_and_sets)
{
    const char *names[] = {"fake_float", "fake_set", "[1, fake_float]", "{'a': fake_set}",
                           "fake_int", "fake_str", "fake_dict", "fake_list"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        pys_obj o = liar(rt, names[i]);
        cJSON *j = pys_to_json(o);
        char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
        cr_assert_null(j, "%s became %s", names[i], txt ? txt : "?");
        assert_type_error(rt, names[i]);
        cr_assert(strstr(pys_last_error()->message, "no JSON form"), "%s: %s", names[i],
                  pys_last_error()->message);
        pys_release(o);
    }
    /* Real subclasses keep converting. */
    pys_obj o = pys_eval(rt, "[type('F', (float,), {})(1.5), frozenset([2])]");
    pyt_assert_h(o);
    char *s = pys_to_json_text(o);
    cr_assert(s, "%s", pys_last_error()->message);
    cr_assert_str_eq(s, "[1.5,[2]]");
    free(s);
    pys_release(o);
}

PYS_TEST(types, str_view_refuses_a_fake_str)
{
    pys_obj fake = liar(rt, "fake_str");
    size_t n = 99;
    cr_assert_null(pys_str_view(fake, &n));
    assert_type_error(rt, "pys_str_view");
    cr_assert(strstr(pys_last_error()->message, "expected str"), "%s", pys_last_error()->message);
    cr_assert_eq(n, 99);
    pys_release(fake);
}

PYS_TEST(types, to_int64_refuses_a_fake_int)
{
    pys_obj fake = liar(rt, "fake_int");
    int64_t v = 99;
    int32_t v32 = 99;
    cr_assert_eq(pys_to_int64(fake, &v), PYS_E_TYPE, "read %lld", (long long)v);
    assert_type_error(rt, "pys_to_int64");
    cr_assert_eq(pys_to_int32(fake, &v32), PYS_E_TYPE, "read %d", v32);
    assert_type_error(rt, "pys_to_int32");
    cr_assert_eq(v, 99);
    cr_assert_eq(v32, 99);
    /* bool is a real int subclass: still an int. */
    pys_obj t = pys_eval(rt, "True");
    pyt_assert_ok(pys_to_int64(t, &v));
    cr_assert_eq(v, 1);
    pys_release(t);
    pys_release(fake);
}

PYS_TEST(types, collections_refuse_a_fake_set)
{
    pys_obj fake = liar(rt, "fake_set");
    pys_obj one = pys_from_int64(rt, 1);
    cr_assert_eq(pys_set_add(fake, one), PYS_E_TYPE, "%s", pys_last_error()->message);
    assert_type_error(rt, "pys_set_add");
    pys_release(one);
    pys_release(fake);
}

static int64_t t_id(int64_t v)
{
    return v;
}
static double t_half(double v)
{
    return v / 2;
}
static size_t t_len(const char *s)
{
    return strlen(s);
}

PYS_TEST(types, bridge_typed_arguments_refuse_liars)
{
    pyt_assert_ok(pys_register_typed(rt, "id", "q>q", PYS_CFUNC(t_id)));
    pyt_assert_ok(pys_register_typed(rt, "half", "d>d", PYS_CFUNC(t_half)));
    pyt_assert_ok(pys_register_typed(rt, "slen", "s>Q", PYS_CFUNC(t_len)));
    pyt_assert_ok(pys_exec(rt, liars));
    pyt_assert_ok(pys_exec(rt,
                           "import c_bridge as c\n"
                           "def refused(f, x):\n"
                           "    try:\n"
                           "        r = f(x)\n"
                           "    except TypeError:\n"
                           "        return True\n"
                           "    raise AssertionError('%s(fake) gave %r' % (f.__name__, r))\n"
                           "assert refused(c.id, fake_int)\n"
                           "assert refused(c.half, fake_float)\n"
                           "assert refused(c.half, fake_int)\n"
                           "assert refused(c.slen, fake_str)\n"
                           "assert c.id(True) == 1 and c.half(3) == 1.5 and c.slen('ab') == 2\n"));
}
