/* What every embedder's environment does to pys_open / pys_close, checked
 * against the native interpreter where Python has a say: the debug
 * allocator (PYTHONMALLOC=debug, PYTHONDEVMODE), PEP 538/540 locale
 * coercion and UTF-8 mode with their options, and buffered output that
 * cannot be written at close. Each test runs in its own process, so the
 * environment it sets is its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyshim_test.h"

/* ---- the debug allocator ------------------------------------------------------------- */

static void open_close_with(const pyt_python *py, const char *var, const char *value)
{
    setenv(var, value, 1);
    pys_runtime *rt = pyt_open(py);
    cr_assert_eq(pyt_eval_i64(rt, "len([str(i) for i in range(1000)])"), 1000);
    pyt_close(rt);
    /* Reopening runs the same setters again with the switched allocator. */
    rt = pyt_open(py);
    cr_assert_eq(pyt_eval_i64(rt, "1 + 1"), 2);
    pyt_close(rt);
}

PYS_TEST_NOOPEN(embed, debug_allocator_open_close)
{
    open_close_with(py, "PYTHONMALLOC", "debug");
}

PYS_TEST_NOOPEN(embed, dev_mode_open_close)
{
    open_close_with(py, "PYTHONDEVMODE", "1");
}

/* ---- PEP 538 / 540 ------------------------------------------------------------------- */

#define ENC_EXPR                                                                                   \
    "'%s %s %d %s' % (sys.getfilesystemencoding(), sys.stdout.encoding, "                        \
    "sys.flags.utf8_mode, os.environ.get('LC_CTYPE'))"

/* The native interpreter's answer in this process's environment. */
static char *native_encodings(const pyt_python *py)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "'%s' -c \"import sys, os; print(%s)\"", py->executable, ENC_EXPR);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    static char line[256];
    line[0] = '\0';
    cr_assert_not_null(fgets(line, sizeof line, p), "no output from %s", cmd);
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    line[strcspn(line, "\n")] = '\0';
    return line;
}

static char *embedded_encodings(const pyt_python *py, pys_options *o)
{
    pys_runtime *rt = pyt_open_opts(py, o);
    pys_obj v = pys_eval(rt, "(lambda sys, os: " ENC_EXPR ")(__import__('sys'), __import__('os'))");
    pyt_assert_h(v);
    static char got[256];
    snprintf(got, sizeof got, "%s", pys_str_view(v, NULL));
    pys_release(v);
    pyt_close(rt);
    return got;
}

static void clear_locale_env(void)
{
    static const char *const vars[] = {"LC_ALL", "LC_CTYPE", "LANG", "LANGUAGE", "PYTHONUTF8",
                                       "PYTHONCOERCECLOCALE", "PYTHONIOENCODING"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

PYS_TEST_NOOPEN(embed, locale_unset_is_coerced_like_python)
{
    clear_locale_env();
    char *native = native_encodings(py);
    pys_options o = {0};
    char *got = embedded_encodings(py, &o);
    cr_assert_str_eq(got, native, "%s: embedded '%s', native '%s'", pyt_name(py), got, native);
    cr_assert(strncmp(got, "utf-8 utf-8", 11) == 0, "%s", got);
}

PYS_TEST_NOOPEN(embed, lc_all_c_gives_utf8_mode_like_python)
{
    clear_locale_env();
    setenv("LC_ALL", "C", 1);
    char *native = native_encodings(py);
    pys_options o = {0};
    char *got = embedded_encodings(py, &o);
    cr_assert_str_eq(got, native, "%s: embedded '%s', native '%s'", pyt_name(py), got, native);
    cr_assert(strncmp(got, "utf-8 utf-8 1", 13) == 0, "%s", got);
}

PYS_TEST_NOOPEN(embed, pythonutf8_env_like_python)
{
    clear_locale_env();
    setenv("LANG", "C.UTF-8", 1);
    setenv("PYTHONUTF8", "1", 1);
    char *native = native_encodings(py);
    pys_options o = {0};
    char *got = embedded_encodings(py, &o);
    cr_assert_str_eq(got, native, "%s: embedded '%s', native '%s'", pyt_name(py), got, native);
    cr_assert(strncmp(got, "utf-8 utf-8 1", 13) == 0, "%s", got);
}

PYS_TEST_NOOPEN(embed, utf8_mode_option_off_and_on)
{
    clear_locale_env();
    setenv("LANG", "C.UTF-8", 1);
    setenv("PYTHONUTF8", "1", 1);
    pys_options o = {.utf8_mode = -1};
    char *got = embedded_encodings(py, &o);
    cr_assert(strstr(got, " 0 "), "utf8_mode = -1 over PYTHONUTF8=1: %s", got);
    unsetenv("PYTHONUTF8");
    pys_options on = {.utf8_mode = 1};
    got = embedded_encodings(py, &on);
    cr_assert(strstr(got, " 1 "), "utf8_mode = 1: %s", got);
}

PYS_TEST_NOOPEN(embed, coerce_c_locale_option_off)
{
    clear_locale_env();
    pys_options o = {.coerce_c_locale = -1};
    char *got = embedded_encodings(py, &o);
    /* Not coerced: LC_CTYPE stays unset; UTF-8 mode turns on in the C
     * locale instead (PEP 540). */
    cr_assert(strstr(got, " None"), "coerce_c_locale = -1: %s", got);
    cr_assert(strncmp(got, "utf-8 utf-8 1", 13) == 0, "%s", got);
    cr_assert_null(getenv("LC_CTYPE"));
}

/* ---- output that cannot be written at close ----------------------------------------- */

PYS_TEST_NOOPEN(embed, flush_failure_at_close_is_an_error)
{
    if (access("/dev/full", W_OK) != 0)
        cr_skip_test("no /dev/full");
    pys_runtime *rt = pyt_open(py);
    int rc = pys_exec(rt, "import sys; sys.stdout = open('/dev/full', 'w'); "
                          "sys.stdout.write('lost')");
    pyt_assert_ok(rc);
    rc = pys_close(rt);
    cr_assert_eq(rc, PYS_E_PYTHON, "pys_close gave %s", pys_err_name(rc));
    const pys_error *e = pys_last_error();
    cr_assert(strstr(e->message, "sys.stdout"), "%s", e->message);
    cr_assert(strstr(e->message, "No space left"), "%s", e->message);
    cr_assert_null(pys_runtime_current(), "the runtime is closed all the same");
    /* And a clean close after it is clean. */
    rt = pyt_open(py);
    pyt_close(rt);
}
