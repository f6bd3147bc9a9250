/* pyshim — Run recipes: output capture, policed runs, hot-reloaded scripts.
 * Included by pyshim.h; do not include directly.
 *
 * Output: pys_exec_captured sends one call's sys.stdout / sys.stderr to a
 * C writer. The routing lives in a contextvars.ContextVar, so output of
 * other threads' calls goes where their own context says, and asyncio
 * tasks made during the call inherit it. Threads started by the code do
 * not (a new thread starts with an empty context) and write to the
 * process-wide stream (pys_redirect's writer, or the original stream).
 * sys.stdout / sys.stderr become pyshim proxies on the first pys_redirect
 * or pys_exec_captured and stay so (forwarding to the stream they replaced
 * when nothing is routed) until pys_redirect(..., NULL, ...) finds no
 * capture in progress. A runtime that never captures never changes them.
 *
 * Policed runs: see pys_policy below and the README's "Policed runs"
 * section for what is and is not guaranteed against hostile code.
 *
 * Scripts: see pys_script_load. */
#ifndef PYSHIM_RUN_H
#define PYSHIM_RUN_H

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================= */
/* Output                                                                   */
/* ======================================================================= */

#define PYS_STDOUT 1
#define PYS_STDERR 2

/* Receives UTF-8 text (unencodable characters as backslash escapes; bytes
 * written to sys.stdout.buffer as they are). Text arrives line-buffered
 * like a terminal's: up to the last newline of each write, the rest on
 * flush() or at the end of the run. Called on the thread that wrote, with
 * the GIL held; it may call pyshim. data is valid during the call only. */
typedef void (*pys_write_fn)(void *ud, const char *data, size_t len);

/* Makes the process-wide sys.stdout and/or sys.stderr (streams: PYS_STDOUT,
 * PYS_STDERR or both) write to fn(ud, ...); fn == NULL flushes and stops
 * that, restoring the original stream objects once no capture is in
 * progress. Calls that route their own output (pys_exec_captured) are not
 * affected. flush() delivers buffered text, isatty() is false, encoding is
 * "utf-8", fileno() raises io.UnsupportedOperation while routed. ud must
 * stay valid until fn is replaced. Returns PYS_OK, PYS_E_ARG (streams not
 * a non-empty subset of PYS_STDOUT | PYS_STDERR), PYS_E_CLOSED, or
 * PYS_E_PYTHON. Thread-safe. */
PYS_API int pys_redirect(pys_runtime *rt, int streams, pys_write_fn fn, void *ud);

/* Executes src in ns (PYS_NULL: __main__) like pys_exec_in, with this
 * call's writes to the selected streams going to fn(ud, ...) (both streams
 * to the same fn; each is line-buffered separately and flushed before the
 * call returns). Output of other threads is not captured; nested captures
 * stack (the inner one wins for the streams it selects). Returns as
 * pys_exec_in does (PYS_OK, PYS_E_PYTHON, PYS_E_EXIT, PYS_E_TIMEOUT, ...),
 * or PYS_E_ARG (NULL src or fn, bad streams), PYS_E_HANDLE / PYS_E_TYPE
 * (ns). Thread-safe. */
PYS_API int pys_exec_captured(pys_runtime *rt, const char *src, pys_obj ns, int streams,
                              pys_write_fn fn, void *ud);

/* ======================================================================= */
/* Hot-reloaded scripts                                                      */
/* ======================================================================= */

/* Compiles and runs the file at path into a fresh namespace (a copy of
 * globals_or_null, a dict, if given; __name__ "__pyshim_script__",
 * __file__ path, the real builtins) and returns a new owned handle to the
 * script, or PYS_NULL: PYS_E_ARG (NULL or empty path), PYS_E_TYPE
 * (globals not a dict), PYS_E_PYTHON (the file cannot be read:
 * FileNotFoundError..., or does not compile or run: the exception),
 * PYS_E_CLOSED. Thread-safe. */
PYS_API pys_obj pys_script_load(pys_runtime *rt, const char *path, pys_obj globals_or_null);

/* Checks the file (mtime, size, inode; then a SHA-256 of the content when
 * they changed) and, if its content changed, compiles and runs it into a
 * new namespace that replaces the current one in a single step: calls in
 * flight on other threads finish on the version they started with, and
 * every later pys_script_get sees the new one. If the new version fails
 * (SyntaxError, an exception at top level, the file gone), the old one
 * stays in service, *reloaded is false and the exception is returned
 * (PYS_E_PYTHON); the failed content is not retried until the file
 * changes again. Sets *reloaded (may be NULL) to whether a new version
 * was swapped in. Returns PYS_OK, PYS_E_PYTHON, PYS_E_HANDLE, PYS_E_TYPE
 * (not a script handle), PYS_E_CLOSED. Thread-safe; concurrent reloads of
 * one script are serialised. */
