/* The .python-version parser alone: no Python, no files; runs once. */
#include <criterion/criterion.h>

#include <string.h>

#include "loader/pyversion_file.h"

static pys__pyver v[16];

static size_t parse(const char *text)
{
    memset(v, 0x5a, sizeof v);
    return pys__pyversion_parse(text, strlen(text), v, 16);
}

Test(pyversion, versions_with_and_without_patch_and_t)
{
    cr_assert_eq(parse("3.12\n"), 1);
    cr_assert_eq(v[0].kind, PYS__PYVER_VERSION);
    cr_assert(v[0].major == 3 && v[0].minor == 12 && v[0].micro == -1 && !v[0].free_threaded);
    cr_assert_eq(v[0].line, 1);
    cr_assert_str_eq(v[0].text, "3.12");

    cr_assert_eq(parse("3.12.4"), 1, "no final newline");
    cr_assert(v[0].minor == 12 && v[0].micro == 4);
    cr_assert_eq(parse("3.13t\r\n"), 1, "CRLF");
    cr_assert(v[0].minor == 13 && v[0].free_threaded);
    cr_assert_str_eq(v[0].text, "3.13t");
    cr_assert_eq(parse("3.13.1t"), 1);
    cr_assert(v[0].micro == 1 && v[0].free_threaded);
    cr_assert_eq(parse("3.13+freethreaded"), 1);
    cr_assert(v[0].minor == 13 && v[0].free_threaded);
    cr_assert_eq(parse("3"), 1);
    cr_assert(v[0].major == 3 && v[0].minor == -1);
}

Test(pyversion, abi_flags_t_and_d)
{
    cr_assert_eq(parse("3.15d\n"), 1);
    cr_assert_eq(v[0].kind, PYS__PYVER_VERSION);
    cr_assert(v[0].minor == 15 && v[0].debug && !v[0].free_threaded);
    cr_assert_eq(parse("3.13td"), 1);
    cr_assert(v[0].minor == 13 && v[0].debug && v[0].free_threaded);
    cr_assert_eq(parse("3.14.2d"), 1);
    cr_assert(v[0].micro == 2 && v[0].debug);
    cr_assert_eq(parse("3.12"), 1);
    cr_assert(!v[0].debug);
    /* CPython's order only: "dt" and a repeated flag are not versions */
    const char *bad[] = {"3.13dt", "3.13tt", "3.13dd", "3.13+freethreadedd"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(parse(bad[i]), 1);
        cr_assert_neq(v[0].kind, PYS__PYVER_VERSION, "%s", bad[i]);
        cr_assert(!v[0].debug && !v[0].free_threaded, "%s", bad[i]);
    }
}

Test(pyversion, implementation_prefixes)
{
    const char *forms[] = {"python-3.11", "cpython@3.11", "cpython-3.11", "cpython3.11"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(parse(forms[i]), 1);
        cr_assert_eq(v[0].kind, PYS__PYVER_VERSION, "%s", forms[i]);
        cr_assert_eq(v[0].minor, 11, "%s", forms[i]);
    }
}

Test(pyversion, fallback_lines_comments_and_blank_lines)
{
    cr_assert_eq(parse("# the project's Pythons\n\n  3.13t   # comment after the word\n\t3.12 extra words\n#3.9\n3.11\n"), 3);
    cr_assert(v[0].minor == 13 && v[0].free_threaded && v[0].line == 3);
    cr_assert(v[1].minor == 12 && v[1].line == 4);
    cr_assert(v[2].minor == 11 && v[2].line == 6);
}

Test(pyversion, pyenv_names_system_and_refusals)
{
    cr_assert_eq(parse("miniconda3-latest\nsystem\n3.14-dev\npypy3.10-7.3.12\n"), 4);
    cr_assert_eq(v[0].kind, PYS__PYVER_NAME);
    cr_assert_str_eq(v[0].text, "miniconda3-latest");
    cr_assert_eq(v[1].kind, PYS__PYVER_SYSTEM);
    cr_assert_eq(v[2].kind, PYS__PYVER_NAME);
    cr_assert_eq(v[3].kind, PYS__PYVER_NAME);

    const char *refused[] = {"../../etc", "a/b", "/usr/bin/python3", "pypy@3.10", ">=3.11", "3.11,<3.13", "3.*"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        cr_assert_eq(parse(refused[i]), 1);
        cr_assert_eq(v[0].kind, PYS__PYVER_UNSUPPORTED, "%s", refused[i]);
        cr_assert_not_null(v[0].why, "%s", refused[i]);
    }
    cr_assert_eq(parse(".."), 1);
    cr_assert_eq(v[0].kind, PYS__PYVER_UNSUPPORTED);
}

Test(pyversion, malformed_versions_are_names_not_numbers)
{
    /* pyenv would look these up as version dir names; never a wrong number */
    const char *odd[] = {"3.12.1.4", "3.", "3.12tt", "3.1234", "3.x"};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        cr_assert_eq(parse(odd[i]), 1);
        cr_assert_eq(v[0].kind, PYS__PYVER_NAME, "%s", odd[i]);
        cr_assert_eq(v[0].major, -1, "%s", odd[i]);
    }
}

Test(pyversion, bounds_embedded_nul_long_words_and_cap)
{
    /* not NUL-terminated: the parser reads exactly len bytes */
    char buf[8];
    memcpy(buf, "3.12XXXX", 8);
    cr_assert_eq(pys__pyversion_parse(buf, 4, v, 16), 1);
    cr_assert(v[0].kind == PYS__PYVER_VERSION && v[0].minor == 12);

    const char nul[] = "3.1\0002\n3.11";
    cr_assert_eq(pys__pyversion_parse(nul, sizeof nul - 1, v, 16), 2);
    cr_assert_eq(v[0].kind, PYS__PYVER_UNSUPPORTED, "a NUL inside a word");
    cr_assert_eq(v[1].minor, 11);

    char longw[400];
    memset(longw, '9', sizeof longw);
    cr_assert_eq(pys__pyversion_parse(longw, sizeof longw, v, 16), 1);
    cr_assert_eq(v[0].kind, PYS__PYVER_UNSUPPORTED);
    cr_assert_eq(strlen(v[0].text), sizeof v[0].text - 1, "text is cut, NUL-terminated");

    /* more lines than room: the count is still right, nothing past cap written */
    pys__pyver two[2];
    memset(two, 0, sizeof two);
    cr_assert_eq(pys__pyversion_parse("3.8\n3.9\n3.10\n3.11\n", 18, two, 1), 4);
    cr_assert_eq(two[0].minor, 8);
    cr_assert_eq(two[1].line, 0u, "untouched");
    cr_assert_eq(pys__pyversion_parse(NULL, 10, NULL, 0), 0);
    cr_assert_eq(pys__pyversion_parse("\n\n  \n# x\n", 9, v, 16), 0);
}
