/* Initialising CPython without its headers.
 *
 * The strings handed to the setters are our own malloc copies: whatever
 * Py_DecodeLocale allocated is freed at once, with the allocator that made
 * it, because pre-initialisation may switch the raw allocator
 * (PYTHONMALLOC=debug, PYTHONDEVMODE) and freeing across that aborts.
 *
 * Design notes: docs/internals.md, "src/loader/init.c". */
#include "loader/init.h"

#include <locale.h>
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

/* Py_DecodeLocale into a malloc'd copy (see the top of the file). */
static wchar_t *decode(const char *s)
{
    wchar_t *py = pys__api.Py_DecodeLocale(s, NULL);
    if (!py)
        return NULL;
    size_t n = wcslen(py) + 1;
    wchar_t *own = malloc(n * sizeof *own);
    if (own)
        memcpy(own, py, n * sizeof *own);
    pys__api.PyMem_RawFree(py);
    return own;
}

/* Pre-initialises with the Python configuration's defaults (what `python`
 * does before reading its command line), plus the caller's choices. */
static int preinit_legacy(const pys__init_opts *o, pys__diag *d)
{
    PyPreConfig pre;
    memset(&pre, 0, sizeof pre);
    pys__api.PyPreConfig_InitPythonConfig(&pre);
    /* The documented defaults of the Python pre-configuration: anything
     * else means a layout this file does not know. */
    static const int expect[][2] = {
        {PYS__PRE_PARSE_ARGV, 1},       {PYS__PRE_ISOLATED, 0},
        {PYS__PRE_USE_ENVIRONMENT, 1},  {PYS__PRE_CONFIGURE_LOCALE, 1},
        {PYS__PRE_COERCE_C_LOCALE, -1}, {PYS__PRE_COERCE_C_LOCALE_WARN, -1},
        {PYS__PRE_UTF8_MODE, -1},       {PYS__PRE_DEV_MODE, -1},
        {PYS__PRE_ALLOCATOR, 0},
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        if (pre.f[expect[i][0]] != expect[i][1])
            return pys__diag_set(d, PYS_E_UNSUPPORTED,
                                 "Python %d.%d: PyPreConfig has an unknown layout (field %d is "
                                 "%d, expected %d)",
                                 o->version >> 8, o->version & 0xff, expect[i][0],
                                 pre.f[expect[i][0]], expect[i][1]);
    pre.f[PYS__PRE_PARSE_ARGV] = 0;
    if (o->utf8_mode)
        pre.f[PYS__PRE_UTF8_MODE] = o->utf8_mode > 0;
    if (o->coerce_c_locale) {
        pre.f[PYS__PRE_COERCE_C_LOCALE] = o->coerce_c_locale > 0;
        pre.f[PYS__PRE_COERCE_C_LOCALE_WARN] = 0;
    }
    PyStatus st = pys__api.Py_PreInitialize(&pre);
    if (pys__api.PyStatus_Exception(st))
        return pys__diag_set(d, PYS_E_INIT, "Python pre-initialisation failed: %s%s%s",
                             st.func ? st.func : "", st.func ? ": " : "",
                             st.err_msg ? st.err_msg : "exit requested");
    return PYS_OK;
}

static int init_legacy(const pys__init_opts *o, pys__diag *d)
{
    if (!pys__api.Py_SetProgramName)
        return pys__diag_set(d, PYS_E_SYMBOL,
                             "Python %d.%d has neither Py_SetProgramName nor PyInitConfig",
                             o->version >> 8, o->version & 0xff);
    if (o->home && !pys__api.Py_SetPythonHome)
        return pys__diag_set(d, PYS_E_SYMBOL, "Py_SetPythonHome is missing");
    int rc = preinit_legacy(o, d);
    if (rc != PYS_OK)
        return rc;
    w_program = decode(o->executable);
    if (!w_program)
        return pys__diag_set(d, PYS_E_INIT, "cannot decode the program name %s", o->executable);
    pys__api.Py_SetProgramName(w_program);
    if (o->home) {
        w_home = decode(o->home);
        if (!w_home)
            return pys__diag_set(d, PYS_E_INIT, "cannot decode the home %s", o->home);
        pys__api.Py_SetPythonHome(w_home);
    }
    pys__api.Py_InitializeEx(o->install_signal_handlers ? 1 : 0);
    return PYS_OK;
}

/* UTF-8 mode as the Python configuration decides it (PEP 540, and PEP
 * 686 from 3.15), for PyInitConfig: its isolated defaults fix the mode and
 * take no "decide yourself" value. PYTHONUTF8 decides first; else 3.15+
 * turns it on, and older versions turn it on in the C or POSIX locale, the
 * LC_CTYPE one the environment selects (CPython's pre-initialisation sets
 * it the same way, and gives the process's own back afterwards). */
static int default_utf8_mode(const pys__init_opts *o)
{
    const char *env = getenv("PYTHONUTF8");
    if (env && strcmp(env, "1") == 0)
        return 1;
    if (env && strcmp(env, "0") == 0)
        return 0;
    if (o->version >= 0x030f)
        return 1;
    const char *cur = setlocale(LC_CTYPE, NULL);
    char *saved = cur ? strdup(cur) : NULL;
    const char *loc = setlocale(LC_CTYPE, "");
    int on = loc && (strcmp(loc, "C") == 0 || strcmp(loc, "POSIX") == 0);
    if (saved)
        setlocale(LC_CTYPE, saved);
    free(saved);
    return on;
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
    /* PEP 538/540 as `python` has them, unless the caller chose. */
    rc |= pys__api.PyInitConfig_SetInt(c, "configure_locale", 1);
    rc |= pys__api.PyInitConfig_SetInt(c, "coerce_c_locale", o->coerce_c_locale >= 0);
    rc |= pys__api.PyInitConfig_SetInt(c, "coerce_c_locale_warn", 0);
    rc |= pys__api.PyInitConfig_SetInt(c, "utf8_mode",
                                       o->utf8_mode ? o->utf8_mode > 0 : default_utf8_mode(o));
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

/* The checks before CPython could exit() the process. */
static int check_stdlib(const pys__init_opts *o, pys__diag *d)
{
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
    int rc = check_stdlib(o, d);
    if (rc != PYS_OK)
        return rc;
    /* CPython 3.8 points this thread's alternate signal stack at
     * faulthandler's buffer during init and frees the buffer when it
     * finalises, possibly from another thread, leaving this thread with a
     * dangling sigaltstack. Keep the host's own. */
    stack_t host_altstack;
    bool have_altstack = sigaltstack(NULL, &host_altstack) == 0;
    rc = o->version >= 0x030e && pys__api.Py_InitializeFromInitConfig
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

int pys__py_main(const pys__init_opts *o, int argc, char **argv, int *status, pys__diag *d)
{
    if (pys__api.Py_IsInitialized())
        return pys__diag_set(d, PYS_E_STATE,
                             "Python is already initialised in this process; its main cannot run");
    int rc = check_stdlib(o, d);
    if (rc != PYS_OK)
        return rc;
    /* Python finds its prefix from the interpreter it is told it is, as
     * `python` does; only an install without one (a bare library) needs
     * the home we found, where the setter still exists. */
    if (o->home && !pys__is_file(o->executable) && pys__api.Py_SetPythonHome) {
        w_home = decode(o->home);
        if (!w_home)
            return pys__diag_set(d, PYS_E_INIT, "cannot decode the home %s", o->home);
        pys__api.Py_SetPythonHome(w_home);
    }
    char **args = calloc((size_t)(argc > 1 ? argc : 1) + 1, sizeof *args);
    if (!args)
        return pys__diag_set(d, PYS_E_NOMEM, "out of memory");
    args[0] = (char *)o->executable;
    for (int i = 1; i < argc; i++)
        args[i] = argv[i];
    *status = pys__api.Py_BytesMain(argc > 1 ? argc : 1, args);
    free(args);
    free(w_home);
    w_home = NULL;
    return PYS_OK;
}

void pys__py_init_free(void)
{
    free(w_program);
    free(w_home);
    w_program = w_home = NULL;
}
