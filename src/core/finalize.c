/* Python threads at finalisation: what pys_close does around Py_FinalizeEx
 * so that threading's shutdown does not hang, and so that a thread left
 * running by it cannot wake up in the next interpreter (pys_open refuses
 * until it has ended). Also what pys_open refuses to initialise again on
 * a CPython whose extension modules would crash it (3.12.0-3.12.4). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#if defined(__linux__)
#include <link.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "core/runtime.h"
#include "core/finalize.h"
#include "core/error.h"
#include "core/types.h"
#include "core/call.h"
#include "core/pymod.h"

/* threading._shutdown() (run by Py_FinalizeEx) waits on 3.9-3.12 for the
 * tstate lock of threading's "main thread" when it runs on another thread.
 * That main thread is the thread that imported threading first: often a
 * host thread, whose thread state pyshim keeps until the thread exits, or
 * the opener when close runs elsewhere. Its lock is released only when
 * that thread state is deleted, after finalisation: a hang. On its own
 * thread _shutdown releases it itself; do the same here, without marking
 * that thread stopped (so non-daemon threads are still joined and
 * threading's atexit hooks run). 3.8 releases it from any thread; 3.13+
 * no longer wait for it. */
#include "core/shutdown_fix_py.h" /* shutdown_fix, from the .py beside this file */

/* ---- Python threads that outlive finalisation ---------------------------------------
 *
 * Py_FinalizeEx joins non-daemon threads; daemon threads (and threads
 * started with _thread directly) are left blocked where they were, their
 * thread states freed. Up to 3.13 such a thread ends when it wakes up,
 * since finalisation stays marked until Python is initialised again; but
 * one that wakes up after a new Py_Initialize runs on its freed thread
 * state and crashes the process. So pys_close records the Python threads
 * still running once atexit runs (after threading's shutdown: the hook is
 * registered right before Py_FinalizeEx): their native ids when threading
 * knows them, else a count of unknown ones. pys_open refuses to initialise
 * Python again while a recorded thread still exists (Linux: tgkill with
 * signal 0); an unknown one, or any on a system where pyshim cannot tell,
 * makes the refusal permanent for the process. Guarded by open_lock. */

#define LEFT_MAX 256
static struct {
    bool armed;    /* the hook was registered by this close */
    bool reported; /* and ran */
    int unknown;   /* threads whose end cannot be seen */
    int n;
    long tids[LEFT_MAX];
} left;

#include "core/threads_left_py.h" /* left_src, from the .py beside this file */

