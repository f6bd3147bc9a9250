/* Async: coroutines run to completion, futures, persistent loop threads.
 * Every test runs once per supported Python found (PYS_TEST). */
#include "pyshim_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include "pyshim_clock.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define EXEC(rt, src) pyt_assert_ok(pys_exec((rt), (src)))

static int64_t take_i64(pys_obj h)
{
    pyt_assert_h(h);
    int64_t v = 0;
    pyt_assert_ok(pys_to_int64(h, &v));
    pys_release(h);
    return v;
}

static const char helpers[] =
    "import asyncio\n"
    "async def add(a, b=0):\n"
    "    await asyncio.sleep(0.001)\n"
    "    return a + b\n"
    "async def work(i):\n"
    "    await asyncio.sleep(0.001 * (i % 4))\n"
    "    return i * 3\n"
    "async def inner():\n"
    "    await asyncio.sleep(0)\n"
    "    raise ValueError('bad value 7')\n"
    "async def outer():\n"
    "    await inner()\n"
    "cancel_seen = []\n"
    "sleeping = []\n"
    "async def long_sleep(tag=0):\n"
    "    sleeping.append(tag)\n"
    "    try:\n"
    "        await asyncio.sleep(3600)\n"
    "    except asyncio.CancelledError:\n"
    "        cancel_seen.append(tag)\n"
    "        raise\n"
    "async def shrug():\n"
    "    try:\n"
    "        await asyncio.sleep(3600)\n"
    "    except asyncio.CancelledError:\n"
    "        return 'kept going'\n"
    "async def stubborn():\n"
    "    while True:\n"
    "        try:\n"
    "            await asyncio.sleep(3600)\n"
    "        except asyncio.CancelledError:\n"
    "            pass\n"
    "async def self_cancel():\n"
    "    asyncio.current_task().cancel()\n"
    "    await asyncio.sleep(1)\n"
    "class Aw:\n"
    "    def __await__(self):\n"
    "        yield from asyncio.sleep(0).__await__()\n"
    "        return 7\n"
    "def not_async(x):\n"
    "    return x\n"
    "def raiser():\n"
    "    raise KeyError('nope')\n";

/* Counts completions and remembers the callback thread and statuses. */
typedef struct cb_rec {
    _Atomic int calls;
    _Atomic int finished, failed, cancelled;
    pthread_t thread;
    _Atomic int thread_set;
    _Atomic int other_thread; /* a callback ran on a different thread */
    pthread_t forbidden;      /* must not run on this thread */
    _Atomic int on_forbidden;
    _Atomic int bad_error;    /* pys_future_error disagreed with the status */
} cb_rec;

static void count_cb(pys_future *f, pys_future_status st, void *ud)
{
    cb_rec *r = ud;
    const pys_error *e = pys_future_error(f);
    if (!e || (st == PYS_FUTURE_FINISHED) != (e->code == PYS_OK))
        atomic_store(&r->bad_error, 1);
    atomic_fetch_add(&r->calls, 1);
    if (st == PYS_FUTURE_FINISHED)
        atomic_fetch_add(&r->finished, 1);
    else if (st == PYS_FUTURE_FAILED)
        atomic_fetch_add(&r->failed, 1);
    else if (st == PYS_FUTURE_CANCELLED)
        atomic_fetch_add(&r->cancelled, 1);
    int expect = 0;
    if (atomic_compare_exchange_strong(&r->thread_set, &expect, 1))
        r->thread = pthread_self();
    else if (atomic_load(&r->thread_set) == 1 && !pthread_equal(r->thread, pthread_self()))
        atomic_store(&r->other_thread, 1);
    if (pthread_equal(r->forbidden, pthread_self()))
        atomic_store(&r->on_forbidden, 1);
}

/* ---- running to completion --------------------------------------------------------- */

