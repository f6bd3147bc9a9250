/* The runtime: open (choose, load, initialise), close (flush, atexit,
 * finalise), facts about the loaded Python, and the public probe.
 *
 * One runtime per process: CPython keeps one main interpreter and cannot
 * be unloaded. The runtime object is static, so late calls through a stale
 * pointer read state CLOSED instead of freed memory. A runtime opened again
 * after a close reuses the same library (re-initialising CPython, or
 * re-attaching to it after skip_finalize); a different library is refused. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loader/choose.h"
#include "core/runtime.h"
#include "core/gate.h"
#include "core/watchdog.h"
#include "core/finalize.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/types.h"
#include "core/call.h"
#include "bridge/bridge.h"
#include "api/api.h"

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_epoch = 1; /* 64 bits: never wraps, so never repeats */

/* open_lock's holder, for a forked child (only the forking thread is
 * there): a lock held by a thread that is not is made free again. The
 * holder is written only under the lock. */
static pthread_t open_holder;
static bool open_held;

static void open_lock_take(void)
{
    pthread_mutex_lock(&open_lock);
    open_holder = pthread_self();
    open_held = true;
}

static void open_lock_give(void)
{
    open_held = false;
    pthread_mutex_unlock(&open_lock);
}

static void open_after_fork_child(void)
{
    if (open_held && !pthread_equal(open_holder, pthread_self())) {
        /* An open or close in progress on another thread: its thread is
         * not here, so the runtime stays as that left it (a close in
         * progress: closed for this process's calls). */
        open_held = false;
        pthread_mutex_init(&open_lock, NULL);
    }
}

static pthread_once_t open_fork_once = PTHREAD_ONCE_INIT;
static void open_fork_register(void)
{
    pthread_atfork(NULL, NULL, open_after_fork_child);
}
static bool main_ran; /* pys_main finalised Python: no runtime after it */

/* ---- open ------------------------------------------------------------------------ */

static void free_strings(pys_runtime *rt)
{
    free(rt->s_version);
    free(rt->s_library);
    free(rt->s_executable);
    free(rt->s_prefix);
    free(rt->s_base_prefix);
    free(rt->s_venv);
    free(rt->s_abiflags);
    rt->s_abiflags = NULL;
    free(rt->s_source);
    free(rt->bridge_module);
    rt->s_version = rt->s_library = rt->s_executable = rt->s_prefix = rt->s_base_prefix =
        rt->s_venv = rt->s_source = rt->bridge_module = NULL;
    pys__options_drop();
}

static char *sys_str(const char *name)
{
    PyObject *v = pys__api.PySys_GetObject(name); /* borrowed */
    if (!v || !pys__is(v, pys__api.PyUnicode_Type)) {
        pys__api.PyErr_Clear();
        return pys__strdup("");
    }
    const char *u = pys__api.PyUnicode_AsUTF8AndSize(v, NULL);
    if (!u) {
        pys__api.PyErr_Clear();
        return pys__strdup("");
    }
    return pys__strdup(u);
}

/* Sets sys.argv (NULL or empty: [""]). GIL held. PYS_OK, or the error
 * set for fn. */
static int argv_set(pys_runtime *rt, const char *const *argv, const char *fn)
{
    int rc = PYS_OK;
    PyObject *list = pys__api.PyList_New(0);
    for (size_t i = 0; list && argv && argv[i]; i++) {
        PyObject *s = pys__api.PyUnicode_DecodeUTF8(argv[i], (Py_ssize_t)strlen(argv[i]),
                                                    "surrogateescape");
        if (!s || pys__api.PyList_Append(list, s) < 0) {
            pys__api.Py_DecRef(s);
            pys__api.Py_DecRef(list);
            list = NULL;
            break;
        }
        pys__api.Py_DecRef(s);
    }
    if (list && pys__api.PyList_Size(list) == 0) {
        PyObject *empty = pys__api.PyUnicode_FromString("");
        pys__api.PyList_Append(list, empty);
        pys__api.Py_DecRef(empty);
    }
    if (!list || pys__api.PySys_SetObject("argv", list) < 0)
        rc = pys__fail_py(rt, fn);
    pys__api.Py_DecRef(list);
    return rc;
}

int pys_set_argv(pys_runtime *rt, const char *const *argv)
{
    if (!pys__begin(rt, __func__))
        return pys_last_error()->code;
    int rc = argv_set(rt, argv, __func__);
    pys__end(rt);
    return rc;
}

