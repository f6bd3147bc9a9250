/* Listing and clearing the dependency cache (pys_cache_list and
 * pys_clear_cache, made public by api/cache.c). Listing reads each entry's
 * manifest and takes no lock; clearing removes an entry, its temp dirs and
 * its lock file only while holding that lock, and leaves (and reports) the
 * entries whose build holds it right now. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/deps_internal.h"
#include "loader/loader.h"
#include "pyshim.h"

/* ---- listing and clearing ------------------------------------------------------ */


static char *dup_or_empty(const char *s)
{
    return pys__strdup(s ? s : "");
}

/* Strings of one entry; false on out-of-memory. */
static bool entry_fill(pys_cache_entry *e, const char *dir, const char *name)
{
    pys__deps_manifest m;
    const char *why = pys__deps_manifest_load(dir, name, &m);
    char py[32] = "";
    if (m.k.major)
        snprintf(py, sizeof py, "%d.%d%s", m.k.major, m.k.minor, m.k.ft ? "t" : "");
    char **reqs = calloc(m.k.nreqs + 1, sizeof *reqs);
    char **links = calloc(m.k.nlinks + 1, sizeof *links);
    bool ok = reqs && links;
    for (size_t i = 0; ok && i < m.k.nreqs; i++)
        ok = (reqs[i] = pys__strdup(m.k.reqs[i])) != NULL;
    for (size_t i = 0; ok && i < m.k.nlinks; i++)
        ok = (links[i] = pys__strdup(m.k.links[i])) != NULL;
    e->dir = pys__strdup(dir);
    e->key = pys__strdup(name);
    e->python = pys__strdup(py);
    e->python_executable = dup_or_empty(m.k.exe);
    e->requirements = (const char *const *)reqs;
    e->nrequirements = reqs ? m.k.nreqs : 0;
    e->find_links = (const char *const *)links;
    e->index_url = dup_or_empty(m.k.index_url);
    e->no_index = m.k.no_index;
    e->backend = dup_or_empty(m.backend);
    e->created = dup_or_empty(m.created);
    e->valid = why == NULL;
    e->problem = pys__strdup(why ? why : "");
    pys__deps_manifest_free(&m);
    return ok && e->dir && e->key && e->python && e->python_executable && e->index_url &&
           e->backend && e->created && e->problem;
}

static void entry_free(pys_cache_entry *e)
{
    free((char *)e->dir);
    free((char *)e->key);
    free((char *)e->python);
    free((char *)e->python_executable);
    for (size_t i = 0; e->requirements && e->requirements[i]; i++)
        free((char *)e->requirements[i]);
    free((void *)e->requirements);
    for (size_t i = 0; e->find_links && e->find_links[i]; i++)
        free((char *)e->find_links[i]);
    free((void *)e->find_links);
    free((char *)e->index_url);
    free((char *)e->backend);
    free((char *)e->created);
    free((char *)e->problem);
}

void pys__cache_list_free(pys_cache_entry *entries, size_t n)
{
    for (size_t i = 0; entries && i < n; i++)
        entry_free(&entries[i]);
    free(entries);
}

/* The cache's root (malloc'd) with its names in *names, and *err 0; or
 * the root with *err the errno of listing it (names empty); or NULL with
 * d set to PYS_E_NOTFOUND (no cache directory; d may be NULL). */
static char *cache_root(pys__deps_names *names, int *err, pys__diag *d)
{
    char *root = pys__deps_cache_dir();
    if (!root) {
        pys__diag_set(d, PYS_E_NOTFOUND, "no cache directory (set XDG_CACHE_HOME or HOME)");
        return NULL;
    }
    *err = 0;
    if (pys__deps_list_dir(root, names) != 0) {
        *err = errno;
        pys__deps_strv_free(names->v, names->n); /* what was read before a failure */
        *names = (pys__deps_names){0};
    }
    return root;
}

