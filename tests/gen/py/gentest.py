"""The module the `pyshim gen` tests generate bindings for: one function or
class per case the generator maps. typing spellings (List, Optional, Tuple)
so that it imports on every supported Python; gentest_modern.py has the
PEP 585 / PEP 604 spellings."""
from typing import Iterator, List, Optional, Sequence, Tuple

__version__ = "1.2.3"


def add(a: int, b: int) -> int:
    """Returns a + b."""
    return a + b


def scale(x: float, factor: float = 2.0, *, offset: float = 0.0) -> float:
    """x * factor + offset (factor defaulted, offset keyword-only)."""
    return x * factor + offset


def greet(name: str, punct: str = "!") -> str:
    return "hello " + name + punct


def negate(flag: bool) -> bool:
    return not flag


def total(xs: List[float]) -> float:
    return float(sum(xs))


def count_big(xs: Sequence[int], limit: int = 10) -> int:
    return sum(1 for x in xs if x > limit)


def maybe_len(s: Optional[str] = None) -> Optional[int]:
    """None in, None out; else len(s)."""
    return None if s is None else len(s)


def opt_add(a: Optional[int], b: Optional[float] = None) -> float:
    return float((a or 0) + (b or 0.0))


def rev_bytes(data: bytes) -> bytes:
    return bytes(reversed(data))


def divmod2(a: int, b: int) -> Tuple[int, int]:
    return divmod(a, b)


def split_name(full: str) -> Tuple[str, int]:
    first = full.split(" ")[0]
    return first, len(first)


def counter(n: int) -> Iterator[int]:
    """A generator function: a pys_obj result."""
    for i in range(n):
        yield i


def varargs(*args, **kwargs):
    """Untypeable: a fallback wrapper."""
    return len(args) * 100 + len(kwargs)


def untyped(x, y=3):
    return (x, y)


def boom(msg: str) -> int:
    raise ValueError(msg)


def wrong_result(x: int) -> int:
    """Annotated int, returns a str: the binding reports a type error."""
    return "not an int"


def huge() -> int:
    """Beyond int64_t."""
    return 2 ** 70


def needs(*, key: str, level: int = 1) -> str:
    """A keyword-only parameter without a default is a required C parameter."""
    return key * level


def pair_or_bad(good: bool) -> Tuple[int, str]:
    return (1, "one") if good else (1, "one", "extra")


def clamp(x: float, lo: float = 0.0, hi: float = 1.0, /) -> float:
    """Positional-only parameters with defaults."""
    return min(max(x, lo), hi)


def pick(a: int, b: object = None, c: int = 5, /) -> int:
    """A positional-only default (None) that is a C value, one that is not."""
    return a + (0 if b is None else 1000) + c


def skip_default(a: int, b: list = [1], c: int = 5, /) -> int:
    """b's default is no C value: setting c alone is refused."""
    return a + len(b) + c


def keywords(default: int, new: int = 1, *, char: str = "x") -> str:
    """Parameter names that are C or C++ keywords."""
    return char * (default + new)


def nothing() -> None:
    return None


class Counter:
    """A counter with a name."""

    def __init__(self, name: str, start: int = 0):
        self.name = name
        self._value = start

    def add(self, n: int = 1) -> int:
        """Adds n and returns the new value."""
        self._value += n
        return self._value

    def label(self) -> str:
        return "%s=%d" % (self.name, self._value)

    def clone(self) -> "Counter":
        c = Counter(self.name, self._value)
        return c

    def merge(self, other: "Counter") -> int:
        return self._value + other._value

    @property
    def value(self) -> int:
        return self._value

    @value.setter
    def value(self, v: int) -> None:
        self._value = v

    @property
    def doubled(self) -> float:
        return self._value * 2.0

    @property
    def tag(self):
        """An untyped property with a setter: a pys_obj."""
        return getattr(self, "_tag", None)

    @tag.setter
    def tag(self, v):
        self._tag = v

    @staticmethod
    def make_default() -> "Counter":
        return Counter("default", 7)

    def spread(self, *parts):
        return len(parts) + self._value


def new_counter(name: str) -> Counter:
    return Counter(name)


def not_a_counter() -> Counter:
    return 42


class Oops(Exception):
    pass


LIMIT = 10


def echo(text: str, suffix: str = "") -> str:
    """text + suffix: str parameters and a str result that may hold NULs."""
    return text + suffix
