# pyshim gen: reads a module's signatures on the running Python and writes
# typed C bindings over the pyshim API. Embedded in the pyshim CLI (which
# runs it through pys_exec on the chosen Python) and called as
# generate(module, prefix, only, paths) -> (header, source, report).
#
# Invariants: output depends only on the module and the Python (names are
# sorted, no addresses or dates); every name the C side sees is a valid,
# non-reserved C and C++ identifier; a signature that cannot be typed gives
# a pys_obj wrapper ("fallback"), never a wrong type.
import collections.abc
import importlib
import inspect
import re
import sys
import typing

RESERVED = set("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while _Bool _Complex _Imaginary bool true false alignas alignof
and and_eq asm catch class compl concept consteval constexpr constinit const_cast co_await
co_return co_yield decltype delete dynamic_cast explicit export friend mutable namespace new
noexcept not not_eq nullptr operator or or_eq private protected public reinterpret_cast
requires static_assert static_cast template this thread_local throw try typeid typename using
virtual wchar_t xor xor_eq char8_t char16_t char32_t NULL errno assert
rt out opts self
""".split())

SEQ_ORIGINS = (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence,
               collections.abc.Iterable, collections.abc.Collection)
C_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class T:
    """A parameter or result type: kind in int float bool str bytes
    list_float list_int obj cls none tuple; opt for Optional."""

    def __init__(self, kind, opt=False, cls=None, elts=None, why=""):
        self.kind, self.opt, self.cls, self.elts, self.why = kind, opt, cls, elts or [], why
        self.n = False  # a str passed as pointer + length (the NAME_n variant)


# Protocols typeshed uses for numbers: a parameter of one of these takes the
# C type beside it (a Python int or float satisfies the protocol). A result
# of a protocol type is no promise of that type, so results stay pys_obj.
NUMERIC = {"SupportsFloat": "float", "SupportsIndex": "int", "SupportsInt": "int"}


def numeric_kind(a):
    """int / float for int, float and the numeric protocols, else None."""
    if a is int:
        return "int"
    if a is float:
        return "float"
    if getattr(a, "__module__", None) in ("typing", "typing_extensions") and getattr(a, "__name__", "") in NUMERIC:
        return NUMERIC[a.__name__]
    return None


def numeric_union(args):
    """The C kind of a union of numeric members: float when any is
    float-like (a double holds each), int when all are int-like; None when
    a member is something else."""
    import numbers
    kinds = [numeric_kind(a) or ("number" if isinstance(a, type) and issubclass(a, numbers.Number) else None)
             for a in args]
    if not kinds or None in kinds:
        return None
    if "float" in kinds:
        return "float"  # float | Decimal | Fraction: a C double passes as a float
    return "int" if all(k == "int" for k in kinds) else None


def classify(ann, classes, result=False):
    empty = inspect.Parameter.empty
    if ann is empty:
        return T("obj", why="no annotation")
    if ann is None or ann is type(None):
        return T("none")
    if isinstance(ann, str):
        return T("obj", why="annotation %r not resolvable" % ann)
    for py, kind in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (bytes, "bytes")):
        if ann is py:
            return T(kind)
    if isinstance(ann, type) and ann in classes:
        return T("cls", cls=classes[ann])
    lit = getattr(typing, "Literal", None)
    if lit is not None and (typing.get_origin(ann) if hasattr(typing, "get_origin") else None) is lit:
        vals = typing.get_args(ann)
        kinds = set(type(v) for v in vals)
        if len(kinds) == 1 and kinds.pop() in (str, int, bool, bytes) and not result:
            return classify(type(vals[0]), classes, result)
        return T("obj", why="%s has no C type" % describe(ann))
    nk = numeric_kind(ann)
    if nk:
        if result:
            return T("obj", why="%s result (a protocol, no promise of a %s)" % (describe(ann), nk))
        return T(nk)
    origin = typing.get_origin(ann) if hasattr(typing, "get_origin") else getattr(ann, "__origin__", None)
    args = typing.get_args(ann) if hasattr(typing, "get_args") else getattr(ann, "__args__", ())
    uniontype = getattr(__import__("types"), "UnionType", None)
    if origin is typing.Union or (uniontype is not None and origin is uniontype):
        rest = [a for a in args if a is not type(None)]
        nk = numeric_union(rest) if len(rest) > 1 else None
        if nk and not result:
            t = T(nk)
            t.opt = len(rest) < len(args)
            return t
        if nk:
            return T("obj", why="union %s result (no single C type)" % describe(ann))
        if len(rest) == 1 and len(args) == 2:
            t = classify(rest[0], classes, result)
            if t.kind in ("int", "float", "bool", "str", "bytes", "list_float", "list_int", "obj", "cls"):
                t.opt = True
                return t
        return T("obj", why="union %s" % describe(ann))
    if origin is tuple and args and Ellipsis not in args and args != ((),):
        return T("tuple", elts=[classify(a, classes, result) for a in args])
    if origin in SEQ_ORIGINS and args and (origin is not tuple or (len(args) == 2 and args[1] is Ellipsis)):
        elt = args[0]
        eorigin = typing.get_origin(elt) if hasattr(typing, "get_origin") else getattr(elt, "__origin__", None)
        if eorigin is typing.Union or (uniontype is not None and eorigin is uniontype):
            ek = numeric_union(list(typing.get_args(elt) if hasattr(typing, "get_args") else elt.__args__))
        else:
            ek = numeric_kind(elt)
        if ek == "float" and (elt is float or not result):
            return T("list_float")
        if ek == "int" and (elt is int or not result):
            return T("list_int")
    return T("obj", why="%s has no C type" % describe(ann))


def describe(ann):
    if isinstance(ann, type):
        return ann.__qualname__
    return re.sub(r"\btyping\.", "", repr(ann))


def default_type(v):
    for py, kind in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (bytes, "bytes")):
        if type(v) is py:
            return T(kind)
    return None


def safe_repr(v):
    try:
        r = repr(v)
    except Exception:
        r = "<%s>" % type(v).__name__
    if re.search(r" at 0x[0-9a-fA-F]+", r):
        r = "<%s object>" % type(v).__name__
    if len(r) > 60:
        r = r[:57] + "..."
    return r.replace("*/", "* /").replace("\n", " ")


def cident(name):
    return name + "_" if name in RESERVED or name.startswith("pys_") or name.endswith("_") else name


class P:
    """A parameter: how (pos: positional, required; posopt: positional-only
    with a default; kw: has a default, passed by keyword; kwreq:
    keyword-only without a default)."""

    def __init__(self, name, how, t, default):
        self.name, self.how, self.t, self.default = name, how, t, default
        self.c = cident(name)


class Fn:
    def __init__(self, cname, path, doc, kind):
        self.cname, self.path, self.doc, self.kind = cname, path, doc, kind
        self.params, self.ret, self.self_cls, self.slot = [], T("obj"), None, 0
        self.status, self.why = "typed", []
        self.src = "module"  # where the types came from: module, or STUB_SRC's label
        self.variant = None  # the NAME_n variant (str parameters as pointer + length)
        self.opts_name = cname
        self.variant_of = None  # for a NAME_n variant: NAME
        self.prop = None  # ("get" | "set", class c-name, attribute name)


STUB = {}  # qualified name ("f", "Class.m") -> {param: annotation, "return": annotation}
STUB_POS = {}  # qualified name -> the stub's positional parameter names, in order
STUB_OVERLOAD = set()  # qualified names the stub declares with @overload
STUB_SRC = {"label": "", "banner": "", "note": ""}  # where STUB came from


def ann_eval(node, ns):
    """Evaluates an annotation's AST without relying on the running Python's
    own support for its spelling: list[float] and X | None work on 3.8."""
    import ast
    if isinstance(node, ast.Expression):
        node = node.body
    if hasattr(ast, "Index") and isinstance(node, ast.Index):
        node = node.value
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ann_eval(ast.parse(node.value, mode="eval"), ns)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in ns:
            return ns[node.id]
        raise NameError(node.id)
    if isinstance(node, ast.Attribute):
        return getattr(ann_eval(node.value, ns), node.attr)
    if isinstance(node, ast.Tuple):
        return tuple(ann_eval(e, ns) for e in node.elts)
    if isinstance(node, ast.List):  # Callable[[int, str], X]
        return [ann_eval(e, ns) for e in node.elts]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return typing.Union[ann_eval(node.left, ns), ann_eval(node.right, ns)]
    if isinstance(node, ast.Subscript):
        base = ann_eval(node.value, ns)
        if base is getattr(typing, "Literal", None) or getattr(base, "_name", None) == "Literal":
            sl = node.slice.value if hasattr(ast, "Index") and isinstance(node.slice, ast.Index) else node.slice
            vals = sl.elts if isinstance(sl, ast.Tuple) else [sl]
            if not all(isinstance(v, ast.Constant) for v in vals):
                raise TypeError("unsupported Literal")
            return base[tuple(v.value for v in vals)] if len(vals) > 1 else base[vals[0].value]
        if sys.version_info < (3, 9):  # PEP 585 spellings as typing's generics
            base = {list: typing.List, tuple: typing.Tuple, dict: typing.Dict, set: typing.Set,
                    frozenset: typing.FrozenSet, type: typing.Type}.get(base, base)
            if isinstance(base, type) and base.__module__ == "collections.abc" and \
                    isinstance(getattr(typing, base.__name__, None), typing._GenericAlias):
                base = getattr(typing, base.__name__)
        return base[ann_eval(node.slice, ns)]
    raise TypeError("unsupported annotation syntax")


def ann_text(node):
    import ast
    if hasattr(ast, "unparse"):
        return ast.unparse(node)
    if hasattr(ast, "Index") and isinstance(node, ast.Index):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return ann_text(node.value) + "." + node.attr
    if isinstance(node, ast.Constant):
        return repr(node.value)
    if isinstance(node, ast.Subscript):
        return "%s[%s]" % (ann_text(node.value), ann_text(node.slice))
    if isinstance(node, ast.Tuple):
        return ", ".join(ann_text(e) for e in node.elts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return "%s | %s" % (ann_text(node.left), ann_text(node.right))
    return "..."


def ann_namespace(mod):
    import builtins
    ns = dict(vars(builtins))
    ns.update((k, getattr(typing, k)) for k in dir(typing) if not k.startswith("_"))
    ns.update((k, getattr(collections.abc, k)) for k in dir(collections.abc) if not k.startswith("_"))
    ns["typing"], ns["collections"] = typing, collections
    ns.update(vars(mod))
    return ns


def resolve_str(ann, ns):
    if isinstance(ann, str):
        try:
            return ann_eval(__import__("ast").parse(ann, mode="eval"), ns)
        except Exception:
            return ann
    return ann


def stub_cond(node):
    """A stub's `if` test against the running (target) Python: True, False,
    or None when it is not a sys.version_info / sys.platform test."""
    import ast
    import operator
    ops = {ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Eq: operator.eq, ast.NotEq: operator.ne}

    def sysattr(n):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "sys":
            return n.attr
        return None

    def value(n):
        if sysattr(n) == "version_info":
            return tuple(sys.version_info)
        if sysattr(n) == "platform":
            return sys.platform
        if isinstance(n, ast.Subscript) and sysattr(n.value) == "version_info":
            sl = n.slice.value if hasattr(ast, "Index") and isinstance(n.slice, ast.Index) else n.slice
            if isinstance(sl, ast.Slice) and sl.lower is None and sl.step is None and \
                    isinstance(sl.upper, ast.Constant) and type(sl.upper.value) is int:
                return tuple(sys.version_info)[:sl.upper.value]
            if isinstance(sl, ast.Constant) and type(sl.value) is int:
                return tuple(sys.version_info)[sl.value]
        raise ValueError

    def const(n):
        if isinstance(n, ast.Tuple) and all(isinstance(e, ast.Constant) for e in n.elts):
            return tuple(e.value for e in n.elts)
        if isinstance(n, ast.Constant) and type(n.value) in (int, str):
            return n.value
        raise ValueError

    try:
        if isinstance(node, ast.BoolOp):
            vals = [stub_cond(v) for v in node.values]
            if None in vals:
                return None
            return all(vals) if isinstance(node.op, ast.And) else any(vals)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            v = stub_cond(node.operand)
            return None if v is None else not v
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in ops:
            left, right = value(node.left), const(node.comparators[0])
            if type(left) is not type(right):
                return None
            return bool(ops[type(node.ops[0])](left, right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr == "startswith" and sysattr(node.func.value) == "platform" and \
                len(node.args) == 1 and not node.keywords:
            return sys.platform.startswith(const(node.args[0]))
    except (ValueError, TypeError):
        return None
    return None


def stub_statements(body):
    """The statements of a stub body that apply on the running Python:
    `if sys.version_info >= (3, N):` and `sys.platform` blocks are decided
    here (not by their order in the file); a block under a test that is
    neither is left out, both branches."""
    import ast
    for node in body:
        if isinstance(node, ast.If):
            c = stub_cond(node.test)
            if c is True:
                yield from stub_statements(node.body)
            elif c is False:
                yield from stub_statements(node.orelse)
            continue
        yield node


STUB_ALIASES = {}  # a stub-only module's path -> its aliases (for `from _typeshed import X`)


def stub_path(root, modname):
    import os
    base = os.path.join(root, *modname.split("."))
    for cand in (base + ".pyi", os.path.join(base, "__init__.pyi")):
        if os.path.exists(cand):
            return cand
    return None


def stub_names(tree, ns, root, depth=0):
    """Adds a stub's module-level type aliases (`X: TypeAlias = ...`,
    `X = ...`), TypeVars and imports to ns. An import names a module of the
    running Python, or else (like _typeshed, which exists only as stubs)
    another stub under root, read for its aliases."""
    import ast
    import importlib
    for node in stub_statements(tree.body):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            src = None
            try:
                src = importlib.import_module(node.module) if node.module != "_typeshed" else None
            except Exception:
                src = None
            other = None
            for a in node.names:
                name = a.asname or a.name
                if src is not None and hasattr(src, a.name):
                    ns[name] = getattr(src, a.name)
                    continue
                if name in ns and node.module in ("typing_extensions", "typing"):
                    continue  # the running typing's own
                if other is None and root and depth < 3:
                    other = STUB_ALIASES.get((root, node.module))
                    if other is None:
                        other = {}
                        path = stub_path(root, node.module)
                        if path:
                            try:
                                with open(path, encoding="utf-8") as f:
                                    sub = ast.parse(f.read(), path)
                                other = dict(ns)
                                stub_names(sub, other, root, depth + 1)
                            except Exception:
                                other = {}
                        STUB_ALIASES[(root, node.module)] = other
                if other and a.name in other:
                    ns[name] = other[a.name]
        elif isinstance(node, ast.Import):
            for a in node.names:
                try:
                    m = importlib.import_module(a.name)
                    ns[a.asname or a.name.split(".")[0]] = m if a.asname else importlib.import_module(
                        a.name.split(".")[0])
                except Exception:
                    pass
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(targets) != 1 or not isinstance(targets[0], ast.Name) or node.value is None:
                continue
            name, v = targets[0].id, node.value
            if isinstance(v, ast.Call) and isinstance(v.func, (ast.Name, ast.Attribute)) and \
                    getattr(v.func, "id", getattr(v.func, "attr", "")) == "TypeVar" and v.args and \
                    isinstance(v.args[0], ast.Constant) and isinstance(v.args[0].value, str):
                cons, bound = [], None
                try:
                    cons = [ann_eval(c, ns) for c in v.args[1:]]
                    for kw in v.keywords:
                        if kw.arg == "bound":
                            bound = ann_eval(kw.value, ns)
                except Exception:
                    cons, bound = [], None
                try:
                    ns[name] = typing.TypeVar(v.args[0].value, *cons, bound=bound) if len(cons) != 1 else \
                        typing.TypeVar(v.args[0].value)
                except Exception:
                    ns[name] = typing.TypeVar(v.args[0].value)
                continue
            if isinstance(node, ast.Assign) and not (isinstance(v, (ast.Subscript, ast.BinOp, ast.Name,
                                                                     ast.Attribute))):
                continue
            try:
                ns[name] = ann_eval(v, ns)
            except Exception:
                ns.pop(name, None)


def load_stub(path, mod, root=None, stubmod=None, only=None, depth=0):
    """Reads the annotations of a .pyi stub (functions, classes' methods and
    properties) into STUB; the module's own signatures still decide the
    parameters, the stub only gives their types. Conditional blocks are
    decided for the running Python; @overload'ed names go to STUB_OVERLOAD.
    root: the stub tree the file belongs to (for imports of stub-only
    modules, and re-exports), or None. A name the stub re-exports from
    another stub of the same package (`from .decoder import JSONDecoder as
    JSONDecoder`) is read from that stub (only: {its name there: the name
    here}; stubmod: the dotted name the file is the stub of)."""
    import ast
    import os
    if os.path.isdir(path):
        base = os.path.join(path, *mod.__name__.split("."))
        path = base + ".pyi" if os.path.exists(base + ".pyi") else os.path.join(base, "__init__.pyi")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    stubmod = stubmod or mod.__name__
    ns = ann_namespace(mod)
    stub_names(tree, ns, root)

    def decorated(node, name):
        for d in node.decorator_list:
            if (isinstance(d, ast.Name) and d.id == name) or (isinstance(d, ast.Attribute) and d.attr == name):
                return True
        return False

    def fn(prefix, node):
        q = prefix + node.name
        if decorated(node, "setter") or decorated(node, "deleter"):
            return  # the getter has the property's type
        if decorated(node, "overload"):
            STUB_OVERLOAD.add(q)
        hints, pos = {}, []
        a = node.args
        for arg in list(getattr(a, "posonlyargs", [])) + a.args + a.kwonlyargs:
            if arg.annotation is not None:
                hints[arg.arg] = arg.annotation
        for arg in list(getattr(a, "posonlyargs", [])) + a.args:
            pos.append(arg.arg)
        if node.returns is not None:
            hints["return"] = node.returns
        out = {}
        for k, v in hints.items():
            try:
                out[k] = ann_eval(v, ns)
            except Exception:
                out[k] = ann_text(v)  # kept as text: "not resolvable", never a guess
            # typeshed's old spelling of positional-only: __x
            if k.startswith("__") and not k.endswith("__"):
                out[k[2:]] = out[k]
        STUB[q] = out
        STUB_POS[q] = [n[2:] if n.startswith("__") and not n.endswith("__") else n for n in pos]

    defined = set()
    for node in stub_statements(tree.body):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if only is not None and node.name not in only:
            continue
        name = only[node.name] if only is not None else node.name
        defined.add(name)
        if isinstance(node, ast.ClassDef):
            for sub in stub_statements(node.body):
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    fn(name + ".", sub)
        else:
            node_name, node.name = node.name, name
            fn("", node)
            node.name = node_name
    if not root or depth >= 2:
        return
    package = stubmod if os.path.basename(path) == "__init__.pyi" else stubmod.rpartition(".")[0]
    top = stubmod.split(".")[0]
    for node in stub_statements(tree.body):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            parts = package.split(".") if package else []
            if node.level - 1 > len(parts):
                continue
            full = ".".join(parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
        else:
            full = node.module or ""
        if full.split(".")[0] != top or full == stubmod:
            continue  # re-exports within the package only
        want = {}
        for a in node.names:
            alias = a.asname or a.name
            if a.name == "*" or alias in defined or alias.startswith("_") or \
                    (only is not None and alias not in only):
                continue
            want[a.name] = only[alias] if only is not None else alias
        other = stub_path(root, full) if want else None
        if other:
            try:
                sub_mod = importlib.import_module(full)
            except Exception:
                sub_mod = mod
            try:
                load_stub(other, sub_mod, root, full, want, depth + 1)
            except (OSError, SyntaxError, ValueError):
                pass


TYPESHED_PLACES = (
    # mypy bundles typeshed (pip's mypy, Debian's python3-mypy)
    "mypy/typeshed/stdlib",
    # pyright / basedpyright bundle it as typeshed-fallback (pip wheels)
    "pyright/dist/typeshed-fallback/stdlib",
    "basedpyright/dist/typeshed-fallback/stdlib",
    # jedi (python3-jedi) bundles it too
    "jedi/third_party/typeshed/stdlib",
)
TYPESHED_SYSTEM = (
    "/usr/lib/python3/dist-packages",  # Debian / Ubuntu python3-* packages (python3-mypy)
    "/usr/local/lib/node_modules",  # npm install -g pyright
    "/usr/lib/node_modules",
)


def typeshed_stdlib(explicit):
    """The typeshed stdlib directory to use: --typeshed DIR, else
    $PYSHIM_TYPESHED, else the first bundled copy found in the running
    Python's sys.path, then in the system places. A typeshed directory is
    one with a stdlib/VERSIONS file (DIR itself may be that stdlib).
    Returns (dir, how) or (None, why)."""
    import os

    def ok(d):
        for c in (os.path.join(d, "stdlib"), d):
            if os.path.isfile(os.path.join(c, "VERSIONS")):
                return c
        return None

    if explicit:
        d = ok(explicit)
        if not d:
            raise ValueError("--typeshed %s: no stdlib/VERSIONS there (not a typeshed directory)" % explicit)
        return d, "--typeshed"
    env = os.environ.get("PYSHIM_TYPESHED", "")
    if env:
        d = ok(env)
        if not d:
            raise ValueError("PYSHIM_TYPESHED=%s: no stdlib/VERSIONS there (not a typeshed directory)" % env)
        return d, "PYSHIM_TYPESHED"
    roots = [p for p in sys.path if p and os.path.isdir(p)] + list(TYPESHED_SYSTEM)
    for r in roots:
        for place in TYPESHED_PLACES:
            d = ok(os.path.normpath(os.path.join(r, place)))
            if d:
                return d, "found"
    return None, "no typeshed found"


def typeshed_has(stdlib, modname):
    """True when typeshed's VERSIONS lists modname (or its package) for the
    running Python's version."""
    import os
    parts = modname.split(".")
    want = None
    with open(os.path.join(stdlib, "VERSIONS"), encoding="utf-8") as f:
        table = {}
        for line in f:
            line = line.split("#")[0].strip()
            if ":" in line:
                k, v = line.split(":", 1)
                table[k.strip()] = v.strip()
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in table:
            want = table[".".join(parts[:i])]
            break
    if want is None:
        return False
    lo, _, hi = want.partition("-")

    def ver(t):
        return tuple(int(x) for x in t.split("."))
    try:
        if lo and sys.version_info[:2] < ver(lo):
            return False
        if hi and sys.version_info[:2] > ver(hi):
            return False
    except ValueError:
        return False
    return True


