#!/usr/bin/env bash
# Builds and runs the README's C example as a user's build would: pyshim is
# installed (meson install) into a scratch DESTDIR, then the example is
# compiled against that install through pkg-config (MODE pkg-config) or a
# CMake project with find_package(pyshim) (MODE cmake), and run. Exits 77
# (skipped) when the MODE's tool is missing.
#   run.sh MODE MESON BUILD_ROOT SOURCE_ROOT PREFIX VERSION SANITIZE -- CC...
set -euo pipefail
[ $# -ge 9 ] && [ "$8" = -- ] || { echo "usage: $0 MODE MESON BUILD_ROOT SOURCE_ROOT PREFIX VERSION SANITIZE -- CC..." >&2; exit 2; }
mode=$1 meson=$2 build=$3 root=$4 prefix=$5 version=$6 sanitize=$7
shift 8
case "$1" in ccache|sccache) shift ;; esac
cc=("$@")

case "$mode" in
    pkg-config|cmake) ;;
    *) echo "unknown MODE $mode" >&2; exit 2 ;;
esac
if ! command -v "$mode" >/dev/null; then
    echo "SKIP: $mode is not installed (Debian: apt-get install $mode)"
    exit 77
fi

# meson test points LD_LIBRARY_PATH at the build tree; a user has no such
# thing, and the example must run on the installed library.
unset LD_LIBRARY_PATH
work=$(mktemp -d "${TMPDIR:-/tmp}/pyshim-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest="$work/dest"
if ! "$meson" install -C "$build" --no-rebuild --destdir "$dest" >"$work/install.log" 2>&1; then
    cat "$work/install.log"; echo "FAIL: meson install into $dest"; exit 1
fi
pc=$(find "$dest" -name pyshim.pc)
[ -n "$pc" ] || { echo "FAIL: no pyshim.pc installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
so=$(find "$libdir" -maxdepth 1 -name 'libpyshim.so.*.*' | head -n 1)
if [ -n "$so" ]; then
    "$root/scripts/check-abi.sh" "$so" "$root" | sed 's/^/installed: /'
fi

# The example is the README's first ```c block, as written there, inside a
# main() that prints the value it computes.
awk '/^```c$/ {on = 1; next} on && /^```$/ {exit} on' "$root/README.md" >"$work/block.c"
grep -q pys_open "$work/block.c" || { echo "FAIL: no C example with pys_open in README.md"; exit 1; }
{
    echo '#include <stdio.h>'
    grep '^#include' "$work/block.c"
    echo 'int main(void)'
    echo '{'
    grep -v '^#include' "$work/block.c"
    echo '    printf("readme example: %g\n", d);'
    echo '    return 0;'
    echo '}'
} >"$work/main.c"

cflags=(-std=c11 -Wall -Wextra -Werror)
ldflags=()
if [ "$sanitize" != none ]; then
    cflags+=("-fsanitize=$sanitize")
    ldflags+=("-fsanitize=$sanitize")
fi

case "$mode" in
pkg-config)
    export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$dest"
    static=()
    [ -n "$so" ] || static=(--static)
    # shellcheck disable=SC2046 # pkg-config's output is a list of flags
    "${cc[@]}" "${cflags[@]}" -o "$work/readme_example" "$work/main.c" \
        $(pkg-config "${static[@]}" --cflags --libs pyshim) "${ldflags[@]}"
    exe="$work/readme_example"
    export LD_LIBRARY_PATH="$libdir"
    ;;
cmake)
    gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    if ! cmake -S "$root/tests/tools/consumer" -B "$work/cmake" "${gen[@]}" \
            -DCMAKE_C_COMPILER="${cc[0]}" \
            -DCMAKE_C_FLAGS="${cc[*]:1} ${cflags[*]}" \
            -DCMAKE_EXE_LINKER_FLAGS="${ldflags[*]}" \
            -DCMAKE_PREFIX_PATH="$dest$prefix" \
            -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
            -DPYSHIM_VERSION="$version" -DEXAMPLE_SRC="$work/main.c" >"$work/cmake.log" 2>&1 ||
        ! cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1; then
        cat "$work/cmake.log"; echo "FAIL: the CMake consumer did not build"; exit 1
    fi
    found=$(sed -n 's/^pyshim_DIR:PATH=//p' "$work/cmake/CMakeCache.txt")
    case "$found" in
        "$dest"/*) echo "ok: find_package(pyshim) found $found" ;;
        *) echo "FAIL: find_package(pyshim) found $found, not the install in $dest"; exit 1 ;;
    esac
    exe="$work/cmake/readme_example"
    ;;
esac

# The example must run on the installed library (for CMake through the
# RPATH it gives the imported library), not on the build tree's.
if [ -n "$so" ]; then
    used=$(ldd "$exe" | awk '$1 ~ /^libpyshim\.so/ {print $3}')
    case "$used" in
        "$dest"/*) echo "ok: $mode build runs on $used" ;;
        *) echo "FAIL: $mode build loads libpyshim from '$used', not from $dest"; exit 1 ;;
    esac
fi
out=$("$exe")
echo "$out"
[ "$out" = "readme example: 5" ] || { echo "FAIL: expected 'readme example: 5'"; exit 1; }
echo "ok: the README example built with $mode against the installed pyshim"
