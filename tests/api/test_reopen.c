/* Opening again after a close that finalised Python while Python threads
 * (daemon threads) were still running: CPython cannot be initialised again
 * while one of them may wake up (it would run on freed thread state in the
 * new interpreter), so pys_open refuses until they are gone. Every test
 * runs once per supported Python found. */
#include <string.h>
#include <time.h>

#include "pyshim_test.h"
#include "pyshim_clock.h"

static int try_open(const pyt_python *py, pys_runtime **rt)
{
    pys_options o = {.library_path = py->path, .ignore_environment = true};
    *rt = NULL;
    return pys_open(&o, rt);
}

/* A daemon thread that sleeps 0.4 s at a time, forever. */
static const char start_daemon[] = "import threading, time\n"
                                   "def sleepy():\n"
                                   "    while True:\n"
                                   "        time.sleep(0.4)\n"
                                   "threading.Thread(target=sleepy, daemon=True).start()\n";

PYS_TEST_NOOPEN(reopen, refused_while_a_daemon_thread_may_wake, .timeout = 120)
{
    pys_runtime *rt = pyt_open(py);
    pys_info info;
    pyt_assert_ok(pys_get_info(rt, &info));
    cr_assert_geq(info.micro, 0);
    pyt_assert_ok(pys_exec(rt, start_daemon));
    pyt_close(rt);
    int rc = try_open(py, &rt);
    cr_assert_eq(rc, PYS_E_STATE, "pys_open right after close: %s (%s)", pys_err_name(rc),
                 pys_last_error()->message);
    cr_assert_null(rt);
    cr_assert(strstr(pys_last_error()->message, "thread"), "message: %s",
              pys_last_error()->message);
    /* On 3.9 to 3.13.7 such a thread ends when it wakes up: take_gil sees
     * finalisation marked (_PyThreadState_MustExit) and calls
     * PyThread_exit_thread; then the reopen is allowed, and runs safely.
     * From 3.13.8 on (gh-87135, and 3.14+), take_gil calls
     * PyThread_hang_thread instead, a pause() loop that never returns; a
     * free-threaded build takes the same path, as take_gil makes that
     * check before it looks whether the GIL is enabled. On 3.8 the thread
     * stays parked on the destroyed GIL. In both cases the thread stays,
     * and so does the refusal. */
    for (int i = 0; i < 300 && rc != PYS_OK; i++) {
        pyt_sleep_ms(10);
        rc = try_open(py, &rt);
    }
    bool exits = py->major == 3 && py->minor >= 9 &&
                 (py->minor < 13 || (py->minor == 13 && info.micro < 8));
    if (!exits) {
        cr_assert_eq(rc, PYS_E_STATE, "pys_open 3 s after close, with the thread parked: %s",
                     pys_err_name(rc));
        cr_assert_null(rt);
        cr_log_info("%s: the daemon thread stays parked; reopen refused", pyt_name(py));
        return;
    }
    cr_assert_eq(rc, PYS_OK, "pys_open once the thread has gone: %s", pys_last_error()->message);
    /* Python runs on in the new interpreter past the old thread's wake-ups. */
    pyt_assert_ok(pys_exec(rt, "import time\n"
                               "t = time.monotonic()\n"
                               "while time.monotonic() - t < 0.5: time.sleep(0.01)\n"));
    cr_assert_eq(pyt_eval_i64(rt, "__import__('threading').active_count()"), 1);
    pyt_close(rt);
    /* No thread left this time: open again at once. */
    rt = pyt_open(py);
    pyt_close(rt);
}

PYS_TEST_NOOPEN(reopen, allowed_when_daemon_threads_ended_before_close)
{
    pys_runtime *rt = pyt_open(py);
    pyt_assert_ok(pys_exec(rt, "import threading\n"
                               "t = threading.Thread(target=lambda: None, daemon=True)\n"
                               "t.start(); t.join()\n"));
    pyt_close(rt);
    rt = pyt_open(py);
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
    pyt_close(rt);
}

