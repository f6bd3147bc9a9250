/* Tracebacks in the error detail: formatted lazily (a failing call does no
 * formatting; pys_last_error() does, once), with the traceback functions
 * of Python's traceback module (not whatever Python code put in their place),
 * bounded in size, and complete for exception chains Python's own
 * formatter gives up on. Every PYS_TEST runs once per supported Python. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyshim_test.h"

/* Counts the tracebacks Python's traceback module formats: the real
 * format_exception builds a traceback.TracebackException, looked up in
 * the module's globals at each call. */
static const char count_formats[] = "import traceback\n"
                                    "formats = 0\n"
                                    "class _Counting(traceback.TracebackException):\n"
                                    "    def __init__(self, *a, **k):\n"
                                    "        global formats\n"
                                    "        formats += 1\n"
                                    "        super().__init__(*a, **k)\n"
                                    "traceback.TracebackException = _Counting\n";

PYS_TEST(error_format, failing_calls_do_not_format_tracebacks)
{
    pyt_assert_ok(pys_exec(rt, count_formats));
    pys_obj m = pys_import(rt, "os");
    pyt_assert_h(m);
    for (int i = 0; i < 100; i++) {
        cr_assert(!pys_ok(pys_getattr(m, "no_such_attribute")));
        cr_assert_eq(pys_exec(rt, "undefined_name_here"), PYS_E_PYTHON);
    }
    cr_assert_eq(pyt_eval_i64(rt, "formats"), 0, "failing calls formatted tracebacks");
    /* Asked for: formatted once, and the text stays. */
    const pys_error *e = pys_last_error();
    cr_assert_eq(e->code, PYS_E_PYTHON);
    cr_assert_str_eq(e->type, "NameError");
    cr_assert(strstr(e->traceback, "Traceback (most recent call last)"), "%s", e->traceback);
    cr_assert(strstr(e->traceback, "NameError"), "%s", e->traceback);
    const char *first = e->traceback;
    cr_assert_eq(pyt_eval_i64(rt, "formats"), 1);
    cr_assert_eq(pys_last_error()->traceback, first, "the same text, not formatted again");
    cr_assert_eq(pyt_eval_i64(rt, "formats"), 1);
    pys_release(m);
}

PYS_TEST(error_format, tracebacks_name_the_frames)
{
    pyt_assert_ok(pys_exec(rt, "def inner():\n"
                               "    raise KeyError('deep')\n"
                               "def outer():\n"
                               "    inner()\n"));
    cr_assert_eq(pys_exec(rt, "outer()"), PYS_E_PYTHON);
    /* Other failures of other kinds meanwhile replace it. */
    cr_assert_eq(pys_exec(rt, "outer()"), PYS_E_PYTHON);
    const char *tb = pys_last_error()->traceback;
    cr_assert(strstr(tb, "in outer") && strstr(tb, "in inner") && strstr(tb, "KeyError: 'deep'"),
              "%s", tb);
    /* A failure with no Python exception has no traceback. */
    cr_assert(!pys_ok(pys_eval(rt, NULL)));
    cr_assert_str_eq(pys_last_error()->traceback, "");
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
}

#ifdef PYS_TRACEBACK_MAX_BYTES
PYS_TEST(error_format, brief_detail_does_not_format)
{
    pyt_assert_ok(pys_exec(rt, count_formats));
    cr_assert_eq(pys_exec(rt, "undefined_name_here"), PYS_E_PYTHON);
    const pys_error *b = pys_last_error_brief();
    cr_assert_eq(b->code, PYS_E_PYTHON);
    cr_assert_str_eq(b->type, "NameError");
    cr_assert(strstr(b->message, "undefined_name_here"), "%s", b->message);
    cr_assert_str_eq(b->traceback, "");
    cr_assert_eq(pyt_eval_i64(rt, "formats"), 0);
    /* pyt_eval_i64 succeeded: the detail is still the failure's. */
    cr_assert(strstr(pys_last_error()->traceback, "NameError"));
    cr_assert_eq(pyt_eval_i64(rt, "formats"), 1);
}
#endif

/* Replacements of traceback.format_exception made by Python code before
 * the first traceback: one that never ends, ones that sleep, one that
 * returns no list. None is called: the frames are formatted by pyshim. */
