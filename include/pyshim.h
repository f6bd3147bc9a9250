/* pyshim — run CPython in-process without linking libpython.
 *
 * One binary finds a CPython 3.8 ... 3.14 at run time, dlopens it, and offers
 * this small handle-based API. Conventions that hold for every function:
 *
 * - Status-returning calls return PYS_OK (0) or a negative PYS_E_* code.
 *   Handle-returning calls return a new, owned handle, or the invalid handle
 *   (id 0, pys_ok() false) on failure. Release owned handles with
 *   pys_release(); they are also released by pys_scope_end() and pys_close().
 * - Every failure sets the calling thread's error detail (pys_last_error()).
 *   A Python exception never stays pending after a call returns.
 * - Thread safety: every function may be called from any thread after
 *   pys_open() (the GIL is taken and given back inside the call), unless its
 *   comment says otherwise.
 * - Borrowed `const char *` results are valid until the handle they came
 *   from is released (or, for error text, until this thread's next failing
 *   call). A `char *` or `void *` result that the comment calls malloc'd
 *   is the caller's: free() it.
 * - The common errors. Beyond the codes its comment names, a call can give:
 *   given a pys_runtime *, PYS_E_ARG when it is NULL or not the runtime and
 *   PYS_E_CLOSED when the runtime is not open (closed, or closing on
 *   another thread); given handles, PYS_E_HANDLE for a released, stale or
 *   never-issued one and PYS_E_CLOSED when no runtime is open; returning a
 *   new handle, PYS_E_NOMEM when the handle table is full or memory runs
 *   out; running Python code (every call, conversion, attribute or item
 *   access may run some), PYS_E_PYTHON when it raises (the exception's
 *   type, message and traceback in pys_last_error()), PYS_E_EXIT when it
 *   raises SystemExit (the host never exits) and PYS_E_TIMEOUT or
 *   PYS_E_INTERRUPTED when this thread's deadline expires or it is
 *   interrupted (pyshim_threads.h; also a KeyboardInterrupt, or pys_close
 *   on another thread). A required pointer argument that is NULL is
 *   PYS_E_ARG. "Errors: common" below means these and no others.
 */
#ifndef PYSHIM_H
#define PYSHIM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(PYS_BUILDING)
#define PYS_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define PYS_API __attribute__((visibility("default")))
#else
#define PYS_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define PYS_VERSION_MAJOR 0
#define PYS_VERSION_MINOR 1
#define PYS_VERSION_PATCH 0

/* ======================================================================= */
/* Errors                                                                  */
/* ======================================================================= */

/* X(name, value, text): the one list of result codes. */
#define PYS_ERRNO_MAP(X)                                                        \
    X(OK, 0, "success")                                                         \
    X(E_ARG, -1, "invalid argument")                                           \
    X(E_HANDLE, -2, "invalid, released or stale handle")                       \
    X(E_CLOSED, -3, "the runtime is not open")                                 \
    X(E_STATE, -4, "not allowed in the current state")                         \
    X(E_NOTFOUND, -5, "no suitable Python was found")                          \
    X(E_LOAD, -6, "libpython could not be loaded")                             \
    X(E_SYMBOL, -7, "a required C-API symbol is missing")                      \
    X(E_INIT, -8, "Python initialisation failed")                              \
    X(E_PYTHON, -9, "Python raised an exception")                              \
    X(E_TYPE, -10, "wrong Python type")                                        \
    X(E_OVERFLOW, -11, "value out of range")                                   \
    X(E_VALUE, -12, "invalid value")                                           \
    X(E_EXIT, -13, "Python raised SystemExit")                                 \
    X(E_TIMEOUT, -14, "deadline expired")                                      \
    X(E_INTERRUPTED, -15, "interrupted")                                       \
    X(E_NOMEM, -16, "out of memory")                                           \
    X(E_UNSUPPORTED, -17, "not supported by the loaded Python")                \
    X(E_DEPS, -18, "building the dependency environment failed")               \
    X(E_CANCELLED, -19, "cancelled")                                           \
    X(E_PENDING, -20, "not finished yet")                                      \
    X(E_INTERNAL, -21, "internal error")

enum {
#define PYS__ERRNO_ENUM(name, value, text) PYS_##name = value,
    PYS_ERRNO_MAP(PYS__ERRNO_ENUM)
#undef PYS__ERRNO_ENUM
};

/* What a SystemExit's code was (pys_error.exit_kind). */
typedef enum pys_exit_kind {
    PYS_EXIT_NONE = 0,    /* None (success), or the failure was no SystemExit */
    PYS_EXIT_INT = 1,     /* an int within int64_t: exit_value */
    PYS_EXIT_BIG_INT = 2, /* an int beyond int64_t: exit_value is its sign, -1 or 1 */
    PYS_EXIT_OTHER = 3,   /* any other object, e.g. a message: str(code) is the message */
} pys_exit_kind;

/* The detail of this thread's last failure. Strings are never NULL (empty
 * when not applicable) and stay valid until this thread's next failing call.
 * `searched` lists the places tried when a Python could not be found.
 * Fields are only ever appended: a program built against an older header
 * reads the ones it knows. */
typedef struct pys_error {
    int code;              /* PYS_E_*, or PYS_OK when nothing failed yet */
    const char *context;   /* the call that failed, e.g. "pys_getattr" */
    const char *type;      /* Python exception type ("ValueError"), or "" */
    const char *message;   /* human readable message */
    const char *traceback; /* formatted Python traceback, or "" */
    const char *const *searched;
    size_t nsearched;
    /* code == PYS_E_EXIT: the status the OS would see had Python exited
     * with this SystemExit, as `python` itself exits: 0-255. None gives 0,
     * an int its value modulo 256 (so 256 gives 0 and -1 gives 255), an
     * int beyond a C long 255, anything else 1. 0 for other failures. To
     * tell what the code said, look at exit_kind and exit_value. */
    int exit_code;
    /* code == PYS_E_EXIT: SystemExit.code as Python has it (pys_exit_kind;
     * PYS_EXIT_NONE with exit_value 0 for other failures). By Python's
     * convention success is PYS_EXIT_NONE, or PYS_EXIT_INT with
     * exit_value 0: SystemExit(256) is a failure although its exit_code
     * is 0. */
    int exit_kind;
    int64_t exit_value;
} pys_error;

/* Returns this thread's last failure (never NULL; code PYS_OK when none).
 * Owned by pyshim; valid until this thread's next failing call.
 * Thread-safe (per thread). No errors.
 *
 * Tracebacks are formatted lazily. A failing call reads the exception's
 * type and message and keeps the exception itself (so objects its frames
 * refer to stay alive until this thread's next failure, pys_clear_error,
 * thread exit or pys_close); the first pys_last_error() after it formats
 * the traceback, entering the runtime as a call does (it may wait for the
 * GIL, runs the traceback module's own format_exception, imported the
 * first time (a replacement that Python code put in its place is never
 * called), and is subject to this thread's deadline and to pys_interrupt).
 * If that fails, a traceback without source lines is built from the
 * frames. The text is at most PYS_TRACEBACK_MAX_BYTES (a longer one
 * keeps its first quarter and its end, with a line saying what was left
 * out). If the runtime was closed first, the traceback reads "". Failing
 * calls thus cost no formatting; pys_last_error_brief() reads the rest of
 * the detail without formatting at all. */
