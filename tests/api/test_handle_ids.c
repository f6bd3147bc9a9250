/* Handle ids are never issued twice in a process: not when a hot slot has
 * been reused more often than its generation counts (it is retired), not
 * after any number of close/reopen cycles (the table and its generations
 * outlive a close), and every id fits in 53 bits so that a JavaScript or
 * Lua number carries it exactly. Every PYS_TEST runs once per Python. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#include "pyshim_test.h"

/* Test hooks (handles.c): moves live handle h to the generation that leaves
 * `left` more releases before its slot retires, and returns its new id (h
 * itself is then stale); PYS_NULL if h is not live. */
extern pys_obj pys__test_handle_age(pys_obj h, uint32_t left);
extern void pys__test_force_locking(bool on);

#define ID_LIMIT (UINT64_C(1) << 53)

static bool seen_before(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* Ages a hot slot to its last generations and keeps reusing it: no id may
 * come back, and stale ids stay refused. */
static void hot_slot(pys_runtime *rt)
{
    pys_obj first = pys_from_int64(rt, 1);
    pyt_assert_h(first);
    uint64_t ids[64];
    size_t n = 0;
    ids[n++] = first.id;
    pyt_assert_ok(pys_release(first));
    pys_obj h = pys_from_int64(rt, 2); /* the free list is LIFO: the same slot */
    pyt_assert_h(h);
    ids[n++] = h.id;
    pys_obj aged = pys__test_handle_age(h, 3);
    pyt_assert_h(aged);
    cr_assert_eq(pys_check(h), PYS_E_HANDLE, "the id before aging is stale");
    h = aged;
    size_t live = pys_handle_count(rt);
    for (int i = 0; i < 40; i++) {
        cr_assert(!seen_before(ids, n, h.id), "round %d: id %#llx was issued before", i,
                  (unsigned long long)h.id);
        cr_assert_lt(h.id, ID_LIMIT, "id %#llx", (unsigned long long)h.id);
        ids[n++] = h.id;
        int64_t v = 0;
        pyt_assert_ok(pys_to_int64(h, &v));
        cr_assert_eq(v, i == 0 ? 2 : 100 + i - 1);
        pyt_assert_ok(pys_release(h));
        cr_assert_eq(pys_release(h), PYS_E_HANDLE, "round %d: double release", i);
        h = pys_from_int64(rt, 100 + i);
        pyt_assert_h(h);
        /* Every id handed out before is refused: none names the new object. */
        for (size_t k = 0; k < n; k++)
            cr_assert_eq(pys_check((pys_obj){ids[k]}), PYS_E_HANDLE, "round %d: id %#llx lives",
                         i, (unsigned long long)ids[k]);
    }
    cr_assert_eq(pys_handle_count(rt), live);
    pyt_assert_ok(pys_release(h));
}

PYS_TEST(handle_ids, hot_slot_retires_instead_of_wrapping)
{
    hot_slot(rt);
}

PYS_TEST(handle_ids, hot_slot_retires_with_the_table_lock)
{
    pys__test_force_locking(true);
    hot_slot(rt);
    pys__test_force_locking(false);
}

PYS_TEST(handle_ids, ids_fit_in_53_bits)
{
    enum { N = 10000 };
    pys_obj *h = malloc(N * sizeof *h);
    cr_assert(h);
    for (int i = 0; i < N; i++) {
        h[i] = pys_from_int64(rt, i);
        pyt_assert_h(h[i]);
        cr_assert_lt(h[i].id, ID_LIMIT, "id %#llx", (unsigned long long)h[i].id);
    }
    /* Slots at their last generations too. */
    for (int i = 0; i < N; i += 97) {
        h[i] = pys__test_handle_age(h[i], 1);
        pyt_assert_h(h[i]);
        cr_assert_lt(h[i].id, ID_LIMIT, "id %#llx", (unsigned long long)h[i].id);
    }
    for (int i = 0; i < N; i++)
        pyt_assert_ok(pys_release(h[i]));
    free(h);
}

/* Far more close/reopen cycles than the old 8-bit runtime epoch had room
 * for: a handle or a deadline of an earlier runtime never applies again. */
PYS_TEST_NOOPEN(handle_ids, reopen_never_revives_an_old_id, .timeout = 300)
{
    enum { CYCLES = 300, PER = 3 };
    uint64_t *ids = calloc(CYCLES * PER, sizeof *ids);
    cr_assert(ids);
    pys_options o = {.skip_finalize = true};
    for (int c = 0; c < CYCLES; c++) {
        pys_runtime *rt = pyt_open_opts(py, &o);
        if (c == 0)
            pyt_assert_ok(pys_set_deadline(rt, 600000));
        else
            cr_assert_eq(pys_get_deadline(rt), 0, "cycle %d: runtime 0's deadline applies", c);
        for (int k = 0; k < PER; k++) {
            pys_obj h = pys_from_int64(rt, c * PER + k);
            pyt_assert_h(h);
            cr_assert_lt(h.id, ID_LIMIT);
            ids[c * PER + k] = h.id;
        }
        for (int k = 0; k < c * PER; k++) {
            pys_obj old = {ids[k]};
            cr_assert_eq(pys_check(old), PYS_E_HANDLE, "cycle %d: id %#llx of runtime %d lives",
                         c, (unsigned long long)old.id, k / PER);
            if (k == 0)
                cr_assert(strstr(pys_last_error()->message, "earlier runtime"), "%s",
                          pys_last_error()->message);
        }
        pyt_assert_ok(pys_close(rt));
    }
    free(ids);
}
