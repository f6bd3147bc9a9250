/* The fast paths of the hot calls give the same results and the same
 * errors as the slow ones they shortcut:
 * - pys_getitem_{str,index}_{int64,double} against pys_getitem_* +
 *   pys_to_* + pys_release, case by case (values, KeyError / IndexError,
 *   wrong item type, overflow, a __getitem__ that raises, stale and invalid
 *   handles, NULL arguments);
 * - pys_iter_next_into against pys_iter_next (items, end, an iterator that
 *   raises, a non-iterator, a stale iterator, a stale or foreign *slot, a
 *   *slot released while __next__ runs, scopes);
 * - pys_iter_next_{int64,double} against pys_iter_next + pys_to_* +
 *   pys_release, step by step (items of every kind, overflow, the end, an
 *   iterator that raises, a non-iterator, stale handles, NULL out);
 * - the inline handle issue / release against the table-lock path;
 * - the call and build formats' positional loop against the general
 *   parser (values, errors, the skip after a failure).
 * Each comparison runs outside a batch, inside one (pys_gil_acquire), with
 * the free-threaded locking path forced, and on a second thread; and after
 * pys_close every fast call gives PYS_E_CLOSED like the slow ones. Every
 * PYS_TEST runs once per Python. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>




#include "pyshim_test.h"

extern void pys__test_force_locking(bool on);

/* What a read gave: the code, the value, the Python type of the error. */
typedef struct outcome {
    int rc;
    double v; /* int64 values are small here: exact in a double */
    char type[64];
} outcome;

static outcome got(int rc, double v)
{
    outcome o = {.rc = rc, .v = rc == PYS_OK ? v : 0};
    if (rc != PYS_OK && pys_last_error()->type)
        snprintf(o.type, sizeof o.type, "%s", pys_last_error()->type);
    return o;
}

/* The slow way: a handle for the item, a conversion, a release. */
static outcome slow_read(pys_obj o, const char *key, int64_t index, bool dbl)
{
    pys_obj item = key ? pys_getitem_str(o, key) : pys_getitem_index(o, index);
    if (!pys_ok(item))
        return got(pys_last_error()->code, 0);
    int64_t i = 0;
    double d = 0;
    int rc = dbl ? pys_to_double(item, &d) : pys_to_int64(item, &i);
    outcome r = got(rc, dbl ? d : (double)i);
    pys_release(item);
    return r;
}

static outcome fast_read(pys_obj o, const char *key, int64_t index, bool dbl)
{
    int64_t i = -7;
    double d = -7;
    int rc = key ? (dbl ? pys_getitem_str_double(o, key, &d) : pys_getitem_str_int64(o, key, &i))
                 : (dbl ? pys_getitem_index_double(o, index, &d)
                        : pys_getitem_index_int64(o, index, &i));
    outcome r = got(rc, dbl ? d : (double)i);
    if (rc != PYS_OK)
        cr_assert(dbl ? d == -7 : i == -7, "*out is untouched on failure");
    return r;
}

static void same(outcome a, outcome b, const char *what)
{
    cr_assert_eq(a.rc, b.rc, "%s: fast %s, slow %s", what, pys_err_name(a.rc), pys_err_name(b.rc));
    cr_assert_eq(a.v, b.v, "%s: fast %g, slow %g", what, a.v, b.v);
    cr_assert_str_eq(a.type, b.type, "%s: error types differ", what);
}

