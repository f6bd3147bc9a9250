#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan + UBSan, leak
# detection on) in BUILDDIR and runs each for SECONDS (default 30), growing
# a corpus per target from the checked-in seeds. Fails on any crash, leak,
# sanitizer report, timeout (an input running over 10 s) or out-of-memory,
# and keeps the input that caused it.
#   scripts/fuzz.sh [SECONDS]            every target, SECONDS each
#   scripts/fuzz.sh repro TARGET FILE    runs one saved input again
# Environment: FUZZ_TARGETS="fuzz_json fuzz_format" (a subset),
# FUZZ_BUILDDIR (default build-fuzz), FUZZ_WORKDIR (default
# BUILDDIR/fuzz-run: corpus/TARGET, the grown corpus, kept between runs;
# artifacts/TARGET, crash inputs; TARGET.log). The build directory and the
# work directory are reused, so caching both makes the next run start where
# this one stopped. The targets that need CPython use the default Python
# (PYSHIM_PYTHON_VERSION=3.12 picks another).
set -euo pipefail
cd "$(dirname "$0")/.."
builddir="${FUZZ_BUILDDIR:-build-fuzz}"
work="${FUZZ_WORKDIR:-$builddir/fuzz-run}"

export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

if ! command -v clang >/dev/null; then
    echo "fuzz: clang is needed (Debian: apt-get install clang libclang-rt-dev libffi-dev)" >&2
    exit 1
fi
if [ ! -f "$builddir/build.ninja" ]; then
    CC=clang meson setup "$builddir" -Dfuzz=enabled -Db_sanitize=address,undefined \
        -Db_lundef=false -Dtests=false -Dexamples=false -Dbench=disabled >/dev/null
fi
meson compile -C "$builddir" >/dev/null

if [ "${1:-}" = repro ]; then
    [ $# -eq 3 ] || { echo "usage: scripts/fuzz.sh repro TARGET FILE" >&2; exit 2; }
    exec "$builddir/fuzz/$2" "$3"
fi

secs="${1:-30}"
targets="${FUZZ_TARGETS:-$(sed -n "s/^  '\(fuzz_[a-z_]*\)' : .*/\1/p" fuzz/meson.build)}"
start=$(date +%s)
status=0
for t in $targets; do
    corpus="$work/corpus/$t"
    art="$work/artifacts/$t"
    log="$work/$t.log"
    mkdir -p "$corpus" "$art"
    dict=()
    [ -f "fuzz/$t.dict" ] && dict=("-dict=fuzz/$t.dict")
    if "$builddir/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" \
        "$corpus" "fuzz/corpus/$t" >"$log" 2>&1; then
        line=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "fuzz: $t ok: ${execs:-?} runs, $(echo "$line" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*')"
    else
        status=1
        echo "fuzz: $t FAILED (log: $log)"
        grep -E 'ERROR|broken promise|SUMMARY|runtime error' "$log" | head -n 20 || true
        for f in "$art"/*; do
            [ -e "$f" ] && echo "fuzz: kept $f; reproduce with: scripts/fuzz.sh repro $t $f"
        done
    fi
done
echo "fuzz: $(echo $targets | wc -w) targets, ${secs} s each, done in $(( $(date +%s) - start )) s"
exit $status
