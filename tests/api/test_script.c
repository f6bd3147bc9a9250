/* Hot-reloaded scripts: edit, syntax error, rename-replace, 4 threads
 * calling while another reloads 1,000 times, inotify watch. Every PYS_TEST
 * runs once per Python found. Worker threads never cr_assert. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pyshim_test.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* Writes text to path by writing a temporary file and renaming it over
 * path, as editors do. Returns 0 or -1 (for worker threads). */
static int replace_file(const char *path, const char *text)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fputs(text, f);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

static void temp_script(char *path, size_t size)
{
    char dir[] = "/tmp/pyshim-script-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, size, "%s/serve.py", dir);
}

static void remove_script(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    unlink(path);
    *strrchr(dir, '/') = 0;
    rmdir(dir);
}

static int64_t call_i64(pys_obj fn, int64_t x)
{
    pys_obj r = pys_callf(fn, "q", x);
    int64_t v = INT64_MIN;
    if (!pys_ok(r) || pys_to_int64(r, &v) != PYS_OK)
        v = INT64_MIN;
    pys_release(r);
    return v;
}

PYS_TEST(script, edit_reload_picks_it_up)
{
    (void)py;
    char path[4096];
    temp_script(path, sizeof path);
    write_file(path, "K = 1\ndef evaluate(x):\n    return x + K\n");
    pys_obj g = pys_eval(rt, "{'OFFSET': 100}");
    pys_obj s = pys_script_load(rt, path, g);
    pyt_assert_h(s);
    pys_obj f1 = pys_script_get(s, "evaluate");
    pyt_assert_h(f1);
    cr_assert_eq(call_i64(f1, 1), 2);
    bool reloaded = true;
    pyt_assert_ok(pys_script_reload_if_changed(s, &reloaded));
    cr_assert(!reloaded, "reloaded an unchanged file");
    /* Same size, new content. */
    write_file(path, "K = 2\ndef evaluate(x):\n    return x + K + OFFSET\n");
    pyt_assert_ok(pys_script_reload_if_changed(s, &reloaded));
    cr_assert(reloaded);
    pys_obj f2 = pys_script_get(s, "evaluate");
    cr_assert_eq(call_i64(f2, 1), 103);
    /* The old function keeps its own version's globals. */
    cr_assert_eq(call_i64(f1, 1), 2);
    uint64_t v = 0;
    pyt_assert_ok(pys_script_version(s, &v));
    cr_assert_eq(v, 2);
    /* Touching without a change does not reload. */
    write_file(path, "K = 2\ndef evaluate(x):\n    return x + K + OFFSET\n");
    pyt_assert_ok(pys_script_reload_if_changed(s, &reloaded));
    cr_assert(!reloaded);
    pys_obj missing = pys_script_get(s, "nope");
    cr_assert(!pys_ok(missing));
    cr_assert_str_eq(pys_last_error()->type, "AttributeError");
    pys_release(f1);
    pys_release(f2);
    pys_release(s);
    pys_release(g);
    remove_script(path);
}

PYS_TEST(script, syntax_error_keeps_the_old_version_serving)
{
    (void)py;
    char path[4096];
    temp_script(path, sizeof path);
    write_file(path, "def evaluate(x):\n    return x * 10\n");
    pys_obj s = pys_script_load(rt, path, PYS_NULL);
    pyt_assert_h(s);
    write_file(path, "def evaluate(x)\n    return x * 20\n");
    bool reloaded = true;
    cr_assert_eq(pys_script_reload_if_changed(s, &reloaded), PYS_E_PYTHON);
    cr_assert(!reloaded);
    cr_assert_str_eq(pys_last_error()->type, "SyntaxError");
    pys_obj f = pys_script_get(s, "evaluate");
    cr_assert_eq(call_i64(f, 2), 20);
    pys_release(f);
    /* Not retried until the file changes again. */
    pyt_assert_ok(pys_script_reload_if_changed(s, &reloaded));
    cr_assert(!reloaded);
    /* An exception at top level keeps the old version too. */
    write_file(path, "def evaluate(x):\n    return x * 30\nraise RuntimeError('half-built')\n");
    cr_assert_eq(pys_script_reload_if_changed(s, &reloaded), PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "RuntimeError");
    f = pys_script_get(s, "evaluate");
    cr_assert_eq(call_i64(f, 2), 20);
    pys_release(f);
    /* Fixed: picked up. */
    write_file(path, "def evaluate(x):\n    return x * 40\n");
    pyt_assert_ok(pys_script_reload_if_changed(s, &reloaded));
    cr_assert(reloaded);
    f = pys_script_get(s, "evaluate");
    cr_assert_eq(call_i64(f, 2), 80);
    pys_release(f);
    /* The file gone: error, old version stays. */
    unlink(path);
    cr_assert_eq(pys_script_reload_if_changed(s, &reloaded), PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "FileNotFoundError");
    f = pys_script_get(s, "evaluate");
    cr_assert_eq(call_i64(f, 2), 80);
    pys_release(f);
    pys_release(s);
    remove_script(path);
}