def is_stdlib(mod):
    """A module of the running Python's standard library (builtin, or under
    its stdlib directories, not in site-packages)."""
    import os
    import sysconfig
    top = mod.__name__.split(".")[0]
    if top in sys.builtin_module_names:
        return True
    f = getattr(sys.modules.get(top, mod), "__file__", None)
    if not f:
        return False
    f = os.path.realpath(f)
    if "site-packages" in f.split(os.sep) or "dist-packages" in f.split(os.sep):
        return False
    for k in ("stdlib", "platstdlib"):
        d = sysconfig.get_paths().get(k)
        if d and f.startswith(os.path.realpath(d) + os.sep):
            return True
    return False


ANN_NS = {}


def hints_of(obj, path=None):
    if path is not None and path in STUB:
        return STUB[path]
    try:
        return typing.get_type_hints(obj)
    except Exception:
        pass
    raw = getattr(obj, "__annotations__", None)
    if not isinstance(raw, dict):
        return None
    return {k: resolve_str(v, ANN_NS) for k, v in raw.items()}


def typevars(ann, out):
    if isinstance(ann, typing.TypeVar):
        out.add(ann)
    for a in getattr(ann, "__args__", None) or ():
        if not isinstance(a, (list, tuple)):
            typevars(a, out)
    return out


