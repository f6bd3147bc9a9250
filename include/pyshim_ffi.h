/* pyshim_ffi.h — pyshim's face for foreign function interfaces.
 *
 * The same library and the same objects as pyshim.h, in a shape that
 * LuaJIT's ffi.cdef, koffi, cgo, purego, Zig, Rust or Swift can read as it
 * is: no macros, no inline functions, no varargs, no struct passed by
 * value, every constant spelled out. A host reads it after dropping the
 * lines that start with '#' and the extern "C" block lines.
 *
 * - Handles are plain uint64_t ids (0 = none); every id is below 2^53, so
 *   a double (a JavaScript or Lua number) carries it exactly. The rules of
 *   pyshim.h hold: a returned handle is new and owned (pys_ffi_release).
 * - Every pys_ffi_* call records its status for the calling thread:
 *   pys_ffi_status() is PYS_FFI_OK (0) after a call that succeeded and the
 *   failing call's PYS_FFI_E_* code after one that failed, whatever the
 *   call returns. Reads that return a value (pys_ffi_int64 ...) give 0 on
 *   failure: check pys_ffi_status() to tell 0 from an error. The detail of
 *   the failure is read field by field (pys_ffi_error_*) or as JSON.
 * - Strings come back copied into the caller's buffer: the functions
 *   return the full length in bytes (embedded NULs included), copy at most
 *   `cap` bytes, and add a NUL when there is room; call again with a
 *   larger buffer when the result is larger than cap. Memory pyshim
 *   allocates (char * results) is freed with pys_ffi_free.
 * - Thread safety is pyshim.h's: every function may be called from any
 *   thread once the runtime is open, unless its comment says otherwise.
 *
 * The description of every function here and in pyshim.h is
 * api/pyshim-api.json; the part between the "generated" markers below is
 * generated from it (scripts/api-desc.py), and a test fails when the two
 * disagree. */
#ifndef PYSHIM_FFI_H
#define PYSHIM_FFI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pys_runtime pys_runtime;
typedef struct pys_future pys_future;
typedef struct pys_loop pys_loop;
typedef struct pys_bound pys_bound;
typedef struct pys_probe_result pys_probe_result;

/* The version of this face: changes when a declaration here changes
 * incompatibly. Compare pys_ffi_abi_version() with it. */
enum pys_ffi_abi { PYS_FFI_ABI_VERSION = 1 };

/* Registration flags of pys_ffi_register / pys_ffi_module_add. */
enum pys_ffi_flags {
    /* The host function runs without the GIL (no attached thread state):
     * other Python threads run meanwhile. Its calls into pyshim through
     * pys_ffi_* functions take the GIL for their own length. */
    PYS_FFI_RELEASE_GIL = 1,
    /* Calls are delivered on the registering ("owner") thread only: a call
     * from any other thread waits, without holding the GIL, until the owner
     * thread runs pys_bridge_pump. Calls on the owner thread itself run at
     * once. */
    PYS_FFI_OWNER_THREAD = 2
};

/* Returns PYS_FFI_ABI_VERSION of the library loaded. Thread-safe; no
 * errors; does not touch the status. */
int32_t pys_ffi_abi_version(void);
/* Returns this thread's status: PYS_FFI_OK after a pys_ffi_* call that
 * succeeded, the PYS_FFI_E_* code of the last one if it failed.
 * Thread-safe (per thread); no errors. */
int32_t pys_ffi_status(void);
/* Frees memory pyshim allocated for the caller (char * results); NULL is
 * fine. Thread-safe. */
void pys_ffi_free(void *p);

/* ---- runtime ---------------------------------------------------------------- */

/* pys_open with options given as n key/value strings (keys: the field
 * names of pys_options in pyshim.h: library_path, python, venv, uv_project,
 * index_url, bridge_module, project_dir; the flags prefer_uv, no_index,
 * skip_finalize, install_signal_handlers, ignore_environment,
 * project_venv, prefer_newest as "1"/"0"/"true"/"false"; utf8_mode and
 * coerce_c_locale as "-1"/"0"/"1"; dependencies, find_links and argv as
 * one value per element, the key repeated). Returns the runtime (owned
 * until pys_ffi_close), or NULL with the status: PYS_FFI_E_ARG for an
 * unknown key or a bad value (the message names it), or any error of
 * pys_open. Thread-safe as pys_open. */
pys_runtime *pys_ffi_open(const char *const *keys, const char *const *values, size_t n);

/* ---- errors ------------------------------------------------------------------- */

/* This thread's last failure (pys_last_error in pyshim.h): its code
 * (PYS_FFI_OK when none). Thread-safe (per thread); no errors; does not
 * change the status. */
int32_t pys_ffi_error_code(void);
/* Its text fields, copied into buf as described at the top (the length
 * returned; 0 for an empty field). The traceback is formatted on first
 * read, as pys_last_error does. Thread-safe (per thread); no errors. */
int64_t pys_ffi_error_context(char *buf, size_t cap);
int64_t pys_ffi_error_type(char *buf, size_t cap);
int64_t pys_ffi_error_message(char *buf, size_t cap);
int64_t pys_ffi_error_traceback(char *buf, size_t cap);
/* For PYS_FFI_E_EXIT: the exit status (0-255), 0 otherwise. */
int32_t pys_ffi_error_exit_code(void);
/* The whole detail as one JSON object: {"code", "name", "context", "type",
 * "message", "traceback", "searched": [...], "exit_code", "exit_kind",
 * "exit_value"}, copied into buf (length returned). Thread-safe. */