PYS_TEST(script, file_replaced_by_rename)
{
    (void)py;
    char path[4096];
    temp_script(path, sizeof path);
    write_file(path, "def evaluate(x):\n    return 1\n");
    pys_obj s = pys_script_load(rt, path, PYS_NULL);
    pyt_assert_h(s);
    cr_assert_eq(replace_file(path, "def evaluate(x):\n    return 2\n"), 0);
    bool reloaded = false;
    pyt_assert_ok(pys_script_reload_if_changed(s, &reloaded));
    cr_assert(reloaded);
    pys_obj f = pys_script_get(s, "evaluate");
    cr_assert_eq(call_i64(f, 0), 2);
    pys_release(f);
    pys_release(s);
    remove_script(path);
}

PYS_TEST(script, bad_arguments)
{
    (void)py;
    cr_assert(!pys_ok(pys_script_load(rt, NULL, PYS_NULL)));
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert(!pys_ok(pys_script_load(rt, "/nonexistent/pyshim/x.py", PYS_NULL)));
    cr_assert_eq(pys_last_error()->code, PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "FileNotFoundError");
    pys_obj notdict = pys_eval(rt, "3");
    cr_assert(!pys_ok(pys_script_load(rt, "/tmp/x.py", notdict)));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    bool r;
    cr_assert_eq(pys_script_reload_if_changed(notdict, &r), PYS_E_TYPE);
    cr_assert(!pys_ok(pys_script_get(notdict, "x")));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    pys_release(notdict);
    cr_assert_eq(pys_script_reload_if_changed(notdict, &r), PYS_E_HANDLE);
    char path[4096];
    temp_script(path, sizeof path);
    write_file(path, "x = (\n");
    cr_assert(!pys_ok(pys_script_load(rt, path, PYS_NULL)));
    cr_assert_str_eq(pys_last_error()->type, "SyntaxError");
    remove_script(path);
}

/* ---- 4 callers, 1 reloader ------------------------------------------------ */

enum { RELOADS = 1000, CALLERS = 4 };

typedef struct race {
    pys_runtime *rt;
    pys_obj script;
    const char *path;
    atomic_bool done;
    /* reloader */
    int reload_fail, not_reloaded;
    char err[256];
    /* callers */
    long calls[CALLERS];
    long torn[CALLERS], backwards[CALLERS], failed[CALLERS];
} race;

typedef struct caller_arg {
    race *r;
    int i;
} caller_arg;

static void *reloader(void *arg)
{
    race *r = arg;
    char src[256];
    for (int k = 2; k <= RELOADS + 1; k++) {
        snprintf(src, sizeof src,
                 "import time\nA = %d\ndef evaluate():\n    a = A\n    time.sleep(0)\n"
                 "    return a * 100000000 + A * 10000 + %d\n",
                 k, k);
        if (replace_file(r->path, src) != 0) {
            r->reload_fail++;
            continue;
        }
        bool reloaded = false;
        if (pys_script_reload_if_changed(r->script, &reloaded) != PYS_OK) {
            if (!r->reload_fail++)
                snprintf(r->err, sizeof r->err, "%s", pys_last_error()->message);
        } else if (!reloaded) {
            r->not_reloaded++;
        }
    }
    atomic_store(&r->done, true);
    return NULL;
}

static void *caller(void *arg)
{
    caller_arg *a = arg;
    race *r = a->r;
    long last = 0;
    /* At least a few calls after the last reload, too. */
    for (int tail = 0; tail < 50;) {
        if (atomic_load(&r->done))
            tail++;
        pys_obj f = pys_script_get(r->script, "evaluate");
        pys_obj v = pys_call(f, NULL, 0);
        int64_t x = -1;
        if (!pys_ok(v) || pys_to_int64(v, &x) != PYS_OK) {
            r->failed[a->i]++;
        } else {
            long k1 = (long)(x / 100000000), k2 = (long)(x / 10000 % 10000),
                 k3 = (long)(x % 10000);
            if (k1 != k2 || k2 != k3)
                r->torn[a->i]++;
            if (k1 < last)
                r->backwards[a->i]++;
            last = k1;
        }
        r->calls[a->i]++;
        pys_release(v);
        pys_release(f);
    }
    return NULL;
}

