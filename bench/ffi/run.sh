#!/usr/bin/env bash
# FFI hosts against C, in one run, on one libpython: the batched int round
# trip (from_int64, read, release) and len() of a 3-list (call, read,
# release), from C through pyshim.h, from C through pyshim_ffi.h, from
# LuaJIT, from Node (koffi) and from Go (cgo), plus the cost of one call
# that does nothing through koffi and through cgo (a crossing). Each number
# is the median of RUNS processes (thread CPU time; Node: process CPU time;
# Go: go test -bench). With --callgrind, instruction counts per op for
# C and LuaJIT (the difference between N and 0 iterations).
#   bench/ffi/run.sh BUILDDIR LIBPYTHON [--callgrind] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1
export PYSHIM_LIBPYTHON=$2
cg=0
if [ "${3:-}" = "--callgrind" ]; then cg=1; shift; fi
runs=${3:-5}
export PYSHIM_LIB="$PWD/$build/libpyshim.so"
export PYSHIM_FFI_HEADER="$PWD/include/pyshim_ffi.h"
export PYSHIM_API_JSON="$PWD/api/pyshim-api.json"
n=2000000
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # OP CMD...: median ns/op
    local op=$1; shift
    for _ in $(seq "$runs"); do "$@" | awk -v op="$op" '$1 == op {print $2}'; done | median
}
declare -A r
for op in int len; do
    r[${op}_c]=$(run ${op}_c "$build/bench/bench_ffi" ${op}_c $n)
    r[${op}_ffi]=$(run ${op}_ffi "$build/bench/bench_ffi" ${op}_ffi $n)
    if command -v luajit >/dev/null; then
        r[${op}_lua]=$(run ${op}_lua luajit bench/ffi/bench.lua ${op}_lua $n)
    fi
    if command -v node >/dev/null && [ -d bindings/node/node_modules/koffi ]; then
        r[${op}_node]=$(run ${op}_node node bench/ffi/bench.js ${op}_node $((n / 4)))
    fi
done
if command -v node >/dev/null && [ -d bindings/node/node_modules/koffi ]; then
    r[cross_node]=$(run noop_node node bench/ffi/bench.js noop_node $((n / 4)))
fi
if command -v go >/dev/null; then
    gobench=$(cd bindings/go && GOPATH="$PWD/../../$build/bindings/go-path" \
        GOPROXY=off GOFLAGS=-mod=mod CGO_LDFLAGS="-L$PWD/../../$build" PYSHIM_TEST_LIBPYTHON=$PYSHIM_LIBPYTHON \
        go test -run XXX -bench 'IntRoundTrip$|Len3|CgoCrossing' -benchtime ${n}x -count "$runs" . 2>/dev/null)
    r[int_go]=$(awk '$1 ~ /^BenchmarkIntRoundTrip-/ {print $3}' <<<"$gobench" | median)
    r[len_go]=$(awk '$1 ~ /^BenchmarkLen3-/ {print $3}' <<<"$gobench" | median)
    r[cross_go]=$(awk '$1 ~ /^BenchmarkCgoCrossing-/ {print $3}' <<<"$gobench" | median)
fi
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.2f", a / b }'; }
echo "libpython: $PYSHIM_LIBPYTHON"
echo
echo "| op (batched) | C pyshim.h | C pyshim_ffi.h | LuaJIT | Node (koffi) | koffi crossing | Go (cgo) | cgo crossing |"
echo "|---|---|---|---|---|---|---|---|"
for op in int len; do
    label=$([ $op = int ] && echo "int round trip" || echo "len() of a 3-list")
    c=${r[${op}_c]}
    echo "| $label, ns | $c | ${r[${op}_ffi]:--} | ${r[${op}_lua]:--} | ${r[${op}_node]:--} | ${r[cross_node]:--} | ${r[${op}_go]:--} | ${r[cross_go]:--} |"
    echo "| $label, × C | 1.00 | $(ratio "${r[${op}_ffi]:-}" "$c") | $(ratio "${r[${op}_lua]:-}" "$c") | $(ratio "${r[${op}_node]:-}" "$c") | | $(ratio "${r[${op}_go]:-}" "$c") | |"
done
if [ $cg = 1 ] && command -v valgrind >/dev/null; then
    echo
    echo "Instructions per op (callgrind, (N - 0 iterations) / N, N = 100000):"
    ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | awk '/Collected/ {print $NF}'; }
    for op in int len; do
        for side in c ffi lua; do
            if [ $side = lua ]; then cmd=(luajit bench/ffi/bench.lua); else cmd=("$build/bench/bench_ffi"); fi
            command -v "${cmd[0]}" >/dev/null || continue
            a=$(ir "${cmd[@]}" ${op}_$side 100000)
            b=$(ir "${cmd[@]}" ${op}_$side 0)
            echo "  ${op}_$side: $(( (a - b) / 100000 ))"
        done
    done
fi
