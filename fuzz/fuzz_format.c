/* Call formats and pys_build (src/convert/format.c) with every C value the
 * format asks for.
 *
 * Input: one mode byte (build / callf / call_method), the format up to a
 * NUL, then choice bytes, one per value read (0 when they run out), each
 * picking that value from a fixed pool of its C type: edge numbers, strings
 * and bytes that are valid, invalid UTF-8 or NULL, and handles that are
 * live, NULL, stale or made up. Varargs cannot be built at run time in C,
 * so the call goes through libffi with exactly the argument types the
 * format's letters name, in order. `plan` below walks the format the way
 * format.c does; it follows the promise that every value is read even after
 * an error, and passes more values, never fewer, where format.c stops
 * early (extra variadic arguments are harmless).
 *
 * Checks beyond the sanitizers: every 'N' handle is released and nothing
 * else leaks a handle; the pool objects' reference counts are as before
 * (no reference leaked or stolen); a failure has a real code and message;
 * the runtime still runs Python afterwards. */
#include <ffi.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "convert/codes.h"

/* One kind per scalar code of the table (src/convert/codes.h), then the
 * others. */
enum kind {
#define KIND(L, ...) K_##L,
    PYS__SCALAR_CODES(KIND)
#undef KIND
    K_STR, K_STRN, K_BYTES, K_O, K_N
};

typedef struct plan {
    enum kind *k;
    size_t n, cap;
    size_t max;
} plan;

static void add(plan *p, enum kind k)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->k = realloc(p->k, p->cap * sizeof *p->k);
        if (!p->k)
            abort();
    }
    p->k[p->n++] = k;
}

/* ---- the walk of format.c, recording what each letter reads ------------- */

static void sep(const char **s)
{
    while (**s == ' ' || **s == ',' || **s == '\t' || **s == '\n')
        (*s)++;
}

static void item(plan *p, const char **s);

static void seq(plan *p, const char **s, char close)
{
    for (;;) {
        sep(s);
        if (**s == close) {
            (*s)++;
            return;
        }
        if (!**s)
            return;
        item(p, s);
    }
}

static void dict(plan *p, const char **s)
{
    for (;;) {
        sep(s);
        if (**s == '}') {
            (*s)++;
            return;
        }
        if (!**s)
            return;
        item(p, s);
        sep(s);
        if (**s != ':')
            return;
        (*s)++;
        sep(s);
        item(p, s);
    }
}

static void item(plan *p, const char **s)
{
    char ch = *(*s)++;
    switch (ch) {
#define CASE(L, ch_, ...) case ch_: add(p, K_##L); break;
    PYS__SCALAR_CODES(CASE)
#undef CASE
    case 's':
        if (**s == '#') {
            (*s)++;
            add(p, K_STRN);
        } else {
            add(p, K_STR);
        }
        break;
    case 'y': add(p, K_BYTES); break;
    case 'O': add(p, K_O); break;
    case 'N': add(p, K_N); break;
    case '[': seq(p, s, ']'); break;
    case '(': seq(p, s, ')'); break;
    case '{': dict(p, s); break;
    case '\0': (*s)--; break;
    default: break;
    }
}

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* `name=` at the start of a call argument. */
static bool keyword(const char **s)
{
    const char *q = *s;
    if (!ident_start(*q))
        return false;
    while (ident_start(*q) || (*q >= '0' && *q <= '9'))
        q++;
    if (*q != '=')
        return false;
    *s = q + 1;
    return true;
}

static void walk(plan *p, const char *s, bool call)
{
    for (;;) {
        sep(&s);
        if (!*s)
            return;
        if (call && keyword(&s) && !*s)
            return;
        item(p, &s);
    }
}

/* ---- the pools ---------------------------------------------------------- */

/* Integer codes draw from their range's edges and a few values inside
 * (lo, hi from the table), d from these doubles, b from -1, 0, 1. */
static const double pool_dbl[] = {0.0, -0.0, 1.5, -2.25, 1e308, 5e-324, DBL_MAX};

/* The c-th value of an integer code's pool, as its bits. */
static uint64_t pool_int(int kind, int64_t lo, uint64_t hi, unsigned c)
{
    if (kind == PYS__CK_BOOL)
        return (uint64_t)((int64_t)(c % 3) - 1);
    if (kind == PYS__CK_UINT) {
        const uint64_t v[] = {0, 1, hi, hi / 2 + 1, hi > 4294967296u ? 4294967296u : hi - 1};
        return v[c % 5];
    }
    const int64_t v[] = {0,  1,           -1,
                         42, lo,          (int64_t)hi,
                         hi > ((uint64_t)1 << 53) ? (int64_t)1 << 53 : 7};
    return (uint64_t)v[c % 7];
}
static const char *const pool_str[] = {"", "abc", "h\xc3\xa9llo", "\xff\xfe", "\xed\xa0\x80",
                                       "a\xe2\x82", NULL, "0123456789abcdef0123456789abcdef"};
