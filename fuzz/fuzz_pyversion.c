/* .python-version (src/loader/pyversion_file.c, pys__pyversion_parse): any
 * bytes as the file, given without a terminating NUL (an exact-size copy, so
 * AddressSanitizer sees a read past the end).
 *
 * Checks beyond the sanitizers: the count does not depend on the room
 * given; requests come in line order; each word is the first word of its
 * line as written (cut to the text buffer); a version has a major, a micro
 * only with a minor, and parts of at most three digits; a refusal says why
 * and nothing else does; a word cut short (longer than the buffer, or
 * holding a NUL byte) is refused. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "loader/pyversion_file.h"

enum { ROOM = 64 };

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool part_ok(int v, bool may_be_absent)
{
    return (may_be_absent && v == -1) || (v >= 0 && v <= 999);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    size_t n = pys__pyversion_parse(text, size, NULL, 0);
    static pys__pyver out[ROOM];
    size_t n2 = pys__pyversion_parse(text, size, out, ROOM);
    fz_check(n == n2, "%zu requests counted with no room, %zu with room", n, n2);
    size_t got = n < ROOM ? n : ROOM;
    unsigned prev = 0;
    for (size_t k = 0; k < got; k++) {
        const pys__pyver *v = &out[k];
        fz_check(v->line > prev, "request %zu on line %u after line %u", k, v->line, prev);
        prev = v->line;
        size_t tl = strnlen(v->text, sizeof v->text);
        fz_check(tl < sizeof v->text && (tl > 0 || v->kind == PYS__PYVER_UNSUPPORTED),
                 "request %zu: text of length %zu", k, tl); /* empty: a word opening on NUL */
        fz_check(v->text[0] != '#', "request %zu: a comment line counted", k);
        for (size_t i = 0; i < tl; i++)
            fz_check(!blank(v->text[i]) && v->text[i] != '\n', "request %zu: blank in \"%s\"", k,
                     v->text);
        /* The word is in the input, at the start of its line after blanks. */
        size_t at = 0;
        for (unsigned line = 1; line < v->line && at < size; at++)
            if (text[at] == '\n')
                line++;
        while (at < size && blank(text[at]))
            at++;
        fz_check(at + tl <= size && memcmp(text + at, v->text, tl) == 0,
                 "request %zu: \"%s\" is not the first word of line %u", k, v->text, v->line);
        bool whole = at + tl == size || blank(text[at + tl]) || text[at + tl] == '\n';
        /* Cut short (by the buffer's size, or at a NUL byte): refused. */
        if (!whole)
            fz_check(v->kind == PYS__PYVER_UNSUPPORTED, "request %zu: \"%s\" cut but not refused",
                     k, v->text);
        switch (v->kind) {
        case PYS__PYVER_VERSION:
            fz_check(part_ok(v->major, false) && part_ok(v->minor, true) &&
                         part_ok(v->micro, true) && (v->micro == -1 || v->minor != -1),
                     "request %zu: version %d.%d.%d from \"%s\"", k, v->major, v->minor,
                     v->micro, v->text);
            fz_check(v->why == NULL, "request %zu: a version with a reason", k);
            break;
        case PYS__PYVER_NAME:
        case PYS__PYVER_SYSTEM:
            fz_check(v->why == NULL && v->major == -1 && !v->free_threaded && !v->debug,
                     "request %zu: name \"%s\" with version fields", k, v->text);
            fz_check(!strchr(v->text, '/'), "request %zu: a path accepted: \"%s\"", k, v->text);
            break;
        case PYS__PYVER_UNSUPPORTED:
            fz_check(v->why != NULL && v->why[0] != '\0', "request %zu: refused, no reason", k);
            break;
        default:
            fz_check(false, "request %zu: kind %d", k, (int)v->kind);
        }
    }
    free(text);
    return 0;
}
