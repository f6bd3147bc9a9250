/* core/list.h, the intrusive list every area uses: pure C, no Python. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "core/list.h"

typedef struct item {
    int v;
    pys__link a; /* on list A */
    pys__link b; /* on list B */
} item;

/* The values on l (through link member a or b), front to back, as "3 2 1". */
static void values(pys__list *l, bool on_a, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (on_a) {
        PYS__LIST_EACH(item, it, l, a)
            n += (size_t)snprintf(out + n, cap - n, n ? " %d" : "%d", it->v);
    } else {
        PYS__LIST_EACH(item, it, l, b)
            n += (size_t)snprintf(out + n, cap - n, n ? " %d" : "%d", it->v);
    }
}

Test(list, zeroed_is_empty_and_unlinked)
{
    pys__list l = {0};
    item x = {0};
    cr_assert_null(PYS__LIST_FIRST(item, &l, a));
    cr_assert(!pys__list_linked(&x.a));
    pys__list_remove(&x.a); /* on no list: nothing */
    cr_assert(!pys__list_linked(&x.a));
    cr_assert_null(l.first);
}

Test(list, push_front_remove_anywhere)
{
    pys__list l = {0};
    item it[4] = {{.v = 1}, {.v = 2}, {.v = 3}, {.v = 4}};
    char s[64];
    for (int i = 0; i < 4; i++)
        pys__list_push(&l, &it[i].a);
    values(&l, true, s, sizeof s);
    cr_assert_str_eq(s, "4 3 2 1");
    pys__list_remove(&it[3].a); /* the first */
    pys__list_remove(&it[1].a); /* a middle one */
    pys__list_remove(&it[0].a); /* the last */
    values(&l, true, s, sizeof s);
    cr_assert_str_eq(s, "3");
    cr_assert(!pys__list_linked(&it[1].a));
    cr_assert(pys__list_linked(&it[2].a));
    pys__list_remove(&it[2].a);
    cr_assert_null(l.first);
    pys__list_push(&l, &it[1].a); /* back on after leaving */
    values(&l, true, s, sizeof s);
    cr_assert_str_eq(s, "2");
}

Test(list, one_element_on_two_lists)
{
    pys__list la = {0}, lb = {0};
    item it[3] = {{.v = 1}, {.v = 2}, {.v = 3}};
    char s[64];
    for (int i = 0; i < 3; i++) {
        pys__list_push(&la, &it[i].a);
        pys__list_push(&lb, &it[2 - i].b);
    }
    pys__list_remove(&it[1].a);
    values(&la, true, s, sizeof s);
    cr_assert_str_eq(s, "3 1");
    values(&lb, false, s, sizeof s);
    cr_assert_str_eq(s, "1 2 3");
}

Test(list, each_safe_removes_while_walking)
{
    pys__list l = {0};
    item it[5];
    for (int i = 0; i < 5; i++) {
        it[i] = (item){.v = i};
        pys__list_push(&l, &it[i].a);
    }
    PYS__LIST_EACH_SAFE(item, x, nx, &l, a) {
        if (x->v % 2 == 0)
            pys__list_remove(&x->a);
    }
    char s[64];
    values(&l, true, s, sizeof s);
    cr_assert_str_eq(s, "3 1");
    PYS__LIST_EACH_SAFE(item, x, nx, &l, a)
        pys__list_remove(&x->a);
    cr_assert_null(l.first);
}
