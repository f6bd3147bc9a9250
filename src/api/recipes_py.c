/* The Python half of the recipes (output routing, policed runs, scripts):
 * one helper namespace per open, made on first use. The source below is
 * kept readable as Python; it runs with the real builtins, in a dict that
 * is in no module table. */
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/error.h"
#include "core/call.h"
#include "api/recipes.h"

static const char helper_src[] =
    /* BEGIN helper */
    "# pyshim's recipes helper: output routing, policed-run support and script\n"
    "# reloading. Runs once per open in a private namespace (not in sys.modules).\n"
    "import ast, builtins, contextvars, hashlib, io, os, sys, types, _thread\n"
    "\n"
    "\n"
    "class OutputLimitExceeded(BaseException):\n"
    "    \"\"\"A policed run wrote more output than its policy allows.\"\"\"\n"
    "\n"
    "\n"
    "OutputLimitExceeded.__module__ = 'pyshim'\n"
    "\n"
    "# ---- output routing ------------------------------------------------------\n"
    "# route: this context's sinks (None, stdout sink, stderr sink) or None.\n"
    "# glob: the process-wide sinks of pys_redirect. cur: the Stream objects\n"
    "# installed in sys.stdout / sys.stderr (or None).\n"
    "route = contextvars.ContextVar('pyshim.output', default=None)\n"
    "glob = [None, None, None]\n"
    "cur = [None, None, None]\n"
    "names = (None, 'stdout', 'stderr')\n"
    "state_lock = _thread.allocate_lock()\n"
    "active = [0]\n"
    "\n"
    "\n"
    "class Sink:\n"
    "    \"\"\"Line-buffered UTF-8 bytes towards one C writer (emit).\"\"\"\n"
    "    __slots__ = ('emit', 'buf', 'lock', 'budget')\n"
    "\n"
    "    def __init__(self, emit, budget):\n"
    "        self.emit = emit\n"
    "        self.buf = []\n"
    "        self.lock = _thread.RLock()\n"
    "        self.budget = budget\n"
    "\n"
    "    def put(self, b, text):\n"
    "        with self.lock:\n"
    "            bud = self.budget\n"
    "            if bud is not None:\n"
    "                if bud[0] < len(b):\n"
    "                    head = b[:bud[0]]\n"
    "                    bud[0] = 0\n"
    "                    if text:\n"
    "                        head = head.decode('utf-8', 'ignore').encode('utf-8')\n"
    "                    if head:\n"
    "                        self.buf.append(head)\n"
    "                    self.drain()\n"
    "                    raise OutputLimitExceeded(\n"
    "                        'output limit of %d bytes reached' % bud[1])\n"
    "                bud[0] -= len(b)\n"
    "            if not text:\n"
    "                self.drain()\n"
    "                if b:\n"
    "                    self.emit(b)\n"
    "                return\n"
    "            i = b.rfind(b'\\n')\n"
    "            if i < 0:\n"
    "                if b:\n"
    "                    self.buf.append(b)\n"
    "                return\n"
    "            self.buf.append(b[:i + 1])\n"
    "            out = b''.join(self.buf)\n"
    "            self.buf = [b[i + 1:]] if i + 1 < len(b) else []\n"
    "            self.emit(out)\n"
    "\n"
    "    def drain(self):\n"
    "        if self.buf:\n"
    "            out = b''.join(self.buf)\n"
    "            self.buf = []\n"
    "            self.emit(out)\n"
    "\n"
    "    def flush(self):\n"
    "        with self.lock:\n"
    "            self.drain()\n"
    "\n"
    "\n"
    "class Raw:\n"
    "    \"\"\"sys.stdout.buffer of a routed stream.\"\"\"\n"
    "\n"
    "    def __init__(self, st):\n"
    "        self.st = st\n"
    "\n"
    "    def write(self, b):\n"
    "        b = bytes(b)\n"
    "        k = self.st.sink()\n"
    "        if k is None:\n"
    "            u = self.st.under\n"
    "            return u.buffer.write(b) if u is not None else len(b)\n"
    "        k.put(b, False)\n"
    "        return len(b)\n"
    "\n"
    "    def flush(self):\n"
    "        self.st.flush()\n"
    "\n"
    "    def writable(self):\n"
    "        return True\n"
    "\n"
    "\n"
    "class Stream(io.TextIOBase):\n"
    "    \"\"\"sys.stdout / sys.stderr: writes go where the current context's route\n"
    "    says, else to pys_redirect's writer, else to the stream it replaced.\"\"\"\n"
    "\n"
    "    def __init__(self, idx, under):\n"
    "        self.idx = idx\n"
    "        self.under = under\n"
    "\n"
    "    def sink(self):\n"
    "        r = route.get()\n"
    "        if r is not None and r[self.idx] is not None:\n"
    "            return r[self.idx]\n"
    "        return glob[self.idx]\n"
    "\n"
    "    def write(self, s):\n"
    "        if type(s) is not str:\n"
    "            if not issubclass(type(s), str):\n"
    "                raise TypeError('write() argument must be str, not %s'\n"
    "                                % type(s).__name__)\n"
    "            s = str.__str__(s)\n"
    "        k = self.sink()\n"
    "        if k is None:\n"
    "            u = self.under\n"
    "            return u.write(s) if u is not None else len(s)\n"
    "        k.put(str.encode(s, 'utf-8', 'backslashreplace'), True)\n"
    "        return len(s)\n"
    "\n"
    "    def flush(self):\n"
    "        k = self.sink()\n"
    "        if k is not None:\n"
    "            k.flush()\n"
    "        elif self.under is not None:\n"
    "            self.under.flush()\n"
    "\n"
    "    def isatty(self):\n"
    "        if self.sink() is not None or self.under is None:\n"
    "            return False\n"
    "        return self.under.isatty()\n"
    "\n"
    "    def fileno(self):\n"
    "        if self.sink() is not None or self.under is None:\n"
    "            raise io.UnsupportedOperation(\n"
    "                'sys.%s is routed to a host writer: it has no file descriptor'\n"
    "                % names[self.idx])\n"
    "        return self.under.fileno()\n"
    "\n"
    "    def writable(self):\n"
    "        return True\n"
    "\n"
    "    def readable(self):\n"
    "        return False\n"
    "\n"
    "    def seekable(self):\n"
    "        return False\n"
    "\n"
    "    def close(self):\n"
    "        pass\n"
    "\n"
    "    @property\n"
    "    def closed(self):\n"
    "        return False\n"
    "\n"
    "    @property\n"
    "    def encoding(self):\n"
    "        if self.sink() is None and self.under is not None:\n"
    "            return getattr(self.under, 'encoding', 'utf-8')\n"
    "        return 'utf-8'\n"
    "\n"
    "    @property\n"
    "    def errors(self):\n"
    "        if self.sink() is None and self.under is not None:\n"
    "            return getattr(self.under, 'errors', 'strict')\n"
    "        return 'backslashreplace'\n"
    "\n"
    "    @property\n"
    "    def line_buffering(self):\n"
    "        return True\n"
    "\n"
    "    @property\n"
    "    def name(self):\n"
    "        return '<%s>' % names[self.idx]\n"
    "\n"
    "    @property\n"
    "    def buffer(self):\n"
    "        if self.sink() is None and self.under is not None:\n"
    "            return self.under.buffer\n"
    "        return Raw(self)\n"
    "\n"
    "\n"
    "def install():\n"
    "    with state_lock:\n"
    "        for i in (1, 2):\n"
    "            s = getattr(sys, names[i], None)\n"
    "            if s is None or s is not cur[i]:\n"
    "                cur[i] = Stream(i, s)\n"
    "                setattr(sys, names[i], cur[i])\n"
    "\n"
    "\n"
    "def uninstall_if_idle():\n"
    "    with state_lock:\n"
    "        if active[0] or glob[1] is not None or glob[2] is not None:\n"
    "            return\n"
    "        for i in (1, 2):\n"
    "            st = cur[i]\n"
    "            if st is not None and getattr(sys, names[i], None) is st:\n"
    "                setattr(sys, names[i], st.under)\n"
    "            cur[i] = None\n"
    "\n"
    "\n"
    "def redirect(streams, emit):\n"
    "    for i in (1, 2):\n"
    "        if streams & i:\n"
    "            old = glob[i]\n"
    "            glob[i] = Sink(emit, None) if emit is not None else None\n"
    "            if old is not None:\n"
    "                old.flush()\n"
    "    if emit is not None:\n"
    "        install()\n"
    "    else:\n"
    "        uninstall_if_idle()\n"
    "\n"
    "\n"
    "def enter(streams, emit, limit):\n"
    "    install()\n"
    "    budget = [limit, limit] if limit else None\n"
    "    r0 = route.get() or (None, None, None)\n"
    "    k1 = Sink(emit, budget) if streams & 1 else None\n"
    "    k2 = Sink(emit, budget) if streams & 2 else None\n"
    "    with state_lock:\n"
    "        active[0] += 1\n"
    "    tok = route.set((None, k1 or r0[1], k2 or r0[2]))\n"
    "    return (tok, k1, k2)\n"
    "\n"
    "\n"
    "def leave(t):\n"
    "    try:\n"
    "        for k in (t[1], t[2]):\n"
    "            if k is not None:\n"
    "                k.flush()\n"
    "    finally:\n"
    "        route.reset(t[0])\n"
    "        with state_lock:\n"
    "            active[0] -= 1\n"
    "\n"
    "\n"
    "# ---- policed runs --------------------------------------------------------\n"
    "# Attribute names policed source may not spell: anything with a leading\n"
    "# underscore except a few harmless dunders, and the attributes that lead\n"
    "# from generators, coroutines and tracebacks to frames (and from frames to\n"
    "# globals and builtins).\n"
    "SAFE_DUNDERS = frozenset((\n"
    "    '__init__', '__name__', '__qualname__', '__doc__', '__str__', '__repr__',\n"
    "    '__len__', '__iter__', '__next__', '__enter__', '__exit__'))\n"
    "FRAME_ATTRS = frozenset((\n"
    "    'gi_frame', 'gi_code', 'gi_yieldfrom', 'cr_frame', 'cr_code', 'cr_await',\n"
    "    'cr_origin', 'ag_frame', 'ag_code', 'ag_await', 'f_back', 'f_globals',\n"
    "    'f_locals', 'f_builtins', 'f_code', 'f_trace', 'tb_frame', 'tb_next',\n"
    "    'func_globals', 'mro'))\n"
    "REFUSED_BUILTINS = frozenset((\n"
    "    'vars', 'eval', 'exec', 'compile', 'globals', 'locals', 'breakpoint',\n"
    "    'help', '__loader__', '__spec__', '__build_class__', 'memoryview'))\n"
    "DEFAULT_BUILTINS = (\n"
    "    'abs', 'all', 'any', 'ascii', 'bin', 'bool', 'bytearray', 'bytes',\n"
    "    'callable', 'chr', 'complex', 'dict', 'divmod', 'enumerate', 'filter',\n"
    "    'float', 'format', 'frozenset', 'hash', 'hex', 'int', 'isinstance',\n"
    "    'issubclass', 'iter', 'len', 'list', 'map', 'max', 'min', 'next', 'object',\n"
    "    'oct', 'ord', 'pow', 'print', 'range', 'repr', 'reversed', 'round', 'set',\n"
    "    'slice', 'sorted', 'str', 'sum', 'tuple', 'zip', 'None', 'True', 'False',\n"
    "    'ArithmeticError', 'AssertionError', 'AttributeError', 'BaseException',\n"
    "    'Exception', 'IndexError', 'KeyError', 'LookupError', 'MemoryError',\n"
    "    'NameError', 'NotImplementedError', 'OverflowError', 'PermissionError',\n"
    "    'RuntimeError', 'StopIteration', 'TypeError', 'ValueError',\n"
    "    'ZeroDivisionError')\n"
    "\n"
    "\n"
    "def bad_attr(n):\n"
    "    return (n.startswith('_') and n not in SAFE_DUNDERS) or n in FRAME_ATTRS\n"
    "\n"
    "\n"
    "def deny(what, node=None):\n"
    "    where = ' (line %d)' % node.lineno if node is not None and hasattr(node, 'lineno') else ''\n"
    "    raise PermissionError('pyshim policy: %s is not allowed%s' % (what, where))\n"
    "\n"
    "\n"
    "class Checker(ast.NodeVisitor):\n"
    "    def visit_Attribute(self, n):\n"
    "        if bad_attr(n.attr):\n"
    "            deny('attribute %r' % n.attr, n)\n"
    "        self.generic_visit(n)\n"
    "\n"
    "    def visit_Name(self, n):\n"
    "        if n.id.startswith('__'):\n"
    "            deny('name %r' % n.id, n)\n"
    "\n"
    "    def visit_ImportFrom(self, n):\n"
    "        if n.level:\n"
    "            deny('relative import', n)\n"
    "        for a in n.names:\n"
    "            if a.name.startswith('_'):\n"
    "                deny('name %r' % a.name, n)\n"
    "        self.generic_visit(n)\n"
    "\n"
    "\n"
    "code_cache = {}\n"
    "\n"
    "\n"
    "def check_compile(src, filename):\n"
    "    key = (src, filename)\n"
    "    c = code_cache.get(key)\n"
    "    if c is not None:\n"
    "        return c\n"
    "    tree = ast.parse(src, filename, 'exec')\n"
    "    Checker().visit(tree)\n"
    "    c = compile(tree, filename, 'exec')\n"
    "    if len(code_cache) >= 256:\n"
    "        code_cache.clear()\n"
    "    code_cache[key] = c\n"
    "    return c\n"
    "\n"
    "\n"
    "def attr_name(n):\n"
    "    if not issubclass(type(n), str):\n"
    "        raise TypeError('attribute name must be a string')\n"
    "    n = str.__str__(n)\n"
    "    if bad_attr(n):\n"
    "        deny('attribute %r' % n)\n"
    "    return n\n"
    "\n"
    "\n"
    "def safe_getattr(o, n, *d):\n"
    "    return getattr(o, attr_name(n), *d)\n"
    "\n"
    "\n"
    "def safe_hasattr(o, n):\n"
    "    return hasattr(o, attr_name(n))\n"
    "\n"
    "\n"
    "def safe_setattr(o, n, v):\n"
    "    setattr(o, attr_name(n), v)\n"
    "\n"
    "\n"
    "def safe_delattr(o, n):\n"
    "    delattr(o, attr_name(n))\n"
    "\n"
    "\n"
    "SAFE = {'getattr': safe_getattr, 'hasattr': safe_hasattr,\n"
    "        'setattr': safe_setattr, 'delattr': safe_delattr}\n"
    "\n"
    "\n"
    "def name_allowed(name, allowed):\n"
    "    for a in allowed:\n"
    "        if name == a or name.startswith(a + '.'):\n"
    "            return True\n"
    "    return False\n"
    "\n"
    "\n"
    "def module_view(m, allowed, seen):\n"
    "    \"\"\"A copy of module m's public names; submodules only where allowed.\"\"\"\n"
    "    v = seen.get(id(m))\n"
    "    if v is not None:\n"
    "        return v\n"
    "    # A name in no module table: `from view import sub` falls back to\n"
    "    # sys.modules[view.__name__ + '.sub'], which must find nothing.\n"
    "    v = types.ModuleType('<policed view of %s>' % m.__name__)\n"
    "    seen[id(m)] = v\n"
    "    for k, x in list(vars(m).items()):\n"
    "        if k.startswith('_'):\n"
    "            continue\n"
    "        if isinstance(x, types.ModuleType):\n"
    "            if not name_allowed(x.__name__, allowed):\n"
    "                continue\n"
    "            x = module_view(x, allowed, seen)\n"
    "        setattr(v, k, x)\n"
    "    return v\n"
    "\n"
    "\n"
    "def make_import(allowed, enter_import, leave_import):\n"
    "    allowed = tuple(allowed)\n"
    "    real = builtins.__import__\n"
    "\n"
    "    def policed_import(name, globals=None, locals=None, fromlist=(), level=0):\n"
    "        if not issubclass(type(name), str):\n"
    "            raise TypeError('__import__() argument 1 must be str')\n"
    "        name = str.__str__(name)\n"
    "        if level:\n"
    "            deny('relative import')\n"
    "        if not name_allowed(name, allowed):\n"
    "            raise PermissionError(\"pyshim policy: 'import' of %r denied\" % name)\n"
    "        fl = tuple(str.__str__(f) for f in (fromlist or ()) if issubclass(type(f), str))\n"
    "        for f in fl:\n"
    "            if f.startswith('_'):\n"
    "                deny('name %r' % f)\n"
    "        enter_import()\n"
    "        try:\n"
    "            m = real(name, None, None, fl, 0)\n"
    "        finally:\n"
    "            leave_import()\n"
    "        return module_view(m, allowed, {})\n"
    "    return policed_import\n"
    "\n"
    "\n"
    "def make_builtins(names_, imports, enter_import, leave_import, tag):\n"
    "    d = {}\n"
    "    for n in (DEFAULT_BUILTINS if names_ is None else names_):\n"
    "        if n in REFUSED_BUILTINS:\n"
    "            raise ValueError('the builtin %r is not offered to policed runs' % n)\n"
    "        if n == '__import__':\n"
    "            continue\n"
    "        if n in SAFE:\n"
    "            d[n] = SAFE[n]\n"
    "            continue\n"
    "        if not hasattr(builtins, n):\n"
    "            raise ValueError('there is no builtin named %r' % n)\n"
    "        d[n] = getattr(builtins, n)\n"
    "    d['__build_class__'] = builtins.__build_class__\n"
    "    d['__import__'] = make_import(imports, enter_import, leave_import)\n"
    "    d['__pyshim_policy__'] = tag\n"
    "    return d\n"
    "\n"
    "\n"
    "# ---- scripts ---------------------------------------------------------------\n"
    "class Script:\n"
    "    \"\"\"A file compiled and run into a namespace; reload() swaps in a new\n"
    "    namespace only when the new version ran without an exception.\"\"\"\n"
    "\n"
    "    def __init__(self, path, template):\n"
    "        self.path = path\n"
    "        self.template = template\n"
    "        self.ns = None\n"
    "        self.sig = None\n"
    "        self.digest = None\n"
    "        self.lock = _thread.allocate_lock()\n"
    "        self.version = 0\n"
    "\n"
    "    def build(self, data):\n"
    "        ns = dict(self.template) if self.template is not None else {}\n"
    "        ns['__name__'] = '__pyshim_script__'\n"
    "        ns['__file__'] = self.path\n"
    "        ns.setdefault('__builtins__', builtins)\n"
    "        code = compile(data, self.path, 'exec', dont_inherit=True)\n"
    "        exec(code, ns)\n"
    "        return ns\n"
    "\n"
    "    def update(self, sig, data, force, err):\n"
    "        \"\"\"Called by C with the file's (mtime_ns, size, ino, dev) and\n"
    "        content (None and an errno if it could not be read). True if a new\n"
    "        version was swapped in, False if the content is unchanged; raises\n"
    "        (keeping the old version) when the new one fails.\"\"\"\n"
    "        with self.lock:\n"
    "            if data is None:\n"
    "                raise OSError(err, os.strerror(err), self.path)\n"
    "            if not force and sig == self.sig:\n"
    "                return False\n"
    "            digest = hashlib.sha256(data).digest()\n"
    "            if not force and digest == self.digest:\n"
    "                self.sig = sig\n"
    "                return False\n"
    "            # Remember a failed content too, so that a broken file is not\n"
    "            # recompiled on every check; the old namespace stays in service.\n"
    "            self.sig = sig\n"
    "            self.digest = digest\n"
    "            ns = self.build(data)\n"
    "            self.ns = ns\n"
    "            self.version += 1\n"
    "            return True\n"
    "\n"
    "    def get(self, name):\n"
    "        ns = self.ns\n"
    "        if ns is None:\n"
    "            raise RuntimeError('the script %r has no working version' % self.path)\n"
    "        try:\n"
    "            return ns[name]\n"
    "        except KeyError:\n"
    "            raise AttributeError('script %r has no attribute %r' % (self.path, name)) from None\n"
    /* END helper */;