PYS_TEST(error_format, replaced_format_exception_is_not_called, .timeout = 60)
{
    static const char *const hostile[] = {
        "import traceback, itertools\n"
        "traceback.format_exception = lambda *a, **k: itertools.repeat('x')\n",
        "import traceback, time\n"
        "traceback.format_exception = lambda *a, **k: time.sleep(3600)\n",
        "import traceback\n"
        "traceback.format_exception = lambda *a, **k: 42\n",
        /* Its name, but not the module's function. */
        "import traceback, time\n"
        "def format_exception(*a, **k):\n"
        "    time.sleep(3600)\n"
        "traceback.format_exception = format_exception\n",
        /* Not a function: reading its attributes would run this. */
        "import traceback, time\n"
        "class Hang:\n"
        "    def __getattr__(self, name):\n"
        "        time.sleep(3600)\n"
        "    def __call__(self, *a, **k):\n"
        "        time.sleep(3600)\n"
        "traceback.format_exception = Hang()\n",
        /* Gone, with a module __getattr__ that would stand in for it. */
        "import traceback, time\n"
        "del traceback.format_exception\n"
        "traceback.__getattr__ = lambda name: time.sleep(3600)\n",
    };
    pyt_assert_ok(pys_exec(rt, "def boom():\n    raise ValueError('bad value 7')\n"));
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        pyt_assert_ok(pys_exec(rt, hostile[i]));
        cr_assert_eq(pys_exec(rt, "boom()"), PYS_E_PYTHON);
        const char *tb = pys_last_error()->traceback;
        cr_assert(strstr(tb, "in boom") && strstr(tb, "ValueError: bad value 7"),
                  "replacement %zu: %s", i, tb);
    }
}

/* The traceback module is imported by the first traceback formatted, not
 * by pys_open (its import costs as much as the rest of the open), and
 * then formats with source lines. */
PYS_TEST(error_format, traceback_module_imported_on_first_format)
{
    cr_assert_eq(pyt_eval_i64(rt, "int('traceback' in __import__('sys').modules)"), 0,
                 "pys_open imported traceback");
    /* Frames of a stdlib file: their source lines are shown. */
    cr_assert_eq(pys_exec(rt, "import json\njson.loads('{')"), PYS_E_PYTHON);
    cr_assert_eq(pyt_eval_i64(rt, "int('traceback' in __import__('sys').modules)"), 0,
                 "a failing call imported traceback");
    const char *tb = pys_last_error()->traceback;
    cr_assert(strstr(tb, "in loads") && strstr(tb, "return _default_decoder.decode(s)"),
              "no source line: %s", tb);
    cr_assert_eq(pyt_eval_i64(rt, "int('traceback' in __import__('sys').modules)"), 1);
}

/* A long exception chain: 3.8 and 3.9's traceback module recurse once per
 * link and give up (pyshim's traceback was empty); every version now
 * shows the last exception and its frames. */
PYS_TEST(error_format, long_exception_chain_is_formatted, .timeout = 120)
{
    pyt_assert_ok(pys_exec(rt, "def chain(n):\n"
                               "    try:\n"
                               "        raise ValueError(0)\n"
                               "    except ValueError as e:\n"
                               "        last = e\n"
                               "    for i in range(1, n):\n"
                               "        try:\n"
                               "            raise ValueError(i) from last\n"
                               "        except ValueError as e:\n"
                               "            last = e\n"
                               "    raise last\n"));
    cr_assert_eq(pys_exec(rt, "chain(2000)"), PYS_E_PYTHON);
    const pys_error *e = pys_last_error();
    cr_assert_str_eq(e->message, "ValueError: 1999");
    const char *tb = e->traceback;
    cr_assert(strstr(tb, "Traceback (most recent call last)"), "traceback: '%.300s'", tb);
    cr_assert(strstr(tb, "in chain"), "traceback: '%.300s'", tb);
    size_t n = strlen(tb);
    const char *last = "ValueError: 1999\n";
    cr_assert(n >= strlen(last) && strcmp(tb + n - strlen(last), last) == 0,
              "the traceback ends with the last exception: '...%s'",
              n > 200 ? tb + n - 200 : tb);
    cr_assert(strstr(tb, "direct cause"), "the chain is shown");
}

#ifdef PYS_TRACEBACK_MAX_BYTES
PYS_TEST(error_format, huge_traceback_is_bounded)
{
    /* A 5 MB message: the text keeps its start and its end. */
    cr_assert_eq(pys_exec(rt, "raise ValueError('<' + 'm' * 5000000 + '>')"), PYS_E_PYTHON);
    const char *tb = pys_last_error()->traceback;
    size_t n = strlen(tb);
    cr_assert_leq(n, PYS_TRACEBACK_MAX_BYTES + 100, "%zu bytes", n);
    cr_assert(strncmp(tb, "Traceback (most recent call last)", 33) == 0, "%.100s", tb);
    cr_assert(strstr(tb, "bytes of the traceback not shown"));
    cr_assert_eq(tb[n - 1], '\n');
    cr_assert_eq(tb[n - 2], '>');
}
#endif

typedef struct fail_arg {
    pys_runtime *rt;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int step; /* 1: failed; 2: runtime closed; 3: read */
    char tb[256];
    int code;
} fail_arg;