PYS_TEST(async, run_value)
{
    EXEC(rt, helpers);
    size_t base = pys_handle_count(rt);

    cr_assert_eq(take_i64(pys_run_async(rt, "asyncio.sleep(0.01, result=42)")), 42, "%s",
                 pyt_name(py));
    cr_assert_eq(take_i64(pys_run_async(rt, "add(40, 2)")), 42);
    cr_assert_eq(take_i64(pys_run_async(rt, "Aw()")), 7, "a non-coroutine awaitable");

    pys_obj add = pys_eval(rt, "add");
    pyt_assert_h(add);
    pys_obj args[2] = {pys_from_int64(rt, 30), pys_from_int64(rt, 12)};
    cr_assert_eq(take_i64(pys_call_async(add, args, 2)), 42);
    cr_assert_eq(take_i64(pys_call_asyncf(add, "q b=q", (int64_t)40, (int64_t)2)), 42);
    pys_obj coro = pys_eval(rt, "add(1, 2)");
    cr_assert_eq(take_i64(pys_await(coro)), 3);
    pys_release(coro);

    /* any value comes back, not only ints */
    pys_obj d = pys_run_async(rt, "asyncio.sleep(0, result={'a': [1, 2], 'b': None})");
    pyt_assert_h(d);
    char *json = pys_to_json_text(d);
    cr_assert_str_eq(json, "{\"a\":[1,2],\"b\":null}");
    free(json);
    pys_release(d);

    /* not awaitable, syntax error, sync function */
    cr_assert(!pys_ok(pys_run_async(rt, "1 + 1")));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    cr_assert(strstr(pys_last_error()->message, "int"), "%s", pys_last_error()->message);
    cr_assert(!pys_ok(pys_run_async(rt, "async def")));
    cr_assert_eq(pys_last_error()->code, PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "SyntaxError");
    pys_obj nf = pys_eval(rt, "not_async");
    cr_assert(!pys_ok(pys_call_async(nf, args, 1)));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    cr_assert(!pys_ok(pys_run_async(rt, NULL)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert(!pys_ok(pys_call_async(PYS_NULL, NULL, 0)));
    cr_assert_eq(pys_last_error()->code, PYS_E_HANDLE);
    /* 'N' handles are released even when the call fails */
    pys_obj n1 = pys_from_int64(rt, 5);
    cr_assert(!pys_ok(pys_call_asyncf(nf, "N", n1)));
    cr_assert_eq(pys_check(n1), PYS_E_HANDLE);
    /* a dead function handle: N released, the handle's error kept even
     * over a malformed format */
    pys_obj dead = pys_dup(nf);
    pys_release(dead);
    n1 = pys_from_int64(rt, 6);
    cr_assert(!pys_ok(pys_call_asyncf(dead, "x N", n1)));
    cr_assert_eq(pys_last_error()->code, PYS_E_HANDLE);
    cr_assert_eq(pys_check(n1), PYS_E_HANDLE);

    pys_release(nf);
    pys_release(args[0]);
    pys_release(args[1]);
    pys_release(add);
    cr_assert_eq(pys_handle_count(rt), base, "handles leaked: %zu vs %zu",
                 pys_handle_count(rt), base);
    /* no "never awaited" warnings made it into an exception */
    cr_assert_eq(pyt_eval_i64(rt, "1"), 1);
}

PYS_TEST(async, exception_traceback)
{
    EXEC(rt, helpers);
    cr_assert(!pys_ok(pys_run_async(rt, "outer()")));
    const pys_error *e = pys_last_error();
    cr_assert_eq(e->code, PYS_E_PYTHON, "%s", pys_err_name(e->code));
    cr_assert_str_eq(e->type, "ValueError");
    cr_assert_str_eq(e->context, "pys_run_async");
    cr_assert(strstr(e->message, "bad value 7"), "%s", e->message);
    cr_assert(strstr(e->traceback, "in inner"), "traceback: %s", e->traceback);
    cr_assert(strstr(e->traceback, "in outer"), "traceback: %s", e->traceback);
    cr_assert(strstr(e->traceback, "ValueError: bad value 7"), "traceback: %s", e->traceback);

    /* A coroutine ending in CancelledError is PYS_E_CANCELLED. */
    cr_assert(!pys_ok(pys_run_async(rt, "self_cancel()")));
    cr_assert_eq(pys_last_error()->code, PYS_E_CANCELLED, "%s: %s",
                 pys_err_name(pys_last_error()->code), pys_last_error()->message);

    /* The same through a future: wait, result and the future's own detail. */
    pys_loop *loop = pys_loop_start(rt);
    cr_assert(loop, "%s", pys_last_error()->message);
    pys_obj outer = pys_eval(rt, "outer");
    cb_rec rec = {0};
    pys_future *f = pys_loop_submit(loop, outer, NULL, 0, count_cb, &rec);
    cr_assert(f, "%s", pys_last_error()->message);
    pys_clear_error();
    cr_assert_eq(pys_future_wait(f, 10000), PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "ValueError");
    cr_assert_eq(pys_future_poll(f), PYS_FUTURE_FAILED);
    cr_assert_eq(atomic_load(&rec.failed), 1);
    pys_clear_error();
    cr_assert(!pys_ok(pys_future_result(f)));
    e = pys_last_error();
    cr_assert_eq(e->code, PYS_E_PYTHON);
    cr_assert_str_eq(e->type, "ValueError");
    cr_assert_str_eq(e->context, "pys_loop_submit");
    cr_assert(strstr(e->message, "bad value 7"), "%s", e->message);
    cr_assert(strstr(e->traceback, "in inner") && strstr(e->traceback, "ValueError: bad"),
              "traceback: %s", e->traceback);
    const pys_error *fe = pys_future_error(f);
    cr_assert(fe && fe->code == PYS_E_PYTHON && strstr(fe->traceback, "in outer"));
    pys_future_free(f);

    /* ... and from another thread, which gets its own copy of the detail */
    f = pys_loop_submit(loop, outer, NULL, 0, NULL, NULL);
    cr_assert(f);
    cr_assert_eq(pys_future_wait(f, 10000), PYS_E_PYTHON);
    pys_future_free(f);
    pys_release(outer);
    pyt_assert_ok(pys_loop_stop(loop));
}

/* ---- background one-shots ----------------------------------------------------------- */

PYS_TEST(async, background)
{
    EXEC(rt, helpers);
    size_t base = pys_handle_count(rt);
    cb_rec rec = {.forbidden = pthread_self()};
    pys_future *f = pys_run_async_bg(rt, "asyncio.sleep(0.01, result=42)", count_cb, &rec);
    cr_assert(f, "%s", pys_last_error()->message);
    pyt_assert_ok(pys_future_wait(f, 10000));
    cr_assert(pys_future_done(f));
    cr_assert_eq(pys_future_poll(f), PYS_FUTURE_FINISHED);
    cr_assert_eq(take_i64(pys_future_result(f)), 42);
    cr_assert_eq(take_i64(pys_future_result(f)), 42, "the value can be read twice");
    cr_assert_eq(pys_future_error(f)->code, PYS_OK);
    cr_assert_eq(atomic_load(&rec.finished), 1, "the callback ran before wait returned");
    cr_assert_eq(atomic_load(&rec.on_forbidden), 0, "callback ran on the submitting thread");
    pys_future_free(f);

    pys_obj add = pys_eval(rt, "add");
    pys_obj a = pys_from_int64(rt, 5);
    f = pys_call_async_bg(add, &a, 1, count_cb, &rec);
    cr_assert(f, "%s", pys_last_error()->message);
    pyt_assert_ok(pys_future_wait(f, 10000));
    cr_assert_eq(take_i64(pys_future_result(f)), 5);
    pys_future_free(f);

    /* failures are reported by the call; the callback never runs */
    int before = atomic_load(&rec.calls);
    cr_assert_null(pys_run_async_bg(rt, "1", count_cb, &rec));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    cr_assert_null(pys_run_async_bg(rt, "undefined_name", count_cb, &rec));
    cr_assert_eq(pys_last_error()->code, PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "NameError");
    pys_obj nf = pys_eval(rt, "not_async");
    cr_assert_null(pys_call_async_bg(nf, &a, 1, count_cb, &rec));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    cr_assert_null(pys_run_async_bg(NULL, "x", count_cb, &rec));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);

    /* cancel a background sleep */
    f = pys_run_async_bg(rt, "long_sleep(9)", count_cb, &rec);
    cr_assert(f);
    cr_assert_eq(pys_future_wait(f, 50), PYS_E_PENDING);
    pyt_assert_ok(pys_future_cancel(f));
    cr_assert_eq(pys_future_wait(f, 10000), PYS_E_CANCELLED);
    pys_future_free(f);
    cr_assert_eq(atomic_load(&rec.calls), before + 1);
    cr_assert_eq(pyt_eval_i64(rt, "cancel_seen.count(9)"), 1);

    pys_release(nf);
    pys_release(a);
    pys_release(add);
    cr_assert_eq(pys_handle_count(rt), base);
}

/* ---- 1000 coroutines from 8 threads --------------------------------------------------- */

#define SUBMITTERS 8
#define PER_THREAD 125

typedef struct submit_ctx {
    pys_runtime *rt;
    pys_loop *loop;
    pys_obj work;
    int index;
    cb_rec *rec;
    int wrong, failed;
    char msg[256];
} submit_ctx;

static void *submitter(void *arg)
{
    submit_ctx *c = arg;
    pys_future *fs[PER_THREAD];
    for (int i = 0; i < PER_THREAD; i++) {
        int64_t n = (int64_t)c->index * PER_THREAD + i;
        fs[i] = pys_loop_submitf(c->loop, count_cb, c->rec, c->work, "q", n);
        if (!fs[i]) {
            c->failed++;
            snprintf(c->msg, sizeof c->msg, "submit: %s", pys_last_error()->message);
        }
    }
    for (int i = 0; i < PER_THREAD; i++) {
        if (!fs[i])
            continue;
        int64_t n = (int64_t)c->index * PER_THREAD + i;
        if (pys_future_wait(fs[i], 60000) != PYS_OK) {
            c->failed++;
            snprintf(c->msg, sizeof c->msg, "wait: %s", pys_last_error()->message);
        } else {
            pys_obj v = pys_future_result(fs[i]);
            int64_t got = -1;
            if (!pys_ok(v) || pys_to_int64(v, &got) != PYS_OK || got != n * 3)
                c->wrong++;
            pys_release(v);
        }
        pys_future_free(fs[i]);
    }
    return NULL;
}

PYS_TEST(async, thousand_from_eight_threads)
{
    EXEC(rt, helpers);
    size_t base = pys_handle_count(rt);
    pys_loop *loop = pys_loop_start(rt);
    cr_assert(loop, "%s", pys_last_error()->message);
    pys_obj work = pys_eval(rt, "work");
    pyt_assert_h(work);
    cb_rec rec = {.forbidden = pthread_self()};
    submit_ctx ctx[SUBMITTERS];
    pthread_t th[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++) {
        ctx[i] = (submit_ctx){.rt = rt, .loop = loop, .work = work, .index = i, .rec = &rec};
        cr_assert_eq(pthread_create(&th[i], NULL, submitter, &ctx[i]), 0);
    }
    for (int i = 0; i < SUBMITTERS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(ctx[i].failed, 0, "thread %d: %d failed (%s)", i, ctx[i].failed, ctx[i].msg);
        cr_assert_eq(ctx[i].wrong, 0, "thread %d: %d wrong values", i, ctx[i].wrong);
    }
    cr_assert_eq(atomic_load(&rec.calls), SUBMITTERS * PER_THREAD);
    cr_assert_eq(atomic_load(&rec.finished), SUBMITTERS * PER_THREAD);
    cr_assert_eq(atomic_load(&rec.other_thread), 0, "callbacks ran on more than one thread");
    cr_assert_eq(atomic_load(&rec.on_forbidden), 0);
    pys_release(work);
    pyt_assert_ok(pys_loop_stop(loop));
    cr_assert_eq(pys_handle_count(rt), base);
}

/* ---- cancellation ------------------------------------------------------------------------ */

PYS_TEST(async, cancel_long_sleep)
{
    EXEC(rt, helpers);
    pys_loop *loop = pys_loop_start(rt);
    cr_assert(loop);
    pys_obj ls = pys_eval(rt, "long_sleep");
    cb_rec rec = {0};
    pys_future *f = pys_loop_submitf(loop, count_cb, &rec, ls, "i", 1);
    cr_assert(f, "%s", pys_last_error()->message);
    cr_assert_eq(pys_future_wait(f, 0), PYS_E_PENDING);
    cr_assert_eq(pys_future_wait(f, 100), PYS_E_PENDING);
    cr_assert(!pys_future_done(f));
    cr_assert(!pys_ok(pys_future_result(f)));
    cr_assert_eq(pys_last_error()->code, PYS_E_PENDING);
    cr_assert_null(pys_future_error(f));

    double t0 = now_s();
    pyt_assert_ok(pys_future_cancel(f));
    cr_assert_eq(pys_future_wait(f, 10000), PYS_E_CANCELLED);
    cr_assert(now_s() - t0 < 2.0, "cancel took %.2fs", now_s() - t0);
    cr_assert_eq(pys_future_poll(f), PYS_FUTURE_CANCELLED);
    cr_assert(!pys_ok(pys_future_result(f)));
    cr_assert_eq(pys_last_error()->code, PYS_E_CANCELLED);
    cr_assert_eq(pys_future_cancel(f), PYS_E_STATE, "cancelling a completed future");
    cr_assert_eq(atomic_load(&rec.cancelled), 1);
    cr_assert_eq(pyt_eval_i64(rt, "cancel_seen.count(1)"), 1, "the coroutine saw the cancel");
    pys_future_free(f);

    /* cancelled right after submission, before it could start */
    f = pys_loop_submitf(loop, count_cb, &rec, ls, "i", 2);
    pyt_assert_ok(pys_future_cancel(f));
    cr_assert_eq(pys_future_wait(f, 10000), PYS_E_CANCELLED);
    pys_future_free(f);

    /* a coroutine may refuse: then its value is the outcome */
    pys_obj shrug = pys_eval(rt, "shrug");
    f = pys_loop_submit(loop, shrug, NULL, 0, NULL, NULL);
    pyt_sleep_ms(50);
    pyt_assert_ok(pys_future_cancel(f));
    pyt_assert_ok(pys_future_wait(f, 10000));
    pys_obj v = pys_future_result(f);
    cr_assert_str_eq(pys_str_view(v, NULL), "kept going");
    pys_release(v);
    pys_future_free(f);

    /* freeing a pending future cancels it and its callback never runs */
    int calls = atomic_load(&rec.calls);
    f = pys_loop_submitf(loop, count_cb, &rec, ls, "i", 3);
    pyt_sleep_ms(20);
    pys_future_free(f);
    double t1 = now_s();
    while (pyt_eval_i64(rt, "cancel_seen.count(3)") == 0 && now_s() - t1 < 5)
        pyt_sleep_ms(5);
    cr_assert_eq(pyt_eval_i64(rt, "cancel_seen.count(3)"), 1);
    pyt_sleep_ms(20);
    cr_assert_eq(atomic_load(&rec.calls), calls, "callback ran after pys_future_free");

    pys_release(shrug);
    pys_release(ls);
    pyt_assert_ok(pys_loop_stop(loop));
}

/* ---- stopping ----------------------------------------------------------------------------- */

PYS_TEST(async, stop_with_pending_work)
{
    EXEC(rt, helpers);
    size_t base = pys_handle_count(rt);
    pys_loop *loop = pys_loop_start(rt);
    cr_assert(loop);
    pys_obj ls = pys_eval(rt, "long_sleep");
    pys_obj add = pys_eval(rt, "add");
    cb_rec rec = {0};
    enum { N = 100 };
    pys_future *fs[N];
    for (int i = 0; i < N; i++) {
        fs[i] = pys_loop_submitf(loop, count_cb, &rec, ls, "i", 100 + i);
        cr_assert(fs[i], "%s", pys_last_error()->message);
    }
    pys_future *quick = pys_loop_submitf(loop, count_cb, &rec, add, "i i", 1, 1);
    pyt_assert_ok(pys_future_wait(quick, 10000));
    /* a coroutine still queued when stop is called is cancelled too */
    pys_future *late = pys_loop_submitf(loop, count_cb, &rec, ls, "i", 99);
    double t0 = now_s();
    pyt_assert_ok(pys_loop_stop(loop));
    double took = now_s() - t0;
    cr_assert(took < 3.0, "stop took %.2fs", took);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(pys_future_poll(fs[i]), PYS_FUTURE_CANCELLED);
        cr_assert_eq(pys_future_wait(fs[i], 0), PYS_E_CANCELLED);
        pys_future_free(fs[i]);
    }
    cr_assert_eq(pys_future_poll(late), PYS_FUTURE_CANCELLED);
    pys_future_free(late);
    cr_assert_eq(take_i64(pys_future_result(quick)), 2, "results outlive their loop");
    pys_future_free(quick);
    cr_assert_eq(atomic_load(&rec.calls), N + 2);
    cr_assert_eq(atomic_load(&rec.cancelled), N + 1);
    cr_assert_eq(pyt_eval_i64(rt, "len([t for t in cancel_seen if t >= 100])"), N);
    pys_release(ls);
    pys_release(add);
    cr_assert_eq(pys_handle_count(rt), base, "handles leaked");
    /* the interpreter is fine afterwards */
    cr_assert_eq(take_i64(pys_run_async(rt, "asyncio.sleep(0, result=5)")), 5);
}

