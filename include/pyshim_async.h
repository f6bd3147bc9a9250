/* pyshim — Async: coroutines, futures, a persistent event loop.
 * Included by pyshim.h; do not include directly. */
#ifndef PYSHIM_ASYNC_H
#define PYSHIM_ASYNC_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif
