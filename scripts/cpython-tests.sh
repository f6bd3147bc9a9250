#!/usr/bin/env bash
# CPython's own regression tests through `pyshim run -m test`, compared test
# by test with the same install's own interpreter running `-m test`.
#
#   scripts/cpython-tests.sh [-p "3.12 3.13"] [-b BUILDDIR] [MODULE...]
#
# Each Python (default: 3.12 and the newest one pyshim finds) runs every
# module twice, sequentially and in-process (no -j: regrtest's workers would
# be started from sys.executable, i.e. natively): once as
# `<sys.executable> -m test --junit-xml ...` and once as
# `pyshim run --library <its libpython> -m test --junit-xml ...`. The per-test
# outcomes (ok / skipped / failure / error) must be the same; differences
# are listed and make the script exit 1. Modules the install does not ship
# are reported and skipped. Runs nice'd; not part of the default test run
# (it takes minutes per Python).
#
# The default modules are the ones where the process around the program
# matters: signals (SIGPIPE, SIGXFSZ, SIGINT), exit statuses, __main__,
# sys.path[0], sys.orig_argv, subprocesses and the interpreter's options.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
builddir=build
pythons=""
while getopts "p:b:" opt; do
    case $opt in
        p) pythons=$OPTARG ;;
        b) builddir=$OPTARG ;;
        *) sed -n '2,20p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
modules=("$@")
if [ ${#modules[@]} -eq 0 ]; then
    modules=(
        test_subprocess test_signal test_asyncio.test_events test_asyncio.test_subprocess
        test_ssl test_concurrent_futures test_multiprocessing_spawn.test_misc test_resource
        test_sys test_os test_cmd_line test_cmd_line_script test_runpy test_threading
        test_atexit test_faulthandler test_utf8_mode test_c_locale_coercion test_site
        test_repl test_pickle test_io
    )
fi
pyshim="$root/$builddir/tools/pyshim"
[ -x "$pyshim" ] || { echo "no $pyshim: run scripts/build.sh first" >&2; exit 2; }

# version -> "libpython<TAB>executable", from pyshim's own probe.
probe() {
    "$pyshim" probe --json --python "$1" | python3 -c '
import json, sys
j = json.load(sys.stdin)
c = [c for c in j["candidates"] if c["chosen"]]
print(c[0]["realpath"] + "\t" + c[0]["executable"]) if c else sys.exit(1)'
}
if [ -z "$pythons" ]; then
    newest=$("$pyshim" probe --json | python3 -c '
import json, sys
v = {tuple(map(int, c["version"].split("."))) for c in json.load(sys.stdin)["candidates"]
     if c["accepted"] and c["version"] and not c["free_threaded"]}
print("%d.%d" % max(v))')
    pythons="3.12"
    [ "$newest" != "3.12" ] && pythons="3.12 $newest"
fi

# junit XML -> "test_id<TAB>outcome" lines, sorted.
outcomes() {
    python3 - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    tree = ET.parse(sys.argv[1])
except Exception as e:
    print("<no results: %s>\tmissing" % e); sys.exit()
rows = []
for tc in tree.iter("testcase"):
    name = "%s.%s" % (tc.get("classname", ""), tc.get("name", ""))
    kind = "ok"
    for child in tc:
        if child.tag in ("failure", "error", "skipped"):
            kind = child.tag
            break
    rows.append("%s\t%s" % (name, kind))
print("\n".join(sorted(rows)))
EOF
}

work=$(mktemp -d /tmp/pyshim-cpython-tests-XXXXXX)
status=0
start=$(date +%s)
for ver in $pythons; do
    line=$(probe "$ver") || { echo "== $ver: not found, skipped"; continue; }
    lib=${line%%$'\t'*}
    exe=${line#*$'\t'}
    echo "== Python $ver: $exe / pyshim run --library $lib"
    for mod in "${modules[@]}"; do
        if ! "$exe" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('test.$mod') is None)" 2>/dev/null; then
            echo "   $mod: not in this install, skipped"
            continue
        fi
        d="$work/$ver/$mod"
        mkdir -p "$d/native" "$d/shim"
        t0=$(date +%s)
        (cd "$d/native" && nice -n 10 "$exe" -m test --junit-xml "$d/native.xml" "$mod" \
            >"$d/native.log" 2>&1) && nrc=0 || nrc=$?
        t1=$(date +%s)
        (cd "$d/shim" && nice -n 10 "$pyshim" run --library "$lib" -m test --junit-xml "$d/shim.xml" \
            "$mod" >"$d/shim.log" 2>&1) && src=0 || src=$?
        t2=$(date +%s)
        outcomes "$d/native.xml" >"$d/native.txt"
        outcomes "$d/shim.xml" >"$d/shim.txt"
        summary=$(awk -F'\t' '{n[$2]++} END {printf "%d ok, %d skipped, %d failure, %d error", n["ok"], n["skipped"], n["failure"], n["error"]}' "$d/shim.txt")
        if [ "$nrc" = "$src" ] && cmp -s "$d/native.txt" "$d/shim.txt"; then
            printf "   %-40s same: %s (exit %s; %ss native, %ss pyshim)\n" "$mod" "$summary" "$src" $((t1 - t0)) $((t2 - t1))
        else
            status=1
            printf "   %-40s DIFFERENT: exit %s native, %s pyshim (logs in %s)\n" "$mod" "$nrc" "$src" "$d"
            diff "$d/native.txt" "$d/shim.txt" | sed -n 's/^[<>]/      &/p' | head -40 || true
        fi
    done
done
echo "cpython-tests: $(( $(date +%s) - start )) s; results in $work"
exit $status
