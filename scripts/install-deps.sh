#!/usr/bin/env bash
# Installs what building and testing pyshim needs on Debian/Ubuntu.
# Python itself is not a build dependency: the tests use whatever CPython
# 3.8+ the machine has (python3-venv/pip/numpy only widen what they cover).
# clang, its sanitizer/libFuzzer runtime and libffi build the fuzz targets
# (scripts/fuzz.sh). python3-dev, g++ and pybind11-dev build the benchmarks
# (bench/: the C-API baseline and the pybind11 peer column). luajit,
# nodejs/npm and golang-go run the bindings' test suites (bindings/; each is
# skipped when its host is missing); koffi, the Node binding's FFI, comes
# from npm into bindings/node/node_modules. cmake builds the test's CMake
# consumer of the installed library (find_package(pyshim)).
# python3-mypy carries typeshed's stdlib stubs (mypy/typeshed/stdlib),
# which `pyshim gen` reads for stdlib modules (tests/gen); Debian's
# python3-typeshed package has only the third-party stubs.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    gcc pkg-config meson ninja-build libcjson-dev libcriterion-dev cmake dpkg-dev \
    python3 python3-venv python3-pip python3-setuptools python3-wheel python3-numpy \
    python3-dev g++ pybind11-dev \
    clang libclang-rt-dev libffi-dev \
    luajit golang-go python3-mypy >/dev/null
# Node and npm: Debian's, unless the machine has them already (a Node.js
# from elsewhere, such as NodeSource's, bundles npm and conflicts with
# Debian's npm package).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# koffi for the Node binding, project-local (bindings/node/node_modules).
if command -v npm >/dev/null; then
    (cd "$(dirname "$0")/../bindings/node" && npm install --no-audit --no-fund --silent >/dev/null)
fi
echo "pyshim: build and test dependencies installed"
