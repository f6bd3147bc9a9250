/* The dependency cache: the key, the manifest, and finding or building an
 * entry (pys__deps_ensure). Builds themselves are deps_build.c's.
 *
 * Cache root R ($XDG_CACHE_HOME/pyshim/venvs, else ~/.cache/pyshim/venvs):
 *   R/<name>/                   a finished entry: a venv + manifest.json
 *   R/<name>.lock               its build lock (exists only while held)
 *   R/.tmp-<name>-<pid>-XXXXXX  a build in progress, or a killed one
 * <name> = 32 hex digits of a SHA-256 over a length-prefixed serialisation
 * of Python major.minor + free-threaded flag + realpath of the base
 * interpreter, the sorted de-duplicated requirements, and the index options.
 * The manifest records the full key and every input.
 *
 * Invariants:
 * - An entry is used only if its manifest parses, has format 1, hashes back
 *   to its own key, that key is the request's, and bin/python resolves. A
 *   hit reads that one file: no subprocess, no lock.
 * - Building, removing a bad entry and sweeping temp dirs happen only under
 *   the entry's flock, re-checking after getting it. A holder unlinks the
 *   lock file before unlocking; a locker checks after flock() that the path
 *   still names the inode it locked, else retries. So lock files can be
 *   deleted safely (pys_clear_cache) and a failed build leaves nothing.
 * - Builds happen in the .tmp dir, renamed to R/<name> when complete, the
 *   manifest written last: readers see no entry or a whole one; a killed
 *   build leaves a .tmp dir that the next holder of its lock removes.
 * - Requirements starting with '-' (options) or holding control characters
 *   are refused; anything else is the tool's to judge. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "loader/deps_internal.h"
#include "loader/loader.h"
#include "loader/parse.h"
#include "loader/sha256.h"
#include "pyshim.h"

#define MANIFEST_FORMAT 1

/* ---- the key ------------------------------------------------------------- */



void pys__deps_key_free(pys__deps_key_in *k)
{
    free(k->exe);
    pys__deps_strv_free(k->reqs, k->nreqs);
    pys__deps_strv_free(k->links, k->nlinks);
    free(k->index_url);
    *k = (pys__deps_key_in){0};
}

static void sha_field(pys__sha256 *s, const char *tag, const char *value)
{
    char len[32];
    snprintf(len, sizeof len, ":%zu:", strlen(value));
    pys__sha256_update(s, tag, strlen(tag));
    pys__sha256_update(s, len, strlen(len));
    pys__sha256_update(s, value, strlen(value));
}

static void key_hash(const pys__deps_key_in *k, char hex[65])
{
    pys__sha256 s;
    char py[32];
    pys__sha256_init(&s);
    snprintf(py, sizeof py, "%d.%d%s", k->major, k->minor, k->ft ? "t" : "");
    sha_field(&s, "pyshim-deps", "1");
    sha_field(&s, "python", py);
    sha_field(&s, "executable", k->exe);
    for (size_t i = 0; i < k->nreqs; i++)
        sha_field(&s, "req", k->reqs[i]);
    for (size_t i = 0; i < k->nlinks; i++)
        sha_field(&s, "find-links", k->links[i]);
    if (k->index_url)
        sha_field(&s, "index-url", k->index_url);
    sha_field(&s, "no-index", k->no_index ? "1" : "0");
    pys__sha256_final_hex(&s, hex);
}

/* Sorts and removes duplicates in place. */
static void strv_sort_unique(char **v, size_t *n)
{
    if (*n == 0)
        return;
    qsort(v, *n, sizeof *v, pys__deps_cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < *n; i++) {
        if (strcmp(v[i], v[k - 1]) == 0)
            free(v[i]);
        else
            v[k++] = v[i];
    }
    *n = k;
}

static bool is_url(const char *s)
{
    return strstr(s, "://") != NULL;
}