static void compare_reads(pys_runtime *rt)
{
    pyt_assert_ok(pys_exec(rt, "class Raising(dict):\n"
                               "    def __getitem__(self, k):\n"
                               "        raise LookupError('no ' + str(k))\n"
                               "class IntSub(int):\n"
                               "    pass\n"));
    pys_obj d = pys_eval(rt, "{'a': 1, 'b': 2.5, 's': 'x', 'big': 2**70, 't': True, "
                             "'neg': -1, 'sub': IntSub(5), 'n': None}");
    pys_obj l = pys_eval(rt, "[10, -1, 2.5, 'x', 2**64]");
    pys_obj t = pys_eval(rt, "(3, 4.5)");
    pys_obj r = pys_eval(rt, "Raising(a=1)");
    pys_obj num = pys_from_int64(rt, 3);
    pys_obj gone = pys_from_int64(rt, 4);
    pyt_assert_h(d);
    pyt_assert_h(l);
    pyt_assert_h(t);
    pyt_assert_h(r);
    pyt_assert_ok(pys_release(gone));
    const char *keys[] = {"a", "b", "s", "big", "t", "neg", "sub", "n", "missing"};
    for (int dbl = 0; dbl < 2; dbl++) {
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            char what[64];
            snprintf(what, sizeof what, "d[%s] %s", keys[k], dbl ? "double" : "int64");
            same(fast_read(d, keys[k], 0, dbl), slow_read(d, keys[k], 0, dbl), what);
        }
        for (int64_t i = -6; i <= 5; i++) {
            char what[64];
            snprintf(what, sizeof what, "l[%lld] %s", (long long)i, dbl ? "double" : "int64");
            same(fast_read(l, NULL, i, dbl), slow_read(l, NULL, i, dbl), what);
            same(fast_read(t, NULL, i, dbl), slow_read(t, NULL, i, dbl), what);
        }
        same(fast_read(r, "a", 0, dbl), slow_read(r, "a", 0, dbl), "__getitem__ raises");
        same(fast_read(d, NULL, 0, dbl), slow_read(d, NULL, 0, dbl), "d[0]: KeyError");
        same(fast_read(num, "a", 0, dbl), slow_read(num, "a", 0, dbl), "int is not subscriptable");
        same(fast_read(gone, "a", 0, dbl), slow_read(gone, "a", 0, dbl), "stale handle");
        same(fast_read(gone, NULL, 0, dbl), slow_read(gone, NULL, 0, dbl), "stale handle, index");
        same(fast_read(PYS_NULL, "a", 0, dbl), slow_read(PYS_NULL, "a", 0, dbl), "PYS_NULL");
        same(fast_read(d, NULL, 0, dbl), slow_read(d, NULL, 0, dbl), "index into a dict");
    }
    cr_assert_eq(pys_getitem_str_int64(d, "a", NULL), PYS_E_ARG);
    cr_assert_eq(pys_getitem_index_double(l, 0, NULL), PYS_E_ARG);
    int64_t v = 0;
    cr_assert_eq(pys_getitem_str_int64(d, NULL, &v), PYS_E_ARG);
    cr_assert_eq(pys_getitem_str(d, NULL).id, 0);
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    pys_release(d);
    pys_release(l);
    pys_release(t);
    pys_release(r);
    pys_release(num);
}

/* The items (as int64; a non-int ends the list with -1000) and the final
 * code of iterating `expr` with pys_iter_next or pys_iter_next_into. */
typedef struct walk {
    int64_t items[16];
    int n, rc;
    char type[64];
} walk;

static walk iterate(pys_runtime *rt, const char *expr, bool into)
{
    walk w = {0};
    pys_obj it = pys_eval(rt, expr);
    pyt_assert_h(it);
    pys_obj x = PYS_NULL;
    size_t before = pys_handle_count(rt);
    for (;;) {
        int rc;
        if (into) {
            uint64_t old = x.id;
            rc = pys_iter_next_into(it, &x);
            if (rc == 1 && old) {
                cr_assert_neq(x.id, old, "the reused slot has a new id");
                cr_assert_eq(pys_check((pys_obj){old}), PYS_E_HANDLE, "the old id is stale");
                cr_assert_eq(pys_handle_count(rt), before + 1, "one handle for all items");
            }
        } else {
            pys_release(x);
            rc = pys_iter_next(it, &x);
        }
        if (rc != 1) {
            w.rc = rc;
            cr_assert_eq(x.id, 0, "*slot is PYS_NULL when the call does not return 1");
            if (rc < 0 && pys_last_error()->type)
                snprintf(w.type, sizeof w.type, "%s", pys_last_error()->type);
            break;
        }
        int64_t v = -1000;
        if (pys_to_int64(x, &v) != PYS_OK)
            v = -1000;
        cr_assert_lt(w.n, 16);
        w.items[w.n++] = v;
    }
    cr_assert_eq(pys_handle_count(rt), before, "nothing left to release");
    pys_release(it);
    return w;
}

static void same_walk(pys_runtime *rt, const char *expr)
{
    walk a = iterate(rt, expr, true), b = iterate(rt, expr, false);
    cr_assert_eq(a.rc, b.rc, "%s: into %s, next %s", expr, pys_err_name(a.rc), pys_err_name(b.rc));
    cr_assert_eq(a.n, b.n, "%s: %d items vs %d", expr, a.n, b.n);
    for (int i = 0; i < a.n; i++)
        cr_assert_eq(a.items[i], b.items[i], "%s: item %d", expr, i);
    cr_assert_str_eq(a.type, b.type, "%s", expr);
}