int64_t pys_ffi_error_json(char *buf, size_t cap);

/* ---- reading values ------------------------------------------------------------ */

/* The value of an int (bool), a float or int, a bool; the length of a
 * sized object. Return 0 on failure with the status set (PYS_FFI_E_TYPE,
 * PYS_FFI_E_OVERFLOW, PYS_FFI_E_HANDLE, PYS_FFI_E_CLOSED), as
 * pys_to_int64 / pys_to_uint64 / pys_to_double / pys_to_bool / pys_len.
 * Thread-safe. */
int64_t pys_ffi_int64(uint64_t o);
uint64_t pys_ffi_uint64(uint64_t o);
double pys_ffi_double(uint64_t o);
int32_t pys_ffi_bool(uint64_t o);
int64_t pys_ffi_len(uint64_t o);
/* The UTF-8 text of a str (PYS_FFI_E_TYPE for other types), copied into
 * buf; returns its length in bytes or a negative code (status set).
 * Thread-safe. */
int64_t pys_ffi_str_read(uint64_t o, char *buf, size_t cap);
/* The text of str(o) for any object; same. */
int64_t pys_ffi_text_read(uint64_t o, char *buf, size_t cap);
/* The contents of bytes, bytearray or any buffer exporter; same. */
int64_t pys_ffi_bytes_read(uint64_t o, char *buf, size_t cap);

/* ---- calls and builds with typed value arrays ----------------------------------- */

/* The typed value arrays of the calls below, for pys_ffi_format_codes. */
enum pys_ffi_array {
    PYS_FFI_ARRAY_INTS = 0, /* ints: int64_t */
    PYS_FFI_ARRAY_DBLS = 1, /* dbls: double */
    PYS_FFI_ARRAY_STRS = 2, /* strs and lens: const char *, size_t */
    PYS_FFI_ARRAY_OBJS = 3  /* objs: uint64_t handles */
};
/* The format letters whose values come from one array (a PYS_FFI_ARRAY_*
 * value), as a static NUL-terminated string the library keeps (never
 * freed): "qQiIb" for ints, "d" for dbls, "sy" for strs, "ON" for objs in
 * this version. A binding that sorts a format's values into the arrays
 * reads its letters here, so a value code added to the library needs no
 * change in the binding. Returns "" for an unknown array. Thread-safe; no
 * errors; does not touch the status. */
const char *pys_ffi_format_codes(int32_t array);

/* The format language of pyshim.h (pys_callf, pys_build) with the values
 * taken from one array per kind instead of varargs, each read in order:
 *   q Q i I b from ints (int64_t; Q reinterprets the bits as uint64_t;
 *             i must fit an int, I 0..4294967295: PYS_FFI_E_OVERFLOW
 *             otherwise)
 *   d         from dbls
 *   s s# y    from strs, with lens (NULL lens: s is NUL-terminated; s# and y
 *             need lens); a NULL string is None for s
 *   O N       from objs (handles; N releases the handle, even on failure)
 *   n         None, no value
 * Every array must be used up exactly: too few or too many values is
 * PYS_FFI_E_ARG and nothing is called (so a mismatch never passes garbage).
 * Returns a new handle, or 0 with the status (PYS_FFI_E_ARG for the format,
 * PYS_FFI_E_PYTHON ... as pys_callf). Thread-safe. */
uint64_t pys_ffi_callv(uint64_t fn, const char *fmt, const int64_t *ints, size_t nints,
                       const double *dbls, size_t ndbls, const char *const *strs,
                       const size_t *lens, size_t nstrs, const uint64_t *objs, size_t nobjs);
/* fn(), fn(a), fn(a, b) and fn(a, b, c) with handles: as pys_ffi_call with
 * that many handles (borrowed), for hosts where an array argument costs
 * more than the call (koffi copies a typed array on every call). Returns a
 * new handle, or 0 with the status (PYS_FFI_E_HANDLE for a bad fn or
 * argument, PYS_FFI_E_PYTHON when the call raises, PYS_FFI_E_CLOSED ...).
 * Thread-safe. */
uint64_t pys_ffi_call0(uint64_t fn);
uint64_t pys_ffi_call1(uint64_t fn, uint64_t a);
uint64_t pys_ffi_call2(uint64_t fn, uint64_t a, uint64_t b);
uint64_t pys_ffi_call3(uint64_t fn, uint64_t a, uint64_t b, uint64_t c);
/* o.name(values of fmt); fmt NULL or "" calls without arguments. */
uint64_t pys_ffi_call_methodv(uint64_t o, const char *name, const char *fmt,
                              const int64_t *ints, size_t nints, const double *dbls,
                              size_t ndbls, const char *const *strs, const size_t *lens,
                              size_t nstrs, const uint64_t *objs, size_t nobjs);
/* One value built from fmt ("[q d s]", "{s:q}"), as pys_build. */
uint64_t pys_ffi_buildv(pys_runtime *rt, const char *fmt, const int64_t *ints, size_t nints,
                        const double *dbls, size_t ndbls, const char *const *strs,
                        const size_t *lens, size_t nstrs, const uint64_t *objs, size_t nobjs);
/* module.name(values of fmt) of a bound module, as pys_bound_call. */
uint64_t pys_ffi_bound_callv(pys_bound *b, const char *name, const char *fmt,
                             const int64_t *ints, size_t nints, const double *dbls,
                             size_t ndbls, const char *const *strs, const size_t *lens,
                             size_t nstrs, const uint64_t *objs, size_t nobjs);