typedef struct span {
    const char *p;
    size_t n;
} span;
static const span pool_strn[] = {{"abc", 3}, {"a\0b", 3},   {NULL, 0},   {NULL, 5},
                                 {"\xff", 1}, {"abc", 1},  {"", 0},     {"\xc3\xa9", 2}};
static const span pool_bytes[] = {{"", 0},      {"\0\1\2", 3},           {NULL, 0},
                                  {NULL, 3},    {"xyz", 3},              {"x", SIZE_MAX},
                                  {"x", (size_t)PTRDIFF_MAX}};

#define COUNT(a) (sizeof a / sizeof a[0])

/* Python objects the 'O' and 'N' values refer to; their reference counts
 * are compared before and after each input. */
#define NOBJ 3
static pys_obj objs[NOBJ];
static pys_obj stale;
static pys_obj getrefcount, callee, method_owner;
static int64_t refs0[NOBJ];

static int64_t refcount(pys_obj o)
{
    pys_obj r = pys_callf(getrefcount, "O", o);
    int64_t n = -1;
    pys_to_int64(r, &n);
    pys_release(r);
    return n;
}

static pys_obj must(pys_obj h, const char *what)
{
    fz_check(pys_ok(h), "setup: %s: %s", what, pys_last_error()->message);
    return h;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pys_runtime *rt = fz_runtime();
    pys_obj sys = must(pys_import(rt, "sys"), "import sys");
    getrefcount = must(pys_getattr(sys, "getrefcount"), "sys.getrefcount");
    pys_release(sys);
    /* Objects only the pool refers to (no small-int or interning sharing). */
    objs[0] = must(pys_eval(rt, "[1, 2]"), "list");
    objs[1] = must(pys_eval(rt, "object()"), "object");
    objs[2] = must(pys_eval(rt, "{'k': 10**30}"), "dict");
    stale = must(pys_eval(rt, "[]"), "stale");
    pys_release(stale);
    callee = must(pys_eval(rt, "lambda *a, **k: (a, k)"), "callee");
    pys_exec(rt, "class _FuzzOwner:\n"
                 "    def m(self, *a, **k):\n"
                 "        return len(a) + len(k)\n");
    method_owner = must(pys_eval(rt, "_FuzzOwner()"), "owner");
    for (int i = 0; i < NOBJ; i++)
        refs0[i] = refcount(objs[i]);
    return 0;
}

/* One argument's storage; libffi reads it through avalue[i]. */
typedef union slot {
    int64_t i64;
    uint64_t u64;
    int i;
    unsigned u;
    long l;
    unsigned long ul;
    long long ll;
    unsigned long long ull;
    double d;
    const void *ptr;
    size_t n;
    pys_obj h;
} slot;

/* The libffi type of a va_arg type, and storing v (bits or a double) in
 * a slot as that type. */
#define FFI_TYPE_OF(T)                                                                             \
    _Generic((T)0, int: &ffi_type_sint, unsigned: &ffi_type_uint, long: &ffi_type_slong,          \
             unsigned long: &ffi_type_ulong, long long: &ffi_type_sint64,                          \
             unsigned long long: &ffi_type_uint64, double: &ffi_type_double)
