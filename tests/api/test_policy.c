/* Policed runs: allow-lists with argument filters, curated builtins, the
 * memory, output and time caps, and the classic escapes, each run twice:
 * unpoliced first (the escape code really does escape there), then under a
 * policy, where the test fails if it escapes. Every PYS_TEST runs once per
 * Python found. Worker threads never cr_assert. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyshim_test.h"

static pys_policy *policy(const char *const *allow_pairs)
{
    pys_policy *p = pys_policy_new();
    cr_assert_not_null(p);
    for (size_t i = 0; allow_pairs && allow_pairs[i]; i += 2)
        pyt_assert_ok(pys_policy_allow(p, allow_pairs[i], allow_pairs[i + 1]));
    return p;
}

static pys_obj fresh_ns(pys_runtime *rt)
{
    pys_obj ns = pys_eval(rt, "{}");
    pyt_assert_h(ns);
    return ns;
}

/* src sets `escaped = True` when it gets out. Unpoliced it must (else the
 * test would prove nothing); under p it must fail with PermissionError (or
 * want_type) and never set escaped. */
static void escape_closed(pys_runtime *rt, pys_policy *p, const char *src, const char *want_type)
{
    pys_obj ns = fresh_ns(rt);
    int rc = pys_exec_in(rt, src, ns);
    cr_assert_eq(rc, PYS_OK, "the escape does not even work unpoliced: %s\n%s",
                 pys_last_error()->message, src);
    pys_obj e = pys_getitem_str(ns, "escaped");
    cr_assert(pys_ok(e) && pys_truthy(e) == 1, "unpoliced run did not set escaped:\n%s", src);
    pys_release(e);
    pys_release(ns);

    ns = fresh_ns(rt);
    rc = pys_exec_policed(rt, src, ns, p);
    cr_assert_neq(rc, PYS_OK, "ESCAPED under the policy:\n%s", src);
    cr_assert_eq(rc, PYS_E_PYTHON, "%s: %s", pys_err_name(rc), pys_last_error()->message);
    cr_assert_str_eq(pys_last_error()->type, want_type ? want_type : "PermissionError",
                     "%s\n%s", pys_last_error()->message, src);
    if (!want_type)
        cr_assert(strstr(pys_last_error()->message, "pyshim policy"), "%s",
                  pys_last_error()->message);
    pys_clear_error();
    e = pys_getitem_str(ns, "escaped");
    cr_assert(!pys_ok(e), "escaped was set under the policy:\n%s", src);
    pys_release(ns);
    /* The runtime is fine afterwards. */
    cr_assert_eq(pyt_eval_i64(rt, "6 * 7"), 42);
}

/* ---- the escapes the docs list ------------------------------------------- */

PYS_TEST(policy_escape, subclass_walk_to_os)
{
    (void)py;
    pys_policy *p = policy(NULL);
    escape_closed(rt, p,
                  "w = [c for c in ().__class__.__base__.__subclasses__() "
                  "if c.__name__ == '_wrap_close'][0]\n"
                  "escaped = 'PATH' in w.__init__.__globals__['environ']\n",
                  NULL);
    /* The same through getattr with names as strings. */
    const char *names[] = {"getattr", "len", "str", "bool", NULL};
    pyt_assert_ok(pys_policy_builtins(p, names));
    escape_closed(rt, p,
                  "g = getattr\n"
                  "w = [c for c in g(g(g((), '__cla' + 'ss__'), '__base__'), '__subclasses__')() "
                  "if c.__name__ == '_wrap_close'][0]\n"
                  "escaped = 'PATH' in g(g(w, '__init__'), '__globals__')['environ']\n",
                  NULL);
    /* And through type(...).mro(), with type offered. */
    const char *names2[] = {"type", "len", NULL};
    pyt_assert_ok(pys_policy_builtins(p, names2));
    escape_closed(rt, p,
                  "base = type(()).mro()[-1]\n"
                  "escaped = len(type.__subclasses__(base)) > 0\n",
                  NULL);
    pys_policy_free(p);
}

