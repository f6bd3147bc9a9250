/* The pyvenv.cfg reader alone: pure C, no Python, runs once. Text as venv,
 * uv and virtualenv write it, and the odd cases: blanks, comment-looking
 * lines, CRLF, missing keys, very long lines, a missing file. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/pyvenv_cfg.h"

static char *get(const char *text, const char *key)
{
    return pys__venv_cfg_get(text, key);
}

#define assert_get(text, key, want)                                                        \
    do {                                                                                   \
        char *v_ = get(text, key);                                                         \
        cr_assert_not_null(v_, "%s in %s", key, text);                                     \
        cr_assert_str_eq(v_, want, "%s", key);                                             \
        free(v_);                                                                          \
    } while (0)

#define assert_absent(text, key)                                                           \
    do {                                                                                   \
        char *v_ = get(text, key);                                                         \
        cr_assert_null(v_, "%s: got \"%s\"", key, v_ ? v_ : "");                           \
    } while (0)

static const char *venv_cfg = "home = /usr/local/bin\n"
                              "include-system-site-packages = false\n"
                              "version = 3.12.4\n"
                              "executable = /usr/local/bin/python3.12\n"
                              "command = /usr/local/bin/python3.12 -m venv /tmp/v\n";

static const char *uv_cfg = "home = /home/u/.local/share/uv/python/cpython-3.13.1-linux-x86_64-gnu/bin\n"
                            "implementation = CPython\n"
                            "uv = 0.5.11\n"
                            "version_info = 3.13.1\n"
                            "include-system-site-packages = true\n"
                            "prompt = proj\n";

Test(pyvenv_cfg, venv_keys)
{
    assert_get(venv_cfg, "home", "/usr/local/bin");
    assert_get(venv_cfg, "version", "3.12.4");
    assert_get(venv_cfg, "include-system-site-packages", "false");
    assert_get(venv_cfg, "command", "/usr/local/bin/python3.12 -m venv /tmp/v");
    assert_absent(venv_cfg, "version_info");
    assert_absent(venv_cfg, "base-prefix");

    pys__venv_cfg c;
    cr_assert_eq(pys__venv_cfg_parse(venv_cfg, &c), 0);
    cr_assert_str_eq(c.home, "/usr/local/bin");
    cr_assert_str_eq(c.version, "3.12.4");
    cr_assert_null(c.base_prefix);
    cr_assert(!c.system_site);
    pys__venv_cfg_free(&c);
    cr_assert_null(c.home, "freed and reset");
}

Test(pyvenv_cfg, version_info_when_no_version)
{
    assert_absent(uv_cfg, "version");
    assert_get(uv_cfg, "version_info", "3.13.1");
    pys__venv_cfg c;
    cr_assert_eq(pys__venv_cfg_parse(uv_cfg, &c), 0);
    cr_assert_str_eq(c.version, "3.13.1", "version_info stands in for version");
    cr_assert(c.system_site);
    pys__venv_cfg_free(&c);

    /* Both: `version` wins whatever the order. */
    cr_assert_eq(pys__venv_cfg_parse("version_info = 3.11.9.final.0\nversion = 3.11.9\n", &c), 0);
    cr_assert_str_eq(c.version, "3.11.9");
    pys__venv_cfg_free(&c);
}

Test(pyvenv_cfg, include_system_site_packages)
{
    static const struct {
        const char *text;
        bool want;
    } v[] = {
        {"include-system-site-packages = true\n", true},
        {"include-system-site-packages = TRUE\n", true},
        {"Include-System-Site-Packages=True", true},
        {"include-system-site-packages = false\n", false},
        {"include-system-site-packages = no\n", false},
        {"include-system-site-packages = truest\n", false},
        {"home = /x\n", true}, /* absent: CPython's default */
        {"include-system-site-packages =\n", true}, /* empty: as absent */
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        pys__venv_cfg c;
        cr_assert_eq(pys__venv_cfg_parse(v[i].text, &c), 0);
        cr_assert_eq(c.system_site, v[i].want, "%s", v[i].text);
        pys__venv_cfg_free(&c);
    }
}

Test(pyvenv_cfg, whitespace)
{
    assert_get("home=/a", "home", "/a");
    assert_get("  home\t =\t  /a b  \t\n", "home", "/a b");
    assert_get("\thome = /a\n", "home", "/a");
    assert_absent("home = \n", "home");
    assert_absent("home =\t \t\n", "home");
    assert_absent("home\n", "home");
    assert_absent("home /a\n", "home");
    /* Keys are case-insensitive, values are kept as written. */
    assert_get("HOME = /Usr/Bin\n", "home", "/Usr/Bin");
    /* '=' inside the value stays. */
    assert_get("command = a=b = c\n", "command", "a=b = c");
}

Test(pyvenv_cfg, keys_match_whole)
{
    assert_absent("homeland = /x\n", "home");
    assert_absent("version_info = 3.12.1\n", "version");
    assert_absent("home_dir = /x\nversion2 = 3\n", "home");
    assert_get("homeland = /x\nhome = /y\n", "home", "/y");
    assert_absent("ome = /x\n", "home");
}

Test(pyvenv_cfg, comments_are_other_keys)
{
    /* pyvenv.cfg has no comment syntax: these lines name no known key. */
    assert_absent("# home = /commented\n", "home");
    assert_absent("; home = /commented\n", "home");
    assert_get("# home = /commented\nhome = /real\n", "home", "/real");
    assert_get("# a comment\n\n\nversion = 3.9.2\n", "version", "3.9.2");
}

Test(pyvenv_cfg, crlf)
{
    const char *t = "home = C:/x/bin\r\nversion = 3.12.0\r\ninclude-system-site-packages = true\r\n";
    assert_get(t, "home", "C:/x/bin");
    assert_get(t, "version", "3.12.0");
    pys__venv_cfg c;
    cr_assert_eq(pys__venv_cfg_parse(t, &c), 0);
    cr_assert_str_eq(c.version, "3.12.0");
    cr_assert(c.system_site, "\"true\\r\" is true");
    pys__venv_cfg_free(&c);
    assert_absent("home =\r\n", "home");
    assert_get("home = /a \t\r", "home", "/a");
}

Test(pyvenv_cfg, first_line_wins)
{
    assert_get("home = /first\nhome = /second\n", "home", "/first");
    /* The first line of the key counts even when its value is empty. */
    assert_absent("home =\nhome = /second\n", "home");
}

Test(pyvenv_cfg, missing_keys)
{
    pys__venv_cfg c;
    cr_assert_eq(pys__venv_cfg_parse("", &c), 0);
    cr_assert(!c.home && !c.version && !c.base_prefix && c.system_site);
    pys__venv_cfg_free(&c);
    cr_assert_eq(pys__venv_cfg_parse("implementation = CPython\n\n=\n==\n = x\n", &c), 0);
    cr_assert(!c.home && !c.version && !c.base_prefix);
    pys__venv_cfg_free(&c);
    assert_absent("", "home");
    assert_absent("\n\n\n", "home");

    const char *v;
    size_t n = 7;
    cr_assert(!pys__venv_cfg_find("version = 3.8\n", "home", &v, &n));
    cr_assert_eq(n, 7, "untouched when absent");
    cr_assert(pys__venv_cfg_find("x\nbase-prefix = /opt/py \n", "base-prefix", &v, &n));
    cr_assert_eq(n, 7);
    cr_assert(strncmp(v, "/opt/py", n) == 0);
    cr_assert(pys__venv_cfg_find("home = /a", "home", NULL, NULL), "NULL out-params");
}

Test(pyvenv_cfg, long_lines)
{
    size_t n = 1 << 20;
    char *t = malloc(3 * n + 64);
    cr_assert_not_null(t);
    /* A 1 MiB line of junk, then a 1 MiB value, then a short key. */
    char *p = t;
    memset(p, 'x', n);
    p += n;
    *p++ = '\n';
    p += sprintf(p, "home = ");
    memset(p, 'h', n);
    p += n;
    *p++ = '\n';
    strcpy(p, "version = 3.10.14\n");
    char *home = get(t, "home");
    cr_assert_not_null(home);
    cr_assert_eq(strlen(home), n);
    cr_assert(home[0] == 'h' && home[n - 1] == 'h');
    free(home);
    assert_get(t, "version", "3.10.14");
    /* A long key-like word that only starts like the key. */
    memset(t, 'v', n);
    memcpy(t, "version", 7);
    t[n] = '\0';
    assert_absent(t, "version");
    free(t);
}

Test(pyvenv_cfg, read_file_and_missing_file)
{
    char dir[] = "/tmp/pyshim-pyvenv-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/pyvenv.cfg", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("home = /opt/python/bin\r\nbase-prefix = /opt/python\r\nversion_info = 3.14.0\r\n", f);
    cr_assert_eq(fclose(f), 0);

    pys__venv_cfg c;
    cr_assert_eq(pys__venv_cfg_read(path, &c), 0);
    cr_assert_str_eq(c.home, "/opt/python/bin");
    cr_assert_str_eq(c.base_prefix, "/opt/python");
    cr_assert_str_eq(c.version, "3.14.0");
    pys__venv_cfg_free(&c);

    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope/pyvenv.cfg", dir);
    errno = 0;
    cr_assert_eq(pys__venv_cfg_read(missing, &c), -1);
    cr_assert_eq(errno, ENOENT);
    cr_assert(!c.home && !c.version && !c.base_prefix, "zeroed on failure");
    pys__venv_cfg_free(&c);

    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(pys__venv_cfg_read(path, &c), -1, "removed");
    cr_assert_eq(rmdir(dir), 0);
}
