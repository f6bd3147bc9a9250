/* SystemExit codes: reported as Python has them and, separately, as the
 * status the OS would see (what `python` itself would exit with). Every
 * PYS_TEST runs once per supported Python found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "pyshim_test.h"

/* fake_int: an object whose __class__ says int; Python's exit handling
 * does not take it for one. */
static const char liars[] =
    "class Liar:\n"
    "    @property\n"
    "    def __class__(self): return int\n"
    "    def __index__(self): return 5\n"
    "    def __int__(self): return 5\n"
    "    def __str__(self): return 'liar'\n"
    "fake_int = Liar()\n";

/* ---- SystemExit codes ---------------------------------------------------------------- */

/* The status `python -c "raise SystemExit(code)"` exits with. */
static int python_exit_status(const pyt_python *py, const char *code)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' -c 'raise SystemExit(%s)' >/dev/null 2>&1", py->executable,
             code);
    int st = system(cmd);
    cr_assert(st != -1 && WIFEXITED(st), "%s did not run", cmd);
    return WEXITSTATUS(st);
}

PYS_TEST(exit, os_status_matches_python)
{
    pyt_assert_ok(pys_exec(rt, liars));
    const char *codes[] = {"0",     "3",        "255",        "256",       "257",
                           "-1",    "2**31",    "2**32 + 3",  "2**63 - 1", "2**70",
                           "-2**70", "None",    "True",       "'message'", "3.5",
                           "fake_int"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char src[128];
        snprintf(src, sizeof src, "raise SystemExit(%s)", codes[i]);
        cr_assert_eq(pys_exec(rt, src), PYS_E_EXIT, "%s: %s", src, pys_last_error()->message);
        /* fake_int is not an int to Python: it exits 1 and prints 'liar'. */
        int want = strcmp(codes[i], "fake_int") == 0 ? 1 : python_exit_status(py, codes[i]);
        cr_assert_eq(pys_last_error()->exit_code, want, "SystemExit(%s): exit_code %d, python "
                     "exits %d", codes[i], pys_last_error()->exit_code, want);
    }
}

PYS_TEST(exit, code_as_python_has_it)
{
    pyt_assert_ok(pys_exec(rt, liars));
    static const struct {
        const char *code;
        int kind;
        int64_t value;
        int os;
    } cases[] = {
        {"None", PYS_EXIT_NONE, 0, 0},
        {"0", PYS_EXIT_INT, 0, 0},
        {"3", PYS_EXIT_INT, 3, 3},
        {"256", PYS_EXIT_INT, 256, 0},
        {"-1", PYS_EXIT_INT, -1, 255},
        {"True", PYS_EXIT_INT, 1, 1},
        {"2**63 - 1", PYS_EXIT_INT, INT64_MAX, 255},
        {"-2**63", PYS_EXIT_INT, INT64_MIN, 0},
        {"2**70", PYS_EXIT_BIG_INT, 1, 255},
        {"-2**70", PYS_EXIT_BIG_INT, -1, 255},
        {"'bye'", PYS_EXIT_OTHER, 0, 1},
        {"fake_int", PYS_EXIT_OTHER, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char src[128];
        snprintf(src, sizeof src, "raise SystemExit(%s)", cases[i].code);
        cr_assert_eq(pys_exec(rt, src), PYS_E_EXIT);
        const pys_error *e = pys_last_error();
        cr_assert_eq(e->exit_kind, cases[i].kind, "SystemExit(%s): kind %d", cases[i].code,
                     e->exit_kind);
        cr_assert_eq(e->exit_value, cases[i].value, "SystemExit(%s): value %lld", cases[i].code,
                     (long long)e->exit_value);
        cr_assert_eq(e->exit_code, cases[i].os, "SystemExit(%s): OS status %d", cases[i].code,
                     e->exit_code);
    }
    cr_assert_str_eq(pys_last_error()->message, "liar");
    /* sys.exit() with no argument is success; other failures carry no code. */
    cr_assert_eq(pys_exec(rt, "import sys; sys.exit()"), PYS_E_EXIT);
    cr_assert_eq(pys_last_error()->exit_kind, PYS_EXIT_NONE);
    cr_assert_eq(pys_exec(rt, "1/0"), PYS_E_PYTHON);
    cr_assert_eq(pys_last_error()->exit_kind, PYS_EXIT_NONE);
    cr_assert_eq(pys_last_error()->exit_value, 0);
    cr_assert_eq(pys_last_error()->exit_code, 0);
}

PYS_TEST(exit, code_survives_a_future)
{
    pyt_assert_ok(pys_exec(rt, "async def leave(c):\n    raise SystemExit(c)\n"));
    pys_future *f = pys_run_async_bg(rt, "leave(256)", NULL, NULL);
    cr_assert(f, "%s", pys_last_error()->message);
    cr_assert_eq(pys_future_wait(f, 10000), PYS_E_EXIT, "%s", pys_last_error()->message);
    const pys_error *e = pys_last_error();
    cr_assert_eq(e->exit_kind, PYS_EXIT_INT);
    cr_assert_eq(e->exit_value, 256);
    cr_assert_eq(e->exit_code, 0);
    e = pys_future_error(f);
    cr_assert(e && e->exit_kind == PYS_EXIT_INT && e->exit_value == 256);
    pys_future_free(f);
}
