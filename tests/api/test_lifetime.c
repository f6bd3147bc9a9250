/* Lifetime tests: objects and registrations that the caller's own code, or
 * another thread, lets go of while pyshim still uses them; nesting and
 * sizes that must fail cleanly; error detail that must outlive successful
 * calls. Objects under test are made large (many __slots__) where it
 * matters, so that CPython allocates them with malloc: a use after free is
 * then an ASan report, and in other builds the freed block is overwritten
 * by the allocator, besides the order of events the tests check. Every
 * PYS_TEST runs once per supported Python found. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "pyshim_test.h"

static void run(pys_runtime *rt, const char *src)
{
    int rc = pys_exec(rt, src);
    cr_assert_eq(rc, PYS_OK, "exec failed: %s: %s\n%s\n--- source:\n%s", pys_err_name(rc),
                 pys_last_error()->message, pys_last_error()->traceback, src);
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

/* str(eval(expr)) into a static buffer. */
static const char *eval_str(pys_runtime *rt, const char *expr)
{
    static char buf[4096];
    pys_obj o = pys_eval(rt, expr);
    cr_assert(pys_ok(o), "eval %s: %s", expr, pys_last_error()->message);
    char *s = pys_str_copy(o, NULL);
    cr_assert_not_null(s);
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    pys_release(o);
    return buf;
}

#define assert_py(rt, expr) cr_assert(eval_true((rt), (expr)), "not true in Python: %s", (expr))

/* A class whose instances CPython allocates with malloc (> 512 bytes),
 * that logs its finalisation, and the log. */
static const char big_src[] =
    "import threading\n"
    "log = []\n"
    "class Big:\n"
    "    __slots__ = tuple('s%d' % i for i in range(80)) + ('__weakref__',)\n"
    "    def __del__(self):\n"
    "        log.append('del')\n";

/* ---- item: release of an argument's handle on another thread mid-call ------------ */

typedef struct {
    pys_runtime *rt;
    pys_obj victim;
    int release_rc;
} releaser;

static void *release_when_inside(void *p)
{
    releaser *r = p;
    /* Waits (GIL let go) until the call on the main thread is inside the
     * callee and blocked there; then frees the only handle to its
     * argument, and lets the callee go on. */
    pys_obj w = pys_eval(r->rt, "ev_in.wait(30)");
    pys_release(w);
    r->release_rc = pys_release(r->victim);
    pys_obj s = pys_eval(r->rt, "ev_go.set()");
    pys_release(s);
    return NULL;
}

PYS_TEST(lifetime, release_of_argument_during_call, .timeout = 120)
{
    run(rt, big_src);
    /* list.extend(x) asks x for an iterator (x.__iter__ runs Python code,
     * which blocks, letting the GIL go), then asks x for its length: C code
     * that uses its borrowed argument after running Python code. */
    run(rt, "ev_in = threading.Event(); ev_go = threading.Event()\n"
            "class X(Big):\n"
            "    __slots__ = ()\n"
            "    def __iter__(self):\n"
            "        log.append('iter')\n"
            "        ev_in.set()\n"
            "        ev_go.wait(30)\n"
            "        return iter([1, 2, 3])\n"
            "    def __len__(self):\n"
            "        log.append('len:' + str('del' not in log))\n"
            "        return 3\n"
            "target = []\n");
    pys_obj x = pys_eval(rt, "X()"); /* the handle is the only reference */
    pys_obj extend = pys_eval(rt, "target.extend");
    pyt_assert_h(x);
    pyt_assert_h(extend);
    releaser r = {rt, x, 1};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, release_when_inside, &r), 0);
    pys_obj res = pys_call(extend, &x, 1);
    pthread_join(th, NULL);
    pyt_assert_h(res);
    pys_release(res);
    pys_release(extend);
    cr_assert_eq(r.release_rc, PYS_OK, "the other thread's pys_release failed");
    /* The call held its argument: freed only once the call was over. */
    cr_assert_str_eq(eval_str(rt, "log"), "['iter', 'len:True', 'del']");
    assert_py(rt, "target == [1, 2, 3]");
    cr_assert_eq(pys_release(x), PYS_E_HANDLE);
}

/* ---- item: pys_with whose body releases the manager's handle --------------------- */

static int with_body_release(pys_obj value, void *ud)
{
    pys_obj *mgr = ud;
    return pys_release(*mgr);
}

