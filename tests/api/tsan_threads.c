/* A focused ThreadSanitizer driver for the pyshim-side thread structures:
 * the handle table and compile cache on the free-threaded locking path
 * (forced on a GIL build), scopes, batches, thread records (claimed, handed
 * back at thread exit, reused), the watchdog (deadlines firing, interrupts
 * posted, start/stop), the 8-thread stress run of tests/common/stress.c
 * (calls, releases of each other's handles, batches, interrupts and
 * deadlines for PYSHIM_STRESS_SECONDS, default 20, half of it on the
 * locking path), and pys_close from another thread while calls run.
 *
 * Criterion cannot run under TSan (its arena allocator fails), so this is a
 * plain program: a -Db_sanitize=thread build registers it as the only test
 * (scripts/test.sh build-tsan -Db_sanitize=thread -Db_lundef=false).
 *   tsan_threads                      every supported Python found, one
 *                                     child process each
 *   tsan_threads LIBPYTHON            that library only
 * Exit status 0 when every check held (TSan reports make it 66). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pyshim.h>

#include "../common/stress.h"
#include "../common/pyshim_clock.h"

extern void pys__test_force_locking(bool on);

enum { WORKERS = 6, OPS = 3000 };

static pys_runtime *rt;
static atomic_int failures;
static atomic_bool closing;

#define CHECK(c, ...)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            atomic_fetch_add(&failures, 1);                                                        \
            fprintf(stderr, "check failed: " __VA_ARGS__);                                         \
            fprintf(stderr, " (%s)\n", pys_last_error()->message);                                 \
        }                                                                                          \
    } while (0)

static void *worker(void *p)
{
    int k = (int)(intptr_t)p;
    if (k % 2)
        pys_set_deadline(rt, 20000); /* never fires; exercises the bookkeeping */
    pys_obj d = pys_dict_new(rt);
    CHECK(pys_ok(d), "dict_new");
    for (int i = 0; i < OPS; i++) {
        switch (i % 4) {
        case 0: {
            pys_obj h = pys_from_int64(rt, i);
            int64_t v = -1;
            CHECK(pys_to_int64(h, &v) == PYS_OK && v == i, "int %d", i);
            pys_obj h2 = pys_dup(h);
            CHECK(pys_release(h) == PYS_OK && pys_release(h2) == PYS_OK, "release");
            CHECK(pys_release(h) == PYS_E_HANDLE, "double release");
            break;
        }
        case 1: {
            pys_obj v = pys_from_int64(rt, i);
            CHECK(pys_setitem_str(d, "k", v) == PYS_OK, "setitem");
            pys_obj g = pys_getitem_str(d, "k");
            CHECK(pys_ok(g), "getitem");
            pys_release(g);
            pys_release(v);
            break;
        }
        case 2: {
            pys_obj r = pys_eval(rt, i % 8 == 2 ? "6*7" : "sum(range(10))");
            /* pys_interrupt below hits every call in progress, this one too. */
            CHECK(pys_ok(r) || pys_last_error()->code == PYS_E_INTERRUPTED, "eval");
            pys_release(r);
            break;
        }
        case 3: {
            CHECK(pys_gil_acquire(rt) == PYS_OK, "acquire");
            CHECK(pys_scope_begin(rt) == PYS_OK, "scope");
            for (int j = 0; j < 4; j++)
                pys_from_int64(rt, j);
            CHECK(pys_scope_end(rt) == PYS_OK, "scope end");
            CHECK(pys_gil_release(rt) == PYS_OK, "release");
            break;
        }
        }
    }
    pys_release(d);
    return NULL;
}

typedef struct spin {
    uint32_t deadline;
    atomic_bool started;
    int rc;
} spin;

static void *spinner(void *p)
{
    spin *s = p;
    if (s->deadline)
        pys_set_deadline(rt, s->deadline);
    atomic_store(&s->started, true);
    s->rc = pys_exec(rt, "try:\n    while True: pass\nexcept BaseException:\n    while True: pass\n");
    pys_set_deadline(rt, 0);
    return NULL;
}

static void *short_lived(void *p)
{
    (void)p;
    pys_obj o = pys_from_int64(rt, 1);
    pys_release(o);
    return NULL;
}

static void *late_caller(void *p)
{
    (void)p;
    while (!atomic_load(&closing)) {
        pys_obj o = pys_eval(rt, "1+1");
        if (!pys_ok(o))
            break;
        pys_release(o);
    }
    /* Keep calling through the close: only CLOSED/INTERRUPTED are allowed. */
    for (int i = 0; i < 200; i++) {
        pys_obj o = pys_eval(rt, "1+1");
        int code = pys_ok(o) ? PYS_OK : pys_last_error()->code;
        CHECK(code == PYS_OK || code == PYS_E_CLOSED || code == PYS_E_INTERRUPTED, "late %d",
              code);
        pys_release(o);
    }
    return NULL;
}

static void *closer(void *p)
{
    (void)p;
    atomic_store(&closing, true);
    CHECK(pys_close(rt) == PYS_OK, "close");
    return NULL;
}

