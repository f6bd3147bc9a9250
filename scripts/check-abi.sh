#!/usr/bin/env bash
# Checks the non-negotiables of the built library: no undefined Py* symbol
# (everything CPython is resolved at run time), no libpython in its
# dependencies, and no Python.h anywhere under src/ or include/.
#   scripts/check-abi.sh LIBPYSHIM.so SOURCE_ROOT
set -euo pipefail
lib="$1"
root="$2"
status=0
undef=$(nm -D --undefined-only "$lib" | awk '{print $NF}' | grep -E '^_?Py' || true)
if [ -n "$undef" ]; then
    echo "FAIL: $lib has undefined CPython symbols:"; echo "$undef"; status=1
else
    echo "ok: no undefined Py*/_Py* symbol in $(basename "$lib")"
fi
if ldd "$lib" | grep -q libpython; then
    echo "FAIL: $lib links libpython:"; ldd "$lib" | grep libpython; status=1
else
    echo "ok: ldd shows no libpython"
fi
if grep -rnE '#\s*include\s*[<"]Python\.h[>"]' "$root/src" "$root/include"; then
    echo "FAIL: Python.h included under src/ or include/"; status=1
else
    echo "ok: no Python.h under src/ or include/"
fi
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}' | grep -v '^pys_' || true)
if [ -n "$exported" ]; then
    echo "FAIL: symbols exported without the pys_ prefix:"; echo "$exported"; status=1
else
    echo "ok: only pys_* functions are exported"
fi
exit $status
