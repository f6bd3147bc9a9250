#!/usr/bin/env bash
# Runs a binding's test command once on the oldest and once on the newest
# accepted Python that `pyshim probe` finds (GIL builds; a binding's suite
# stays short this way), with PYSHIM_TEST_LIBPYTHON naming the library.
#   bindings/run-tests.sh PYSHIM-CLI COMMAND [ARGS...]
# PYSHIM_TEST_PYTHONS (e.g. 3.8,3.13t) picks the versions instead (its
# free-threaded tags are left out). Exits 77
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
    # Tags as pins spell them (3.12, 3.13t, 3.15d); the bindings run on
    # GIL builds only, so a free-threaded tag picks nothing here.
    import re
    vs = []
    for w in want.split(","):
        m = re.fullmatch(r"(\d+)\.(\d+)([td]*)", w.strip())
        if not m:
            sys.exit(f"PYSHIM_TEST_PYTHONS: {w!r} is not a tag like 3.12 or 3.13t")
        if "t" not in m.group(3):
            vs.append((int(m.group(1)), int(m.group(2))))
    pick = [p for v, p in found if v[:2] in vs]
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
