/* Dependency venvs: one cached venv per (Python, requirements, index
 * options), built once and shared by every process; `uv sync` for uv
 * projects; listing and clearing the cache and uv's version, reported in a
 * pys__diag (api/cache.c makes the public calls of them).
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
 *   build leaves a .tmp dir that the next holder of its lock removes. Tools
 *   write the build path into bin/ scripts (shebangs, activate) and
 *   pyvenv.cfg `command`; before the rename we rewrite it to the final path
 *   in those text files. bin/python (a symlink to the base interpreter) and
 *   pyvenv.cfg `home` never name the build path, so the interpreter and the
 *   shim (which loads DIR/bin/python) work either way; the rewrite keeps
 *   console scripts working too.
 * - pip: `EXE -m venv --without-pip DIR` (~50 ms; ensurepip costs ~4 s),
 *   then `EXE -m pip --python DIR/bin/python install ...` (pip >= 22.3);
 *   an older or absent base pip falls back to ensurepip in the venv. uv
 *   (prefer_uv and uv on PATH): `uv venv`, `uv pip install --python`.
 *   Ambient tool config (pip.conf, PIP_*, uv.toml, UV_*) applies and is not
 *   part of the key; PYTHONPATH, PYTHONHOME and user site are neutralised so
 *   the venv gets what it needs, not what the host happens to import.
 * - Tools run through pys__spawn (argv, no shell): a requirement is one argv
 *   element. Requirements starting with '-' (options) or holding control
 *   characters are refused; anything else is the tool's to judge. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "loader/loader.h"
#include "loader/parse.h"
#include "loader/sha256.h"
#include "pyshim.h"

#define MANIFEST_FORMAT 1
#define NAME_LEN 32      /* hex digits of the key used as the entry's name */
#define ERR_TAIL 4096    /* bytes of a tool's output kept in an error */

/* ---- the key ------------------------------------------------------------- */

/* Everything that identifies an entry. Strings are owned. */
typedef struct key_in {
    int major, minor;
    bool ft;
    char *exe;          /* realpath of the base interpreter */
    char **reqs;        /* sorted, unique */
    size_t nreqs;
    char **links;       /* as given, local paths made absolute */
    size_t nlinks;
    char *index_url;    /* or NULL */
    bool no_index;
} key_in;

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void key_free(key_in *k)
{
    free(k->exe);
    strv_free(k->reqs, k->nreqs);
    strv_free(k->links, k->nlinks);
    free(k->index_url);
    *k = (key_in){0};
}

static void sha_field(pys__sha256 *s, const char *tag, const char *value)
{
    char len[32];
    snprintf(len, sizeof len, ":%zu:", strlen(value));
    pys__sha256_update(s, tag, strlen(tag));
    pys__sha256_update(s, len, strlen(len));
    pys__sha256_update(s, value, strlen(value));
}

static void key_hash(const key_in *k, char hex[65])
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and removes duplicates in place. */
static void strv_sort_unique(char **v, size_t *n)
{
    if (*n == 0)
        return;
    qsort(v, *n, sizeof *v, cmp_str);
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

static bool has_ctrl(const char *s)
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

static int key_from_req(const pys__deps_req *req, key_in *k, pys__diag *d)
{
    *k = (key_in){.major = req->major, .minor = req->minor, .ft = req->free_threaded,
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
        if (!*r || r[0] == '-' || has_ctrl(r))
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
        if (!*l || has_ctrl(l))
            return pys__diag_set(d, PYS_E_ARG, "dependencies: invalid find_links entry \"%s\"", l);
        if (!(k->links[k->nlinks++] = link_norm(l)))
            return pys__diag_set(d, PYS_E_NOMEM, "out of memory");
    }
    if (req->index_url) {
        if (!*req->index_url || has_ctrl(req->index_url))
            return pys__diag_set(d, PYS_E_ARG, "dependencies: invalid index_url \"%s\"",
                                 req->index_url);
        if (!(k->index_url = pys__strdup(req->index_url)))
            return pys__diag_set(d, PYS_E_NOMEM, "out of memory");
    }
    return PYS_OK;
}

/* ---- files and directories ----------------------------------------------- */

/* mkdir -p (mode 0755 for created components). */
static int mkdir_p(const char *path)
{
    char *p = pys__strdup(path);
    if (!p)
        return -1;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                rc = -1;
            *s = c;
            if (!c || rc)
                break;
        }
    }
    if (rc == 0 && !pys__is_dir(path)) {
        errno = ENOTDIR;
        rc = -1;
    }
    free(p);
    return rc;
}

