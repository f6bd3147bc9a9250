/* A fake libpython for the loader tests: it reports the version given at
 * build time. By default it exports only a couple of symbols, so resolving
 * the C-API table must fail cleanly, naming the first missing required
 * symbol. With FAKE_FULL it exports every symbol of capi.def (as stubs that
 * are never called: the tests stop before initialisation); building with
 * -DNAME=fake_omitted_NAME leaves NAME out. */
#ifndef FAKE_VERSION
#define FAKE_VERSION "3.12.0 (fake)"
#endif

#define FAKE_API __attribute__((visibility("default")))

#ifdef FAKE_FULL
/* The stubs for these two are renamed out of the way: defined below. */
#define Py_GetVersion fake_stub_Py_GetVersion
#define Py_IsInitialized fake_stub_Py_IsInitialized
#define PYS_FN(ret, name, params, since, req)                                                      \
    FAKE_API void name(void);                                                                      \
    FAKE_API void name(void) {}
#define PYS_DATA(name, since, req) FAKE_API void *name;
#include "capi.def"
#undef PYS_FN
#undef PYS_DATA
#undef Py_GetVersion
#undef Py_IsInitialized
#endif

const char *Py_GetVersion(void);
int Py_IsInitialized(void);

FAKE_API const char *Py_GetVersion(void)
{
    return FAKE_VERSION;
}

FAKE_API int Py_IsInitialized(void)
{
    return 0;
}
