/* The value codes, written once: the letters of the call and build formats
 * (format.c), of bridge signatures (bridge/sig.c) and of the bridge's
 * argument and result conversions (bridge/call.c). Pure C: no Python is
 * needed to read it (the signature parser and its tests include it).
 *
 * PYS__SCALAR_CODES(X) lists the scalar codes, one X per code:
 *   X(L, ch, ctype, vatype, regtype, pytype, kind, lo, hi, ffi, reg, to_py, range, doc)
 *   L       the letter as an identifier (names pys__sc_L, pys__fit_L)
 *   ch      the letter as a char
 *   ctype   the C type of the value
 *   vatype  the type va_arg reads (ctype after the default promotions)
 *   regtype how a bridge result sits in its register (what the callee set)
 *   pytype  the Python type shown in signatures and type errors
 *   kind    PYS__CK_SINT / UINT / REAL / BOOL
 *   lo, hi  the range of an integer code (lo as int64_t, hi as uint64_t)
 *   ffi     which typed array of the FFI face holds the value: INTS, DBLS
 *   reg     the bridge's register class: U (integer), D (double)
 *   to_py   the pys__api function that makes the Python value from ctype
 *   range   the bridge's OverflowError text after "argument 'x' "
 *   doc     the C type as the public docs name it
 * From Python every scalar code has ONE acceptance rule, pys__sc_L in
 * convert/scalar.h, used by pys_to_*, the bridge and everything else.
 *
 * PYS__OTHER_CODES(X) lists the rest: X(ch, pytype, where, ffi, doc), where
 * is the places the code may appear (PYS__CW_*; scalar codes appear in
 * all) and ffi the typed array of the FFI face its value comes from (STRS,
 * OBJS, or NONE for a code without a value).
 * Adding an integer code: a line here (scalar.h derives its rule from
 * kind and range), the docs (pyshim.h Formats, pyshim_bridge.h
 * Signatures, pyshim_ffi.h) and tests.
 *
 * The element types of the bulk arrays (pys_to_array) are a table of their
 * own, convert/elems.h, with a documented wider rule than these codes':
 * they take __float__ / __index__ objects such as numpy scalars, because
 * bulk data mostly comes from numerical code that hands out those. */
#ifndef PYS_CONVERT_CODES_H
#define PYS_CONVERT_CODES_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

enum { PYS__CK_SINT = 1, PYS__CK_UINT, PYS__CK_REAL, PYS__CK_BOOL };

/* clang-format off */
#define PYS__SCALAR_CODES(X)                                                                       \
    X(q, 'q', int64_t,  int64_t,  int64_t,  "int",   PYS__CK_SINT, INT64_MIN, INT64_MAX,          \
      INTS, U, PyLong_FromLongLong,         "is out of range for int64",    "int64_t")             \
    X(Q, 'Q', uint64_t, uint64_t, uint64_t, "int",   PYS__CK_UINT, 0,         UINT64_MAX,         \
      INTS, U, PyLong_FromUnsignedLongLong, "is out of range for uint64",   "uint64_t")            \
    X(i, 'i', int,      int,      int32_t,  "int",   PYS__CK_SINT, INT_MIN,   INT_MAX,            \
      INTS, U, PyLong_FromLongLong,         "is out of range for a C int",  "int")                 \
    X(I, 'I', uint32_t, unsigned, uint32_t, "int",   PYS__CK_UINT, 0,         UINT32_MAX,         \
      INTS, U, PyLong_FromUnsignedLongLong, "is out of range for uint32",   "uint32_t")            \
    X(d, 'd', double,   double,   double,   "float", PYS__CK_REAL, 0,         0,                  \
      DBLS, D, PyFloat_FromDouble,          "is too large for a double",    "double")              \
    X(b, 'b', bool,     int,      uint8_t,  "bool",  PYS__CK_BOOL, 0,         1,                  \
      INTS, U, PyBool_FromLong,             "is out of range for bool",     "bool (passed as int)")

