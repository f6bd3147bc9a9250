/* Building dependency venvs with pip or uv, and the project face of uv
 * (`uv sync`, `uv --version`). Every tool runs through pys__spawn (argv, no
 * shell): a requirement is one argv element.
 *
 * - pip: `EXE -m venv --without-pip DIR` (~50 ms; ensurepip costs ~4 s),
 *   then `EXE -m pip --python DIR/bin/python install ...` (pip >= 22.3);
 *   an older or absent base pip falls back to ensurepip in the venv. uv
 *   (prefer_uv and uv on PATH): `uv venv`, `uv pip install --python`.
 *   Ambient tool config (pip.conf, PIP_*, uv.toml, UV_*) applies and is not
 *   part of the key; PYTHONPATH, PYTHONHOME and user site are neutralised so
 *   the venv gets what it needs, not what the host happens to import.
 * - A build happens in a temp dir later renamed into the cache. Tools write
 *   the build path into bin/ scripts (shebangs, activate) and pyvenv.cfg
 *   `command`; before the rename we rewrite it to the final path in those
 *   text files. bin/python (a symlink to the base interpreter) and
 *   pyvenv.cfg `home` never name the build path, so the interpreter and the
 *   shim (which loads DIR/bin/python) work either way; the rewrite keeps
 *   console scripts working too. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/deps_internal.h"
#include "loader/loader.h"
#include "pyshim.h"

#define ERR_TAIL 4096 /* bytes of a tool's output kept in an error */

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
    int rc = b.oom ? -1 : pys__deps_write_file_atomic(path, b.s, b.len, st.st_mode & 07777);
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
    pys__deps_strv_free(a->owned, a->nowned);
    free(a->v);
    *a = (argv_b){0};
}

/* The index options and the requirements, shared by pip and uv. Returns
 * false when the builder ran out of memory (now or before). */
static bool av_install_args(argv_b *a, const pys__deps_key_in *k)
{
    if (k->no_index)
        av_add(a, "--no-index");
    for (size_t i = 0; i < k->nlinks; i++)
        av_own(a, pys__asprintf("--find-links=%s", k->links[i]));
    if (k->index_url)
        av_own(a, pys__asprintf("--index-url=%s", k->index_url));
    for (size_t i = 0; i < k->nreqs; i++)
        av_add(a, k->reqs[i]);
    return !a->oom;
}

/* The builders: make the venv at dir, whose interpreter will be py, and
 * install into it, building the command in a (empty; the caller frees
 * it). Return PYS_OK, or a code with d set, but for PYS_E_NOMEM, whose
 * message the caller sets. */
static int build_pip(const pys__deps_key_in *k, const char *dir, const char *py, argv_b *a,
                     pys__diag *d)
{
    const char *venv[] = {k->exe, "-m", "venv", "--without-pip", dir, NULL};
    int rc = run_tool("creating the venv", venv, tool_env, NULL, d);
    if (rc != PYS_OK)
        return rc;

    av_add(a, k->exe);
    av_add(a, "-m");
    av_add(a, "pip");
    av_add(a, "--python");
    av_add(a, py);
    av_add(a, "install");
    av_add(a, "--disable-pip-version-check");
    av_add(a, "--no-input");
    if (!av_install_args(a, k))
        return PYS_E_NOMEM;
    char *err = NULL;
    pys__diag first = {0};
    rc = run_tool("pip install", a->v, tool_env, &err, &first);
    bool old_pip = rc != PYS_OK && err &&
                   (strstr(err, "no such option: --python") || strstr(err, "No module named pip"));
    if (rc != PYS_OK && !old_pip)
        pys__diag_set(d, first.code, "%s", first.message ? first.message : "pip install failed");
    pys__diag_free(&first);
    free(err);
    if (!old_pip)
        return rc;

    /* The base pip cannot install into another environment: give the venv
     * its own pip and use that. */
    const char *ensure[] = {py, "-m", "ensurepip", "--default-pip", NULL};
    if ((rc = run_tool("ensurepip", ensure, tool_env, NULL, d)) != PYS_OK)
        return rc;
    a->v[0] = py;
    memmove(&a->v[3], &a->v[5], (a->n - 5 + 1) * sizeof *a->v); /* drop "--python PY" */
    a->n -= 2;
    return run_tool("pip install", a->v, tool_env, NULL, d);
}

static int build_uv(const char *uv, const pys__deps_key_in *k, const char *dir, const char *py,
                    argv_b *a, pys__diag *d)
{
    rmdir(dir); /* uv venv wants to create it; the name stays ours (lock + pid) */
    const char *venv[] = {uv, "venv", "--python", k->exe, dir, NULL};
    int rc = run_tool("uv venv", venv, tool_env, NULL, d);
    if (rc != PYS_OK)
        return rc;
    av_add(a, uv);
    av_add(a, "pip");
    av_add(a, "install");
    av_add(a, "--python");
    av_add(a, py);
    if (!av_install_args(a, k))
        return PYS_E_NOMEM;
    return run_tool("uv pip install", a->v, tool_env, NULL, d);
}

int pys__deps_build_venv(const pys__deps_key_in *k, const char *dir, const char *final_dir,
                         bool prefer_uv, const char **backend, pys__diag *d)
{
    char *uv = prefer_uv ? pys__which("uv") : NULL;
    *backend = uv ? "uv" : "pip";
    char *py = pys__path_join(dir, "bin/python");
    argv_b a = {0};
    int rc = !py  ? PYS_E_NOMEM
             : uv ? build_uv(uv, k, dir, py, &a, d)
                  : build_pip(k, dir, py, &a, d);
    if (rc == PYS_E_NOMEM)
        pys__diag_set(d, rc, "out of memory");
    av_free(&a);
    free(py);
    if (rc == PYS_OK && relocate(dir, final_dir) != 0)
        rc = pys__diag_set(d, PYS_E_DEPS, "cannot rewrite paths in %s: %s", dir,
                           strerror(errno));
    free(uv);
    return rc;
}

/* ---- uv sync ----------------------------------------------------------------- */

int pys__uv_sync(const char *project_dir, const char *python_pin, char **venv_dir, pys__diag *d)
{
    if (venv_dir)
        *venv_dir = NULL;
    if (!project_dir || !*project_dir || !venv_dir)
        return pys__diag_set(d, PYS_E_ARG, "uv_project: no project directory");
    if (python_pin && (!*python_pin || python_pin[0] == '-' || pys__deps_has_ctrl(python_pin)))
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