static pys_obj g_drop; /* the handle drop_slot releases */

static int64_t drop_slot(void)
{
    return pys_release(g_drop);
}

static void compare_iteration(pys_runtime *rt)
{
    pyt_assert_ok(pys_exec(rt, "def gen_fail():\n"
                               "    yield 1\n"
                               "    yield 'two'\n"
                               "    raise ValueError('mid-iteration')\n"
                               "def gen_drop():\n"
                               "    import c_bridge\n"
                               "    yield 1\n"
                               "    c_bridge.drop_slot()\n"
                               "    yield 2\n"
                               "    yield 3\n"));
    same_walk(rt, "iter(range(5))");
    same_walk(rt, "iter([])");
    same_walk(rt, "gen_fail()");
    same_walk(rt, "range(3)"); /* not an iterator: PYS_E_TYPE */
    same_walk(rt, "iter({'a': 1, 'b': 2}.values())");

    /* A stale or foreign *slot: PYS_E_HANDLE, the iterator not advanced. */
    pys_obj it = pys_eval(rt, "iter(range(3))");
    pys_obj x = pys_from_int64(rt, 9);
    pys_obj stale = x;
    pyt_assert_ok(pys_release(x));
    cr_assert_eq(pys_iter_next_into(it, &stale), PYS_E_HANDLE);
    cr_assert_eq(stale.id, 0);
    pys_obj bogus = {UINT64_C(0x123456789)};
    cr_assert_eq(pys_iter_next_into(it, &bogus), PYS_E_HANDLE);
    cr_assert_eq(bogus.id, 0);
    cr_assert_eq(pys_iter_next_into(it, NULL), PYS_E_ARG);
    x = PYS_NULL;
    cr_assert_eq(pys_iter_next_into(it, &x), 1);
    int64_t v = -1;
    pyt_assert_ok(pys_to_int64(x, &v));
    cr_assert_eq(v, 0, "the failed calls did not advance the iterator");
    /* A stale iterator, with a live *slot: the slot is released. */
    pys_obj it2 = pys_eval(rt, "iter(range(3))");
    pyt_assert_ok(pys_release(it2));
    size_t n = pys_handle_count(rt);
    cr_assert_eq(pys_iter_next_into(it2, &x), PYS_E_HANDLE);
    cr_assert_eq(x.id, 0);
    cr_assert_eq(pys_handle_count(rt), n - 1);
    pys_release(it);

    /* __next__ releases *slot itself: the next item gets a fresh handle. */
    pyt_assert_ok(pys_register_typed(rt, "drop_slot", ">q", PYS_CFUNC(drop_slot)));
    it = pys_eval(rt, "gen_drop()");
    n = pys_handle_count(rt);
    x = PYS_NULL;
    cr_assert_eq(pys_iter_next_into(it, &x), 1);
    g_drop = x;
    cr_assert_eq(pys_iter_next_into(it, &x), 1);
    cr_assert_eq(pys_check(g_drop), PYS_E_HANDLE);
    pyt_assert_ok(pys_to_int64(x, &v));
    cr_assert_eq(v, 2);
    cr_assert_eq(pys_iter_next_into(it, &x), 1);
    pyt_assert_ok(pys_to_int64(x, &v));
    cr_assert_eq(v, 3);
    cr_assert_eq(pys_iter_next_into(it, &x), 0);
    cr_assert_eq(pys_handle_count(rt), n);
    pys_release(it);

    /* Inside a scope the items stay tracked: the scope's end releases them. */
    it = pys_eval(rt, "iter(range(4))");
    n = pys_handle_count(rt);
    pyt_assert_ok(pys_scope_begin(rt));
    x = PYS_NULL;
    cr_assert_eq(pys_iter_next_into(it, &x), 1);
    cr_assert_eq(pys_iter_next_into(it, &x), 1);
    pyt_assert_ok(pys_scope_end(rt));
    cr_assert_eq(pys_check(x), PYS_E_HANDLE, "the scope released the item");
    cr_assert_eq(pys_handle_count(rt), n);
    pys_release(it);
}

/* One step of reading an iterator into a C value: the code (1, 0 or an
 * error), the value on 1, the exception type on an error. */