PYS_TEST_NOOPEN(reopen, refused_for_an_untracked_thread, .timeout = 60)
{
    /* A thread started with _thread directly: threading does not know it,
     * so pyshim cannot tell when it is gone and refuses for good. */
    pys_runtime *rt = pyt_open(py);
    pyt_assert_ok(pys_exec(rt, "import _thread, time\n"
                               "def sleepy():\n"
                               "    while True:\n"
                               "        time.sleep(0.2)\n"
                               "_thread.start_new_thread(sleepy, ())\n"
                               "time.sleep(0.05)\n"));
    pyt_close(rt);
    for (int i = 0; i < 3; i++) {
        int rc = try_open(py, &rt);
        cr_assert_eq(rc, PYS_E_STATE, "pys_open: %s", pys_err_name(rc));
        pyt_sleep_ms(300);
    }
}

/* CPython 3.12.0 to 3.12.4 crash in a Python initialised again when a
 * function of an extension module loaded before (from lib-dynload) takes
 * keyword arguments (gh-122334): hashlib's md5 is one. There pys_open
 * refuses; elsewhere the same call runs in the new interpreter. */
PYS_TEST_NOOPEN(reopen, extension_module_keywords_after_reinit, .timeout = 60)
{
    static const char use_md5[] = "import hashlib, sys\n"
                                  "if sys.version_info >= (3, 9):\n"
                                  "    h = hashlib.md5(b'x', usedforsecurity=False)\n"
                                  "else:\n"
                                  "    h = hashlib.md5(string=b'x')\n"
                                  "h = h.hexdigest()\n"
                                  "assert h == '9dd4e461268c8034f5c8564e155c67a6', h\n";
    pys_runtime *rt = pyt_open(py);
    pys_info info;
    pyt_assert_ok(pys_get_info(rt, &info));
    pyt_assert_ok(pys_exec(rt, use_md5));
    bool dynload = pyt_eval_i64(rt, "int(any('lib-dynload' in (getattr(m, '__file__', '') or '') "
                                    "for m in list(__import__('sys').modules.values())))") == 1;
    pyt_close(rt);
    int rc = try_open(py, &rt);
    bool affected = py->major == 3 && py->minor == 12 && info.micro < 5 && dynload;
    if (affected) {
        cr_assert_eq(rc, PYS_E_STATE, "pys_open on 3.12.%d after a lib-dynload import: %s",
                     info.micro, pys_err_name(rc));
        cr_assert_null(rt);
        const char *m = pys_last_error()->message;
        cr_assert(strstr(m, "gh-122334") && strstr(m, "skip_finalize") && strstr(m, ".so"),
                  "message: %s", m);
        /* It stays refused: the module stays loaded. */
        cr_assert_eq(try_open(py, &rt), PYS_E_STATE);
        cr_log_info("%s: reopen refused (3.12.%d, gh-122334)", pyt_name(py), info.micro);
        return;
    }
    cr_assert_eq(rc, PYS_OK, "pys_open after close: %s", pys_last_error()->message);
    for (int i = 0; i < 3; i++)
        pyt_assert_ok(pys_exec(rt, use_md5));
    pyt_close(rt);
}

/* skip_finalize keeps the interpreter, so reopening is sound on every
 * version, 3.12.0-3.12.4 included. */
PYS_TEST_NOOPEN(reopen, extension_module_keywords_after_skip_finalize, .timeout = 60)
{
    pys_options o = {.library_path = py->path, .ignore_environment = true, .skip_finalize = true};
    pys_runtime *rt = NULL;
    pyt_assert_ok(pys_open(&o, &rt));
    pyt_assert_ok(pys_exec(rt, "import hashlib\nhashlib.new('md5', data=b'x')\n"));
    pyt_close(rt);
    pyt_assert_ok(pys_open(&o, &rt));
    pyt_assert_ok(pys_exec(rt, "import hashlib\nhashlib.new('md5', data=b'x')\n"));
    pyt_close(rt);
}
