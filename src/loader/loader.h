/* The loader layer: choose a libpython (discover*.c), build dependency venvs
 * (deps_*.c, spawn.c), dlopen it and fill the C-API table (capi.c), and
 * initialise the interpreter (init.c).
 *
 * This layer knows nothing about handles. Failures are reported through a
 * pys__diag, which the api layer turns into the thread's pys_error. */
#ifndef PYS_LOADER_H
#define PYS_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "loader/util.h"
#include "pyshim.h" /* pys_cache_entry (pyshim_deps.h) */

/* ---- diagnostics -------------------------------------------------------- */

/* What a loader step says when it fails: a PYS_E_* code, a message and
 * (for "not found") the list of places tried. All strings are owned. */
typedef struct pys__diag {
    int code;
    char *message;
    char **searched;
    size_t nsearched, capsearched;
} pys__diag;

/* Sets code and message (replacing any earlier one). Returns code. */
int pys__diag_set(pys__diag *d, int code, const char *fmt, ...) PYS__PRINTF(3, 4);
/* Appends one "tried" line (copied). */
void pys__diag_searched(pys__diag *d, const char *fmt, ...) PYS__PRINTF(2, 3);
void pys__diag_free(pys__diag *d);

/* ---- discovery ---------------------------------------------------------- */

/* Where a candidate came from, in precedence order. */
typedef enum pys__source {
    PYS__SRC_EXPLICIT = 0, /* options.library_path / PYSHIM_LIBPYTHON */
    PYS__SRC_VENV,         /* options.venv / VIRTUAL_ENV / a project .venv (pyvenv.cfg home) */
    PYS__SRC_CONDA,        /* the active conda / mamba / micromamba env (CONDA_PREFIX) */
    PYS__SRC_PIXI,         /* the pixi env (PIXI_PROJECT_ROOT/.pixi/envs/NAME) */
    PYS__SRC_UV,           /* uv-managed install (prefer_uv) */
    PYS__SRC_PATH,         /* an interpreter on PATH */
    PYS__SRC_PYENV,        /* ~/.pyenv/versions/VER (pyenv shims on PATH) */
    PYS__SRC_LDCONFIG,     /* the dynamic linker's cache */
    PYS__SRC_SYSTEM,       /* standard library directories */
} pys__source;

const char *pys__source_name(pys__source s);

typedef struct pys__candidate {
    char *path;        /* the library file as found */
    char *realpath;    /* resolved; candidates are unique by realpath */
    char *executable;  /* the install's interpreter (bin/python3.X), or NULL */
    char *prefix;      /* the install prefix (dir holding lib/python3.X), or NULL */
    pys__source source;
    int major, minor;  /* from the file name; 0.0 when unknown */
    int micro;         /* from the install (patchlevel.h, its name); -1 when unknown */
    bool free_threaded;/* "libpython3.Xt" (or the library says so) */
    bool debug;        /* "libpython3.Xd" (or the library says so) */
    bool untested;     /* newer than PYS__MAX_MINOR: loads, marked untested */
    char full_version[24]; /* "3.14.2" read from the library file, or "" */
    bool accepted;
    char *reason;      /* why accepted or rejected (always set) */
    const char *code;  /* the same as a static code: "accepted", "too_old", ... */
} pys__candidate;

typedef struct pys__probe_opts {
    const char *library_path; /* explicit library: no search */
    const char *python;       /* pin: "3.12", "3.13t", or NULL */
    const char *venv;         /* venv directory, or NULL */
    bool prefer_uv;
    bool use_env;             /* honour PYSHIM_LIBPYTHON, PYSHIM_PYTHON_VERSION, VIRTUAL_ENV,
                               * CONDA_PREFIX, PIXI_PROJECT_ROOT, PYSHIM_REFUSE_UNTESTED */
    bool refuse_untested;     /* reject minors newer than PYS__MAX_MINOR */
    const char *project_dir;  /* .python-version (and .venv) are looked for upward from here */
    bool project_venv;        /* use DIR/.venv upward from project_dir when no env is active */
    bool prefer_newest;       /* the newest supported Python wins: no .python-version, no shell */
} pys__probe_opts;

/* One line of the probe's account: a source, in the order they are asked,
 * and what it contributed or why it was skipped. */
typedef struct pys__step {
    const char *source; /* static: "explicit", "venv", "conda", "pixi", "project-venv",
                         * "request", "shell", "uv", "search" */
    const char *status; /* static: "chosen", "used", "skipped", "none", "failed" */
    char *file;         /* the file or variable read, or NULL */
    char *detail;
} pys__step;

typedef struct pys__probe {
    pys__candidate *v;
    size_t n, cap;
    int chosen;            /* index into v, or -1 */
    char *venv;            /* the venv in use (absolute), or NULL */
    char *venv_executable; /* the venv's own interpreter (DIR/bin/python3...) */
    char *pin;             /* the effective version pin, or NULL */
    pys__step *steps;      /* in order of precedence */
    size_t nsteps, capsteps;
    const char *decided_source; /* static: the step that chose ("shell", ...), or NULL */
    char *decided_file;    /* the file or variable behind the choice, or NULL */
    char *decision;        /* one sentence: why the chosen one, or NULL */
} pys__probe;

