/* What pys_open needs from the bridge layer. */
#ifndef PYS_BRIDGE_H
#define PYS_BRIDGE_H

#include "core/runtime.h"

/* Bridge (api.c). pys__bridge_check validates pys_options.bridge_funcs
 * without Python (pys_open calls it before loading anything);
 * pys__bridge_open registers them, GIL held, at the end of pys_open. Both
 * take the resolved options (bridge_module set) and return PYS_OK or a
 * code with the error set. */
int pys__bridge_check(const pys_options *o);
int pys__bridge_open(pys_runtime *rt, const pys_options *o);

#endif