/* ---- callbacks ---------------------------------------------------------------------- */

/* A host function called from Python. ctx is the value given at
 * registration; args[0..nargs) are the positional arguments and kwargs a
 * dict of the keyword ones (0 when none), all borrowed: valid until it
 * returns. Returns a new handle that pyshim takes over (the call's value;
 * a handle to None for None), or 0 for failure: Python then gets the
 * exception the host set with pys_ffi_fail, or, if it set none, the
 * exception of a pyshim call that failed in the callback, or else a
 * RuntimeError saying the host failed. A host exception that its FFI turns
 * into a 0 result is thus an error, never a success. */
typedef uint64_t (*pys_ffi_fn)(uint64_t ctx, const uint64_t *args, size_t nargs, uint64_t kwargs);
/* Called once when a registration goes away (as pys_bridge_func.release:
 * unregistration, replacement, pys_close), with its ctx; must not call
 * pyshim. */
typedef void (*pys_ffi_release_fn)(uint64_t ctx);

/* Registers fn as `name` in the bridge module (pys_register), with
 * PYS_FFI_* flags. release may be NULL. Returns PYS_FFI_OK, or what
 * pys_register_func returns, or PYS_FFI_E_ARG for unknown flags (then
 * release is not called). Thread-safe; the calling thread is the owner for
 * PYS_FFI_OWNER_THREAD. */
int32_t pys_ffi_register(pys_runtime *rt, const char *name, pys_ffi_fn fn, uint64_t ctx,
                         uint32_t flags, pys_ffi_release_fn release);
/* Same into a host module (pys_module_new), as pys_module_add_func; also
 * PYS_FFI_E_HANDLE and PYS_FFI_E_TYPE (not a host module). */
int32_t pys_ffi_module_add(uint64_t module, const char *name, pys_ffi_fn fn, uint64_t ctx,
                           uint32_t flags, pys_ffi_release_fn release);
/* Inside a host function: the exception Python gets when it returns 0.
 * exc_type is a builtin exception name ("ValueError") or "module.Name"
 * (NULL: RuntimeError); message may be NULL. A later call replaces it.
 * Returns PYS_FFI_OK, or PYS_FFI_E_STATE outside a host function.
 * Thread-safe (per thread). */
int32_t pys_ffi_fail(const char *exc_type, const char *message);
/* Runs, on the calling thread, the calls of PYS_FFI_OWNER_THREAD functions
 * this thread registered that Python threads are waiting for, and delivers
 * its owner-thread notifications (pys_ffi_run_async_notify,
 * pys_ffi_open_logged): waits up to
 * timeout_ms milliseconds (0: only what is waiting now; negative: no
 * limit) for the first one, then runs every one that is waiting. Returns
 * the number run (0 when the time ran out), or PYS_FFI_E_ARG (NULL rt),
 * PYS_FFI_E_CLOSED. Call it outside pyshim calls (a host loop's idle
 * step), not from a host function. Thread-safe. */
int32_t pys_bridge_pump(pys_runtime *rt, int64_t timeout_ms);

/* A future's completion callback (pys_future_fn of pyshim_async.h, with
 * the status as an int32_t PYS_FFI_FUTURE_*): runs on the loop's thread
 * with the GIL held. Hosts whose FFI cannot take calls from foreign
 * threads pass NULL and wait or poll instead. */
typedef void (*pys_ffi_future_fn)(pys_future *f, int32_t status, void *ud);

/* ---- notifications: futures and the logger, FFI rules ------------------------------ */

/* A future completed (status PYS_FFI_FUTURE_FINISHED, _FAILED or
 * _CANCELLED); ctx as given. Read the value with pys_ffi_future_result
 * unless the future was freed. */
typedef void (*pys_ffi_done_fn)(uint64_t ctx, int32_t status);
/* A log line (level PYS_FFI_LOG_*; msg is len bytes, valid during the
 * call). Must not call pyshim. */
typedef void (*pys_ffi_log_fn)(uint64_t ctx, int32_t level, const char *msg, size_t len);

/* As pys_run_async_bg / pys_call_async_bg, with done called once when the
 * future completes: on the loop's thread (GIL held, must not block)
 * without flags; with PYS_FFI_OWNER_THREAD on the calling thread, from
 * pys_bridge_pump (the loop does not wait for it). A future freed before
 * it completed never calls done. Returns the future (pys_ffi_future_free)
 * or NULL with the status (then done is never called; PYS_FFI_E_ARG for
 * other flags). Thread-safe. */
pys_future *pys_ffi_run_async_notify(pys_runtime *rt, const char *expr, pys_ffi_done_fn done,
                                     uint64_t ctx, uint32_t flags);
pys_future *pys_ffi_call_async_notify(uint64_t fn, const uint64_t *args, size_t nargs,
                                      pys_ffi_done_fn done, uint64_t ctx, uint32_t flags);
/* pys_ffi_open with a logger: log(ctx, level, msg, len) for each line,
 * on the thread that logs it, or with PYS_FFI_OWNER_THREAD on the calling
 * thread (lines logged elsewhere are copied and delivered by
 * pys_bridge_pump). Returns what pys_ffi_open returns. Thread-safe as
 * pys_open. */
pys_runtime *pys_ffi_open_logged(const char *const *keys, const char *const *values, size_t n,
                                 pys_ffi_log_fn log, uint64_t ctx, uint32_t flags);

/* ---- generated by scripts/api-desc.py from api/pyshim-api.json: do not edit ---- */