PYS_API const pys_error *pys_last_error(void);
#define PYS_TRACEBACK_MAX_BYTES (1u << 20)
/* The same detail as pys_last_error(), but a traceback that is not
 * formatted yet reads "" (a later pys_last_error() still formats it): for
 * code that only looks at the code, type or message of a failure it
 * expects. Same ownership and thread safety. No errors. */
PYS_API const pys_error *pys_last_error_brief(void);
/* Clears this thread's error detail (pys_last_error() then reads code
 * PYS_OK; earlier detail pointers become invalid). Thread-safe (per
 * thread). No errors. */
PYS_API void pys_clear_error(void);
/* Sets this thread's error detail, as a failing pyshim call does: code
 * (a negative PYS_E_* code), context (the failing call, NULL for "") and
 * message (copied; NULL for pys_strerror(code)). For code layered on
 * pyshim (generated bindings, wrappers) that reports its own failures the
 * same way. Returns code, or PYS_E_ARG (detail set to say so) when code is
 * not a negative PYS_E_* code. Thread-safe (per thread); needs no runtime. */
PYS_API int pys_set_error(int code, const char *context, const char *message);
/* Returns static text for a code ("unknown error" for unknown codes),
 * never NULL; owned by pyshim, valid forever. Thread-safe; needs no
 * runtime. No errors. */
PYS_API const char *pys_strerror(int code);
/* Returns the code's name ("PYS_E_TYPE"; "PYS_E_UNKNOWN" for unknown
 * codes), never NULL; static, valid forever. Thread-safe; needs no runtime.
 * No errors. */
PYS_API const char *pys_err_name(int code);

/* ======================================================================= */
/* Runtime                                                                 */
/* ======================================================================= */

typedef struct pys_runtime pys_runtime;

/* A handle to a Python object: slot index + generation. id 0 is invalid;
 * every id is below 2^53 (a double, a JavaScript or Lua number, holds it
 * exactly), and no id is issued twice in a process, across pys_close and
 * pys_open too. */
typedef struct pys_obj {
    uint64_t id;
} pys_obj;

#ifdef __cplusplus
#define PYS_NULL (pys_obj{0})
#else
#define PYS_NULL ((pys_obj){0})
#endif

typedef enum pys_log_level {
    PYS_LOG_DEBUG = 0,
    PYS_LOG_INFO = 1,
    PYS_LOG_WARN = 2,
    PYS_LOG_ERROR = 3,
} pys_log_level;

/* Called for each log line; pyshim is silent without one. May be called
 * from any thread that calls into pyshim. */
typedef void (*pys_log_fn)(pys_log_level level, const char *msg, void *userdata);

struct pys_bridge_func; /* pyshim_bridge.h */

/* Options for pys_open. Zero-initialised means "default" for every field. */
typedef struct pys_options {
    const char *library_path;  /* explicit libpython; no search. Env: PYSHIM_LIBPYTHON */
    const char *python;        /* version pin "3.12", "3.12.4", "3.13t", "3.15d". Env:
                                * PYSHIM_PYTHON_VERSION */
    const char *venv;          /* a venv directory. Env: VIRTUAL_ENV */
    bool prefer_uv;            /* also search uv-managed Pythons, and build with uv */
    const char *uv_project;    /* a uv project dir: `uv sync`, then load its .venv */
    const char *const *dependencies; /* NULL-terminated requirements: cached venv */
    const char *const *find_links;   /* NULL-terminated extra wheel dirs for dependencies */
    const char *index_url;     /* package index for dependencies */
    bool no_index;             /* do not use any index for dependencies */
    bool skip_finalize;        /* pys_close leaves the interpreter initialised */
    bool install_signal_handlers; /* let Python install its signal handlers */
    /* PEP 540 UTF-8 mode: 0 = Python's default (on in the C/POSIX locale,
     * PYTHONUTF8 and -X utf8 decide otherwise), 1 = on, -1 = off. */
    int utf8_mode;
    /* PEP 538 locale coercion: 0 = Python's default (a C/POSIX LC_CTYPE
     * becomes C.UTF-8 unless PYTHONCOERCECLOCALE=0; this sets LC_CTYPE in
     * the process environment, as `python` does), 1 = on, -1 = off. */
    int coerce_c_locale;
    bool ignore_environment;   /* do not read the PYSHIM_* / VIRTUAL_ENV variables */
    const char *bridge_module; /* name of the C bridge module, default "c_bridge" */
    const struct pys_bridge_func *bridge_funcs; /* registered in bridge_module at open */
    size_t nbridge_funcs;      /* (copied; see pyshim_bridge.h) */
    const char *const *argv;   /* sys.argv (NULL-terminated); default [""] */
    const char *project_dir;   /* the nearest .python-version upward from here is a version
                                * request (the CLI passes its working directory) */
    bool project_venv;         /* use a .venv in project_dir or a parent when no environment
                                * is active, as `uv run` does */
    bool prefer_newest;        /* the newest supported Python found wins: no .python-version,
                                * no preference for the shell's interpreter (the old default) */
    /* Install the counting allocator that pys_policy_memory_limit needs
     * (pyshim_run.h). It wraps Python's allocators for good (they cannot
     * be unwrapped safely), and costs about 2-3% on allocation-heavy code
     * even with no cap in force, so it is opt-in. */
    bool memory_caps;
    pys_log_fn logger;
    void *logger_userdata;
    /* Refuse a Python newer than the tested range (3.8 to 3.15) instead of
     * loading it with the "untested version" mark. Env:
     * PYSHIM_REFUSE_UNTESTED=1 (any value but "0"). */
    bool refuse_untested;
} pys_options;

/* Finds, loads and initialises Python. On success *out is the runtime and
 * the GIL is released. Returns PYS_OK, or PYS_E_NOTFOUND (pys_last_error()
 * lists the places tried), PYS_E_ARG (bad options or pin), PYS_E_LOAD,
 * PYS_E_SYMBOL (names the symbol and version), PYS_E_INIT (names the path
 * it checked), PYS_E_DEPS, or PYS_E_STATE when a runtime is already open
 * (one per process) or a different libpython was loaded earlier in this
 * process, or when the last pys_close finalised Python while Python
 * threads were still running or (CPython 3.12.0-3.12.4) after an extension
 * module was imported (see pys_close), or PYS_E_NOMEM. The options
 * are copied (pys_get_options returns the copy, defaults filled in): the
 * caller's may be freed once pys_open returns. The runtime is owned by the
 * caller until pys_close().
 * Thread-safe against concurrent pys_open (one wins). */
PYS_API int pys_open(const pys_options *opts, pys_runtime **out);

