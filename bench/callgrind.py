#!/usr/bin/env python3
"""Instruction counts per op: pyshim, the C-API and pybind11, under callgrind.

Timings on a shared or loaded machine are noisy; instruction counts are
not. This runs each op of bench_capi on each side under callgrind, counting
only inside that side's op function (--toggle-collect=shim_OP / capi_OP /
pb11_OP), and prints instructions per op, pyshim / C-API and pyshim /
pybind11. This is the deciding table (BENCHMARKS.md); pysbench's timed
medians are the second figure. The pybind11 column is batched only, and
"-" where bench_capi was built without pybind11 or the op has no pybind11
version.

usage: bench/callgrind.py BUILD_DIR [--only OP[,OP...]] [--mode auto|batched]
"""
import os
import re
import subprocess
import sys
import tempfile

OPS = ["exec", "eval", "len_call", "int_rt", "str_rt", "dict_get", "iter10", "mixed5",
       "callf3", "list_1m", "numpy_1m", "bridge", "dict_get1", "iter10_into",
       "iter10_int64",
       "exec_vs_runstring", "eval_vs_runstring"]
PB11_OPS = OPS[:15]
# pybind11 writes these rows one way only: its op of the row they vary.
PB11_FN = {"dict_get1": "dict_get", "iter10_into": "iter10", "iter10_int64": "iter10"}
FN = {"exec_vs_runstring": "exec_runstring", "eval_vs_runstring": "eval_runstring"}


def count(cmd, fn):
    """Runs cmd under callgrind; returns (instructions, calls) of fn."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                        "--toggle-collect=" + fn] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        ids, cost, calls, pending = set(), 0, 0, False
        with open(out) as f:
            for line in f:
                m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
                if m:
                    if m.group(3) == fn:
                        ids.add(m.group(2))
                    pending = m.group(1) == "c" and m.group(2) in ids
                    continue
                if pending and line.startswith("calls="):
                    calls += int(line.split("=")[1].split()[0])
                    cost += int(next(f).split()[1])
                    pending = False
        return cost, calls


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    args = sys.argv[2:]
    only = OPS
    modes = ["auto", "batched"]
    if "--only" in args:
        only = args[args.index("--only") + 1].split(",")
    if "--mode" in args:
        modes = [args[args.index("--mode") + 1]]
    capi = os.path.join(build, "bench", "bench_capi")
    common = ["--reps", "1", "--target-ms", "100"]
    print(f"{'op':20} {'mode':8} {'pyshim Ir/op':>14} {'C-API Ir/op':>13} {'ratio':>7}"
          f" {'pybind11 Ir/op':>15} {'/pb11':>7}")
    for op in only:
        fn = FN.get(op, op)
        for mode in modes:
            sel = [capi, "--child", "ops", "--only", op, "--mode", mode] + common
            try:
                s_ir, s_n = count(sel + ["--side", "pyshim"], "shim_" + fn)
                c_ir, c_n = count(sel + ["--side", "capi"], "capi_" + fn)
            except subprocess.CalledProcessError as e:
                print(f"{op:20} {mode:8} failed: {e}")
                continue
            if not s_n or not c_n:
                print(f"{op:20} {mode:8} skipped")
                continue
            s, c = s_ir / s_n, c_ir / c_n
            p_txt = f"{'-':>15} {'-':>7}"
            if mode == "batched" and op in PB11_OPS:
                try:
                    p_ir, p_n = count(sel + ["--side", "pybind11"], "pb11_" + PB11_FN.get(op, fn))
                except subprocess.CalledProcessError:
                    p_n = 0
                if p_n:
                    p = p_ir / p_n
                    p_txt = f"{p:15.0f} {s / p:7.2f}"
            print(f"{op:20} {mode:8} {s:14.0f} {c:13.0f} {s / c:7.2f} {p_txt}", flush=True)


if __name__ == "__main__":
    main()
