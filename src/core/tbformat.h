/* Formatting a traceback (core/tbformat.c), for core/error.c: with the
 * traceback module's own format_exception, or pyshim's C formatter. */
#ifndef PYS_CORE_TBFORMAT_H
#define PYS_CORE_TBFORMAT_H

#include "core/runtime.h"

/* str(o) as a malloc'd UTF-8 string (NULL for NULL o); never leaves an
 * exception. */
char *pys__str_of(PyObject *o);

/* The traceback text of (type, value, tb), malloc'd, at most
 * PYS_TRACEBACK_MAX_BYTES; line is the error's message line for the C
 * formatter. GIL held; runs the traceback module's own format_exception
 * (imported the first time and kept in rt until close: a replacement put
 * in its place is never called), else (or if that fails) the C formatter,
 * which walks the frames and the exception chain itself, bounded. Never
 * leaves an exception; NULL only when out of memory. */
char *pys__tb_format(pys_runtime *rt, PyObject *type, PyObject *value, PyObject *tb,
                     const char *line);

#endif
