/* Internal to the dependency-venv units of src/loader (deps_cache.c,
 * deps_build.c, deps_fs.c, deps_admin.c): the cache key's inputs, the
 * manifest, the entry names, and the file-system and lock helpers they
 * share. Nothing here is thread-safe against a concurrent change of the
 * same cache entry except through pys__deps_lock_take. */
#ifndef PYS_LOADER_DEPS_INTERNAL_H
#define PYS_LOADER_DEPS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "loader/loader.h"

#define PYS__DEPS_NAME_LEN 32 /* hex digits of the key used as the entry's name */

/* ---- the key and the manifest (deps_cache.c) ----------------------------- */

/* Everything that identifies an entry. Strings are owned. */
typedef struct pys__deps_key_in {
    int major, minor;
    bool ft;
    char *exe;          /* realpath of the base interpreter */
    char **reqs;        /* sorted, unique */
    size_t nreqs;
    char **links;       /* as given, local paths made absolute */
    size_t nlinks;
    char *index_url;    /* or NULL */
    bool no_index;
} pys__deps_key_in;

void pys__deps_key_free(pys__deps_key_in *k);

/* A parsed manifest.json: the key's inputs, the full key, and how and when
 * the entry was built. Strings are owned. */
typedef struct pys__deps_manifest {
    pys__deps_key_in k;
    char key[65];
    char *backend;
    char *created;
} pys__deps_manifest;

/* Loads DIR/manifest.json. Returns NULL when it is a complete, self-
 * consistent manifest for the entry named `name` whose interpreter link
 * resolves; otherwise a static reason. m is filled as far as it parsed and
 * must be freed with pys__deps_manifest_free either way. */
const char *pys__deps_manifest_load(const char *dir, const char *name, pys__deps_manifest *m);
void pys__deps_manifest_free(pys__deps_manifest *m);

/* An entry's name: exactly PYS__DEPS_NAME_LEN lowercase hex digits. */
bool pys__deps_is_entry_name(const char *s);
/* ".tmp-<name>-..." -> true and name copied into out. */
bool pys__deps_tmp_owner(const char *s, char out[PYS__DEPS_NAME_LEN + 1]);
/* Whether s holds a control character (refused in requirements and pins). */
bool pys__deps_has_ctrl(const char *s);

/* ---- building a venv (deps_build.c) -------------------------------------- */

/* Builds the venv for k in `dir` (an empty directory) with uv (prefer_uv
 * and uv on PATH) or pip, then rewrites the build path into `final_dir` in
 * the tools' text files, ready to be renamed there. *backend is set to the
 * static "uv" or "pip". PYS_OK, or PYS_E_DEPS / PYS_E_NOMEM in d. */
int pys__deps_build_venv(const pys__deps_key_in *k, const char *dir, const char *final_dir,
                         bool prefer_uv, const char **backend, pys__diag *d);

/* ---- files, directories and locks (deps_fs.c) ---------------------------- */

/* Frees n strings and the array (NULL-safe). */
void pys__deps_strv_free(char **v, size_t n);
/* qsort comparator of char * by strcmp. */
int pys__deps_cmp_str(const void *a, const void *b);
/* mkdir -p (mode 0755 for created components). 0 or -1 (errno). */
int pys__deps_mkdir_p(const char *path);
/* rm -rf without following symlinks. 0 (also when absent) or -1 (errno). */
int pys__deps_rm_rf(const char *path);
/* Writes data to path atomically (temp file + fsync + rename), with `mode`.
 * 0 or -1 (errno). */
int pys__deps_write_file_atomic(const char *path, const char *data, size_t len, mode_t mode);
/* Takes the exclusive flock `path` (created if needed), making sure the
 * path still names the file locked. Returns the fd, -1 on error (errno), or
 * -2 when !wait and another holder has it. */
int pys__deps_lock_take(const char *path, bool wait);
/* Unlinks (while still holding) and unlocks. */
void pys__deps_lock_drop(const char *path, int fd);

/* The sorted names in a directory (without "." and ".."); owned. */
typedef struct pys__deps_names {
    char **v;
    size_t n;
} pys__deps_names;

/* Fills out (ENOENT gives an empty list); 0, or -1 (errno). Free with
 * pys__deps_strv_free(out->v, out->n). */
int pys__deps_list_dir(const char *root, pys__deps_names *out);

#endif