/* Flushes sys.stdout/sys.stderr, runs atexit handlers and finalises Python
 * (unless skip_finalize), releasing every handle. Returns PYS_OK,
 * PYS_E_ARG (NULL), PYS_E_CLOSED (already closed), PYS_E_STATE (called
 * inside a pyshim call or batch), or PYS_E_PYTHON when buffered output
 * could not be written (flushing sys.stdout or sys.stderr raised, e.g. a
 * full disk or a closed pipe: the message names the stream and the error;
 * `python` exits 120 for this). After PYS_E_PYTHON the runtime is closed
 * all the same. The runtime pointer is invalid
 * afterwards. May be called from any thread, also while other threads are
 * calling: calls that start after it are refused (PYS_E_CLOSED); calls in
 * progress on other threads have the Python code they run interrupted
 * (they return PYS_E_INTERRUPTED, see pys_interrupt) and are waited for, as
 * are batches (pys_gil_acquire) held by other threads: a batch that is
 * never released makes pys_close wait forever.
 *
 * Threads left running: finalisation joins non-daemon Python threads but
 * leaves daemon threads (and threads started with _thread) blocked where
 * they are, their thread states freed; one that woke up in a Python
 * initialised again would crash the process. So after such a close,
 * pys_open fails with PYS_E_STATE while any of those threads still exists
 * (on 3.9-3.13 a daemon thread ends when it next wakes up; on 3.8 it stays
 * parked for good), and for good for a thread threading does not know
 * (started with _thread directly), whose end pyshim cannot see. End or
 * join such threads before pys_close, or use skip_finalize, to reopen.
 *
 * CPython 3.12.0 to 3.12.4 crash, once initialised again, when a function
 * of an extension module of their lib-dynload (_hashlib, _ssl, _struct,
 * math, select, _json...) imported before finalisation takes keyword
 * arguments (CPython gh-122334, fixed in 3.12.5). On those versions,
 * after a close that finalised once such a module was imported (hashlib,
 * ssl, asyncio, json and many more import one), pys_open fails with
 * PYS_E_STATE for the rest of the process; use skip_finalize to reopen.
 *
 * Signals: when it finalises, pys_close puts back the disposition that
 * each signal had before pys_open wherever Python changed it: its own
 * handlers set at initialisation (install_signal_handlers), and whatever
 * Python code set with signal.signal (a handler, SIG_IGN or SIG_DFL),
 * which finalisation would otherwise leave at SIG_DFL. A disposition the
 * host changed with sigaction while the runtime was open is kept. With
 * skip_finalize nothing is restored (Python stays initialised and its
 * handlers stay in force until a later close finalises).
 *
 * Fork: a child made by os.fork() (or multiprocessing's "fork" start
 * method) in Python code that pyshim runs has only the thread that forked,
 * as CPython has it (PyOS_AfterFork_Child). pyshim forgets the calls and
 * batches that other threads had in progress, so the child's calls,
 * deadlines, interrupts, new threads and pys_close work; the call that
 * forked goes on in the child with its deadline. Loops and background
 * calls of the parent have no thread in the child: pending futures read
 * as PYS_FUTURE_CANCELLED there (their callbacks are not called), new
 * submissions to the parent's loops fail (PYS_E_STATE), pys_loop_stop and
 * pys_future_free work, and new loops can be started. A child forked while
 * pys_close ran on another thread finds the runtime closed. A child made
 * by fork() called from C must not call pyshim (only exec or _exit):
 * CPython needs PyOS_BeforeFork/PyOS_AfterFork_* around such a fork, which
 * only code that holds the GIL can call; fork through os.fork instead. */
PYS_API int pys_close(pys_runtime *rt);

/* Runs the chosen Python as its own `python` command would run this
 * command line: argv[1..argc-1] are the interpreter's options and target
 * (-c CMD, -m MOD, FILE, -, or none for the REPL), parsed by CPython itself;
 * argv[0] is ignored (Python is told it is the install's or venv's
 * interpreter, which becomes sys.executable and sys.orig_argv[0]). Python's
 * signal handlers, `__main__`, sys.path[0], tracebacks through
 * sys.excepthook and exit statuses are exactly `python`'s; a
 * KeyboardInterrupt ends the process by SIGINT, as `python` does. The
 * options choose the Python (library_path, python, venv, prefer_uv,
 * uv_project, dependencies, ...) and the logger; the fields that configure
 * an embedded interpreter (argv, install_signal_handlers, utf8_mode,
 * coerce_c_locale, skip_finalize, bridge_*) are not used: the command line
 * and the environment decide, as for `python`.
 * Returns PYS_OK with *exit_status set when Python ran (0-255, also for a
 * failing program), or without running Python: PYS_E_ARG (NULL argv or
 * exit_status, argc < 1), PYS_E_STATE (a runtime is open or Python is
 * initialised in this process), or pys_open's errors for choosing and
 * loading. Usage errors, --version and --help are answered by CPython,
 * which may end the process itself, as `python` does. Python is finalised
 * when it returns; a later pys_open in this process is not supported.
 * Call it from the main thread; not thread-safe against pys_open. */
PYS_API int pys_main(const pys_options *opts, int argc, char **argv, int *exit_status);

/* The open runtime, or NULL when none is open. Owned by pyshim (the
 * pointer is the one pys_open gave). Thread-safe. No errors. */
PYS_API pys_runtime *pys_runtime_current(void);

/* Facts about the loaded Python. Strings are owned by the runtime and valid
 * until pys_close. Thread-safe. */
typedef struct pys_info {
    int major, minor, micro;
    bool free_threaded;
    const char *version;        /* Py_GetVersion() */
    const char *library;        /* the libpython file loaded */
    const char *executable;     /* sys.executable */
    const char *prefix;         /* sys.prefix */
    const char *base_prefix;    /* sys.base_prefix */
    const char *venv;           /* venv in use, or "" */
    const char *source;         /* "explicit", "venv", "path", ... */
    bool debug;                 /* a debug build (Py_DEBUG, ABI flag "d") */
    const char *abiflags;       /* sys.abiflags: "", "t", "d", "td" */
    int gil_enabled;            /* sys._is_gil_enabled() right after init: 0 or 1
                                   (always 1 on builds with a GIL) */
    bool untested;              /* newer than the tested range: loaded anyway */
} pys_info;

/* Returns PYS_OK and fills *out (its strings as pys_info says: owned by
 * the runtime, valid until pys_close), or PYS_E_ARG (NULL out, NULL or
 * foreign rt) / PYS_E_CLOSED. Thread-safe; runs no Python code. */
PYS_API int pys_get_info(pys_runtime *rt, pys_info *out);

