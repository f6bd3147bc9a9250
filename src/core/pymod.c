/* Running pyshim's helper modules (core/pymod.h). The namespace is a plain
 * dict rather than a module in sys.modules, so user code cannot reach or
 * replace the helpers by importing them. */
#include <stdio.h>

#include "core/pymod.h"

PyObject *pys__pymod_run(pys_runtime *rt, const char *src, const char *modname,
                         const char *filename, const char *const *names, PyObject **out,
                         size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    PyObject *ns = pys__api.PyDict_New();
    if (!ns)
        return NULL;
    PyObject *name = NULL, *code = NULL, *r = NULL;
    /* The real builtins: the module taken at open; late in pys_close,
     * once it is dropped, the interpreter's (no frame runs then). */
    PyObject *b = rt->builtins ? rt->builtins : pys__api.PyEval_GetBuiltins();
    if (pys__api.PyDict_SetItemString(ns, "__builtins__", b) < 0 ||
        !(name = pys__api.PyUnicode_FromString(modname)) ||
        pys__api.PyDict_SetItemString(ns, "__name__", name) < 0 ||
        !(code = pys__api.Py_CompileString(src, filename, PYS__Py_file_input)) ||
        !(r = pys__api.PyEval_EvalCode(code, ns, ns)))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        PyObject *key = pys__api.PyUnicode_FromString(names[i]);
        out[i] = key ? pys__api.PyDict_GetItemWithError(ns, key) : NULL; /* borrowed */
        pys__api.Py_DecRef(key);
        if (!out[i]) {
            if (!pys__api.PyErr_Occurred()) {
                char msg[256];
                snprintf(msg, sizeof msg, "%s defines no %s", filename, names[i]);
                pys__api.PyErr_SetString(PYS__EXC(RuntimeError), msg);
            }
            goto fail;
        }
    }
    pys__api.Py_DecRef(name);
    pys__api.Py_DecRef(code);
    pys__api.Py_DecRef(r);
    return ns;
fail:
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    pys__api.Py_DecRef(name);
    pys__api.Py_DecRef(code);
    pys__api.Py_DecRef(r);
    pys__api.Py_DecRef(ns);
    return NULL;
}
