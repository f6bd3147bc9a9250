#!/usr/bin/env bash
# Installs the CPythons of the test matrix that the machine does not have,
# into a cache directory, skipping whatever is already there:
#
#   PYSHIM_PYTHONS_DIR (default /var/cache/pyshim/pythons)
#     ft/3.13t/            free-threaded CPython built from Debian's source
#     ft/3.14t/ ft/3.15t/  package (bin/python3.Xt, lib/libpython3.Xt.so),
#                          each built only if Debian's mirror serves a source
#     sid/                 a Debian sid tree (debootstrap --variant=minbase)
#                          with Debian's python3.13, 3.14, 3.15, a debug
#                          build, and sid's own gcc/meson/Criterion/cJSON, so
#                          pyshim is built and tested there with sid's glibc
#     apt/ src/ build/     private apt state, downloaded sources, build dirs
#
#   scripts/pythons.sh            everything
#   scripts/pythons.sh ft         only the free-threaded builds
#   scripts/pythons.sh sid        only the sid tree
#
# The free-threaded sources come through a private apt configuration with
# deb-src lines for sid, trixie and experimental; the system's apt sources
# are never read or changed. For each of python3.13, python3.14, python3.15
# the listed source versions are tried newest first and the first one the
# mirror serves is built. A free-threaded build whose source cannot be had
# is reported and skipped, not an error.
#
# Environment: PYSHIM_PYTHONS_DIR, PYSHIM_PYTHONS_JOBS (make -j, default 2),
# PYSHIM_DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Needs root for debootstrap/chroot and for installing build dependencies.
set -euo pipefail

dir="${PYSHIM_PYTHONS_DIR:-/var/cache/pyshim/pythons}"
jobs="${PYSHIM_PYTHONS_JOBS:-2}"
mirror="${PYSHIM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
what="${1:-all}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

log() { echo "pythons: $*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# ---------------------------------------------------------------- host deps
host_deps() {
    local need=()
    for p in debootstrap xz-utils build-essential zlib1g-dev libffi-dev \
             libssl-dev libbz2-dev liblzma-dev libsqlite3-dev libexpat1-dev \
             libncurses-dev libreadline-dev uuid-dev; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    if [ "${#need[@]}" -gt 0 ]; then
        log "installing host packages: ${need[*]}"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
            --no-install-recommends "${need[@]}" >/dev/null
    fi
}

# ------------------------------------------------------- private apt config
apt_priv() {
    local tool="apt-get"
    if [ "$1" = showsrc ]; then tool="apt-cache"; fi
    "$tool" -q -o Dir::Etc::sourcelist="$dir/apt/sources.list" \
        -o Dir::Etc::sourceparts=- \
        -o Dir::State::Lists="$dir/apt/lists" \
        -o Dir::Cache="$dir/apt/cache" \
        -o Dir::State::status=/dev/null \
        -o APT::Get::List-Cleanup=0 -o Acquire::Check-Valid-Until=false "$@"
}

apt_priv_update() {
    mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial"
    cat >"$dir/apt/sources.list" <<EOF
deb-src $mirror sid main
deb-src $mirror trixie main
deb-src $mirror experimental main
EOF
    # The lists are refreshed at most once a day.
    if [ -z "$(find "$dir/apt/lists" -maxdepth 1 -name '*Sources*' -mtime -1 2>/dev/null)" ]; then
        log "updating the private source lists"
        apt_priv update >/dev/null
    fi
}

# --------------------------------------------------- free-threaded builds
# build_ft MINOR: builds ft/MINOR t from the newest python3.MINOR source that
# downloads. Returns 0 when built or already there, 0 with a message when no
# source can be had.
build_ft() {
    local minor="$1" pkg="python$1" prefix="$dir/ft/$1t"
    if [ -x "$prefix/bin/python${minor}t" ] && [ -f "$prefix/.pyshim-done" ]; then
        log "$minor t: cached in $prefix ($("$prefix/bin/python${minor}t" -VV 2>&1 | head -1))"
        return 0
    fi
    local versions v got="" src="$dir/src/$pkg"
    mkdir -p "$src"
    versions="$(apt_priv showsrc "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -Vru || true)"
    if [ -z "$versions" ]; then
        log "$minor t: no $pkg source listed; skipped"
        return 0
    fi
    for v in $versions; do
        local up="${v%-*}"; up="${up#*:}"
        if ls "$src/${pkg}_${up}.orig.tar."* >/dev/null 2>&1; then got="$up"; break; fi
        log "$minor t: trying source $pkg=$v"
        if (cd "$src" && apt_priv source --download-only "$pkg=$v" >/dev/null 2>&1); then
            got="$up"; break
        fi
        log "$minor t: $pkg=$v does not download"
    done
    if [ -z "$got" ]; then
        log "$minor t: none of the listed $pkg sources downloads; skipped"
        return 0
    fi
    local tarball
    tarball="$(ls "$src/${pkg}_${got}.orig.tar."* | head -1)"
    local tree="$dir/build/${minor}t-src"
    local bdir="$dir/build/${minor}t"
    if [ ! -f "$tree/configure" ]; then
        rm -rf "$tree"; mkdir -p "$tree"
        tar -xf "$tarball" -C "$tree" --strip-components=1
    fi
    mkdir -p "$bdir"
    local cc="gcc"
    if command -v ccache >/dev/null; then cc="ccache gcc"; fi
    log "$minor t: building CPython $got with --disable-gil into $prefix"
    local t0; t0=$(date +%s)
    (
        cd "$bdir"
        nice -n 10 "$tree/configure" -C -q CC="$cc" \
            --prefix="$prefix" --enable-shared --disable-gil \
            --disable-test-modules --without-static-libpython \
            LDFLAGS="-Wl,-rpath,$prefix/lib" >configure.log 2>&1 \
            || { tail -30 configure.log >&2; exit 1; }
        log "$minor t: configured in $(( $(date +%s) - t0 )) s"
        nice -n 10 make -j"$jobs" >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }
        log "$minor t: built in $(( $(date +%s) - t0 )) s"
        nice -n 10 make install >install.log 2>&1 || { tail -40 install.log >&2; exit 1; }
    )
    "$prefix/bin/python${minor}t" -c 'import sys; assert not sys._is_gil_enabled()'
    touch "$prefix/.pyshim-done"
    log "$minor t: installed in $(( $(date +%s) - t0 )) s: $("$prefix/bin/python${minor}t" -VV | head -1)"
}