typedef struct step {
    int rc;
    double v;
    char type[64];
} step;

/* Up to 12 steps of reading `expr` as int64 (dbl false) or double, with
 * the one-call read (fast) or pys_iter_next + pys_to_* + pys_release. */
static int read_steps(pys_runtime *rt, const char *expr, bool dbl, bool fast, step *out)
{
    pys_obj it = pys_eval(rt, expr);
    pyt_assert_h(it);
    size_t before = pys_handle_count(rt);
    int n = 0;
    for (; n < 12; n++) {
        step *s = &out[n];
        memset(s, 0, sizeof *s);
        int64_t i = -7;
        double d = -7;
        if (fast) {
            s->rc = dbl ? pys_iter_next_double(it, &d) : pys_iter_next_int64(it, &i);
            if (s->rc != 1)
                cr_assert(dbl ? d == -7 : i == -7, "%s: *out untouched on %d", expr, s->rc);
        } else {
            pys_obj x = PYS_NULL;
            s->rc = pys_iter_next(it, &x);
            if (s->rc == 1) {
                int r = dbl ? pys_to_double(x, &d) : pys_to_int64(x, &i);
                if (r != PYS_OK)
                    s->rc = r;
                pyt_assert_ok(pys_release(x));
            }
        }
        if (s->rc == 1)
            s->v = dbl ? d : (double)i;
        else if (s->rc < 0 && pys_last_error()->type)
            snprintf(s->type, sizeof s->type, "%s", pys_last_error()->type);
        if (s->rc == 0)
            break;
    }
    cr_assert_eq(pys_handle_count(rt), before, "%s: no handle left by the reads", expr);
    pys_release(it);
    return n;
}

static void same_reads(pys_runtime *rt, const char *expr)
{
    for (int dbl = 0; dbl < 2; dbl++) {
        step a[12], b[12];
        int na = read_steps(rt, expr, dbl, true, a), nb = read_steps(rt, expr, dbl, false, b);
        cr_assert_eq(na, nb, "%s (%s): %d steps vs %d", expr, dbl ? "double" : "int64", na, nb);
        for (int i = 0; i < na && i < 12; i++) {
            cr_assert_eq(a[i].rc, b[i].rc, "%s (%s) step %d: %s vs %s", expr,
                         dbl ? "double" : "int64", i, pys_err_name(a[i].rc),
                         pys_err_name(b[i].rc));
            cr_assert_eq(a[i].v, b[i].v, "%s step %d: %g vs %g", expr, i, a[i].v, b[i].v);
            cr_assert_str_eq(a[i].type, b[i].type, "%s step %d", expr, i);
        }
    }
}

static void compare_iter_reads(pys_runtime *rt)
{
    pyt_assert_ok(pys_exec(rt, "class IntSub(int):\n"
                               "    pass\n"
                               "class Half:\n"
                               "    def __float__(self):\n"
                               "        return 0.5\n"
                               "def gen_mixed():\n"
                               "    yield 1\n"
                               "    yield 'two'\n"
                               "    yield 2**70\n"
                               "    yield -2**63\n"
                               "    yield 3.25\n"
                               "    yield True\n"
                               "    yield IntSub(9)\n"
                               "    yield Half()\n"
                               "    yield None\n"
                               "    raise ValueError('mid-iteration')\n"));
    same_reads(rt, "iter(range(5))");
    same_reads(rt, "iter([])");
    same_reads(rt, "gen_mixed()");
    same_reads(rt, "range(3)"); /* not an iterator: PYS_E_TYPE every time */
    same_reads(rt, "iter((1.5, -0.0, 10**400))");

    /* A bad item is consumed: the next call reads the one after it. */
    pys_obj it = pys_eval(rt, "iter([1, 'x', 3])");
    int64_t v = 0;
    cr_assert_eq(pys_iter_next_int64(it, &v), 1);
    cr_assert_eq(v, 1);
    cr_assert_eq(pys_iter_next_int64(it, &v), PYS_E_TYPE);
    cr_assert_eq(pys_iter_next_int64(it, &v), 1);
    cr_assert_eq(v, 3);
    cr_assert_eq(pys_iter_next_int64(it, &v), 0);
    cr_assert_eq(pys_iter_next_int64(it, NULL), PYS_E_ARG);
    cr_assert_eq(pys_iter_next_double(it, NULL), PYS_E_ARG);
    pyt_assert_ok(pys_release(it));
    /* A stale and a never-issued iterator. */
    cr_assert_eq(pys_iter_next_int64(it, &v), PYS_E_HANDLE);
    cr_assert_eq(pys_iter_next_double((pys_obj){UINT64_C(0x123456789)}, &(double){0}),
                 PYS_E_HANDLE);
    cr_assert_eq(pys_iter_next_int64(PYS_NULL, &v), PYS_E_HANDLE);
}

