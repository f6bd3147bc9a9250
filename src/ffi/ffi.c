/* The hand-written part of the FFI face (pyshim_ffi.h): open from
 * key/value strings, errors field by field and as JSON, value reads,
 * strings into caller buffers, calls with typed value arrays, and host
 * callbacks. Everything forwards to the pys_* implementation; the generated
 * wrappers of the other functions are in ffi_gen.c.
 *
 * Host callbacks: a pys_ffi_fn is registered as a generic bridge function
 * whose userdata is an ffi_reg. The adapter calls the host directly, or,
 * for PYS_FFI_OWNER_THREAD functions called on another thread, queues the
 * call for the owner thread and waits without the GIL until
 * pys_bridge_pump on the owner has run it. A 0 result is always a failure:
 * the exception comes from pys_ffi_fail, else from a pyshim call that
 * failed in the host function, else a RuntimeError. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <cJSON.h>

#include "core/runtime.h"
#include "core/error.h"
#include "convert/codes.h"
#include "convert/convert.h"
#include "convert/scalar.h"
#include "ffi/ffi.h"


int32_t pys_ffi_abi_version(void)
{
    return PYS_FFI_ABI_VERSION;
}

/* The format letters whose values each typed array holds, collected once
 * from the value code table (convert/codes.h). */
#define ARR_INTS PYS_FFI_ARRAY_INTS
#define ARR_DBLS PYS_FFI_ARRAY_DBLS
#define ARR_STRS PYS_FFI_ARRAY_STRS
#define ARR_OBJS PYS_FFI_ARRAY_OBJS
#define ARR_NONE (-1)
enum { N_ARRAYS = PYS_FFI_ARRAY_OBJS + 1, MAX_LETTERS = 16 };
static char arr_letters[N_ARRAYS][MAX_LETTERS];
static pthread_once_t arr_once = PTHREAD_ONCE_INIT;

static void arr_add(int arr, char ch)
{
    if (arr < 0)
        return;
    size_t n = strlen(arr_letters[arr]);
    if (n + 1 < MAX_LETTERS)
        arr_letters[arr][n] = ch;
}

static void arr_collect(void)
{
#define SCALAR(L, ch, ctype, vatype, regtype, pytype, kind, lo, hi, ffi, ...) arr_add(ARR_##ffi, ch);
#define OTHER(ch, pytype, where, ffi, ...) arr_add(ARR_##ffi, ch);
    PYS__SCALAR_CODES(SCALAR)
    PYS__OTHER_CODES(OTHER)
#undef SCALAR
#undef OTHER
}

const char *pys_ffi_format_codes(int32_t array)
{
    if (array < 0 || array >= N_ARRAYS)
        return "";
    pthread_once(&arr_once, arr_collect);
    return arr_letters[array];
}

int32_t pys_ffi_status(void)
{
    return pys__tls_get()->ffi.status;
}

void pys_ffi_free(void *p)
{
    free(p);
}

/* Copies n bytes of s into buf as pyshim_ffi.h says; returns n. */
static int64_t copy_out(const char *s, size_t n, char *buf, size_t cap)
{
    if (buf && cap) {
        size_t k = n < cap ? n : cap;
        if (k)
            memcpy(buf, s, k);
        if (n < cap)
            buf[n] = '\0';
    }
    return (int64_t)n;
}

static int64_t copy_str(const char *s, char *buf, size_t cap)
{
    return copy_out(s ? s : "", s ? strlen(s) : 0, buf, cap);
}

/* ---- open ---------------------------------------------------------------- */

typedef struct str_list {
    const char **v;
    size_t n;
} str_list;

static int list_add(str_list *l, const char *s)
{
    const char **bigger = realloc(l->v, (l->n + 2) * sizeof *bigger);
    if (!bigger)
        return pys__fail("pys_ffi_open", PYS_E_NOMEM, "pys_ffi_open: out of memory");
    l->v = bigger;
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
    return PYS_OK;
}