/* Where this build keeps ob_type: the offset at which three objects of
 * different known types all point to their type, or 0. GIL held. */
static size_t find_type_off(void)
{
    PyObject *objs[3] = {pys__api.PyLong_FromLongLong(1 << 20), pys__api.PyFloat_FromDouble(0.5),
                         pys__api.PyUnicode_FromString("pyshim")};
    void *types[3] = {pys__api.PyLong_Type, pys__api.PyFloat_Type, pys__api.PyUnicode_Type};
    static const size_t offs[] = {sizeof(void *), 3 * sizeof(void *)};
    size_t found = 0;
    for (size_t k = 0; k < sizeof offs / sizeof offs[0] && !found; k++) {
        bool all = true;
        for (size_t i = 0; i < 3; i++)
            all = all && objs[i] && *(void **)(void *)((char *)objs[i] + offs[k]) == types[i];
        if (all)
            found = offs[k];
    }
    for (size_t i = 0; i < 3; i++)
        pys__api.Py_DecRef(objs[i]);
    pys__api.PyErr_Clear();
    return found;
}

/* With the GIL held right after initialisation: cache objects and facts. */
static int post_init(pys_runtime *rt, const pys_options *o)
{
    PyObject *main = pys__api.PyImport_AddModule("__main__"); /* borrowed */
    if (!main)
        return pys__fail_py(rt, "pys_open");
    rt->main_dict = pys__api.PyModule_GetDict(main);
    pys__api.Py_IncRef(rt->main_dict);
    rt->builtins = pys__api.PyImport_ImportModule("builtins");
    if (!rt->builtins)
        return pys__fail_py(rt, "pys_open");
    rt->exc_timeout = pys__api.PyErr_NewExceptionWithDoc(
        "pyshim.DeadlineExceeded",
        "Raised by pyshim in Python code that ran past its deadline. Derives from "
        "BaseException so that `except Exception` does not swallow it.",
        PYS__EXC(BaseException), NULL);
    rt->exc_interrupt = pys__api.PyErr_NewExceptionWithDoc(
        "pyshim.Interrupted", "Raised by pys_interrupt() in the Python code being run.",
        PYS__EXC(BaseException), NULL);
    if (!rt->exc_timeout || !rt->exc_interrupt)
        return pys__fail_py(rt, "pys_open");
    rt->type_off = find_type_off();
    /* The main thread state (the oldest): it lives until finalisation, so
     * core/gate.c may keep it attached between calls. */
    rt->first_tstate = NULL;
    for (PyThreadState *ts = pys__api.PyInterpreterState_ThreadHead(
             pys__api.PyInterpreterState_Main());
         ts; ts = pys__api.PyThreadState_Next(ts))
        rt->first_tstate = ts;
    /* A free-threaded build says so in sys.abiflags ("t"), a debug one
     * with "d". */
    rt->s_abiflags = sys_str("abiflags");
    if (rt->s_abiflags && strchr(rt->s_abiflags, 't'))
        rt->free_threaded = true;
    if (rt->s_abiflags && strchr(rt->s_abiflags, 'd'))
        rt->debug = true;
    /* Whether the GIL is really off: a free-threaded build re-enables it
     * for PYTHON_GIL=1 or an extension that is not marked safe. */
    rt->gil_enabled = 1;
    PyObject *sys_mod = pys__api.PyImport_ImportModule("sys");
    PyObject *fn = sys_mod ? pys__api.PyObject_GetAttrString(sys_mod, "_is_gil_enabled") : NULL;
    PyObject *res = fn ? pys__api.PyObject_CallNoArgs(fn) : NULL;
    if (res)
        rt->gil_enabled = pys__api.PyObject_IsTrue(res) != 0;
    pys__api.Py_DecRef(res);
    pys__api.Py_DecRef(fn);
    pys__api.Py_DecRef(sys_mod);
    pys__api.PyErr_Clear();
    /* The watchdog of a free-threaded build reads other threads' frames
     * through sys._current_frames (core/watchdog.c): the real one, taken now,
     * before any of the application's Python code ran. */
    rt->current_frames = NULL;
    if (rt->free_threaded) {
        rt->current_frames = pys__api.PySys_GetObject("_current_frames"); /* borrowed */
        if (rt->current_frames)
            pys__api.Py_IncRef(rt->current_frames);
        pys__api.PyErr_Clear();
    }
    atomic_store(&rt->tb_format, NULL); /* imported with the first traceback (error.c) */
    rt->s_executable = sys_str("executable");
    rt->s_prefix = sys_str("prefix");
    rt->s_base_prefix = sys_str("base_prefix");
    rt->s_version = pys__strdup(pys__api.Py_GetVersion());
    return argv_set(rt, o->argv, "pys_open");
}