/* Result codes (pyshim.h's PYS_ERRNO_MAP, spelled out). */
enum pys_ffi_code {
    PYS_FFI_OK = 0, /* success */
    PYS_FFI_E_ARG = -1, /* invalid argument */
    PYS_FFI_E_HANDLE = -2, /* invalid, released or stale handle */
    PYS_FFI_E_CLOSED = -3, /* the runtime is not open */
    PYS_FFI_E_STATE = -4, /* not allowed in the current state */
    PYS_FFI_E_NOTFOUND = -5, /* no suitable Python was found */
    PYS_FFI_E_LOAD = -6, /* libpython could not be loaded */
    PYS_FFI_E_SYMBOL = -7, /* a required C-API symbol is missing */
    PYS_FFI_E_INIT = -8, /* Python initialisation failed */
    PYS_FFI_E_PYTHON = -9, /* Python raised an exception */
    PYS_FFI_E_TYPE = -10, /* wrong Python type */
    PYS_FFI_E_OVERFLOW = -11, /* value out of range */
    PYS_FFI_E_VALUE = -12, /* invalid value */
    PYS_FFI_E_EXIT = -13, /* Python raised SystemExit */
    PYS_FFI_E_TIMEOUT = -14, /* deadline expired */
    PYS_FFI_E_INTERRUPTED = -15, /* interrupted */
    PYS_FFI_E_NOMEM = -16, /* out of memory */
    PYS_FFI_E_UNSUPPORTED = -17, /* not supported by the loaded Python */
    PYS_FFI_E_DEPS = -18, /* building the dependency environment failed */
    PYS_FFI_E_CANCELLED = -19, /* cancelled */
    PYS_FFI_E_PENDING = -20, /* not finished yet */
    PYS_FFI_E_INTERNAL = -21, /* internal error */
};

/* Enumerations of pyshim.h, spelled out (passed as int32_t). */
enum pys_ffi_enums {
    PYS_FFI_EXIT_NONE = 0, /* pys_exit_kind */
    PYS_FFI_EXIT_INT = 1, /* pys_exit_kind */
    PYS_FFI_EXIT_BIG_INT = 2, /* pys_exit_kind */
    PYS_FFI_EXIT_OTHER = 3, /* pys_exit_kind */
    PYS_FFI_LOG_DEBUG = 0, /* pys_log_level */
    PYS_FFI_LOG_INFO = 1, /* pys_log_level */
    PYS_FFI_LOG_WARN = 2, /* pys_log_level */
    PYS_FFI_LOG_ERROR = 3, /* pys_log_level */
    PYS_FFI_MODE_EXEC = 0, /* pys_mode */
    PYS_FFI_MODE_EVAL = 1, /* pys_mode */
    PYS_FFI_LT = 0, /* pys_cmp */
    PYS_FFI_LE = 1, /* pys_cmp */
    PYS_FFI_EQ = 2, /* pys_cmp */
    PYS_FFI_NE = 3, /* pys_cmp */
    PYS_FFI_GT = 4, /* pys_cmp */
    PYS_FFI_GE = 5, /* pys_cmp */
    PYS_FFI_FUTURE_PENDING = 0, /* pys_future_status */
    PYS_FFI_FUTURE_FINISHED = 1, /* pys_future_status */
    PYS_FFI_FUTURE_FAILED = 2, /* pys_future_status */
    PYS_FFI_FUTURE_CANCELLED = 3, /* pys_future_status */
    PYS_FFI_ELEM_DOUBLE = 0, /* pys_elem */
    PYS_FFI_ELEM_FLOAT = 1, /* pys_elem */
    PYS_FFI_ELEM_INT64 = 2, /* pys_elem */
    PYS_FFI_ELEM_INT32 = 3, /* pys_elem */
    PYS_FFI_BUF_READ = 0, /*  */
    PYS_FFI_BUF_WRITABLE = 1, /*  */
    PYS_FFI_BUF_C_CONTIGUOUS = 2, /*  */
};