/* Issue and release through the inline paths give the ids and the errors
 * of the locked ones. */
static void compare_handles(pys_runtime *rt)
{
    pys_obj a = pys_from_int64(rt, 1);
    pys_obj s = pys_from_str(rt, "x");
    pyt_assert_h(a);
    pyt_assert_h(s);
    pyt_assert_ok(pys_release(a));
    cr_assert_eq(pys_release(a), PYS_E_HANDLE);
    cr_assert(strstr(pys_last_error()->message, "was released"), "%s",
              pys_last_error()->message);
    cr_assert_eq(pys_release(PYS_NULL), PYS_E_HANDLE);
    cr_assert(strstr(pys_last_error()->message, "invalid handle"), "%s",
              pys_last_error()->message);
    cr_assert_eq(pys_release((pys_obj){UINT64_C(0xfffffff)}), PYS_E_HANDLE);
    cr_assert(strstr(pys_last_error()->message, "never issued"), "%s",
              pys_last_error()->message);
    pys_obj b = pys_from_int64(rt, 2);
    cr_assert_eq(b.id & 0xfffffff, a.id & 0xfffffff, "the free list is LIFO");
    cr_assert_eq(b.id >> 28, (a.id >> 28) + 1, "the next generation");
    cr_assert_eq(pys_to_int64(a, &(int64_t){0}), PYS_E_HANDLE);
    pyt_assert_ok(pys_release(b));
    pyt_assert_ok(pys_release(s));
}

/* The leaf gate (core/gate.h: inside a batch, the scalar makes and reads
 * and the str view skip the gate): the same values and errors in every
 * context compare_all runs in, batch or not, locked or not. */
static void compare_leaf(pys_runtime *rt)
{
    int64_t v = 0;
    pys_obj a = pys_from_int64(rt, INT64_MIN);
    pyt_assert_h(a);
    pyt_assert_ok(pys_to_int64(a, &v));
    cr_assert_eq(v, INT64_MIN);
    pys_obj m1 = pys_from_int64(rt, -1);
    pyt_assert_ok(pys_to_int64(m1, &v));
    cr_assert_eq(v, -1, "-1 is a value, not a failure");
    pys_obj t = pys_eval(rt, "True");
    pyt_assert_ok(pys_to_int64(t, &v));
    cr_assert_eq(v, 1, "bool is an int");
    pys_obj sub = pys_eval(rt, "type('I', (int,), {'__index__': lambda s: 0})(7)");
    pyt_assert_ok(pys_to_int64(sub, &v));
    cr_assert_eq(v, 7, "an int subclass's own value, never __index__");
    v = 5;
    pys_obj big = pys_eval(rt, "2**63");
    cr_assert_eq(pys_to_int64(big, &v), PYS_E_OVERFLOW);
    cr_assert_eq(v, 5, "out untouched");
    pys_obj f = pys_from_double(rt, 2.5);
    pyt_assert_h(f);
    cr_assert_eq(pys_to_int64(f, &v), PYS_E_TYPE);
    cr_assert(strstr(pys_last_error()->message, "float"), "%s", pys_last_error()->message);
    cr_assert_eq(v, 5);
    cr_assert_eq(pys_to_int64(a, NULL), PYS_E_ARG);
    cr_assert_eq(pys_from_int64(NULL, 1).id, 0);
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert_eq(pys_from_double(NULL, 1).id, 0);
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    pyt_assert_ok(pys_release(m1));
    cr_assert_eq(pys_to_int64(m1, &v), PYS_E_HANDLE);
    cr_assert(strstr(pys_last_error()->message, "was released"), "%s",
              pys_last_error()->message);
    cr_assert_eq(pys_to_int64(PYS_NULL, &v), PYS_E_HANDLE);
    cr_assert_eq(v, 5);

    size_t n = 0;
    pys_obj s = pys_from_str(rt, "h\xc3\xa9");
    pyt_assert_h(s);
    const char *view = pys_str_view(s, &n);
    cr_assert(view && n == 3 && !memcmp(view, "h\xc3\xa9", 3));
    cr_assert_eq(pys_from_str(rt, "\xff").id, 0);
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE);
    cr_assert_eq(pys_from_str(rt, NULL).id, 0);
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    cr_assert_eq(pys_from_str(NULL, "x").id, 0);
    cr_assert_eq(pys_last_error()->code, PYS_E_ARG);
    n = 9;
    cr_assert_null(pys_str_view(a, &n));
    cr_assert_eq(pys_last_error()->code, PYS_E_TYPE);
    cr_assert_eq(n, 9);
    pys_obj lone = pys_eval(rt, "'\\ud800'");
    cr_assert_null(pys_str_view(lone, &n));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE);
    cr_assert_null(pys_str_view(m1, &n));
    cr_assert_eq(pys_last_error()->code, PYS_E_HANDLE);
    pys_obj hs[] = {a, t, sub, big, f, s, lone};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        pyt_assert_ok(pys_release(hs[i]));
}