PYS_TEST(script, four_callers_while_another_thread_reloads_1000_times, .timeout = 300)
{
    (void)py;
    char path[4096];
    temp_script(path, sizeof path);
    write_file(path, "A = 1\ndef evaluate():\n    return 100010001\n");
    race r = {.rt = rt, .path = path};
    r.script = pys_script_load(rt, path, PYS_NULL);
    pyt_assert_h(r.script);
    pthread_t th[CALLERS + 1];
    caller_arg ca[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        ca[i] = (caller_arg){&r, i};
        cr_assert_eq(pthread_create(&th[i], NULL, caller, &ca[i]), 0);
    }
    cr_assert_eq(pthread_create(&th[CALLERS], NULL, reloader, &r), 0);
    for (int i = 0; i <= CALLERS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(r.reload_fail, 0, "%d reloads failed: %s", r.reload_fail, r.err);
    cr_assert_eq(r.not_reloaded, 0, "%d changes were not picked up", r.not_reloaded);
    for (int i = 0; i < CALLERS; i++) {
        cr_assert_eq(r.failed[i], 0, "caller %d: %ld calls failed", i, r.failed[i]);
        cr_assert_eq(r.torn[i], 0, "caller %d: %ld answers mixed two versions", i, r.torn[i]);
        cr_assert_eq(r.backwards[i], 0, "caller %d: went back %ld times", i, r.backwards[i]);
        cr_assert_gt(r.calls[i], 50);
    }
    uint64_t v = 0;
    pyt_assert_ok(pys_script_version(r.script, &v));
    cr_assert_eq(v, RELOADS + 1);
    pys_obj f = pys_script_get(r.script, "evaluate");
    pys_obj x = pys_call(f, NULL, 0);
    int64_t last = 0;
    pyt_assert_ok(pys_to_int64(x, &last));
    cr_assert_eq(last, (int64_t)(RELOADS + 1) * 100010001);
    pys_release(x);
    pys_release(f);
    pys_release(r.script);
    remove_script(path);
}

/* ---- watch ------------------------------------------------------------------ */

typedef struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ok, failed;
    int last_rc;
} seen;

static void on_reload(void *ud, pys_obj script, int rc, bool reloaded)
{
    (void)script;
    seen *s = ud;
    pthread_mutex_lock(&s->mu);
    if (rc == PYS_OK && reloaded)
        s->ok++;
    else
        s->failed++;
    s->last_rc = rc;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits up to 20 s for *counter to reach n. */
static bool wait_count(seen *s, int *counter, int n)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 20;
    pthread_mutex_lock(&s->mu);
    while (*counter < n && pthread_cond_timedwait(&s->cv, &s->mu, &dl) == 0)
        ;
    bool ok = *counter >= n;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

PYS_TEST(script, watch_reloads_on_change_and_reports_failures, .timeout = 120)
{
    (void)py;
    char path[4096];
    temp_script(path, sizeof path);
    write_file(path, "def evaluate(x):\n    return 1\n");
    pys_obj s = pys_script_load(rt, path, PYS_NULL);
    pyt_assert_h(s);
    seen sn = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    pyt_assert_ok(pys_script_watch(s, on_reload, &sn));
    cr_assert_eq(pys_script_watch(s, on_reload, &sn), PYS_E_STATE);
    cr_assert_eq(replace_file(path, "def evaluate(x):\n    return 2\n"), 0);
    cr_assert(wait_count(&sn, &sn.ok, 1), "no reload after a rename-replace");
    pys_obj f = pys_script_get(s, "evaluate");
    cr_assert_eq(call_i64(f, 0), 2);
    pys_release(f);
    write_file(path, "def evaluate(x):\n    return (\n");
    cr_assert(wait_count(&sn, &sn.failed, 1), "no report of the failed reload");
    cr_assert_eq(sn.last_rc, PYS_E_PYTHON);
    f = pys_script_get(s, "evaluate");
    cr_assert_eq(call_i64(f, 0), 2);
    pys_release(f);
    write_file(path, "def evaluate(x):\n    return 3\n");
    cr_assert(wait_count(&sn, &sn.ok, 2), "no reload after an edit in place");
    pyt_assert_ok(pys_script_unwatch(s));
    cr_assert_eq(pys_script_unwatch(s), PYS_E_STATE);
    /* A second watch is stopped by close. */
    pyt_assert_ok(pys_script_watch(s, on_reload, &sn));
    pys_release(s);
    remove_script(path);
}