PYS_TEST(lifetime, with_body_releases_manager)
{
    run(rt, big_src);
    run(rt, "class M(Big):\n"
            "    __slots__ = ()\n"
            "    def __enter__(self):\n"
            "        log.append('enter')\n"
            "        return 42\n"
            "    def __exit__(self, *exc):\n"
            "        log.append('exit:' + str('del' not in log) + ':' + str(type(self).__name__))\n"
            "        return False\n");
    pys_obj m = pys_eval(rt, "M()");
    pyt_assert_h(m);
    int rc = pys_with(m, with_body_release, &m);
    pyt_assert_ok(rc);
    cr_assert_str_eq(eval_str(rt, "log"), "['enter', 'exit:True:M', 'del']");
}

/* ---- item: a bridge function that unregisters itself and drops the last
 * reference to itself during its own call ------------------------------------------- */

static struct {
    pys_obj self_h;   /* the host's handle to the function */
    int calls;
    bool in_cb;
    int released;
    bool released_in_cb;
    int rc_unreg, rc_unset, rc_release;
} selfkill;

static void selfkill_release(void *ud)
{
    selfkill.released++;
    selfkill.released_in_cb = selfkill.in_cb;
}

/* A profile hook: called with (frame, event, arg) by CPython's profiler,
 * which only lends the function it calls. The first call removes the
 * hook (sys.setprofile(None) drops the profiler's reference), unregisters
 * the function (drops the module's) and releases the host's handle to it
 * (the last one). */
static int selfkill_fn(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                       void *ud, pys_obj *result)
{
    if (selfkill.calls++)
        return PYS_OK;
    selfkill.in_cb = true;
    selfkill.rc_unset = pys_exec(rt, "import sys\nsys.setprofile(None)");
    selfkill.rc_unreg = pys_unregister(rt, "lt_selfkill");
    selfkill.rc_release = pys_release(selfkill.self_h);
    /* Code after the last reference went: the registration must still be
     * there for the bridge's own bookkeeping after this returns. */
    selfkill.in_cb = false;
    return PYS_OK;
}

PYS_TEST(lifetime, bridge_function_drops_itself_during_call)
{
    memset(&selfkill, 0, sizeof selfkill);
    pys_bridge_func f = {.name = "lt_selfkill", .fn = selfkill_fn,
                         .release = selfkill_release};
    pyt_assert_ok(pys_register(rt, &f));
    pys_obj mod = pys_bridge_module(rt);
    pyt_assert_h(mod);
    selfkill.self_h = pys_getattr(mod, "lt_selfkill");
    pyt_assert_h(selfkill.self_h);
    pys_release(mod);
    run(rt, "import sys, c_bridge\n"
            "sys.setprofile(c_bridge.lt_selfkill)\n"
            "x = 1\n");
    cr_assert_eq(selfkill.calls, 1, "profile hook called %d times", selfkill.calls);
    cr_assert_eq(selfkill.rc_unset, PYS_OK);
    cr_assert_eq(selfkill.rc_unreg, PYS_OK);
    cr_assert_eq(selfkill.rc_release, PYS_OK);
    /* release ran once, and only after the call that lost the function
     * had returned (the header: it waits for the last call). */
    cr_assert_eq(selfkill.released, 1, "release ran %d times", selfkill.released);
    cr_assert(!selfkill.released_in_cb, "release ran while the call was still running");
    assert_py(rt, "not hasattr(c_bridge, 'lt_selfkill')");
}

/* ---- item: pys_to_json of a dict that a value's conversion clears -------------------- */

PYS_TEST(lifetime, to_json_dict_cleared_during_conversion)
{
    /* The key is made at run time (no constant keeps it), long enough to
     * be malloc'd; the dict holds the only reference to it. */
    run(rt, "class L(list):\n"
            "    def __iter__(self):\n"
            "        d.clear()\n"
            "        return list.__iter__(self)\n"
            "key = ''.join(['k'] * 1000)\n"
            "d = {key: L([1, 2])}\n"
            "del key\n");
    pys_obj d = pys_eval(rt, "d");
    pyt_assert_h(d);
    cJSON *j = pys_to_json(d);
    const pys_error *e = pys_last_error();
    char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
    cr_assert_null(j, "converted a dict that changed under the conversion: %.80s",
                   txt ? txt : "?");
    cr_assert_eq(e->code, PYS_E_STATE, "%s: %s", pys_err_name(e->code), e->message);
    cr_assert(strstr(e->message, "changed size"), "message: %s", e->message);
    pys_release(d);

    /* A dict that changes without changing size converts what was there
     * when each entry was reached (the key is held while its value is
     * converted). */
    run(rt, "class R(list):\n"
            "    def __iter__(self):\n"
            "        d2.clear(); d2[''.join(['z'] * 3)] = 0\n"
            "        return list.__iter__(self)\n"
            "d2 = {''.join(['a'] * 600): R([7])}\n");
    d = pys_eval(rt, "d2");
    j = pys_to_json(d);
    cr_assert_not_null(j, "%s", pys_last_error()->message);
    cr_assert_not_null(j->child);
    cr_assert_eq(strlen(j->child->string), 600);
    cr_assert_eq(strspn(j->child->string, "a"), 600);
    cJSON_Delete(j);
    pys_release(d);
}

