/* pyshim — Threads: batching, free-threaded builds, interrupts and deadlines.
 * Included by pyshim.h; do not include directly. */
#ifndef PYSHIM_THREADS_H
#define PYSHIM_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif
