/* What pys_loop_submit makes of its arguments: an awaitable takes no
 * arguments, a callable is called with them, anything else is refused, and
 * each refusal says what was passed. Every test runs once per Python. */
#include <string.h>


#include "pyshim_test.h"

static const char helpers[] =
    "import asyncio\n"
    "async def add(a, b=0):\n"
    "    await asyncio.sleep(0)\n"
    "    return a + b\n"
    "class Both:\n"
    "    '''Awaitable and callable: called when given arguments.'''\n"
    "    def __await__(self):\n"
    "        yield from asyncio.sleep(0).__await__()\n"
    "        return 7\n"
    "    def __call__(self, x):\n"
    "        return add(x, 100)\n"
    "both = Both()\n"
    "class OnlyAw:\n"
    "    def __await__(self):\n"
    "        yield from asyncio.sleep(0).__await__()\n"
    "        return 7\n";

static int64_t wait_i64(pys_future *f)
{
    cr_assert(f, "%s: %s", pys_err_name(pys_last_error()->code), pys_last_error()->message);
    pyt_assert_ok(pys_future_wait(f, 10000));
    pys_obj v = pys_future_result(f);
    pyt_assert_h(v);
    int64_t i = 0;
    pyt_assert_ok(pys_to_int64(v, &i));
    pys_release(v);
    pys_future_free(f);
    return i;
}

PYS_TEST(submit, coroutine_with_arguments_is_an_argument_error)
{
    pyt_assert_ok(pys_exec(rt, helpers));
    pys_loop *loop = pys_loop_start(rt);
    cr_assert(loop, "%s", pys_last_error()->message);
    pys_obj coro = pys_eval(rt, "add(1, 2)");
    pyt_assert_h(coro);
    pys_obj one = pys_from_int64(rt, 1);
    for (size_t nargs = 1; nargs <= 2; nargs++) {
        pys_obj args[2] = {one, one};
        cr_assert_null(pys_loop_submit(loop, coro, args, nargs, NULL, NULL));
        const pys_error *e = pys_last_error();
        cr_assert_eq(e->code, PYS_E_ARG, "%s: %s", pys_err_name(e->code), e->message);
        cr_assert(strstr(e->message, "coroutine") && strstr(e->message, "nargs"), "%s",
                  e->message);
        cr_assert(!strstr(e->message, "not coroutine"), "self-contradicting: %s", e->message);
    }
    /* Refused before anything ran: the coroutine is still good to submit. */
    cr_assert_eq(wait_i64(pys_loop_submit(loop, coro, NULL, 0, NULL, NULL)), 3);

    /* Another awaitable (not a coroutine) with arguments: also PYS_E_ARG. */
    pys_obj aw = pys_eval(rt, "OnlyAw()");
    pyt_assert_h(aw);
    cr_assert_null(pys_loop_submit(loop, aw, &one, 1, NULL, NULL));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG, "%s", pys_last_error()->message);
    cr_assert(strstr(pys_last_error()->message, "OnlyAw"), "%s", pys_last_error()->message);
    cr_assert_eq(wait_i64(pys_loop_submit(loop, aw, NULL, 0, NULL, NULL)), 7);
    pys_release(aw);

    /* Something that is neither: a type error naming it, whatever nargs. */
    pys_obj five = pys_from_int64(rt, 5);
    for (size_t nargs = 0; nargs <= 1; nargs++) {
        cr_assert_null(pys_loop_submit(loop, five, &one, nargs, NULL, NULL));
        cr_assert_eq(pys_last_error()->code, PYS_E_TYPE, "%s", pys_last_error()->message);
        cr_assert(strstr(pys_last_error()->message, "not int"), "%s", pys_last_error()->message);
    }
    pys_release(five);

    /* Awaitable and callable: awaited without arguments, called with. */
    pys_obj both = pys_eval(rt, "both");
    cr_assert_eq(wait_i64(pys_loop_submit(loop, both, NULL, 0, NULL, NULL)), 7);
    cr_assert_eq(wait_i64(pys_loop_submit(loop, both, &one, 1, NULL, NULL)), 101);
    /* An async function with its arguments. */
    pys_obj add = pys_eval(rt, "add");
    pys_obj args[2] = {one, one};
    cr_assert_eq(wait_i64(pys_loop_submit(loop, add, args, 2, NULL, NULL)), 2);
    pys_release(add);
    pys_release(both);
    pys_release(one);
    pys_release(coro);
    pyt_assert_ok(pys_loop_stop(loop));
}
