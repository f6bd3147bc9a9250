/* pyshim's own Python helper modules (the recipes, async and the host
 * module finder): each is a .py file in the tree, embedded at build time
 * (scripts/embed-py.py), run once per open in a private namespace that no
 * module table holds (core/pymod.c). */
#ifndef PYS_CORE_PYMOD_H
#define PYS_CORE_PYMOD_H

#include <stddef.h>

#include "core/runtime.h"

/* Compiles src as the file `filename` and runs it in a new namespace whose
 * __name__ is modname and whose __builtins__ are the real ones (those of
 * the open, or the interpreter's once pys_close dropped them); then looks
 * up names[0..n) in it. Returns the namespace (a new reference) with
 * out[i] set to each name's object, borrowed from the namespace (valid
 * while the caller holds it); or NULL with a Python exception set
 * (RuntimeError naming a missing name) and every out[i] NULL. Needs the
 * GIL and an open runtime. */
PyObject *pys__pymod_run(pys_runtime *rt, const char *src, const char *modname,
                         const char *filename, const char *const *names, PyObject **out,
                         size_t n);

#endif
