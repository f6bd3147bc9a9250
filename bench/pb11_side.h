/* The pybind11 side of pysbench (pb11_side.cpp), seen from the C runner in
 * bench_capi. Built only where pybind11's headers are found. */
#ifndef PYSBENCH_PB11_SIDE_H
#define PYSBENCH_PB11_SIDE_H

#include "bench_util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Makes the objects the ops use; Python is initialised and the GIL held.
 * Returns 0, or -1 with a Python exception set. */
int pb11_setup(void);
/* The op of a slot (batched mode: the caller holds the GIL), or NULL where
 * the row has no pybind11 version. */
pb_fn pb11_op(int slot);
/* Drops the objects (GIL held), before the C side finalises. */
void pb11_teardown(void);

#ifdef __cplusplus
}
#endif

#endif
