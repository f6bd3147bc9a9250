/* os.fork() from Python code that pyshim runs: the child has only the
 * forking thread; calls, deadlines and pys_close work there, whatever the
 * parent's other threads were doing. Every test runs once per supported
 * Python found.
 *
 * The children never return into Criterion: they report through their
 * exit status (0 = every check held, else the number of the first failed
 * check; killed by SIGALRM = hung). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pyshim_test.h"
#include "pyshim_clock.h"

/* Waits for pid (at most ~30 s) and fails the test unless it exited 0. */
static void expect_child_ok(pid_t pid, const char *what)
{
    int st = 0;
    pid_t r = 0;
    for (int i = 0; i < 3000 && (r = waitpid(pid, &st, WNOHANG)) == 0; i++)
        pyt_sleep_ms(10);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        cr_assert_fail("%s: the child hung", what);
    }
    cr_assert(WIFEXITED(st), "%s: the child died of signal %d%s", what,
              WIFSIGNALED(st) ? WTERMSIG(st) : 0,
              WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (it hung)" : "");
    cr_assert_eq(WEXITSTATUS(st), 0, "%s: child check %d failed", what, WEXITSTATUS(st));
}

typedef struct sleeper {
    pys_runtime *rt;
    atomic_bool started;
    int rc;
} sleeper;

/* Inside a pyshim call (the GIL given up in time.sleep) while the other
 * thread forks. */
static void *sleeper_main(void *p)
{
    sleeper *s = p;
    atomic_store(&s->started, true);
    s->rc = pys_exec(s->rt, "import time\ntime.sleep(0.6)\n");
    return NULL;
}

/* A batch held across the fork (calls that run no Python code), so the
 * thread is inside pyshim without the GIL at the moment of the fork. */
static void *batcher_main(void *p)
{
    sleeper *s = p;
    if (pys_gil_acquire(s->rt) != PYS_OK)
        return NULL;
    pys_obj o = pys_from_int64(s->rt, 1);
    pys_release(o);
    pys_gil_release(s->rt);
    atomic_store(&s->started, true);
    s->rc = pys_exec(s->rt, "import time\ntime.sleep(0.6)\n");
    return NULL;
}

static const char fork_src[] = "import os, warnings\n"
                               "warnings.simplefilter('ignore', DeprecationWarning)\n"
                               "pid = os.fork()\n";

static void child_after_fork(pys_runtime *rt)
{
    alarm(20);
    /* Calls work. */
    PYT_CHILD_CHECK(1, pyt_eval_i64(rt, "6*7") == 42);
    /* Deadlines fire (the parent's watchdog thread is not here). */
    PYT_CHILD_CHECK(2, pys_set_deadline(rt, 50) == PYS_OK);
    PYT_CHILD_CHECK(3, pys_exec(rt, "while True: pass") == PYS_E_TIMEOUT);
    PYT_CHILD_CHECK(4, pys_set_deadline(rt, 0) == PYS_OK);
    /* Threads work: a new host thread calls in. */
    sleeper s = {.rt = rt};
    pthread_t th;
    PYT_CHILD_CHECK(5, pthread_create(&th, NULL, sleeper_main, &s) == 0);
    pthread_join(th, NULL);
    PYT_CHILD_CHECK(6, s.rc == PYS_OK);
    /* And close returns: nobody else is inside pyshim here. */
    PYT_CHILD_CHECK(7, pys_close(rt) == PYS_OK);
    _exit(0);
}

static void fork_with_a_thread_inside(pys_runtime *rt, void *(*fn)(void *))
{
    /* The watchdog runs before the fork. */
    pyt_assert_ok(pys_set_deadline(rt, 20000));
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
    pyt_assert_ok(pys_set_deadline(rt, 0));
    sleeper s = {.rt = rt};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, fn, &s), 0);
    while (!atomic_load(&s.started))
        pyt_sleep_ms(1);
    pyt_sleep_ms(100);
    pyt_assert_ok(pys_exec(rt, fork_src));
    int64_t pid = pyt_eval_i64(rt, "pid");
    if (pid == 0)
        child_after_fork(rt);
    expect_child_ok((pid_t)pid, "fork while another thread sleeps in a call");
    pthread_join(th, NULL);
    pyt_assert_ok(s.rc);
}

PYS_TEST(fork, close_in_the_child_of_a_fork_while_another_thread_calls, .timeout = 120)
{
    pyt_skip_if_fork_unsafe();
    fork_with_a_thread_inside(rt, sleeper_main);
}

PYS_TEST(fork, close_in_the_child_of_a_fork_while_another_thread_batches, .timeout = 120)
{
    pyt_skip_if_fork_unsafe();
    fork_with_a_thread_inside(rt, batcher_main);
}