static int parse_bool(const char *k, const char *v, bool *out)
{
    if (!strcmp(v, "1") || !strcmp(v, "true")) {
        *out = true;
    } else if (!strcmp(v, "0") || !strcmp(v, "false") || !*v) {
        *out = false;
    } else {
        return pys__fail("pys_ffi_open", PYS_E_ARG,
                         "pys_ffi_open: option '%s' wants 1, 0, true or false, not '%s'", k, v);
    }
    return PYS_OK;
}

static int parse_tri(const char *k, const char *v, int *out)
{
    if (!strcmp(v, "1") || !strcmp(v, "0") || !strcmp(v, "-1")) {
        *out = atoi(v);
        return PYS_OK;
    }
    return pys__fail("pys_ffi_open", PYS_E_ARG,
                     "pys_ffi_open: option '%s' wants -1, 0 or 1, not '%s'", k, v);
}

/* Fills o from the key/value pairs; lists get their arrays. */
static int parse_options(pys_options *o, const char *const *keys, const char *const *values,
                         size_t n, str_list *deps, str_list *links, str_list *argv)
{
    static const struct {
        const char *key;
        size_t off;
    } strs[] = {
#define S(f) {#f, offsetof(pys_options, f)}
        S(library_path), S(python), S(venv), S(uv_project), S(index_url), S(bridge_module),
        S(project_dir),
#undef S
    };
    static const struct {
        const char *key;
        size_t off;
    } flags[] = {
#define B(f) {#f, offsetof(pys_options, f)}
        B(prefer_uv), B(no_index), B(skip_finalize), B(install_signal_handlers),
        B(ignore_environment), B(project_venv), B(prefer_newest), B(refuse_untested),
#undef B
    };
    if (n && (!keys || !values))
        return pys__fail("pys_ffi_open", PYS_E_ARG, "pys_ffi_open: keys or values is NULL");
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i], *v = values[i];
        if (!k || !v)
            return pys__fail("pys_ffi_open", PYS_E_ARG,
                             "pys_ffi_open: key or value %zu is NULL", i);
        bool done = false;
        for (size_t j = 0; !done && j < sizeof strs / sizeof strs[0]; j++) {
            if (!strcmp(k, strs[j].key)) {
                *(const char **)((char *)o + strs[j].off) = v;
                done = true;
            }
        }
        for (size_t j = 0; !done && j < sizeof flags / sizeof flags[0]; j++) {
            if (!strcmp(k, flags[j].key)) {
                int rc = parse_bool(k, v, (bool *)((char *)o + flags[j].off));
                if (rc != PYS_OK)
                    return rc;
                done = true;
            }
        }
        if (done)
            continue;
        int rc;
        if (!strcmp(k, "utf8_mode"))
            rc = parse_tri(k, v, &o->utf8_mode);
        else if (!strcmp(k, "coerce_c_locale"))
            rc = parse_tri(k, v, &o->coerce_c_locale);
        else if (!strcmp(k, "dependencies"))
            rc = list_add(deps, v);
        else if (!strcmp(k, "find_links"))
            rc = list_add(links, v);
        else if (!strcmp(k, "argv"))
            rc = list_add(argv, v);
        else
            rc = pys__fail("pys_ffi_open", PYS_E_ARG, "pys_ffi_open: unknown option '%s'", k);
        if (rc != PYS_OK)
            return rc;
    }
    o->dependencies = deps->v;
    o->find_links = links->v;
    o->argv = argv->v;
    return PYS_OK;
}

static void ffi_log(pys_log_level level, const char *msg, void *ud);

static pys_runtime *open_with(const char *const *keys, const char *const *values, size_t n,
                              bool logged)
{
    pys_runtime *rt = NULL;
    str_list deps = {0}, links = {0}, argv = {0};
    pys_options o = {0};
    if (logged)
        o.logger = ffi_log;
    PYS__FFI_CALL(if (parse_options(&o, keys, values, n, &deps, &links, &argv) == PYS_OK)
                      pys_open(&o, &rt));
    free(deps.v);
    free(links.v);
    free(argv.v);
    return rt;
}

pys_runtime *pys_ffi_open(const char *const *keys, const char *const *values, size_t n)
{
    return open_with(keys, values, n, false);
}

/* ---- errors ---------------------------------------------------------------- */