/* ---- item: a bridge callback that calls itself through pyshim without end --------- */

static int64_t rec_depth, rec_max;

static int recurse_fn(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                      void *ud, pys_obj *result)
{
    pys_obj *self = ud;
    if (++rec_depth > rec_max)
        rec_max = rec_depth;
    pys_obj r = pys_call(*self, NULL, 0);
    rec_depth--;
    if (!pys_ok(r))
        return pys_last_error()->code;
    *result = r;
    return PYS_OK;
}

static pys_obj rec_self;

static void *recurse_on_thread(void *p)
{
    pys_obj *out = p;
    *out = pys_call(rec_self, NULL, 0);
    static char type[64];
    snprintf(type, sizeof type, "%s", pys_last_error()->type);
    return pys_ok(*out) ? NULL : type;
}

PYS_TEST(lifetime, bridge_self_recursion_raises, .timeout = 300)
{
    pyt_assert_ok(pys_register_func(rt, "lt_rec", recurse_fn, &rec_self));
    pys_obj mod = pys_bridge_module(rt);
    rec_self = pys_getattr(mod, "lt_rec");
    pyt_assert_h(rec_self);
    pys_release(mod);

    /* On this (main) thread's stack. */
    rec_depth = rec_max = 0;
    pys_obj r = pys_call(rec_self, NULL, 0);
    cr_assert(!pys_ok(r), "unbounded recursion returned a value");
    const pys_error *e = pys_last_error();
    cr_assert_eq(e->code, PYS_E_PYTHON, "%s: %s", pys_err_name(e->code), e->message);
    cr_assert_str_eq(e->type, "RecursionError", "%s: %s", e->type, e->message);
    cr_assert_eq(rec_depth, 0);
    cr_log_info("[lifetime] %s: RecursionError at depth %lld", pyt_name(py),
                (long long)rec_max);

    /* On a thread with a small stack (512 KiB). */
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 512 * 1024);
    pthread_t th;
    pys_obj out = PYS_NULL;
    rec_depth = rec_max = 0;
    cr_assert_eq(pthread_create(&th, &a, recurse_on_thread, &out), 0);
    void *type = NULL;
    pthread_join(th, &type);
    pthread_attr_destroy(&a);
    cr_assert(!pys_ok(out));
    cr_assert_str_eq((const char *)type, "RecursionError");
    cr_log_info("[lifetime] %s: small stack: RecursionError at depth %lld", pyt_name(py),
                (long long)rec_max);

    /* And the runtime is fine afterwards. */
    cr_assert_eq(pyt_eval_i64(rt, "6 * 7"), 42);
    pys_release(rec_self);
}

/* ---- item: sizes that overflow when multiplied ------------------------------------ */

PYS_TEST(lifetime, call_with_huge_nargs)
{
    pys_obj f = pys_eval(rt, "lambda *a: len(a)");
    pys_obj args[4] = {f, f, f, f};
    size_t huge[] = {SIZE_MAX, SIZE_MAX / sizeof(void *) + 2, (SIZE_MAX >> 1) + 1};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        pys_obj r = pys_call(f, args, huge[i]);
        cr_assert(!pys_ok(r));
        cr_assert_eq(pys_last_error()->code, PYS_E_ARG, "nargs %zu: %s: %s", huge[i],
                     pys_err_name(pys_last_error()->code), pys_last_error()->message);
        r = pys_call_kw(f, args, huge[i], PYS_NULL);
        cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    }
    pys_obj r = pys_call(f, args, 4);
    pyt_assert_h(r);
    int64_t n = 0;
    pyt_assert_ok(pys_to_int64(r, &n));
    cr_assert_eq(n, 4);
    pys_release(r);
    pys_release(f);
}