/* As pys_clear_error (pyshim.h). */
void pys_ffi_clear_error(void);
/* As pys_set_error (pyshim.h). */
int pys_ffi_set_error(int code, const char *context, const char *message);
/* As pys_strerror (pyshim.h). */
const char *pys_ffi_strerror(int code);
/* As pys_err_name (pyshim.h). */
const char *pys_ffi_err_name(int code);
/* As pys_close (pyshim.h). */
int pys_ffi_close(pys_runtime *rt);
/* As pys_runtime_current (pyshim.h); free with pys_ffi_close. */
pys_runtime *pys_ffi_runtime_current(void);
/* As pys_probe_count (pyshim.h). */
size_t pys_ffi_probe_count(const pys_probe_result *p);
/* As pys_probe_chosen (pyshim.h). */
int pys_ffi_probe_chosen(const pys_probe_result *p);
/* As pys_probe_venv (pyshim.h). */
const char *pys_ffi_probe_venv(const pys_probe_result *p);
/* As pys_probe_step_count (pyshim.h). */
size_t pys_ffi_probe_step_count(const pys_probe_result *p);
/* As pys_probe_decided_by (pyshim.h). */
const char *pys_ffi_probe_decided_by(const pys_probe_result *p);
/* As pys_probe_decided_file (pyshim.h). */
const char *pys_ffi_probe_decided_file(const pys_probe_result *p);
/* As pys_probe_decision (pyshim.h). */
const char *pys_ffi_probe_decision(const pys_probe_result *p);
/* As pys_probe_free (pyshim.h). */
void pys_ffi_probe_free(pys_probe_result *p);
/* As pys_release (pyshim.h). */
int pys_ffi_release(uint64_t o);
/* As pys_dup (pyshim.h); 0 on failure. */
uint64_t pys_ffi_dup(uint64_t o);
/* As pys_check (pyshim.h). */
int pys_ffi_check(uint64_t o);
/* As pys_handle_count (pyshim.h). */
size_t pys_ffi_handle_count(pys_runtime *rt);
/* As pys_scope_begin (pyshim.h). */
int pys_ffi_scope_begin(pys_runtime *rt);
/* As pys_scope_end (pyshim.h). */
int pys_ffi_scope_end(pys_runtime *rt);
/* As pys_scope_end_keep (pyshim.h); 0 on failure. */
uint64_t pys_ffi_scope_end_keep(pys_runtime *rt, uint64_t keep);
/* As pys_exec (pyshim.h). */
int pys_ffi_exec(pys_runtime *rt, const char *src);
/* As pys_exec_in (pyshim.h). */
int pys_ffi_exec_in(pys_runtime *rt, const char *src, uint64_t ns);
/* As pys_eval (pyshim.h); 0 on failure. */
uint64_t pys_ffi_eval(pys_runtime *rt, const char *expr);
/* As pys_eval_in (pyshim.h); 0 on failure. */
uint64_t pys_ffi_eval_in(pys_runtime *rt, const char *expr, uint64_t ns);
/* As pys_compile (pyshim.h); 0 on failure. */
uint64_t pys_ffi_compile(pys_runtime *rt, const char *src, const char *filename, int32_t mode);
/* As pys_run (pyshim.h); 0 on failure. */
uint64_t pys_ffi_run(uint64_t code, uint64_t ns);
/* As pys_main_dict (pyshim.h); 0 on failure. */
uint64_t pys_ffi_main_dict(pys_runtime *rt);
/* As pys_set_argv (pyshim.h). */
int pys_ffi_set_argv(pys_runtime *rt, const char *const *argv);
/* As pys_import (pyshim.h); 0 on failure. */
uint64_t pys_ffi_import(pys_runtime *rt, const char *module);
/* As pys_getattr (pyshim.h); 0 on failure. */
uint64_t pys_ffi_getattr(uint64_t o, const char *name);
/* As pys_setattr (pyshim.h). */
int pys_ffi_setattr(uint64_t o, const char *name, uint64_t value);
/* As pys_delattr (pyshim.h). */
int pys_ffi_delattr(uint64_t o, const char *name);
/* As pys_hasattr (pyshim.h). */
int pys_ffi_hasattr(uint64_t o, const char *name);
/* As pys_call (pyshim.h); 0 on failure. */
uint64_t pys_ffi_call(uint64_t fn, const uint64_t *args, size_t nargs);
/* As pys_call_kw (pyshim.h); 0 on failure. */
uint64_t pys_ffi_call_kw(uint64_t fn, const uint64_t *args, size_t nargs, uint64_t kwargs_dict);
/* As pys_compare (pyshim.h). */
int pys_ffi_compare(uint64_t a, uint64_t b, int32_t op);
/* As pys_repr (pyshim.h); 0 on failure. */
uint64_t pys_ffi_repr(uint64_t o);
/* As pys_str (pyshim.h); 0 on failure. */
uint64_t pys_ffi_str(uint64_t o);
/* As pys_type_name (pyshim.h). */
int pys_ffi_type_name(uint64_t o, char *buf, size_t size);
/* As pys_is_none (pyshim.h). */
int pys_ffi_is_none(uint64_t o);
/* As pys_isinstance (pyshim.h). */
int pys_ffi_isinstance(uint64_t o, uint64_t cls);
/* As pys_truthy (pyshim.h). */
int pys_ffi_truthy(uint64_t o);
/* As pys_callable (pyshim.h). */
int pys_ffi_callable(uint64_t o);
/* As pys_type (pyshim.h); 0 on failure. */
uint64_t pys_ffi_type(uint64_t o);
/* As pys_bind (pyshim.h); free with pys_ffi_unbind. */
pys_bound *pys_ffi_bind(pys_runtime *rt, const char *module);
/* As pys_unbind (pyshim.h). */
void pys_ffi_unbind(pys_bound *b);
/* As pys_bound_has (pyshim.h). */
int pys_ffi_bound_has(pys_bound *b, const char *name);
/* As pys_bound_names (pyshim.h); 0 on failure. */
uint64_t pys_ffi_bound_names(pys_bound *b);
/* As pys_bound_module (pyshim.h); 0 on failure. */
uint64_t pys_ffi_bound_module(pys_bound *b);
/* As pys_from_int64 (pyshim.h); 0 on failure. */
uint64_t pys_ffi_from_int64(pys_runtime *rt, int64_t v);
/* As pys_from_uint64 (pyshim.h); 0 on failure. */
uint64_t pys_ffi_from_uint64(pys_runtime *rt, uint64_t v);
/* As pys_from_double (pyshim.h); 0 on failure. */
uint64_t pys_ffi_from_double(pys_runtime *rt, double v);
/* As pys_from_bool (pyshim.h); 0 on failure. */
uint64_t pys_ffi_from_bool(pys_runtime *rt, int32_t v);
/* As pys_from_str (pyshim.h); 0 on failure. */
uint64_t pys_ffi_from_str(pys_runtime *rt, const char *s);
/* As pys_from_strn (pyshim.h); 0 on failure. */
uint64_t pys_ffi_from_strn(pys_runtime *rt, const char *s, size_t len);
/* As pys_from_bytes (pyshim.h); 0 on failure. */
uint64_t pys_ffi_from_bytes(pys_runtime *rt, const void *data, size_t len);
/* As pys_from_bytearray (pyshim.h); 0 on failure. */
uint64_t pys_ffi_from_bytearray(pys_runtime *rt, const void *data, size_t len);
/* As pys_none (pyshim.h); 0 on failure. */
uint64_t pys_ffi_none(pys_runtime *rt);
/* As pys_str_view (pyshim.h). */
const char *pys_ffi_str_view(uint64_t o, size_t *len);
/* As pys_str_copy (pyshim.h); free with pys_ffi_free. */
char *pys_ffi_str_copy(uint64_t o, size_t *len);
/* As pys_bytes_copy (pyshim.h); free with pys_ffi_free. */
void *pys_ffi_bytes_copy(uint64_t o, size_t *len);
/* As pys_bytes_view (pyshim.h). */
const void *pys_ffi_bytes_view(uint64_t o, size_t *len);
/* As pys_list_new (pyshim.h); 0 on failure. */
uint64_t pys_ffi_list_new(pys_runtime *rt, const uint64_t *items, size_t n);
/* As pys_tuple_new (pyshim.h); 0 on failure. */
uint64_t pys_ffi_tuple_new(pys_runtime *rt, const uint64_t *items, size_t n);
/* As pys_set_new (pyshim.h); 0 on failure. */
uint64_t pys_ffi_set_new(pys_runtime *rt, const uint64_t *items, size_t n);
/* As pys_frozenset_new (pyshim.h); 0 on failure. */
uint64_t pys_ffi_frozenset_new(pys_runtime *rt, const uint64_t *items, size_t n);
/* As pys_dict_new (pyshim.h); 0 on failure. */
uint64_t pys_ffi_dict_new(pys_runtime *rt);
/* As pys_getitem (pyshim.h); 0 on failure. */
uint64_t pys_ffi_getitem(uint64_t o, uint64_t key);
/* As pys_getitem_index (pyshim.h); 0 on failure. */
uint64_t pys_ffi_getitem_index(uint64_t o, int64_t index);
/* As pys_getitem_str (pyshim.h); 0 on failure. */
uint64_t pys_ffi_getitem_str(uint64_t o, const char *key);
/* As pys_getitem_str_int64 (pyshim.h). */
int pys_ffi_getitem_str_int64(uint64_t o, const char *key, int64_t *out);
/* As pys_getitem_str_double (pyshim.h). */
int pys_ffi_getitem_str_double(uint64_t o, const char *key, double *out);
/* As pys_getitem_index_int64 (pyshim.h). */
int pys_ffi_getitem_index_int64(uint64_t o, int64_t index, int64_t *out);
/* As pys_getitem_index_double (pyshim.h). */
int pys_ffi_getitem_index_double(uint64_t o, int64_t index, double *out);
/* As pys_setitem (pyshim.h). */
int pys_ffi_setitem(uint64_t o, uint64_t key, uint64_t value);
/* As pys_setitem_index (pyshim.h). */
int pys_ffi_setitem_index(uint64_t o, int64_t index, uint64_t value);
/* As pys_setitem_str (pyshim.h). */
int pys_ffi_setitem_str(uint64_t o, const char *key, uint64_t value);
/* As pys_delitem (pyshim.h). */
int pys_ffi_delitem(uint64_t o, uint64_t key);
/* As pys_delitem_index (pyshim.h). */
int pys_ffi_delitem_index(uint64_t o, int64_t index);
/* As pys_delitem_str (pyshim.h). */
int pys_ffi_delitem_str(uint64_t o, const char *key);
/* As pys_contains (pyshim.h). */
int pys_ffi_contains(uint64_t o, uint64_t key);
/* As pys_contains_str (pyshim.h). */
int pys_ffi_contains_str(uint64_t o, const char *key);
/* As pys_append (pyshim.h). */
int pys_ffi_append(uint64_t list, uint64_t item);
/* As pys_set_add (pyshim.h). */
int pys_ffi_set_add(uint64_t set, uint64_t item);
/* As pys_keys (pyshim.h); 0 on failure. */
uint64_t pys_ffi_keys(uint64_t mapping);
/* As pys_values (pyshim.h); 0 on failure. */
uint64_t pys_ffi_values(uint64_t mapping);
/* As pys_items (pyshim.h); 0 on failure. */
uint64_t pys_ffi_items(uint64_t mapping);
/* As pys_iter (pyshim.h); 0 on failure. */
uint64_t pys_ffi_iter(uint64_t o);
/* As pys_iter_next (pyshim.h). */
int pys_ffi_iter_next(uint64_t it, uint64_t *item);
/* As pys_iter_next_into (pyshim.h). */
int pys_ffi_iter_next_into(uint64_t it, uint64_t *slot);
/* As pys_iter_next_int64 (pyshim.h). */
int pys_ffi_iter_next_int64(uint64_t it, int64_t *out);
/* As pys_iter_next_double (pyshim.h). */
int pys_ffi_iter_next_double(uint64_t it, double *out);
/* As pys_list_from_doubles (pyshim.h); 0 on failure. */
uint64_t pys_ffi_list_from_doubles(pys_runtime *rt, const double *v, size_t n);
/* As pys_list_from_int64s (pyshim.h); 0 on failure. */
uint64_t pys_ffi_list_from_int64s(pys_runtime *rt, const int64_t *v, size_t n);
/* As pys_to_doubles (pyshim.h). */
int pys_ffi_to_doubles(uint64_t seq, double *out, size_t cap, size_t *n_out);
/* As pys_to_int64s (pyshim.h). */
int pys_ffi_to_int64s(uint64_t seq, int64_t *out, size_t cap, size_t *n_out);
/* As pys_from_json_text (pyshim.h); 0 on failure. */
uint64_t pys_ffi_from_json_text(pys_runtime *rt, const char *text);
/* As pys_to_json_text (pyshim.h); free with pys_ffi_free. */
char *pys_ffi_to_json_text(uint64_t o);
/* As pys_gil_acquire (pyshim_threads.h). */
int pys_ffi_gil_acquire(pys_runtime *rt);
/* As pys_gil_release (pyshim_threads.h). */
int pys_ffi_gil_release(pys_runtime *rt);
/* As pys_free_threaded (pyshim_threads.h). */
int32_t pys_ffi_free_threaded(pys_runtime *rt);
/* As pys_interrupt (pyshim_threads.h). */
int pys_ffi_interrupt(pys_runtime *rt);
/* As pys_set_deadline (pyshim_threads.h). */
int pys_ffi_set_deadline(pys_runtime *rt, uint32_t ms);
/* As pys_get_deadline (pyshim_threads.h). */
uint32_t pys_ffi_get_deadline(pys_runtime *rt);
/* As pys_register_typed (pyshim_bridge.h). */
int pys_ffi_register_typed(pys_runtime *rt, const char *name, const char *signature, void *fn);
/* As pys_unregister (pyshim_bridge.h). */
int pys_ffi_unregister(pys_runtime *rt, const char *name);
/* As pys_bridge_module (pyshim_bridge.h); 0 on failure. */
uint64_t pys_ffi_bridge_module(pys_runtime *rt);
/* As pys_bridge_raise_obj (pyshim_bridge.h). */
int pys_ffi_bridge_raise_obj(pys_runtime *rt, uint64_t exc);
/* As pys_module_new (pyshim_bridge.h); 0 on failure. */
uint64_t pys_ffi_module_new(pys_runtime *rt, const char *name);
/* As pys_module_add_typed (pyshim_bridge.h). */
int pys_ffi_module_add_typed(uint64_t module, const char *name, const char *signature, void *fn);
/* As pys_module_add_const (pyshim_bridge.h). */
int pys_ffi_module_add_const(uint64_t module, const char *name, uint64_t value);
/* As pys_module_set_doc (pyshim_bridge.h). */
int pys_ffi_module_set_doc(uint64_t module, const char *doc);
/* As pys_module_remove_func (pyshim_bridge.h). */
int pys_ffi_module_remove_func(uint64_t module, const char *name);
/* As pys_module_remove (pyshim_bridge.h). */
int pys_ffi_module_remove(pys_runtime *rt, const char *name);
/* As pys_run_async (pyshim_async.h); 0 on failure. */
uint64_t pys_ffi_run_async(pys_runtime *rt, const char *expr);
/* As pys_await (pyshim_async.h); 0 on failure. */
uint64_t pys_ffi_await(uint64_t awaitable);
/* As pys_call_async (pyshim_async.h); 0 on failure. */
uint64_t pys_ffi_call_async(uint64_t fn, const uint64_t *args, size_t nargs);
/* As pys_future_wait (pyshim_async.h). */
int pys_ffi_future_wait(pys_future *f, int64_t timeout_ms);
/* As pys_future_poll (pyshim_async.h). */
int32_t pys_ffi_future_poll(const pys_future *f);
/* As pys_future_done (pyshim_async.h). */
int32_t pys_ffi_future_done(const pys_future *f);
/* As pys_future_result (pyshim_async.h); 0 on failure. */
uint64_t pys_ffi_future_result(pys_future *f);
/* As pys_future_cancel (pyshim_async.h). */
int pys_ffi_future_cancel(pys_future *f);
/* As pys_future_free (pyshim_async.h). */
void pys_ffi_future_free(pys_future *f);
/* As pys_loop_start (pyshim_async.h); free with pys_ffi_loop_stop. */
pys_loop *pys_ffi_loop_start(pys_runtime *rt);
/* As pys_loop_submit (pyshim_async.h); free with pys_ffi_future_free. */
pys_future *pys_ffi_loop_submit(pys_loop *loop, uint64_t aw_or_fn, const uint64_t *args, size_t nargs, pys_ffi_future_fn cb, void *ud);
/* As pys_loop_stop (pyshim_async.h). */
int pys_ffi_loop_stop(pys_loop *loop);
/* As pys_run_async_bg (pyshim_async.h); free with pys_ffi_future_free. */
pys_future *pys_ffi_run_async_bg(pys_runtime *rt, const char *expr, pys_ffi_future_fn cb, void *ud);
/* As pys_call_async_bg (pyshim_async.h); free with pys_ffi_future_free. */
pys_future *pys_ffi_call_async_bg(uint64_t fn, const uint64_t *args, size_t nargs, pys_ffi_future_fn cb, void *ud);
/* As pys_memoryview (pyshim_buffer.h); 0 on failure. */
uint64_t pys_ffi_memoryview(pys_runtime *rt, void *data, size_t len, const char *format, const size_t *shape, int ndim, int32_t readonly);
/* As pys_memoryview_copy (pyshim_buffer.h); 0 on failure. */
uint64_t pys_ffi_memoryview_copy(pys_runtime *rt, const void *data, size_t len, const char *format, const size_t *shape, int ndim);
/* As pys_list_from_array (pyshim_buffer.h); 0 on failure. */
uint64_t pys_ffi_list_from_array(pys_runtime *rt, int32_t t, const void *v, size_t n);
/* As pys_tuple_from_array (pyshim_buffer.h); 0 on failure. */
uint64_t pys_ffi_tuple_from_array(pys_runtime *rt, int32_t t, const void *v, size_t n);
/* As pys_to_array (pyshim_buffer.h). */
int pys_ffi_to_array(uint64_t o, int32_t t, void *out, size_t cap, size_t *n_out);
/* As pys_list_from_floats (pyshim_buffer.h); 0 on failure. */
uint64_t pys_ffi_list_from_floats(pys_runtime *rt, const float *v, size_t n);
/* As pys_list_from_int32s (pyshim_buffer.h); 0 on failure. */
uint64_t pys_ffi_list_from_int32s(pys_runtime *rt, const int32_t *v, size_t n);
/* As pys_tuple_from_doubles (pyshim_buffer.h); 0 on failure. */
uint64_t pys_ffi_tuple_from_doubles(pys_runtime *rt, const double *v, size_t n);
/* As pys_tuple_from_floats (pyshim_buffer.h); 0 on failure. */
uint64_t pys_ffi_tuple_from_floats(pys_runtime *rt, const float *v, size_t n);
/* As pys_tuple_from_int64s (pyshim_buffer.h); 0 on failure. */
uint64_t pys_ffi_tuple_from_int64s(pys_runtime *rt, const int64_t *v, size_t n);
/* As pys_tuple_from_int32s (pyshim_buffer.h); 0 on failure. */
uint64_t pys_ffi_tuple_from_int32s(pys_runtime *rt, const int32_t *v, size_t n);
/* As pys_to_floats (pyshim_buffer.h). */
int pys_ffi_to_floats(uint64_t o, float *out, size_t cap, size_t *n_out);
/* As pys_to_int32s (pyshim_buffer.h). */
int pys_ffi_to_int32s(uint64_t o, int32_t *out, size_t cap, size_t *n_out);
/* As pys_uv_available (pyshim_deps.h). */
int32_t pys_ffi_uv_available(void);
/* As pys_uv_version (pyshim_deps.h); free with pys_ffi_free. */
char *pys_ffi_uv_version(void);
/* As pys_clear_cache (pyshim_deps.h). */
int pys_ffi_clear_cache(void);

