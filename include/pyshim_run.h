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

#ifdef __cplusplus
}
#endif

#endif
