#!/usr/bin/env bash
# Builds pyshim in BUILDDIR (default: build) with any extra meson options
# and runs the whole test suite there. Every test runs once per supported
# CPython found on this machine.
#   scripts/test.sh
#   scripts/test.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
# The free-threaded builds that scripts/pythons.sh installed into its cache
# (PYSHIM_PYTHONS_DIR, default /var/cache/pyshim/pythons) are found too:
# their bin/ dirs go first on PATH, which the probe searches.
# PYSHIM_TEST_PYTHONS=3.8,3.13t restricts the run to some of them.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${PYSHIM_PYTHONS_DIR:-/var/cache/pyshim/pythons}"
for p in "$cache"/ft/*t; do
    if [ -f "$p/.pyshim-done" ]; then PATH="$p/bin:$PATH"; fi
done
export PATH
builddir="${1:-build}"
scripts/build.sh "$@"
meson test -C "$builddir" --print-errorlogs --num-processes 2