bool pys__deps_has_ctrl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* A find-links entry: URLs as given; local paths absolute (realpath when
 * they resolve), so the key does not depend on the working directory. */
static char *link_norm(const char *s)
{
    if (is_url(s))
        return pys__strdup(s);
    char *r = pys__realpath(s);
    if (r || s[0] == '/')
        return r ? r : pys__strdup(s);
    char cwd[4096];
    return getcwd(cwd, sizeof cwd) ? pys__path_join(cwd, s) : pys__strdup(s);
}

static int key_from_req(const pys__deps_req *req, pys__deps_key_in *k, pys__diag *d)
{
    *k = (pys__deps_key_in){.major = req->major, .minor = req->minor, .ft = req->free_threaded,
                  .no_index = req->no_index};
    if (!req->python_executable || !*req->python_executable)
        return pys__diag_set(d, PYS_E_ARG, "dependencies: no base Python executable");
    if (req->major != 3 || req->minor <= 0)
        return pys__diag_set(d, PYS_E_ARG, "dependencies: unknown Python version %d.%d for %s",
                             req->major, req->minor, req->python_executable);
    k->exe = pys__realpath(req->python_executable);
    if (!k->exe || !pys__is_exec(k->exe) || pys__is_dir(k->exe))
        return pys__diag_set(d, PYS_E_ARG, "dependencies: %s is not an executable Python",
                             req->python_executable);
    size_t n = 0, nl = 0;
    for (const char *const *r = req->requirements; r && *r; r++)
        n++;
    if (n == 0)
        return pys__diag_set(d, PYS_E_ARG, "dependencies: the requirement list is empty");
    for (const char *const *r = req->find_links; r && *r; r++)
        nl++;
    k->reqs = calloc(n, sizeof *k->reqs);
    k->links = calloc(nl + 1, sizeof *k->links);
    if (!k->reqs || !k->links)
        return pys__diag_set(d, PYS_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *r = req->requirements[i];
        if (!*r || r[0] == '-' || pys__deps_has_ctrl(r))
            return pys__diag_set(d, PYS_E_ARG,
                                 "dependencies: invalid requirement \"%s\" (empty, an option, or "
                                 "a control character)",
                                 r);
        if (!(k->reqs[k->nreqs++] = pys__strdup(r)))
            return pys__diag_set(d, PYS_E_NOMEM, "out of memory");
    }
    strv_sort_unique(k->reqs, &k->nreqs);
    for (size_t i = 0; i < nl; i++) {
        const char *l = req->find_links[i];
        if (!*l || pys__deps_has_ctrl(l))
            return pys__diag_set(d, PYS_E_ARG, "dependencies: invalid find_links entry \"%s\"", l);
        if (!(k->links[k->nlinks++] = link_norm(l)))
            return pys__diag_set(d, PYS_E_NOMEM, "out of memory");
    }
    if (req->index_url) {
        if (!*req->index_url || pys__deps_has_ctrl(req->index_url))
            return pys__diag_set(d, PYS_E_ARG, "dependencies: invalid index_url \"%s\"",
                                 req->index_url);
        if (!(k->index_url = pys__strdup(req->index_url)))
            return pys__diag_set(d, PYS_E_NOMEM, "out of memory");
    }
    return PYS_OK;
}

/* ---- the cache root ------------------------------------------------------ */

char *pys__deps_cache_dir(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && xdg[0] == '/')
        return pys__path_join(xdg, "pyshim/venvs");
    const char *home = getenv("HOME");
    struct passwd pw, *res = NULL;
    char buf[4096];
    if ((!home || home[0] != '/') && getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 &&
        res && res->pw_dir && res->pw_dir[0] == '/')
        home = res->pw_dir;
    if (!home || home[0] != '/')
        return NULL;
    return pys__asprintf("%s/.cache/pyshim/venvs", strcmp(home, "/") == 0 ? "" : home);
}

bool pys__deps_is_entry_name(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return i == PYS__DEPS_NAME_LEN;
}

