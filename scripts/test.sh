#!/usr/bin/env bash
# Builds pyshim in BUILDDIR (default: build) with any extra meson options
# and runs the whole test suite there. Every test runs once per supported
# CPython found on this machine.
#   scripts/test.sh
#   scripts/test.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
set -euo pipefail
cd "$(dirname "$0")/.."
builddir="${1:-build}"
scripts/build.sh "$@"
meson test -C "$builddir" --print-errorlogs --num-processes 2
