/* libpyshim loaded with dlopen (as LuaJIT, koffi and ctypes load it) by a
 * process that already runs a second thread: each thread must see its own
 * state (error detail, FFI status) through the library's thread-record
 * cache (core/runtime.h, pys__tls_get), including the thread that existed
 * before the library did. Runs on the Python the default probe picks.
 *   dlopen_tls LIBPYSHIM.so
 * Exit status 0: passed; 77: skipped (no Python found); else failed. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyshim.h>
#include <pyshim_ffi.h>

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "dlopen_tls: " __VA_ARGS__);                                               \
        fputc('\n', stderr);                                                                       \
        exit(1);                                                                                   \
    } while (0)

static struct {
    __typeof__(pys_set_error) *set_error;
    __typeof__(pys_last_error) *last_error;
    __typeof__(pys_ffi_open) *open;
    __typeof__(pys_ffi_eval) *eval;
    __typeof__(pys_ffi_int64) *int64;
    __typeof__(pys_ffi_release) *release;
    __typeof__(pys_ffi_status) *status;
    __typeof__(pys_ffi_close) *close;
} f;
static pys_runtime *rt;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int step; /* 0 -> 1: library loaded; 1 -> 2: thread done */

static void wait_step(int s)
{
    pthread_mutex_lock(&mu);
    while (step < s)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}
static void set_step(int s)
{
    pthread_mutex_lock(&mu);
    step = s;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Started before the dlopen. */
static void *early_thread(void *arg)
{
    (void)arg;
    wait_step(1);
    const pys_error *e = f.last_error();
    if (e->code != PYS_OK)
        FAIL("early thread sees error %d (\"%s\") it never had", e->code, e->message);
    f.set_error(PYS_E_TYPE, "early", "the early thread's");
    if (rt) {
        uint64_t h = f.eval(rt, "1 +");
        if (h != 0 || f.status() == PYS_FFI_OK)
            FAIL("early thread: eval of \"1 +\" gave %llu, status %d", (unsigned long long)h,
                 (int)f.status());
    }
    e = f.last_error();
    if (rt ? e->code != f.status() : (e->code != PYS_E_TYPE || strcmp(e->context, "early")))
        FAIL("early thread: its own error reads %d from %s", e->code, e->context);
    set_step(2);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        FAIL("usage: dlopen_tls LIBPYSHIM.so");
    pthread_t th;
    if (pthread_create(&th, NULL, early_thread, NULL))
        FAIL("pthread_create");
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        FAIL("dlopen: %s", dlerror());
#define SYM(field, name)                                                                           \
    if (!(*(void **)&f.field = dlsym(lib, name)))                                                  \
    FAIL("dlsym %s: %s", name, dlerror())
    SYM(set_error, "pys_set_error");
    SYM(last_error, "pys_last_error");
    SYM(open, "pys_ffi_open");
    SYM(eval, "pys_ffi_eval");
    SYM(int64, "pys_ffi_int64");
    SYM(release, "pys_ffi_release");
    SYM(status, "pys_ffi_status");
    SYM(close, "pys_ffi_close");
    rt = f.open(NULL, NULL, 0);
    if (!rt)
        fprintf(stderr, "dlopen_tls: no runtime (%s); checking the error state only\n",
                f.last_error()->message);
    f.set_error(PYS_E_VALUE, "main", "main's");
    set_step(1);
    wait_step(2);
    pthread_join(th, NULL);
    const pys_error *e = f.last_error();
    if (e->code != PYS_E_VALUE || strcmp(e->context, "main") || strcmp(e->message, "main's"))
        FAIL("main's error became %d from %s (\"%s\")", e->code, e->context, e->message);
    if (rt) {
        /* The early thread's failed call left its status, not main's. */
        uint64_t h = f.eval(rt, "6 * 7");
        if (f.status() != PYS_FFI_OK || f.int64(h) != 42 || f.status() != PYS_FFI_OK)
            FAIL("main: 6 * 7 after the other thread's failure: status %d", (int)f.status());
        f.release(h);
        if (f.close(rt) != PYS_OK)
            FAIL("close: %s", f.last_error()->message);
    }
    printf("dlopen_tls: ok (%s)\n", rt ? "error state and FFI status" : "error state");
    return rt ? 0 : 77;
}
