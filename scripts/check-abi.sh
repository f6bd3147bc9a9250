#!/usr/bin/env bash
# Checks the non-negotiables of the built library: no undefined Py* symbol
# (everything CPython is resolved at run time), no libpython in its
# dependencies, no Python.h anywhere under src/ or include/, and only the
# public pys_* names in the dynamic symbol table (no internal pys__* name,
# test hooks included). Given a static library (default_library=static),
# only the undefined symbols and the headers are checked.
#   scripts/check-abi.sh LIBPYSHIM.so|LIBPYSHIM.a SOURCE_ROOT
set -euo pipefail
lib="$1"
root="$2"
status=0
case "$lib" in
    *.a) nm_dyn=() ;;
    *) nm_dyn=(-D) ;;
esac
undef=$(nm "${nm_dyn[@]}" --undefined-only "$lib" | awk '{print $NF}' | grep -E '^_?Py' || true)
if [ -n "$undef" ]; then
    echo "FAIL: $lib has undefined CPython symbols:"; echo "$undef"; status=1
else
    echo "ok: no undefined Py*/_Py* symbol in $(basename "$lib")"
fi
if grep -rnE '#\s*include\s*[<"]Python\.h[>"]' "$root/src" "$root/include"; then
    echo "FAIL: Python.h included under src/ or include/"; status=1
else
    echo "ok: no Python.h under src/ or include/"
fi
if [ ${#nm_dyn[@]} -eq 0 ]; then
    echo "ok: static library; the dynamic-table checks apply to the shared one"
    exit $status
fi
if ldd "$lib" | grep -q libpython; then
    echo "FAIL: $lib links libpython:"; ldd "$lib" | grep libpython; status=1
else
    echo "ok: ldd shows no libpython"
fi
# Every defined dynamic symbol (functions and data alike) is public API:
# pys_ followed by a letter. pys__ is the internal prefix.
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -vE '^pys_[a-z0-9]' || true)
if [ -n "$exported" ]; then
    echo "FAIL: symbols exported that are not public pys_* API:"; echo "$exported"; status=1
else
    echo "ok: only public pys_* symbols are exported"
fi
exit $status