#define SLOT_SET(sl, T, v)                                                                         \
    _Generic((T)0, int: ((sl)->i = (int)(v)), unsigned: ((sl)->u = (unsigned)(v)),                 \
             long: ((sl)->l = (long)(v)), unsigned long: ((sl)->ul = (unsigned long)(v)),          \
             long long: ((sl)->ll = (long long)(v)),                                               \
             unsigned long long: ((sl)->ull = (unsigned long long)(v)),                            \
             double: ((sl)->d = (double)(v)))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    pys_runtime *rt = fz_runtime();
    int mode = data[0] % 3;
    char *fmt = fz_cstr(data + 1, size - 1);
    size_t flen = strlen(fmt);
    const uint8_t *choice = data + 1 + flen + (1 + flen < size ? 1 : 0);
    size_t nchoice = size - (size_t)(choice - data);

    plan p = {0};
    walk(&p, fmt, mode != 0);

    /* Fixed arguments, then two C arguments per s#/y value, one otherwise. */
    size_t nfixed = mode == 2 ? 3 : 2;
    size_t cap = nfixed + 2 * p.n;
    ffi_type **types = calloc(cap, sizeof *types);
    void **values = calloc(cap, sizeof *values);
    slot *slots = calloc(cap, sizeof *slots);
    if (!types || !values || !slots)
        abort();
    static ffi_type *handle_elems[] = {&ffi_type_uint64, NULL};
    static ffi_type handle_type = {0, 0, FFI_TYPE_STRUCT, handle_elems};

    size_t handles0 = pys_handle_count(rt);
    const char *name = "m";
    size_t na = 0;
    if (mode == 0) {
        types[na] = &ffi_type_pointer, slots[na].ptr = rt, na++;
    } else {
        types[na] = &handle_type, slots[na].h = mode == 1 ? callee : method_owner, na++;
        if (mode == 2)
            types[na] = &ffi_type_pointer, slots[na].ptr = name, na++;
    }
    types[na] = &ffi_type_pointer, slots[na].ptr = fmt, na++;
    for (size_t j = 0; j < p.n; j++) {
        unsigned c = j < nchoice ? choice[j] : 0;
        switch (p.k[j]) {
#define SCALAR(L, ch_, ctype, vatype, regtype, pytype, kind, lo, hi, ...)                          \
    case K_##L:                                                                                    \
        types[na] = FFI_TYPE_OF(vatype);                                                           \
        if (kind == PYS__CK_REAL) {                                                                \
            double v = c % 9 == 7 ? NAN : c % 9 == 8 ? -INFINITY : pool_dbl[c % 9];                \
            SLOT_SET(&slots[na], vatype, v);                                                       \
        } else {                                                                                   \
            uint64_t v = pool_int(kind, (int64_t)(lo), (uint64_t)(hi), c);                         \
            if (kind == PYS__CK_SINT || kind == PYS__CK_BOOL)                                      \
                SLOT_SET(&slots[na], vatype, (int64_t)v);                                          \
            else                                                                                   \
                SLOT_SET(&slots[na], vatype, v);                                                   \
        }                                                                                          \
        na++;                                                                                      \
        break;
        PYS__SCALAR_CODES(SCALAR)
#undef SCALAR
        case K_STR:
            types[na] = &ffi_type_pointer, slots[na++].ptr = pool_str[c % COUNT(pool_str)];
            break;
        case K_STRN:
        case K_BYTES: {
            const span *sp = p.k[j] == K_STRN ? &pool_strn[c % COUNT(pool_strn)]
                                              : &pool_bytes[c % COUNT(pool_bytes)];
            types[na] = &ffi_type_pointer, slots[na++].ptr = sp->p;
            types[na] = sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32;
            slots[na++].n = sp->n;
            break;
        }
        case K_O:
        case K_N: {
            pys_obj h;
            switch (c % 6) {
            case 3: h = PYS_NULL; break;
            case 4: h = stale; break;
            case 5: h = (pys_obj){0x5eed0000f00dull}; break; /* never issued */
            default:
                h = objs[c % 6];
                if (p.k[j] == K_N) {
                    h = pys_dup(h);
                    fz_check(pys_ok(h), "pys_dup failed");
                }
            }
            types[na] = &handle_type, slots[na++].h = h;
            break;
        }
        }
    }
    for (size_t i = 0; i < na; i++)
        values[i] = &slots[i];

    ffi_cif cif;
    fz_check(ffi_prep_cif_var(&cif, FFI_DEFAULT_ABI, (unsigned)nfixed, (unsigned)na,
                              &handle_type, types) == FFI_OK,
             "ffi_prep_cif_var");
    void (*fn)(void) = mode == 0 ? (void (*)(void))pys_build
                       : mode == 1 ? (void (*)(void))pys_callf
                                   : (void (*)(void))pys_call_method;
    /* A return buffer of at least a register's width (libffi's rule). */
    union {
        pys_obj h;
        ffi_arg pad[2];
    } ret;
    memset(&ret, 0, sizeof ret);
    pys_clear_error();
    ffi_call(&cif, fn, &ret, values);
    pys_obj r = ret.h;
    int rc = pys_ok(r) ? PYS_OK : pys_last_error()->code;
    const char *what = mode == 0 ? "pys_build" : mode == 1 ? "pys_callf" : "pys_call_method";
    fz_check(pys_ok(r) || rc != PYS_OK, "%s returned no handle and no error", what);
    if (pys_ok(r))
        pys_release(r);
    fz_check_runtime(rt, handles0, rc, what);
    for (int i = 0; i < NOBJ; i++) {
        int64_t n = refcount(objs[i]);
        fz_check(n == refs0[i], "%s: pool object %d has %lld references, %lld before", what, i,
                 (long long)n, (long long)refs0[i]);
    }
    free(types);
    free(values);
    free(slots);
    free(p.k);
    free(fmt);
    return 0;
}