PYS_API int pys_script_reload_if_changed(pys_obj script, bool *reloaded);

/* The current version's global `name` (a function to call, usually): a
 * new owned handle, or PYS_NULL: PYS_E_PYTHON (AttributeError: no such
 * name), PYS_E_ARG, PYS_E_HANDLE, PYS_E_TYPE, PYS_E_CLOSED. The handle
 * keeps that version's object (and its globals) alive after later
 * reloads. Thread-safe. */
PYS_API pys_obj pys_script_get(pys_obj script, const char *name);

/* How many versions were swapped in (1 after pys_script_load). Returns
 * PYS_OK, PYS_E_ARG (NULL version), PYS_E_HANDLE, PYS_E_TYPE, PYS_E_CLOSED.
 * Thread-safe. */
PYS_API int pys_script_version(pys_obj script, uint64_t *version);

/* Called on a watch's own thread after each reload it attempted that
 * swapped in a version (rc PYS_OK, reloaded true) or failed (rc the error,
 * pys_last_error() on that thread has the detail). script is the watch's
 * own handle, valid during the call. No GIL is held. */
typedef void (*pys_script_fn)(void *ud, pys_obj script, int rc, bool reloaded);

/* Watches the script's file with inotify (its directory, so that a file
 * replaced by rename is followed) on a thread pyshim owns, reloading it as
 * pys_script_reload_if_changed does after each change and calling cb.
 * The watch ends at pys_script_unwatch or pys_close. Returns PYS_OK,
 * PYS_E_ARG (NULL cb), PYS_E_STATE (watched already), PYS_E_VALUE (inotify
 * refused: the message says why), PYS_E_NOMEM, PYS_E_HANDLE, PYS_E_TYPE,
 * PYS_E_CLOSED. Thread-safe. Linux only. */
PYS_API int pys_script_watch(pys_obj script, pys_script_fn cb, void *ud);

/* Stops the watch started with this handle and waits for its thread.
 * Returns PYS_OK, or PYS_E_STATE (not watched; or called inside a pyshim
 * call, batch or callback, or from the watch's own callback). */
PYS_API int pys_script_unwatch(pys_obj script);

/* ======================================================================= */
/* Policed runs                                                              */
/* ======================================================================= */

/* A policy: which audit events (PEP 578) a run may raise, which builtins
 * it sees, and its caps. Made and changed by one thread; once made, any
 * number of runs on any threads may use it at once, but it must not be
 * changed or freed while a run uses it. */
typedef struct pys_policy pys_policy;

/* A new empty policy (denies every event, default builtins, no caps):
 * owned by the caller until pys_policy_free. NULL: PYS_E_NOMEM.
 * Thread-safe. */
PYS_API pys_policy *pys_policy_new(void);
/* Frees it (and its Python objects, taking the GIL if the runtime that
 * made them is open). NULL is a no-op. */
PYS_API void pys_policy_free(pys_policy *p);

/* Allows audit event `event` (any event name CPython or a library raises:
 * "open", "socket.connect", "subprocess.Popen", "os.system", "gc.get_objects",
 * "object.__getattr__", ...), with arguments matching arg_filter, NULL for
 * any arguments:
 *   "import"            arg_filter is a module name: that module and its
 *                       submodules may be imported (NULL is PYS_E_ARG)
 *   "open"              a path prefix at a directory boundary, compared
 *                       after resolving symlinks and ".."; "ro:/path" also
 *                       wants a read-only mode; file descriptors never match
 *   "socket.*"          the host of the address ("127.0.0.1"), exactly
 *   "subprocess.Popen"  the program, as a full path, or as a name if the
 *                       filter has no '/'
 *   other events        a prefix of the first argument when it is text
 * Every other event raises PermissionError("pyshim policy: 'EVENT' denied
 * (ARG)") in the code that raised it. Returns PYS_OK, PYS_E_ARG (NULL
 * policy, empty event or filter), PYS_E_NOMEM. Not thread-safe (see
 * pys_policy). */
PYS_API int pys_policy_allow(pys_policy *p, const char *event, const char *arg_filter);

