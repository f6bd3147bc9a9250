/* pyvenv.cfg (src/loader/pyvenv_cfg.c, pys__venv_cfg_get): any bytes as the
 * file, read for the keys the probe asks for.
 *
 * Checks beyond the sanitizers: a value found is non-empty, has no
 * surrounding blanks and no line break, and is text of the file. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "loader/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"home", "base-prefix", "version", "version_info",
                                       "include-system-site-packages"};
    char *text = fz_cstr(data, size);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *v = pys__venv_cfg_get(text, keys[i]);
        if (!v)
            continue;
        size_t n = strlen(v);
        fz_check(n > 0, "%s: an empty value", keys[i]);
        fz_check(!strchr(v, '\n'), "%s: a value with a line break", keys[i]);
        fz_check(v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t' &&
                     v[n - 1] != '\r',
                 "%s: blanks around the value \"%s\"", keys[i], v);
        fz_check(strstr(text, v) != NULL, "%s: \"%s\" is not in the file", keys[i], v);
        free(v);
    }
    free(text);
    return 0;
}