/* The options the open runtime was opened with, resolved: a copy of the
 * pys_options given to pys_open with every default filled in (zero
 * bridge_module: "c_bridge"; zero argv: [""]; refuse_untested also set by
 * PYSHIM_REFUSE_UNTESTED unless ignore_environment). Fields whose zero
 * means "Python decides" (utf8_mode, coerce_c_locale) or "search"
 * (library_path, python, venv) are as given: pys_get_info says which
 * Python was chosen. Returns PYS_OK and fills *out; its strings, string
 * arrays and bridge_funcs (names, signatures, docs) are copies owned by the
 * runtime, valid until pys_close; logger_userdata and the bridge functions'
 * userdata are the caller's pointers. Errors: PYS_E_ARG (NULL out, NULL or
 * foreign rt), PYS_E_CLOSED (the runtime is not open). Thread-safe, but
 * not against a pys_close that ends the runtime meanwhile; runs no Python
 * code. */
PYS_API int pys_get_options(pys_runtime *rt, pys_options *out);

/* ---- discovery without loading ---------------------------------------- */

typedef struct pys_candidate {
    const char *path;        /* library file as found */
    const char *realpath;
    const char *executable;  /* interpreter of that install, or "" */
    const char *prefix;      /* install prefix, or "" */
    const char *source;      /* "explicit", "venv", "uv", "path", "pyenv", "ldconfig", "system" */
    const char *reason;      /* why accepted or rejected */
    int major, minor;
    bool free_threaded;
    bool accepted;
    bool chosen;
    bool debug;              /* a debug build ("libpython3.Xd") */
    bool untested;           /* newer than the tested range 3.8 to 3.15 */
    const char *full_version;/* "3.14.2", read from the library file; "" unknown */
    const char *abiflags;    /* "", "t", "d" or "td" */
    int micro;               /* the patch release, -1 when the install does not say */
    const char *reason_code; /* the reason as a stable code: "accepted", "no_file", "stub",
                              * "unknown_name", "too_old", "too_new", "pin_mismatch",
                              * "patch_unknown", "venv_mismatch", "no_stdlib" */
} pys_candidate;

/* One line of the probe's account, in the order sources are asked:
 * "explicit", "venv", "conda", "pixi", "request", "project-venv", "shell",
 * "uv", "search". */
typedef struct pys_probe_step {
    const char *source;
    const char *status;      /* "chosen", "used", "skipped", "none" or "failed" */
    const char *detail;      /* what it contributed, or why it was skipped */
    const char *file;        /* the file or variable it read, or "" */
} pys_probe_step;

typedef struct pys_probe_result pys_probe_result;

/* Lists every candidate libpython for `opts` (NULL = defaults) without
 * loading any. Returns PYS_OK (even when none is accepted: then
 * pys_probe_chosen() is -1 and pys_last_error() says why), or PYS_E_ARG /
 * PYS_E_NOMEM. *out is owned by the caller: pys_probe_free(). Spawns no
 * interpreter. Thread-safe; does not need an open runtime. */
PYS_API int pys_probe(const pys_options *opts, pys_probe_result **out);
/* The readers of a probe result below take no lock and run no Python:
 * thread-safe for concurrent readers, not against pys_probe_free. They set
 * no error; a NULL p reads as an empty result (count 0, NULL, -1, "").
 * Number of candidates. */
PYS_API size_t pys_probe_count(const pys_probe_result *p);
/* Borrowed; valid until pys_probe_free. NULL when i is out of range. */
PYS_API const pys_candidate *pys_probe_get(const pys_probe_result *p, size_t i);
/* Index of the candidate pys_open would load, or -1. */
PYS_API int pys_probe_chosen(const pys_probe_result *p);
/* The venv that would be used, or NULL. Borrowed; valid until
 * pys_probe_free. */
PYS_API const char *pys_probe_venv(const pys_probe_result *p);
/* The account, one step per source asked. Borrowed; valid until
 * pys_probe_free. pys_probe_step_get gives NULL when i is out of range.
 * Thread-safe for concurrent readers. */
PYS_API size_t pys_probe_step_count(const pys_probe_result *p);
PYS_API const pys_probe_step *pys_probe_step_get(const pys_probe_result *p, size_t i);
/* Why the chosen candidate was chosen: the step that chose it ("shell",
 * "request" steps report as the step that found the library), the file or
 * variable behind it ("/proj/.python-version", "PYENV_VERSION",
 * "/root/.pyenv/version", "VIRTUAL_ENV", ...) and one sentence ("pinned by
 * /proj/.python-version (3.11 (line 2)); the shell's python3.11 ..."). Each
 * is "" when nothing was chosen (or, for the file, when no file decided).
 * Borrowed; valid until pys_probe_free. */
PYS_API const char *pys_probe_decided_by(const pys_probe_result *p);
PYS_API const char *pys_probe_decided_file(const pys_probe_result *p);
PYS_API const char *pys_probe_decision(const pys_probe_result *p);
/* Frees a probe result and everything borrowed from it; NULL is a no-op.
 * Not concurrently with readers of the same result. No errors. */
PYS_API void pys_probe_free(pys_probe_result *p);

/* ======================================================================= */
/* Handles and scopes                                                      */
/* ======================================================================= */

/* True when o is not the invalid handle (says nothing about staleness).
 * Thread-safe; no runtime needed; no errors. */
static inline bool pys_ok(pys_obj o) { return o.id != 0; }

/* Releases a handle (the object's __del__ may run). Returns PYS_OK;
 * PYS_E_HANDLE for a released, stale or never-issued handle (including a
 * second release); PYS_E_CLOSED (pys_close released every handle).
 * Thread-safe. */
PYS_API int pys_release(pys_obj o);
/* Returns a new handle to the same object, owned by the caller, or
 * PYS_NULL (PYS_E_HANDLE, PYS_E_CLOSED, PYS_E_NOMEM). Thread-safe. */
PYS_API pys_obj pys_dup(pys_obj o);
/* PYS_OK if o is a live handle, else PYS_E_HANDLE / PYS_E_CLOSED (with
 * the error detail set). Thread-safe. */
PYS_API int pys_check(pys_obj o);
/* Number of live handles (for leak checks); 0 when rt is not the open
 * runtime. Thread-safe. Sets no error. */
PYS_API size_t pys_handle_count(pys_runtime *rt);

/* Opens a scope on the calling thread: every handle this thread creates
 * until the matching pys_scope_end is released by it. Scopes nest.
 * Returns PYS_OK, or PYS_E_ARG / PYS_E_CLOSED (common) or PYS_E_NOMEM.
 * Thread-safe: scopes are per thread, and a scope sees only the handles
 * its own thread creates. */
PYS_API int pys_scope_begin(pys_runtime *rt);
/* Releases every handle created on this thread since the matching
 * pys_scope_begin (ones already released are skipped). Returns PYS_OK, or
 * PYS_E_STATE when no scope is open on this thread; PYS_E_ARG /
 * PYS_E_CLOSED (common). Thread-safe (per thread). */
PYS_API int pys_scope_end(pys_runtime *rt);
/* Like pys_scope_end, but `keep` survives: returns a new handle for it
 * owned by the enclosing scope (or by the caller), or PYS_NULL if keep was
 * not live (PYS_E_HANDLE; the scope is ended either way), with
 * PYS_E_STATE when no scope is open (keep is then kept as it was), or
 * with PYS_E_ARG / PYS_E_CLOSED / PYS_E_NOMEM (common). Thread-safe (per
 * thread). */