static void step_to(fail_arg *a, int step)
{
    pthread_mutex_lock(&a->mu);
    a->step = step;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void wait_for(fail_arg *a, int step)
{
    pthread_mutex_lock(&a->mu);
    while (a->step < step)
        pthread_cond_wait(&a->cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

static void *fail_then_read_after_close(void *p)
{
    fail_arg *a = p;
    a->code = pys_exec(a->rt, "def f():\n    raise OSError('kept')\nf()\n");
    step_to(a, 1);
    wait_for(a, 2);
    const pys_error *e = pys_last_error();
    snprintf(a->tb, sizeof a->tb, "%s|%s|%s", e->type, e->message, e->traceback);
    step_to(a, 3);
    return NULL;
}

/* The exception a thread keeps for its traceback is dropped by pys_close
 * (before finalising); the thread asking afterwards gets the rest of the
 * detail and an empty traceback. Under ASan nothing leaks. */
PYS_TEST_NOOPEN(error_format, kept_exception_of_another_thread_across_close, .timeout = 60)
{
    pys_runtime *rt = pyt_open(py);
    fail_arg a = {.rt = rt, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, fail_then_read_after_close, &a), 0);
    wait_for(&a, 1);
    cr_assert_eq(a.code, PYS_E_PYTHON);
    pyt_assert_ok(pys_close(rt));
    step_to(&a, 2);
    pthread_join(th, NULL);
    cr_assert_str_eq(a.tb, "OSError|OSError: kept|");
    /* Reopened: a new failure formats as usual. */
    rt = pyt_open(py);
    cr_assert_eq(pys_exec(rt, "raise OSError('again')"), PYS_E_PYTHON);
    cr_assert(strstr(pys_last_error()->traceback, "OSError: again"));
    pyt_close(rt);
}

static void *fail_and_exit(void *p)
{
    pys_runtime *rt = p;
    pys_exec(rt, "def g():\n    raise RuntimeError('thread exits')\ng()\n");
    return NULL;
}

/* Threads that fail and exit without asking: their exceptions are dropped
 * by later failures (or at close), and their frames' objects freed. */
PYS_TEST(error_format, kept_exceptions_of_exited_threads_are_dropped)
{
    pyt_assert_ok(pys_exec(rt, "import weakref\n"
                               "class Marker: pass\n"
                               "refs = []\n"
                               "def h():\n"
                               "    m = Marker()\n"
                               "    refs.append(weakref.ref(m))\n"
                               "    raise RuntimeError('with a local')\n"));
    for (int i = 0; i < 8; i++) {
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, fail_and_exit, rt), 0);
        pthread_join(th, NULL);
    }
    cr_assert_eq(pys_exec(rt, "h()"), PYS_E_PYTHON);
    /* The local is alive while its traceback may still be asked for. */
    cr_assert_eq(pyt_eval_i64(rt, "refs[0]() is not None"), 1);
    cr_assert(strstr(pys_last_error()->traceback, "in h"));
    /* Formatting let it go; the next failure drops the rest. */
    cr_assert_eq(pys_exec(rt, "raise KeyError(1)"), PYS_E_PYTHON);
    cr_assert_eq(pyt_eval_i64(rt, "refs[0]() is None"), 1);
    pys_clear_error();
    cr_assert_eq(pys_exec(rt, "h()"), PYS_E_PYTHON);
    pys_clear_error();
    cr_assert_eq(pys_exec(rt, "raise KeyError(2)"), PYS_E_PYTHON);
    cr_assert_eq(pyt_eval_i64(rt, "refs[1]() is None"), 1, "pys_clear_error let it go");
}

/* The formatting of a traceback is pyshim's work, not the caller's: the
 * call's deadline does not land in it (an exception raised at any point
 * of it could leave an import lock held). A loader whose get_source takes
 * 300 ms of bytecode, under a 100 ms deadline: the source line is still
 * in the traceback. */
PYS_TEST(error_format, deadline_does_not_land_in_the_formatting)
{
    pyt_assert_ok(pys_exec(rt, "import time\n"
                               "SRC = 'def f():\\n    raise ValueError(\"boom\")\\n'\n"
                               "class SlowLoader:\n"
                               "    def get_source(self, name):\n"
                               "        t = time.monotonic()\n"
                               "        while time.monotonic() - t < 0.3: pass\n"
                               "        return SRC\n"
                               "ns = {'__name__': 'slowmod', '__loader__': SlowLoader()}\n"
                               "exec(compile(SRC, '/nonexistent/slowmod.py', 'exec'), ns)\n"
                               "f = ns['f']\n"));
    pyt_assert_ok(pys_set_deadline(rt, 100));
    cr_assert_eq(pys_exec(rt, "f()"), PYS_E_PYTHON);
    const pys_error *e = pys_last_error();
    cr_assert_str_eq(e->type, "ValueError");
    cr_assert(e->traceback && strstr(e->traceback, "raise ValueError(\"boom\")"),
              "traceback without the source line: %s", e->traceback ? e->traceback : "(none)");
    pyt_assert_ok(pys_set_deadline(rt, 0));
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
}