/* ro's logger's line (no runtime exists yet). */
static void prepare_log(const pys_options *ro, pys_log_level level, const char *fmt, ...)
    PYS__PRINTF(3, 4);
static void prepare_log(const pys_options *ro, pys_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pys__vlog(ro->logger, ro->logger_userdata, level, fmt, ap);
    va_end(ap);
}

/* Chooses and loads the Python for the resolved options *ro (pys_open,
 * pys_main); *ch is always initialised (free with pys__choice_free). A
 * Python newer than the tested range is refused with refuse_untested, else
 * loaded with a warning. Errors are in d. */
static int choose_python(const pys_options *ro, pys__choice *ch, pys__diag *d)
{
    pys__choose_in in = {
        .probe = pys__probe_opts_of(ro),
        .uv_project = ro->uv_project,
        .dependencies = ro->dependencies,
        .find_links = ro->find_links,
        .index_url = ro->index_url,
        .no_index = ro->no_index,
        .install_signal_handlers = ro->install_signal_handlers,
        .utf8_mode = ro->utf8_mode,
        .coerce_c_locale = ro->coerce_c_locale,
    };
    int rc = pys__choose(&in, ch, d);
    if (rc == PYS_OK)
        rc = pys__choice_load(ch, ro->refuse_untested, d);
    if (rc == PYS_OK && ch->li.untested)
        prepare_log(ro, PYS_LOG_WARN,
                    "Python %d.%d is an untested version (newer than the tested range 3.%d to "
                    "3.%d); every required C-API symbol resolved, so it is loaded; set "
                    "refuse_untested / PYSHIM_REFUSE_UNTESTED=1 to refuse it",
                    ch->li.version >> 8, ch->li.version & 0xff, PYS__MIN_MINOR, PYS__MAX_MINOR);
    return rc;
}

/* Takes open_lock and marks the runtime OPENING, or refuses (PYS_E_STATE,
 * error set, lock not held). */
static int open_enter(pys_runtime *rt)
{
    pthread_once(&open_fork_once, open_fork_register);
    open_lock_take();
    int rc = PYS_OK;
    if (atomic_load(&rt->state) != PYS__ST_CLOSED)
        rc = pys__fail("pys_open", PYS_E_STATE,
                       "pys_open: a runtime is already open in this process "
                       "(CPython allows one; close it first)");
    else if (pys__threads_reopen_check("pys_open") != PYS_OK)
        rc = PYS_E_STATE;
    else if (main_ran)
        rc = pys__fail("pys_open", PYS_E_STATE,
                       "pys_open: pys_main ran Python to its end in this process");
    if (rc != PYS_OK) {
        open_lock_give();
        return rc;
    }
    atomic_store(&rt->state, PYS__ST_OPENING);
    pys__threads_init();
    return PYS_OK;
}

/* Fills the runtime from the choice once CPython is initialised, and sets
 * up what lives in Python (post_init, thread records, bridge, policy) with
 * the GIL held. main_ts: the main thread state, NULL when inherited. On
 * failure the error is set. */
static int open_fill(pys_runtime *rt, const pys_options *ro, const pys__choice *ch,
                     PyThreadState *main_ts)
{
    rt->version = ch->li.version;
    rt->micro = ch->li.micro;
    rt->free_threaded = ch->free_threaded;
    rt->debug = ch->debug;
    rt->untested = ch->li.untested;
    rt->locking = rt->free_threaded || pys__force_locking;
    rt->finalize = !ro->skip_finalize;
    rt->fork_no_finalize = false;
    if (main_ts)
        rt->main_tstate = main_ts;
    rt->opener = pthread_self();
    rt->logger = ro->logger;
    rt->logger_ud = ro->logger_userdata;
    rt->s_library = pys__strdup(ch->library);
    rt->s_venv = pys__strdup(ch->venv ? ch->venv : "");
    rt->s_source = pys__strdup(pys__source_name(ch->lib->source));
    rt->bridge_module = pys__strdup(ro->bridge_module);
    rt->ht.epoch = next_epoch++;
    rt->opens++;
    rt->tstate_now = pys__api.PyThreadState_GetUnchecked ? pys__api.PyThreadState_GetUnchecked
                                                         : pys__api._PyThreadState_UncheckedGet;
    pthread_mutex_init(&rt->lock, NULL);

    int gs = pys__api.PyGILState_Ensure();
    int rc = post_init(rt, ro);
    pys__sig_open_after();
    if (rc == PYS_OK)
        pys__threads_open(rt);
    if (rc == PYS_OK)
        rc = pys__bridge_open(rt, ro);
    if (rc == PYS_OK)
        pys__policy_open(rt, ro);
    pys__api.PyGILState_Release(gs);
    return rc;
}

