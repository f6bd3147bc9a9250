"""Unannotated functions whose types come from tests/gen/stubs/genver.pyi,
a stub with version- and platform-conditional blocks."""


def pick(x):
    return x


def later(x):
    return x


def plat(x):
    return x


def old_only(x):
    return x


def via_alias(x):
    return x


def numeric(x, xs):
    return float(x) + float(sum(xs))


def ov(x):
    return x


def proto_result(x):
    return x