PYS_TEST(fork, deadline_of_the_forking_call_fires_in_the_child, .timeout = 120)
{
    pyt_skip_if_fork_unsafe();
    /* The call that forks goes on in the child with its deadline. */
    pyt_assert_ok(pys_set_deadline(rt, 2000));
    int rc = pys_exec(rt, "import os, warnings\n"
                          "warnings.simplefilter('ignore', DeprecationWarning)\n"
                          "pid = os.fork()\n"
                          "if pid == 0:\n"
                          "    while True: pass\n");
    pys_obj p = pys_eval(rt, "pid");
    int64_t pid = -1;
    if (pys_ok(p))
        pys_to_int64(p, &pid);
    pys_release(p);
    if (pid == 0) {
        alarm(20);
        PYT_CHILD_CHECK(1, rc == PYS_E_TIMEOUT);
        PYT_CHILD_CHECK(2, pys_set_deadline(rt, 0) == PYS_OK);
        PYT_CHILD_CHECK(3, pys_close(rt) == PYS_OK);
        _exit(0);
    }
    /* The parent's call returns right after the fork (on a loaded
     * machine the fork alone may take long: then it timed out there). */
    cr_assert(rc == PYS_OK || rc == PYS_E_TIMEOUT, "the parent's call: %s", pys_err_name(rc));
    cr_assert_gt(pid, 0);
    pyt_assert_ok(pys_set_deadline(rt, 0));
    expect_child_ok((pid_t)pid, "the child's deadline");
}

/* A host thread other than the opener forks: the child's only thread state
 * is that thread's (CPython deleted the main one). Calls work there, and
 * pys_close returns PYS_OK; on 3.13+, which can only finalise on the main
 * state, it closes without finalising, and says so through the logger. */
typedef struct forker {
    pys_runtime *rt;
    int64_t pid;
    int rc;
} forker;

static void *forker_main(void *p)
{
    forker *f = p;
    f->rc = pys_exec(f->rt, "import os, warnings\n"
                            "warnings.simplefilter('ignore', DeprecationWarning)\n"
                            "pid = os.fork()\n");
    pys_obj o = pys_eval(f->rt, "pid");
    f->pid = -1;
    if (pys_ok(o))
        pys_to_int64(o, &f->pid);
    pys_release(o);
    if (f->pid == 0) {
        alarm(20);
        PYT_CHILD_CHECK(1, f->rc == PYS_OK);
        PYT_CHILD_CHECK(2, pyt_eval_i64(f->rt, "6*7") == 42);
        PYT_CHILD_CHECK(3, pys_close(f->rt) == PYS_OK);
        PYT_CHILD_CHECK(4, pys_runtime_current() == NULL);
        _exit(0);
    }
    return NULL;
}

PYS_TEST(fork, close_in_the_child_of_a_fork_on_another_thread, .timeout = 120)
{
    pyt_skip_if_fork_unsafe();
    forker f = {.rt = rt};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, forker_main, &f), 0);
    pthread_join(th, NULL);
    pyt_assert_ok(f.rc);
    cr_assert_gt(f.pid, 0);
    expect_child_ok((pid_t)f.pid, "fork on a thread other than the opener");
    cr_assert_eq(pyt_eval_i64(rt, "1+1"), 2);
}

typedef struct newcomer {
    pys_runtime *rt;
    atomic_int *go;
    int rc;
} newcomer;

/* A host thread's first call: CPython makes its thread state then. */
static void *newcomer_main(void *p)
{
    newcomer *n = p;
    while (!atomic_load(n->go))
        pyt_sleep_ms(0);
    pys_obj o = pys_eval(n->rt, "1");
    n->rc = pys_ok(o) ? PYS_OK : pys_last_error()->code;
    pys_release(o);
    return NULL;
}

/* c_bridge.go(): lets the newcomers in, from the Python code that forks. */
static int bridge_go(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs, void *ud,
                     pys_obj *result)
{
    (void)rt, (void)args, (void)nargs, (void)kwargs, (void)result;
    atomic_store((atomic_int *)ud, 1);
    return PYS_OK;
}

/* Free-threaded builds stop the interpreter's world while they make some
 * thread states (3.13t: the first ones of threads other than the main
 * one). A fork that caught such a stop half-way gave the child a stop-the-
 * world mutex nobody can unlock: its next collection hung. Here host
 * threads make their first calls while the Python code that forks runs
 * towards os.fork(). */
PYS_TEST(fork, while_host_threads_make_their_first_calls, .timeout = 120)
{
    pyt_skip_if_fork_unsafe();
    enum { N = 8 };
    atomic_int go = 0;
    newcomer n[N];
    pthread_t th[N];
    pyt_assert_ok(pys_register_func(rt, "go", bridge_go, &go));
    for (int i = 0; i < N; i++) {
        n[i] = (newcomer){.rt = rt, .go = &go, .rc = -1};
        cr_assert_eq(pthread_create(&th[i], NULL, newcomer_main, &n[i]), 0);
    }
    pyt_assert_ok(pys_exec(rt, "import c_bridge, os, time, warnings\n"
                               "warnings.simplefilter('ignore', DeprecationWarning)\n"
                               "c_bridge.go()\n"
                               "t = time.monotonic()\n"
                               "while time.monotonic() - t < 0.02: pass\n"
                               "pid = os.fork()\n"));
    int64_t pid = pyt_eval_i64(rt, "pid");
    if (pid == 0) {
        alarm(20);
        PYT_CHILD_CHECK(1, pys_exec(rt, "import gc\ngc.collect()\n") == PYS_OK);
        PYT_CHILD_CHECK(2, pys_close(rt) == PYS_OK);
        _exit(0);
    }
    expect_child_ok((pid_t)pid, "fork while threads make their thread states");
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        pyt_assert_ok(n[i].rc);
    }
}
