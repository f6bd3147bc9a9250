/* pyshim — Bridge: exposing C functions to Python.
 * Included by pyshim.h; do not include directly. */
#ifndef PYSHIM_BRIDGE_H
#define PYSHIM_BRIDGE_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif
