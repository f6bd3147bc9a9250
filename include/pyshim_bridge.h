/* pyshim — Bridge: exposing C functions to Python.
 * Included by pyshim.h; do not include directly.
 *
 * C functions are reached from Python as `import c_bridge; c_bridge.f(...)`
 * (the module name is pys_options.bridge_module) or through host modules of
 * their own (pys_module_new). Two kinds of function:
 *
 * - generic (pys_bridge_fn): gets the positional arguments as handles and
 *   the keyword arguments as a dict handle, returns a status and a handle;
 * - typed: a plain C function such as `int64_t add(int64_t, int64_t)`,
 *   described by a signature string, converted and checked by pyshim.
 *
 * Either kind is an ordinary built-in function of its module to Python:
 * repr "<built-in function add>", its signature in help() and
 * inspect.signature, pickled by name.
 * Its __self__ is a private module object (pyshim.BridgeSelf) named after
 * the module that keeps the registration alive; setting, deleting or
 * clearing its attributes does not affect the function.
 *
 * Signatures (typed functions). Parameter codes, as in the call formats:
 *   q int64_t   Q uint64_t   i int   I uint32_t   d double   b bool
 * A parameter takes exactly what pys_to_int64 / pys_to_uint64 /
 * pys_to_int32 / pys_to_double / pys_to_bool take for its code (one rule
 * per code): q Q i I an int (bool included; I in 0..4294967295, else
 * OverflowError), d a float or an int (an int subclass's __float__ runs;
 * what it raises reaches the caller), b a bool or an int (nonzero is
 * true; another object is a TypeError: use O and pys_truthy for
 * truthiness).
 *   s const char * (str, UTF-8, valid during the call)
 *   y const void *, size_t (any bytes-like object; two C parameters)
 *   O pys_obj (any object; the handle is valid during the call)
 * A parameter may be named (`x:q`): then it can also be passed by keyword;
 * unnamed parameters are positional-only and must come first. `*` starts
 * keyword-only parameters, `/` makes the named ones before it
 * positional-only. `=literal` gives a default: an integer, a float, True,
 * False, None (s, y and O only, see below) or a quoted string ('a' or "a",
 * with \\ escapes). After `>` comes the return code: q Q i I d b, s (a UTF-8
 * string copied before the function's memory could change; NULL gives
 * None), O (a new handle that pyshim releases; PYS_NULL means failure) or
 * n (void; the default when there is no `>`). Spaces and commas between
 * items are ignored. Examples:
 *   "qq>q"                       int64_t add(int64_t, int64_t)
 *   "sd>s"                       const char *fmt(const char *, double)
 *   "x:d, y:d=0.0, *, scale:d=1 > d"
 *   "data:y, name:s=None > q"    int64_t f(const void *, size_t, const char *)
 * A None default for s / y / O means the C function receives NULL (NULL, 0)
 * or a handle to None when the argument is omitted or passed as None.
 * Limits (the call goes through fixed typed trampolines, see src/bridge/call.c): at
 * most 6 integer-class C parameters (q Q i I b s O; y counts 2) and 8 double
 * parameters. Larger signatures are PYS_E_UNSUPPORTED at registration.
 * A wrong argument count or type raises TypeError (OverflowError for
 * out-of-range ints, ValueError for strings with NUL) in Python, naming the
 * function and the expected signature.
 *
 * Errors from C to Python: a callback calls pys_bridge_raise() (any
 * exception type) and returns; a generic callback that returns a failure
 * after a failed pyshim call re-raises that call's original Python
 * exception, traceback included; other failures become the matching Python
 * exception (PYS_E_TYPE -> TypeError, PYS_E_VALUE -> ValueError, ...,
 * otherwise RuntimeError) with pyshim's message.
 *
 * Threads: callbacks run on whichever thread Python calls them from (the
 * main thread, threading.Thread, asyncio tasks, executor threads), holding
 * the GIL (an attached thread state on free-threaded builds). pyshim calls
 * made inside a callback do not take the GIL again, and may re-enter
 * Python and other callbacks. Replacing or unregistering a function makes
 * references Python still holds raise RuntimeError. The function's
 * `release` runs once: at unregistration, replacement, module removal or
 * pys_close (if calls of it are still running, when the last one returns),
 * or when Python drops the last reference to a function it deleted from
 * its module itself (during a call of it: once that call has returned).
 * Callbacks that nest bridge calls on one thread (a callback calling its
 * own function through pyshim) raise RecursionError in Python once that
 * thread's C stack is nearly used up, whatever Python's recursion limit;
 * the pyshim call that made it fails with PYS_E_PYTHON. */