def typevar_binding(tv):
    """The C-representable type a constrained (or bounded) TypeVar takes
    when the caller passes C numbers: float if float is one of its
    constraints (or its bound), else int; None when neither."""
    cons = list(getattr(tv, "__constraints__", ()) or ())
    bound = getattr(tv, "__bound__", None)
    for want in (float, int):
        if want in cons or bound is want:
            return want
    return None


def substitute(ann, m):
    """ann with the TypeVars of m replaced (generic aliases rebuilt)."""
    if isinstance(ann, typing.TypeVar):
        return m.get(ann, ann)
    args = getattr(ann, "__args__", None)
    if not args or not any(a in m or getattr(a, "__args__", None) for a in args if not isinstance(a, (list, tuple))):
        return ann
    new = tuple(a if isinstance(a, (list, tuple)) else substitute(a, m) for a in args)
    origin = typing.get_origin(ann) if hasattr(typing, "get_origin") else getattr(ann, "__origin__", None)
    try:
        if origin is typing.Union:
            return typing.Union[new]
        if hasattr(ann, "copy_with"):
            return ann.copy_with(new)
        return origin[new if len(new) > 1 else new[0]]
    except Exception:
        return ann


def bind_typevars(hints, required):
    """Binds each constrained TypeVar a required parameter uses to float or
    int (typevar_binding) throughout hints: the C caller's doubles make the
    Python call's TypeVar float, so a result of that TypeVar is a float too.
    A TypeVar no required parameter binds is left alone (its result stays
    a pys_obj)."""
    if not hints:
        return hints
    tvs = set()
    for name in required:
        if name in hints:
            typevars(hints[name], tvs)
    m = {}
    for tv in tvs:
        b = typevar_binding(tv)
        if b is not None:
            m[tv] = b
    if not m:
        return hints
    return {k: substitute(v, m) for k, v in hints.items()}