int32_t pys_ffi_error_code(void)
{
    return pys__err_peek()->code;
}

int64_t pys_ffi_error_context(char *buf, size_t cap)
{
    return copy_str(pys__err_peek()->context, buf, cap);
}

int64_t pys_ffi_error_type(char *buf, size_t cap)
{
    return copy_str(pys__err_peek()->type, buf, cap);
}

int64_t pys_ffi_error_message(char *buf, size_t cap)
{
    return copy_str(pys__err_peek()->message, buf, cap);
}

int64_t pys_ffi_error_traceback(char *buf, size_t cap)
{
    const pys_error *e;
    PYS__FFI_HELD(e = pys__last_error_full());
    return copy_str(e->traceback, buf, cap);
}

int32_t pys_ffi_error_exit_code(void)
{
    return pys__err_peek()->exit_code;
}

int64_t pys_ffi_error_json(char *buf, size_t cap)
{
    const pys_error *e;
    PYS__FFI_HELD(e = pys__last_error_full());
    cJSON *j = cJSON_CreateObject();
    cJSON *searched = cJSON_CreateArray();
    bool ok = j && searched;
    if (ok) {
        cJSON_AddItemToObject(j, "code", cJSON_CreateNumber(e->code));
        cJSON_AddItemToObject(j, "name", cJSON_CreateString(pys_err_name(e->code)));
        cJSON_AddItemToObject(j, "context", cJSON_CreateString(e->context ? e->context : ""));
        cJSON_AddItemToObject(j, "type", cJSON_CreateString(e->type ? e->type : ""));
        cJSON_AddItemToObject(j, "message", cJSON_CreateString(e->message ? e->message : ""));
        cJSON_AddItemToObject(j, "traceback",
                              cJSON_CreateString(e->traceback ? e->traceback : ""));
        for (size_t i = 0; i < e->nsearched; i++)
            cJSON_AddItemToArray(searched, cJSON_CreateString(e->searched[i]));
        cJSON_AddItemToObject(j, "searched", searched);
        searched = NULL;
        cJSON_AddItemToObject(j, "exit_code", cJSON_CreateNumber(e->exit_code));
        cJSON_AddItemToObject(j, "exit_kind", cJSON_CreateNumber(e->exit_kind));
        cJSON_AddItemToObject(j, "exit_value", cJSON_CreateNumber((double)e->exit_value));
    }
    char *text = ok ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    cJSON_Delete(searched);
    /* Out of memory: a fixed object still says what failed. */
    int64_t n = text ? copy_str(text, buf, cap)
                     : copy_str("{\"code\":-16,\"name\":\"PYS_E_NOMEM\"}", buf, cap);
    free(text);
    return n;
}

/* ---- reading values ---------------------------------------------------------- */

/* The value reads: what TO reads from o, or 0 (false) when it fails, the
 * error then in the status; returned as the FFI face's type RET. */
#define READER(ret, name, ctype, to)                                                               \
    ret name(uint64_t o)                                                                           \
    {                                                                                              \
        ctype v = 0;                                                                               \
        PYS__FFI_CALL(if (to((pys_obj){o}, &v) != PYS_OK) v = 0);                                  \
        return (ret)v;                                                                             \
    }
READER(int64_t, pys_ffi_int64, int64_t, pys__to_int64_in) /* pys_to_int64 inline */
READER(uint64_t, pys_ffi_uint64, uint64_t, pys_to_uint64)
READER(double, pys_ffi_double, double, pys_to_double)
READER(int32_t, pys_ffi_bool, bool, pys_to_bool)
READER(int64_t, pys_ffi_len, size_t, pys_len)
#undef READER

int64_t pys_ffi_str_read(uint64_t o, char *buf, size_t cap)
{
    int64_t r;
    PYS__FFI_CALL(size_t n = 0; const char *s = pys_str_view((pys_obj){o}, &n);
                  r = s ? copy_out(s, n, buf, cap) : pys__err_peek()->code);
    return r;
}

int64_t pys_ffi_text_read(uint64_t o, char *buf, size_t cap)
{
    int64_t r;
    PYS__FFI_CALL(size_t n = 0; char *s = pys_str_copy((pys_obj){o}, &n);
                  r = s ? copy_out(s, n, buf, cap) : pys__err_peek()->code; free(s));
    return r;
}

