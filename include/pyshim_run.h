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

#ifdef __cplusplus
}
#endif

#endif