PYS_TEST(async, stop_stubborn_and_self_stopped)
{
    EXEC(rt, helpers);
    pys_loop *loop = pys_loop_start(rt);
    pys_obj stubborn = pys_eval(rt, "stubborn");
    pys_future *f = pys_loop_submit(loop, stubborn, NULL, 0, NULL, NULL);
    cr_assert(f);
    pyt_sleep_ms(20);
    double t0 = now_s();
    pyt_assert_ok(pys_loop_stop(loop));
    double took = now_s() - t0;
    cr_assert(took < 6.0, "stop of an uncancellable coroutine took %.2fs", took);
    cr_assert_eq(pys_future_wait(f, 0), PYS_E_CANCELLED);
    cr_assert(strstr(pys_last_error()->message, "loop was stopped"), "%s",
              pys_last_error()->message);
    pys_future_free(f);
    pys_release(stubborn);

    /* a loop stopped from Python refuses work; pys_loop_stop still frees it */
    loop = pys_loop_start(rt);
    EXEC(rt, "async def stop_me():\n    asyncio.get_running_loop().stop()\n    return 1\n");
    pys_obj stop_me = pys_eval(rt, "stop_me");
    f = pys_loop_submit(loop, stop_me, NULL, 0, NULL, NULL);
    int rc = pys_future_wait(f, 10000);
    cr_assert(rc == PYS_OK || rc == PYS_E_CANCELLED, "%s", pys_err_name(rc));
    pys_future_free(f);
    pys_future *g = NULL;
    for (int i = 0; i < 500; i++) {
        g = pys_loop_submit(loop, stop_me, NULL, 0, NULL, NULL);
        if (!g)
            break;
        pys_future_wait(g, 1000);
        pys_future_free(g);
        pyt_sleep_ms(10);
    }
    cr_assert_null(g, "submissions still accepted by a stopped loop");
    cr_assert_eq(pys_last_error()->code, PYS_E_STATE);
    pyt_assert_ok(pys_loop_stop(loop));
    pys_release(stop_me);
}