def build_fn(cname, path, obj, classes, drop_first=False, hint_obj=None, doc_obj=None):
    doc = inspect.getdoc(doc_obj if doc_obj is not None else obj) or ""
    fn = Fn(cname, path, doc, "call")
    hpath = path if not path.endswith("()") else path[:-2] + ".__init__"
    if hpath in STUB or hpath in STUB_OVERLOAD:
        fn.src = STUB_SRC["label"]
    if typing_overloads(obj):
        fn.status, fn.why = "fallback", ["overloaded"]
        return fn
    if hpath in STUB_OVERLOAD:
        fn.status, fn.why = "fallback", ["overloaded (in %s)" % (
            "typeshed" if STUB_SRC["label"] == "typeshed" else "the stub")]
        return fn
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        fn.status, fn.why = "fallback", ["no signature (a C function without __text_signature__)"]
        return fn
    hints = hints_of(hint_obj if hint_obj is not None else obj, hpath)
    params = list(sig.parameters.values())
    spos = STUB_POS.get(hpath) if hpath in STUB else None
    if drop_first and params:
        params = params[1:]
    if spos and spos[0] in ("self", "cls"):
        spos = spos[1:]
    if hints is not None:
        hints = dict(hints)
        for k, p in enumerate(params):
            if p.name not in hints and spos and p.kind == p.POSITIONAL_ONLY and k < len(spos) and spos[k] in hints:
                hints[p.name] = hints[spos[k]]  # positional-only: the stub's name may differ
        hints = bind_typevars(hints, [p.name for p in params if p.default is p.empty and
                                      p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)])
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            fn.status = "fallback"
            fn.why = ["*%s" % p.name if p.kind == p.VAR_POSITIONAL else "**%s" % p.name]
            fn.params = []
            return fn
        ann = hints.get(p.name, p.annotation) if hints is not None else p.annotation
        t = classify(ann, classes)
        if t.kind == "obj" and ann is inspect.Parameter.empty and p.default is not p.empty:
            t = default_type(p.default) or t
        if t.kind in ("none", "tuple"):
            t = T("obj", why="%s parameter" % t.kind)
        if t.kind == "obj" and t.why:
            fn.why.append("%s: %s" % (p.name, t.why))
        if p.default is p.empty:
            how = "kwreq" if p.kind == p.KEYWORD_ONLY else "pos"
        else:
            how = "posopt" if p.kind == p.POSITIONAL_ONLY else "kw"
        if not C_IDENT.match(p.name):
            fn.status, fn.why, fn.params = "fallback", ["parameter name %r is no C identifier" % p.name], []
            return fn
        fn.params.append(P(p.name, how, t, p.default))
    rann = sig.return_annotation
    if hints is not None and "return" in hints:
        rann = hints["return"]
    fn.ret = classify(rann, classes, result=True)
    if fn.ret.kind == "tuple" and any(e.kind in ("tuple", "none") for e in fn.ret.elts):
        fn.ret = T("obj", why="nested tuple")
    if fn.ret.kind in ("list_float", "list_int"):
        fn.ret = T("obj")  # containers stay pys_obj
    if fn.ret.kind == "obj" and fn.ret.why:
        fn.why.append("result: %s" % fn.ret.why)
    for e in fn.ret.elts:
        if e.kind in ("list_float", "list_int"):
            e.kind = "obj"
    if fn.why:
        fn.status = "partial"
    return fn


def typing_overloads(obj):
    get = getattr(typing, "get_overloads", None)
    try:
        return bool(get and get(obj))
    except Exception:
        return False


def public_names(mod):
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in dir(mod) if not n.startswith("_")]
        keep = []
        for n in names:
            v = getattr(mod, n, None)
            if inspect.ismodule(v):
                continue
            m = getattr(v, "__module__", None)
            if (callable(v)) and m not in (None, mod.__name__):
                continue
            keep.append(n)
        names = keep
    return sorted(set(n for n in names if isinstance(n, str)))


def collect(mod, prefix, only):
    items, report, used = [], [], set()
    names = public_names(mod)
    if only:
        missing = sorted(set(only) - set(names) - set(n for n in only if hasattr(mod, n)))
        for n in missing:
            report.append(("skipped", n, "not in the module"))
        names = sorted(set(only) - set(missing))
    classes = {}
    for n in names:
        v = getattr(mod, n, None)
        if inspect.isclass(v) and not issubclass(v, BaseException) and C_IDENT.match(n):
            classes[v] = prefix + "_" + n

    def claim(cname, what):
        if cname in used:
            report.append(("skipped", what, "C name %s is taken" % cname))
            return False
        used.add(cname)
        return True

    for n in names:
        v = getattr(mod, n, None)
        if not C_IDENT.match(n):
            report.append(("skipped", n, "no C identifier"))
            continue
        if inspect.isclass(v):
            if issubclass(v, BaseException):
                report.append(("skipped", n, "exception class (raised errors are in pys_last_error)"))
                continue
            cc = classes[v]
            if not claim(cc, n):
                continue
            ctor = build_fn(cc + "_new", n + "()", v, classes, hint_obj=v.__init__ if "__init__" in vars(v) else None,
                            doc_obj=v)
            ctor.kind, ctor.ret, ctor.cls, ctor.path = "new", T("cls", cls=cc), cc, n
            ctor.why = [w for w in ctor.why if not w.startswith("result:")]
            if ctor.status == "partial" and not ctor.why:
                ctor.status = "typed"
            if claim(cc + "_new", n + "()"):
                items.append(ctor)
            for an in sorted(vars(v)):
                if an.startswith("_"):
                    continue
                raw = inspect.getattr_static(v, an)
                what = "%s.%s" % (n, an)
                if not C_IDENT.match(an):
                    report.append(("skipped", what, "no C identifier"))
                    continue
                if isinstance(raw, property):
                    hints = hints_of(raw.fget, what) if raw.fget else None
                    t = classify((hints or {}).get("return", inspect.Parameter.empty), classes, result=True)
                    if t.kind in ("list_float", "list_int", "none"):
                        t = T("obj")
                    if t.kind == "tuple":
                        t = T("obj", why="tuple property")
                    for op in ("get", "set") if raw.fset else ("get",):
                        f = Fn("%s_%s_%s" % (cc, op, an), what, inspect.getdoc(raw) or "", "prop")
                        f.prop, f.self_cls = op, cc
                        if what in STUB:
                            f.src = STUB_SRC["label"]
                        f.ret = t if op == "get" else T("none")
                        if op == "set":
                            f.params = [P("value", "pos", t, inspect.Parameter.empty)]
                        f.status = "typed" if t.kind != "obj" else "partial"
                        if t.kind == "obj":
                            f.why = ["property type: %s" % (t.why or "no C type")]
                        if claim(f.cname, what + (" (setter)" if op == "set" else "")):
                            items.append(f)
                    continue
                if isinstance(raw, (staticmethod, classmethod)):
                    bound = getattr(v, an)
                    f = build_fn("%s_%s" % (cc, an), what, bound, classes,
                                 hint_obj=raw.__func__)
                    f.path = what
                elif inspect.isfunction(raw) or inspect.ismethoddescriptor(raw):
                    f = build_fn("%s_%s" % (cc, an), what, raw, classes, drop_first=True)
                    f.self_cls = cc
                else:
                    report.append(("skipped", what, "not a method or property"))
                    continue
                if claim(f.cname, what):
                    items.append(f)
            continue
        if not callable(v):
            report.append(("skipped", n, "not callable (%s)" % type(v).__name__))
            continue
        f = build_fn(prefix + "_" + n, n, v, classes)
        if claim(f.cname, n):
            items.append(f)
    for i, f in enumerate(items):
        f.slot = i + 1
        if f.kind == "prop":
            f.slot = 0
        report.append((f.status, f.path + ("" if f.kind != "prop" else " (%s)" % f.prop)
                       + ("()" if f.kind == "new" else ""), "; ".join(f.why), f.src))
    return items, sorted(report, key=lambda r: (r[1], r[0]))


# ---- C emission -----------------------------------------------------------------------

CT = {"int": "int64_t", "float": "double", "bool": "bool"}
ELEM = {"list_float": ("double", "pys_list_from_doubles"), "list_int": ("int64_t", "pys_list_from_int64s")}


def c_params(f):
    """The C parameter list of f's required (positional and keyword-only) parameters."""
    out = []
    for p in f.params:
        if p.how in ("pos", "kwreq"):
            out.extend(c_decl(p.t, p.c))
    return out


def c_decl(t, name, field=False):
    k = t.kind
    if k in CT:
        return ["const %s *%s" % (CT[k], name)] if t.opt else ["%s %s" % (CT[k], name)]
    if k == "str":
        # an options field has the length too: NAME_n reads it
        return ["const char *%s" % name] + (["size_t %s_len" % name] if t.n or field else [])
    if k == "bytes":
        return ["const void *%s" % name, "size_t %s_len" % name]
    if k in ELEM:
        return ["const %s *%s" % (ELEM[k][0], name), "size_t %s_len" % name]
    if k == "cls":
        return ["%s %s" % (t.cls, name)]
    return ["pys_obj %s" % name]


def c_outs(t):
    k = t.kind
    if k == "none":
        return []
    if k == "tuple":
        out = []
        for i, e in enumerate(t.elts):
            out.extend(c_out1(e, "out%d" % i))
        return out
    return c_out1(t, "out")


def c_out1(t, name):
    k = t.kind
    if k in CT:
        return ["%s *%s" % (CT[k], name)] + (["bool *%s_none" % name] if t.opt else [])
    if k == "str":
        return ["char **%s" % name, "size_t *%s_len" % name]
    if k == "bytes":
        return ["void **%s" % name, "size_t *%s_len" % name]
    if k == "cls":
        return ["%s *%s" % (t.cls, name)]
    return ["pys_obj *%s" % name]