PYS_API pys_obj pys_scope_end_keep(pys_runtime *rt, pys_obj keep);

/* ======================================================================= */
/* Running code                                                            */
/* ======================================================================= */

/* The compile cache behind pys_exec / pys_eval (and their _in forms):
 * repeated identical source is compiled once. It keeps at most 256
 * sources, together at most PYS_COMPILE_CACHE_MAX_BYTES bytes long (their
 * code objects take roughly 1.5 to 5 times that), and never one longer
 * than PYS_COMPILE_CACHE_MAX_SOURCE bytes: such a source is compiled on
 * every run (use pys_compile + pys_run to compile a large one once). */
#define PYS_COMPILE_CACHE_MAX_BYTES (1u << 20)
#define PYS_COMPILE_CACHE_MAX_SOURCE (64u << 10)

/* Executes statements in __main__. Returns PYS_OK, PYS_E_PYTHON (with
 * type, message and traceback), PYS_E_EXIT (SystemExit: exit_code,
 * exit_kind and exit_value set; the host never exits), PYS_E_ARG (NULL
 * src), or the other common errors. Repeated identical source is compiled
 * once (the compile cache above). Thread-safe. */
PYS_API int pys_exec(pys_runtime *rt, const char *src);
/* Same in the given namespace dict (globals = locals = ns); ns is
 * borrowed. PYS_E_HANDLE for an invalid ns (PYS_NULL too), PYS_E_TYPE when
 * it is no dict; otherwise as pys_exec. Thread-safe. */
PYS_API int pys_exec_in(pys_runtime *rt, const char *src, pys_obj ns);
/* Evaluates an expression in __main__ (or, _in, in the namespace dict ns,
 * checked as for pys_exec_in). Returns the value as a new handle owned by
 * the caller, or PYS_NULL: PYS_E_ARG (NULL expr), a SyntaxError as
 * PYS_E_PYTHON, or the other common errors. Cached like pys_exec.
 * Thread-safe. */
PYS_API pys_obj pys_eval(pys_runtime *rt, const char *expr);
PYS_API pys_obj pys_eval_in(pys_runtime *rt, const char *expr, pys_obj ns);

typedef enum pys_mode { PYS_MODE_EXEC = 0, PYS_MODE_EVAL = 1 } pys_mode;
/* Compiles once; returns a new handle to the code object (the caller's),
 * or PYS_NULL: PYS_E_PYTHON with the SyntaxError, PYS_E_ARG (NULL src,
 * unknown mode), or the other common errors. `filename` may be NULL.
 * Not cached. Thread-safe. */
PYS_API pys_obj pys_compile(pys_runtime *rt, const char *src, const char *filename, pys_mode mode);
/* Runs a compiled code object in ns (PYS_NULL = __main__; else a dict).
 * Returns the value (None for exec mode) as a new handle owned by the
 * caller, or PYS_NULL: PYS_E_TYPE when code is no code object or ns no
 * dict, or the common errors. Thread-safe. */
PYS_API pys_obj pys_run(pys_obj code, pys_obj ns);
/* The __main__ module's dict: a new handle owned by the caller, or
 * PYS_NULL (common errors). Thread-safe. */
PYS_API pys_obj pys_main_dict(pys_runtime *rt);
/* Sets sys.argv from a NULL-terminated array of strings (decoded as UTF-8
 * with surrogateescape; NULL or empty gives [""]); copied. Returns PYS_OK
 * or a common error. Thread-safe. */
PYS_API int pys_set_argv(pys_runtime *rt, const char *const *argv);

/* ======================================================================= */
/* Objects                                                                 */
/* ======================================================================= */

/* Imports a module (dotted names ok). New handle owned by the caller, or
 * PYS_NULL with PYS_E_PYTHON (ModuleNotFoundError ...), PYS_E_ARG (NULL or
 * empty name) or another common error. Thread-safe. */
PYS_API pys_obj pys_import(pys_runtime *rt, const char *module);
/* Gets an attribute; "a.b.c" walks dotted names. New handle owned by the
 * caller, or PYS_NULL: PYS_E_PYTHON (an AttributeError names the missing
 * part), PYS_E_ARG (NULL, empty or malformed dotted name, "a..b"), or
 * another common error. Thread-safe. */
PYS_API pys_obj pys_getattr(pys_obj o, const char *name);
/* Sets an attribute (dotted: sets on the last object); value is borrowed
 * (the object keeps its own reference). Returns PYS_OK, PYS_E_ARG (name as
 * for pys_getattr), PYS_E_HANDLE (o or value), or another common error.
 * Thread-safe. */
PYS_API int pys_setattr(pys_obj o, const char *name, pys_obj value);
/* Deletes an attribute (dotted: on the last object). Returns PYS_OK or
 * the errors of pys_setattr. Thread-safe. */
PYS_API int pys_delattr(pys_obj o, const char *name);
/* Returns 1 if present, 0 if not, or a negative code. Exceptions other
 * than AttributeError raised by a property are errors, not "absent".
 * Errors: PYS_E_ARG (name as for pys_getattr), common. Thread-safe. */
PYS_API int pys_hasattr(pys_obj o, const char *name);

/* Calls fn(*args); args are borrowed (the caller keeps them). Returns the
 * result as a new handle owned by the caller, or PYS_NULL: PYS_E_ARG (NULL
 * args with nargs > 0, nargs beyond what a call can take), PYS_E_HANDLE
 * (fn or an argument), or another common error. Thread-safe. */
PYS_API pys_obj pys_call(pys_obj fn, const pys_obj *args, size_t nargs);
/* Calls fn(*args, **kwargs); kwargs may be PYS_NULL, else a dict
 * (PYS_E_TYPE otherwise). Otherwise as pys_call. */
PYS_API pys_obj pys_call_kw(pys_obj fn, const pys_obj *args, size_t nargs, pys_obj kwargs_dict);
/* Calls fn with C values described by fmt (see "Formats" below), keyword
 * arguments as `name=CODE`. Example: pys_callf(print, "s s sep=s", "a", "b", "-").
 * A malformed format is PYS_E_ARG and nothing is called. Returns the
 * result as a new handle owned by the caller, or PYS_NULL: PYS_E_ARG
 * (format), PYS_E_VALUE (an `s` string that is not UTF-8), PYS_E_HANDLE (fn,
 * an O or N handle), or another common error. N handles are released in
 * every case. Thread-safe. */
PYS_API pys_obj pys_callf(pys_obj fn, const char *fmt, ...);
PYS_API pys_obj pys_vcallf(pys_obj fn, const char *fmt, va_list ap);
/* Calls o.name(...) with a format (fmt NULL or "" = no arguments); name
 * may be dotted. Result and errors as pys_callf, plus pys_getattr's for
 * name. Thread-safe. */
PYS_API pys_obj pys_call_method(pys_obj o, const char *name, const char *fmt, ...);

