/* Shared by the fuzz targets: the one runtime of the targets that need
 * CPython, input copies, and the checks that turn a broken promise into a
 * crash libFuzzer keeps. */
#ifndef PYS_FUZZ_COMMON_H
#define PYS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pyshim.h>

/* libFuzzer's entry points (Initialize is optional). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Opens the runtime on the default Python (PYSHIM_PYTHON_VERSION and the
 * other pys_open overrides apply) the first time, and keeps it for the
 * process: CPython is initialised once. Exits if it cannot be opened. */
pys_runtime *fz_runtime(void);

/* A NUL-terminated malloc'd copy of data (a C string reader sees up to the
 * first NUL of the input). Never NULL. */
char *fz_cstr(const uint8_t *data, size_t size);

/* Aborts (a crash libFuzzer reports and keeps the input of) when !ok. */
void fz_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* After an input: the handle count is back to `handles`, the thread's
 * error is a real PYS_E_* code when `rc` is not PYS_OK, and the runtime
 * still runs Python (no exception was left pending). */
void fz_check_runtime(pys_runtime *rt, size_t handles, int rc, const char *what);

#endif
