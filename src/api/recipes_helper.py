# pyshim's recipes helper: output routing, policed-run support and script
# reloading. Runs once per open in a private namespace (not in sys.modules).
import ast, builtins, contextvars, hashlib, io, os, sys, types, _thread


class OutputLimitExceeded(BaseException):
    """A policed run wrote more output than its policy allows."""


OutputLimitExceeded.__module__ = 'pyshim'

# ---- output routing ------------------------------------------------------
# route: this context's sinks (None, stdout sink, stderr sink) or None.
# glob: the process-wide sinks of pys_redirect. cur: the Stream objects
# installed in sys.stdout / sys.stderr (or None).
route = contextvars.ContextVar('pyshim.output', default=None)
glob = [None, None, None]
cur = [None, None, None]
names = (None, 'stdout', 'stderr')
state_lock = _thread.allocate_lock()
active = [0]


class Sink:
    """Line-buffered UTF-8 bytes towards one C writer (emit)."""
    __slots__ = ('emit', 'buf', 'lock', 'budget')

    def __init__(self, emit, budget):
        self.emit = emit
        self.buf = []
        self.lock = _thread.RLock()
        self.budget = budget

    def put(self, b, text):
        with self.lock:
            bud = self.budget
            if bud is not None:
                if bud[0] < len(b):
                    head = b[:bud[0]]
                    bud[0] = 0
                    if text:
                        head = head.decode('utf-8', 'ignore').encode('utf-8')
                    if head:
                        self.buf.append(head)
                    self.drain()
                    raise OutputLimitExceeded(
                        'output limit of %d bytes reached' % bud[1])
                bud[0] -= len(b)
            if not text:
                self.drain()
                if b:
                    self.emit(b)
                return
            i = b.rfind(b'\n')
            if i < 0:
                if b:
                    self.buf.append(b)
                return
            self.buf.append(b[:i + 1])
            out = b''.join(self.buf)
            self.buf = [b[i + 1:]] if i + 1 < len(b) else []
            self.emit(out)

    def drain(self):
        if self.buf:
            out = b''.join(self.buf)
            self.buf = []
            self.emit(out)

    def flush(self):
        with self.lock:
            self.drain()


class Raw:
    """sys.stdout.buffer of a routed stream."""

    def __init__(self, st):
        self.st = st

    def write(self, b):
        b = bytes(b)
        k = self.st.sink()
        if k is None:
            u = self.st.under
            return u.buffer.write(b) if u is not None else len(b)
        k.put(b, False)
        return len(b)

    def flush(self):
        self.st.flush()

    def writable(self):
        return True


class Stream(io.TextIOBase):
    """sys.stdout / sys.stderr: writes go where the current context's route
    says, else to pys_redirect's writer, else to the stream it replaced."""

    def __init__(self, idx, under):
        self.idx = idx
        self.under = under

    def sink(self):
        r = route.get()
        if r is not None and r[self.idx] is not None:
            return r[self.idx]
        return glob[self.idx]

    def write(self, s):
        if type(s) is not str:
            if not issubclass(type(s), str):
                raise TypeError('write() argument must be str, not %s'
                                % type(s).__name__)
            s = str.__str__(s)
        k = self.sink()
        if k is None:
            u = self.under
            return u.write(s) if u is not None else len(s)
        k.put(str.encode(s, 'utf-8', 'backslashreplace'), True)
        return len(s)

    def flush(self):
        k = self.sink()
        if k is not None:
            k.flush()
        elif self.under is not None:
            self.under.flush()

    def isatty(self):
        if self.sink() is not None or self.under is None:
            return False
        return self.under.isatty()

    def fileno(self):
        if self.sink() is not None or self.under is None:
            raise io.UnsupportedOperation(
                'sys.%s is routed to a host writer: it has no file descriptor'
                % names[self.idx])
        return self.under.fileno()

    def writable(self):
        return True

    def readable(self):
        return False

    def seekable(self):
        return False

    def close(self):
        pass

    @property
    def closed(self):
        return False

    @property
    def encoding(self):
        if self.sink() is None and self.under is not None:
            return getattr(self.under, 'encoding', 'utf-8')
        return 'utf-8'

    @property
    def errors(self):
        if self.sink() is None and self.under is not None:
            return getattr(self.under, 'errors', 'strict')
        return 'backslashreplace'

    @property
    def line_buffering(self):
        return True

    @property
    def name(self):
        return '<%s>' % names[self.idx]

    @property
    def buffer(self):
        if self.sink() is None and self.under is not None:
            return self.under.buffer
        return Raw(self)


