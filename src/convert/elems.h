/* The bulk element types (pys_elem, include/pyshim_buffer.h) of
 * convert/array.c, written once: their sizes, names, validity, building,
 * the range-checked store of one value, the buffer formats copied with a
 * memcpy and the typed shorthands are all expanded from this table. Pure C.
 *
 * PYS__ELEM_TYPES(X) lists them, one X per pys_elem value:
 *   X(E, ctype, name, kind, lo, hi, fmt, make, sfx)
 *   E      the value's name after PYS_ELEM_
 *   ctype  the C type of one element
 *   name   the C type as errors name it ("item 2: ... does not fit in int32_t")
 *   kind   PYS__CK_REAL: read as a double; a finite value that becomes
 *          infinite as ctype is out of range.
 *          PYS__CK_SINT, PYS__CK_UINT: read as a Python int (long long);
 *          outside lo..hi is out of range (UINT: hi at most INT64_MAX)
 *   lo, hi the range of an integer kind (0, 0 for REAL)
 *   fmt    the struct-module type code read with one memcpy; any native
 *          format of the same kind and item size is too ('l' for int64_t)
 *   make   the pys__api function that makes the Python value from ctype
 *   sfx    the typed shorthands' suffix: pys_list_from_<sfx>,
 *          pys_tuple_from_<sfx>, pys_to_<sfx>
 *
 * Reading is not scalar.h's rule for the matching value code: a bulk read
 * also takes objects with __float__ (REAL) or __index__ (integer kinds), as
 * pyshim_buffer.h documents, because bulk arrays come from numerical code
 * whose items are often numpy scalars rather than int or float.
 *
 * Adding a type: a line here; in pyshim_buffer.h its pys_elem value and
 * the declarations of its three shorthands, with their docs (then
 * scripts/api-desc.py regenerates the FFI header and api/pyshim-api.json);
 * a row in the element table of tests/convert/test_buffer.c. An unsigned
 * type ends at INT64_MAX (array.c asserts it): uint64_t would need a
 * reader of its own. */
#ifndef PYS_CONVERT_ELEMS_H
#define PYS_CONVERT_ELEMS_H

#include <stdint.h>

#include "convert/codes.h"

/* clang-format off */
#define PYS__ELEM_TYPES(X)                                                                         \
    X(DOUBLE, double,  "double",  PYS__CK_REAL, 0,         0,         'd', PyFloat_FromDouble,     \
      doubles)                                                                                     \
    X(FLOAT,  float,   "float",   PYS__CK_REAL, 0,         0,         'f', PyFloat_FromDouble,     \
      floats)                                                                                      \
    X(INT64,  int64_t, "int64_t", PYS__CK_SINT, INT64_MIN, INT64_MAX, 'q', PyLong_FromLongLong,    \
      int64s)                                                                                      \
    X(INT32,  int32_t, "int32_t", PYS__CK_SINT, INT32_MIN, INT32_MAX, 'i', PyLong_FromLongLong,    \
      int32s)
/* clang-format on */

#endif
