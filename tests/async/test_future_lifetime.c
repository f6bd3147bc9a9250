/* Futures whose completion callback frees them ("fire and forget"), while
 * the submitting call is still on its way out. Every test runs once per
 * supported Python found. */
#include "pyshim_test.h"

#include <stdatomic.h>

static atomic_int freed_in_cb;

static void free_in_cb(pys_future *f, pys_future_status st, void *ud)
{
    (void)st;
    (void)ud;
    pys_future_free(f);
    atomic_fetch_add(&freed_in_cb, 1);
}

/* call_soon_threadsafe gives the GIL up (a sleep) after scheduling the job,
 * so the loop thread runs the coroutine to its end, and the callback frees
 * the future, before the submitting call has returned. */
static const char slow_enqueue[] =
    "import asyncio, time\n"
    "_orig = asyncio.BaseEventLoop.call_soon_threadsafe\n"
    "def _slow(self, *a, **k):\n"
    "    h = _orig(self, *a, **k)\n"
    "    time.sleep(0.002)\n"
    "    return h\n"
    "asyncio.BaseEventLoop.call_soon_threadsafe = _slow\n"
    "async def quick(i):\n"
    "    return i\n";

PYS_TEST(future_lifetime, callback_frees_before_submit_returns, .timeout = 120)
{
    atomic_store(&freed_in_cb, 0);
    pyt_assert_ok(pys_exec(rt, slow_enqueue));
    pys_obj quick = pys_eval(rt, "quick");
    pyt_assert_h(quick);
    pys_loop *loop = pys_loop_start(rt);
    cr_assert_not_null(loop, "pys_loop_start: %s", pys_last_error()->message);
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        /* The pointer may already be freed when this returns: only its
         * NULL-ness says anything. */
        pys_future *f = pys_loop_submitf(loop, free_in_cb, NULL, quick, "i", i);
        cr_assert_not_null(f, "submit %d: %s", i, pys_last_error()->message);
    }
    /* The same through the background loop. */
    pys_obj one = pys_from_int64(rt, 1);
    for (int i = 0; i < N / 4; i++)
        cr_assert_not_null(pys_call_async_bg(quick, &one, 1, free_in_cb, NULL), "bg %d: %s", i,
                           pys_last_error()->message);
    pys_release(one);
    /* Wait for all of them (each one freed itself). */
    for (int k = 0; k < 2000 && atomic_load(&freed_in_cb) < N + N / 4; k++)
        pyt_assert_ok(pys_exec(rt, "time.sleep(0.005)"));
    cr_assert_eq(atomic_load(&freed_in_cb), N + N / 4);
    pyt_assert_ok(pys_loop_stop(loop));
    pys_release(quick);
}