/* Formats (pys_callf, pys_call_method, pys_build):
 *   q int64_t   Q uint64_t   i int   I uint32_t   d double
 *   b bool (passed as int)
 *   s const char* (UTF-8, NUL-terminated; NULL gives None)
 *   s# const char*, size_t    y const void*, size_t (bytes)
 *   n None (takes no argument)   O pys_obj (borrowed by the call)
 *   N pys_obj (released by the call, even on failure)
 *   name=X   keyword argument (callf and call_method only); a name of any
 *            length; the same name twice is PYS_E_ARG, as f(a=1, a=2) is
 *            an error in Python
 *   [ ... ] list   ( ... ) tuple   { k:v, ... } dict (pys_build only),
 *            nested at most PYS_FORMAT_MAX_DEPTH deep (deeper is PYS_E_ARG)
 * Spaces and commas between items are ignored. */
#define PYS_FORMAT_MAX_DEPTH 512

typedef enum pys_cmp { PYS_LT = 0, PYS_LE, PYS_EQ, PYS_NE, PYS_GT, PYS_GE } pys_cmp;
/* Rich comparison: 1 true, 0 false, negative code on error: PYS_E_ARG
 * (unknown op), PYS_E_HANDLE, or another common error. Thread-safe. */
PYS_API int pys_compare(pys_obj a, pys_obj b, pys_cmp op);
/* repr(o) / str(o) as new str handles owned by the caller (use
 * pys_str_view to read), or PYS_NULL (common errors). Thread-safe. */
PYS_API pys_obj pys_repr(pys_obj o);
PYS_API pys_obj pys_str(pys_obj o);
/* Type name ("int", "numpy.ndarray" qualified for non-builtins) copied
 * into buf (truncated, NUL-terminated; the caller's buffer). Returns
 * PYS_OK, PYS_E_ARG (NULL buf or size 0), PYS_E_HANDLE or PYS_E_CLOSED;
 * a name that cannot be read (a metaclass raising) is "?", not an error.
 * Thread-safe. */
PYS_API int pys_type_name(pys_obj o, char *buf, size_t size);
/* The predicates below return 1 or 0, or a negative code: PYS_E_HANDLE,
 * PYS_E_CLOSED, or (isinstance, truthy: they can run Python code) another
 * common error. Thread-safe.
 * o is None. */
PYS_API int pys_is_none(pys_obj o);
/* isinstance(o, cls), as Python answers it (__instancecheck__ and a
 * __class__ property count; pyshim's own conversions look at the real
 * type instead). */
PYS_API int pys_isinstance(pys_obj o, pys_obj cls);
/* bool(o). */
PYS_API int pys_truthy(pys_obj o);
/* callable(o). */
PYS_API int pys_callable(pys_obj o);
/* A new handle to type(o), owned by the caller, or PYS_NULL (common
 * errors). Thread-safe. */
PYS_API pys_obj pys_type(pys_obj o);

/* Context managers. pys_with calls body(value_of_enter, ud) between
 * __enter__ and __exit__. If body returns non-zero with a Python exception
 * (any failing pyshim call inside it), __exit__ receives that exception and
 * may suppress it (then pys_with returns PYS_OK). Returns body's status,
 * __exit__'s failure, or PYS_E_PYTHON. `value` is borrowed by body: it is
 * released when body returns (pys_dup it to keep it). Errors before body
 * runs (it is then not called): PYS_E_ARG (NULL body), PYS_E_TYPE (no
 * context manager), PYS_E_HANDLE, and the common ones. body runs on the
 * calling thread, inside the call (see pys_gil_acquire for what that
 * allows). Thread-safe. */
typedef int (*pys_with_fn)(pys_obj value, void *ud);
PYS_API int pys_with(pys_obj manager, pys_with_fn body, void *ud);

/* A bound module: a module resolved once, called by name. */
typedef struct pys_bound pys_bound;
/* Imports `module` and binds it. Caller owns the result: pys_unbind. NULL
 * on error: pys_import's errors, or PYS_E_NOMEM. Thread-safe; a pys_bound
 * may be used from several threads at once, but not while or after it is
 * unbound. */
PYS_API pys_bound *pys_bind(pys_runtime *rt, const char *module);
/* Releases the module handle (when the runtime is still open) and frees b;
 * NULL is a no-op. No errors. */
PYS_API void pys_unbind(pys_bound *b);
/* 1 when the module has a callable `name`, 0 when not, negative on error
 * (PYS_E_ARG for NULL b or a bad name, as pys_getattr; common). */
PYS_API int pys_bound_has(pys_bound *b, const char *name);
/* A new list handle, owned by the caller, of the module's public callable
 * names, or PYS_NULL (PYS_E_ARG for NULL b; common). */
PYS_API pys_obj pys_bound_names(pys_bound *b);
/* module.name(*fmt values): result and errors as pys_call_method
 * (PYS_E_ARG for NULL b). */
PYS_API pys_obj pys_bound_call(pys_bound *b, const char *name, const char *fmt, ...);
/* The module object: a new handle owned by the caller, or PYS_NULL
 * (PYS_E_ARG for NULL b; common). */
PYS_API pys_obj pys_bound_module(pys_bound *b);

/* ======================================================================= */
/* Scalars and strings                                                     */
/* ======================================================================= */

/* C values to new Python objects. Each returns a new handle owned by the
 * caller, or PYS_NULL with a common error (the rt ones, PYS_E_NOMEM).
 * Thread-safe. */
PYS_API pys_obj pys_from_int64(pys_runtime *rt, int64_t v);
PYS_API pys_obj pys_from_uint64(pys_runtime *rt, uint64_t v);
PYS_API pys_obj pys_from_double(pys_runtime *rt, double v);
PYS_API pys_obj pys_from_bool(pys_runtime *rt, bool v);
/* UTF-8 text, copied (PYS_E_VALUE if invalid UTF-8; PYS_E_ARG for NULL s,
 * or for pys_from_strn a NULL s with len > 0; PYS_E_OVERFLOW for a len
 * beyond PTRDIFF_MAX). */
PYS_API pys_obj pys_from_str(pys_runtime *rt, const char *s);
PYS_API pys_obj pys_from_strn(pys_runtime *rt, const char *s, size_t len);
/* bytes / bytearray copied from data (NULL only with len 0; errors as
 * pys_from_strn but no PYS_E_VALUE). */
PYS_API pys_obj pys_from_bytes(pys_runtime *rt, const void *data, size_t len);
PYS_API pys_obj pys_from_bytearray(pys_runtime *rt, const void *data, size_t len);
/* A new handle to None. */
PYS_API pys_obj pys_none(pys_runtime *rt);