/* Makes the filled runtime the open one. */
static void open_publish(pys_runtime *rt)
{
    rt->info = (pys_info){
        .major = rt->version >> 8,
        .minor = rt->version & 0xff,
        .micro = rt->micro,
        .free_threaded = rt->free_threaded,
        .version = rt->s_version ? rt->s_version : "",
        .library = rt->s_library ? rt->s_library : "",
        .executable = rt->s_executable ? rt->s_executable : "",
        .prefix = rt->s_prefix ? rt->s_prefix : "",
        .base_prefix = rt->s_base_prefix ? rt->s_base_prefix : "",
        .venv = rt->s_venv ? rt->s_venv : "",
        .source = rt->s_source ? rt->s_source : "",
        .debug = rt->debug,
        .abiflags = rt->s_abiflags ? rt->s_abiflags : "",
        .gil_enabled = rt->gil_enabled,
        .untested = rt->untested,
    };
    atomic_store(&rt->inflight, 0);
    rt->locking = rt->free_threaded || pys__force_locking;
    atomic_store(&rt->state, PYS__ST_OPEN);
    atomic_store(&pys__current, rt);
}

int pys_open(const pys_options *opts, pys_runtime **out)
{
    if (!out)
        return pys__fail(__func__, PYS_E_ARG, "pys_open: out is NULL");
    *out = NULL;
    if (pys__tls_get()->gil_depth > 0)
        return pys__fail(__func__, PYS_E_STATE, "pys_open: called inside a pyshim call or batch");
    pys_options ro;
    pys__options_resolve(opts, &ro);
    if (pys__bridge_check(&ro) != PYS_OK)
        return pys_last_error()->code;
    pys_runtime *rt = &pys__the_runtime;
    int rc = open_enter(rt);
    if (rc != PYS_OK)
        return rc;

    /* From here on only the runtime's own copy of the options is used. */
    pys__diag d = {0};
    pys__choice ch = {0};
    PyThreadState *main_ts = NULL;
    bool was_init = false;
    free_strings(rt);
    if ((rc = pys__options_keep(&ro)) != PYS_OK)
        goto done;
    rc = choose_python(pys__options_kept(), &ch, &d);
    if (rc == PYS_OK && rt->finalises > 0 && !pys__api.Py_IsInitialized() &&
        (rc = pys__reinit_check(__func__, ch.li.version, ch.li.micro)) != PYS_OK)
        goto done;
    if (rc == PYS_OK) {
        pys__sig_open_before();
        rc = pys__py_init(&ch.init, &main_ts, &was_init, &d);
    }
    if (rc != PYS_OK) {
        pys__fail_diag(__func__, &d);
        goto done;
    }
    if ((rc = open_fill(rt, pys__options_kept(), &ch, was_init ? NULL : main_ts)) != PYS_OK)
        goto done;
    open_publish(rt);

done:
    if (rc != PYS_OK) {
        free_strings(rt);
        atomic_store(&rt->state, PYS__ST_CLOSED);
    }
    open_lock_give();
    pys__choice_free(&ch);
    pys__diag_free(&d);
    if (rc != PYS_OK)
        return rc;
    pys__log(rt, PYS_LOG_INFO, "loaded Python %d.%d.%d%s from %s (%s)", rt->info.major,
             rt->info.minor, rt->info.micro, rt->info.abiflags, rt->info.library,
             rt->info.source);
    *out = rt;
    return PYS_OK;
}

/* ---- the interpreter's own main ----------------------------------------------------- */

