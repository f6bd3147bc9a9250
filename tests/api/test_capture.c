/* Output capture: pys_exec_captured (per call, per context) and
 * pys_redirect (process-wide). Every PYS_TEST runs once per Python found.
 * Worker threads never cr_assert; the test thread checks what they saw. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pyshim_test.h"

typedef struct text {
    char *p;
    size_t n, cap;
    int chunks;
} text;

static void text_write(void *ud, const char *data, size_t len)
{
    text *t = ud;
    if (t->n + len + 1 > t->cap) {
        t->cap = (t->n + len + 1) * 2;
        t->p = realloc(t->p, t->cap);
    }
    memcpy(t->p + t->n, data, len);
    t->n += len;
    t->p[t->n] = 0;
    t->chunks++;
}

static const char *text_str(text *t)
{
    return t->p ? t->p : "";
}

PYS_TEST(capture, print_write_logging_and_traceback)
{
    (void)py;
    text t = {0};
    pyt_assert_ok(pys_exec_captured(rt,
                                    "import sys, logging, traceback\n"
                                    "print('hello', 42)\n"
                                    "sys.stdout.write('raw\\n')\n"
                                    "log = logging.getLogger('capture-test')\n"
                                    "log.addHandler(logging.StreamHandler())\n"
                                    "log.warning('to stderr')\n"
                                    "try:\n"
                                    "    1 / 0\n"
                                    "except ZeroDivisionError:\n"
                                    "    traceback.print_exc()\n"
                                    "print('caf\\u00e9')\n",
                                    PYS_NULL, PYS_STDOUT | PYS_STDERR, text_write, &t));
    const char *s = text_str(&t);
    cr_assert(strstr(s, "hello 42\n"), "%s", s);
    cr_assert(strstr(s, "raw\n"), "%s", s);
    cr_assert(strstr(s, "to stderr\n"), "%s", s);
    cr_assert(strstr(s, "Traceback (most recent call last)"), "%s", s);
    cr_assert(strstr(s, "ZeroDivisionError"), "%s", s);
    cr_assert(strstr(s, "caf\xc3\xa9\n"), "%s", s);
    /* Outside the call nothing is routed to us any more; the handler made
     * during the call still writes to the proxy, which forwards to the
     * original stream now. */
    size_t n = t.n;
    pyt_assert_ok(pys_exec(rt, "log.warning('later')"));
    cr_assert_eq(t.n, n);
    free(t.p);
}

PYS_TEST(capture, selected_stream_only_and_line_buffered)
{
    (void)py;
    text out = {0}, err = {0};
    /* stderr is captured by the outer call, stdout by the inner one. */
    pyt_assert_ok(pys_exec(rt, "import sys"));
    pys_obj ns = pys_main_dict(rt);
    pyt_assert_ok(pys_exec_captured(rt,
                                    "sys.stdout.write('a'); sys.stdout.write('b')\n"
                                    "print('e1', file=sys.stderr)\n",
                                    ns, PYS_STDOUT, text_write, &out));
    /* "a" and "b" came as one chunk, at the end of the call. */
    cr_assert_str_eq(text_str(&out), "ab");
    cr_assert_eq(out.chunks, 1);
    free(out.p);
    out = (text){0};
    pyt_assert_ok(pys_exec_captured(rt, "print('x', end=''); print('y'); print('z', end='')",
                                    ns, PYS_STDOUT, text_write, &out));
    cr_assert_str_eq(text_str(&out), "xy\nz");
    cr_assert_eq(out.chunks, 2, "chunks %d", out.chunks);
    pyt_assert_ok(pys_exec_captured(rt,
                                    "print('e2', file=sys.stderr)\n"
                                    "print('o2')\n",
                                    ns, PYS_STDERR, text_write, &err));
    cr_assert_str_eq(text_str(&err), "e2\n");
    pys_release(ns);
    free(out.p);
    free(err.p);
}