/* ---- the GIL is given up: other threads are not starved -------------------------------- */

typedef struct eval_ctx {
    pys_runtime *rt;
    int n, ok;
    double took;
} eval_ctx;

static void *evaluator(void *arg)
{
    eval_ctx *c = arg;
    double t0 = now_s();
    for (int i = 0; i < c->n; i++) {
        pys_obj v = pys_eval(c->rt, "sum(range(100))");
        int64_t x = 0;
        if (pys_ok(v) && pys_to_int64(v, &x) == PYS_OK && x == 4950)
            c->ok++;
        pys_release(v);
    }
    c->took = now_s() - t0;
    return NULL;
}

PYS_TEST(async, eval_not_starved)
{
    EXEC(rt, helpers);
    EXEC(rt, "spin_stop = False\n"
             "async def spin():\n"
             "    n = 0\n"
             "    while not spin_stop:\n"
             "        n += 1\n"
             "        if n % 1000000 == 0:\n"
             "            await asyncio.sleep(0)\n"
             "    return n\n");
    pys_loop *loop = pys_loop_start(rt);
    /* Idle loop (waiting in its selector): evals run at full speed. */
    pys_obj ls = pys_eval(rt, "long_sleep");
    pys_future *idle = pys_loop_submitf(loop, NULL, NULL, ls, "i", 0);
    pyt_sleep_ms(20);
    eval_ctx c1 = {.rt = rt, .n = 2000};
    pthread_t th;
    pthread_create(&th, NULL, evaluator, &c1);
    pthread_join(th, NULL);
    cr_assert_eq(c1.ok, c1.n);
    cr_assert(c1.took < 5.0, "2000 evals next to an idle loop took %.2fs", c1.took);

    /* Busy loop (Python code running on it): a C thread still gets turns. */
    pys_obj spin = pys_eval(rt, "spin");
    pys_future *busy = pys_loop_submit(loop, spin, NULL, 0, NULL, NULL);
    pyt_sleep_ms(20);
    eval_ctx c2 = {.rt = rt, .n = 100};
    pthread_create(&th, NULL, evaluator, &c2);
    pthread_join(th, NULL);
    cr_assert_eq(c2.ok, c2.n);
    cr_assert(c2.took < 20.0, "100 evals next to a busy loop took %.2fs", c2.took);
    cr_log_info("%s: 2000 evals beside an idle loop %.3fs, 100 beside a busy one %.3fs",
                pyt_name(py), c1.took, c2.took);
    cr_assert(!pys_future_done(busy), "the busy coroutine should still be running");
    EXEC(rt, "spin_stop = True");
    pyt_assert_ok(pys_future_wait(busy, 10000));
    cr_assert(take_i64(pys_future_result(busy)) > 0);
    pys_future_free(busy);

    /* Waiting inside a batch gives the GIL up, so the loop can finish. */
    pyt_assert_ok(pys_gil_acquire(rt));
    pys_future *f = pys_run_async_bg(rt, "asyncio.sleep(0.01, result=3)", NULL, NULL);
    pyt_assert_ok(pys_future_wait(f, 10000));
    cr_assert_eq(take_i64(pys_future_result(f)), 3);
    pyt_assert_ok(pys_gil_release(rt));
    pys_future_free(f);

    pys_future_free(idle); /* cancels it */
    pys_release(ls);
    pys_release(spin);
    pyt_assert_ok(pys_loop_stop(loop));
}