def tname(t):
    if t.kind == "tuple":
        return "tuple[%s]" % ", ".join(tname(e) for e in t.elts)
    n = {"list_float": "list[float]", "list_int": "list[int]", "obj": "object",
         "cls": (t.cls or "").split("_", PREFIX_PARTS[0])[-1]}.get(
        t.kind, t.kind)
    return "Optional[%s]" % n if t.opt else n


def comment(lines, indent=""):
    out = [indent + "/*"]
    for ln in lines:
        ln = ln.replace("*/", "* /").replace("/*", "/ *").rstrip()
        out.append((indent + " * " + ln).rstrip())
    out.append(indent + " */")
    return "\n".join(out) + "\n"


def opts_fields(f):
    return [p for p in f.params if p.how in ("posopt", "kw")]


def str_variant(f):
    """The NAME_n twin of a typed function with str parameters (each str as
    pointer + length: embedded NULs kept), or None."""
    import copy
    if f.status == "fallback" or f.kind == "prop" or not any(p.t.kind == "str" for p in f.params):
        return None
    v = copy.copy(f)
    v.cname, v.variant_of, v.variant = f.cname + "_n", f.cname, None
    v.params = []
    for p in f.params:
        q = copy.copy(p)
        if p.t.kind == "str":
            q.t = copy.copy(p.t)
            q.t.n = True
        v.params.append(q)
    return v


def emit_header(f):
    s = []
    doc = [l for l in f.doc.splitlines()] if f.doc else []
    sig = []
    for p in f.params:
        sig.append("%s: %s%s" % (p.name, tname(p.t), "" if p.default is inspect.Parameter.empty
                                 else " = " + safe_repr(p.default)))
    head = "%s(%s) -> %s" % (f.path, ", ".join(sig), tname(f.ret))
    if f.kind == "prop":
        head = "%s %s (property): %s" % ("get" if f.prop == "get" else "set", f.path, tname(f.ret if f.prop == "get" else f.params[0].t))
    if f.status == "fallback":
        head = "%s: fallback (%s)" % (f.path, "; ".join(f.why))
    body = [head] + ([""] + doc if doc else [])
    s.append(comment(body))
    of = opts_fields(f)
    if f.variant_of is not None:
        s = [comment(["%s: as %s, each str parameter given as a pointer and its length in" % (f.cname, f.variant_of),
                      "bytes (UTF-8, NULs kept, no terminator needed; PYS_E_VALUE for invalid",
                      "UTF-8). str options: the field NAME_len gives the length."])]
        of = []
    if of and f.status != "fallback":
        s.append("typedef struct %s_opts {\n" % f.opts_name)
        for p in of:
            decl = c_decl(p.t, p.c, True)
            s.append("    %s; /* %s, default %s */\n" % (decl[0], tname(p.t), safe_repr(p.default)))
            for d in decl[1:]:
                s.append("    %s;%s\n" % (d, " /* its length in bytes, read by %s_n only */" % f.cname
                                          if p.t.kind == "str" else ""))
            s.append("    bool %s_set; /* pass %s even when zero%s */\n" % (
                p.c, p.c, ", NULL = None" if p.t.opt and p.t.kind not in ("obj", "cls") else ""))
        s.append("} %s_opts;\n" % f.opts_name)
    s.append("int %s(%s);\n\n" % (f.cname, ", ".join(proto(f))))
    return "".join(s)


def proto(f):
    ps = ["pys_runtime *rt"]
    if f.self_cls:
        ps.append("%s self" % f.self_cls)
    if f.status == "fallback":
        return ps + ["const pys_obj *args", "size_t nargs", "pys_obj kwargs",
                     "%s *out" % f.cls if f.kind == "new" else "pys_obj *out"]
    ps += c_params(f)
    if opts_fields(f):
        ps.append("const %s_opts *opts" % f.opts_name)
    return ps + c_outs(f.ret)


def conv(t, expr, name):
    """C expression making a new handle from the C value(s) called name
    (or expr for a pointer to a scalar)."""
    k = t.kind
    if k == "int":
        return "pys_from_int64(rt, %s)" % expr
    if k == "float":
        return "pys_from_double(rt, %s)" % expr
    if k == "bool":
        return "pys_from_bool(rt, %s)" % expr
    if k == "str" and t.n:
        return "pys_from_strn(rt, %s, %s_len)" % (name, name)
    if k == "str":
        return "pys_from_str(rt, %s)" % name
    if k == "bytes":
        return "pys_from_bytes(rt, %s, %s_len)" % (name, name)
    if k in ELEM:
        return "%s(rt, %s, %s_len)" % (ELEM[k][1], name, name)
    if k == "cls":
        return "pys_dup(%s.o)" % name
    return "pys_dup(%s)" % name


def c_literal(v):
    """A handle-making C expression for a simple default value, or None."""
    import math
    if v is None:
        return "pys_none(rt)"
    if type(v) is bool:
        return "pys_from_bool(rt, %s)" % ("true" if v else "false")
    if type(v) is int and -2 ** 63 < v < 2 ** 63:
        return "pys_from_int64(rt, INT64_C(%d))" % v
    if type(v) is float and math.isfinite(v):
        return "pys_from_double(rt, %s)" % repr(v)
    if type(v) is str and v.isascii() and v.isprintable() and '"' not in v and "\\" not in v and "?" not in v:
        return 'pys_from_str(rt, "%s")' % v
    return None


def conv_arg(t, name):
    """Handle for a parameter (Optional: the None case included)."""
    k = t.kind
    if not t.opt:
        return conv(t, name, name)
    if k in CT:
        return "%s ? %s : pys_none(rt)" % (name, conv(t, "*" + name, name))
    if k in ("str", "bytes", "list_float", "list_int"):
        return "%s ? %s : pys_none(rt)" % (name, conv(t, name, name))
    if k == "cls":
        return "pys_ok(%s.o) ? pys_dup(%s.o) : pys_none(rt)" % (name, name)
    return "pys_ok(%s) ? pys_dup(%s) : pys_none(rt)" % (name, name)


def is_set(p, v):
    k = p.t.kind
    if k in CT and not p.t.opt:
        return "%s.%s_set || %s.%s" % (v, p.c, v, p.c)
    if k in ("bytes", "list_float", "list_int", "str") or (k in CT and p.t.opt):
        return "%s.%s_set || %s.%s" % (v, p.c, v, p.c)
    if k == "cls":
        return "%s.%s_set || pys_ok(%s.%s.o)" % (v, p.c, v, p.c)
    return "%s.%s_set || pys_ok(%s.%s)" % (v, p.c, v, p.c)


def opt_conv(p, v):
    t = p.t
    name = "%s.%s" % (v, p.c)
    if t.opt or t.kind in ("obj", "cls"):
        tt = T(t.kind, True, t.cls)
        tt.n = t.n
        return conv_arg(tt, name)
    return conv(t, name, name)