int64_t pys_ffi_bytes_read(uint64_t o, char *buf, size_t cap)
{
    int64_t r;
    PYS__FFI_CALL(size_t n = 0; char *s = pys_bytes_copy((pys_obj){o}, &n);
                  r = s ? copy_out(s, n, buf, cap) : pys__err_peek()->code; free(s));
    return r;
}

/* ---- calls with typed arrays --------------------------------------------------- */

#define VALS_PARAMS                                                                               \
    const int64_t *ints, size_t nints, const double *dbls, size_t ndbls,                           \
        const char *const *strs, const size_t *lens, size_t nstrs, const uint64_t *objs,           \
        size_t nobjs
#define VALS_INIT                                                                                 \
    {.ints = ints, .nints = nints, .dbls = dbls, .ndbls = ndbls, .strs = strs, .lens = lens,     \
     .nstrs = nstrs, .objs = objs, .nobjs = nobjs}

/* An array pointer that is NULL with a non-zero count is refused before
 * anything runs ('N' handles are then not released: nothing was read). */
static bool vals_ok(const pys__fmt_vals *v, const char *fn)
{
    if ((!v->ints && v->nints) || (!v->dbls && v->ndbls) || (!v->strs && v->nstrs) ||
        (!v->objs && v->nobjs)) {
        pys__fail(fn, PYS_E_ARG, "%s: a value array is NULL with a non-zero count", fn);
        return false;
    }
    return true;
}

uint64_t pys_ffi_callv(uint64_t fn, const char *fmt, VALS_PARAMS)
{
    pys__fmt_vals v = VALS_INIT;
    pys_obj r = PYS_NULL;
    PYS__FFI_CALL_H(if (vals_ok(&v, __func__)) {
        pys__fmt_vals_set(&v);
        r = pys_callf((pys_obj){fn}, fmt ? fmt : "");
        pys__fmt_vals_set(NULL);
    }, r.id);
    return r.id;
}

/* pys_ffi_call0 ... pys_ffi_call3: the handles as a pys_obj array on the
 * stack, then pys_call. */
static inline uint64_t call_n(uint64_t fn, const pys_obj *args, size_t n)
{
    pys_obj r = PYS_NULL;
    PYS__FFI_CALL_H(r = pys_call((pys_obj){fn}, args, n), r.id);
    return r.id;
}
uint64_t pys_ffi_call0(uint64_t fn)
{
    return call_n(fn, NULL, 0);
}
uint64_t pys_ffi_call1(uint64_t fn, uint64_t a)
{
    return call_n(fn, (const pys_obj[]){{a}}, 1);
}
uint64_t pys_ffi_call2(uint64_t fn, uint64_t a, uint64_t b)
{
    return call_n(fn, (const pys_obj[]){{a}, {b}}, 2);
}
uint64_t pys_ffi_call3(uint64_t fn, uint64_t a, uint64_t b, uint64_t c)
{
    return call_n(fn, (const pys_obj[]){{a}, {b}, {c}}, 3);
}

uint64_t pys_ffi_call_methodv(uint64_t o, const char *name, const char *fmt, VALS_PARAMS)
{
    pys__fmt_vals v = VALS_INIT;
    pys_obj r = PYS_NULL;
    PYS__FFI_CALL_H(if (vals_ok(&v, __func__)) {
        pys__fmt_vals_set(&v);
        r = pys_call_method((pys_obj){o}, name, fmt ? fmt : "");
        pys__fmt_vals_set(NULL);
    }, r.id);
    return r.id;
}

uint64_t pys_ffi_buildv(pys_runtime *rt, const char *fmt, VALS_PARAMS)
{
    pys__fmt_vals v = VALS_INIT;
    pys_obj r = PYS_NULL;
    PYS__FFI_CALL_H(if (vals_ok(&v, __func__)) {
        pys__fmt_vals_set(&v);
        r = pys_build(rt, fmt);
        pys__fmt_vals_set(NULL);
    }, r.id);
    return r.id;
}

