/* The pyshim side of pysbench (see shim_ops.c). */
#ifndef PYSBENCH_SHIM_OPS_H
#define PYSBENCH_SHIM_OPS_H

#include <stdbool.h>

#include "bench_util.h"

/* Opens pyshim on `library`. inherit: Python is already initialised in this
 * process (by the C-API side); pyshim attaches to it and leaves it
 * initialised at close. Returns a PYS_* code. */
int shim_open(const char *library, bool inherit);
/* Makes the objects the ops use. Returns 0 or -1 (shim_error()). */
int shim_setup(bool *have_bridge, bool *have_numpy);
/* The op of a slot: PB_* or PB_NOPS / PB_NOPS + 1 (the PyRun_String rows). */
pb_fn shim_op(int slot);
/* Batched mode: pys_gil_acquire / pys_gil_release. */
int shim_batch_begin(void);
void shim_batch_end(void);
const char *shim_error(void);
void shim_close(void);
/* One startup run in this fresh process: times pys_open, prints the
 * result lines and exits. */
int shim_startup(const char *library, const char *t0s);

#endif