PYS_TEST(policy_escape, import_through_a_functions_globals)
{
    (void)py;
    pys_policy *p = policy((const char *const[]){"import", "json", NULL});
    escape_closed(rt, p,
                  "f = lambda: 0\n"
                  "b = f.__globals__['__builtins__']\n"
                  "imp = b['__import__'] if isinstance(b, dict) else b.__import__\n"
                  "escaped = imp('os').getcwd() is not None\n",
                  NULL);
    /* A function of an allowed module leads to its module's globals. */
    escape_closed(rt, p,
                  "import json\n"
                  "escaped = json.loads.__globals__['codecs'] is not None\n", NULL);
    /* A module an allowed module imported is not handed out. */
    escape_closed(rt, p,
                  "import json\n"
                  "escaped = json.decoder.re.enum.sys.modules['os'] is not None\n",
                  "AttributeError");
    /* __import__ spelled out. */
    escape_closed(rt, p, "escaped = __import__('os') is not None\n", NULL);
    pys_policy_free(p);
}

PYS_TEST(policy_escape, gc_get_objects)
{
    (void)py;
    const char *src = "import gc\n"
                      "escaped = any(isinstance(o, dict) and 'system' in o "
                      "for o in gc.get_objects())\n";
    pys_policy *p = policy(NULL);
    escape_closed(rt, p, src, NULL); /* import gc denied */
    pyt_assert_ok(pys_policy_allow(p, "import", "gc"));
    escape_closed(rt, p, src, NULL); /* gc.get_objects denied */
    pys_policy_free(p);
}

PYS_TEST(policy_escape, frame_walking)
{
    (void)py;
    pys_policy *p = policy((const char *const[]){"import", "traceback", NULL});
    cr_assert_eq(pys_policy_allow(p, "import", "sys"), PYS_E_ARG);
    escape_closed(rt, p,
                  "import sys\n"
                  "escaped = sys._getframe(0).f_back is None or True\n",
                  NULL);
    /* traceback walks the stack with sys._getframe: the event is denied. */
    escape_closed(rt, p,
                  "import traceback\n"
                  "escaped = len(traceback.extract_stack()) > 0\n",
                  NULL);
    escape_closed(rt, p,
                  "try:\n"
                  "    1 / 0\n"
                  "except ZeroDivisionError as e:\n"
                  "    escaped = e.__traceback__.tb_frame.f_globals is not None\n",
                  NULL);
    escape_closed(rt, p,
                  "def gen():\n"
                  "    yield it.gi_frame.f_back\n"
                  "it = gen()\n"
                  "escaped = next(it) is not None\n",
                  NULL);
    escape_closed(rt, p,
                  "async def co():\n"
                  "    pass\n"
                  "c = co()\n"
                  "escaped = c.cr_frame is not None\n"
                  "c.close()\n",
                  NULL);
    pys_policy_free(p);
}

PYS_TEST(policy_escape, ctypes)
{
    (void)py;
    pys_policy *p = policy(NULL);
    escape_closed(rt, p,
                  "import ctypes\n"
                  "escaped = ctypes.CDLL(None).getpid() > 0\n",
                  NULL); /* import ctypes denied */
    escape_closed(rt, p,
                  "import ctypes\n"
                  "escaped = ctypes.pythonapi.Py_IsInitialized() == 1\n",
                  NULL);
    /* ctypes cannot be allowed: its foreign calls raise no event. */
    cr_assert_eq(pys_policy_allow(p, "import", "ctypes"), PYS_E_ARG);
    cr_assert(strstr(pys_last_error()->message, "'ctypes' cannot be allowed"), "%s",
              pys_last_error()->message);
    cr_assert_eq(pys_policy_allow(p, "import", "ctypes.util"), PYS_E_ARG);
    pys_policy_free(p);
}

