/* The reader of a venv's pyvenv.cfg, internal to src/loader
 * (discover_sources.c finds a venv's base Python with it). No probe or
 * Python around it: testable and fuzzable alone. */
#ifndef PYS_LOADER_PYVENV_CFG_H
#define PYS_LOADER_PYVENV_CFG_H

#include <stdbool.h>
#include <stddef.h>

/* Finds `key = value` in pyvenv.cfg text: keys are case-insensitive and
 * matched whole (blanks may surround them and the '='), the first such
 * line wins, blanks and a CR around the value are trimmed. On success
 * *val / *len (NULL-able) give the value as a view into text and true is
 * returned; false when the key is absent or the value on its first line
 * is empty. Lines may be
 * of any length; a line that is not `key = value` is ignored. Thread-safe
 * (no state, no allocation). */
bool pys__venv_cfg_find(const char *text, const char *key, const char **val, size_t *len);

/* The same value, malloc'd (the caller frees it); NULL when absent or
 * empty, or out of memory. */
char *pys__venv_cfg_get(const char *text, const char *key);

/* What pyshim reads from pyvenv.cfg. Strings are owned, NULL when absent. */
typedef struct pys__venv_cfg {
    char *home;        /* `home`: the directory of the base interpreter */
    char *base_prefix; /* `base-prefix` (written by uv and virtualenv) */
    char *version;     /* `version` (venv), else `version_info` (uv, virtualenv) */
    bool system_site;  /* include-system-site-packages: as CPython's site.py
                        * reads it, true unless the value is not "true"
                        * (case-insensitive), and true when absent */
} pys__venv_cfg;

/* Parses pyvenv.cfg text into out. Returns 0, or -1 (errno ENOMEM) when out
 * of memory, with out freed. Thread-safe. */
int pys__venv_cfg_parse(const char *text, pys__venv_cfg *out);

/* Reads and parses the file `path`. Returns 0, or -1 with errno set (the
 * file cannot be read: ENOENT, EACCES, EISDIR...; ENOMEM), out zeroed.
 * Free out with pys__venv_cfg_free either way. Thread-safe. */
int pys__venv_cfg_read(const char *path, pys__venv_cfg *out);

void pys__venv_cfg_free(pys__venv_cfg *cfg);

#endif