/* The format's positional loop (convert/format.c, positional()) against
 * the general parser: a format with its codes run together ("qds") has
 * the same values as the spaced one ("q d s") but the loop hands it to
 * item() from the first code (a code letter followed by a name character
 * could start a keyword). Values, None for a NULL string, the argument
 * numbers in errors, and the skip after a failure (a later N released)
 * must all agree. */
static char *call_repr(pys_obj f, int *rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pys_obj r = pys_vcallf(f, fmt, ap);
    va_end(ap);
    *rc = pys_ok(r) ? PYS_OK : pys_last_error()->code;
    if (!pys_ok(r))
        return strdup(pys_last_error()->message);
    size_t n = 0;
    const char *v = pys_str_view(r, &n);
    char *out = strndup(v ? v : "?", v ? n : 1);
    pys_release(r);
    return out;
}

static void same_call(const char *a, int rc_a, const char *b, int rc_b)
{
    cr_assert_eq(rc_a, rc_b, "%s | %s", a, b);
    cr_assert_str_eq(a, b);
}

static void compare_formats(pys_runtime *rt)
{
    pys_obj f = pys_eval(rt, "lambda *a, **k: repr((a, sorted(k.items())))");
    pyt_assert_h(f);
    pys_obj l = pys_eval(rt, "[1]");
    pyt_assert_h(l);
    int ra, rb;
    char *a = call_repr(f, &ra, "q Q i I d b s O n s", (int64_t)INT64_MIN, (uint64_t)UINT64_MAX,
                        -7, 4000000000u, 2.5, 1, "h\xc3\xa9", l, (const char *)NULL);
    char *b = call_repr(f, &rb, "qQiIdbsOns", (int64_t)INT64_MIN, (uint64_t)UINT64_MAX, -7,
                        4000000000u, 2.5, 1, "h\xc3\xa9", l, (const char *)NULL);
    cr_assert_str_eq(a, "((-9223372036854775808, 18446744073709551615, -7, 4000000000, 2.5, "
                        "True, 'h\xc3\xa9', [1], None, None), [])");
    same_call(a, ra, b, rb);
    free(a);
    free(b);
    /* A keyword after a positional run; keywords named like codes. */
    a = call_repr(f, &ra, "q d, k=s", (int64_t)1, 2.0, "x");
    b = call_repr(f, &rb, "qd, k=s", (int64_t)1, 2.0, "x");
    cr_assert_str_eq(a, "((1, 2.0), [('k', 'x')])");
    same_call(a, ra, b, rb);
    free(a);
    free(b);
    a = call_repr(f, &ra, "q=d n=q s=s", 2.5, (int64_t)3, "v");
    cr_assert_eq(ra, PYS_OK, "%s", a);
    cr_assert_str_eq(a, "((), [('n', 3), ('q', 2.5), ('s', 'v')])");
    free(a);
    /* s# and N: left to item() after a run. */
    a = call_repr(f, &ra, "q s# d", (int64_t)1, "a\0b", (size_t)3, 0.5);
    b = call_repr(f, &rb, "qs#d", (int64_t)1, "a\0b", (size_t)3, 0.5);
    cr_assert_str_eq(a, "((1, 'a\\x00b', 0.5), [])");
    same_call(a, ra, b, rb);
    free(a);
    free(b);
    /* Failures: bad UTF-8 (argument 3), a stale handle (argument 2); the
     * N after them is released either way. */
    pys_obj n1 = pys_from_int64(rt, 1), n2 = pys_from_int64(rt, 2);
    a = call_repr(f, &ra, "q d s N", (int64_t)1, 2.0, "\xff", n1);
    b = call_repr(f, &rb, "qdsN", (int64_t)1, 2.0, "\xff", n2);
    cr_assert_eq(ra, PYS_E_VALUE);
    cr_assert(strstr(a, "argument 3"), "%s", a);
    same_call(a, ra, b, rb);
    cr_assert_eq(pys_check(n1), PYS_E_HANDLE, "N released after the failure");
    cr_assert_eq(pys_check(n2), PYS_E_HANDLE);
    free(a);
    free(b);
    pys_obj stale = pys_from_int64(rt, 3);
    pyt_assert_ok(pys_release(stale));
    n1 = pys_from_int64(rt, 1);
    n2 = pys_from_int64(rt, 2);
    a = call_repr(f, &ra, "q O s N", (int64_t)1, stale, "x", n1);
    char *a_msg = strdup(a);
    b = call_repr(f, &rb, "qOsN", (int64_t)1, stale, "x", n2);
    cr_assert_eq(ra, PYS_E_HANDLE, "%s", a_msg);
    same_call(a, ra, b, rb);
    cr_assert_eq(pys_check(n1), PYS_E_HANDLE);
    cr_assert_eq(pys_check(n2), PYS_E_HANDLE);
    free(a_msg);
    free(a);
    free(b);
    /* pys_build: a list of the loop's codes, and one that fails. */
    pys_obj x = pys_build(rt, "[q d s b n]", (int64_t)1, 2.5, "three", 1);
    pys_obj y = pys_build(rt, "[qdsbn]", (int64_t)1, 2.5, "three", 1);
    pyt_assert_h(x);
    pyt_assert_h(y);
    cr_assert_eq(pys_compare(x, y, PYS_EQ), 1);
    pyt_assert_ok(pys_release(x));
    pyt_assert_ok(pys_release(y));
    n1 = pys_from_int64(rt, 1);
    x = pys_build(rt, "[q s N]", (int64_t)1, "\xc3", n1);
    cr_assert_eq(x.id, 0);
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE);
    cr_assert(strstr(pys_last_error()->message, "argument 2"), "%s", pys_last_error()->message);
    cr_assert_eq(pys_check(n1), PYS_E_HANDLE);
    pyt_assert_ok(pys_release(l));
    pyt_assert_ok(pys_release(f));
}