def emit_body(f, pre):
    L = []
    w = L.append
    w("int %s(%s)\n{\n" % (f.cname, ", ".join(proto(f))))
    if f.kind == "prop":
        return emit_prop(f, pre, L)
    if f.status == "fallback":
        if f.self_cls:
            w("    return %s__call_self(rt, %d, self.o, args, nargs, kwargs, out);\n}\n\n" % (pre, f.slot))
        elif f.kind == "new":
            w("    pys_obj pys_r = PYS_NULL;\n")
            w("    int pys_rc = %s__call(rt, %d, args, nargs, kwargs, &pys_r);\n" % (pre, f.slot))
            w("    if (pys_rc == PYS_OK && (pys_rc = %s__take_cls(rt, %d, pys_r, out ? &out->o : NULL, 0)) != PYS_OK)\n"
              "        pys_release(pys_r);\n    return pys_rc;\n}\n\n" % (pre, f.slot))
        else:
            w("    pys_obj pys_r = PYS_NULL;\n")
            w("    int pys_rc = %s__call(rt, %d, args, nargs, kwargs, &pys_r);\n" % (pre, f.slot))
            w("    if (pys_rc == PYS_OK)\n        pys_rc = %s__take_obj(pys_r, out);\n    return pys_rc;\n}\n\n" % pre)
        return "".join(L)
    pos = [p for p in f.params if p.how in ("pos", "posopt")]
    kws = [p for p in f.params if p.how in ("kw", "kwreq")]
    nself = 1 if f.self_cls else 0
    n = nself + len(pos)
    of = opts_fields(f)
    w("    pys_obj pys_a[%d] = {PYS_NULL};\n" % max(n, 1))
    w("    size_t pys_n = 0;\n")
    if kws:
        w("    pys_obj pys_kw = PYS_NULL;\n    pys_obj pys_v = PYS_NULL;\n")
    w("    pys_obj pys_r = PYS_NULL;\n    int pys_rc = PYS_E_INTERNAL;\n")
    if of:
        w("    %s_opts pys_o;\n" % f.opts_name)
        w("    if (opts)\n        pys_o = *opts;\n    else\n        memset(&pys_o, 0, sizeof pys_o);\n")
    if f.self_cls:
        w("    pys_a[pys_n++] = self.o; /* borrowed */\n")
    posopt = [p for p in pos if p.how == "posopt"]
    if posopt:
        # Positional-only parameters with defaults are passed up to the last
        # one set; an unset one before it gets its default when that is a
        # C literal (else PYS_E_ARG: Python has no way to skip it).
        w("    size_t pys_npos = 0;\n")
        for k, p in enumerate(posopt):
            w("    if (%s)\n        pys_npos = %d;\n" % (is_set(p, "pys_o"), k + 1))
    for p in pos:
        if p.how == "pos":
            w("    if (!pys_ok(pys_a[pys_n] = %s))\n        goto fail;\n    pys_n++;\n" % conv_arg(p.t, p.c))
            continue
        k = posopt.index(p)
        lit = c_literal(p.default)
        w("    if (pys_npos > %d) {\n" % k)
        if k + 1 < len(posopt):
            w("        if (%s)\n            pys_a[pys_n] = %s;\n" % (is_set(p, "pys_o"), opt_conv(p, "pys_o")))
            if lit:
                w("        else\n            pys_a[pys_n] = %s;\n" % lit)
            else:
                w("        else {\n            pys_rc = pys_set_error(PYS_E_ARG, \"%s\", "
                  "\"%s: %s (positional-only, its default is no C value) must be set when a later one is\");\n"
                  "            goto done;\n        }\n" % (f.cname, f.cname, p.name))
        else:
            w("        pys_a[pys_n] = %s;\n" % opt_conv(p, "pys_o"))
        w("        if (!pys_ok(pys_a[pys_n]))\n            goto fail;\n        pys_n++;\n    }\n")
    for p in kws:
        if p.how == "kwreq":
            w("    if (!pys_ok(pys_v = %s))\n        goto fail;\n" % conv_arg(p.t, p.c))
        else:
            w("    if (%s) {\n" % is_set(p, "pys_o"))
            w("        if (!pys_ok(pys_v = %s))\n            goto fail;\n" % opt_conv(p, "pys_o"))
        ind = "    " if p.how == "kwreq" else "        "
        w("%sif (!pys_ok(pys_kw) && !pys_ok(pys_kw = pys_dict_new(rt)))\n%s    goto fail;\n" % (ind, ind))
        w("%sif ((pys_rc = pys_setitem_str(pys_kw, \"%s\", pys_v)) != PYS_OK)\n%s    goto done;\n"
          % (ind, p.name, ind))
        w("%spys_release(pys_v);\n%spys_v = PYS_NULL;\n" % (ind, ind))
        if p.how != "kwreq":
            w("    }\n")
    w("    if ((pys_rc = %s__call(rt, %d, pys_a, pys_n, %s, &pys_r)) != PYS_OK)\n        goto done;\n"
      % (pre, f.slot, "pys_kw" if kws else "PYS_NULL"))
    emit_result(f, pre, w)
    if "goto fail" in "".join(L):
        w("    goto done;\nfail:\n    pys_rc = pys_last_error_brief()->code;\n")
    w("done:\n")
    w("    for (size_t pys_i = %d; pys_i < pys_n; pys_i++)\n        pys_release(pys_a[pys_i]);\n" % nself)
    if kws:
        w("    if (pys_ok(pys_v))\n        pys_release(pys_v);\n")
        w("    if (pys_ok(pys_kw))\n        pys_release(pys_kw);\n")
    w("    if (pys_ok(pys_r))\n        pys_release(pys_r);\n")
    w("    return pys_rc;\n}\n\n")
    return "".join(L)


def emit_take(t, src, dst, w, pre, ind="    "):
    """Converts handle src into the out-parameter dst (a C lvalue name)."""
    k = t.kind
    if k in CT:
        fn = {"int": "pys_to_int64", "float": "pys_to_double", "bool": "pys_to_bool"}[k]
        return "%s__take_%s(%s, %s, %s)" % (pre, k, src, dst, dst + "_none" if t.opt else "NULL")
    if k == "str":
        return "%s__take_str(%s, %s, %s_len, %d)" % (pre, src, dst, dst, 1 if t.opt else 0)
    if k == "bytes":
        return "%s__take_bytes(%s, %s, %s_len, %d)" % (pre, src, dst, dst, 1 if t.opt else 0)
    if k == "cls":
        return "%s__take_cls(rt, %d, %s, %s ? &%s->o : NULL, %d)" % (pre, CLS_SLOT[t.cls], src, dst, dst,
                                                                   1 if t.opt else 0)
    return "%s__take_obj(%s, %s)" % (pre, src, dst)


CLS_SLOT = {}
PREFIX_PARTS = [1]  # underscores in the prefix + 1: C class name -> Python name


def emit_result(f, pre, w):
    t = f.ret
    if f.kind == "new":
        w("    if ((pys_rc = %s__take_cls(rt, %d, pys_r, out ? &out->o : NULL, 0)) != PYS_OK)\n"
          "        goto done;\n" % (pre, f.slot))
        w("    pys_r = PYS_NULL; /* taken */\n")
        return
    if t.kind == "none":
        w("    pys_rc = PYS_OK;\n")
        return
    if t.kind != "tuple":
        w("    if ((pys_rc = %s) != PYS_OK)\n        goto done;\n" % emit_take(t, "pys_r", "out", w, pre))
        if t.kind in ("obj", "cls"):
            w("    pys_r = PYS_NULL; /* taken */\n")
        return
    w("    if ((pys_rc = %s__check_tuple(pys_r, %d, \"%s\")) != PYS_OK)\n        goto done;\n"
      % (pre, len(t.elts), f.cname))
    w("    {\n")
    w("        pys_obj pys_e[%d] = {PYS_NULL};\n" % len(t.elts))
    w("        for (size_t pys_i = 0; pys_i < %d && pys_rc == PYS_OK; pys_i++)\n" % len(t.elts))
    w("            if (!pys_ok(pys_e[pys_i] = pys_getitem_index(pys_r, (int64_t)pys_i)))\n"
      "                pys_rc = pys_last_error_brief()->code;\n")
    # The count of outputs taken is only needed to undo owned ones.
    counted = any(e.kind in ("str", "bytes", "obj", "cls") for e in t.elts)
    if counted:
        w("        int pys_got = 0;\n")
    for i, e in enumerate(t.elts):
        take = emit_take(e, "pys_e[%d]" % i, "out%d" % i, w, pre)
        if counted:
            w("        if (pys_rc == PYS_OK && (pys_rc = %s) == PYS_OK)\n            pys_got++;\n" % take)
        else:
            w("        if (pys_rc == PYS_OK)\n            pys_rc = %s;\n" % take)
        if e.kind in ("obj", "cls"):
            w("        if (pys_rc == PYS_OK)\n            pys_e[%d] = PYS_NULL; /* taken */\n" % i)
    undo = []
    for i, e in enumerate(t.elts):
        if e.kind in ("str", "bytes"):
            undo.append("        if (pys_rc != PYS_OK && pys_got > %d && out%d) {\n            free(*out%d);\n"
                        "            *out%d = NULL;\n        }\n" % (i, i, i, i))
        elif e.kind == "obj":
            undo.append("        if (pys_rc != PYS_OK && pys_got > %d && out%d) {\n            pys_release(*out%d);\n"
                        "            *out%d = PYS_NULL;\n        }\n" % (i, i, i, i))
        elif e.kind == "cls":
            undo.append("        if (pys_rc != PYS_OK && pys_got > %d && out%d) {\n            pys_release(out%d->o);\n"
                        "            out%d->o = PYS_NULL;\n        }\n" % (i, i, i, i))
    w("".join(undo))
    w("        for (size_t pys_i = 0; pys_i < %d; pys_i++)\n"
      "            if (pys_ok(pys_e[pys_i]))\n                pys_release(pys_e[pys_i]);\n" % len(t.elts))
    w("    }\n")


def emit_prop(f, pre, L):
    w = L.append
    name = f.path.split(".")[-1]
    if f.prop == "get":
        if f.ret.kind != "cls":
            w("    (void)rt;\n")
        w("    pys_obj pys_r = pys_getattr(self.o, \"%s\");\n" % name)
        w("    if (!pys_ok(pys_r))\n        return pys_last_error_brief()->code;\n")
        w("    int pys_rc = %s;\n" % emit_take(f.ret, "pys_r", "out", w, pre))
        if f.ret.kind in ("obj", "cls"):
            w("    if (pys_rc == PYS_OK)\n        return pys_rc; /* taken */\n")
        w("    pys_release(pys_r);\n    return pys_rc;\n}\n\n")
    else:
        p = f.params[0]
        if p.t.kind in ("obj", "cls"):
            w("    (void)rt;\n")
        w("    pys_obj pys_v = %s;\n" % conv_arg(p.t, p.c))
        w("    if (!pys_ok(pys_v))\n        return pys_last_error_brief()->code;\n")
        w("    int pys_rc = pys_setattr(self.o, \"%s\", pys_v);\n" % name)
        w("    pys_release(pys_v);\n    return pys_rc;\n}\n\n")
    return "".join(L)