/* Builds the candidate list and chooses one. Returns PYS_OK with
 * out->chosen >= 0, or an error code with `d` filled (PYS_E_NOTFOUND lists
 * every path tried; PYS_E_ARG for a malformed pin). `out` is always
 * initialised and must be freed with pys__probe_free, even on error. */
int pys__probe_run(const pys__probe_opts *o, pys__probe *out, pys__diag *d);
void pys__probe_free(pys__probe *p);

/* Parses a pin: "3", "3.12", "3.12.4", "3.13t", "3.15d", "3.13td" (a
 * .python-version word of kind VERSION; the ABI flags in CPython's order).
 * *micro is -1 when not given. Any out-param may be NULL. Returns false if
 * malformed. */
bool pys__parse_pin(const char *pin, int *major, int *minor, int *micro, bool *ft, bool *debug);

/* Reads an ELF file's DT_NEEDED names and run path (DT_RUNPATH, else
 * DT_RPATH) without loading it. Returns 0 (no dynamic section: *n = 0), or
 * -1 when it is not an ELF of this machine's class and byte order, or is
 * malformed. *needed (n strings) and *runpath (or NULL) are malloc'd. */
int pys__elf_deps(const char *path, char ***needed, size_t *n, char **runpath);

/* The tested range (inclusive). Older minors are refused; newer ones load
 * when every required symbol resolves and are marked "untested" (refused
 * with refuse_untested / PYSHIM_REFUSE_UNTESTED=1). */
#define PYS__MIN_MINOR 8
#define PYS__MAX_MINOR 15

/* ---- what a library file says about itself (libver.c) ------------------ */

/* ABI flags as bits. */
enum { PYS__ABI_T = 1, PYS__ABI_D = 2 };

/* Reads the full version ("3.14.2", "3.15.0rc1") of Python 3.minor from the
 * library file's read-only data, without loading it; and whether its
 * version text says "free-threading build" (*ft, NULL-able). Returns false
 * (out = "") when the file cannot be read or holds no such string. */
bool pys__lib_file_version(const char *path, int minor, char *out, size_t outsz, bool *ft);

/* Formats "3.14", "3.13t", "3.15d", "3.13td" into buf. Returns buf. */
char *pys__version_tag(char *buf, size_t n, int major, int minor, bool ft, bool debug);

/* ---- subprocesses ------------------------------------------------------- */

/* Runs argv[0] (searched on PATH when it has no slash) with the given argv,
 * never through a shell. env_add: NULL or NULL-terminated "K=V" strings added
 * to (overriding) the current environment. Captures stdout and stderr
 * (each NULL-able). Returns the exit status (0..255), or -1 if it could not
 * be started (d filled). Every call increments pys__spawn_count(). */
int pys__spawn(const char *const *argv, const char *const *env_add,
               char **out_stdout, char **out_stderr, pys__diag *d);
/* How many subprocesses this process has started through pys__spawn. */
unsigned long pys__spawn_count(void);
/* Finds an executable on PATH; malloc'd path or NULL. */
char *pys__which(const char *name);

/* ---- dependency venvs and uv (deps_cache.c, deps_build.c, deps_admin.c) - */

typedef struct pys__deps_req {
    const char *python_executable; /* the chosen base interpreter */
    int major, minor;
    bool free_threaded;
    const char *const *requirements; /* NULL-terminated */
    const char *const *find_links;   /* NULL-terminated or NULL */
    const char *index_url;           /* or NULL */
    bool no_index;
    bool prefer_uv;                  /* use uv when it is on PATH */
} pys__deps_req;

/* Ensures the cached venv for `req` exists, building it if needed (under a
 * file lock, in a temp dir renamed into place). On success *venv_dir is the
 * cache entry (malloc'd). A cache hit starts no subprocess. */
int pys__deps_ensure(const pys__deps_req *req, char **venv_dir, pys__diag *d);
/* Runs `uv sync` for the project (requires DIR/pyproject.toml); *venv_dir is
 * DIR/.venv (malloc'd). */
int pys__uv_sync(const char *project_dir, const char *python_pin, char **venv_dir, pys__diag *d);
/* The cache root ($XDG_CACHE_HOME/pyshim/venvs or ~/.cache/pyshim/venvs). */
char *pys__deps_cache_dir(void);
/* The cache's entries for pys_cache_list (sorted by name; *out NULL when
 * there are none), freed with pys__cache_list_free. PYS_OK, or
 * PYS_E_NOTFOUND (no cache directory), PYS_E_DEPS, PYS_E_NOMEM in d.
 * Thread-safe. */
int pys__cache_list(pys_cache_entry **out, size_t *n, pys__diag *d);
void pys__cache_list_free(pys_cache_entry *entries, size_t n);
/* Removes every entry not being built right now (pys_clear_cache).
 * PYS_OK, or PYS_E_NOTFOUND, PYS_E_DEPS, PYS_E_STATE (entries left
 * because their build holds the lock) in d. */
int pys__cache_clear(pys__diag *d);
/* uv --version's output, trimmed, malloc'd into *out. PYS_OK, or
 * PYS_E_NOTFOUND (no uv on PATH), PYS_E_DEPS, PYS_E_NOMEM in d. */
int pys__uv_version(char **out, pys__diag *d);

#endif