PYS_TEST(policy_escape, open_through_io_and_pathlib)
{
    (void)py;
    pys_policy *p = policy((const char *const[]){"import", "io", "import", "pathlib", NULL});
    cr_assert_eq(pys_policy_allow(p, "import", "os"), PYS_E_ARG);
    escape_closed(rt, p,
                  "import io\n"
                  "escaped = len(io.open('/etc/passwd').read()) > 0\n",
                  NULL);
    escape_closed(rt, p,
                  "import pathlib\n"
                  "escaped = len(pathlib.Path('/etc/passwd').read_text()) > 0\n",
                  NULL);
    escape_closed(rt, p,
                  "import os\n"
                  "fd = os.open('/etc/passwd', os.O_RDONLY)\n"
                  "escaped = len(os.read(fd, 10)) > 0\n",
                  NULL);
    escape_closed(rt, p,
                  "import os\n"
                  "escaped = len(os.environ) > 0\n",
                  NULL);

    pys_policy_free(p);
}

PYS_TEST(policy_escape, compile_and_exec)
{
    (void)py;
    pys_policy *p = policy((const char *const[]){"import", "code", "import", "codeop", NULL});
    /* Source compiled at run time: the "compile" event is denied. (Not
     * through InteractiveInterpreter.runsource: Debian's 3.13.18 and 3.14
     * print the PermissionError there and go on.) */
    escape_closed(rt, p,
                  "import code, codeop\n"
                  "c = codeop.compile_command('x = ().__class__.__base__')\n"
                  "d = {}\n"
                  "code.InteractiveInterpreter(d).runcode(c)\n"
                  "escaped = d['x'] is not None\n",
                  NULL);
    escape_closed(rt, p, "escaped = compile('1', 'x', 'eval') is not None\n", "NameError");
    escape_closed(rt, p, "d = {}\nexec('x = 1', d)\nescaped = d['x'] == 1\n", "NameError");
    cr_assert_eq(pys_policy_allow(p, "import", "builtins"), PYS_E_ARG);
    /* Not offered as builtins at all. */
    const char *names[] = {"exec", NULL};
    pyt_assert_ok(pys_policy_builtins(p, names));
    cr_assert_eq(pys_exec_policed(rt, "pass", PYS_NULL, p), PYS_E_ARG);
    cr_assert(strstr(pys_last_error()->message, "'exec'"), "%s", pys_last_error()->message);
    pys_policy_free(p);
}

/* Code a policed run defined, called later from unpoliced C, is still
 * policed by its own builtins. */
PYS_TEST(policy_escape, code_left_behind_stays_policed)
{
    (void)py;
    pys_policy *p = policy(NULL);
    const char *names[] = {"open", "len", NULL};
    pyt_assert_ok(pys_policy_builtins(p, names));
    pys_obj ns = fresh_ns(rt);
    pyt_assert_ok(pys_exec_policed(rt,
                                   "def leak():\n"
                                   "    return len(open('/etc/passwd').read())\n",
                                   ns, p));
    pys_obj f = pys_getitem_str(ns, "leak");
    pyt_assert_h(f);
    pys_obj r = pys_call(f, NULL, 0);
    cr_assert(!pys_ok(r), "code left behind by a policed run opened /etc/passwd");
    cr_assert_str_eq(pys_last_error()->type, "PermissionError");
    pys_release(f);
    pys_release(ns);
    pys_policy_free(p);
}

/* ---- allow-lists ----------------------------------------------------------- */

static void expect(pys_runtime *rt, pys_policy *p, pys_obj ns, const char *src, int want,
                   const char *type)
{
    int rc = pys_exec_policed(rt, src, ns, p);
    cr_assert_eq(rc, want, "%s -> %s (%s: %s)", src, pys_err_name(rc), pys_last_error()->type,
                 pys_last_error()->message);
    if (type)
        cr_assert_str_eq(pys_last_error()->type, type, "%s: %s", src, pys_last_error()->message);
}

PYS_TEST(policy, open_allowed_under_a_prefix_only)
{
    (void)py;
    char dir[] = "/tmp/pyshim-policy-XXXXXX", path[256], sib[300], src[1024], filt[300];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/data.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("hello", f);
    fclose(f);
    snprintf(sib, sizeof sib, "%sx", dir);
    mkdir(sib, 0700);
    char link[300];
    snprintf(link, sizeof link, "%s/link", dir);
    cr_assert_eq(symlink("/etc/passwd", link), 0);

    pys_policy *p = pys_policy_new();
    snprintf(filt, sizeof filt, "ro:%s", dir);
    pyt_assert_ok(pys_policy_allow(p, "open", filt));
    const char *names[] = {"open", "len", "print", NULL};
    pyt_assert_ok(pys_policy_builtins(p, names));
    pys_obj ns = fresh_ns(rt);
    snprintf(src, sizeof src, "n = len(open('%s').read())", path);
    expect(rt, p, ns, src, PYS_OK, NULL);
    cr_assert_eq(pyt_eval_i64(rt, "5"), 5);
    snprintf(src, sizeof src, "open('%s', 'w')", path);
    expect(rt, p, ns, src, PYS_E_PYTHON, "PermissionError"); /* ro: */
    expect(rt, p, ns, "open('/etc/passwd')", PYS_E_PYTHON, "PermissionError");
    snprintf(src, sizeof src, "open('%s/../../etc/passwd')", dir);
    expect(rt, p, ns, src, PYS_E_PYTHON, "PermissionError");
    snprintf(src, sizeof src, "open('%s')", link);
    expect(rt, p, ns, src, PYS_E_PYTHON, "PermissionError");
    snprintf(src, sizeof src, "open('%s/new.txt', 'w')", sib);
    expect(rt, p, ns, src, PYS_E_PYTHON, "PermissionError");
    cr_assert(strstr(pys_last_error()->message, "'open' denied"), "%s", pys_last_error()->message);
    /* Without ro:, writing inside is allowed. */
    pys_policy *w = pys_policy_new();
    pyt_assert_ok(pys_policy_allow(w, "open", dir));
    pyt_assert_ok(pys_policy_builtins(w, names));
    snprintf(src, sizeof src, "f = open('%s/new.txt', 'w')\nf.write('x')\nf.close()", dir);
    expect(rt, w, ns, src, PYS_OK, NULL);
    snprintf(src, sizeof src, "open('%s/new.txt', 'w')", sib);
    expect(rt, w, ns, src, PYS_E_PYTHON, "PermissionError");
    /* Unpoliced code is not affected. */
    pyt_assert_ok(pys_exec(rt, "open('/etc/passwd').close()"));
    pys_release(ns);
    pys_policy_free(p);
    pys_policy_free(w);
    snprintf(src, sizeof src, "rm -rf '%s' '%s'", dir, sib);
    cr_assert_eq(system(src), 0);
}

PYS_TEST(policy, import_allowed_by_module_name)
{
    (void)py;
    pys_policy *p = policy((const char *const[]){"import", "json", NULL});
    pys_obj ns = fresh_ns(rt);
    expect(rt, p, ns, "import json\nassert json.loads(json.dumps([1, 2])) == [1, 2]", PYS_OK,
           NULL);
    expect(rt, p, ns, "from json import dumps\nassert dumps(3) == '3'", PYS_OK, NULL);
    expect(rt, p, ns, "import os", PYS_E_PYTHON, "PermissionError");
    cr_assert(strstr(pys_last_error()->message, "'import' of 'os' denied"), "%s",
              pys_last_error()->message);
    expect(rt, p, ns, "import jsonx", PYS_E_PYTHON, "PermissionError");
    /* Submodules of an allowed package are allowed; what it imported from
     * elsewhere is not handed out, neither as an attribute nor through the
     * sys.modules fallback of `from ... import`. */
    expect(rt, p, ns, "from json import decoder\nassert decoder.JSONDecodeError", PYS_OK, NULL);
    expect(rt, p, ns, "import json\njson.codecs", PYS_E_PYTHON, "AttributeError");
    expect(rt, p, ns, "from json import codecs", PYS_E_PYTHON, "ImportError");
    expect(rt, p, ns, "from . import x", PYS_E_PYTHON, "PermissionError");
    cr_assert_eq(pys_policy_allow(p, "import", NULL), PYS_E_ARG);
    pys_release(ns);
    pys_policy_free(p);
}

PYS_TEST(policy, subprocess_allowed_by_program)
{
    (void)py;
    pys_policy *p =
        policy((const char *const[]){"import", "subprocess", "subprocess.Popen", "true", NULL});
    pys_obj ns = fresh_ns(rt);
    expect(rt, p, ns, "import subprocess\nassert subprocess.run(['true']).returncode == 0",
           PYS_OK, NULL);
    expect(rt, p, ns, "import subprocess\nsubprocess.run(['echo', 'no'])", PYS_E_PYTHON,
           "PermissionError");
    cr_assert(strstr(pys_last_error()->message, "'subprocess.Popen' denied"), "%s",
              pys_last_error()->message);
    expect(rt, p, ns, "import subprocess\nsubprocess.run('true', shell=True)", PYS_E_PYTHON,
           "PermissionError");
    pys_release(ns);
    pys_policy_free(p);
}

PYS_TEST(policy, socket_loopback_only)
{
    (void)py;
    pyt_assert_ok(pys_exec(rt, "import socket\n"
                               "srv = socket.socket()\n"
                               "srv.bind(('127.0.0.1', 0))\n"
                               "srv.listen(4)\n"
                               "port = srv.getsockname()[1]\n"));
    pys_policy *p = policy((const char *const[]){"import", "socket", "socket.__new__", NULL,
                                                 "socket.connect", "127.0.0.1", NULL});
    pys_obj ns = fresh_ns(rt);
    pys_obj port = pys_eval(rt, "port");
    pyt_assert_ok(pys_setitem_str(ns, "port", port));
    pys_release(port);
    expect(rt, p, ns,
           "import socket\n"
           "s = socket.socket()\n"
           "s.connect(('127.0.0.1', port))\n"
           "s.close()\n",
           PYS_OK, NULL);
    expect(rt, p, ns,
           "import socket\n"
           "s = socket.socket()\n"
           "try:\n"
           "    s.connect(('127.0.0.2', port))\n"
           "finally:\n"
           "    s.close()\n",
           PYS_E_PYTHON, "PermissionError");
    cr_assert(strstr(pys_last_error()->message, "'socket.connect' denied"), "%s",
              pys_last_error()->message);
    pyt_assert_ok(pys_exec(rt, "srv.close()"));
    pys_release(ns);
    pys_policy_free(p);
}

PYS_TEST(policy, curated_builtins_only)
{
    (void)py;
    pys_policy *p = pys_policy_new();
    const char *names[] = {"len", "print", NULL};
    pyt_assert_ok(pys_policy_builtins(p, names));
    pys_obj ns = fresh_ns(rt);
    expect(rt, p, ns, "n = len([1, 2])\nclass A:\n    def __init__(self):\n        self.x = n\n"
                      "a = A()",
           PYS_OK, NULL);
    expect(rt, p, ns, "abs(-1)", PYS_E_PYTHON, "NameError");
    expect(rt, p, ns, "open('/etc/passwd')", PYS_E_PYTHON, "NameError");
    expect(rt, p, ns, "import json", PYS_E_PYTHON, "PermissionError");
    const char *bad[] = {"nosuchbuiltin", NULL};
    pyt_assert_ok(pys_policy_builtins(p, bad));
    cr_assert_eq(pys_exec_policed(rt, "pass", ns, p), PYS_E_ARG);
    /* The default set has no open. */
    pys_policy *d = pys_policy_new();
    expect(rt, d, PYS_NULL, "assert sorted([2, 1]) == [1, 2]\nprint", PYS_OK, NULL);
    expect(rt, d, PYS_NULL, "open", PYS_E_PYTHON, "NameError");
    pys_release(ns);
    pys_policy_free(p);
    pys_policy_free(d);
}

/* ---- caps ------------------------------------------------------------------- */

/* A runtime with the counting allocator (pys_options.memory_caps). */
static pys_runtime *open_capped(const pyt_python *py)
{
    pys_options o = {.memory_caps = true};
    return pyt_open_opts(py, &o);
}

