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

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Waits for pid (at most ~30 s) and fails the test unless it exited 0. */
static void expect_child_ok(pid_t pid, const char *what)
{
    int st = 0;
    pid_t r = 0;
    for (int i = 0; i < 3000 && (r = waitpid(pid, &st, WNOHANG)) == 0; i++)
        sleep_ms(10);
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
        sleep_ms(1);
    sleep_ms(100);
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