def install():
    with state_lock:
        for i in (1, 2):
            s = getattr(sys, names[i], None)
            if s is None or s is not cur[i]:
                cur[i] = Stream(i, s)
                setattr(sys, names[i], cur[i])


def uninstall_if_idle():
    with state_lock:
        if active[0] or glob[1] is not None or glob[2] is not None:
            return
        for i in (1, 2):
            st = cur[i]
            if st is not None and getattr(sys, names[i], None) is st:
                setattr(sys, names[i], st.under)
            cur[i] = None


def redirect(streams, emit):
    for i in (1, 2):
        if streams & i:
            old = glob[i]
            glob[i] = Sink(emit, None) if emit is not None else None
            if old is not None:
                old.flush()
    if emit is not None:
        install()
    else:
        uninstall_if_idle()


def enter(streams, emit, limit):
    install()
    budget = [limit, limit] if limit else None
    r0 = route.get() or (None, None, None)
    k1 = Sink(emit, budget) if streams & 1 else None
    k2 = Sink(emit, budget) if streams & 2 else None
    with state_lock:
        active[0] += 1
    tok = route.set((None, k1 or r0[1], k2 or r0[2]))
    return (tok, k1, k2)


def leave(t):
    try:
        for k in (t[1], t[2]):
            if k is not None:
                k.flush()
    finally:
        route.reset(t[0])
        with state_lock:
            active[0] -= 1


# ---- policed runs --------------------------------------------------------
# Attribute names policed source may not spell: anything with a leading
# underscore except a few harmless dunders, and the attributes that lead
# from generators, coroutines and tracebacks to frames (and from frames to
# globals and builtins).
SAFE_DUNDERS = frozenset((
    '__init__', '__name__', '__qualname__', '__doc__', '__str__', '__repr__',
    '__len__', '__iter__', '__next__', '__enter__', '__exit__'))
FRAME_ATTRS = frozenset((
    'gi_frame', 'gi_code', 'gi_yieldfrom', 'cr_frame', 'cr_code', 'cr_await',
    'cr_origin', 'ag_frame', 'ag_code', 'ag_await', 'f_back', 'f_globals',
    'f_locals', 'f_builtins', 'f_code', 'f_trace', 'tb_frame', 'tb_next',
    'func_globals', 'mro'))
REFUSED_BUILTINS = frozenset((
    'vars', 'eval', 'exec', 'compile', 'globals', 'locals', 'breakpoint',
    'help', '__loader__', '__spec__', '__build_class__', 'memoryview'))
DEFAULT_BUILTINS = (
    'abs', 'all', 'any', 'ascii', 'bin', 'bool', 'bytearray', 'bytes',
    'callable', 'chr', 'complex', 'dict', 'divmod', 'enumerate', 'filter',
    'float', 'format', 'frozenset', 'hash', 'hex', 'int', 'isinstance',
    'issubclass', 'iter', 'len', 'list', 'map', 'max', 'min', 'next', 'object',
    'oct', 'ord', 'pow', 'print', 'range', 'repr', 'reversed', 'round', 'set',
    'slice', 'sorted', 'str', 'sum', 'tuple', 'zip', 'None', 'True', 'False',
    'ArithmeticError', 'AssertionError', 'AttributeError', 'BaseException',
    'Exception', 'IndexError', 'KeyError', 'LookupError', 'MemoryError',
    'NameError', 'NotImplementedError', 'OverflowError', 'PermissionError',
    'RuntimeError', 'StopIteration', 'TypeError', 'ValueError',
    'ZeroDivisionError')


def bad_attr(n):
    return (n.startswith('_') and n not in SAFE_DUNDERS) or n in FRAME_ATTRS


def deny(what, node=None):
    where = ' (line %d)' % node.lineno if node is not None and hasattr(node, 'lineno') else ''
    raise PermissionError('pyshim policy: %s is not allowed%s' % (what, where))


class Checker(ast.NodeVisitor):
    def visit_Attribute(self, n):
        if bad_attr(n.attr):
            deny('attribute %r' % n.attr, n)
        self.generic_visit(n)

    def visit_Name(self, n):
        if n.id.startswith('__'):
            deny('name %r' % n.id, n)

    def visit_ImportFrom(self, n):
        if n.level:
            deny('relative import', n)
        for a in n.names:
            if a.name.startswith('_'):
                deny('name %r' % a.name, n)
        self.generic_visit(n)


code_cache = {}


def check_compile(src, filename):
    key = (src, filename)
    c = code_cache.get(key)
    if c is not None:
        return c
    tree = ast.parse(src, filename, 'exec')
    Checker().visit(tree)
    c = compile(tree, filename, 'exec')
    if len(code_cache) >= 256:
        code_cache.clear()
    code_cache[key] = c
    return c