/* Range-checked reads: PYS_E_TYPE (message names the expected and actual
 * types) or PYS_E_OVERFLOW; *out is untouched on failure.
 * to_int64/to_uint64/to_int32 accept int (and bool); to_double accepts
 * float and int; to_bool accepts bool and int (nonzero is true; use
 * pys_truthy for the truthiness of other objects); subclasses count,
 * __index__ and __float__ alone do not.
 * These are the rules of the value codes q Q i d b everywhere (I, uint32_t,
 * takes an int in 0..4294967295, as to_uint64 within that range): a typed
 * bridge parameter (pyshim_bridge.h) takes what these take. Return
 * PYS_OK, or PYS_E_TYPE / PYS_E_OVERFLOW, PYS_E_ARG (NULL out), or another
 * common error (to_double of an int subclass calls its __float__).
 * Thread-safe. */
PYS_API int pys_to_int64(pys_obj o, int64_t *out);
PYS_API int pys_to_uint64(pys_obj o, uint64_t *out);
PYS_API int pys_to_int32(pys_obj o, int32_t *out);
PYS_API int pys_to_double(pys_obj o, double *out);
PYS_API int pys_to_bool(pys_obj o, bool *out);
/* UTF-8 of a str, borrowed, valid while the handle lives; *len (NULL-able)
 * gets the byte length (strings may hold NULs). NULL on error (PYS_E_TYPE
 * for a non-str, PYS_E_VALUE for lone surrogates, PYS_E_HANDLE,
 * PYS_E_CLOSED). Owned by the str object: do not free it. Thread-safe. */
PYS_API const char *pys_str_view(pys_obj o, size_t *len);
/* A malloc'd, NUL-terminated copy of str(o) for any object (free() it);
 * *len (NULL-able) gets the byte length. NULL on error: PYS_E_VALUE (not
 * encodable as UTF-8), PYS_E_NOMEM, or another common error (str() may
 * run Python code). Thread-safe. */
PYS_API char *pys_str_copy(pys_obj o, size_t *len);
/* Contents of bytes / bytearray / any buffer exporter, copied into a
 * malloc'd block (free() it; NUL-terminated for convenience); *len
 * (NULL-able) gets the length. NULL on error: PYS_E_TYPE (no buffer),
 * PYS_E_NOMEM, or another common error. Thread-safe. */
PYS_API void *pys_bytes_copy(pys_obj o, size_t *len);
/* Borrowed view of a bytes object (not bytearray), valid while the handle
 * lives; *len (NULL-able) gets the length. NULL on error: PYS_E_TYPE for
 * other types, PYS_E_HANDLE, PYS_E_CLOSED. Thread-safe. */
PYS_API const void *pys_bytes_view(pys_obj o, size_t *len);

/* ======================================================================= */
/* Collections                                                             */
/* ======================================================================= */

/* From handle arrays (items are borrowed: the caller keeps its handles).
 * Each returns a new handle owned by the caller, or PYS_NULL: PYS_E_ARG
 * (NULL items with n > 0), PYS_E_OVERFLOW (n too large), PYS_E_HANDLE (an
 * item; the message names its index), or another common error (hashing a
 * set item runs Python code). pys_dict_new: an empty dict. Thread-safe. */
PYS_API pys_obj pys_list_new(pys_runtime *rt, const pys_obj *items, size_t n);
PYS_API pys_obj pys_tuple_new(pys_runtime *rt, const pys_obj *items, size_t n);
PYS_API pys_obj pys_set_new(pys_runtime *rt, const pys_obj *items, size_t n);
PYS_API pys_obj pys_frozenset_new(pys_runtime *rt, const pys_obj *items, size_t n);
PYS_API pys_obj pys_dict_new(pys_runtime *rt);
/* Builds a value from a format ("[q d s]", "(q s)", "{s:q, s:[d d]}").
 * Returns a new handle owned by the caller, or PYS_NULL with the errors of
 * pys_callf (a malformed format is PYS_E_ARG; N handles are released in
 * every case). Thread-safe. */
PYS_API pys_obj pys_build(pys_runtime *rt, const char *fmt, ...);
PYS_API pys_obj pys_vbuild(pys_runtime *rt, const char *fmt, va_list ap);

/* Length: PYS_OK and *out, or error (PYS_E_TYPE for unsized objects,
 * PYS_E_ARG for NULL out, common). Thread-safe. */
PYS_API int pys_len(pys_obj o, size_t *out);
/* Item access. The get forms return o[key] as a new handle owned by the
 * caller, or PYS_NULL; the set and del forms return PYS_OK or a negative
 * code (value and key handles are borrowed). Errors: PYS_E_PYTHON
 * (KeyError, IndexError, TypeError ... from o), PYS_E_ARG (NULL string
 * key), PYS_E_HANDLE (o, key or value), common. Thread-safe.
 * o[key] (any object key). */
PYS_API pys_obj pys_getitem(pys_obj o, pys_obj key);
/* o[index]; negative indexes count from the end. */
PYS_API pys_obj pys_getitem_index(pys_obj o, int64_t index);
/* o["key"]. */
PYS_API pys_obj pys_getitem_str(pys_obj o, const char *key);
/* o["key"] / o[index] read straight into a C value, with no handle for the
 * item: the same as pys_getitem_str / pys_getitem_index followed by
 * pys_to_int64 / pys_to_double and pys_release, in one call. Returns PYS_OK
 * and *out, or the code either step would give (*out untouched): PYS_E_ARG
 * (out or key NULL), PYS_E_HANDLE (o not live), PYS_E_CLOSED, PYS_E_PYTHON
 * (KeyError, IndexError, whatever __getitem__ raised), PYS_E_TYPE (the
 * item is not an int / a number), PYS_E_OVERFLOW. Nothing to own or free.
 * Thread-safe like every call (auto-GIL). */
PYS_API int pys_getitem_str_int64(pys_obj o, const char *key, int64_t *out);
PYS_API int pys_getitem_str_double(pys_obj o, const char *key, double *out);
PYS_API int pys_getitem_index_int64(pys_obj o, int64_t index, int64_t *out);
PYS_API int pys_getitem_index_double(pys_obj o, int64_t index, double *out);
PYS_API int pys_setitem(pys_obj o, pys_obj key, pys_obj value);
PYS_API int pys_setitem_index(pys_obj o, int64_t index, pys_obj value);
PYS_API int pys_setitem_str(pys_obj o, const char *key, pys_obj value);
PYS_API int pys_delitem(pys_obj o, pys_obj key);
PYS_API int pys_delitem_index(pys_obj o, int64_t index);
PYS_API int pys_delitem_str(pys_obj o, const char *key);
/* `key in o`: 1, 0, or negative code (PYS_E_ARG for a NULL string key,
 * PYS_E_HANDLE, common). Thread-safe. */
PYS_API int pys_contains(pys_obj o, pys_obj key);
PYS_API int pys_contains_str(pys_obj o, const char *key);
/* list.append / set.add (item borrowed). PYS_OK, or PYS_E_TYPE when the
 * target is no list / no set (subclasses count; a frozenset does not),
 * PYS_E_HANDLE, common. Thread-safe. */
