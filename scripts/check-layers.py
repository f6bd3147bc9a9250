#!/usr/bin/env python3
"""Fails when src/ runs against its layer order.

    loader -> core -> convert -> {api, bridge, async} -> ffi

A file may use its own layer and the layers before it. Two kinds of edge
are checked:

- includes: every internal include names its layer ("core/gate.h"); one
  that reaches a later layer, or names no layer at all, is an error;
- symbols: with a build directory, each object file's undefined symbols
  are matched to the object that defines them (nm); a reference to a
  symbol of a later layer is an error, whichever header declared it.

api, bridge and async are one rank: the issue of which calls which among
them is the close sequence's (core/runtime.h), not an order.

Usage: check-layers.py [--src DIR] [--build DIR] [--self-test]
Exit status 0 when clean, 1 with one line per crossing on stderr.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

RANK = {"loader": 0, "core": 1, "convert": 2, "api": 3, "bridge": 3, "async": 3, "ffi": 4}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path, src):
    rel = os.path.relpath(path, src)
    top = rel.split(os.sep)[0]
    return top if top in RANK else None


def check_includes(src):
    bad = []
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(root, name)
            mine = layer_of(path, src)
            if mine is None:
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                where = f"{os.path.relpath(path, src)}:{line}"
                if inc.startswith("pyshim") and "/" not in inc:
                    continue  # the public headers (include/)
                if "/" not in inc:
                    # Only a file beside the includer that is not a header
                    # (capi.def, generated tables) may go without a layer.
                    if inc.endswith(".h"):
                        bad.append(f"{where}: #include \"{inc}\" names no layer")
                    continue
                theirs = inc.split("/")[0]
                if theirs not in RANK:
                    bad.append(f"{where}: #include \"{inc}\": {theirs}/ is no layer")
                elif RANK[theirs] > RANK[mine]:
                    bad.append(f"{where}: {mine} includes {inc} of the later layer {theirs}")
    return bad


def nm(objs, *flags):
    """{object: [symbol, ...]} for every object, from one nm run."""
    out = subprocess.run(["nm", "-P", "-A", *flags, *objs], check=True, capture_output=True,
                         text=True).stdout
    syms = {o: [] for o in objs}
    for ln in out.splitlines():
        obj, sep, rest = ln.partition(": ")
        if sep and rest.split() and obj in syms:
            syms[obj].append(rest.split()[0])
    return syms


def object_layer(obj):
    # meson names objects after their source: src_<layer>_<file>.c.o
    m = re.match(r"src_([a-z]+)_", os.path.basename(obj))
    return m.group(1) if m and m.group(1) in RANK else None


# meson's object directories of the library: libpyshim.so.<version>.p, and
# libpyshim.a.p (which holds objects of its own only in a static-only build).
LIB_DIR = re.compile(r"libpyshim\.(so(\.[0-9.]+)?|a)\.p$")


def objects(build):
    found = {"so": [], "a": []}
    for root, _, files in os.walk(build):
        m = LIB_DIR.search(os.path.basename(root))
        if not m:
            continue
        kind = "a" if m.group(1) == "a" else "so"
        found[kind] += [os.path.join(root, n) for n in files
                        if n.startswith("src_") and n.endswith(".o")]
    return sorted(found["so"] or found["a"])


def check_symbols(objs):
    defined = {}
    for o, syms in nm(objs, "--defined-only", "-g").items():
        for s in syms:
            defined[s] = o
    undefined = nm(objs, "-u")
    bad = []
    for o in objs:
        mine = object_layer(o)
        if mine is None:
            continue
        for s in undefined[o]:
            d = defined.get(s)
            if d is None:
                continue
            theirs = object_layer(d)
            if theirs and RANK[theirs] > RANK[mine]:
                bad.append(f"{os.path.basename(o)}: {mine} uses {s} of the later layer "
                           f"{theirs} ({os.path.basename(d)})")
    return bad


def self_test():
    """A planted back edge of each kind must fail; the clean tree must not."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        for d in ("core", "api"):
            os.makedirs(os.path.join(src, d))
        files = {
            "core/a.h": "int pys__a(void);\n",
            "core/a.c": '#include "core/a.h"\nint pys__a(void) { return 1; }\n',
            "api/b.h": "int pys__b(void);\n",
            "api/b.c": '#include "api/b.h"\n#include "core/a.h"\n'
                       "int pys__b(void) { return pys__a(); }\n",
        }
        for rel, text in files.items():
            with open(os.path.join(src, rel), "w") as f:
                f.write(text)
        build = os.path.join(tmp, "libpyshim.so.0.1.0.p")
        os.makedirs(build)

        def compile_all():
            for rel in ("core/a.c", "api/b.c"):
                obj = os.path.join(build, "src_" + rel.replace("/", "_") + ".o")
                subprocess.run(["cc", "-c", "-I", src, "-o", obj, os.path.join(src, rel)],
                               check=True)
            return objects(tmp)

        clean = check_includes(src) + check_symbols(compile_all())
        if clean:
            print("self-test: the clean tree fails:", *clean, sep="\n  ", file=sys.stderr)
            return 1
        # A back edge by include and by symbol: core calls into api.
        with open(os.path.join(src, "core/a.c"), "w") as f:
            f.write('#include "core/a.h"\n#include "api/b.h"\n'
                    "int pys__a(void) { return 1; }\nint pys__c(void);\n"
                    "int pys__c(void) { return pys__b(); }\n")
        inc = check_includes(src)
        sym = check_symbols(compile_all())
        # A symbol edge with no include behind it (a prototype written in place).
        with open(os.path.join(src, "core/a.c"), "w") as f:
            f.write('#include "core/a.h"\nint pys__b(void);\n'
                    "int pys__a(void) { return pys__b(); }\n")
        hidden = check_symbols(compile_all())
        ok = (len(inc) == 1 and "core includes api/b.h" in inc[0] and len(sym) == 1 and
              "uses pys__b" in sym[0] and len(hidden) == 1 and check_includes(src) == [])
        print("self-test:", "planted back edges found" if ok else "FAILED", file=sys.stderr)
        for line in inc + sym + hidden:
            print("  " + line, file=sys.stderr)
        return 0 if ok else 1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.path.join(here, "..", "src"))
    ap.add_argument("--build", help="a configured and built meson build directory")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    bad = check_includes(a.src)
    nobj = 0
    if a.build:
        objs = objects(a.build)
        nobj = len(objs)
        if not objs:
            print(f"check-layers: no library objects under {a.build}", file=sys.stderr)
            return 1
        bad += check_symbols(objs)
    for line in bad:
        print("check-layers: " + line, file=sys.stderr)
    if bad:
        print(f"check-layers: {len(bad)} crossing(s) against "
              "loader -> core -> convert -> {api, bridge, async} -> ffi", file=sys.stderr)
        return 1
    print(f"check-layers: clean (includes{f', symbols of {nobj} objects' if nobj else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