/* rm -rf of dirfd/name without following symlinks. 0 or -1 (errno). */
static int rm_at(int at, const char *name, int depth)
{
    if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    if (depth > 200) {
        errno = ELOOP;
        return -1;
    }
    int rc = 0, err = 0;
    /* Entries removed while reading may make readdir skip some: repeat. */
    for (int pass = 0; pass < 4; pass++) {
        int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return errno == ENOENT ? 0 : -1;
        DIR *dp = fdopendir(fd);
        if (!dp) {
            err = errno;
            close(fd);
            errno = err;
            return -1;
        }
        rc = 0;
        struct dirent *e;
        while ((e = readdir(dp)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (rm_at(dirfd(dp), e->d_name, depth + 1) != 0) {
                rc = -1;
                err = errno;
            }
        }
        closedir(dp);
        if (rc != 0) {
            errno = err;
            return -1;
        }
        if (unlinkat(at, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
            return 0;
        if (errno != ENOTEMPTY && errno != EEXIST)
            return -1;
    }
    return -1;
}

static int rm_rf(const char *path)
{
    return rm_at(AT_FDCWD, path, 0);
}

/* Writes data to path atomically (temp file + rename), with `mode`. */
static int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
    char *tmp = pys__asprintf("%s.pyshim-tmp", path);
    if (!tmp)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int rc = -1;
    if (fd >= 0) {
        size_t off = 0;
        while (off < len) {
            ssize_t k = write(fd, data + off, len - off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            off += (size_t)k;
        }
        if (off == len && fchmod(fd, mode) == 0 && fsync(fd) == 0)
            rc = 0;
        if (close(fd) != 0)
            rc = -1;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -1;
        if (rc != 0)
            unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* Rewrites every occurrence of `from` into `to` in a text file (files with
 * NUL bytes, symlinks and big files are left alone). */
static int relocate_file(const char *path, const char *from, const char *to)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (8 << 20))
        return 0;
    size_t len;
    char *s = pys__read_file(path, &len);
    if (!s)
        return -1;
    if (memchr(s, '\0', len) || !strstr(s, from)) {
        free(s);
        return 0;
    }
    pys__sb b = {0};
    size_t flen = strlen(from);
    const char *p = s;
    for (const char *q; (q = strstr(p, from)) != NULL; p = q + flen) {
        pys__sb_addn(&b, p, (size_t)(q - p));
        pys__sb_add(&b, to);
    }
    pys__sb_add(&b, p);
    int rc = b.oom ? -1 : write_file_atomic(path, b.s, b.len, st.st_mode & 07777);
    pys__sb_free(&b);
    free(s);
    return rc;
}

/* Makes a venv built at `from` correct at `to` (see the top comment). */
static int relocate(const char *from, const char *to)
{
    char *bin = pys__path_join(from, "bin");
    char *cfg = pys__path_join(from, "pyvenv.cfg");
    int rc = bin && cfg ? relocate_file(cfg, from, to) : -1;
    DIR *dp = bin ? opendir(bin) : NULL;
    struct dirent *e;
    while (dp && (e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *f = pys__path_join(bin, e->d_name);
        if (!f || relocate_file(f, from, to) != 0)
            rc = -1;
        free(f);
    }
    if (dp)
        closedir(dp);
    free(bin);
    free(cfg);
    return rc;
}

/* ---- locks ----------------------------------------------------------------- */

/* Takes the exclusive lock `path` (created if needed). Returns the fd, -1 on
 * error (errno), or -2 when !wait and another holder has it. */
static int lock_take(const char *path, bool wait)
{
    for (;;) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return -1;
        int r;
        while ((r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR)
            ;
        if (r != 0) {
            int err = errno;
            close(fd);
            errno = err;
            return err == EWOULDBLOCK ? -2 : -1;
        }
        /* The holder before us may have unlinked the file: then we hold a
         * lock nobody else can see; start over on the current file. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            return fd;
        close(fd);
    }
}

/* Unlinks (while still holding) and unlocks. */
static void lock_drop(const char *path, int fd)
{
    unlink(path);
    close(fd);
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

static bool is_entry_name(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return i == NAME_LEN;
}

/* ".tmp-<name>-..." -> true and name copied into out. */
static bool tmp_owner(const char *s, char out[NAME_LEN + 1])
{
    if (strncmp(s, ".tmp-", 5) != 0 || strlen(s) < 5 + NAME_LEN + 1 || s[5 + NAME_LEN] != '-')
        return false;
    memcpy(out, s + 5, NAME_LEN);
    out[NAME_LEN] = '\0';
    return is_entry_name(out);
}

/* ---- manifest ---------------------------------------------------------------- */

typedef struct manifest {
    key_in k;
    char key[65];
    char *backend;
    char *created;
} manifest;

static void manifest_free(manifest *m)
{
    key_free(&m->k);
    free(m->backend);
    free(m->created);
    *m = (manifest){0};
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
static const char *manifest_load(const char *dir, const char *name, manifest *m)
{
    *m = (manifest){0};
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
        else if (strncmp(m->key, name, NAME_LEN) != 0 || strlen(name) != NAME_LEN)
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

static int manifest_write(const char *dir, const key_in *k, const char *hex, const char *backend)
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
    int rc = text && path ? write_file_atomic(path, text, strlen(text), 0644) : -1;
    free(text);
    free(path);
    return rc;
}

/* ---- running the tools ------------------------------------------------------ */

/* Env for every tool: the venv's packages must come from the install, not
 * from the host's PYTHONPATH / user site (empty PYTHONPATH/PYTHONHOME are
 * ignored by CPython). */
static const char *const tool_env[] = {
    "PYTHONNOUSERSITE=1",  "PYTHONPATH=",  "PYTHONHOME=",     "PIP_DISABLE_PIP_VERSION_CHECK=1",
    "PIP_NO_INPUT=1",      "PIP_USER=0",   "PIP_REQUIRE_VIRTUALENV=0", NULL};

/* Appends the last ERR_TAIL bytes of s. */
static void add_tail(pys__sb *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > ERR_TAIL) {
        s += n - ERR_TAIL;
        pys__sb_add(b, "...");
    }
    if (n)
        pys__sb_add(b, s);
}

/* Runs argv; on failure fills d (PYS_E_DEPS, the command and the tool's
 * stderr tail) and, if `err_out`, hands stderr back. */
static int run_tool(const char *what, const char *const *argv, const char *const *env,
                    char **err_out, pys__diag *d)
{
    char *out = NULL, *err = NULL;
    pys__diag sd = {0};
    int rc = pys__spawn(argv, env, &out, &err, &sd);
    if (rc == 0) {
        free(out);
        free(err);
        pys__diag_free(&sd);
        return PYS_OK;
    }
    pys__sb b = {0};
    pys__sb_addf(&b, "%s failed: `", what);
    for (const char *const *a = argv; *a; a++)
        pys__sb_addf(&b, "%s%s", a == argv ? "" : " ", *a);
    if (rc < 0) {
        pys__sb_addf(&b, "` could not be started: %s", sd.message ? sd.message : "?");
    } else {
        pys__sb_addf(&b, "` exited with status %d", rc);
        const char *text = err && *err ? err : out;
        if (text && *text) {
            pys__sb_add(&b, ":\n");
            add_tail(&b, text);
        }
    }
    char *msg = pys__sb_take(&b);
    pys__diag_set(d, PYS_E_DEPS, "%s", msg ? msg : what);
    free(msg);
    pys__diag_free(&sd);
    free(out);
    if (err_out)
        *err_out = err;
    else
        free(err);
    return PYS_E_DEPS;
}

/* argv builder */
typedef struct argv_b {
    const char **v;
    size_t n, cap;
    char **owned; /* strings to free */
    size_t nowned;
    bool oom;
} argv_b;

static void av_add(argv_b *a, const char *s)
{
    if (a->oom)
        return;
    if (!s) {
        a->oom = true;
        return;
    }
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        const char **v = pys__realloc_n(a->v, cap, sizeof *v);
        if (!v) {
            a->oom = true;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

/* Adds a malloc'd string the builder frees. */
static void av_own(argv_b *a, char *s)
{
    char **o = s ? pys__realloc_n(a->owned, a->nowned + 1, sizeof *o) : NULL;
    if (!o) {
        free(s);
        a->oom = true;
        return;
    }
    a->owned = o;
    a->owned[a->nowned++] = s;
    av_add(a, s);
}

static void av_free(argv_b *a)
{
    strv_free(a->owned, a->nowned);
    free(a->v);
    *a = (argv_b){0};
}

/* The index options and the requirements, shared by pip and uv. */
static void av_install_args(argv_b *a, const key_in *k)
{
    if (k->no_index)
        av_add(a, "--no-index");
    for (size_t i = 0; i < k->nlinks; i++)
        av_own(a, pys__asprintf("--find-links=%s", k->links[i]));
    if (k->index_url)
        av_own(a, pys__asprintf("--index-url=%s", k->index_url));
    for (size_t i = 0; i < k->nreqs; i++)
        av_add(a, k->reqs[i]);
}

static int build_pip(const key_in *k, const char *dir, pys__diag *d)
{
    char *py = pys__path_join(dir, "bin/python");
    argv_b a = {0};
    int rc = PYS_E_NOMEM;
    if (!py)
        goto out;
    const char *venv[] = {k->exe, "-m", "venv", "--without-pip", dir, NULL};
    if ((rc = run_tool("creating the venv", venv, tool_env, NULL, d)) != PYS_OK)
        goto out;

    av_add(&a, k->exe);
    av_add(&a, "-m");
    av_add(&a, "pip");
    av_add(&a, "--python");
    av_add(&a, py);
    av_add(&a, "install");
    av_add(&a, "--disable-pip-version-check");
    av_add(&a, "--no-input");
    av_install_args(&a, k);
    if (a.oom) {
        rc = PYS_E_NOMEM;
        goto out;
    }
    char *err = NULL;
    pys__diag first = {0};
    rc = run_tool("pip install", a.v, tool_env, &err, &first);
    bool old_pip = rc != PYS_OK && err &&
                   (strstr(err, "no such option: --python") || strstr(err, "No module named pip"));
    if (rc != PYS_OK && !old_pip)
        pys__diag_set(d, first.code, "%s", first.message ? first.message : "pip install failed");
    pys__diag_free(&first);
    free(err);
    if (!old_pip)
        goto out;

    /* The base pip cannot install into another environment: give the venv
     * its own pip and use that. */
    const char *ensure[] = {py, "-m", "ensurepip", "--default-pip", NULL};
    if ((rc = run_tool("ensurepip", ensure, tool_env, NULL, d)) != PYS_OK)
        goto out;
    a.v[0] = py;
    memmove(&a.v[3], &a.v[5], (a.n - 5 + 1) * sizeof *a.v); /* drop "--python PY" */
    a.n -= 2;
    rc = run_tool("pip install", a.v, tool_env, NULL, d);
out:
    if (rc == PYS_E_NOMEM)
        pys__diag_set(d, rc, "out of memory");
    av_free(&a);
    free(py);
    return rc;
}

static int build_uv(const char *uv, const key_in *k, const char *dir, pys__diag *d)
{
    char *py = pys__path_join(dir, "bin/python");
    argv_b a = {0};
    int rc = PYS_E_NOMEM;
    if (!py)
        goto out;
    rmdir(dir); /* uv venv wants to create it; the name stays ours (lock + pid) */
    const char *venv[] = {uv, "venv", "--python", k->exe, dir, NULL};
    if ((rc = run_tool("uv venv", venv, tool_env, NULL, d)) != PYS_OK)
        goto out;
    av_add(&a, uv);
    av_add(&a, "pip");
    av_add(&a, "install");
    av_add(&a, "--python");
    av_add(&a, py);
    av_install_args(&a, k);
    if (a.oom) {
        rc = PYS_E_NOMEM;
        goto out;
    }
    rc = run_tool("uv pip install", a.v, tool_env, NULL, d);
out:
    if (rc == PYS_E_NOMEM)
        pys__diag_set(d, rc, "out of memory");
    av_free(&a);
    free(py);
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
        char owner[NAME_LEN + 1];
        if (!tmp_owner(e->d_name, owner))
            continue;
        char *path = pys__path_join(root, e->d_name);
        if (strcmp(owner, name) == 0) {
            if (path)
                rm_rf(path);
        } else {
            char *lp = pys__asprintf("%s/%s.lock", root, owner);
            int fd = lp ? lock_take(lp, false) : -1;
            if (fd >= 0) {
                if (path)
                    rm_rf(path);
                lock_drop(lp, fd);
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
    manifest m;
    char name[NAME_LEN + 1];
    memcpy(name, hex, NAME_LEN);
    name[NAME_LEN] = '\0';
    const char *why = manifest_load(entry, name, &m);
    bool ok = !why && strcmp(m.key, hex) == 0;
    manifest_free(&m);
    return ok;
}

/* Builds the entry; we hold its lock and it does not exist. */
static int build_entry(const char *root, const char *entry, const char *name, const char *hex,
                       const key_in *k, bool prefer_uv, pys__diag *d)
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
    char *uv = prefer_uv ? pys__which("uv") : NULL;
    int rc = uv ? build_uv(uv, k, tmpl, d) : build_pip(k, tmpl, d);
    if (rc == PYS_OK && relocate(tmpl, entry) != 0)
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot rewrite paths in %s: %s", tmpl,
                           strerror(errno));
    if (rc == PYS_OK && manifest_write(tmpl, k, hex, uv ? "uv" : "pip") != 0)
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot write %s/manifest.json: %s", tmpl,
                           strerror(errno));
    if (rc == PYS_OK && rename(tmpl, entry) != 0)
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot rename %s to %s: %s", tmpl, entry,
                           strerror(errno));
    if (rc != PYS_OK)
        rm_rf(tmpl);
    free(uv);
    free(tmpl);
    return rc;
}

int pys__deps_key(const pys__deps_req *req, char hex[65], pys__diag *d)
{
    key_in k;
    int rc = key_from_req(req, &k, d);
    if (rc == PYS_OK)
        key_hash(&k, hex);
    key_free(&k);
    return rc;
}

int pys__deps_ensure(const pys__deps_req *req, char **venv_dir, pys__diag *d)
{
    if (venv_dir)
        *venv_dir = NULL;
    if (!req || !venv_dir)
        return pys__diag_set(d, PYS_E_ARG, "dependencies: NULL argument");
    key_in k;
    char hex[65], name[NAME_LEN + 1];
    char *root = NULL, *entry = NULL, *lockp = NULL;
    int fd = -1;
    int rc = key_from_req(req, &k, d);
    if (rc != PYS_OK)
        goto out;
    key_hash(&k, hex);
    memcpy(name, hex, NAME_LEN);
    name[NAME_LEN] = '\0';
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

    if (mkdir_p(root) != 0) {
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot create the cache directory %s: %s", root,
                           strerror(errno));
        goto out;
    }
    if ((fd = lock_take(lockp, true)) < 0) {
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot lock %s: %s", lockp, strerror(errno));
        goto out;
    }
    if (entry_hit(entry, hex))
        goto hit;
    sweep_tmp(root, name);
    if (rm_rf(entry) != 0) {
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
        lock_drop(lockp, fd);
    key_free(&k);
    free(root);
    free(entry);
    free(lockp);
    return rc;
}

/* ---- uv sync ----------------------------------------------------------------- */

int pys__uv_sync(const char *project_dir, const char *python_pin, char **venv_dir, pys__diag *d)
{
    if (venv_dir)
        *venv_dir = NULL;
    if (!project_dir || !*project_dir || !venv_dir)
        return pys__diag_set(d, PYS_E_ARG, "uv_project: no project directory");
    if (python_pin && (!*python_pin || python_pin[0] == '-' || has_ctrl(python_pin)))
        return pys__diag_set(d, PYS_E_ARG, "uv_project: invalid Python pin \"%s\"", python_pin);
    char *dir = pys__realpath(project_dir);
    char *pp = dir ? pys__path_join(dir, "pyproject.toml") : NULL;
    char *venv = dir ? pys__path_join(dir, ".venv") : NULL;
    char *envv = venv ? pys__asprintf("UV_PROJECT_ENVIRONMENT=%s", venv) : NULL;
    char *uv = pys__which("uv");
    int rc;
    if (!dir || !pp || !pys__is_file(pp)) {
        rc = pys__diag_set(d, PYS_E_ARG, "uv_project: %s/pyproject.toml does not exist",
                           project_dir);
        pys__diag_searched(d, "%s/pyproject.toml", dir ? dir : project_dir);
        goto out;
    }
    if (!venv || !envv) {
        rc = pys__diag_set(d, PYS_E_NOMEM, "out of memory");
        goto out;
    }
    if (!uv) {
        rc = pys__diag_set(d, PYS_E_DEPS, "uv_project: uv is not on PATH");
        goto out;
    }
    /* The venv goes where we will load it from, whatever the environment
     * says (UV_PROJECT_ENVIRONMENT could point anywhere, even at /usr). */
    const char *env[] = {envv, "PYTHONPATH=", "PYTHONHOME=", NULL};
    const char *argv[] = {uv, "sync", "--project", dir, python_pin ? "--python" : NULL,
                          python_pin, NULL};
    rc = run_tool("uv sync", argv, env, NULL, d);
    if (rc == PYS_OK && !pys__is_dir(venv))
        rc = pys__diag_set(d, PYS_E_DEPS, "uv sync succeeded but %s does not exist", venv);
    if (rc == PYS_OK) {
        *venv_dir = venv;
        venv = NULL;
    }
out:
    free(dir);
    free(pp);
    free(venv);
    free(envv);
    free(uv);
    return rc;
}

/* ---- uv's version ------------------------------------------------------------ */

int pys__uv_version(char **out, pys__diag *d)
{
    *out = NULL;
    char *uv = pys__which("uv");
    if (!uv)
        return pys__diag_set(d, PYS_E_NOTFOUND, "uv is not on PATH (%s)",
                             getenv("PATH") ? getenv("PATH") : "PATH unset");
    const char *argv[] = {uv, "--version", NULL};
    char *sout = NULL, *serr = NULL;
    int rc = pys__spawn(argv, NULL, &sout, &serr, d);
    int code = PYS_OK;
    if (rc == 0 && sout) {
        size_t n = strlen(sout);
        while (n && isspace((unsigned char)sout[n - 1]))
            n--;
        *out = pys__strndup(sout, n);
        if (!*out)
            code = pys__diag_set(d, PYS_E_NOMEM, "out of memory");
    } else if (rc < 0) {
        code = d->code ? d->code : PYS_E_DEPS;
    } else {
        code = pys__diag_set(d, PYS_E_DEPS, "%s --version exited with status %d: %s", uv, rc,
                             serr ? serr : "");
    }
    free(sout);
    free(serr);
    free(uv);
    return code;
}

/* ---- listing and clearing ------------------------------------------------------ */

typedef struct name_list {
    char **v;
    size_t n;
} name_list;

/* The names in root, or an error (ENOENT gives an empty list). */
static int list_dir(const char *root, name_list *out)
{
    *out = (name_list){0};
    DIR *dp = opendir(root);
    if (!dp)
        return errno == ENOENT ? 0 : -1;
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 32;
            char **v = pys__realloc_n(out->v, cap, sizeof *v);
            if (!v) {
                rc = -1;
                errno = ENOMEM;
                break;
            }
            out->v = v;
        }
        if (!(out->v[out->n] = pys__strdup(e->d_name))) {
            rc = -1;
            errno = ENOMEM;
            break;
        }
        out->n++;
    }
    closedir(dp);
    if (rc == 0 && out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return rc;
}

static char *dup_or_empty(const char *s)
{
    return pys__strdup(s ? s : "");
}

/* Strings of one entry; false on out-of-memory. */
static bool entry_fill(pys_cache_entry *e, const char *dir, const char *name)
{
    manifest m;
    const char *why = manifest_load(dir, name, &m);
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
    manifest_free(&m);
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

int pys__cache_list(pys_cache_entry **out, size_t *n, pys__diag *d)
{
    *out = NULL;
    *n = 0;
    char *root = pys__deps_cache_dir();
    if (!root)
        return pys__diag_set(d, PYS_E_NOTFOUND,
                         "no cache directory (set XDG_CACHE_HOME or HOME)");
    name_list names;
    if (list_dir(root, &names) != 0) {
        int e = errno;
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
        if (dir && is_entry_name(names.v[i]) && pys__is_dir(dir)) {
            if (!entry_fill(&v[k++], dir, names.v[i]))
                rc = PYS_E_NOMEM;
        } else if (!dir) {
            rc = PYS_E_NOMEM;
        }
        free(dir);
    }
    strv_free(names.v, names.n);
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
static bool owner_of(const char *s, char out[NAME_LEN + 1])
{
    if (tmp_owner(s, out))
        return true;
    size_t n = strlen(s);
    if (n != NAME_LEN && !(n == NAME_LEN + 5 && pys__ends_with(s, ".lock")))
        return false;
    memcpy(out, s, NAME_LEN);
    out[NAME_LEN] = '\0';
    return is_entry_name(out);
}

int pys__cache_clear(pys__diag *d)
{
    char *root = pys__deps_cache_dir();
    if (!root)
        return pys__diag_set(d, PYS_E_NOTFOUND,
                         "no cache directory (set XDG_CACHE_HOME or HOME)");
    name_list names;
    if (list_dir(root, &names) != 0) {
        int e = errno;
        free(root);
        return pys__diag_set(d, PYS_E_DEPS, "cannot read the cache: %s",
                         strerror(e));
    }
    pys__sb busy = {0}, failed = {0};
    for (size_t i = 0; i < names.n; i++) {
        char owner[NAME_LEN + 1], o2[NAME_LEN + 1];
        if (!owner_of(names.v[i], owner))
            continue;
        bool seen = false; /* handle each owner at its first name only */
        for (size_t j = 0; j < i && !seen; j++)
            seen = owner_of(names.v[j], o2) && strcmp(o2, owner) == 0;
        if (seen)
            continue;
        char *lp = pys__asprintf("%s/%s.lock", root, owner);
        int fd = lp ? lock_take(lp, false) : -1;
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
                if (!p || rm_rf(p) != 0)
                    pys__sb_addf(&failed, " %s (%s)", names.v[j],
                                 p ? strerror(errno) : "out of memory");
                free(p);
            }
            lock_drop(lp, fd);
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
    strv_free(names.v, names.n);
    free(root);
    return rc;
}