PYS_TEST(capture, stream_properties_while_routed)
{
    (void)py;
    text t = {0};
    pyt_assert_ok(pys_exec_captured(rt,
                                    "import sys, io\n"
                                    "assert sys.stdout.isatty() is False\n"
                                    "assert sys.stdout.encoding == 'utf-8'\n"
                                    "assert sys.stdout.writable()\n"
                                    "try:\n"
                                    "    sys.stdout.fileno()\n"
                                    "    raise AssertionError('fileno worked')\n"
                                    "except io.UnsupportedOperation as e:\n"
                                    "    print('no fd:', type(e).__name__)\n"
                                    "sys.stdout.write('partial')\n"
                                    "sys.stdout.flush()\n"
                                    "sys.stdout.buffer.write(b'bytes\\n')\n"
                                    "try:\n"
                                    "    sys.stdout.write(b'x')\n"
                                    "except TypeError:\n"
                                    "    print('typeerror')\n",
                                    PYS_NULL, PYS_STDOUT, text_write, &t));
    cr_assert_str_eq(text_str(&t), "no fd: UnsupportedOperation\npartialbytes\ntypeerror\n");
    /* Not routed, the proxy answers for the stream it replaced. */
    pyt_assert_ok(pys_exec(rt, "import sys\n"
                               "assert sys.stdout.fileno() == sys.__stdout__.fileno()\n"
                               "assert sys.stdout.isatty() == sys.__stdout__.isatty()\n"));
    free(t.p);
}

PYS_TEST(capture, asyncio_tasks_inherit_the_route)
{
    (void)py;
    text t = {0};
    pyt_assert_ok(pys_exec_captured(rt,
                                    "import asyncio\n"
                                    "async def child(i):\n"
                                    "    await asyncio.sleep(0)\n"
                                    "    print('task', i)\n"
                                    "async def main():\n"
                                    "    await asyncio.gather(*(asyncio.ensure_future(child(i)) "
                                    "for i in range(3)))\n"
                                    "asyncio.run(main())\n",
                                    PYS_NULL, PYS_STDOUT, text_write, &t));
    cr_assert_str_eq(text_str(&t), "task 0\ntask 1\ntask 2\n");
    free(t.p);
}

typedef struct worker {
    pys_runtime *rt;
    const char *tag;
    text out;
    int rc;
    char err[256];
} worker;

static void *capture_worker(void *arg)
{
    worker *w = arg;
    char src[512];
    /* time.sleep(0) and the many writes hand the GIL back and forth. */
    snprintf(src, sizeof src,
             "import sys, time\n"
             "for i in range(300):\n"
             "    print('%s', i)\n"
             "    sys.stdout.write('%s-part')\n"
             "    sys.stdout.write('-end\\n')\n"
             "    if i %% 10 == 0:\n"
             "        time.sleep(0.0005)\n",
             w->tag, w->tag);
    /* Each thread its own globals: in a shared one the loop variables are
     * one variable, which free-threaded builds change under each other. */
    pys_obj ns = pys_dict_new(w->rt);
    w->rc = pys_exec_captured(w->rt, src, ns, PYS_STDOUT, text_write, &w->out);
    if (w->rc != PYS_OK)
        snprintf(w->err, sizeof w->err, "%s", pys_last_error()->message);
    pys_release(ns);
    return NULL;
}

PYS_TEST(capture, two_threads_at_once_no_cross_talk)
{
    (void)py;
    worker w[2] = {{.rt = rt, .tag = "AAA"}, {.rt = rt, .tag = "BBB"}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, capture_worker, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(w[i].rc, PYS_OK, "%s", w[i].err);
        const char *other = w[1 - i].tag;
        cr_assert_null(strstr(text_str(&w[i].out), other), "thread %s saw %s's text", w[i].tag,
                       other);
        /* Every line is whole and in order. */
        const char *p = text_str(&w[i].out);
        for (int k = 0; k < 300; k++) {
            char line[64];
            snprintf(line, sizeof line, "%s %d\n%s-part-end\n", w[i].tag, k, w[i].tag);
            cr_assert(strncmp(p, line, strlen(line)) == 0, "thread %s line %d: %.40s", w[i].tag,
                      k, p);
            p += strlen(line);
        }
        cr_assert_eq(*p, 0);
        free(w[i].out.p);
    }
}

