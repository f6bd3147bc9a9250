/* Signals: the host's signal dispositions survive a runtime.
 *
 * Design notes: docs/internals.md, "src/api/signals.c". */
#include <dlfcn.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

#include "core/runtime.h"
#include "core/types.h"
#include "api/api.h"

#ifndef NSIG
#define NSIG 65
#endif

static struct {
    bool saved;               /* host[] holds the host's dispositions */
    bool have[NSIG];          /* sigaction could read it */
    struct sigaction host[NSIG];
    struct sigaction after_init[NSIG];
    struct sigaction before_fini[NSIG];
    bool restore[NSIG];
    PyObject *getsignal;      /* _signal.getsignal (strong), during close */
} sg;

static void *handler_of(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) ? (void *)sa->sa_sigaction : (void *)sa->sa_handler;
}

static bool same(const struct sigaction *a, const struct sigaction *b)
{
    return handler_of(a) == handler_of(b) && (a->sa_flags & SA_SIGINFO) == (b->sa_flags & SA_SIGINFO);
}

void pys__sig_open_before(void)
{
    if (sg.saved)
        return; /* Python stayed initialised: these are still the host's */
    for (int s = 1; s < NSIG; s++)
        sg.have[s] = sigaction(s, NULL, &sg.host[s]) == 0;
    sg.saved = true;
}

void pys__sig_open_after(void)
{
    for (int s = 1; s < NSIG; s++)
        if (sg.have[s] && sigaction(s, NULL, &sg.after_init[s]) != 0)
            sg.after_init[s] = sg.host[s];
}

/* The real _signal.getsignal if Python code imported the signal module
 * (a builtin function, never a replacement that could run Python code),
 * else NULL. GIL held. */
static PyObject *find_getsignal(void)
{
    PyObject *mods = pys__api.PySys_GetObject("modules"); /* borrowed */
    PyObject *key = pys__api.PyUnicode_FromString("_signal");
    PyObject *m = mods && key ? pys__api.PyDict_GetItemWithError(mods, key) : NULL; /* borrowed */
    PyObject *g = m ? pys__api.PyObject_GetAttrString(m, "getsignal") : NULL;
    PyObject *b = g ? pys__api.PyImport_ImportModule("builtins") : NULL;
    PyObject *len = b ? pys__api.PyObject_GetAttrString(b, "len") : NULL;
    PyObject *gt = g ? pys__api.PyObject_Type(g) : NULL;
    PyObject *lt = len ? pys__api.PyObject_Type(len) : NULL;
    bool builtin = gt && gt == lt;
    PyObject *objs[] = {key, b, len, gt, lt};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++)
        pys__api.Py_DecRef(objs[i]);
    if (g && !builtin) {
        pys__api.Py_DecRef(g);
        g = NULL;
    }
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    return g;
}

/* Whether h lies in the loaded libpython (Python's own C handler). */
static bool in_libpython(void *h)
{
    Dl_info self, of;
    return dladdr((void *)pys__api.Py_IncRef, &self) && dladdr(h, &of) &&
           self.dli_fbase == of.dli_fbase;
}

/* Whether Python's signal module installed cur for signal s. GIL held. */
static bool python_set(int s, const struct sigaction *cur)
{
    if (!sg.getsignal)
        return false;
    PyObject *args = pys__api.PyTuple_New(1);
    PyObject *n = pys__api.PyLong_FromLongLong(s);
    if (!args || !n || pys__api.PyTuple_SetItem(args, 0, n) < 0) {
        if (args)
            pys__api.Py_DecRef(args);
        else if (n)
            pys__api.Py_DecRef(n);
        pys__api.PyErr_Clear();
        return false;
    }
    PyObject *v = pys__api.PyObject_CallObject(sg.getsignal, args);
    pys__api.Py_DecRef(args);
    bool r = false;
    if (v && v != PYS__None) {
        void *h = handler_of(cur);
        if (pys__type_of(v) == pys__api.PyLong_Type ||
            pys__api.PyObject_IsInstance(v, pys__api.PyLong_Type) == 1) {
            long k = pys__api.PyLong_AsLong(v);
            r = (k == 0 && h == (void *)SIG_DFL) || (k == 1 && h == (void *)SIG_IGN);
        } else if (pys__api.PyCallable_Check(v)) {
            r = h != (void *)SIG_DFL && h != (void *)SIG_IGN && in_libpython(h);
        }
    }
    pys__api.Py_DecRef(v);
    if (pys__api.PyErr_Occurred())
        pys__api.PyErr_Clear();
    return r;
}

static void drop_getsignal(void)
{
    pys__api.Py_DecRef(sg.getsignal);
    sg.getsignal = NULL;
}

void pys__sig_close_before(void)
{
    sg.getsignal = find_getsignal();
    for (int s = 1; s < NSIG; s++) {
        sg.restore[s] = false;
        if (!sg.have[s] || sigaction(s, NULL, &sg.before_fini[s]) != 0) {
            sg.have[s] = false;
            continue;
        }
        const struct sigaction *cur = &sg.before_fini[s];
        if (same(cur, &sg.after_init[s]))
            sg.restore[s] = !same(cur, &sg.host[s]); /* changed by init only */
        else
            sg.restore[s] = python_set(s, cur);
    }
    drop_getsignal();
}

void pys__sig_close_after(void)
{
    for (int s = 1; s < NSIG; s++) {
        struct sigaction now;
        if (!sg.have[s] || sigaction(s, NULL, &now) != 0)
            continue;
        if (sg.restore[s] || !same(&now, &sg.before_fini[s]))
            sigaction(s, &sg.host[s], NULL);
    }
    sg.saved = false;
}

void pys__sig_close_keep(void)
{
    drop_getsignal();
}