/* ---- many loops at once ------------------------------------------------------------------ */

#define NLOOPS 6
#define NSUB 3
#define PER_LOOP 40

typedef struct multi_ctx {
    pys_loop **loops;
    pys_obj work;
    int index;
    cb_rec *recs;
    int bad;
    char msg[256];
} multi_ctx;

static void *multi_submitter(void *arg)
{
    multi_ctx *c = arg;
    enum { TOTAL = NLOOPS * PER_LOOP };
    pys_future **fs = calloc(TOTAL, sizeof *fs);
    int64_t *want = calloc(TOTAL, sizeof *want);
    for (int i = 0; i < TOTAL; i++) {
        int l = i % NLOOPS;
        want[i] = (int64_t)c->index * 100000 + i;
        fs[i] = pys_loop_submitf(c->loops[l], count_cb, &c->recs[l], c->work, "q", want[i]);
        if (!fs[i]) {
            c->bad++;
            snprintf(c->msg, sizeof c->msg, "%s", pys_last_error()->message);
        }
    }
    for (int i = 0; i < TOTAL; i++) {
        if (!fs[i])
            continue;
        int64_t got = -1;
        pys_obj v = PYS_NULL;
        if (pys_future_wait(fs[i], 60000) != PYS_OK || !pys_ok(v = pys_future_result(fs[i])) ||
            pys_to_int64(v, &got) != PYS_OK || got != want[i] * 3) {
            c->bad++;
            snprintf(c->msg, sizeof c->msg, "%s", pys_last_error()->message);
        }
        pys_release(v);
        pys_future_free(fs[i]);
    }
    free(fs);
    free(want);
    return NULL;
}