PYS_TEST(policy, memory_cap_needs_the_option)
{
    (void)py;
    pys_policy *p = pys_policy_new();
    pyt_assert_ok(pys_policy_memory_limit(p, 1u << 20));
    cr_assert_eq(pys_exec_policed(rt, "pass", PYS_NULL, p), PYS_E_STATE);
    cr_assert(strstr(pys_last_error()->message, "memory_caps"), "%s", pys_last_error()->message);
    pys_policy_free(p);
}

PYS_TEST_NOOPEN(policy, memory_cap_stops_big_allocations_and_the_runtime_goes_on)
{
    pys_runtime *rt = open_capped(py);
    pys_policy *p = pys_policy_new();
    pyt_assert_ok(pys_policy_memory_limit(p, 64u << 20));
    const char *srcs[] = {"x = bytearray(10**9)", "x = [0] * 10**9",
                          "l = []\nwhile True:\n    l.append('x' * 1000)\n",
                          "s = 'a' * (10**9)", NULL};
    for (int i = 0; srcs[i]; i++) {
        expect(rt, p, PYS_NULL, srcs[i], PYS_E_PYTHON, "MemoryError");
        cr_assert(strstr(pys_last_error()->message, "memory limit of 67108864 bytes"), "%s",
                  pys_last_error()->message);
        /* Usable: the same policy runs small code, unpoliced code big. */
        expect(rt, p, PYS_NULL, "y = list(range(10000))\nz = bytearray(10**6)", PYS_OK, NULL);
        pyt_assert_ok(pys_exec(rt, "big = bytearray(100 * 2**20); del big"));
    }
    /* Freed memory does not count: a loop allocating 10x the cap in total. */
    expect(rt, p, PYS_NULL, "for i in range(40):\n    b = bytearray(16 * 2**20)\n    del b\n",
           PYS_OK, NULL);
    pys_policy_free(p);
    pyt_close(rt);
}

typedef struct text {
    char buf[4096];
    size_t n;
} text;

static void text_write(void *ud, const char *data, size_t len)
{
    text *t = ud;
    size_t k = len < sizeof t->buf - 1 - t->n ? len : sizeof t->buf - 1 - t->n;
    memcpy(t->buf + t->n, data, k);
    t->n += k;
    t->buf[t->n] = 0;
}

PYS_TEST(policy, output_cap_stops_the_run)
{
    (void)py;
    text t = {0};
    pys_policy *p = pys_policy_new();
    pyt_assert_ok(pys_policy_output(p, PYS_STDOUT | PYS_STDERR, text_write, &t, 100));
    int rc = pys_exec_policed(rt,
                              "i = 0\n"
                              "while True:\n"
                              "    try:\n"
                              "        print('line', i)\n"
                              "    except Exception:\n"
                              "        pass\n"
                              "    i += 1\n",
                              PYS_NULL, p);
    cr_assert_eq(rc, PYS_E_PYTHON);
    cr_assert(strstr(pys_last_error()->type, "OutputLimitExceeded"), "%s",
              pys_last_error()->type);
    cr_assert_eq(t.n, 100, "%zu bytes: %s", t.n, t.buf);
    cr_assert(strncmp(t.buf, "line 0\nline 1\n", 14) == 0, "%s", t.buf);
    /* Under the cap: fine, each run has its own budget. */
    t.n = 0;
    expect(rt, p, PYS_NULL, "print('short')", PYS_OK, NULL);
    cr_assert_str_eq(t.buf, "short\n");
    pys_policy_free(p);
}

PYS_TEST(policy, time_cap)
{
    (void)py;
    pys_policy *p = pys_policy_new();
    pyt_assert_ok(pys_policy_timeout(p, 300));
    cr_assert_eq(pys_exec_policed(rt, "while True:\n    pass\n", PYS_NULL, p), PYS_E_TIMEOUT);
    cr_assert_eq(pys_get_deadline(rt), 0);
    cr_assert_eq(pyt_eval_i64(rt, "1 + 2"), 3);
    pys_policy_free(p);
}

typedef struct pair {
    pys_runtime *rt;
    pys_policy *p;
    int rc;
    int64_t mem, opened;
    char err[256];
} pair;