static void compare_all(pys_runtime *rt)
{
    compare_leaf(rt);
    compare_formats(rt);
    compare_reads(rt);
    compare_iteration(rt);
    compare_iter_reads(rt);
    compare_handles(rt);
}

PYS_TEST(fast_paths, same_as_slow_outside_a_batch)
{
    compare_all(rt);
}

PYS_TEST(fast_paths, same_as_slow_inside_a_batch)
{
    pyt_assert_ok(pys_gil_acquire(rt));
    compare_all(rt);
    pyt_assert_ok(pys_gil_release(rt));
}

PYS_TEST(fast_paths, same_as_slow_with_the_table_lock)
{
    pys__test_force_locking(true);
    compare_all(rt);
    pyt_assert_ok(pys_gil_acquire(rt));
    compare_all(rt);
    pyt_assert_ok(pys_gil_release(rt));
    pys__test_force_locking(false);
}

static void *on_thread(void *arg)
{
    pys_runtime *rt = arg;
    compare_all(rt);
    pyt_assert_ok(pys_gil_acquire(rt));
    compare_all(rt);
    pyt_assert_ok(pys_gil_release(rt));
    return NULL;
}

PYS_TEST(fast_paths, same_as_slow_on_another_thread)
{
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, on_thread, rt), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
}

/* A thread whose batch holds the GIL: another thread's fast calls wait for
 * it, then run, and give the same results. */
static void *reader(void *arg)
{
    pys_obj d = *(pys_obj *)arg;
    int64_t v = 0;
    int rc = pys_getitem_str_int64(d, "a", &v);
    return (void *)(intptr_t)(rc == PYS_OK && v == 1);
}