static void *stopper(void *arg)
{
    return (void *)(intptr_t)pys_loop_stop(arg);
}

PYS_TEST(async, many_loops)
{
    EXEC(rt, helpers);
    size_t base = pys_handle_count(rt);
    pys_loop *loops[NLOOPS];
    cb_rec recs[NLOOPS];
    memset(recs, 0, sizeof recs);
    for (int i = 0; i < NLOOPS; i++) {
        loops[i] = pys_loop_start(rt);
        cr_assert(loops[i], "%s", pys_last_error()->message);
    }
    pys_obj work = pys_eval(rt, "work");
    multi_ctx ctx[NSUB];
    pthread_t th[NSUB];
    for (int i = 0; i < NSUB; i++) {
        ctx[i] = (multi_ctx){.loops = loops, .work = work, .index = i, .recs = recs};
        pthread_create(&th[i], NULL, multi_submitter, &ctx[i]);
    }
    for (int i = 0; i < NSUB; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(ctx[i].bad, 0, "submitter %d: %d bad (%s)", i, ctx[i].bad, ctx[i].msg);
    }
    for (int i = 0; i < NLOOPS; i++) {
        cr_assert_eq(atomic_load(&recs[i].finished), NSUB * PER_LOOP);
        cr_assert_eq(atomic_load(&recs[i].other_thread), 0);
        for (int j = 0; j < i; j++)
            cr_assert(!pthread_equal(recs[i].thread, recs[j].thread),
                      "loops %d and %d share a thread", i, j);
    }
    pys_release(work);
    /* stop them all at once, from different threads */
    pthread_t st[NLOOPS];
    for (int i = 0; i < NLOOPS; i++)
        pthread_create(&st[i], NULL, stopper, loops[i]);
    for (int i = 0; i < NLOOPS; i++) {
        void *rc = NULL;
        pthread_join(st[i], &rc);
        cr_assert_eq((int)(intptr_t)rc, PYS_OK);
    }
    cr_assert_eq(pys_handle_count(rt), base);
}

/* ---- callbacks and argument errors ------------------------------------------------------- */

typedef struct nested_ctx {
    pys_future *other;
    int wait_other_rc, wait_self_rc;
    int64_t value;
} nested_ctx;