/* The helper of the current open. rcp is written once per open, under
 * rt->lock, before rcp_opens is stored (release); a reader that loads
 * rcp_opens == rt->opens (acquire) sees it whole, also on free-threaded
 * builds where two threads may make it at once. */
static pys__rcp rcp;
static _Atomic uint64_t rcp_opens; /* rt->opens the helper was made for; 0 = none */

static void rcp_close(pys_runtime *rt)
{
    (void)rt;
    atomic_store_explicit(&rcp_opens, 0, memory_order_relaxed);
    if (rcp.ns)
        pys__api.Py_DecRef(rcp.ns);
    rcp = (pys__rcp){0};
}

static PyObject *ns_get(PyObject *ns, const char *name)
{
    PyObject *k = pys__api.PyUnicode_FromString(name);
    PyObject *v = k ? pys__api.PyDict_GetItemWithError(ns, k) : NULL;
    if (k)
        pys__api.Py_DecRef(k);
    if (!v && !pys__api.PyErr_Occurred())
        pys__api.PyErr_SetString(PYS__EXC(RuntimeError), name);
    return v;
}

pys__rcp *pys__rcp_get(pys_runtime *rt, const char *fn)
{
    if (atomic_load_explicit(&rcp_opens, memory_order_acquire) == rt->opens)
        return &rcp;
    /* Running the source may let another thread in (or, free-threaded, run
     * beside it), which then makes its own: the first to finish wins. */
    PyObject *ns = pys__api.PyDict_New();
    PyObject *r = NULL;
    if (ns && pys__api.PyDict_SetItemString(ns, "__builtins__", rt->builtins) == 0) {
        PyObject *nm = pys__api.PyUnicode_FromString("pyshim._recipes");
        if (nm && pys__api.PyDict_SetItemString(ns, "__name__", nm) == 0)
            r = pys__api.PyRun_StringFlags(helper_src, PYS__Py_file_input, ns, ns, NULL);
        if (nm)
            pys__api.Py_DecRef(nm);
    }
    pys__rcp h = {0};
    if (r) {
        pys__api.Py_DecRef(r);
        h.ns = ns;
        if (!(h.enter = ns_get(ns, "enter")) || !(h.leave = ns_get(ns, "leave")) ||
            !(h.redirect = ns_get(ns, "redirect")) ||
            !(h.check_compile = ns_get(ns, "check_compile")) ||
            !(h.make_builtins = ns_get(ns, "make_builtins")) ||
            !(h.script_class = ns_get(ns, "Script")) ||
            !(h.exc_output = ns_get(ns, "OutputLimitExceeded")))
            h.ns = NULL;
    }
    if (!h.ns) {
        if (ns)
            pys__api.Py_DecRef(ns);
        if (pys__api.PyErr_Occurred())
            pys__fail_py(rt, fn);
        else
            pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    PYS__LOCK(rt);
    bool won = atomic_load_explicit(&rcp_opens, memory_order_relaxed) != rt->opens;
    if (won) {
        rcp = h;
        pys__close_at(rt, PYS__CLOSE_RECIPES, rcp_close);
        atomic_store_explicit(&rcp_opens, rt->opens, memory_order_release);
    }
    PYS__UNLOCK(rt);
    if (!won) /* another thread's helper is in service; the callables are ns's */
        pys__api.Py_DecRef(ns);
    return &rcp;
}

PyObject *pys__rcp_call(PyObject *f, PyObject *const *args, size_t n)
{
    return pys__call_raw(f, args, n, NULL);
}

/* ---- the C writer as a Python callable ------------------------------------ */

typedef struct emitter {
    pys_write_fn fn;
    void *ud;
} emitter;

static void emitter_free(PyObject *cap)
{
    free(pys__api.PyCapsule_GetPointer(cap, "pyshim.writer"));
}

static PyObject *emit(PyObject *self, PyObject *arg)
{
    emitter *e = pys__api.PyCapsule_GetPointer(self, "pyshim.writer");
    char *p;
    Py_ssize_t n;
    if (!e || pys__api.PyBytes_AsStringAndSize(arg, &p, &n) < 0)
        return NULL;
    if (n > 0)
        e->fn(e->ud, p, (size_t)n);
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

static PyMethodDef emit_def = {"pyshim_writer", (PyCFunction)(void (*)(void))emit, PYS__METH_O,
                               "Passes bytes to the host's writer."};

PyObject *pys__rcp_emitter(pys_write_fn fn, void *ud)
{
    emitter *e = malloc(sizeof *e);
    if (!e) {
        pys__api.PyErr_SetNone(PYS__EXC(MemoryError));
        return NULL;
    }
    *e = (emitter){fn, ud};
    PyObject *cap = pys__api.PyCapsule_New(e, "pyshim.writer", emitter_free);
    if (!cap) {
        free(e);
        return NULL;
    }
    PyObject *f = pys__api.PyCFunction_NewEx(&emit_def, cap, NULL);
    pys__api.Py_DecRef(cap);
    return f;
}

/* ---- namespaces and routes -------------------------------------------------- */

PyObject *pys__rcp_route(pys_runtime *rt, pys__rcp *h, int streams, pys_write_fn fn, void *ud,
                         size_t limit, const char *fn_name)
{
    PyObject *args[3] = {pys__api.PyLong_FromLongLong(streams), pys__rcp_emitter(fn, ud),
                         pys__api.PyLong_FromUnsignedLongLong(limit)};
    PyObject *tok = NULL;
    if (args[0] && args[1] && args[2])
        tok = pys__rcp_call(h->enter, args, 3);
    for (int i = 0; i < 3; i++)
        if (args[i])
            pys__api.Py_DecRef(args[i]);
    if (!tok)
        pys__fail_py(rt, fn_name);
    return tok;
}

int pys__rcp_unroute(pys__rcp *h, PyObject *tok)
{
    PyObject *t, *v, *tb;
    pys__api.PyErr_Fetch(&t, &v, &tb);
    PyObject *r = pys__rcp_call(h->leave, &tok, 1);
    pys__api.Py_DecRef(tok);
    if (r) {
        pys__api.Py_DecRef(r);
    } else if (t) {
        pys__api.PyErr_Clear(); /* the run's own exception wins */
    } else {
        return -1;
    }
    if (t)
        pys__api.PyErr_Restore(t, v, tb);
    return 0;
}
