#!/usr/bin/env bash
# Runs a binding's test command once on the oldest and once on the newest
# accepted Python that `pyshim probe` finds (GIL builds; a binding's suite
# stays short this way), with PYSHIM_TEST_LIBPYTHON naming the library.
#   bindings/run-tests.sh PYSHIM-CLI COMMAND [ARGS...]
# PYSHIM_TEST_PYTHONS (e.g. 3.8,3.13) picks the versions instead. Exits 77
# (skipped) when no Python is found.
set -euo pipefail
cli="$1"
shift
libs=$("$cli" probe --json | python3 -c '
import json, os, sys
d = json.load(sys.stdin)
seen, found = set(), []
for c in d["candidates"]:
    if not c.get("accepted") or c.get("free_threaded"):
        continue
    v = tuple(int(x) for x in c["version"].rstrip("t").split("."))
    if v in seen:
        continue
    seen.add(v)
    found.append((v, c["path"]))
found.sort()
want = os.environ.get("PYSHIM_TEST_PYTHONS")
if want:
    vs = [tuple(int(x) for x in w.split(".")) for w in want.split(",") if w]
    pick = [p for v, p in found if v in vs]
else:
    pick = [p for _, p in (found[:1] + found[-1:] if len(found) > 1 else found)]
print("\n".join(pick))
')
if [ -z "$libs" ]; then
    echo "no Python found: skipped"
    exit 77
fi
status=0
while IFS= read -r lib; do
    echo "# on $lib"
    PYSHIM_TEST_LIBPYTHON="$lib" "$@" || status=$?
done <<<"$libs"
exit $status