PYS_TEST(capture, redirect_on_and_off)
{
    (void)py;
    text t = {0}, c = {0};
    pyt_assert_ok(pys_exec(rt, "import sys\norig = (sys.stdout, sys.stderr)"));
    pyt_assert_ok(pys_redirect(rt, PYS_STDOUT | PYS_STDERR, text_write, &t));
    pyt_assert_ok(pys_exec(rt, "print('one'); print('two', file=sys.stderr)\n"
                               "sys.stdout.write('three')"));
    cr_assert_str_eq(text_str(&t), "one\ntwo\n");
    /* A captured call takes its own output; the redirect sees none of it. */
    pyt_assert_ok(pys_exec_captured(rt, "print('mine')", PYS_NULL, PYS_STDOUT, text_write, &c));
    cr_assert_str_eq(text_str(&c), "mine\n");
    pyt_assert_ok(pys_exec(rt, "assert sys.stdout is not orig[0]"));
    /* Off: the buffered rest is delivered, the original objects are back. */
    pyt_assert_ok(pys_redirect(rt, PYS_STDOUT | PYS_STDERR, NULL, NULL));
    cr_assert_str_eq(text_str(&t), "one\ntwo\nthree");
    cr_assert_eq(pyt_eval_i64(rt, "sys.stdout is orig[0] and sys.stderr is orig[1]"), 1);
    pyt_assert_ok(pys_exec(rt, "print('not captured')"));
    cr_assert_str_eq(text_str(&t), "one\ntwo\nthree");
    /* Only stdout. */
    pyt_assert_ok(pys_redirect(rt, PYS_STDOUT, text_write, &t));
    pyt_assert_ok(pys_exec(rt, "print('four'); print('x', file=sys.stderr)"));
    cr_assert_str_eq(text_str(&t), "one\ntwo\nthreefour\n");
    pyt_assert_ok(pys_redirect(rt, PYS_STDOUT, NULL, NULL));
    cr_assert_eq(pyt_eval_i64(rt, "sys.stdout is orig[0] and sys.stderr is orig[1]"), 1);
    free(t.p);
    free(c.p);
}

PYS_TEST(capture, bad_arguments)
{
    (void)py;
    text t = {0};
    cr_assert_eq(pys_exec_captured(rt, NULL, PYS_NULL, PYS_STDOUT, text_write, &t), PYS_E_ARG);
    cr_assert_eq(pys_exec_captured(rt, "pass", PYS_NULL, PYS_STDOUT, NULL, &t), PYS_E_ARG);
    cr_assert_eq(pys_exec_captured(rt, "pass", PYS_NULL, 0, text_write, &t), PYS_E_ARG);
    cr_assert_eq(pys_exec_captured(rt, "pass", PYS_NULL, 4, text_write, &t), PYS_E_ARG);
    cr_assert_eq(pys_redirect(rt, 8, text_write, &t), PYS_E_ARG);
    cr_assert_eq(pys_redirect(NULL, PYS_STDOUT, text_write, &t), PYS_E_ARG);
    pys_obj notdict = pys_eval(rt, "[1]");
    cr_assert_eq(pys_exec_captured(rt, "pass", notdict, PYS_STDOUT, text_write, &t), PYS_E_TYPE);
    pys_release(notdict);
    cr_assert_eq(pys_exec_captured(rt, "pass", notdict, PYS_STDOUT, text_write, &t),
                 PYS_E_HANDLE);
    /* An exception in the code: output before it is delivered. */
    cr_assert_eq(pys_exec_captured(rt, "print('before'); raise ValueError('v')", PYS_NULL,
                                   PYS_STDOUT, text_write, &t),
                 PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "ValueError");
    cr_assert_str_eq(text_str(&t), "before\n");
    cr_assert_eq(pyt_eval_i64(rt, "1 + 1"), 2);
    free(t.p);
}
