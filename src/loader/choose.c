/* Choosing the Python to load, in one place: an explicit library, a venv,
 * a uv project's .venv (after `uv sync`), the search, or, with
 * dependencies, the cached venv built for them on top of the search's
 * choice (probe, build, probe again with that venv as the explicit
 * choice). The choice then says what initialisation needs: the library,
 * the venv, the interpreter CPython takes itself for, and its home.
 *
 * The interpreter of an install that has none beside it is named after the
 * version and ABI flags the library itself reports, so pys__choice_load
 * completes it; everything else is decided before anything is loaded. */
#include <stdlib.h>
#include <string.h>

#include "loader/choose.h"
#include "pyshim.h"

/* The probe found the base Python: build (or find in the cache) the venv
 * for the dependencies on it, and probe again with that venv as the
 * explicit choice. */
static int choose_deps_venv(const pys__choose_in *in, pys__probe_opts *po, pys__choice *out,
                            pys__diag *d)
{
    const pys__candidate *c = &out->probe.v[out->probe.chosen];
    if (!c->executable)
        return pys__diag_set(d, PYS_E_DEPS,
                             "dependencies need the interpreter of %s, but none was found "
                             "beside it",
                             c->path);
    pys__deps_req req = {
        .python_executable = c->executable,
        .major = c->major,
        .minor = c->minor,
        .free_threaded = c->free_threaded,
        .requirements = in->dependencies,
        .find_links = in->find_links,
        .index_url = in->index_url,
        .no_index = in->no_index,
        .prefer_uv = po->prefer_uv,
    };
    char *venv = NULL;
    int rc = pys__deps_ensure(&req, &venv, d);
    if (rc != PYS_OK)
        return rc;
    free(out->venv_hold);
    out->venv_hold = venv;
    pys__probe_free(&out->probe);
    po->venv = venv;
    po->library_path = NULL;
    po->use_env = false; /* the venv is now the explicit choice */
    return pys__probe_run(po, &out->probe, d);
}

int pys__choose(const pys__choose_in *in, pys__choice *out, pys__diag *d)
{
    memset(out, 0, sizeof *out);
    pys__probe_opts po = in->probe;
    bool have_deps = in->dependencies && in->dependencies[0];
    if (in->uv_project && have_deps)
        return pys__diag_set(d, PYS_E_ARG,
                             "uv_project and dependencies cannot be combined: list the "
                             "dependencies in the project's pyproject.toml");
    if (in->uv_project) {
        const char *pin = po.python;
        if (!pin && po.use_env)
            pin = getenv("PYSHIM_PYTHON_VERSION");
        int rc = pys__uv_sync(in->uv_project, pin, &out->venv_hold, d);
        if (rc != PYS_OK)
            return rc;
        po.venv = out->venv_hold;
    }
    int rc = pys__probe_run(&po, &out->probe, d);
    if (rc == PYS_OK && have_deps)
        rc = choose_deps_venv(in, &po, out, d);
    if (rc != PYS_OK)
        return rc;

    const pys__candidate *c = &out->probe.v[out->probe.chosen];
    out->lib = c;
    out->library = c->realpath ? c->realpath : c->path;
    out->venv = out->probe.venv;
    const char *prefix = c->prefix;
    if (!prefix) {
        /* An explicit library with no stdlib found beside it: check the
         * conventional place (<prefix>/lib/libpython -> <prefix>) so that
         * the error names a real path, before CPython could exit(). */
        char *dir = pys__path_dir(out->library);
        out->guessed = dir ? pys__path_dir(dir) : NULL;
        free(dir);
        prefix = out->guessed ? out->guessed : "/";
    }
    out->init = (pys__init_opts){
        .executable = out->venv ? out->probe.venv_executable : c->executable,
        .home = out->venv ? NULL : prefix,
        .stdlib_prefix = prefix,
        .install_signal_handlers = in->install_signal_handlers,
        .utf8_mode = in->utf8_mode,
        .coerce_c_locale = in->coerce_c_locale,
    };
    return PYS_OK;
}

int pys__choice_load(pys__choice *ch, bool refuse_untested, pys__diag *d)
{
    const pys__candidate *c = ch->lib;
    int rc = pys__capi_load(ch->library, c->major, c->minor, refuse_untested, &ch->li, d);
    if (rc != PYS_OK)
        return rc;
    ch->free_threaded = c->free_threaded || (ch->li.abi & PYS__ABI_T);
    ch->debug = c->debug || (ch->li.abi & PYS__ABI_D);
    ch->init.version = ch->li.version;
    ch->init.free_threaded = ch->free_threaded;
    if (!ch->venv && !ch->init.executable) {
        ch->exe_default = pys__asprintf("%s/bin/python%d.%d%s%s", ch->init.stdlib_prefix,
                                        ch->li.version >> 8, ch->li.version & 0xff,
                                        ch->free_threaded ? "t" : "", ch->debug ? "d" : "");
        ch->init.executable = ch->exe_default;
    }
    return PYS_OK;
}

void pys__choice_free(pys__choice *ch)
{
    if (!ch)
        return;
    pys__probe_free(&ch->probe);
    free(ch->venv_hold);
    free(ch->guessed);
    free(ch->exe_default);
    memset(ch, 0, sizeof *ch);
}