#ifndef PYSHIM_BRIDGE_H
#define PYSHIM_BRIDGE_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PYS_BRIDGE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PYS_BRIDGE_PRINTF(a, b)
#endif

/* A generic C function called from Python. args[0..nargs) are the
 * positional arguments and kwargs a dict of the keyword arguments (PYS_NULL
 * when none were passed); these handles are borrowed: they are released
 * when the callback returns (pys_dup one to keep it). Return PYS_OK and set
 * *result to a new handle (the bridge takes it over and releases it; leave
 * it PYS_NULL to return None), or return a negative code: see "Errors from
 * C to Python" above. */
typedef int (*pys_bridge_fn)(pys_runtime *rt, const pys_obj *args, size_t nargs, pys_obj kwargs,
                             void *userdata, pys_obj *result);

/* Any plain C function, stored for a typed call. Cast with PYS_CFUNC(f). */
typedef void (*pys_cfunc)(void);
#define PYS_CFUNC(f) ((pys_cfunc)(f))

/* One function to register. Zero-initialise it and set name plus either fn
 * (generic) or cfunc + signature (typed). Strings are copied. */
typedef struct pys_bridge_func {
    const char *name;           /* Python name (an identifier); required */
    pys_bridge_fn fn;           /* generic callback, or NULL */
    void *userdata;             /* passed to fn and to release */
    pys_cfunc cfunc;            /* typed C function, or NULL */
    const char *signature;      /* required with cfunc, see above */
    const char *doc;            /* docstring, or NULL */
    const char *text_signature; /* generic only: "(a, b=1, /)" for help();
                                 * default "(*args, **kwargs)" */
    void (*release)(void *userdata); /* called once when the function goes away
                                      * (GIL held; must not call pyshim) */
} pys_bridge_func;

/* ---- the bridge module (c_bridge) ------------------------------------- */

/* Registers f in the bridge module (created on first use), replacing a
 * function of the same name. Returns PYS_OK, PYS_E_ARG (bad name, both or
 * neither of fn / cfunc, malformed signature: the message points at it),
 * PYS_E_UNSUPPORTED (a signature beyond the trampolines' limits or this
 * platform's ABI), PYS_E_STATE (the bridge module name is taken by a
 * non-host module), PYS_E_CLOSED, PYS_E_NOMEM. On failure nothing changes
 * and f->release is not called. Thread-safe. */
PYS_API int pys_register(pys_runtime *rt, const pys_bridge_func *f);
/* pys_register of a generic function: c_bridge.name(...) calls
 * fn(rt, args, nargs, kwargs, userdata, &result). Same errors. */
PYS_API int pys_register_func(pys_runtime *rt, const char *name, pys_bridge_fn fn,
                              void *userdata);
/* pys_register of a typed function, e.g.
 * pys_register_typed(rt, "add", "qq>q", PYS_CFUNC(add)). Same errors. */
PYS_API int pys_register_typed(pys_runtime *rt, const char *name, const char *signature,
                               pys_cfunc fn);
/* Removes a function from the bridge module (its release runs). Returns
 * PYS_OK, PYS_E_ARG (no such registered function), PYS_E_CLOSED.
 * Thread-safe. */
PYS_API int pys_unregister(pys_runtime *rt, const char *name);
/* The bridge module (created if needed) as a new handle, or PYS_NULL
 * (PYS_E_STATE, PYS_E_CLOSED). Thread-safe. */
PYS_API pys_obj pys_bridge_module(pys_runtime *rt);

/* ---- raising from a callback --------------------------------------------- */

