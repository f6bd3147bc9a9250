/* Dependency requirements (src/loader/deps_cache.c, pys__deps_key): the
 * validation and cache key of pys_options.dependencies, find_links and
 * index_url. Nothing is built or installed.
 *
 * Input: lines; "@x" is a find_links entry x, "#x" the index URL x (the
 * last wins), "!" sets no_index, anything else is a requirement.
 *
 * Checks beyond the sanitizers: a refusal is PYS_E_ARG with a message; an
 * accepted request has no requirement that starts with '-' or holds a
 * control character (they go to pip as argv elements); the key does not
 * depend on the order of the requirements or on repeats. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "loader/parse.h"

static bool has_ctrl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_cstr(data, size);
    size_t cap = 2;
    for (size_t i = 0; i < size; i++)
        cap += data[i] == '\n';
    const char **reqs = calloc(2 * cap + 1, sizeof *reqs);
    const char **links = calloc(cap + 1, sizeof *links);
    if (!reqs || !links)
        abort();
    size_t nr = 0, nl = 0;
    pys__deps_req req = {.python_executable = "/proc/self/exe", .major = 3, .minor = 12,
                         .requirements = reqs, .find_links = links};
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] == '@')
            links[nl++] = line + 1;
        else if (line[0] == '#')
            req.index_url = line + 1;
        else if (line[0] == '!' && !line[1])
            req.no_index = true;
        else
            reqs[nr++] = line;
    }

    char hex[65] = {0}, hex2[65] = {0};
    pys__diag d = {0};
    int rc = pys__deps_key(&req, hex, &d);
    if (rc != PYS_OK) {
        fz_check(rc == PYS_E_ARG, "refused with %d, not PYS_E_ARG", rc);
        fz_check(d.code == rc && d.message && *d.message, "refused with no message");
    } else {
        fz_check(strlen(hex) == 64, "a key of %zu digits", strlen(hex));
        for (size_t i = 0; i < nr; i++)
            fz_check(reqs[i][0] != '-' && !has_ctrl(reqs[i]) && reqs[i][0],
                     "accepted requirement \"%s\"", reqs[i]);
        /* The same set, reversed and with every requirement twice. */
        for (size_t i = 0; i < nr / 2; i++) {
            const char *t = reqs[i];
            reqs[i] = reqs[nr - 1 - i];
            reqs[nr - 1 - i] = t;
        }
        for (size_t i = 0; i < nr; i++)
            reqs[nr + i] = reqs[i];
        pys__diag d2 = {0};
        int rc2 = pys__deps_key(&req, hex2, &d2);
        fz_check(rc2 == PYS_OK && strcmp(hex, hex2) == 0,
                 "the key depends on the order or repeats of the requirements");
        pys__diag_free(&d2);
    }
    pys__diag_free(&d);
    free(reqs);
    free(links);
    free(text);
    return 0;
}
