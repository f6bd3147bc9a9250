#!/usr/bin/env python3
"""Turns a Python source in the tree into a C header holding it as a string.

    embed-py.py NAME IN.py OUT.h

OUT.h defines `static const char NAME[]`, the bytes of IN.py, one C
string literal per line. pyshim's helper modules are kept as .py files so
that they read, diff and lint as Python; the build embeds them.
"""
import sys


def c_line(line):
    out = []
    for ch in line:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "?":
            out.append("\\?")  # no trigraphs
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    name, src, dst = sys.argv[1:]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    if not text.isascii():
        sys.exit(f"{src}: only ASCII is embedded (write non-ASCII as escapes)")
    lines = text.splitlines(keepends=True) or [""]
    body = "\n".join("    " + c_line(ln) for ln in lines)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(f"/* Generated from {src.split('/src/')[-1]} by scripts/embed-py.py. */\n"
                f"static const char {name}[] =\n{body};\n")


if __name__ == "__main__":
    main()