/* ".tmp-<name>-..." -> true and name copied into out. */
bool pys__deps_tmp_owner(const char *s, char out[PYS__DEPS_NAME_LEN + 1])
{
    if (strncmp(s, ".tmp-", 5) != 0 || strlen(s) < 5 + PYS__DEPS_NAME_LEN + 1 || s[5 + PYS__DEPS_NAME_LEN] != '-')
        return false;
    memcpy(out, s + 5, PYS__DEPS_NAME_LEN);
    out[PYS__DEPS_NAME_LEN] = '\0';
    return pys__deps_is_entry_name(out);
}

/* ---- manifest ---------------------------------------------------------------- */


void pys__deps_manifest_free(pys__deps_manifest *m)
{
    pys__deps_key_free(&m->k);
    free(m->backend);
    free(m->created);
    *m = (pys__deps_manifest){0};
}

static const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool json_strv(const cJSON *arr, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr))
        return false;
    size_t cap = (size_t)cJSON_GetArraySize(arr);
    *out = calloc(cap + 1, sizeof **out);
    if (!*out)
        return false;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || *n >= cap || !((*out)[*n] = pys__strdup(it->valuestring)))
            return false;
        (*n)++;
    }
    return true;
}

/* Loads DIR/manifest.json. Returns NULL when it is a complete, self-
 * consistent manifest for the entry named `name` whose interpreter link
 * resolves; otherwise a static reason. m is filled as far as it parsed. */
const char *pys__deps_manifest_load(const char *dir, const char *name, pys__deps_manifest *m)
{
    *m = (pys__deps_manifest){0};
    char *path = pys__path_join(dir, "manifest.json");
    char *text = path ? pys__read_file(path, NULL) : NULL;
    free(path);
    if (!text)
        return "no manifest (incomplete or interrupted build)";
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j)
        return "manifest.json does not parse";
    const char *why = "manifest.json lacks fields";
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *py = cJSON_GetObjectItemCaseSensitive(j, "python");
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(j, "index");
    const char *key = json_str(j, "key"), *ver = json_str(py, "version");
    const char *exe = json_str(py, "executable"), *url = json_str(ix, "index_url");
    const cJSON *ft = cJSON_GetObjectItemCaseSensitive(py, "free_threaded");
    const cJSON *noix = cJSON_GetObjectItemCaseSensitive(ix, "no_index");
    const char *backend = json_str(j, "backend"), *created = json_str(j, "created");
    if (backend)
        m->backend = pys__strdup(backend);
    if (created)
        m->created = pys__strdup(created);
    if (exe)
        m->k.exe = pys__strdup(exe);
    if (ver && sscanf(ver, "%d.%d", &m->k.major, &m->k.minor) != 2)
        m->k.major = m->k.minor = 0;
    m->k.ft = cJSON_IsTrue(ft);
    m->k.no_index = cJSON_IsTrue(noix);
    if (url)
        m->k.index_url = pys__strdup(url);
    bool reqs_ok = json_strv(cJSON_GetObjectItemCaseSensitive(j, "requirements"), &m->k.reqs,
                             &m->k.nreqs);
    bool links_ok = json_strv(cJSON_GetObjectItemCaseSensitive(ix, "find_links"), &m->k.links,
                              &m->k.nlinks);
    if (key && strlen(key) == 64)
        memcpy(m->key, key, 65);
    if (!cJSON_IsNumber(fmt) || fmt->valuedouble != MANIFEST_FORMAT) {
        why = "manifest.json has an unknown format version";
    } else if (key && strlen(key) == 64 && exe && m->k.major && reqs_ok && links_ok &&
               cJSON_IsBool(ft) && cJSON_IsBool(noix) && backend && created && m->k.exe &&
               (!url || m->k.index_url) && m->backend && m->created) {
        char hex[65];
        key_hash(&m->k, hex);
        if (strcmp(hex, m->key) != 0)
            why = "manifest.json does not match its own contents";
        else if (strncmp(m->key, name, PYS__DEPS_NAME_LEN) != 0 || strlen(name) != PYS__DEPS_NAME_LEN)
            why = "manifest.json belongs to another entry";
        else
            why = NULL;
    }
    cJSON_Delete(j);
    if (!why) {
        char *py_link = pys__path_join(dir, "bin/python");
        if (!py_link || !pys__is_exec(py_link))
            why = "bin/python is missing or its base interpreter is gone";
        free(py_link);
    }
    return why;
}

