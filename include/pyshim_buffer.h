/* pyshim — Buffers: zero-copy memoryviews, buffer views, bulk arrays.
 * Included by pyshim.h; do not include directly. */
#ifndef PYSHIM_BUFFER_H
#define PYSHIM_BUFFER_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif
