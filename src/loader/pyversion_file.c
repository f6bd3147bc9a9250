/* .python-version: the file pyenv and uv both read to learn which Python a
 * project wants. pyenv takes the first word of each line (skipping empty
 * lines and lines starting with '#') and treats every further line as a
 * fallback; uv writes "3.12", "3.12.4", "3.13t" or "cpython@3.12". A word is
 * classified here, never resolved: the caller decides what is installed.
 *
 * A word naming a path ('/' or "..") is refused, as pyenv refuses it: the
 * caller joins names onto $PYENV_ROOT/versions. */
#include <string.h>

#include "loader/pyversion_file.h"

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Reads 1 to 3 digits at s[*i] (below n). */
static bool num(const char *s, size_t n, size_t *i, int *out)
{
    int v = 0;
    size_t k = 0;
    while (*i < n && is_digit(s[*i])) {
        if (++k > 3)
            return false;
        v = v * 10 + (s[*i] - '0');
        (*i)++;
    }
    if (k == 0)
        return false;
    *out = v;
    return true;
}

static bool has_prefix(const char *s, size_t n, const char *p)
{
    size_t k = strlen(p);
    return n >= k && memcmp(s, p, k) == 0;
}

/* MAJOR[.MINOR[.MICRO]][t][d] or MAJOR[.MINOR[.MICRO]]+freethreaded, the
 * whole word; the ABI flags in the order CPython writes them ("3.13td"). */
static bool version_word(const char *s, size_t n, pys__pyver *v)
{
    size_t i = 0;
    int part[3] = {-1, -1, -1};
    for (int k = 0; k < 3; k++) {
        if (k > 0) {
            if (i >= n || s[i] != '.')
                break;
            i++;
        }
        if (!num(s, n, &i, &part[k]))
            return false;
    }
    bool ft = false, dbg = false;
    if (i < n && s[i] == 't') {
        ft = true;
        i++;
        if (i < n && s[i] == 'd') {
            dbg = true;
            i++;
        }
    } else if (i < n && s[i] == 'd') {
        dbg = true;
        i++;
    } else if (n - i == 13 && memcmp(s + i, "+freethreaded", 13) == 0) {
        ft = true;
        i = n;
    }
    if (i != n)
        return false;
    v->major = part[0];
    v->minor = part[1];
    v->micro = part[2];
    v->free_threaded = ft;
    v->debug = dbg;
    return true;
}

static void classify(const char *w, size_t n, pys__pyver *v)
{
    v->kind = PYS__PYVER_UNSUPPORTED;
    v->major = v->minor = v->micro = -1;
    v->free_threaded = false;
    v->debug = false;
    v->why = NULL;
    if (n >= sizeof v->text) {
        v->why = "longer than any version name";
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)w[i];
        if (ch < 0x20 || ch == 0x7f || ch == '/' || (ch == '.' && i + 1 < n && w[i + 1] == '.')) {
            v->why = "not a version name (a path, or control characters)";
            return;
        }
    }
    if (n == 6 && memcmp(w, "system", 6) == 0) {
        v->kind = PYS__PYVER_SYSTEM;
        return;
    }
    /* Implementation prefixes: pyenv's "python-3.12", uv's "cpython@3.12",
     * "cpython-3.12" and "cpython3.12". */
    static const char *const impl[] = {"python-", "cpython@", "cpython-", "cpython"};
    for (size_t k = 0; k < sizeof impl / sizeof *impl; k++) {
        size_t pl = strlen(impl[k]);
        if (has_prefix(w, n, impl[k]) && n > pl && is_digit(w[pl]) && version_word(w + pl, n - pl, v)) {
            v->kind = PYS__PYVER_VERSION;
            return;
        }
    }
    if (version_word(w, n, v)) {
        v->kind = PYS__PYVER_VERSION;
        return;
    }
    v->major = v->minor = v->micro = -1;
    v->free_threaded = false;
    v->debug = false;
    if (memchr(w, '@', n) || memchr(w, '<', n) || memchr(w, '>', n) || memchr(w, '=', n) ||
        memchr(w, ',', n) || memchr(w, '*', n) || memchr(w, '~', n)) {
        v->why = "a uv request form pyshim does not read (another implementation, or a range)";
        return;
    }
    v->kind = PYS__PYVER_NAME;
}

size_t pys__pyversion_parse(const char *data, size_t len, pys__pyver *out, size_t cap)
{
    size_t count = 0;
    unsigned line = 0;
    if (!data)
        len = 0;
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && data[end] != '\n')
            end++;
        line++;
        size_t a = i;
        while (a < end && is_space(data[a]))
            a++;
        size_t b = a;
        while (b < end && !is_space(data[b]))
            b++;
        if (b > a && data[a] != '#') {
            if (count < cap && out) {
                pys__pyver *v = &out[count];
                memset(v, 0, sizeof *v);
                v->line = line;
                classify(data + a, b - a, v);
                size_t tn = b - a < sizeof v->text ? b - a : sizeof v->text - 1;
                memcpy(v->text, data + a, tn);
                v->text[tn] = '\0';
            }
            count++;
        }
        i = end < len ? end + 1 : len;
    }
    return count;
}