# ---------------------------------------------------------------- sid tree
sid_pkgs_base="gcc libc6-dev meson ninja-build pkg-config libcriterion-dev libcjson-dev ca-certificates python3-pip python3-setuptools python3-wheel"

sid_tree() {
    local root="$dir/sid"
    if [ -f "$root/.pyshim-done" ]; then
        log "sid: cached in $root"
        return 0
    fi
    local t0; t0=$(date +%s)
    if [ ! -x "$root/usr/bin/apt-get" ] || [ ! -f "$root/.pyshim-bootstrapped" ]; then
        log "sid: debootstrap --variant=minbase sid $root"
        rm -rf "$root"
        nice -n 10 $SUDO debootstrap --variant=minbase sid "$root" "$mirror" >"$dir/debootstrap.log" 2>&1 \
            || { tail -30 "$dir/debootstrap.log" >&2; exit 1; }
        touch "$root/.pyshim-bootstrapped"
        log "sid: bootstrapped in $(( $(date +%s) - t0 )) s"
    fi
    # A mirror that serves a snapshot has Release files past their
    # Valid-Until; the tree is a test fixture, not a system to keep updated.
    echo 'Acquire::Check-Valid-Until "false";' | $SUDO tee "$root/etc/apt/apt.conf.d/99pyshim" >/dev/null
    # Whatever sid offers among the Pythons the matrix wants: the release
    # builds of 3.13-3.15 (with their shared libraries and venv support) and
    # the newest debug build.
    $SUDO chroot "$root" apt-get -qq update
    local pkgs="$sid_pkgs_base" m dbg=""
    for m in 3.13 3.14 3.15; do
        if sid_has "python$m"; then
            # No -dev packages: pyshim needs no Python headers.
            pkgs="$pkgs python$m libpython$m python$m-venv"
            sid_has "python$m-dbg" && dbg="python$m-dbg"
        else
            log "sid: no python$m in sid"
        fi
    done
    if [ -n "$dbg" ]; then
        # The -dbg package carries the debug interpreter (python3.Xd) and
        # depends on its library (libpython3.Xd.so).
        pkgs="$pkgs $dbg"
        if sid_has "lib$dbg"; then pkgs="$pkgs lib$dbg"; fi
    fi
    log "sid: installing $pkgs"
    DEBIAN_FRONTEND=noninteractive nice -n 10 $SUDO chroot "$root" \
        apt-get install -y -qq --no-install-recommends $pkgs >"$dir/sid-apt.log" 2>&1 \
        || { tail -30 "$dir/sid-apt.log" >&2; exit 1; }
    $SUDO chroot "$root" apt-get -qq clean
    touch "$root/.pyshim-done"
    log "sid: ready in $(( $(date +%s) - t0 )) s ($(du -sh "$root" | cut -f1))"
    $SUDO chroot "$root" sh -c 'for p in /usr/bin/python3.1[0-9]*; do echo "  $p: $($p -VV 2>&1)"; done' >&2 || true
}

sid_has() {
    [ -n "$($SUDO chroot "$dir/sid" apt-cache policy "$1" 2>/dev/null | sed -n 's/^  Candidate: //p' | grep -v '(none)')" ]
}

case "$what" in
    all) host_deps; apt_priv_update
         # The sid tree is mostly downloading, the builds mostly compiling:
         # run them side by side.
         sid_tree & sid_pid=$!
         for m in 3.13 3.14 3.15; do build_ft "$m"; done
         wait "$sid_pid" ;;
    ft)  host_deps; apt_priv_update
         for m in 3.13 3.14 3.15; do build_ft "$m"; done ;;
    sid) host_deps; sid_tree ;;
    *) echo "usage: $0 [all|ft|sid]" >&2; exit 2 ;;
esac
log "done; cache: $dir"