HELPERS = r"""
/* ---- the lookup cache --------------------------------------------------------------------
 * PRE__ids[i] is the handle id of the module (slot 0) or of the callable
 * PRE__paths[i], looked up on first use. Handle ids are never issued twice
 * in a process, so a handle left from a closed runtime (or released by a
 * pyshim scope that was open at the lookup) fails with PYS_E_HANDLE: the
 * slot is then forgotten and looked up again, once. Slots are read and
 * published atomically (a thread that loses the race releases its own). */
#if defined(__GNUC__) || defined(__clang__)
#define PRE__LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define PRE__CAS(p, expected, desired)                                                            \
    __atomic_compare_exchange_n((p), (expected), (desired), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#else
#error "these bindings need GCC or Clang atomics (__atomic builtins)"
#endif

static uint64_t PRE__ids[PRE__NSLOTS];

static pys_obj PRE__slot(pys_runtime *rt, size_t i);

static void PRE__forget(size_t i, uint64_t id)
{
    (void)PRE__CAS(&PRE__ids[i], &id, 0);
}

static pys_obj PRE__lookup(pys_runtime *rt, size_t i)
{
    pys_obj h = PYS_NULL;
    for (int attempt = 0; attempt < 2 && !pys_ok(h); attempt++) {
        if (i == 0) {
            h = pys_import(rt, PRE__module);
            break;
        }
        pys_obj m = PRE__slot(rt, 0);
        if (!pys_ok(m))
            return m;
        h = pys_getattr(m, PRE__paths[i]);
        if (pys_ok(h) || pys_last_error_brief()->code != PYS_E_HANDLE)
            break;
        PRE__forget(0, m.id);
    }
    if (!pys_ok(h))
        return h;
    uint64_t expected = 0;
    if (!PRE__CAS(&PRE__ids[i], &expected, h.id)) {
        pys_release(h);
        h.id = expected;
    }
    return h;
}

/* The cached (borrowed) handle of slot i, or PYS_NULL with the error. */
static pys_obj PRE__slot(pys_runtime *rt, size_t i)
{
    pys_obj h = PYS_NULL;
    h.id = PRE__LOAD(&PRE__ids[i]);
    return pys_ok(h) ? h : PRE__lookup(rt, i);
}

/* Calls slot i with args (and kwargs, PYS_NULL for none); *res is a new handle. */
static int PRE__call(pys_runtime *rt, size_t i, const pys_obj *args, size_t n, pys_obj kw, pys_obj *res)
{
    for (int attempt = 0;; attempt++) {
        pys_obj fn = PRE__slot(rt, i);
        if (!pys_ok(fn))
            return pys_last_error_brief()->code;
        *res = pys_ok(kw) ? pys_call_kw(fn, args, n, kw) : pys_call(fn, args, n);
        if (pys_ok(*res))
            return PYS_OK;
        int rc = pys_last_error_brief()->code;
        if (rc != PYS_E_HANDLE || attempt > 0)
            return rc;
        PRE__forget(i, fn.id);
    }
}

/* ---- results ------------------------------------------------------------------------------ */

static int PRE__none_result(pys_obj r, bool *none)
{
    int rc = pys_is_none(r);
    if (rc < 0)
        return rc;
    if (none)
        *none = rc == 1;
    return rc;
}

static int PRE__take_int(pys_obj r, int64_t *out, bool *none)
{
    int64_t v = 0;
    int rc = none ? PRE__none_result(r, none) : 0;
    if (rc < 0 || rc == 1)
        return rc < 0 ? rc : PYS_OK;
    if ((rc = pys_to_int64(r, &v)) == PYS_OK && out)
        *out = v;
    return rc;
}

static int PRE__take_float(pys_obj r, double *out, bool *none)
{
    double v = 0;
    int rc = none ? PRE__none_result(r, none) : 0;
    if (rc < 0 || rc == 1)
        return rc < 0 ? rc : PYS_OK;
    if ((rc = pys_to_double(r, &v)) == PYS_OK && out)
        *out = v;
    return rc;
}

static int PRE__take_bool(pys_obj r, bool *out, bool *none)
{
    bool v = false;
    int rc = none ? PRE__none_result(r, none) : 0;
    if (rc < 0 || rc == 1)
        return rc < 0 ? rc : PYS_OK;
    if ((rc = pys_to_bool(r, &v)) == PYS_OK && out)
        *out = v;
    return rc;
}

/* For an optional str or bytes result: 1 when r is None (and *len = 0),
 * 0 when it is not or the result is not optional, < 0 on failure. */
static int PRE__none_buffer(pys_obj r, int optional, size_t *len)
{
    int rc = optional ? pys_is_none(r) : 0;
    if (rc == 1 && len)
        *len = 0;
    return rc;
}

/* A str result as a malloc'd NUL-terminated copy (NULL for None when
 * optional). */
static int PRE__take_str(pys_obj r, char **out, size_t *len, int optional)
{
    int rc = PRE__none_buffer(r, optional, len);
    if (rc < 0 || rc == 1) {
        if (rc == 1 && out)
            *out = NULL;
        return rc < 0 ? rc : PYS_OK;
    }
    size_t n = 0;
    const char *s = pys_str_view(r, &n);
    if (!s)
        return pys_last_error_brief()->code;
    if (out) {
        char *copy = (char *)malloc(n + 1);
        if (!copy)
            return PYS_E_NOMEM;
        memcpy(copy, s, n + 1);
        *out = copy;
    }
    if (len)
        *len = n;
    return PYS_OK;
}

static int PRE__take_bytes(pys_obj r, void **out, size_t *len, int optional)
{
    int rc = PRE__none_buffer(r, optional, len);
    if (rc < 0 || rc == 1) {
        if (rc == 1 && out)
            *out = NULL;
        return rc < 0 ? rc : PYS_OK;
    }
    size_t n = 0;
    const void *p = pys_bytes_view(r, &n);
    if (!p)
        return pys_last_error_brief()->code;
    if (out) {
        void *copy = malloc(n ? n : 1);
        if (!copy)
            return PYS_E_NOMEM;
        memcpy(copy, p, n);
        *out = copy;
    }
    if (len)
        *len = n;
    return PYS_OK;
}

/* Moves r into *out (or releases it when out is NULL). */
static int PRE__take_obj(pys_obj r, pys_obj *out)
{
    if (out)
        *out = r;
    else
        pys_release(r);
    return PYS_OK;
}

/* r must be an instance of the class in slot i (None too when optional,
 * which gives PYS_NULL). On success r is moved into *out. */
static int PRE__take_cls(pys_runtime *rt, size_t i, pys_obj r, pys_obj *out, int optional)
{
    int rc;
    if (optional && (rc = pys_is_none(r)) != 0) {
        if (rc < 0)
            return rc;
        pys_release(r);
        if (out)
            *out = PYS_NULL;
        return PYS_OK;
    }
    pys_obj cls = PRE__slot(rt, i);
    if (!pys_ok(cls))
        return pys_last_error_brief()->code;
    if ((rc = pys_isinstance(r, cls)) != 1) {
        if (rc < 0)
            return rc;
        char got[128];
        if (pys_type_name(r, got, sizeof got) != PYS_OK)
            got[0] = '\0';
        char msg[320];
        snprintf(msg, sizeof msg, "expected a %s.%s, got %s", PRE__module, PRE__paths[i], got);
        return pys_set_error(PYS_E_TYPE, PRE__module, msg);
    }
    return PRE__take_obj(r, out);
}

static int PRE__check_tuple(pys_obj r, size_t n, const char *fn)
{
    char got[128];
    if (pys_type_name(r, got, sizeof got) != PYS_OK)
        return pys_last_error_brief()->code;
    size_t len = 0;
    if (strcmp(got, "tuple") == 0 && pys_len(r, &len) == PYS_OK && len == n)
        return PYS_OK;
    char msg[320];
    if (strcmp(got, "tuple") == 0)
        snprintf(msg, sizeof msg, "%s: expected a tuple of %zu items, got %zu", fn, n, len);
    else
        snprintf(msg, sizeof msg, "%s: expected a tuple of %zu items, got %s", fn, n, got);
    return pys_set_error(PYS_E_TYPE, fn, msg);
}
"""

