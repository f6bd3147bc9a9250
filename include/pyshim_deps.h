/* pyshim — Dependencies: uv, cached dependency venvs.
 * Included by pyshim.h; do not include directly.
 *
 * pys_open builds (once) and loads a venv for pys_options.dependencies. Those
 * venvs live in a cache, $XDG_CACHE_HOME/pyshim/venvs (default
 * ~/.cache/pyshim/venvs), one directory per (Python, requirements, index
 * options). The functions below inspect and clear that cache and report on
 * uv. None of them needs an open runtime. */
#ifndef PYSHIM_DEPS_H
#define PYSHIM_DEPS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Returns true when an executable `uv` is on PATH (nothing is run).
 * Thread-safe. No errors. */
PYS_API bool pys_uv_available(void);

/* Returns the output of `uv --version` ("uv 0.5.4 (...)"), trimmed, as a
 * malloc'd string the caller frees with free(); NULL when uv is not on
 * PATH (PYS_E_NOTFOUND) or does not run (PYS_E_DEPS with its stderr).
 * Starts one subprocess. Thread-safe. */
PYS_API char *pys_uv_version(void);

/* One entry of the dependency-venv cache. */
typedef struct pys_cache_entry {
    const char *dir;               /* absolute entry directory */
    const char *key;               /* the entry's name (hash of what follows) */
    const char *python;            /* "3.12" or "3.13t"; "" if unknown */
    const char *python_executable; /* base interpreter; "" if unknown */
    const char *const *requirements; /* sorted, NULL-terminated (never NULL) */
    size_t nrequirements;
    const char *const *find_links; /* NULL-terminated (never NULL) */
    const char *index_url;         /* "" when none */
    bool no_index;
    const char *backend;           /* "uv" or "pip"; "" if unknown */
    const char *created;           /* ISO-8601 UTC ("2024-11-21T08:07:00Z"); "" if unknown */
    bool valid;     /* complete, matches its key, interpreter present: pys_open would use it */
    const char *problem; /* why it is not valid; "" when valid */
} pys_cache_entry;

/* Lists the cache entries (sorted by key; builds in progress are not
 * listed). On success returns PYS_OK, *out is an array of *n entries owned
 * by the caller (free with pys_cache_list_free; NULL when *n is 0). A cache
 * that does not exist yet is empty, not an error. Errors: PYS_E_ARG (NULL
 * out or n), PYS_E_NOTFOUND (no cache directory can be determined: neither
 * XDG_CACHE_HOME nor a home directory), PYS_E_NOMEM. Reads files only;
 * thread-safe. */
PYS_API int pys_cache_list(pys_cache_entry **out, size_t *n);
/* Frees a pys_cache_list result (NULL is fine). */
PYS_API void pys_cache_list_free(pys_cache_entry *entries, size_t n);

/* Removes every cache entry, leftover temporary directory and lock file.
 * Each entry is removed while holding its build lock, so an entry that is
 * being built right now (by any process) is left alone: then the result is
 * PYS_E_STATE and the message names it. Files pyshim did not create are
 * left alone. Returns PYS_OK (also when there is no cache), PYS_E_STATE,
 * PYS_E_NOTFOUND (no cache directory can be determined) or PYS_E_DEPS (a
 * removal failed; the message names the path and the reason). Do not clear
 * the cache while a process is running Python from one of its venvs.
 * Thread-safe. */
PYS_API int pys_clear_cache(void);

#ifdef __cplusplus
}
#endif

#endif