/* Inside a callback (generic or typed) on this thread: makes the call raise
 * `exc_type` with a printf-formatted message (fmt NULL: no message) when
 * the callback returns, whatever it returns (a typed function's return
 * value is then ignored). exc_type is a builtin exception name
 * ("ValueError") or "module.Name" of any exception class. A later call in
 * the same callback replaces the exception. rt may be NULL (the open
 * runtime). Returns PYS_E_PYTHON, so `return pys_bridge_raise(...)` ends a
 * generic callback; PYS_E_STATE outside a callback; PYS_E_ARG when
 * exc_type is not an exception class (a RuntimeError saying so is raised
 * instead). Thread-safe (per thread). */
PYS_API int pys_bridge_raise(pys_runtime *rt, const char *exc_type, const char *fmt, ...)
    PYS_BRIDGE_PRINTF(3, 4);
/* Same with an exception object: an instance (raised as is, keeping its
 * traceback) or an exception class. The handle stays the caller's.
 * Returns PYS_E_PYTHON, or PYS_E_STATE, PYS_E_HANDLE, PYS_E_TYPE (not an
 * exception). */
PYS_API int pys_bridge_raise_obj(pys_runtime *rt, pys_obj exc);

/* ---- host modules ------------------------------------------------------------ */

/* Creates an empty module `name` (a plain identifier, no dots) that
 * `import name` finds: it is put in sys.modules and served by a finder on
 * sys.meta_path, so it is found again after `del sys.modules[name]` and
 * survives importlib.reload(). A host module of the same name is replaced
 * (its functions are unregistered). Returns a new handle to the module, or
 * PYS_NULL: PYS_E_ARG (bad name), PYS_E_STATE (a non-host module of that
 * name is already imported), PYS_E_CLOSED, PYS_E_NOMEM. Thread-safe. */
PYS_API pys_obj pys_module_new(pys_runtime *rt, const char *name);
/* Adds (or replaces) a function in a host module. Returns what
 * pys_register returns, plus PYS_E_HANDLE, and PYS_E_TYPE when module is
 * not a host module. Thread-safe. */
PYS_API int pys_module_add(pys_obj module, const pys_bridge_func *f);
/* pys_module_add of a generic / a typed function. */
PYS_API int pys_module_add_func(pys_obj module, const char *name, pys_bridge_fn fn,
                                void *userdata);
PYS_API int pys_module_add_typed(pys_obj module, const char *name, const char *signature,
                                 pys_cfunc fn);
/* Sets module.name = value (borrowed; a registered function of that name is
 * unregistered). Returns PYS_OK, PYS_E_ARG, PYS_E_HANDLE, PYS_E_TYPE (not
 * a host module), PYS_E_CLOSED. Thread-safe. */
PYS_API int pys_module_add_const(pys_obj module, const char *name, pys_obj value);
/* Same with a value built from a format (see pys_build):
 * pys_module_add_constf(m, "VERSION", "(q q)", 1, 2). Also PYS_E_ARG for a
 * malformed format. */
PYS_API int pys_module_add_constf(pys_obj module, const char *name, const char *fmt, ...);
/* Sets the module's docstring (UTF-8; NULL clears it). Returns PYS_OK,
 * PYS_E_VALUE, PYS_E_HANDLE, PYS_E_TYPE, PYS_E_CLOSED. Thread-safe. */
PYS_API int pys_module_set_doc(pys_obj module, const char *doc);
/* Removes a registered function from a host module (its release runs).
 * Returns PYS_OK, PYS_E_ARG (no such function), PYS_E_HANDLE, PYS_E_TYPE,
 * PYS_E_CLOSED. Thread-safe. */
PYS_API int pys_module_remove_func(pys_obj module, const char *name);
/* Removes a host module (also the bridge module): unregisters its
 * functions and takes it out of sys.modules, so `import name` fails from
 * then on. Returns PYS_OK, PYS_E_ARG (no host module of that name),
 * PYS_E_CLOSED. Thread-safe. */
PYS_API int pys_module_remove(pys_runtime *rt, const char *name);

#ifdef __cplusplus
}
#endif

#endif
