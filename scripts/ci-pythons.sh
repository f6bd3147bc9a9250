#!/usr/bin/env bash
# The CPython matrix: installs (or reuses) the extra Pythons with
# scripts/pythons.sh, then runs pyshim's whole suite
#   1. on this machine, on every Python the probe finds (pyenv, the
#      distribution's, and the free-threaded builds of the cache: their bin/
#      dirs go first on PATH, which the probe searches);
#   2. under AddressSanitizer on a representative subset (the oldest and
#      newest release builds with a GIL, the newest free-threaded one; the
#      stress run for 60 s each), and the ThreadSanitizer driver on every
#      host Python, the free-threaded ones included;
#   3. inside the cache's Debian sid tree, built there with sid's own
#      toolchain, on Debian's 3.13, 3.14, 3.15 and the debug build (a
#      process of this machine cannot load sid's libpython: newer glibc).
#
#   scripts/ci-pythons.sh [all|host|sanitizers|ft|sid|extra]    (default all)
#     all    host + sid
#     host   1 and 2 above
#     sanitizers  2 alone (ASan on the subset, TSan on every host Python)
#     ft     1 and 2 restricted to the free-threaded builds of the cache
#     sid    3
#     extra  ft + sid: what a CI that already runs the suite, ASan and TSan
#            on the machine's own Pythons adds
#
# Environment: PYSHIM_PYTHONS_DIR (see scripts/pythons.sh),
# PYSHIM_CI_ASAN_PYTHONS (the ASan subset, comma-separated, default below),
# PYSHIM_CI_TSAN_PYTHONS (restrict the TSan driver, default every host Python),
# PYSHIM_CI_SID_PYTHONS (restrict the sid run, e.g. 3.15,3.15d).
# Needs root (chroot).
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(pwd)"
dir="${PYSHIM_PYTHONS_DIR:-/var/cache/pyshim/pythons}"
what="${1:-all}"
export PYSHIM_PYTHONS_DIR="$dir"
t0=$(date +%s)
stamp() { echo "ci-pythons: $* ($(( $(date +%s) - t0 )) s)"; }

scripts/pythons.sh
stamp "pythons ready"

# The free-threaded builds in the cache, first on PATH.
ftpath=""
ftvers=""
for p in "$dir"/ft/*t; do
    [ -f "$p/.pyshim-done" ] || continue
    ftpath="$p/bin:$ftpath"
    ftvers="$ftvers,$(basename "$p")"
done
export PATH="$ftpath$PATH"

# The ASan subset, from what the probe finds: the oldest and the newest
# release builds with a GIL, and the newest free-threaded build.
asan_subset() {
    build/tools/pyshim probe --json | python3 -c '
import json, sys
c = [x for x in json.load(sys.stdin)["candidates"] if x["accepted"] and not x["debug"]]
key = lambda x: tuple(int(p.rstrip("td")) for p in x["version"].split("."))
gil = sorted((x for x in c if not x["free_threaded"]), key=key)
ft = sorted((x for x in c if x["free_threaded"]), key=key)
tags = []
for x in gil[:1] + gil[-1:] + ft[-1:]:
    t = x["version"].rstrip("td") + x["abiflags"]
    if t not in tags:
        tags.append(t)
print(",".join(tags))'
}

host() {
    scripts/test.sh
    stamp "host suite done"
    sanitizers
}

sanitizers() {
    scripts/build.sh build >/dev/null
    local asan="${PYSHIM_CI_ASAN_PYTHONS:-$(asan_subset)}"
    PYSHIM_TEST_PYTHONS="$asan" PYSHIM_STRESS_SECONDS="${PYSHIM_STRESS_SECONDS:-60}" \
        scripts/test.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
    stamp "ASan suite on $asan done"
    # The TSan driver on every host Python (PYSHIM_CI_TSAN_PYTHONS narrows it).
    local tsan="${PYSHIM_CI_TSAN_PYTHONS:-}"
    if [ -n "$tsan" ]; then export PYSHIM_TEST_PYTHONS="$tsan"; else unset PYSHIM_TEST_PYTHONS; fi
    PYSHIM_STRESS_SECONDS=20 scripts/test.sh build-tsan -Db_sanitize=thread -Db_lundef=false
    stamp "TSan driver on ${tsan:-every host Python} done"
    unset PYSHIM_TEST_PYTHONS
    build/tools/pyshim probe --json >"$dir/probe-host.json"
}

ft() {
    if [ -z "$ftvers" ]; then
        echo "ci-pythons: no free-threaded build in $dir/ft" >&2
        return 0
    fi
    export PYSHIM_TEST_PYTHONS="${ftvers#,}"
    scripts/test.sh
    stamp "suite on $PYSHIM_TEST_PYTHONS done"
    scripts/test.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
    stamp "ASan suite on $PYSHIM_TEST_PYTHONS done"
    scripts/test.sh build-tsan -Db_sanitize=thread -Db_lundef=false
    stamp "TSan driver on $PYSHIM_TEST_PYTHONS done"
    unset PYSHIM_TEST_PYTHONS
    build/tools/pyshim probe --json >"$dir/probe-host.json"
}

sid() {
    local root="$dir/sid"
    [ -f "$root/.pyshim-done" ] || { echo "ci-pythons: no sid tree in $root" >&2; exit 1; }
    # The sources (tracked files, plus any uncommitted edits) go into the
    # tree; its build dir is kept between runs for an incremental rebuild.
    mkdir -p "$root/src/pyshim"
    git ls-files -z --cached --others --exclude-standard |
        tar --null -T - -cf - | tar -xf - -C "$root/src/pyshim"
    local mounted=()
    cleanup() {
        local m
        for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
    }
    trap cleanup EXIT
    for m in proc dev dev/pts dev/shm sys tmp; do
        mkdir -p "$root/$m"
        if ! mountpoint -q "$root/$m"; then
            case "$m" in
                proc) mount -t proc proc "$root/proc" ;;
                tmp) mount -t tmpfs -o size=4g tmpfs "$root/tmp" ;;
                *) mount --bind "/$m" "$root/$m" ;;
            esac
            mounted=("$root/$m" "${mounted[@]}")
        fi
    done
    # HOME inside the tree (dependency venv cache); no pyenv there.
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 CI="${CI:-}" \
        PYSHIM_TEST_PYTHONS="${PYSHIM_CI_SID_PYTHONS:-}" \
        sh -c 'cd /src/pyshim && scripts/test.sh build-sid && build-sid/tools/pyshim probe --json > /src/probe-sid.json'
    cp "$root/src/probe-sid.json" "$dir/probe-sid.json"
    stamp "sid suite done"
    cleanup
    trap - EXIT
}

case "$what" in
    host) host ;;
    sanitizers) sanitizers ;;
    ft) ft ;;
    sid) sid ;;
    extra) ft; sid ;;
    all) host; sid ;;
    *) echo "usage: $0 [all|host|ft|sid|extra]" >&2; exit 2 ;;
esac
stamp "done"
