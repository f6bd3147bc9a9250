/* JSON text to Python: the whole text must be one JSON value, the error
 * offset is this call's own, and text that is not UTF-8 is PYS_E_VALUE
 * wherever it appears. Every PYS_TEST runs once per supported Python. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "pyshim_test.h"

/* pys_from_json_text(text) fails with PYS_E_VALUE at offset `at`. */
static void assert_invalid_at(pys_runtime *rt, const char *text, long at)
{
    pys_obj o = pys_from_json_text(rt, text);
    char *back = pys_ok(o) ? pys_to_json_text(o) : NULL;
    cr_assert(!pys_ok(o), "'%s' was accepted as %s", text, back ? back : "?");
    const pys_error *e = pys_last_error();
    cr_assert_eq(e->code, PYS_E_VALUE, "'%s': %s: %s", text, pys_err_name(e->code), e->message);
    char want[64];
    snprintf(want, sizeof want, "at offset %ld", at);
    cr_assert(strstr(e->message, want), "'%s': expected '%s' in: %s", text, want, e->message);
}

static void assert_json(pys_runtime *rt, const char *text, const char *want)
{
    pys_obj o = pys_from_json_text(rt, text);
    cr_assert(pys_ok(o), "'%s': %s", text, pys_last_error()->message);
    char *s = pys_to_json_text(o);
    cr_assert(s, "%s", pys_last_error()->message);
    cr_assert_str_eq(s, want, "'%s' read as %s", text, s);
    free(s);
    pys_release(o);
}

PYS_TEST(json_text, trailing_text_is_refused)
{
    assert_invalid_at(rt, "[1] x", 4);
    assert_invalid_at(rt, "1 2", 2);
    assert_invalid_at(rt, "{} {}", 3);
    assert_invalid_at(rt, "\"a\"\"b\"", 3);
    assert_invalid_at(rt, "null,", 4);
    /* Whitespace around the value is fine. */
    assert_json(rt, "  [1]  \n", "[1]");
    assert_json(rt, "\t1\r\n", "1");
    assert_json(rt, "{\"a\": [true, null]}", "{\"a\":[true,null]}");
}

PYS_TEST(json_text, offsets_of_malformed_text)
{
    assert_invalid_at(rt, "", 0);
    assert_invalid_at(rt, "x", 0);
    assert_invalid_at(rt, "[1, }", 4);
    assert_invalid_at(rt, "{\"a\": ", 6);
}

/* Two threads parse different bad texts at once, outside the GIL, while a
 * third (the host's own use of cJSON) parses good text: each must see its
 * own offset. */
typedef struct parser {
    pys_runtime *rt;
    const char *text;
    long at;
    int wrong;
    char seen[256];
} parser;

static atomic_bool parsing;

static void *parse_loop(void *p)
{
    parser *a = p;
    char want[64];
    snprintf(want, sizeof want, "at offset %ld", a->at);
    for (int i = 0; i < 200000 && !a->wrong; i++) {
        pys_obj o = pys_from_json_text(a->rt, a->text);
        if (pys_ok(o) || pys_last_error()->code != PYS_E_VALUE ||
            !strstr(pys_last_error()->message, want)) {
            a->wrong++;
            snprintf(a->seen, sizeof a->seen, "%s", pys_last_error()->message);
            pys_release(o);
        }
    }
    return NULL;
}

static void *host_loop(void *p)
{
    (void)p;
    while (atomic_load(&parsing))
        cJSON_Delete(cJSON_Parse("[1]"));
    return NULL;
}

PYS_TEST(json_text, offsets_are_per_call)
{
    parser a[2] = {{.rt = rt, .text = "  [1,]", .at = 5}, {.rt = rt, .text = "[[1, x", .at = 5}};
    atomic_store(&parsing, true);
    pthread_t host, t[2];
    cr_assert_eq(pthread_create(&host, NULL, host_loop, NULL), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, parse_loop, &a[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    atomic_store(&parsing, false);
    pthread_join(host, NULL);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(a[i].wrong, 0, "parser %d (offset %ld) saw: %s", i, a[i].at, a[i].seen);
}

PYS_TEST(json_text, invalid_utf8_is_a_value_error_everywhere)
{
    const char *texts[] = {"[\"\xff\"]", "{\"\xff\": 1}", "{\"a\": {\"b\xc3\": 1}}",
                           "{\"ok\": \"\xed\xa0\x80\"}", "{\"\xed\xa0\x80\": 0}"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        pys_obj o = pys_from_json_text(rt, texts[i]);
        cr_assert(!pys_ok(o), "text %zu accepted", i);
        const pys_error *e = pys_last_error();
        cr_assert_eq(e->code, PYS_E_VALUE, "text %zu: %s: %s", i, pys_err_name(e->code),
                     e->message);
        cr_assert(strstr(e->message, "UTF-8"), "text %zu: %s", i, e->message);
        cr_assert_str_eq(e->type, "", "text %zu: no Python exception: %s", i, e->type);
    }
    /* The same through a tree built in C. */
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "\xc0\xaf", cJSON_CreateNumber(1));
    cr_assert(!pys_ok(pys_from_json(rt, j)));
    cr_assert_eq(pys_last_error()->code, PYS_E_VALUE, "%s", pys_last_error()->message);
    cJSON_Delete(j);
    cr_assert_eq(pyt_eval_i64(rt, "6 * 7"), 42);
}