/* Where a code may appear. */
#define PYS__CW_FMT 1u   /* call and build formats */
#define PYS__CW_PARAM 2u /* a bridge parameter */
#define PYS__CW_RET 4u   /* a bridge result */
#define PYS__CW_ALL 7u

#define PYS__OTHER_CODES(X)                                                                        \
    X('s', "str",    PYS__CW_ALL,                 STRS, "const char * (UTF-8)")                    \
    X('y', "bytes",  PYS__CW_FMT | PYS__CW_PARAM, STRS, "const void *, size_t")                    \
    X('n', "None",   PYS__CW_FMT | PYS__CW_RET,   NONE, "None, no C value")                        \
    X('O', "object", PYS__CW_ALL,                 OBJS, "pys_obj (borrowed)")                      \
    X('N', "object", PYS__CW_FMT,                 OBJS, "pys_obj (released by the call)")
/* clang-format on */

_Static_assert(sizeof(int) == 4, "code 'i' is a 32-bit int (the bridge's 'i' is int32)");

/* Whether c is a scalar code. */
static inline bool pys__code_is_scalar(char c)
{
    switch (c) {
#define PYS__X(L, ch, ...) case ch:
        PYS__SCALAR_CODES(PYS__X)
#undef PYS__X
        return true;
    }
    return false;
}

/* The PYS__CK_* kind of a scalar code, 0 for other letters. */
static inline int pys__code_kind(char c)
{
    switch (c) {
#define PYS__X(L, ch, ctype, vatype, regtype, pytype, kind, ...)                                   \
    case ch:                                                                                       \
        return kind;
        PYS__SCALAR_CODES(PYS__X)
#undef PYS__X
    }
    return 0;
}

/* Whether scalar code c travels in a double register (else an integer
 * one). */
static inline bool pys__code_is_dbl(char c)
{
    return pys__code_kind(c) == PYS__CK_REAL;
}

/* The range of an integer code (SINT: lo..hi as int64_t; UINT: 0..hi). */
static inline int64_t pys__code_lo(char c)
{
    switch (c) {
#define PYS__X(L, ch, ctype, vatype, regtype, pytype, kind, lo, ...)                               \
    case ch:                                                                                       \
        return (int64_t)(lo);
        PYS__SCALAR_CODES(PYS__X)
#undef PYS__X
    }
    return 0;
}
static inline uint64_t pys__code_hi(char c)
{
    switch (c) {
#define PYS__X(L, ch, ctype, vatype, regtype, pytype, kind, lo, hi, ...)                           \
    case ch:                                                                                       \
        return (uint64_t)(hi);
        PYS__SCALAR_CODES(PYS__X)
#undef PYS__X
    }
    return 0;
}

/* The PYS__CW_* places code c may appear, 0 for an unknown letter. */
static inline unsigned pys__code_where(char c)
{
    switch (c) {
#define PYS__X(L, ch, ...) case ch:
        PYS__SCALAR_CODES(PYS__X)
#undef PYS__X
        return PYS__CW_ALL;
#define PYS__X(ch, pytype, where, ...)                                                             \
    case ch:                                                                                       \
        return where;
        PYS__OTHER_CODES(PYS__X)
#undef PYS__X
    }
    return 0;
}

/* The Python type code c shows as ("int", "str"), "?" for unknown. */
static inline const char *pys__code_pytype(char c)
{
    switch (c) {
#define PYS__X(L, ch, ctype, vatype, regtype, pytype, ...)                                         \
    case ch:                                                                                       \
        return pytype;
        PYS__SCALAR_CODES(PYS__X)
#undef PYS__X
#define PYS__X(ch, pytype, ...)                                                                    \
    case ch:                                                                                       \
        return pytype;
        PYS__OTHER_CODES(PYS__X)
#undef PYS__X
    }
    return "?";
}

#endif
