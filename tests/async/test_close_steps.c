/* pys_close with the state of every area live at once (the close sequence
 * of core/runtime.h): loops with a pending coroutine, a watched script
 * (and with it the recipes' helper), memory lent with a release callback,
 * the policy and a bridge function. Close tears each down; the next open
 * sets each up again and its close tears them down again (except on
 * CPython 3.12.0-3.12.4, where that open is refused). Every test runs once
 * per supported Python found. */
#include "pyshim_test.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int bridge_released, memory_released;

static int answer(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs, void *ud,
                  pys_obj *result)
{
    (void)args;
    (void)nargs;
    (void)kwargs;
    (void)ud;
    *result = pys_from_int64(rt, 42);
    return pys_ok(*result) ? PYS_OK : pys_last_error()->code;
}

static void on_bridge_release(void *ud)
{
    (void)ud;
    atomic_fetch_add(&bridge_released, 1);
}

static void on_memory_release(void *data, void *ud)
{
    (void)data;
    (void)ud;
    atomic_fetch_add(&memory_released, 1);
}

static void on_reload(void *ud, pys_obj script, int rc, bool reloaded)
{
    (void)ud;
    (void)script;
    (void)rc;
    (void)reloaded;
}

PYS_TEST_NOOPEN(close_steps, every_area_torn_down_and_set_up_again, .timeout = 120)
{
    char dir[] = "/tmp/pyshim-close-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[4200];
    snprintf(path, sizeof path, "%s/s.py", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("def value():\n    return 7\n", f);
    fclose(f);
    static char block[64];
    /* 3.8 cannot define buffer exporters: no release callbacks there. */
    bool lend = !(py->major == 3 && py->minor < 9);

    int micro = -1;
    for (int round = 1; round <= 2; round++) {
        pys_runtime *rt = NULL;
        if (round == 2 && py->major == 3 && py->minor == 12 && micro < 5) {
            /* asyncio and the recipes' hashlib loaded extension modules
             * that 3.12.0-3.12.4 crash on once initialised again
             * (gh-122334): the open is refused instead (test_reopen.c). */
            pys_options o = {.library_path = py->path, .ignore_environment = true};
            int rc = pys_open(&o, &rt);
            cr_assert_eq(rc, PYS_E_STATE, "3.12.%d reopen: %s", micro, pys_err_name(rc));
            cr_assert(strstr(pys_last_error()->message, "gh-122334"), "%s",
                      pys_last_error()->message);
            break;
        }
        rt = pyt_open(py);
        pys_info info;
        pyt_assert_ok(pys_get_info(rt, &info));
        micro = info.micro;
        pys_bridge_func bf = {.name = "answer", .fn = answer, .release = on_bridge_release};
        pyt_assert_ok(pys_register(rt, &bf));
        cr_assert_eq(pyt_eval_i64(rt, "__import__('c_bridge').answer()"), 42);

        pys_loop *loop = pys_loop_start(rt);
        cr_assert_not_null(loop, "%s", pys_last_error()->message);
        pys_obj sleep = pys_eval(rt, "__import__('asyncio').sleep");
        pyt_assert_h(sleep);
        pys_obj secs = pys_from_int64(rt, 3600);
        pys_future *fut = pys_loop_submit(loop, sleep, &secs, 1, NULL, NULL);
        cr_assert_not_null(fut, "%s", pys_last_error()->message);
        pys_release(secs);
        pys_release(sleep);

        pys_obj s = pys_script_load(rt, path, PYS_NULL);
        pyt_assert_h(s);
        pyt_assert_ok(pys_script_watch(s, on_reload, NULL));

        if (lend) {
            pys_memview_desc d = {.data = block, .len = sizeof block,
                                  .release = on_memory_release};
            pys_obj mv = pys_memoryview_ex(rt, &d);
            pyt_assert_h(mv);
            pys_obj main = pys_import(rt, "__main__");
            pyt_assert_h(main);
            pyt_assert_ok(pys_setattr(main, "lent", mv)); /* alive until close */
            pys_release(main);
            pys_release(mv);
        }

        pyt_assert_ok(pys_close(rt));
        cr_assert_eq(atomic_load(&bridge_released), round, "bridge function released");
        if (lend)
            cr_assert_eq(atomic_load(&memory_released), round, "lent memory released");
        cr_assert_eq(pys_future_poll(fut), PYS_FUTURE_CANCELLED);
        pys_future_free(fut);
        pyt_assert_ok(pys_loop_stop(loop)); /* stopped by close; this frees it */
    }
    unlink(path);
    rmdir(dir);
}