int pys_main(const pys_options *opts, int argc, char **argv, int *exit_status)
{
    if (!argv || !exit_status || argc < 1)
        return pys__fail(__func__, PYS_E_ARG, "pys_main: argv and exit_status are needed (argc >= 1)");
    pys_options ro;
    pys__options_resolve(opts, &ro);
    open_lock_take();
    pys_runtime *rt = &pys__the_runtime;
    if (atomic_load(&rt->state) != PYS__ST_CLOSED || main_ran) {
        open_lock_give();
        return pys__fail(__func__, PYS_E_STATE,
                         "pys_main: a runtime is open, or Python already ran, in this process");
    }
    /* Opening: a concurrent pys_open is refused while Python runs. */
    atomic_store(&rt->state, PYS__ST_OPENING);
    open_lock_give();
    pys__diag d = {0};
    pys__choice ch = {0};
    int rc = choose_python(&ro, &ch, &d);
    if (rc == PYS_OK)
        prepare_log(&ro, PYS_LOG_INFO, "running Python %d.%d.%d%s%s from %s (%s) as %s",
                    ch.li.version >> 8, ch.li.version & 0xff, ch.li.micro,
                    ch.free_threaded ? "t" : "", ch.debug ? "d" : "", ch.library,
                    pys__source_name(ch.lib->source), ch.init.executable);
    if (rc == PYS_OK) {
        rc = pys__py_main(&ch.init, argc, argv, exit_status, &d);
        main_ran = rc == PYS_OK;
    }
    if (rc != PYS_OK)
        pys__fail_diag(__func__, &d);
    pys__diag_free(&d);
    pys__choice_free(&ch);
    atomic_store(&rt->state, PYS__ST_CLOSED);
    return rc;
}

/* ---- close ------------------------------------------------------------------------ */

/* Flushes sys.stdout and sys.stderr. Returns NULL, or a malloc'd
 * description of the first failure ("sys.stdout: OSError: ..."). */
static char *flush_std(void)
{
    static const char *const names[] = {"stdout", "stderr"};
    char *failure = NULL;
    for (size_t i = 0; i < 2; i++) {
        PyObject *f = pys__api.PySys_GetObject(names[i]); /* borrowed */
        if (!f || f == PYS__None)
            continue;
        PyObject *flush = pys__api.PyObject_GetAttrString(f, "flush");
        PyObject *r = flush ? pys__call3(flush, NULL, NULL, NULL) : NULL;
        pys__api.Py_DecRef(r);
        pys__api.Py_DecRef(flush);
        if (!pys__api.PyErr_Occurred())
            continue;
        PyObject *t = NULL, *v = NULL, *tb = NULL;
        pys__api.PyErr_Fetch(&t, &v, &tb);
        pys__api.PyErr_NormalizeException(&t, &v, &tb);
        if (!failure) {
            PyObject *tn = t ? pys__api.PyObject_GetAttrString(t, "__name__") : NULL;
            PyObject *vs = v ? pys__api.PyObject_Str(v) : NULL;
            const char *tns = tn ? pys__api.PyUnicode_AsUTF8AndSize(tn, NULL) : NULL;
            const char *vss = vs ? pys__api.PyUnicode_AsUTF8AndSize(vs, NULL) : NULL;
            failure = pys__asprintf("sys.%s: %s: %s", names[i], tns ? tns : "exception",
                                    vss ? vss : "");
            pys__api.Py_DecRef(tn);
            pys__api.Py_DecRef(vs);
        }
        PyObject *drop[] = {t, v, tb};
        for (size_t k = 0; k < 3; k++)
            pys__api.Py_DecRef(drop[k]);
        pys__api.PyErr_Clear();
    }
    return failure;
}

