/* Typed bridge signatures (src/bridge/sig.c, pys__bridge_sig_parse): any
 * bytes as a signature, then, when it parses, the registration a host would
 * make with it.
 *
 * Checks beyond the sanitizers: a refused signature is PYS_E_ARG or
 * PYS_E_UNSUPPORTED with a message; an accepted one registers (the same
 * parser), and Python reads the registered function's text signature with
 * inspect.signature, so help() and introspection work for every signature
 * pyshim accepts. */
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_sig.h"
#include "common.h"

static pys_obj check_sig; /* check(f) -> str of inspect.signature(f) */

static uint64_t never_called(void)
{
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pys_runtime *rt = fz_runtime();
    int rc = pys_exec(rt, "import inspect as _fz_inspect\n"
                          "def _fz_sig(f):\n"
                          "    return str(_fz_inspect.signature(f))\n");
    fz_check(rc == PYS_OK, "setup: %s", pys_last_error()->message);
    check_sig = pys_eval(rt, "_fz_sig");
    fz_check(pys_ok(check_sig), "setup: %s", pys_last_error()->message);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sig = fz_cstr(data, size);
    char *text = NULL;
    int rc = pys__bridge_sig_parse(sig, &text);
    fz_check((rc == PYS_OK) == (text != NULL), "a result text exactly when it parses");
    if (rc != PYS_OK) {
        fz_check(rc == PYS_E_ARG || rc == PYS_E_UNSUPPORTED || rc == PYS_E_NOMEM,
                 "refused with %s", pys_err_name(rc));
        fz_check(pys_last_error()->code == rc && *pys_last_error()->message,
                 "refused with no message");
        free(sig);
        return 0;
    }
    pys_runtime *rt = fz_runtime();
    size_t handles0 = pys_handle_count(rt);
    rc = pys_register_typed(rt, "f", sig, PYS_CFUNC(never_called));
    fz_check(rc == PYS_OK, "\"%s\" parses but does not register: %s", sig,
             pys_last_error()->message);
    pys_obj mod = pys_bridge_module(rt);
    pys_obj f = pys_getattr(mod, "f");
    pys_obj s = pys_callf(check_sig, "O", f);
    fz_check(pys_ok(s), "signature \"%s\" (%s): Python cannot read its text signature: %s", sig,
             text, pys_last_error()->message);
    pys_release(s);
    pys_release(f);
    pys_release(mod);
    rc = pys_unregister(rt, "f");
    fz_check(rc == PYS_OK, "unregister: %s", pys_last_error()->message);
    fz_check_runtime(rt, handles0, PYS_OK, "pys_register_typed");
    free(text);
    free(sig);
    return 0;
}
