/* pyvenv.cfg: lines of `key = value`, as CPython's site.py and getpath
 * read them (split at the first '=', blanks trimmed, keys compared
 * case-insensitively). pyshim takes the first line of a key (CPython's
 * site.py the last; a tool never writes one twice). There is no comment
 * syntax: a "# home = x" line simply has another key. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loader/pyvenv_cfg.h"
#include "loader/util.h"

static bool blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

bool pys__venv_cfg_find(const char *text, const char *key, const char **val, size_t *vlen)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (p < line + len && blank(*p))
            p++;
        if ((size_t)(line + len - p) > klen && strncasecmp(p, key, klen) == 0) {
            const char *q = p + klen;
            while (q < line + len && blank(*q))
                q++;
            if (q < line + len && *q == '=') {
                q++;
                const char *e = line + len;
                while (q < e && blank(*q))
                    q++;
                while (e > q && (blank(e[-1]) || e[-1] == '\r'))
                    e--;
                if (e == q)
                    return false;
                if (val)
                    *val = q;
                if (vlen)
                    *vlen = (size_t)(e - q);
                return true;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return false;
}

char *pys__venv_cfg_get(const char *text, const char *key)
{
    const char *v;
    size_t n;
    return pys__venv_cfg_find(text, key, &v, &n) ? pys__strndup(v, n) : NULL;
}

/* *out = the value malloc'd, or NULL when absent; false on out-of-memory. */
static bool get(const char *text, const char *key, char **out)
{
    const char *v;
    size_t n;
    *out = NULL;
    if (!pys__venv_cfg_find(text, key, &v, &n))
        return true;
    return (*out = pys__strndup(v, n)) != NULL;
}

int pys__venv_cfg_parse(const char *text, pys__venv_cfg *out)
{
    *out = (pys__venv_cfg){.system_site = true};
    const char *v;
    size_t n;
    bool ok = get(text, "home", &out->home) && get(text, "base-prefix", &out->base_prefix) &&
              get(text, "version", &out->version) &&
              (out->version || get(text, "version_info", &out->version));
    if (pys__venv_cfg_find(text, "include-system-site-packages", &v, &n))
        out->system_site = n == 4 && strncasecmp(v, "true", 4) == 0;
    if (!ok) {
        pys__venv_cfg_free(out);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

int pys__venv_cfg_read(const char *path, pys__venv_cfg *out)
{
    *out = (pys__venv_cfg){.system_site = true};
    char *text = pys__read_file(path, NULL);
    if (!text)
        return -1;
    int rc = pys__venv_cfg_parse(text, out);
    free(text);
    return rc;
}

void pys__venv_cfg_free(pys__venv_cfg *cfg)
{
    free(cfg->home);
    free(cfg->base_prefix);
    free(cfg->version);
    *cfg = (pys__venv_cfg){.system_site = true};
}