uint64_t pys_ffi_bound_callv(pys_bound *b, const char *name, const char *fmt, VALS_PARAMS)
{
    pys__fmt_vals v = VALS_INIT;
    pys_obj r = PYS_NULL;
    PYS__FFI_CALL_H(if (vals_ok(&v, __func__)) {
        pys__fmt_vals_set(&v);
        r = pys_bound_call(b, name, fmt ? fmt : "");
        pys__fmt_vals_set(NULL);
    }, r.id);
    return r.id;
}

/* ---- host callbacks ------------------------------------------------------------------ */

typedef struct ffi_reg {
    pys_ffi_fn fn;
    uint64_t ctx;
    uint32_t flags;
    pys_ffi_release_fn release;
    pthread_t owner;
    char name[64]; /* for messages (cut) */
} ffi_reg;

/* One host function call, on its way and back. */
typedef struct ffi_call {
    ffi_reg *reg;
    const uint64_t *args;
    size_t nargs;
    uint64_t kwargs;
    uint64_t result;
    /* result 0: what to raise. exc_type "" = no note. */
    char exc_type[128];
    char *message;       /* malloc'd or NULL */
    bool nested_failed;  /* a pyshim call failed in the host function */
    int nested_code;
    bool done;
    struct ffi_call *next;
} ffi_call;

typedef struct pys__ffi_frame {
    struct pys__ffi_frame *prev;
    ffi_call *call;
} pys__ffi_frame;

/* Calls waiting for their owner thread. */
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;    /* a call was queued */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER; /* a call was run */
static ffi_call *q_head;

int32_t pys_ffi_fail(const char *exc_type, const char *message)
{
    pys__ffi_frame *fr = pys__tls_get()->ffi.frame;
    if (!fr)
        return pys__fail(__func__, PYS_E_STATE, "pys_ffi_fail: not inside a host function");
    ffi_call *c = fr->call;
    snprintf(c->exc_type, sizeof c->exc_type, "%s", exc_type && *exc_type ? exc_type
                                                                           : "RuntimeError");
    free(c->message);
    c->message = message ? strdup(message) : NULL;
    return PYS_OK;
}

/* Runs the host function on this thread. with_gil: this thread holds the
 * GIL inside the bridge call (not a pump), so PYS_FFI_RELEASE_GIL can let
 * it go. Records what a 0 result is to raise. */
static void run_host(ffi_call *c, bool with_gil)
{
    pys__tls *t = pys__tls_get();
    pys__ffi_tls *f = &t->ffi;
    pys__ffi_frame fr = {.prev = f->frame, .call = c};
    uint64_t nfail = t->nfail;
    PyThreadState *unheld = f->unheld;
    f->frame = &fr;
    f->unheld = NULL;
    bool release = with_gil && (c->reg->flags & PYS_FFI_RELEASE_GIL);
    if (release)
        pys__ffi_unhold(f);
    c->result = c->reg->fn(c->reg->ctx, c->args, c->nargs, c->kwargs);
    if (release)
        pys__ffi_rehold(f, f->unheld);
    f->unheld = unheld;
    f->frame = fr.prev;
    if (!c->result && t->nfail != nfail) {
        c->nested_failed = true;
        c->nested_code = pys__err_peek()->code;
        if (!c->exc_type[0] && !with_gil) {
            /* Ran on the owner thread: its failure is that thread's; carry
             * its type and message over to the Python thread. */
            const pys_error *e = pys__err_peek();
            snprintf(c->exc_type, sizeof c->exc_type, "%s",
                     e->type && *e->type ? e->type : "RuntimeError");
            c->message = strdup(e->message ? e->message : "");
        }
    }
}

static void deliver_to_owner(ffi_call *c)
{
    pthread_mutex_lock(&q_mu);
    c->next = NULL;
    ffi_call **tail = &q_head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = c;
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mu);
    /* Wait without the GIL, so the owner can run Python meanwhile. */
    PyThreadState *ts = pys__api.PyEval_SaveThread();
    pthread_mutex_lock(&q_mu);
    while (!c->done)
        pthread_cond_wait(&done_cv, &q_mu);
    pthread_mutex_unlock(&q_mu);
    pys__api.PyEval_RestoreThread(ts);
}