static int manifest_write(const char *dir, const pys__deps_key_in *k, const char *hex, const char *backend)
{
    char ver[32], created[32];
    time_t now = time(NULL);
    struct tm tm;
    snprintf(ver, sizeof ver, "%d.%d", k->major, k->minor);
    if (!gmtime_r(&now, &tm) || !strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(created, sizeof created, "1970-01-01T00:00:00Z");

    cJSON *j = cJSON_CreateObject();
    cJSON *py = cJSON_AddObjectToObject(j, "python");
    cJSON *ix = cJSON_AddObjectToObject(j, "index");
    cJSON_AddNumberToObject(j, "format", MANIFEST_FORMAT);
    cJSON_AddStringToObject(j, "key", hex);
    cJSON_AddStringToObject(py, "version", ver);
    cJSON_AddBoolToObject(py, "free_threaded", k->ft);
    cJSON_AddStringToObject(py, "executable", k->exe);
    cJSON_AddItemToObject(j, "requirements",
                          cJSON_CreateStringArray((const char *const *)k->reqs, (int)k->nreqs));
    cJSON_AddItemToObject(ix, "find_links",
                          cJSON_CreateStringArray((const char *const *)k->links, (int)k->nlinks));
    if (k->index_url)
        cJSON_AddStringToObject(ix, "index_url", k->index_url);
    else
        cJSON_AddNullToObject(ix, "index_url");
    cJSON_AddBoolToObject(ix, "no_index", k->no_index);
    cJSON_AddStringToObject(j, "backend", backend);
    cJSON_AddStringToObject(j, "created", created);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    char *path = pys__path_join(dir, "manifest.json");
    int rc = text && path ? pys__deps_write_file_atomic(path, text, strlen(text), 0644) : -1;
    free(text);
    free(path);
    return rc;
}

/* ---- ensure ------------------------------------------------------------------ */

/* Removes leftover build dirs: ours (we hold `name`'s lock, so their owner
 * is gone) and any other whose lock is free. */
static void sweep_tmp(const char *root, const char *name)
{
    DIR *dp = opendir(root);
    struct dirent *e;
    while (dp && (e = readdir(dp)) != NULL) {
        char owner[PYS__DEPS_NAME_LEN + 1];
        if (!pys__deps_tmp_owner(e->d_name, owner))
            continue;
        char *path = pys__path_join(root, e->d_name);
        if (strcmp(owner, name) == 0) {
            if (path)
                pys__deps_rm_rf(path);
        } else {
            char *lp = pys__asprintf("%s/%s.lock", root, owner);
            int fd = lp ? pys__deps_lock_take(lp, false) : -1;
            if (fd >= 0) {
                if (path)
                    pys__deps_rm_rf(path);
                pys__deps_lock_drop(lp, fd);
            }
            free(lp);
        }
        free(path);
    }
    if (dp)
        closedir(dp);
}

/* A valid entry for the request whose full key is `hex`. */
static bool entry_hit(const char *entry, const char *hex)
{
    pys__deps_manifest m;
    char name[PYS__DEPS_NAME_LEN + 1];
    memcpy(name, hex, PYS__DEPS_NAME_LEN);
    name[PYS__DEPS_NAME_LEN] = '\0';
    const char *why = pys__deps_manifest_load(entry, name, &m);
    bool ok = !why && strcmp(m.key, hex) == 0;
    pys__deps_manifest_free(&m);
    return ok;
}

/* Builds the entry; we hold its lock and it does not exist. */
static int build_entry(const char *root, const char *entry, const char *name, const char *hex,
                       const pys__deps_key_in *k, bool prefer_uv, pys__diag *d)
{
    char *tmpl = pys__asprintf("%s/.tmp-%s-%ld-XXXXXX", root, name, (long)getpid());
    if (!tmpl)
        return pys__diag_set(d, PYS_E_NOMEM, "out of memory");
    if (!mkdtemp(tmpl)) {
        int e = errno;
        free(tmpl);
        return pys__diag_set(d, PYS_E_DEPS, "cannot create a build directory in %s: %s", root,
                             strerror(e));
    }
    const char *backend = "pip";
    int rc = pys__deps_build_venv(k, tmpl, entry, prefer_uv, &backend, d);
    if (rc == PYS_OK && manifest_write(tmpl, k, hex, backend) != 0)
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot write %s/manifest.json: %s", tmpl,
                           strerror(errno));
    if (rc == PYS_OK && rename(tmpl, entry) != 0)
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot rename %s to %s: %s", tmpl, entry,
                           strerror(errno));
    if (rc != PYS_OK)
        pys__deps_rm_rf(tmpl);
    free(tmpl);
    return rc;
}

