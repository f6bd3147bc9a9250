/* Choosing the Python to load (choose.c): the loader's one entry for
 * pys_open and pys_main, from the options to what initialisation needs.
 * Kept apart from loader.h because a choice carries init.h's options. */
#ifndef PYS_LOADER_CHOOSE_H
#define PYS_LOADER_CHOOSE_H

#include <stdbool.h>

#include "loader/init.h"
#include "loader/loader.h"

/* What to choose from: the search, and the two ways of loading a venv
 * built for the caller. */
typedef struct pys__choose_in {
    pys__probe_opts probe;           /* the search (library_path, pin, venv, ...) */
    const char *uv_project;          /* `uv sync` this project, then load its .venv */
    const char *const *dependencies; /* NULL-terminated: load the cached venv holding them */
    const char *const *find_links;   /* for dependencies: NULL-terminated or NULL */
    const char *index_url;           /* for dependencies, or NULL */
    bool no_index;
    /* Passed through to the initialisation options. */
    bool install_signal_handlers;
    int utf8_mode, coerce_c_locale;
} pys__choose_in;

/* The choice. Every pointer is owned by the choice (or its probe) and
 * valid until pys__choice_free. */
typedef struct pys__choice {
    pys__probe probe;           /* the last probe: after a venv build, the probe of that venv */
    const pys__candidate *lib;  /* the chosen candidate, probe.v[probe.chosen] */
    const char *library;        /* the file to load: lib's realpath, else its path */
    const char *venv;           /* the venv in use (absolute), or NULL */
    /* For pys__py_init / pys__py_main: executable (the venv's or the
     * install's interpreter; named after the version once loaded when the
     * install has none beside it), home (the install prefix; NULL for a
     * venv, which is found from its pyvenv.cfg), stdlib_prefix (where the
     * stdlib must be: the prefix, or a guess from the library's path for
     * an explicit library), version and free_threaded (once loaded), and
     * the flags of pys__choose_in. */
    pys__init_opts init;
    /* Filled by pys__choice_load. */
    pys__libinfo li;            /* what the library says about itself */
    bool free_threaded, debug;  /* its ABI flags: the library's own word wins over its name */
    char *venv_hold, *guessed, *exe_default; /* owned storage behind the fields above */
} pys__choice;

/* Chooses: `uv sync` for a uv project (then its .venv is the venv), the
 * probe, and with dependencies the cached venv built (once) on top of the
 * probe's choice, probed again as the explicit choice. Returns PYS_OK with
 * out->lib set, or an error with `d` filled: PYS_E_ARG (uv_project with
 * dependencies, a malformed pin), PYS_E_NOTFOUND (`d` lists the paths
 * tried), PYS_E_DEPS (uv or the venv build failed, or no interpreter to
 * build with), PYS_E_NOMEM. `out` is always initialised: free it with
 * pys__choice_free, also on error. Thread-safe (it may run subprocesses). */
int pys__choose(const pys__choose_in *in, pys__choice *out, pys__diag *d);

/* Loads the chosen library (pys__capi_load: dlopen, version, symbol
 * table), refusing a Python newer than the tested range with
 * refuse_untested, and completes ch->init. Returns PYS_OK, or with `d`
 * filled PYS_E_LOAD, PYS_E_SYMBOL (names the symbol and version), or
 * PYS_E_STATE (another libpython was loaded earlier in this process).
 * Thread-safe (pys__capi_load serialises loads). */
int pys__choice_load(pys__choice *ch, bool refuse_untested, pys__diag *d);

/* Frees what the choice owns and zeroes it; NULL or zeroed is a no-op. */
void pys__choice_free(pys__choice *ch);

#endif
