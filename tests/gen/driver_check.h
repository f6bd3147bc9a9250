/* The checks of the gen drivers (driver.c, driver_typeshed.c): a failed
 * CHECK prints the condition and pys_last_error(), counts in `failures`,
 * and the driver goes on. Include after the generated headers (pyshim.h). */
#ifndef PYSHIM_GEN_DRIVER_CHECK_H
#define PYSHIM_GEN_DRIVER_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s %s: %s)\n", __FILE__,         \
                    __LINE__, #cond, pys_err_name(pys_last_error()->code),                         \
                    pys_last_error()->type, pys_last_error()->message);                            \
        }                                                                                          \
    } while (0)
#define OK(call) CHECK((call) == PYS_OK)

#endif