/* The builtins of the run: exactly these names (NULL-terminated), plus the
 * __build_class__ that `class` needs and the policy's __import__ wrapper
 * (which imports only modules allowed through pys_policy_allow(p,
 * "import", ...) and gives the code copies of their public names).
 * getattr / hasattr / setattr / delattr are given as versions that refuse
 * the names the source may not spell. vars, eval, exec, compile,
 * globals, locals, breakpoint, help and memoryview are refused
 * (PYS_E_ARG at the first run), as is a name builtins lacks. Without this
 * call the run gets a default set: plain data types and functions, print,
 * and the common exceptions (no open, no __import__ of anything, no type).
 * Returns PYS_OK, PYS_E_ARG (NULL), PYS_E_NOMEM. Not thread-safe. */
PYS_API int pys_policy_builtins(pys_policy *p, const char *const *names);

/* Caps a run's memory: Python allocations made on the run's thread while
 * it runs, minus those freed, may not exceed `bytes` (0: no cap). Over the
 * cap the allocation fails, which Python raises as MemoryError ("pyshim
 * policy: the run's memory limit of N bytes was reached"); the runtime
 * stays usable. Needs the runtime opened with pys_options.memory_caps (a
 * run of a capped policy without it is PYS_E_STATE). Counts what goes
 * through Python's allocators (objects, buffers, most of numpy's small
 * allocations), not memory C extensions take from malloc or mmap
 * directly. Returns PYS_OK or PYS_E_ARG. Not thread-safe. */
PYS_API int pys_policy_memory_limit(pys_policy *p, size_t bytes);

/* Routes the run's output of `streams` (0: not routed) to fn(ud, ...)
 * (NULL fn: discarded), as pys_exec_captured does. max_bytes > 0 caps it:
 * the write that passes the cap delivers what fits and raises
 * pyshim.OutputLimitExceeded (a BaseException), as does every later
 * write. Returns PYS_OK or PYS_E_ARG. Not thread-safe. */
PYS_API int pys_policy_output(pys_policy *p, int streams, pys_write_fn fn, void *ud,
                              size_t max_bytes);

/* Caps a run's time: the run's call gets this deadline (pys_set_deadline;
 * PYS_E_TIMEOUT when it passes), 0 for none. Returns PYS_OK or PYS_E_ARG.
 * Not thread-safe. */
PYS_API int pys_policy_timeout(pys_policy *p, uint32_t ms);

/* Executes src under the policy, in ns (a dict, whose __builtins__ it
 * replaces with the policy's: functions defined there keep them) or, for
 * PYS_NULL, in a fresh namespace dropped before the policy ends. The
 * source is refused before it runs (PermissionError) if it spells an
 * attribute starting with '_' (but __init__, __name__, __qualname__,
 * __doc__, __str__, __repr__, __len__, __iter__, __next__, __enter__,
 * __exit__), a frame attribute (gi_frame, cr_frame, ag_frame, f_back,
 * f_globals, f_locals, f_builtins, f_code, tb_frame, tb_next, mro, ...),
 * a name starting with "__", or a relative import. Only the calling
 * thread is policed: other threads' calls at the same time are not.
 * Threads the code could start (_thread and threading cannot be allowed;
 * on 3.13 starting one is the "_thread.start_new_thread" event, older
 * Pythons raise none, so an allowed module that starts threads, such as
 * concurrent.futures, is a way around) run their events unpoliced except
 * in frames of the policed code itself. Returns
 * PYS_OK; PYS_E_PYTHON (PermissionError naming the denied event or
 * spelling, MemoryError of the cap, pyshim.OutputLimitExceeded, or the
 * code's own exception); PYS_E_TIMEOUT; PYS_E_EXIT; PYS_E_ARG (NULL src or
 * policy, a refused builtin); PYS_E_STATE (a timeout inside a batch, a
 * memory cap without pys_options.memory_caps);
 * PYS_E_HANDLE / PYS_E_TYPE (ns); PYS_E_CLOSED. Thread-safe.
 *
 * What this does not guarantee: CPython was not built to contain hostile
 * code. An in-process interpreter shares the process's memory and
 * privileges; a bug in CPython or in an allowed C extension, a module the
 * policy allows whose public names lead further, or an allowed event with
 * a broad filter can all open a way out. Objects a policed run returns or
 * leaves in ns run their code (methods, __del__) policed only when they run
 * directly under their own builtins: called from unpoliced library code,
 * their events pass. State that unpoliced code left in an allowed module
 * (a cached attribute, an open file) is handed out as it is. Denial of service beyond the caps (deep recursion,
 * a C call that never returns to Python, huge integers' arithmetic) is not
 * prevented. For untrusted code, use an OS sandbox (a separate process
 * with seccomp, namespaces, rlimits) as the boundary, and this as a second
 * layer. */
PYS_API int pys_exec_policed(pys_runtime *rt, const char *src, pys_obj ns, pys_policy *policy);

#ifdef __cplusplus
}
#endif

#endif
