/* The host's signal dispositions survive a runtime: what Python changed
 * (signal.signal, or its own handlers at init) is put back by pys_close;
 * what the host changed meanwhile is kept. Every test runs once per
 * supported Python found, each in its own process. */
#include <signal.h>
#include <string.h>

#include "pyshim_test.h"

static void (*handler_of(int sig))(int)
{
    struct sigaction sa;
    cr_assert_eq(sigaction(sig, NULL, &sa), 0);
    return sa.sa_handler;
}

static void set_handler(int sig, void (*h)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(sig, &sa, NULL), 0);
}

static volatile sig_atomic_t host_got;
static void host_handler(int sig)
{
    host_got = sig;
}

static const char python_takes_signals[] =
    "import signal\n"
    "seen = []\n"
    "signal.signal(signal.SIGUSR1, lambda s, f: seen.append(s))\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGHUP, lambda s, f: seen.append(s))\n";

PYS_TEST_NOOPEN(signals, restored_at_close_where_python_changed_them)
{
    set_handler(SIGUSR1, SIG_IGN);      /* the host ignores SIGUSR1 */
    set_handler(SIGHUP, host_handler);  /* and handles SIGHUP itself */
    set_handler(SIGTERM, SIG_DFL);
    pys_runtime *rt = pyt_open(py);
    pyt_assert_ok(pys_exec(rt, python_takes_signals));
    /* Python's handler runs while the runtime is open. */
    raise(SIGUSR1);
    pyt_assert_ok(pys_exec(rt, "pass"));
    cr_assert_eq(pyt_eval_i64(rt, "len(seen)"), 1);
    /* A change the host makes while Python runs is the host's. */
    set_handler(SIGUSR2, host_handler);
    pyt_assert_ok(pys_exec(rt, "signal.getsignal(signal.SIGUSR2)"));
    pyt_close(rt);
    cr_assert_eq(handler_of(SIGUSR1), SIG_IGN, "SIGUSR1 not ignored again");
    cr_assert_eq(handler_of(SIGHUP), host_handler, "SIGHUP not the host's handler again");
    cr_assert_eq(handler_of(SIGTERM), SIG_DFL, "SIGTERM not default again");
    cr_assert_eq(handler_of(SIGUSR2), host_handler, "the host's own change was undone");
    /* The host that ignored SIGUSR1 survives it. */
    raise(SIGUSR1);
    host_got = 0;
    raise(SIGHUP);
    cr_assert_eq(host_got, SIGHUP);
    /* And again with a second runtime. */
    rt = pyt_open(py);
    pyt_assert_ok(pys_exec(rt, python_takes_signals));
    pyt_close(rt);
    cr_assert_eq(handler_of(SIGUSR1), SIG_IGN);
    cr_assert_eq(handler_of(SIGHUP), host_handler);
    raise(SIGUSR1);
}

PYS_TEST_NOOPEN(signals, python_handlers_at_init_are_undone)
{
    /* install_signal_handlers: Python sets SIGINT and ignores SIGPIPE
     * (and SIGXFSZ) at init; the host's defaults come back at close. */
    set_handler(SIGPIPE, SIG_DFL);
    set_handler(SIGINT, SIG_DFL);
    pys_options o = {.install_signal_handlers = true};
    pys_runtime *rt = pyt_open_opts(py, &o);
    cr_assert_eq(handler_of(SIGPIPE), SIG_IGN);
    cr_assert_neq(handler_of(SIGINT), SIG_DFL);
    pyt_close(rt);
    cr_assert_eq(handler_of(SIGPIPE), SIG_DFL);
    cr_assert_eq(handler_of(SIGINT), SIG_DFL);
}

PYS_TEST_NOOPEN(signals, skip_finalize_leaves_python_handlers)
{
    /* With skip_finalize Python stays initialised: its handlers stay. */
    set_handler(SIGUSR1, SIG_IGN);
    pys_options o = {.skip_finalize = true};
    pys_runtime *rt = pyt_open_opts(py, &o);
    pyt_assert_ok(pys_exec(rt, python_takes_signals));
    void (*python_h)(int) = handler_of(SIGUSR1);
    cr_assert_neq(python_h, SIG_IGN);
    pyt_close(rt);
    cr_assert_eq(handler_of(SIGUSR1), python_h);
}