/* Not in this face, and why:
 *   pys_last_error: see pys_ffi_error_* / pys_ffi_error_json
 *   pys_last_error_brief: see pys_ffi_error_* / pys_ffi_error_json
 *   pys_open: see pys_ffi_open (key/value strings)
 *   pys_main: uses const pys_options * (a C struct or C-only callback)
 *   pys_get_info: uses pys_info * (a C struct or C-only callback)
 *   pys_get_options: uses pys_options * (a C struct or C-only callback)
 *   pys_probe: uses const pys_options * (a C struct or C-only callback)
 *   pys_probe_get: uses const pys_candidate * (a C struct or C-only callback)
 *   pys_probe_step_get: uses const pys_probe_step * (a C struct or C-only callback)
 *   pys_callf: see pys_ffi_callv
 *   pys_vcallf: variadic or va_list: see pys_ffi_callv / pys_ffi_buildv
 *   pys_call_method: see pys_ffi_call_methodv
 *   pys_with: uses pys_with_fn (a C struct or C-only callback)
 *   pys_bound_call: see pys_ffi_bound_callv
 *   pys_to_int64: see pys_ffi_int64
 *   pys_to_uint64: see pys_ffi_uint64
 *   pys_to_int32: see pys_ffi_int64
 *   pys_to_double: see pys_ffi_double
 *   pys_to_bool: see pys_ffi_bool
 *   pys_build: see pys_ffi_buildv
 *   pys_vbuild: variadic or va_list: see pys_ffi_callv / pys_ffi_buildv
 *   pys_len: see pys_ffi_len
 *   pys_from_json: uses const struct cJSON * (a C struct or C-only callback)
 *   pys_to_json: uses struct cJSON * (a C struct or C-only callback)
 *   pys_with_gil: uses pys_gil_fn (a C struct or C-only callback)
 *   pys_register: see pys_ffi_register
 *   pys_register_func: see pys_ffi_register
 *   pys_bridge_raise: see pys_ffi_fail
 *   pys_module_add: see pys_ffi_module_add
 *   pys_module_add_func: see pys_ffi_module_add
 *   pys_module_add_constf: see pys_ffi_buildv + pys_ffi_module_add_const
 *   pys_call_asyncf: see pys_ffi_buildv + pys_ffi_call_async
 *   pys_vcall_asyncf: variadic or va_list: see pys_ffi_callv / pys_ffi_buildv
 *   pys_future_error: uses const pys_error * (a C struct or C-only callback)
 *   pys_loop_submitf: see pys_ffi_loop_submit
 *   pys_memoryview_ex: uses const pys_memview_desc * (a C struct or C-only callback)
 *   pys_buffer_get: uses pys_buffer * (a C struct or C-only callback)
 *   pys_buffer_release: uses pys_buffer * (a C struct or C-only callback)
 *   pys_cache_list: uses pys_cache_entry ** (a C struct or C-only callback)
 *   pys_cache_list_free: uses pys_cache_entry * (a C struct or C-only callback)
 */

/* ---- end of generated part ---- */

#ifdef __cplusplus
}
#endif

#endif /* PYSHIM_FFI_H */
