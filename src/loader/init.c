/* Initialising CPython without its headers.
 *
 * The one thing that makes sys.prefix, the stdlib and sys.executable right
 * on every kind of install (distro /usr, pyenv, relocated standalone builds)
 * is to hand CPython the real interpreter path as the program name: its path
 * calculation then works from that file exactly as for `python` itself,
 * including a venv's pyvenv.cfg. For plain installs we also pin `home` to
 * the prefix we found, so a compiled-in prefix that does not exist (uv's
 * relocatable builds) never matters; on 3.14+ venvs get their base prefix
 * as home as well (see init_pep741).
 *
 * 3.8-3.13: Py_SetProgramName / Py_SetPythonHome + Py_InitializeEx(initsigs)
 * (no struct layouts). 3.14+: PEP 741 PyInitConfig (no struct layouts
 * either). Before any of it we check that the stdlib exists, because
 * CPython answers a missing stdlib with a fatal error that exit()s the host. */
#include "init.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pyshim.h"

static wchar_t *w_program, *w_home;

bool pys__stdlib_present(const char *prefix, int minor, bool ft, char **looked_at)
{
    char *lib = pys__asprintf("%s/lib/python3.%d%s", prefix, minor, ft ? "t" : "");
    char *os_py = lib ? pys__path_join(lib, "os.py") : NULL;
    char *enc = lib ? pys__path_join(lib, "encodings/__init__.py") : NULL;
    char *zip = pys__asprintf("%s/lib/python3%d%s.zip", prefix, minor, ft ? "t" : "");
    bool ok = (pys__is_file(os_py) && pys__is_file(enc)) || pys__is_file(zip);
    if (looked_at) {
        *looked_at = lib;
        lib = NULL;
    }
    free(lib);
    free(os_py);
    free(enc);
    free(zip);
    return ok;
}

static int init_legacy(const pys__init_opts *o, pys__diag *d)
{
    if (!pys__api.Py_SetProgramName)
        return pys__diag_set(d, PYS_E_SYMBOL,
                             "Python %d.%d has neither Py_SetProgramName nor PyInitConfig",
                             o->version >> 8, o->version & 0xff);
    w_program = pys__api.Py_DecodeLocale(o->executable, NULL);
    if (!w_program)
        return pys__diag_set(d, PYS_E_INIT, "cannot decode the program name %s", o->executable);
    pys__api.Py_SetProgramName(w_program);
    if (o->home) {
        if (!pys__api.Py_SetPythonHome)
            return pys__diag_set(d, PYS_E_SYMBOL, "Py_SetPythonHome is missing");
        w_home = pys__api.Py_DecodeLocale(o->home, NULL);
        if (!w_home)
            return pys__diag_set(d, PYS_E_INIT, "cannot decode the home %s", o->home);
        pys__api.Py_SetPythonHome(w_home);
    }
    pys__api.Py_InitializeEx(o->install_signal_handlers ? 1 : 0);
    return PYS_OK;
}

static int init_pep741(const pys__init_opts *o, pys__diag *d)
{
    PyInitConfig *c = pys__api.PyInitConfig_Create();
    if (!c)
        return pys__diag_set(d, PYS_E_NOMEM, "PyInitConfig_Create failed");
    int rc = 0;
    /* PyInitConfig_Create starts from the isolated defaults; embed like
     * the interpreter itself runs instead. */
    rc |= pys__api.PyInitConfig_SetInt(c, "isolated", 0);
    rc |= pys__api.PyInitConfig_SetInt(c, "use_environment", 1);
    rc |= pys__api.PyInitConfig_SetInt(c, "user_site_directory", 1);
    rc |= pys__api.PyInitConfig_SetInt(c, "safe_path", 0);
    rc |= pys__api.PyInitConfig_SetInt(c, "parse_argv", 0);
    rc |= pys__api.PyInitConfig_SetInt(c, "install_signal_handlers",
                                       o->install_signal_handlers ? 1 : 0);
    rc |= pys__api.PyInitConfig_SetStr(c, "program_name", o->executable);
    /* A venv gets `home` too (its base prefix, where the stdlib is): with
     * the program name alone, 3.14 initialises a venv right once, but
     * after a finalise the second initialisation takes the venv itself as
     * base_prefix and loses its site-packages. The venv is still found
     * from the program name's pyvenv.cfg. */
    const char *home = o->home ? o->home : o->stdlib_prefix;
    if (home)
        rc |= pys__api.PyInitConfig_SetStr(c, "home", home);
    if (rc == 0)
        rc = pys__api.Py_InitializeFromInitConfig(c);
    if (rc != 0) {
        const char *msg = NULL;
        pys__api.PyInitConfig_GetError(c, &msg);
        pys__diag_set(d, PYS_E_INIT, "Python initialisation failed: %s",
                      msg ? msg : "unknown error");
        pys__api.PyInitConfig_Free(c);
        return PYS_E_INIT;
    }
    pys__api.PyInitConfig_Free(c);
    return PYS_OK;
}

int pys__py_init(const pys__init_opts *o, PyThreadState **main_tstate, bool *was_initialized,
                 pys__diag *d)
{
    *was_initialized = pys__api.Py_IsInitialized() != 0;
    if (*was_initialized) {
        /* An earlier runtime in this process kept the interpreter
         * (skip_finalize); its main thread state was saved there. */
        *main_tstate = NULL;
        return PYS_OK;
    }
    char *looked = NULL;
    if (!pys__stdlib_present(o->stdlib_prefix, o->version & 0xff, o->free_threaded, &looked)) {
        pys__diag_searched(d, "%s/os.py", looked ? looked : o->stdlib_prefix);
        int rc = pys__diag_set(d, PYS_E_INIT,
                               "broken Python install: no standard library at %s "
                               "(needed os.py and encodings/)",
                               looked ? looked : o->stdlib_prefix);
        free(looked);
        return rc;
    }
    free(looked);
    looked = NULL;
    /* Without a home of ours (venvs), CPython honours PYTHONHOME. */
    const char *env_home = getenv("PYTHONHOME");
    if (!o->home && env_home && *env_home &&
        !pys__stdlib_present(env_home, o->version & 0xff, o->free_threaded, &looked)) {
        pys__diag_searched(d, "%s/os.py", looked ? looked : env_home);
        int rc = pys__diag_set(d, PYS_E_INIT,
                               "PYTHONHOME=%s has no standard library at %s; unset it or fix it",
                               env_home, looked ? looked : env_home);
        free(looked);
        return rc;
    }
    free(looked);
    /* CPython 3.8 points this thread's alternate signal stack at
     * faulthandler's buffer during init and frees the buffer when it
     * finalises, possibly from another thread, leaving this thread with a
     * dangling sigaltstack. Keep the host's own. */
    stack_t host_altstack;
    bool have_altstack = sigaltstack(NULL, &host_altstack) == 0;
    int rc = o->version >= 0x030e && pys__api.Py_InitializeFromInitConfig
                 ? init_pep741(o, d)
                 : init_legacy(o, d);
    if (have_altstack)
        sigaltstack(&host_altstack, NULL);
    if (rc != PYS_OK)
        return rc;
    if (!pys__api.Py_IsInitialized())
        return pys__diag_set(d, PYS_E_INIT, "Python did not initialise");
    *main_tstate = pys__api.PyEval_SaveThread();
    return PYS_OK;
}

void pys__py_init_free(void)
{
    if (w_program)
        pys__api.PyMem_RawFree(w_program);
    if (w_home)
        pys__api.PyMem_RawFree(w_home);
    w_program = w_home = NULL;
}
