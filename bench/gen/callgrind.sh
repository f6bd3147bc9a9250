#!/usr/bin/env bash
# Instructions per call of the generated stats_mean against the hand-written
# pyshim call, under callgrind (counting only inside bench_gen_one_*; the
# runtime's start is not counted). Timings on a loaded machine are noisy,
# instruction counts are not.
#   bench/gen/callgrind.sh BUILD_DIR [LIBPYTHON] [CALLS]   (prints mean, then fmean)
set -euo pipefail
build="$1"
lib="${2:-}"
calls="${3:-200}"
bin="$build/bench/gen/bench_gen"
[ -x "$bin" ] || { echo "build it first: meson compile -C $build bench_gen" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A ir
for op in mean fmean; do
    for side in generated hand; do
        # a fixed hash seed: the same dict and set work on both sides
        PYTHONHASHSEED=0 \
        valgrind --tool=callgrind --callgrind-out-file="$tmp/$side.out" \
            --toggle-collect="bench_gen_one_$side" \
            "$bin" ${lib:+--library "$lib"} --callgrind "$side" --op "$op" --calls "$calls" \
            >/dev/null 2>&1
        ir[$side]=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/$side.out")
    done
    awk -v op="$op" -v g="${ir[generated]}" -v h="${ir[hand]}" -v n="$calls" 'BEGIN {
        printf "%-6s instructions per call: generated %.0f, hand-written %.0f, ratio %.4f\n",
               op, g / n, h / n, g / h }'
done
