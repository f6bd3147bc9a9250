/* The runtime singleton (core/runtime.h): a static object, so a pointer to
 * it stays valid after pys_close and later calls get PYS_E_CLOSED. */
#include "core/runtime.h"

pys_runtime pys__the_runtime;
_Atomic(pys_runtime *) pys__current;