PYS_API int pys_append(pys_obj list, pys_obj item);
PYS_API int pys_set_add(pys_obj set, pys_obj item);
/* Mapping views as new lists, owned by the caller: list(m.keys()) etc.,
 * for any object with those methods (PYS_E_PYTHON otherwise), or PYS_NULL
 * (common errors). Thread-safe. */
PYS_API pys_obj pys_keys(pys_obj mapping);
PYS_API pys_obj pys_values(pys_obj mapping);
PYS_API pys_obj pys_items(pys_obj mapping);
/* iter(o): new iterator handle owned by the caller, or PYS_NULL
 * (PYS_E_PYTHON when o is not iterable; common). Thread-safe. */
PYS_API pys_obj pys_iter(pys_obj o);
/* Next item: returns 1 and *item (new handle), 0 at the end (*item =
 * PYS_NULL), or a negative code: the iterator raised (common errors),
 * PYS_E_TYPE (it is no iterator), PYS_E_ARG (NULL item), PYS_E_HANDLE.
 * The item is the caller's. Thread-safe. */
PYS_API int pys_iter_next(pys_obj it, pys_obj *item);
/* Next item into *slot, reusing its handle slot: *slot is PYS_NULL or a
 * live handle the caller owns. Returns 1 with *slot a handle of the item
 * (owned by the caller, as from pys_iter_next; where *slot was live its
 * slot is reused under a new id, so copies of the old id are stale:
 * PYS_E_HANDLE), 0 at the end, or a negative code: PYS_E_ARG (slot NULL),
 * PYS_E_HANDLE (it, or a *slot that is neither PYS_NULL nor live: the
 * iterator is not advanced), PYS_E_TYPE (not an iterator), PYS_E_CLOSED,
 * or the iterator's exception. Whenever it does not return 1, the handle
 * in *slot is released and *slot is PYS_NULL, so
 *   pys_obj x = PYS_NULL;
 *   while ((rc = pys_iter_next_into(it, &x)) == 1) { ... }
 * leaves nothing to release. Thread-safe like every call (auto-GIL). */
PYS_API int pys_iter_next_into(pys_obj it, pys_obj *slot);
/* Next item read straight into a C value, with no handle for it: the same
 * as pys_iter_next followed by pys_to_int64 / pys_to_double and
 * pys_release, in one call. Returns 1 and *out, 0 at the end (*out
 * untouched), or a negative code (*out untouched): PYS_E_ARG (out NULL),
 * PYS_E_HANDLE (it not live), PYS_E_TYPE (it is no iterator, or the item
 * is not an int / a number), PYS_E_OVERFLOW (out of int64_t's range),
 * PYS_E_CLOSED, or the iterator's exception (PYS_E_PYTHON). An item that
 * cannot be read is consumed: the next call reads the one after it.
 * Nothing to own or free. Thread-safe like every call (auto-GIL). */
PYS_API int pys_iter_next_int64(pys_obj it, int64_t *out);
PYS_API int pys_iter_next_double(pys_obj it, double *out);

/* ======================================================================= */
/* Bulk arrays and JSON                                                    */
/* ======================================================================= */

/* C arrays (copied) to a new list of float / int, owned by the caller, or
 * PYS_NULL: PYS_E_ARG (NULL v with n > 0), PYS_E_OVERFLOW (n too large),
 * common. Thread-safe. */
PYS_API pys_obj pys_list_from_doubles(pys_runtime *rt, const double *v, size_t n);
PYS_API pys_obj pys_list_from_int64s(pys_runtime *rt, const int64_t *v, size_t n);
/* Any sequence of numbers to a C array. *n_out gets the length; if it is
 * larger than cap nothing is written and PYS_E_OVERFLOW is returned (call
 * pys_len first). Element errors (PYS_E_TYPE/OVERFLOW) name the index;
 * PYS_E_TYPE also for an object that is no sequence or buffer, PYS_E_STATE
 * when the list changes size while it is read, PYS_E_ARG for NULL n_out
 * (or NULL out with cap > 0), and the common errors. Values may be written
 * to out before an element error. Thread-safe. */
PYS_API int pys_to_doubles(pys_obj seq, double *out, size_t cap, size_t *n_out);
PYS_API int pys_to_int64s(pys_obj seq, int64_t *out, size_t cap, size_t *n_out);

/* The cJSON type, forward-declared so this header does not need cJSON.h. */
struct cJSON;
/* Maximum nesting depth of JSON conversions in either direction. */
#define PYS_JSON_MAX_DEPTH 512
/* cJSON tree to Python (objects -> dict, arrays -> list, integral numbers
 * with |v| <= 2^53 -> int, other numbers -> float). NULL json is PYS_E_ARG;
 * a string or key that is not UTF-8 is PYS_E_VALUE; a number beyond a
 * double's range (text 1e400, or an infinite or NaN valuedouble) is
 * PYS_E_OVERFLOW; deeper than PYS_JSON_MAX_DEPTH, PYS_E_VALUE. Returns a new
 * handle owned by the caller, or PYS_NULL (those, or common errors). The
 * tree is only read (the caller keeps it). Thread-safe. */
PYS_API pys_obj pys_from_json(pys_runtime *rt, const struct cJSON *json);
/* Python value to a new cJSON tree (caller frees with cJSON_Delete). dict
 * (str keys only), list, tuple, set, frozenset, str, int (|v| <= 2^53),
 * float (finite), bool, None. Anything else, NaN/inf, a cycle or depth
 * beyond PYS_JSON_MAX_DEPTH is an error (NULL, PYS_E_TYPE / E_VALUE /
 * E_OVERFLOW with the path to the bad value). Python code run by the
 * conversion (a container subclass's __iter__) that changes the size of a
 * dict being converted gives PYS_E_STATE; an exception it raises,
 * PYS_E_PYTHON; plus PYS_E_NOMEM and the common errors. Thread-safe. */
PYS_API struct cJSON *pys_to_json(pys_obj o);
/* JSON text both ways (convenience over the cJSON calls).
 * pys_from_json_text: text must be exactly one JSON value (whitespace
 * around it allowed; "[1] x" is refused). Returns a new handle, or PYS_NULL
 * with PYS_E_VALUE ("invalid JSON at offset N", N counted in bytes from
 * the start of text, text that is not UTF-8, or a \u0000 escape in a
 * string: cJSON strings are C strings, it would cut the string short),
 * PYS_E_OVERFLOW (a number beyond a double), PYS_E_ARG (NULL text),
 * PYS_E_CLOSED. Thread-safe; the text is parsed without the GIL. */
PYS_API pys_obj pys_from_json_text(pys_runtime *rt, const char *text);
/* malloc'd compact JSON text of o (free() it), or NULL with the errors of
 * pys_to_json (PYS_E_NOMEM too). Thread-safe. */
PYS_API char *pys_to_json_text(pys_obj o);

#ifdef __cplusplus
}
#endif

#include "pyshim_threads.h"
#include "pyshim_bridge.h"
#include "pyshim_async.h"
#include "pyshim_buffer.h"
#include "pyshim_deps.h"
#include "pyshim_run.h"

#endif /* PYSHIM_H */