/* Each side allocates 48 MiB and opens /etc/passwd 30 times, and counts
 * what succeeded. */
static const char *pair_src = "mem = opened = 0\n"
                              "for i in range(30):\n"
                              "    try:\n"
                              "        b = bytearray(48 * 2**20)\n"
                              "        del b\n"
                              "        mem += 1\n"
                              "    except MemoryError:\n"
                              "        pass\n"
                              "    try:\n"
                              "        open('/etc/passwd').close()\n"
                              "        opened += 1\n"
                              "    except PermissionError:\n"
                              "        pass\n";

static void *pair_main(void *arg)
{
    pair *w = arg;
    pys_obj ns = pys_eval(w->rt, "{}");
    w->rc = w->p ? pys_exec_policed(w->rt, pair_src, ns, w->p) : pys_exec_in(w->rt, pair_src, ns);
    if (w->rc != PYS_OK)
        snprintf(w->err, sizeof w->err, "%s", pys_last_error()->message);
    pys_obj m = pys_getitem_str(ns, "mem"), o = pys_getitem_str(ns, "opened");
    w->mem = w->opened = -1;
    if (pys_ok(m))
        pys_to_int64(m, &w->mem);
    if (pys_ok(o))
        pys_to_int64(o, &w->opened);
    pys_release(m);
    pys_release(o);
    pys_release(ns);
    return NULL;
}

PYS_TEST_NOOPEN(policy, policed_and_unpoliced_runs_at_once)
{
    pys_runtime *rt = open_capped(py);
    pys_policy *p = pys_policy_new();
    pyt_assert_ok(pys_policy_memory_limit(p, 16u << 20));
    const char *names[] = {"open", "bytearray", "range", "MemoryError", "PermissionError", NULL};
    pyt_assert_ok(pys_policy_builtins(p, names));
    pair w[2] = {{.rt = rt, .p = p}, {.rt = rt, .p = NULL}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, pair_main, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(w[0].rc, PYS_OK, "%s", w[0].err);
    cr_assert_eq(w[1].rc, PYS_OK, "%s", w[1].err);
    cr_assert_eq(w[0].mem, 0, "the policed run allocated past its cap %ld times", (long)w[0].mem);
    cr_assert_eq(w[0].opened, 0, "the policed run opened a file %ld times", (long)w[0].opened);
    cr_assert_eq(w[1].mem, 30, "the unpoliced run was limited: %ld", (long)w[1].mem);
    cr_assert_eq(w[1].opened, 30, "the unpoliced run was denied: %ld", (long)w[1].opened);
    pys_policy_free(p);
    pyt_close(rt);
}

PYS_TEST(policy, bad_arguments)
{
    (void)py;
    pys_policy *p = pys_policy_new();
    cr_assert_eq(pys_policy_allow(NULL, "open", NULL), PYS_E_ARG);
    cr_assert_eq(pys_policy_allow(p, "", NULL), PYS_E_ARG);
    cr_assert_eq(pys_policy_allow(p, "open", ""), PYS_E_ARG);
    cr_assert_eq(pys_policy_builtins(p, NULL), PYS_E_ARG);
    cr_assert_eq(pys_policy_output(p, 9, NULL, NULL, 0), PYS_E_ARG);
    cr_assert_eq(pys_exec_policed(rt, NULL, PYS_NULL, p), PYS_E_ARG);
    cr_assert_eq(pys_exec_policed(rt, "pass", PYS_NULL, NULL), PYS_E_ARG);
    cr_assert_eq(pys_exec_policed(NULL, "pass", PYS_NULL, p), PYS_E_ARG);
    pys_obj l = pys_eval(rt, "[]");
    cr_assert_eq(pys_exec_policed(rt, "pass", l, p), PYS_E_TYPE);
    pys_release(l);
    cr_assert_eq(pys_exec_policed(rt, "x = (", PYS_NULL, p), PYS_E_PYTHON);
    cr_assert_str_eq(pys_last_error()->type, "SyntaxError");
    pys_policy_free(p);
    pys_policy_free(NULL);
}