int pys__cache_list(pys_cache_entry **out, size_t *n, pys__diag *d)
{
    *out = NULL;
    *n = 0;
    pys__deps_names names;
    int e;
    char *root = cache_root(&names, &e, d);
    if (!root)
        return PYS_E_NOTFOUND; /* d set */
    if (e) {
        int rc = pys__diag_set(d, e == ENOMEM ? PYS_E_NOMEM : PYS_E_DEPS,
                           "cannot read %s: %s", root, strerror(e));
        free(root);
        return rc;
    }
    pys_cache_entry *v = names.n ? calloc(names.n, sizeof *v) : NULL;
    size_t k = 0;
    int rc = names.n && !v ? PYS_E_NOMEM : PYS_OK;
    for (size_t i = 0; rc == PYS_OK && i < names.n; i++) {
        char *dir = pys__path_join(root, names.v[i]);
        if (dir && pys__deps_is_entry_name(names.v[i]) && pys__is_dir(dir)) {
            if (!entry_fill(&v[k++], dir, names.v[i]))
                rc = PYS_E_NOMEM;
        } else if (!dir) {
            rc = PYS_E_NOMEM;
        }
        free(dir);
    }
    pys__deps_strv_free(names.v, names.n);
    free(root);
    if (rc != PYS_OK) {
        pys__cache_list_free(v, k);
        return pys__diag_set(d, rc, "out of memory");
    }
    if (k == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = k;
    return PYS_OK;
}

/* The entry name that `s` (an entry, its lock or one of its temp dirs)
 * belongs to; false for names pyshim does not own. */
static bool owner_of(const char *s, char out[PYS__DEPS_NAME_LEN + 1])
{
    if (pys__deps_tmp_owner(s, out))
        return true;
    size_t n = strlen(s);
    if (n != PYS__DEPS_NAME_LEN && !(n == PYS__DEPS_NAME_LEN + 5 && pys__ends_with(s, ".lock")))
        return false;
    memcpy(out, s, PYS__DEPS_NAME_LEN);
    out[PYS__DEPS_NAME_LEN] = '\0';
    return pys__deps_is_entry_name(out);
}

int pys__cache_clear(pys__diag *d)
{
    pys__deps_names names;
    int e;
    char *root = cache_root(&names, &e, d);
    if (!root)
        return PYS_E_NOTFOUND; /* d set */
    if (e) {
        free(root);
        return pys__diag_set(d, PYS_E_DEPS, "cannot read the cache: %s",
                         strerror(e));
    }
    pys__sb busy = {0}, failed = {0};
    for (size_t i = 0; i < names.n; i++) {
        char owner[PYS__DEPS_NAME_LEN + 1], o2[PYS__DEPS_NAME_LEN + 1];
        if (!owner_of(names.v[i], owner))
            continue;
        bool seen = false; /* handle each owner at its first name only */
        for (size_t j = 0; j < i && !seen; j++)
            seen = owner_of(names.v[j], o2) && strcmp(o2, owner) == 0;
        if (seen)
            continue;
        char *lp = pys__asprintf("%s/%s.lock", root, owner);
        int fd = lp ? pys__deps_lock_take(lp, false) : -1;
        if (fd == -2) {
            pys__sb_addf(&busy, " %s", owner);
        } else if (fd < 0) {
            pys__sb_addf(&failed, " %s.lock (%s)", owner, lp ? strerror(errno) : "out of memory");
        } else {
            for (size_t j = i; j < names.n; j++) {
                if (!owner_of(names.v[j], o2) || strcmp(o2, owner) != 0 ||
                    pys__ends_with(names.v[j], ".lock"))
                    continue;
                char *p = pys__path_join(root, names.v[j]);
                if (!p || pys__deps_rm_rf(p) != 0)
                    pys__sb_addf(&failed, " %s (%s)", names.v[j],
                                 p ? strerror(errno) : "out of memory");
                free(p);
            }
            pys__deps_lock_drop(lp, fd);
        }
        free(lp);
    }
    int rc = PYS_OK;
    if (failed.len)
        rc = pys__diag_set(d, PYS_E_DEPS, "could not remove from %s:%s", root,
                       failed.s);
    else if (busy.len)
        rc = pys__diag_set(d, PYS_E_STATE,
                       "entries being built right now were left in %s:%s", root, busy.s);
    pys__sb_free(&busy);
    pys__sb_free(&failed);
    pys__deps_strv_free(names.v, names.n);
    free(root);
    return rc;
}
