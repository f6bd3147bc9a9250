#!/usr/bin/env bash
# Installs what building and testing pyshim needs on Debian/Ubuntu.
# Python itself is not a build dependency: the tests use whatever CPython
# 3.8+ the machine has (python3-venv/pip/numpy only widen what they cover).
# clang, its sanitizer/libFuzzer runtime and libffi build the fuzz targets
# (scripts/fuzz.sh). python3-dev, g++ and pybind11-dev build the benchmarks
# (bench/: the C-API baseline and the pybind11 peer column).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    gcc pkg-config meson ninja-build libcjson-dev libcriterion-dev \
    python3 python3-venv python3-pip python3-setuptools python3-wheel python3-numpy \
    python3-dev g++ pybind11-dev \
    clang libclang-rt-dev libffi-dev >/dev/null
echo "pyshim: build and test dependencies installed"
