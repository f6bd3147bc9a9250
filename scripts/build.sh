#!/usr/bin/env bash
# Configures (first time) or reconfigures BUILDDIR (default: build) with any
# extra meson options, then compiles it.
#   scripts/build.sh
#   scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
# With CI set (as .ci/run has it), -Dwerror=true is added.
set -euo pipefail
cd "$(dirname "$0")/.."
builddir="${1:-build}"
[ $# -gt 0 ] && shift
# CI builds with every warning as an error; users and distributions do not
# (a new compiler's new warning must not break their build).
if [ -n "${CI:-}" ]; then set -- "$@" -Dwerror=true; fi
if [ -f "$builddir/build.ninja" ]; then
    [ $# -gt 0 ] && meson configure "$builddir" "$@" >/dev/null
else
    meson setup "$builddir" "$@" >/dev/null
fi
meson compile -C "$builddir" >/dev/null
echo "pyshim: built in $builddir"