PYS_TEST(fast_paths, waits_for_another_threads_batch)
{
    pys_obj d = pys_eval(rt, "{'a': 1}");
    pyt_assert_ok(pys_gil_acquire(rt));
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, reader, &d), 0);
    int64_t v = 0;
    pyt_assert_ok(pys_getitem_str_int64(d, "a", &v));
    pyt_assert_ok(pys_gil_release(rt));
    void *ok = NULL;
    cr_assert_eq(pthread_join(th, &ok), 0);
    cr_assert(ok, "the other thread read d['a'] once the batch ended");
    pys_release(d);
}

PYS_TEST_NOOPEN(fast_paths, closed_runtime_refuses_fast_and_slow_alike)
{
    pys_options o = {.skip_finalize = true};
    pys_runtime *rt = pyt_open_opts(py, &o);
    pys_obj d = pys_eval(rt, "{'a': 1}");
    pys_obj it = pys_eval(rt, "iter([1, 2])");
    pys_obj x = PYS_NULL;
    cr_assert_eq(pys_iter_next_into(it, &x), 1);
    pys_obj i1 = pys_from_int64(rt, 5);
    pys_obj s1 = pys_from_str(rt, "old");
    pyt_close(rt);
    int64_t v = 5;
    double dv = 5;
    cr_assert_eq(pys_getitem_str_int64(d, "a", &v), PYS_E_CLOSED);
    cr_assert_eq(pys_getitem_str_double(d, "a", &dv), PYS_E_CLOSED);
    cr_assert_eq(pys_getitem_index_int64(d, 0, &v), PYS_E_CLOSED);
    cr_assert_eq(pys_getitem_index_double(d, 0, &dv), PYS_E_CLOSED);
    cr_assert_eq(v, 5);
    cr_assert_eq(dv, 5);
    cr_assert_eq(pys_to_int64(d, &v), PYS_E_CLOSED, "the slow path agrees");
    cr_assert_eq(pys_getitem_str(d, "a").id, 0);
    cr_assert_eq(pys_last_error()->code, PYS_E_CLOSED);
    cr_assert_eq(pys_iter_next_into(it, &x), PYS_E_CLOSED);
    cr_assert_eq(x.id, 0);
    pys_obj y = PYS_NULL;
    cr_assert_eq(pys_iter_next(it, &y), PYS_E_CLOSED);
    cr_assert_eq(pys_iter_next_int64(it, &v), PYS_E_CLOSED);
    cr_assert_eq(pys_iter_next_double(it, &dv), PYS_E_CLOSED);
    cr_assert_eq(v, 5);
    cr_assert_eq(dv, 5);
    cr_assert_eq(pys_release(d), PYS_E_CLOSED);
    cr_assert_eq(pys_from_int64(rt, 1).id, 0);
    cr_assert_eq(pys_last_error()->code, PYS_E_CLOSED);
    cr_assert_eq(pys_from_str(rt, "x").id, 0);
    cr_assert_eq(pys_last_error()->code, PYS_E_CLOSED);
    cr_assert_null(pys_str_view(d, NULL));
    cr_assert_eq(pys_last_error()->code, PYS_E_CLOSED);

    /* Reopened: the handles of the first runtime stay refused, fast path
     * or not. */
    rt = pyt_open_opts(py, &o);
    cr_assert_eq(pys_getitem_str_int64(d, "a", &v), PYS_E_HANDLE);
    cr_assert(strstr(pys_last_error()->message, "earlier runtime"), "%s",
              pys_last_error()->message);
    x = it;
    cr_assert_eq(pys_iter_next_into(it, &x), PYS_E_HANDLE);
    cr_assert_eq(pys_iter_next_int64(it, &v), PYS_E_HANDLE);
    cr_assert_eq(pys_release(d), PYS_E_HANDLE);
    cr_assert(strstr(pys_last_error()->message, "earlier runtime"), "%s",
              pys_last_error()->message);
    /* Inside a batch the leaf gate's reads refuse them the same way. */
    for (int batch = 0; batch < 2; batch++) {
        if (batch)
            pyt_assert_ok(pys_gil_acquire(rt));
        v = 9;
        cr_assert_eq(pys_to_int64(i1, &v), PYS_E_HANDLE);
        cr_assert(strstr(pys_last_error()->message, "earlier runtime"), "%s",
                  pys_last_error()->message);
        cr_assert_eq(v, 9);
        cr_assert_null(pys_str_view(s1, NULL));
        cr_assert_eq(pys_last_error()->code, PYS_E_HANDLE);
        if (batch)
            pyt_assert_ok(pys_gil_release(rt));
    }
    pyt_close(rt);
}