def attr_name(n):
    if not issubclass(type(n), str):
        raise TypeError('attribute name must be a string')
    n = str.__str__(n)
    if bad_attr(n):
        deny('attribute %r' % n)
    return n


def safe_getattr(o, n, *d):
    return getattr(o, attr_name(n), *d)


def safe_hasattr(o, n):
    return hasattr(o, attr_name(n))


def safe_setattr(o, n, v):
    setattr(o, attr_name(n), v)


def safe_delattr(o, n):
    delattr(o, attr_name(n))


SAFE = {'getattr': safe_getattr, 'hasattr': safe_hasattr,
        'setattr': safe_setattr, 'delattr': safe_delattr}


def name_allowed(name, allowed):
    for a in allowed:
        if name == a or name.startswith(a + '.'):
            return True
    return False


def module_view(m, allowed, seen):
    """A copy of module m's public names; submodules only where allowed."""
    v = seen.get(id(m))
    if v is not None:
        return v
    # A name in no module table: `from view import sub` falls back to
    # sys.modules[view.__name__ + '.sub'], which must find nothing.
    v = types.ModuleType('<policed view of %s>' % m.__name__)
    seen[id(m)] = v
    for k, x in list(vars(m).items()):
        if k.startswith('_'):
            continue
        if isinstance(x, types.ModuleType):
            if not name_allowed(x.__name__, allowed):
                continue
            x = module_view(x, allowed, seen)
        setattr(v, k, x)
    return v


def make_import(allowed, enter_import, leave_import):
    allowed = tuple(allowed)
    real = builtins.__import__

    def policed_import(name, globals=None, locals=None, fromlist=(), level=0):
        if not issubclass(type(name), str):
            raise TypeError('__import__() argument 1 must be str')
        name = str.__str__(name)
        if level:
            deny('relative import')
        if not name_allowed(name, allowed):
            raise PermissionError("pyshim policy: 'import' of %r denied" % name)
        fl = tuple(str.__str__(f) for f in (fromlist or ()) if issubclass(type(f), str))
        for f in fl:
            if f.startswith('_'):
                deny('name %r' % f)
        enter_import()
        try:
            m = real(name, None, None, fl, 0)
        finally:
            leave_import()
        return module_view(m, allowed, {})
    return policed_import


def make_builtins(names_, imports, enter_import, leave_import, tag):
    d = {}
    for n in (DEFAULT_BUILTINS if names_ is None else names_):
        if n in REFUSED_BUILTINS:
            raise ValueError('the builtin %r is not offered to policed runs' % n)
        if n == '__import__':
            continue
        if n in SAFE:
            d[n] = SAFE[n]
            continue
        if not hasattr(builtins, n):
            raise ValueError('there is no builtin named %r' % n)
        d[n] = getattr(builtins, n)
    d['__build_class__'] = builtins.__build_class__
    d['__import__'] = make_import(imports, enter_import, leave_import)
    d['__pyshim_policy__'] = tag
    return d


# ---- scripts ---------------------------------------------------------------
class Script:
    """A file compiled and run into a namespace; reload() swaps in a new
    namespace only when the new version ran without an exception."""

    def __init__(self, path, template):
        self.path = path
        self.template = template
        self.ns = None
        self.sig = None
        self.digest = None
        self.lock = _thread.allocate_lock()
        self.version = 0

    def build(self, data):
        ns = dict(self.template) if self.template is not None else {}
        ns['__name__'] = '__pyshim_script__'
        ns['__file__'] = self.path
        ns.setdefault('__builtins__', builtins)
        code = compile(data, self.path, 'exec', dont_inherit=True)
        exec(code, ns)
        return ns

    def update(self, sig, data, force, err):
        """Called by C with the file's (mtime_ns, size, ino, dev) and
        content (None and an errno if it could not be read). True if a new
        version was swapped in, False if the content is unchanged; raises
        (keeping the old version) when the new one fails."""
        with self.lock:
            if data is None:
                raise OSError(err, os.strerror(err), self.path)
            if not force and sig == self.sig:
                return False
            digest = hashlib.sha256(data).digest()
            if not force and digest == self.digest:
                self.sig = sig
                return False
            # Remember a failed content too, so that a broken file is not
            # recompiled on every check; the old namespace stays in service.
            self.sig = sig
            self.digest = digest
            ns = self.build(data)
            self.ns = ns
            self.version += 1
            return True

    def get(self, name):
        ns = self.ns
        if ns is None:
            raise RuntimeError('the script %r has no working version' % self.path)
        try:
            return ns[name]
        except KeyError:
            raise AttributeError('script %r has no attribute %r' % (self.path, name)) from None
