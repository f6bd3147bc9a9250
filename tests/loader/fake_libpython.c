/* A fake libpython for the loader tests: it reports the version given at
 * build time and exports only a couple of symbols, so resolving the C-API
 * table must fail cleanly, naming the first missing required symbol. */
#ifndef FAKE_VERSION
#define FAKE_VERSION "3.12.0 (fake)"
#endif

const char *Py_GetVersion(void);
int Py_IsInitialized(void);

__attribute__((visibility("default"))) const char *Py_GetVersion(void)
{
    return FAKE_VERSION;
}

__attribute__((visibility("default"))) int Py_IsInitialized(void)
{
    return 0;
}