static PyObject *left_report(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *u = pys__api.PyTuple_GetItem(args, 0);
    PyObject *ids = u ? pys__api.PyTuple_GetItem(args, 1) : NULL;
    if (!ids)
        return NULL;
    left.reported = true;
    left.unknown = (int)pys__api.PyLong_AsLong(u);
    Py_ssize_t n = pys__api.PyList_Size(ids);
    for (Py_ssize_t i = 0; i < n; i++) {
        long tid = pys__api.PyLong_AsLong(pys__api.PyList_GetItem(ids, i));
        if (left.n < LEFT_MAX && tid > 0)
            left.tids[left.n++] = tid;
        else
            left.unknown++;
    }
    if (pys__api.PyErr_Occurred()) {
        pys__api.PyErr_Clear();
        left.unknown++;
    }
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

static PyMethodDef left_report_def = {"pyshim_threads_left", left_report, PYS__METH_VARARGS,
                                      "Records the Python threads left at finalisation."};

/* Runs a helper of this folder in a private namespace (core/pymod.c); with
 * report, calls its arm(report). No exception is left. */
static bool run_helper(pys_runtime *rt, const char *src, const char *name, PyMethodDef *report)
{
    PyObject *arm = NULL, *f = NULL, *r = NULL;
    static const char *const names[] = {"arm"};
    PyObject *ns = pys__pymod_run(rt, src, name, name, names, &arm, report ? 1 : 0);
    if (ns && report && (f = pys__api.PyCFunction_NewEx(report, NULL, NULL)))
        r = pys__call_raw(arm, &f, 1, NULL);
    bool ok = ns && (!report || r);
    pys__api.Py_DecRef(r);
    pys__api.Py_DecRef(f);
    pys__api.Py_DecRef(ns);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    return ok;
}

static bool tid_exists(long tid)
{
#if defined(__linux__) && defined(SYS_tgkill)
    return syscall(SYS_tgkill, (long)getpid(), tid, 0) == 0 || errno != ESRCH;
#else
    (void)tid;
    return true;
#endif
}

int pys__threads_reopen_check(const char *fn)
{
#if !(defined(__linux__) && defined(SYS_tgkill))
    if (left.n)
        left.unknown += left.n;
#endif
    int k = 0;
    for (int i = 0; i < left.n; i++)
        if (tid_exists(left.tids[i]))
            left.tids[k++] = left.tids[i];
    left.n = k;
    if (left.unknown)
        return pys__fail(fn, PYS_E_STATE,
                         "%s: %d Python thread(s) that pyshim cannot follow (started with "
                         "_thread, or not seen by threading) were still running when pys_close "
                         "finalised Python; one that wakes up in a new interpreter would crash "
                         "the process, so Python cannot be initialised again in this process. "
                         "End such threads before pys_close, or close with skip_finalize",
                         fn, left.unknown);
    if (left.n)
        return pys__fail(fn, PYS_E_STATE,
                         "%s: %d Python thread(s) (daemon threads; native id %ld%s) were still "
                         "running when pys_close finalised Python and have not ended yet; one "
                         "that wakes up in a new interpreter would crash the process. Try again "
                         "once they have ended, end them before pys_close, or close with "
                         "skip_finalize",
                         fn, left.n, left.tids[0], left.n > 1 ? ", ..." : "");
    return PYS_OK;
}

/* ---- CPython 3.12.0-3.12.4: extension modules across a new initialisation ----------------
 *
 * Their Argument Clinic parsers for METH_FASTCALL|METH_KEYWORDS functions
 * of extension modules loaded from files (the stdlib's lib-dynload:
 * _hashlib, _ssl, _struct, math, select, _json...) keep the keyword tuple
 * of the interpreter that first parsed keywords in the .so's static data,
 * and finalisation does not reset it: in a Python initialised again the
 * first such call with keywords reads the freed tuple and crashes
 * (CPython gh-122334, fixed in 3.12.5; hashlib.md5(b"", usedforsecurity=
 * False) is one). CPython never unloads an extension, so whether one was
 * imported before shows in the objects loaded in the process. */

#if defined(__linux__)
static int find_dynload(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    const char *n = info->dlpi_name;
    const char *d = n ? strstr(n, "/lib-dynload/") : NULL;
    if (!d || !strstr(d, ".so"))
        return 0;
    *(const char **)data = d + strlen("/lib-dynload/");
    return 1;
}
#endif

int pys__reinit_check(const char *fn, int version, int micro)
{
    if (version != 0x030c || micro >= 5)
        return PYS_OK;
    const char *ext = "(one cannot be seen on this system)";
#if defined(__linux__)
    ext = NULL;
    dl_iterate_phdr(find_dynload, &ext);
    if (!ext)
        return PYS_OK;
#endif
    return pys__fail(fn, PYS_E_STATE,
                     "%s: Python 3.12.%d was finalised in this process after an extension "
                     "module from its lib-dynload was imported (%s); initialised again, 3.12.0 "
                     "to 3.12.4 crash when such a module's function takes keyword arguments "
                     "(CPython gh-122334, fixed in 3.12.5), so Python cannot be initialised "
                     "again in this process. Use Python 3.12.5 or newer, or close with "
                     "skip_finalize (the next pys_open attaches to the same interpreter)",
                     fn, micro, ext);
}

void pys__threads_after_finalize(pys_runtime *rt)
{
    if (left.armed && !left.reported) {
        /* atexit did not run the hook (cleared meanwhile): cannot tell. */
        left.unknown++;
        pys__log(rt, PYS_LOG_WARN, "pys_close: could not see which Python threads outlived "
                                   "finalisation");
    }
    left.armed = left.reported = false;
}

void pys__threads_before_finalize(pys_runtime *rt)
{
    if (rt->version >= 0x0309 && rt->version <= 0x030c && !run_helper(rt, shutdown_fix, "pyshim._shutdown_fix", NULL))
        pys__log(rt, PYS_LOG_WARN, "pys_close: could not prepare threading for finalisation");
    left.reported = false;
    left.armed = run_helper(rt, left_src, "pyshim._threads_left", &left_report_def);
    if (!left.armed)
        pys__log(rt, PYS_LOG_WARN, "pys_close: cannot see which Python threads will outlive "
                                   "finalisation");
}