int pys_close(pys_runtime *rt)
{
    if (rt != &pys__the_runtime)
        return pys__rt_fail(rt, __func__);
    if (pys__tls_get()->gil_depth > 0)
        return pys__fail(__func__, PYS_E_STATE,
                         "pys_close: called inside a pyshim call or batch on this thread");
    open_lock_take();
    int expect = PYS__ST_OPEN;
    if (!atomic_compare_exchange_strong(&rt->state, &expect, PYS__ST_CLOSING)) {
        open_lock_give();
        return pys__fail(__func__, PYS_E_CLOSED, "pys_close: the runtime is not open");
    }
    /* Let calls in progress finish; new ones see CLOSING and fail. Python
     * code they are running is interrupted (they return PYS_E_INTERRUPTED);
     * batches are waited for. Then the watchdog stops (core/watchdog.c). */
    pys__threads_closing(rt);
    for (unsigned long spins = 1; pys__threads_in_flight(rt) > 0; spins++) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        if (spins % 25000 == 0)
            pys__log(rt, PYS_LOG_WARN,
                     "pys_close: still waiting for %ld call(s) or batch(es) on other threads",
                     pys__threads_in_flight(rt));
    }
    pys__watchdog_stop(rt);
    int gs = pys__api.PyGILState_Ensure();
    pys__close_steps(rt);
    char *flush_failure = flush_std();
    pys__h_clear(rt);
    pys__cc_clear(rt);
    PyObject **cached[] = {&rt->main_dict, &rt->builtins, &rt->exc_timeout, &rt->exc_interrupt,
                           &rt->current_frames};
    for (size_t i = 0; i < sizeof cached / sizeof cached[0]; i++) {
        if (*cached[i])
            pys__api.Py_DecRef(*cached[i]);
        *cached[i] = NULL;
    }
    pys__errors_close();
    PyObject *tb_format = atomic_exchange(&rt->tb_format, NULL);
    pys__api.Py_DecRef(tb_format);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    int rc = PYS_OK;
    /* Which thread state finalises. CPython 3.13+ finalises on its main
     * thread state whatever thread calls, and deletes the state it was
     * called on (3.13t then crashed flushing sys.stdout, the GIL builds ran
     * on freed memory), so from 3.13 the closing thread attaches the main
     * state, once its own is given back (deleted if Ensure made it, kept
     * if pyshim keeps it: finalisation frees kept ones). CPython still
     * binds the main state to the opener's GILState there: release builds
     * accept that; debug builds assert it, so a debug build closed on
     * another thread does not finalise (as with skip_finalize) and says
     * so. The opener attaches it on every version. 3.8-3.12 finalise on
     * Ensure's state on other threads, which they expect. Without a main
     * state of ours (inherited from an earlier runtime that skipped
     * finalisation, or deleted by a fork), Ensure's state is used.
     *
     * (Giving the opener a state of its own at open, so that the main one
     * is nobody's, would satisfy the debug builds, but 3.13+ posts signals
     * to the main state: the opener's Python handlers would not run.) */
    if (rt->fork_no_finalize && rt->finalize) {
        rt->finalize = false;
        pys__log(rt, PYS_LOG_INFO,
                 "pys_close: in a child of os.fork() made on a thread other than the opener, "
                 "CPython %d.%d cannot finalise (the fork deleted its main thread state); "
                 "closing without finalising Python (atexit handlers do not run)",
                 rt->version >> 8, rt->version & 0xff);
    }
    bool on_main = false;
    if (rt->main_tstate) {
        on_main = pys__api.PyGILState_GetThisThreadState() == rt->main_tstate;
        if (!on_main && rt->finalize && rt->version >= 0x030d) {
            if (rt->debug) {
                rt->finalize = false;
                pys__log(rt, PYS_LOG_WARN,
                         "pys_close: a debug build of CPython %d.%d asserts when it is finalised "
                         "on a thread other than the one that opened it; closing without "
                         "finalising Python (atexit handlers do not run; the next pys_open "
                         "attaches again)",
                         rt->version >> 8, rt->version & 0xff);
            } else {
                on_main = true;
            }
        }
    }
    if (rt->finalize) {
        if (on_main) {
            pys__api.PyGILState_Release(gs);
            pys__api.PyEval_RestoreThread(rt->main_tstate);
        }
        pys__threads_before_finalize(rt);
        rt->finalises++;
        pys__sig_close_before();
        if (pys__api.Py_FinalizeEx() < 0 && !flush_failure)
            flush_failure = pys__strdup("Py_FinalizeEx could not flush sys.stdout or sys.stderr");
        pys__sig_close_after();
        pys__threads_after_finalize(rt);
        rt->main_tstate = NULL;
        pys__py_init_free();
    } else {
        pys__sig_close_keep();
        pys__api.PyGILState_Release(gs);
    }
    if (flush_failure) {
        rc = pys__fail(__func__, PYS_E_PYTHON,
                       "pys_close: buffered output was lost: %s (the runtime is closed)",
                       flush_failure);
        free(flush_failure);
    }
    atomic_store(&pys__current, NULL);
    free_strings(rt);
    rt->info = (pys_info){0};
    pthread_mutex_destroy(&rt->lock);
    atomic_store(&rt->state, PYS__ST_CLOSED);
    open_lock_give();
    return rc;
}

pys_runtime *pys_runtime_current(void)
{
    return atomic_load(&pys__current);
}

int pys_get_info(pys_runtime *rt, pys_info *out)
{
    if (!rt || !out)
        return pys__fail(__func__, PYS_E_ARG, "pys_get_info: NULL argument");
    if (!pys__rt_live(rt))
        return pys__fail(__func__, PYS_E_CLOSED, "pys_get_info: the runtime is not open");
    *out = rt->info;
    return PYS_OK;
}