static int ffi_adapter(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                       void *userdata, pys_obj *result)
{
    ffi_reg *r = userdata;
    ffi_call c = {.reg = r, .args = (const uint64_t *)args, .nargs = nargs,
                  .kwargs = kwargs.id};
    _Static_assert(sizeof(pys_obj) == sizeof(uint64_t), "a handle is its id");
    if ((r->flags & PYS_FFI_OWNER_THREAD) && !pthread_equal(pthread_self(), r->owner))
        deliver_to_owner(&c);
    else
        run_host(&c, true);
    if (c.result) {
        free(c.message);
        *result = (pys_obj){c.result};
        return PYS_OK;
    }
    int rc;
    if (c.exc_type[0]) {
        rc = pys_bridge_raise(rt, c.exc_type, "%s", c.message ? c.message : "");
    } else if (c.nested_failed) {
        rc = c.nested_code; /* the bridge re-raises that call's exception */
    } else {
        rc = pys_bridge_raise(rt, "RuntimeError",
                              "host function '%s' failed (returned 0) without raising", r->name);
    }
    free(c.message);
    return rc;
}

static void ffi_release(void *userdata)
{
    ffi_reg *r = userdata;
    if (r->release)
        r->release(r->ctx);
    free(r);
}

static ffi_reg *reg_new(const char *fn, const char *name, pys_ffi_fn f, uint64_t ctx,
                        uint32_t flags, pys_ffi_release_fn release)
{
    if (flags & ~(uint32_t)(PYS_FFI_RELEASE_GIL | PYS_FFI_OWNER_THREAD)) {
        pys__fail(fn, PYS_E_ARG, "%s: unknown flags 0x%x", fn, (unsigned)flags);
        return NULL;
    }
    if (!f) {
        pys__fail(fn, PYS_E_ARG, "%s: fn is NULL", fn);
        return NULL;
    }
    ffi_reg *r = calloc(1, sizeof *r);
    if (!r) {
        pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    r->fn = f;
    r->ctx = ctx;
    r->flags = flags;
    r->release = release;
    r->owner = pthread_self();
    snprintf(r->name, sizeof r->name, "%s", name ? name : "");
    return r;
}

/* Registers into the bridge module (module 0) or a host module. */
static int ffi_add(const char *fn, pys_runtime *rt, uint64_t module, const char *name,
                   pys_ffi_fn f, uint64_t ctx, uint32_t flags, pys_ffi_release_fn release)
{
    ffi_reg *r = reg_new(fn, name, f, ctx, flags, release);
    if (!r)
        return pys__err_peek()->code;
    pys_bridge_func bf = {.name = name, .fn = ffi_adapter, .userdata = r, .release = ffi_release};
    int rc = module ? pys_module_add((pys_obj){module}, &bf) : pys_register(rt, &bf);
    if (rc != PYS_OK)
        free(r); /* release is not called for a failed registration */
    return rc;
}

int32_t pys_ffi_register(pys_runtime *rt, const char *name, pys_ffi_fn fn, uint64_t ctx,
                         uint32_t flags, pys_ffi_release_fn release)
{
    int rc;
    PYS__FFI_CALL(rc = ffi_add(__func__, rt, 0, name, fn, ctx, flags, release));
    return rc;
}

int32_t pys_ffi_module_add(uint64_t module, const char *name, pys_ffi_fn fn, uint64_t ctx,
                           uint32_t flags, pys_ffi_release_fn release)
{
    int rc;
    if (!module) {
        PYS__FFI_CALL(rc = pys__fail(__func__, PYS_E_HANDLE, "pys_ffi_module_add: module is 0"));
        return rc;
    }
    PYS__FFI_CALL(rc = ffi_add(__func__, NULL, module, name, fn, ctx, flags, release));
    return rc;
}

/* ---- notifications ------------------------------------------------------------------ */

/* A future's completion or a log line for an owner thread: queued without
 * waiting, delivered by pys_bridge_pump. */
typedef struct ffi_notice {
    pthread_t owner;
    pys_ffi_done_fn done;
    pys_ffi_log_fn log;
    uint64_t ctx;
    int32_t code;
    char *text;
    size_t len;
    struct ffi_notice *next;
} ffi_notice;

static ffi_notice *n_head, **n_tail = &n_head;

static void notice_post(ffi_notice *x)
{
    pthread_mutex_lock(&q_mu);
    x->next = NULL;
    *n_tail = x;
    n_tail = &x->next;
    pthread_cond_broadcast(&q_cv);
    pthread_mutex_unlock(&q_mu);
}

/* Takes the first notice for this thread, or NULL. q_mu held. */
static ffi_notice *notice_take(void)
{
    pthread_t self = pthread_self();
    for (ffi_notice **p = &n_head; *p; p = &(*p)->next) {
        if (pthread_equal((*p)->owner, self)) {
            ffi_notice *x = *p;
            *p = x->next;
            if (!*p)
                n_tail = p;
            return x;
        }
    }
    return NULL;
}

static void notice_run(ffi_notice *x)
{
    if (x->done)
        x->done(x->ctx, x->code);
    else
        x->log(x->ctx, x->code, x->text, x->len);
    free(x->text);
    free(x);
}

/* The logger of pys_ffi_open_logged (one runtime per process). */
static struct {
    pys_ffi_log_fn fn;
    uint64_t ctx;
    uint32_t flags;
    pthread_t owner;
} g_log;

static void ffi_log(pys_log_level level, const char *msg, void *ud)
{
    (void)ud;
    size_t len = strlen(msg);
    if (!(g_log.flags & PYS_FFI_OWNER_THREAD) || pthread_equal(pthread_self(), g_log.owner)) {
        g_log.fn(g_log.ctx, (int32_t)level, msg, len);
        return;
    }
    ffi_notice *x = calloc(1, sizeof *x);
    char *copy = malloc(len + 1);
    if (!x || !copy) {
        free(x);
        free(copy);
        return; /* out of memory: the line is lost, as a failed write would be */
    }
    memcpy(copy, msg, len + 1);
    *x = (ffi_notice){.owner = g_log.owner, .log = g_log.fn, .ctx = g_log.ctx,
                      .code = (int32_t)level, .text = copy, .len = len};
    notice_post(x);
}

pys_runtime *pys_ffi_open_logged(const char *const *keys, const char *const *values, size_t n,
                                 pys_ffi_log_fn log, uint64_t ctx, uint32_t flags)
{
    if (!log || (flags & ~(uint32_t)PYS_FFI_OWNER_THREAD)) {
        int rc;
        PYS__FFI_CALL(rc = pys__fail(__func__, PYS_E_ARG,
                                     "pys_ffi_open_logged: %s", log ? "unknown flags" : "log is NULL"));
        (void)rc;
        return NULL;
    }
    if (pys_runtime_current()) /* do not touch the open runtime's logger */
        return open_with(keys, values, n, false);
    g_log.fn = log;
    g_log.ctx = ctx;
    g_log.flags = flags;
    g_log.owner = pthread_self();
    return open_with(keys, values, n, true);
}

typedef struct ffi_done {
    pys_ffi_done_fn fn;
    uint64_t ctx;
    uint32_t flags;
    pthread_t owner;
} ffi_done;

static void ffi_future_done(pys_future *f, pys_future_status status, void *ud)
{
    (void)f;
    ffi_done *d = ud;
    if (!(d->flags & PYS_FFI_OWNER_THREAD)) {
        d->fn(d->ctx, (int32_t)status);
        free(d);
        return;
    }
    ffi_notice *x = calloc(1, sizeof *x);
    if (x) {
        *x = (ffi_notice){.owner = d->owner, .done = d->fn, .ctx = d->ctx, .code = (int32_t)status};
        notice_post(x);
    }
    free(d);
}

static ffi_done *done_new(const char *fn, pys_ffi_done_fn done, uint64_t ctx, uint32_t flags)
{
    if (!done || (flags & ~(uint32_t)PYS_FFI_OWNER_THREAD)) {
        pys__fail(fn, PYS_E_ARG, "%s: %s", fn, done ? "unknown flags" : "done is NULL");
        return NULL;
    }
    ffi_done *d = malloc(sizeof *d);
    if (!d) {
        pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    *d = (ffi_done){.fn = done, .ctx = ctx, .flags = flags, .owner = pthread_self()};
    return d;
}

static pys_future *run_notify(pys_runtime *rt, const char *expr, pys_ffi_done_fn done,
                              uint64_t ctx, uint32_t flags)
{
    ffi_done *d = done_new("pys_ffi_run_async_notify", done, ctx, flags);
    pys_future *f = d ? pys_run_async_bg(rt, expr, ffi_future_done, d) : NULL;
    if (d && !f)
        free(d); /* a failed submission never calls back */
    return f;
}

static pys_future *call_notify(uint64_t fn, const uint64_t *args, size_t nargs,
                               pys_ffi_done_fn done, uint64_t ctx, uint32_t flags)
{
    ffi_done *d = done_new("pys_ffi_call_async_notify", done, ctx, flags);
    pys_future *f =
        d ? pys_call_async_bg((pys_obj){fn}, (const pys_obj *)args, nargs, ffi_future_done, d)
          : NULL;
    if (d && !f)
        free(d);
    return f;
}

pys_future *pys_ffi_run_async_notify(pys_runtime *rt, const char *expr, pys_ffi_done_fn done,
                                     uint64_t ctx, uint32_t flags)
{
    pys_future *f;
    PYS__FFI_CALL(f = run_notify(rt, expr, done, ctx, flags));
    return f;
}

pys_future *pys_ffi_call_async_notify(uint64_t fn, const uint64_t *args, size_t nargs,
                                      pys_ffi_done_fn done, uint64_t ctx, uint32_t flags)
{
    pys_future *f;
    PYS__FFI_CALL(f = call_notify(fn, args, nargs, done, ctx, flags));
    return f;
}

/* Takes the first queued call owned by this thread, or NULL. q_mu held. */
static ffi_call *take_mine(void)
{
    pthread_t self = pthread_self();
    for (ffi_call **p = &q_head; *p; p = &(*p)->next) {
        if (pthread_equal((*p)->reg->owner, self)) {
            ffi_call *c = *p;
            *p = c->next;
            return c;
        }
    }
    return NULL;
}

static int pump(pys_runtime *rt, int64_t timeout_ms)
{
    if (!rt)
        return pys__fail("pys_bridge_pump", PYS_E_ARG, "pys_bridge_pump: runtime is NULL");
    if (!pys__rt_live(rt))
        return pys__fail("pys_bridge_pump", PYS_E_CLOSED, "pys_bridge_pump: the runtime is closed");
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms > 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    int ran = 0;
    pthread_mutex_lock(&q_mu);
    for (;;) {
        ffi_notice *x = notice_take();
        if (x) {
            pthread_mutex_unlock(&q_mu);
            notice_run(x);
            ran++;
            pthread_mutex_lock(&q_mu);
            continue;
        }
        ffi_call *c = take_mine();
        if (c) {
            pthread_mutex_unlock(&q_mu);
            run_host(c, false);
            ran++;
            pthread_mutex_lock(&q_mu);
            c->done = true;
            pthread_cond_broadcast(&done_cv);
            continue;
        }
        if (ran > 0 || timeout_ms == 0)
            break;
        if (timeout_ms < 0) {
            pthread_cond_wait(&q_cv, &q_mu);
        } else if (pthread_cond_timedwait(&q_cv, &q_mu, &until) == ETIMEDOUT) {
            x = notice_take();
            c = x ? NULL : take_mine();
            if (!x && !c)
                break;
            /* queued just as the time ran out: put it back and run it */
            if (x) {
                x->next = n_head;
                n_head = x;
                if (!x->next)
                    n_tail = &x->next;
            } else {
                c->next = q_head;
                q_head = c;
            }
        }
    }
    pthread_mutex_unlock(&q_mu);
    return ran;
}

int32_t pys_bridge_pump(pys_runtime *rt, int64_t timeout_ms)
{
    int r;
    PYS__FFI_CALL(r = pump(rt, timeout_ms));
    return r;
}