/* ---- item: typed bridge keywords are matched by their whole length ----------------- */

static int64_t kw_x(int64_t x)
{
    return x * 10;
}

PYS_TEST(lifetime, typed_keyword_with_nul)
{
    pyt_assert_ok(pys_register_typed(rt, "lt_kw", "x:q > q", PYS_CFUNC(kw_x)));
    run(rt, "import c_bridge\n"
            "assert c_bridge.lt_kw(x=4) == 40\n"
            "try:\n"
            "    r = c_bridge.lt_kw(**{'x\\0y': 5})\n"
            "except TypeError as e:\n"
            "    err = str(e)\n"
            "else:\n"
            "    err = 'bound to x: %r' % r\n");
    cr_assert(eval_true(rt, "'unexpected keyword' in err"), "%s", eval_str(rt, "err"));
}

/* ---- item: successful calls leave the last error alone ------------------------------ */

static int ok_fn(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs, void *ud,
                 pys_obj *result)
{
    *result = pys_from_int64(rt, 7);
    return PYS_OK;
}

static pys_obj ok_typed(pys_obj x)
{
    return pys_dup(x);
}

static int fail_plain_fn(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                         void *ud, pys_obj *result)
{
    return PYS_E_VALUE; /* no pyshim call failed: nothing recorded */
}

PYS_TEST(lifetime, last_error_survives_successful_bridge_calls)
{
    pyt_assert_ok(pys_register_func(rt, "lt_ok", ok_fn, NULL));
    pyt_assert_ok(pys_register_typed(rt, "lt_okt", "O > O", PYS_CFUNC(ok_typed)));
    pyt_assert_ok(pys_register_func(rt, "lt_fail", fail_plain_fn, NULL));
    run(rt, "import c_bridge");

    pys_obj bad = pys_eval(rt, "1 / 0");
    cr_assert(!pys_ok(bad));
    const pys_error *e = pys_last_error();
    const char *msg = e->message, *type = e->type, *ctx = e->context;
    char saved[256];
    snprintf(saved, sizeof saved, "%s", msg);
    cr_assert_str_eq(type, "ZeroDivisionError");

    /* Successful calls whose Python code calls bridge functions. */
    pyt_assert_ok(pys_exec(rt, "assert c_bridge.lt_ok() == 7"));
    pyt_assert_ok(pys_exec(rt, "assert c_bridge.lt_okt(5) == 5"));
    pys_obj v = pys_eval(rt, "c_bridge.lt_ok() + c_bridge.lt_okt(1)");
    pyt_assert_h(v);
    pys_release(v);

    e = pys_last_error();
    cr_assert_eq(e->code, PYS_E_PYTHON, "the error was cleared: %s", pys_err_name(e->code));
    /* The same strings, still valid. */
    cr_assert_eq(e->message, msg);
    cr_assert_str_eq(msg, saved);
    cr_assert_str_eq(type, "ZeroDivisionError");
    cr_assert_str_eq(ctx, "pys_eval");

    /* A callback that fails without a pyshim error of its own is not
     * described by the older, unrelated error. */
    run(rt, "try:\n"
            "    c_bridge.lt_fail()\n"
            "except ValueError as e:\n"
            "    msg = str(e)\n");
    const char *m = eval_str(rt, "msg");
    cr_assert(strstr(m, "PYS_E_VALUE") && !strstr(m, "division"), "message: %s", m);
}

/* ---- bulk conversion of a list that an item's __float__ clears ------------------- */

PYS_TEST(lifetime, to_doubles_list_cleared_during_conversion)
{
    run(rt, big_src);
    run(rt, "class F(Big):\n"
            "    __slots__ = ()\n"
            "    def __float__(self):\n"
            "        L.clear()\n"
            "        return 1.5\n"
            "L = [F(), F(), 2.0]\n");
    pys_obj l = pys_eval(rt, "L");
    pyt_assert_h(l);
    double out[3] = {0};
    size_t n = 0;
    int rc = pys_to_doubles(l, out, 3, &n);
    cr_assert_eq(rc, PYS_E_STATE, "%s: %s", pys_err_name(rc), pys_last_error()->message);
    cr_assert(strstr(pys_last_error()->message, "changed size"), "%s", pys_last_error()->message);
    pys_release(l);
    /* The items are gone once the list and the conversion let go. */
    assert_py(rt, "log == ['del', 'del']");
}