CALL_SELF = r"""
/* Calls slot i (an unbound method) with self followed by args. */
static int PRE__call_self(pys_runtime *rt, size_t i, pys_obj self, const pys_obj *args, size_t n,
                          pys_obj kw, pys_obj *out)
{
    pys_obj stack[16];
    pys_obj *all = n < 16 ? stack : (pys_obj *)malloc((n + 1) * sizeof *all);
    if (!all)
        return PYS_E_NOMEM;
    all[0] = self;
    for (size_t k = 0; k < n; k++)
        all[k + 1] = args[k];
    pys_obj r = PYS_NULL;
    int rc = PRE__call(rt, i, all, n + 1, kw, &r);
    if (all != stack)
        free(all);
    if (rc == PYS_OK)
        rc = PRE__take_obj(r, out);
    return rc;
}
"""


def generate(modname, prefix, only, paths, stubs="", typeshed=""):
    """typeshed: "" to search for it (stdlib modules only), "-" for none,
    else a typeshed (or typeshed stdlib) directory."""
    import os
    for p in reversed(list(paths)):
        if p not in sys.path:
            sys.path.insert(0, p)
    mod = importlib.import_module(modname)
    for d in (STUB, STUB_POS, STUB_ALIASES):
        d.clear()
    STUB_OVERLOAD.clear()
    STUB_SRC.update(label="", banner="", note="")
    ANN_NS.clear()
    ANN_NS.update(ann_namespace(mod))
    f = getattr(mod, "__file__", None) or ""
    cand = (os.path.join(os.path.dirname(f), "__init__.pyi") if os.path.basename(f).startswith("__init__.")
            else os.path.splitext(f)[0] + ".pyi") if f else ""
    if stubs:
        STUB_SRC.update(label="stub", banner="the stub %s given with --stubs" % os.path.basename(
            os.path.normpath(stubs)), note="types from the stub %s (--stubs)" % stubs)
        load_stub(stubs, mod)
    elif cand and os.path.exists(cand):
        # PEP 561: a stub shipped beside the module gives the types too.
        STUB_SRC.update(label="stub", banner="the stub shipped with the module",
                        note="types also from the stub shipped with the module")
        top = sys.modules.get(modname.split(".")[0])
        root = os.path.dirname(os.path.dirname(top.__file__)) if getattr(top, "__file__", None) else None
        try:
            load_stub(cand, mod, root)
        except Exception as e:
            for d in (STUB, STUB_POS):
                d.clear()
            STUB_OVERLOAD.clear()
            STUB_SRC.update(label="", banner="",
                            note="the stub shipped with the module was not read (%s)" % type(e).__name__)
    elif typeshed != "-" and (typeshed or is_stdlib(mod)):
        tdir, how = typeshed_stdlib(typeshed)
        path = stub_path(tdir, modname) if tdir and typeshed_has(tdir, modname) else None
        if path:
            rel = os.path.relpath(path, tdir).replace(os.sep, "/")
            STUB_SRC.update(label="typeshed", banner="typeshed (stdlib/%s)" % rel,
                            note="types also from typeshed: %s (%s)" % (path, how))
            load_stub(path, mod, tdir)
        elif tdir:
            STUB_SRC["note"] = "typeshed (%s) has no stub for %s on this Python" % (tdir, modname)
        else:
            STUB_SRC["note"] = "no typeshed found (--typeshed DIR or PYSHIM_TYPESHED give one)"
    stub_note = STUB_SRC["note"]
    if not prefix:
        prefix = re.sub(r"[^A-Za-z0-9_]", "_", modname)
    if not C_IDENT.match(prefix):
        raise ValueError("--prefix %r is not a C identifier" % prefix)
    only = [o for o in (only or "").split(",") if o]
    items, report = collect(mod, prefix, only)
    CLS_SLOT.clear()
    PREFIX_PARTS[0] = prefix.count("_") + 1
    for f in items:
        if f.kind == "new":
            CLS_SLOT[f.cls] = f.slot
    for f in items:  # a result or property of a class not generated here is a pys_obj
        for t in [f.ret] + f.ret.elts + [p.t for p in f.params]:
            if t.kind == "cls" and t.cls not in CLS_SLOT:
                t.kind, t.cls = "obj", None
    taken = set(f.cname for f in items) | set(f.cls + "_free" for f in items if f.kind == "new")
    for f in items:
        v = str_variant(f)
        if v is None:
            continue
        if v.cname in taken:
            report.append(("skipped", f.path + " (str length variant)", "C name %s is taken" % v.cname))
            continue
        taken.add(v.cname)
        f.variant = v
    report.sort(key=lambda r: (r[1], r[0]))
    version = getattr(mod, "__version__", None)
    vtext = ("version %s" % version) if isinstance(version, str) else "no __version__"
    pyv = "%d.%d.%d%s" % (sys.version_info[:3] + (sys.version_info.releaselevel[0] + str(sys.version_info.serial)
                                                 if sys.version_info.releaselevel != "final" else "",))
    import sysconfig
    ft = "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
    guard = prefix.upper() + "_H"
    banner = ("/* %s.h / %s.c: C bindings for the Python module `%s` (%s), generated by\n"
              " * `pyshim gen` on CPython %s%s. Do not edit; regenerate instead.\n *\n"
              " * Every function returns PYS_OK or a PYS_E_* code (the Python exception,\n"
              " * if any, is in pys_last_error()). pys_obj and class-handle parameters are\n"
              " * borrowed (the caller keeps them). Out-parameters may be NULL to ignore a\n"
              " * result; str and bytes results are malloc'd copies the caller free()s;\n"
              " * pys_obj results and class handles are new handles the caller releases\n"
              " * (pys_release, or PREFIX_Class_free). Options structs are zero for\n"
              " * Python's defaults: a field is passed when it is non-zero or its _set flag\n"
              " * is true. Functions are thread-safe (pyshim takes the GIL).%s%s */\n"
              % (prefix, prefix, modname, vtext, pyv, ft,
                 ("\n *\n * A function with str parameters also comes as NAME_n, which takes each\n"
                  " * str as a pointer and its length in bytes (embedded NULs kept); str\n"
                  " * results always come with their length (out_len).")
                 if any(f.variant for f in items) else "",
                 ("\n *\n * Types also from %s." % STUB_SRC["banner"]) if STUB_SRC["banner"] else "")
              ).replace("PREFIX", prefix)
    h = [banner, "#ifndef %s\n#define %s\n\n#include <pyshim.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
         % (guard, guard)]
    for f in items:
        if f.kind == "new":
            h.append("/* A %s.%s instance (a new handle: %s_free). */\n" % (modname, f.path, f.cls))
            h.append("typedef struct %s {\n    pys_obj o;\n} %s;\n\n" % (f.cls, f.cls))
    for f in items:
        h.append(emit_header(f))
        if f.variant:
            h.append(emit_header(f.variant))
        if f.kind == "new":
            h.append("/* Releases the handle (pys_release). */\n")
            h.append("int %s_free(%s self);\n\n" % (f.cls, f.cls))
    h.append("#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s */\n" % guard)

    pre = prefix
    c = [banner, "#include \"%s.h\"\n\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n" % prefix]
    c.append("#define %s__NSLOTS %d\n" % (pre, len(items) + 1))
    c.append("static const char %s__module[] = \"%s\";\n" % (pre, modname))
    c.append("static const char *const %s__paths[%s__NSLOTS] = {\n    \"\",\n" % (pre, pre))
    for f in items:
        c.append("    \"%s\",\n" % (f.path if f.kind != "prop" else ""))
    c.append("};\n")
    c.append(HELPERS.replace("PRE", pre))
    if any(f.self_cls and f.status == "fallback" for f in items):
        c.append(CALL_SELF.replace("PRE", pre))
    c.append("\n/* ---- bindings ---------------------------------------------------------------------------- */\n\n")
    for f in items:
        c.append(emit_body(f, pre))
        if f.variant:
            c.append(emit_body(f.variant, pre))
        if f.kind == "new":
            c.append("int %s_free(%s self)\n{\n    return pys_release(self.o);\n}\n\n" % (f.cls, f.cls))
    src = "".join(c).rstrip("\n") + "\n"
    # Helpers no binding uses would be -Wunused-function errors.
    changed = True
    while changed:
        changed = False
        for helper in ("take_int", "take_float", "take_bool", "take_str", "take_bytes", "take_obj", "take_cls",
                       "check_tuple", "none_result", "none_buffer"):
            name = "%s__%s" % (pre, helper)
            if src.count(name + "(") == 1:
                src, changed = drop_function(src, name), True
    rep = "".join("%-9s %s%s%s\n" % (r[0], r[1], (": " + r[2]) if r[2] else "",
                                      ("  [types: %s]" % r[3]) if len(r) > 3 else "") for r in report)
    if stub_note:
        rep = "note      %s\n" % stub_note + rep
    return prefix, "".join(h), src, rep


def drop_function(src, name):
    m = re.search(r"\n(/\*[^\n]*(\n \*[^\n]*)*\*/\n)?static [^\n]*\b%s\(" % re.escape(name), src)
    if not m:
        return src
    end = src.index("\n}\n", m.end()) + 3
    return src[:m.start()] + src[end:]