static void nested_cb(pys_future *f, pys_future_status st, void *ud)
{
    nested_ctx *c = ud;
    c->wait_self_rc = pys_future_wait(f, 1000);
    c->wait_other_rc = pys_future_wait(c->other, 1000);
    pys_obj v = pys_future_result(f);
    if (pys_ok(v))
        pys_to_int64(v, &c->value);
    pys_release(v);
    pys_future_free(f); /* freeing from the callback is allowed */
}

PYS_TEST(async, callbacks_and_errors)
{
    EXEC(rt, helpers);
    size_t base = pys_handle_count(rt);
    pys_loop *loop = pys_loop_start(rt);
    cb_rec rec = {0};

    cr_assert_null(pys_loop_submit(NULL, PYS_NULL, NULL, 0, NULL, NULL));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert_eq(pys_loop_stop(NULL), PYS_E_ARG);
    cr_assert_eq(pys_future_wait(NULL, 0), PYS_E_ARG);
    cr_assert_eq(pys_future_cancel(NULL), PYS_E_ARG);
    cr_assert(!pys_ok(pys_future_result(NULL)));
    cr_assert_eq(pys_future_poll(NULL), PYS_FUTURE_PENDING);
    pys_future_free(NULL);
    cr_assert_null(pys_loop_start(NULL));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);

    pys_obj num = pys_from_int64(rt, 3);
    cr_assert_null(pys_loop_submit(loop, num, NULL, 0, count_cb, &rec));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    pys_obj nf = pys_eval(rt, "not_async");
    cr_assert_null(pys_loop_submit(loop, nf, &num, 1, count_cb, &rec));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    pys_obj raiser = pys_eval(rt, "raiser");
    cr_assert_null(pys_loop_submit(loop, raiser, NULL, 0, count_cb, &rec));
    cr_assert_eq(pys_last_error()->code, PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "KeyError");
    cr_assert_null(pys_loop_submit(loop, PYS_NULL, NULL, 0, count_cb, &rec));
    cr_assert_eq(pys_last_error()->code, PYS_E_HANDLE);
    pys_obj add = pys_eval(rt, "add");
    cr_assert_null(pys_loop_submit(loop, add, NULL, 2, count_cb, &rec));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    pys_obj n1 = pys_from_int64(rt, 1);
    cr_assert_null(pys_loop_submitf(NULL, count_cb, &rec, add, "N", n1));
    cr_assert_eq(pys_check(n1), PYS_E_HANDLE, "'N' released on failure");
    cr_assert_null(pys_loop_submitf(loop, count_cb, &rec, add, "q q q q", (int64_t)1,
                                    (int64_t)2, (int64_t)3, (int64_t)4));
    cr_assert_eq(pys_last_error()->code, PYS_E_PYTHON, "TypeError from the call");
    pyt_sleep_ms(50);
    cr_assert_eq(atomic_load(&rec.calls), 0, "a failed submit called its callback");

    /* a coroutine object (not a function) is submitted as is */
    pys_obj coro = pys_eval(rt, "add(20, 1)");
    pys_future *f = pys_loop_submit(loop, coro, NULL, 0, count_cb, &rec);
    pyt_assert_ok(pys_future_wait(f, 10000));
    cr_assert_eq(take_i64(pys_future_result(f)), 21);
    pys_future_free(f);
    pys_release(coro);

    /* inside a callback: waiting on itself returns at once, waiting on a
     * pending future of the same loop is refused, freeing is allowed */
    pys_obj ls = pys_eval(rt, "long_sleep");
    nested_ctx nc = {.wait_self_rc = 1, .wait_other_rc = 1};
    nc.other = pys_loop_submit(loop, ls, NULL, 0, NULL, NULL);
    pys_future *g = pys_loop_submitf(loop, nested_cb, &nc, add, "i i", 2, 2);
    cr_assert(g);
    double t0 = now_s();
    while (nc.wait_other_rc == 1 && now_s() - t0 < 10)
        pyt_sleep_ms(5);
    cr_assert_eq(nc.wait_self_rc, PYS_OK);
    cr_assert_eq(nc.wait_other_rc, PYS_E_STATE);
    cr_assert_eq(nc.value, 4);
    pys_future_free(nc.other);

    pys_release(num);
    pys_release(nf);
    pys_release(raiser);
    pys_release(add);
    pys_release(ls);
    pyt_assert_ok(pys_loop_stop(loop));
    cr_assert_eq(pys_handle_count(rt), base);
}

/* ---- deadlines and interrupts reach a blocking run ------------------------------------------ */

typedef struct blocked_ctx {
    pys_runtime *rt;
    _Atomic int started;
    int rc;
    double took;
} blocked_ctx;

static void *blocked_runner(void *arg)
{
    blocked_ctx *c = arg;
    atomic_store(&c->started, 1);
    double t0 = now_s();
    pys_obj v = pys_run_async(c->rt, "long_sleep(77)");
    c->took = now_s() - t0;
    c->rc = pys_ok(v) ? PYS_OK : pys_last_error()->code;
    pys_release(v);
    return NULL;
}

