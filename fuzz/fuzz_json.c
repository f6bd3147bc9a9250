/* JSON both ways (src/convert/json.c): pys_from_json_text on any bytes,
 * then pys_to_json / pys_to_json_text of whatever came out.
 *
 * Checks beyond the sanitizers: invalid text is a clear error (E_VALUE, or
 * E_OVERFLOW for a number beyond a double); a value read
 * from JSON converts back (every JSON value has a JSON form), its text reads
 * back to the same text, and the cJSON tree form reads back to an equal
 * value; where Python's own json.loads also accepts the text, both give the
 * same value (ints beyond 2^53 compared as the floats pyshim documents).
 * pyshim may refuse text json.loads takes (NaN, lone surrogates), never
 * the reverse silently. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static pys_obj same; /* same(text, value) -> bool, in Python */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pys_runtime *rt = fz_runtime();
    int rc = pys_exec(rt,
        "import json as _fz_json\n"
        "def _fz_norm(v):\n"
        "    if isinstance(v, bool) or v is None or isinstance(v, str):\n"
        "        return v\n"
        "    if isinstance(v, int):\n"
        "        return v if abs(v) <= 2**53 else float(v)\n"
        "    if isinstance(v, float):\n"
        "        return int(v) if v.is_integer() and abs(v) <= 2**53 else v\n"
        "    if isinstance(v, list):\n"
        "        return [_fz_norm(x) for x in v]\n"
        "    return {k: _fz_norm(x) for k, x in v.items()}\n"
        "def _fz_same(text, value):\n"
        "    try:\n"
        "        ref = _fz_json.loads(text)\n"
        "    except (ValueError, RecursionError):  # UnicodeDecodeError too\n"
        "        return True\n"
        "    a, b = _fz_norm(ref), _fz_norm(value)\n"
        "    return a == b or repr(a) == repr(b)\n");
    fz_check(rc == PYS_OK, "setup: %s", pys_last_error()->message);
    same = pys_eval(rt, "_fz_same");
    fz_check(pys_ok(same), "setup: %s", pys_last_error()->message);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pys_runtime *rt = fz_runtime();
    size_t handles0 = pys_handle_count(rt);
    char *text = fz_cstr(data, size);

    pys_obj v = pys_from_json_text(rt, text);
    int rc = pys_ok(v) ? PYS_OK : pys_last_error()->code;
    fz_check(pys_ok(v) || rc == PYS_E_VALUE || rc == PYS_E_OVERFLOW,
             "pys_from_json_text: refused with %s (%s), not PYS_E_VALUE / PYS_E_OVERFLOW",
             pys_err_name(rc), pys_last_error()->message);
    if (pys_ok(v)) {
        /* Python's reading of the same text, where it has one. */
        pys_obj ok = pys_callf(same, "y O", text, strlen(text), v);
        fz_check(pys_ok(ok) && pys_truthy(ok) == 1,
                 "pys_from_json_text gave a value json.loads does not (%s)",
                 pys_ok(ok) ? "differs" : pys_last_error()->message);
        pys_release(ok);

        char *t1 = pys_to_json_text(v);
        fz_check(t1 != NULL, "pys_to_json_text of a value read from JSON failed: %s: %s",
                 pys_err_name(pys_last_error()->code), pys_last_error()->message);
        pys_obj v2 = pys_from_json_text(rt, t1);
        fz_check(pys_ok(v2), "pyshim's own JSON text %s does not read back: %s", t1,
                 pys_last_error()->message);
        char *t2 = pys_to_json_text(v2);
        fz_check(t2 && strcmp(t1, t2) == 0, "JSON text does not round-trip: %s then %s", t1,
                 t2 ? t2 : "(error)");

        cJSON *tree = pys_to_json(v);
        fz_check(tree != NULL, "pys_to_json failed: %s", pys_last_error()->message);
        pys_obj v3 = pys_from_json(rt, tree);
        fz_check(pys_ok(v3), "pys_from_json of pys_to_json failed: %s", pys_last_error()->message);
        fz_check(pys_compare(v, v3, PYS_EQ) == 1, "the cJSON tree does not read back equal");
        cJSON_Delete(tree);
        free(t1);
        free(t2);
        pys_release(v2);
        pys_release(v3);
        pys_release(v);
    }
    fz_check_runtime(rt, handles0, rc, "pys_from_json_text");
    free(text);
    return 0;
}
