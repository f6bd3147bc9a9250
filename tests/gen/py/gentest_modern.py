"""PEP 585 / PEP 604 spellings (list[float], int | None, tuple[int, str]),
as strings (PEP 563) so the module imports on every supported Python; the
generator evaluates them itself, also where the running Python could not."""
from __future__ import annotations


def mean2(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def find(d: dict[str, int], key: str) -> int | None:
    return d.get(key)


def pair(a: int, label: str | None = None) -> tuple[int, str]:
    return a * 2, label or "none"
