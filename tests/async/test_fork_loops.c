/* Loops in a child of os.fork(): their threads are not there. The child
 * can still stop them, free their futures (pending ones read as
 * cancelled), start new loops and close. Every test runs once per
 * supported Python found; the child reports through its exit status. */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pyshim_test.h"

static const char setup[] = "import asyncio\n"
                            "async def forever():\n"
                            "    await asyncio.sleep(3600)\n"
                            "async def quick(x):\n"
                            "    return x * 2\n";

PYS_TEST(fork_loops, child_stops_and_frees_the_parents_loops, .timeout = 120)
{
    pyt_skip_if_fork_unsafe();
    pyt_assert_ok(pys_exec(rt, setup));
    pys_obj forever = pys_eval(rt, "forever");
    pys_obj quick = pys_eval(rt, "quick");
    pyt_assert_h(forever);
    pyt_assert_h(quick);
    pys_loop *loop = pys_loop_start(rt);
    cr_assert_not_null(loop);
    pys_future *f1 = pys_loop_submit(loop, forever, NULL, 0, NULL, NULL);
    pys_future *f2 = pys_run_async_bg(rt, "forever()", NULL, NULL);
    cr_assert_not_null(f1);
    cr_assert_not_null(f2);
    pyt_assert_ok(pys_exec(rt, "import os, warnings\n"
                               "warnings.simplefilter('ignore', DeprecationWarning)\n"
                               "pid = os.fork()\n"));
    int64_t pid = pyt_eval_i64(rt, "pid");
    if (pid == 0) {
        alarm(20);
        PYT_CHILD_CHECK(1, pys_future_wait(f1, 2000) == PYS_E_CANCELLED);
        PYT_CHILD_CHECK(2, pys_future_wait(f2, 2000) == PYS_E_CANCELLED);
        pys_obj one = pys_from_int64(rt, 1);
        PYT_CHILD_CHECK(3, pys_loop_submit(loop, quick, &one, 1, NULL, NULL) == NULL);
        PYT_CHILD_CHECK(4, pys_last_error()->code == PYS_E_STATE);
        PYT_CHILD_CHECK(5, pys_loop_stop(loop) == PYS_OK);
        pys_future_free(f1);
        pys_future_free(f2);
        pys_loop *l2 = pys_loop_start(rt);
        PYT_CHILD_CHECK(6, l2 != NULL);
        pys_future *f3 = pys_loop_submit(l2, quick, &one, 1, NULL, NULL);
        PYT_CHILD_CHECK(7, f3 && pys_future_wait(f3, 5000) == PYS_OK);
        pys_future_free(f3);
        pys_future *f4 = pys_call_async_bg(quick, &one, 1, NULL, NULL);
        PYT_CHILD_CHECK(8, f4 && pys_future_wait(f4, 5000) == PYS_OK);
        pys_future_free(f4);
        PYT_CHILD_CHECK(9, pys_loop_stop(l2) == PYS_OK);
        PYT_CHILD_CHECK(10, pys_close(rt) == PYS_OK);
        _exit(0);
    }
    int st = 0;
    pid_t r = 0;
    for (int i = 0; i < 3000 && (r = waitpid((pid_t)pid, &st, WNOHANG)) == 0; i++) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    if (r == 0) {
        kill((pid_t)pid, SIGKILL);
        waitpid((pid_t)pid, &st, 0);
    }
    cr_assert(r != 0, "the child hung");
    cr_assert(WIFEXITED(st), "the child died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    cr_assert_eq(WEXITSTATUS(st), 0, "child check %d failed", WEXITSTATUS(st));
    /* The parent's loops are untouched. */
    pyt_assert_ok(pys_future_cancel(f1));
    cr_assert_eq(pys_future_wait(f1, 5000), PYS_E_CANCELLED);
    pys_future_free(f1);
    pys_future_free(f2);
    pyt_assert_ok(pys_loop_stop(loop));
    pys_release(forever);
    pys_release(quick);
}