int pys__deps_key(const pys__deps_req *req, char hex[65], pys__diag *d)
{
    pys__deps_key_in k;
    int rc = key_from_req(req, &k, d);
    if (rc == PYS_OK)
        key_hash(&k, hex);
    pys__deps_key_free(&k);
    return rc;
}

int pys__deps_ensure(const pys__deps_req *req, char **venv_dir, pys__diag *d)
{
    if (venv_dir)
        *venv_dir = NULL;
    if (!req || !venv_dir)
        return pys__diag_set(d, PYS_E_ARG, "dependencies: NULL argument");
    pys__deps_key_in k;
    char hex[65], name[PYS__DEPS_NAME_LEN + 1];
    char *root = NULL, *entry = NULL, *lockp = NULL;
    int fd = -1;
    int rc = key_from_req(req, &k, d);
    if (rc != PYS_OK)
        goto out;
    key_hash(&k, hex);
    memcpy(name, hex, PYS__DEPS_NAME_LEN);
    name[PYS__DEPS_NAME_LEN] = '\0';
    if (!(root = pys__deps_cache_dir())) {
        rc = pys__diag_set(d, PYS_E_NOTFOUND,
                           "dependencies: no cache directory (set XDG_CACHE_HOME or HOME)");
        goto out;
    }
    entry = pys__path_join(root, name);
    lockp = pys__asprintf("%s/%s.lock", root, name);
    if (!entry || !lockp) {
        rc = pys__diag_set(d, PYS_E_NOMEM, "out of memory");
        goto out;
    }
    if (entry_hit(entry, hex))
        goto hit;

    if (pys__deps_mkdir_p(root) != 0) {
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot create the cache directory %s: %s", root,
                           strerror(errno));
        goto out;
    }
    if ((fd = pys__deps_lock_take(lockp, true)) < 0) {
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot lock %s: %s", lockp, strerror(errno));
        goto out;
    }
    if (entry_hit(entry, hex))
        goto hit;
    sweep_tmp(root, name);
    if (pys__deps_rm_rf(entry) != 0) {
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot remove the invalid cache entry %s: %s", entry,
                           strerror(errno));
        goto out;
    }
    rc = build_entry(root, entry, name, hex, &k, req->prefer_uv, d);
    if (rc != PYS_OK)
        goto out;
hit:
    *venv_dir = entry;
    entry = NULL;
    rc = PYS_OK;
out:
    if (fd >= 0)
        pys__deps_lock_drop(lockp, fd);
    pys__deps_key_free(&k);
    free(root);
    free(entry);
    free(lockp);
    return rc;
}