static int run_checks(const char *library);

/* PYSHIM_TEST_PYTHONS="3.13t,3.15d" restricts the run, as for the suite. */
static bool wanted(const char *tag)
{
    const char *only = getenv("PYSHIM_TEST_PYTHONS");
    if (!only || !*only)
        return true;
    size_t n = strlen(tag);
    for (const char *p = only; (p = strstr(p, tag)); p += n)
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

/* Runs the checks once per accepted candidate of a default probe, each in
 * a child process (one CPython per process). */
static int run_all(const char *self)
{
    pys_probe_result *pr = NULL;
    if (pys_probe(NULL, &pr) != PYS_OK) {
        fprintf(stderr, "pys_probe: %s\n", pys_last_error()->message);
        return 2;
    }
    int bad = 0, ran = 0;
    for (size_t i = 0; i < pys_probe_count(pr); i++) {
        const pys_candidate *c = pys_probe_get(pr, i);
        char tag[16];
        snprintf(tag, sizeof tag, "%d.%d%s", c->major, c->minor, c->abiflags);
        if (!c->accepted || !wanted(tag))
            continue;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            execl(self, self, c->realpath, (char *)NULL);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        printf("%s Python %s %s (exit %d)\n", code ? "FAIL" : "ok  ", tag, c->realpath, code);
        bad += code != 0;
        ran++;
    }
    pys_probe_free(pr);
    printf("tsan_threads: %d passed, %d failed\n", ran - bad, bad);
    return ran == 0 || bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return run_all(argv[0]);
    return run_checks(argv[1]);
}

static int run_checks(const char *library)
{
    pys_options o = {.library_path = library, .ignore_environment = true};
    if (pys_open(&o, &rt) != PYS_OK) {
        fprintf(stderr, "pys_open: %s\n", pys_last_error()->message);
        return 2;
    }
    pys__test_force_locking(true);
    size_t base = pys_handle_count(rt);

    pthread_t w[WORKERS], sp[2], sl[16];
    spin s[2] = {{.deadline = 50}, {.deadline = 0}};
    double t0 = pyt_now_ms();
    for (int k = 0; k < WORKERS; k++)
        pthread_create(&w[k], NULL, worker, (void *)(intptr_t)k);
    for (int i = 0; i < 2; i++)
        pthread_create(&sp[i], NULL, spinner, &s[i]);
    for (int i = 0; i < 16; i++) /* thread records claimed and handed back */
        pthread_create(&sl[i], NULL, short_lived, NULL);
    while (!atomic_load(&s[1].started))
        ;
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    int n = pys_interrupt(rt);
    CHECK(n >= 1, "pys_interrupt targeted %d", n);
    for (int i = 0; i < 16; i++)
        pthread_join(sl[i], NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(sp[i], NULL);
    for (int k = 0; k < WORKERS; k++)
        pthread_join(w[k], NULL);
    CHECK(s[0].rc == PYS_E_TIMEOUT || s[0].rc == PYS_E_INTERRUPTED, "deadline spinner %d",
          s[0].rc);
    CHECK(s[1].rc == PYS_E_INTERRUPTED, "interrupted spinner %d", s[1].rc);
    CHECK(pys_handle_count(rt) == base, "handles %zu vs %zu", pys_handle_count(rt), base);
    double took = pyt_now_ms() - t0;

    /* The stress run, on the locking path and then on the GIL-only one. */
    for (int pass = 0; pass < 2; pass++) {
        pyt_stress_result sr;
        pys__test_force_locking(pass == 0);
        int bad = pyt_stress_run(rt, pyt_stress_seconds() / 2, &sr);
        printf("tsan_threads: stress%s %.0f s, %ld ops, %ld calls, %ld stale, %ld timeouts, "
               "%ld interrupted\n",
               pass == 0 ? " (locking path)" : "", sr.seconds, sr.ops, sr.calls, sr.stale,
               sr.timeouts, sr.interrupted);
        CHECK(bad == 0, "stress: %d failures, first: %s", sr.failures, sr.first);
    }
    pys__test_force_locking(true);

    /* Close from another thread while others call, one of them spinning. */
    pthread_t lc[3], cl, sp3;
    spin s3 = {0};
    pthread_create(&sp3, NULL, spinner, &s3);
    for (int i = 0; i < 3; i++)
        pthread_create(&lc[i], NULL, late_caller, NULL);
    while (!atomic_load(&s3.started))
        ;
    nanosleep(&ts, NULL);
    pthread_create(&cl, NULL, closer, NULL);
    pthread_join(cl, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(lc[i], NULL);
    pthread_join(sp3, NULL);
    CHECK(s3.rc == PYS_E_INTERRUPTED, "spinner at close %d", s3.rc);
    pys__test_force_locking(false);
    printf("tsan_threads: %d failures, %.0f ms\n", atomic_load(&failures), took);
    return atomic_load(&failures) ? 1 : 0;
}