PYS_TEST(async, deadline_and_interrupt)
{
    EXEC(rt, helpers);
    /* a deadline stops a coroutine that waits (no bytecode running) */
    pyt_assert_ok(pys_set_deadline(rt, 200));
    double t0 = now_s();
    cr_assert(!pys_ok(pys_run_async(rt, "asyncio.sleep(3600)")));
    double took = now_s() - t0;
    cr_assert_eq(pys_last_error()->code, PYS_E_TIMEOUT, "%s: %s",
                 pys_err_name(pys_last_error()->code), pys_last_error()->message);
    cr_assert(took < 3.0, "the deadline took %.2fs to land", took);
    pyt_assert_ok(pys_set_deadline(rt, 0));
    cr_assert_eq(take_i64(pys_run_async(rt, "asyncio.sleep(0.01, result=1)")), 1,
                 "usable after a deadline");

    /* pys_interrupt from another thread */
    blocked_ctx c = {.rt = rt, .rc = 1};
    pthread_t th;
    pthread_create(&th, NULL, blocked_runner, &c);
    while (!atomic_load(&c.started))
        pyt_sleep_ms(1);
    /* The interrupt must find the coroutine waiting: not before the
     * thread has started it (a loaded machine can take longer than any
     * fixed pause for that), then a pause for it to reach its await. */
    double t1 = now_s();
    while (pyt_eval_i64(rt, "sleeping.count(77)") == 0 && now_s() - t1 < 10)
        pyt_sleep_ms(5);
    cr_assert_eq(pyt_eval_i64(rt, "sleeping.count(77)"), 1, "the coroutine started");
    pyt_sleep_ms(100);
    cr_assert(pys_interrupt(rt) >= 1);
    pthread_join(th, NULL);
    cr_assert_eq(c.rc, PYS_E_INTERRUPTED, "%s", pys_err_name(c.rc));
    cr_assert(c.took < 4.0, "the interrupt took %.2fs to land", c.took);
    cr_assert_eq(pyt_eval_i64(rt, "cancel_seen.count(77)"), 1, "the coroutine was unwound");
}

PYS_TEST_NOOPEN(async, close_during_blocking_run)
{
    pys_runtime *rt = pyt_open(py);
    EXEC(rt, helpers);
    blocked_ctx c = {.rt = rt, .rc = 1};
    pthread_t th;
    pthread_create(&th, NULL, blocked_runner, &c);
    while (!atomic_load(&c.started))
        pyt_sleep_ms(1);
    pyt_sleep_ms(200);
    double t0 = now_s();
    pyt_close(rt);
    cr_assert(now_s() - t0 < 5.0, "close waited %.2fs for a sleeping coroutine", now_s() - t0);
    pthread_join(th, NULL);
    cr_assert(c.rc == PYS_E_INTERRUPTED || c.rc == PYS_E_CLOSED, "%s", pys_err_name(c.rc));
}

/* ---- close with running loops --------------------------------------------------------------- */

PYS_TEST_NOOPEN(async, close_with_running_loops)
{
    pys_runtime *rt = pyt_open(py);
    EXEC(rt, helpers);
    pys_loop *l1 = pys_loop_start(rt), *l2 = pys_loop_start(rt);
    cr_assert(l1 && l2);
    pys_obj ls = pys_eval(rt, "long_sleep");
    pys_obj add = pys_eval(rt, "add");
    cb_rec rec = {0};
    pys_future *fs[20];
    for (int i = 0; i < 20; i++)
        fs[i] = pys_loop_submitf(i % 2 ? l1 : l2, count_cb, &rec, ls, "i", i);
    pys_future *bg = pys_run_async_bg(rt, "long_sleep(50)", count_cb, &rec);
    pys_future *done = pys_loop_submitf(l1, count_cb, &rec, add, "i i", 3, 4);
    pyt_assert_ok(pys_future_wait(done, 10000));
    cr_assert(bg);
    pys_release(ls);
    pys_release(add);

    double t0 = now_s();
    pyt_close(rt);
    double took = now_s() - t0;
    cr_assert(took < 5.0, "close took %.2fs", took);

    for (int i = 0; i < 20; i++) {
        cr_assert_eq(pys_future_poll(fs[i]), PYS_FUTURE_CANCELLED);
        cr_assert_eq(pys_future_wait(fs[i], 1000), PYS_E_CANCELLED);
        pys_future_free(fs[i]);
    }
    cr_assert_eq(pys_future_poll(bg), PYS_FUTURE_CANCELLED);
    pys_future_free(bg);
    cr_assert_eq(atomic_load(&rec.calls), 22);
    cr_assert_eq(pys_future_poll(done), PYS_FUTURE_FINISHED);
    cr_assert(!pys_ok(pys_future_result(done)));
    cr_assert_eq(pys_last_error()->code, PYS_E_CLOSED);
    pys_future_free(done);
    cr_assert_eq(pys_future_cancel(NULL), PYS_E_ARG);
    /* the loops were stopped by pys_close; stopping frees them */
    pyt_assert_ok(pys_loop_stop(l1));
    pyt_assert_ok(pys_loop_stop(l2));
    cr_assert_null(pys_loop_start(rt));
    cr_assert_eq(pys_last_error()->code, PYS_E_CLOSED);
    cr_assert(!pys_ok(pys_run_async(rt, "x")));
    cr_assert_eq(pys_last_error()->code, PYS_E_CLOSED);
}
