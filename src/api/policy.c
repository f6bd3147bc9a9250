/* Policed runs: one call's code under a policy of allowed audit events
 * (PEP 578), curated builtins, and memory, output and time caps.
 *
 * Design notes: docs/internals.md, "src/api/policy.c". */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/types.h"
#include "api/api.h"
#include "api/recipes.h"
#include "api/memcap.h"

/* ---- the policy ------------------------------------------------------------ */

typedef struct rule {
    char *event;
    char *arg; /* NULL: any arguments */
} rule;

/* What the audit hook consults: an immutable copy of a policy's rules,
 * owned by a capsule in the policy's curated builtins. */
typedef struct rules {
    rule *r;
    size_t n;
    char **imports;
    size_t nimports;
} rules;

struct pys_policy {
    rule *r;
    size_t n;
    char **imports;
    size_t nimports;
    char **builtins; /* NULL: the default set */
    size_t nbuiltins;
    size_t mem_limit;
    int out_streams;
    pys_write_fn out_fn;
    void *out_ud;
    size_t out_limit;
    uint32_t timeout_ms;
    /* made on first use per open, again after a change */
    PyObject *bdict;
    rules *snap; /* borrowed from bdict's capsule */
    uint64_t built_opens;
    bool dirty;
};

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void rules_free(rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].event);
        free(r[i].arg);
    }
    free(r);
}

pys_policy *pys_policy_new(void)
{
    pys_policy *p = calloc(1, sizeof *p);
    if (!p)
        pys__fail(__func__, PYS_E_NOMEM, "pys_policy_new: out of memory");
    return p;
}

/* Drops the policy's Python objects if they belong to the open runtime. */
static void policy_unbuild(pys_policy *p)
{
    if (!p->bdict)
        return;
    pys_runtime *rt = &pys__the_runtime;
    if (p->built_opens == rt->opens && pys__begin(rt, "pys_policy")) {
        pys__api.Py_DecRef(p->bdict);
        pys__end(rt);
    } else {
        pys_clear_error();
    }
    p->bdict = NULL;
    p->snap = NULL;
}

void pys_policy_free(pys_policy *p)
{
    if (!p)
        return;
    policy_unbuild(p);
    rules_free(p->r, p->n);
    strv_free(p->imports, p->nimports);
    strv_free(p->builtins, p->nbuiltins);
    free(p);
}

static bool name_ok(const char *s)
{
    return s && *s && strlen(s) < 256;
}

/* Modules whose public names undo the policy without raising an audit
 * event: raw memory and foreign calls, every loaded module, attribute
 * access by string, the import system, the environment, code and frame
 * objects. Allowing a module trusts it; these are the known breaches. */
static const char *refused_module(const char *name)
{
    static const struct {
        const char *mod, *why;
    } refused[] = {
        {"ctypes", "foreign calls and raw memory are not audited"},
        {"_ctypes", "foreign calls and raw memory are not audited"},
        {"sys", "sys.modules hands out every loaded module"},
        {"builtins", "it has the unchecked getattr, vars and __import__"},
        {"operator", "attrgetter reads any attribute by string"},
        {"_operator", "attrgetter reads any attribute by string"},
        {"string", "Formatter.get_field reads any attribute by string"},
        {"_string", "it reads any attribute by string"},
        {"inspect", "it reads any attribute and walks frames"},
        {"importlib", "it imports any module"},
        {"_imp", "it imports any module"},
        {"_frozen_importlib", "it imports any module"},
        {"_frozen_importlib_external", "it imports any module"},
        {"os", "os.environ and most of os are not audited"},
        {"posix", "posix.environ and most of posix are not audited"},
        {"_posixsubprocess", "it runs programs without the subprocess event"},
        {"pickle", "unpickling calls any importable callable"},
        {"_pickle", "unpickling calls any importable callable"},
        {"copyreg", "it reaches the pickling machinery"},
        {"types", "it builds functions from code objects and globals"},
        {"_thread", "threads it starts run unpoliced"},
        {"threading", "threads it starts run unpoliced"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        size_t k = strlen(refused[i].mod);
        if (strncmp(name, refused[i].mod, k) == 0 && (name[k] == 0 || name[k] == '.'))
            return refused[i].why;
    }
    return NULL;
}

int pys_policy_allow(pys_policy *p, const char *event, const char *arg)
{
    const char *F = __func__;
    if (!p || !name_ok(event))
        return pys__fail(F, PYS_E_ARG, "%s: %s", F,
                         !p ? "policy is NULL" : "event must be a non-empty name");
    if (arg && !*arg)
        return pys__fail(F, PYS_E_ARG, "%s: an empty filter for '%s' (NULL allows any)", F,
                         event);
    if (strcmp(event, "import") == 0) {
        if (!arg)
            return pys__fail(F, PYS_E_ARG,
                             "%s: 'import' needs a module name (imports are listed one by one)",
                             F);
        const char *why = refused_module(arg);
        if (why)
            return pys__fail(F, PYS_E_ARG, "%s: the module '%s' cannot be allowed: %s", F, arg,
                             why);
        char **v = realloc(p->imports, (p->nimports + 1) * sizeof *v);
        if (!v)
            return pys__fail(F, PYS_E_NOMEM, "%s: out of memory", F);
        p->imports = v;
        if (!(v[p->nimports] = pys__strdup(arg)))
            return pys__fail(F, PYS_E_NOMEM, "%s: out of memory", F);
        p->nimports++;
    } else {
        rule *v = realloc(p->r, (p->n + 1) * sizeof *v);
        if (!v)
            return pys__fail(F, PYS_E_NOMEM, "%s: out of memory", F);
        p->r = v;
        v[p->n].event = pys__strdup(event);
        v[p->n].arg = arg ? pys__strdup(arg) : NULL;
        if (!v[p->n].event || (arg && !v[p->n].arg)) {
            free(v[p->n].event);
            free(v[p->n].arg);
            return pys__fail(F, PYS_E_NOMEM, "%s: out of memory", F);
        }
        p->n++;
    }
    p->dirty = true;
    return PYS_OK;
}

int pys_policy_builtins(pys_policy *p, const char *const *names)
{
    const char *F = __func__;
    if (!p || !names)
        return pys__fail(F, PYS_E_ARG, "%s: %s is NULL", F, !p ? "policy" : "names");
    size_t n = 0;
    while (names[n]) {
        if (!name_ok(names[n]))
            return pys__fail(F, PYS_E_ARG, "%s: name %zu is empty or too long", F, n);
        n++;
    }
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return pys__fail(F, PYS_E_NOMEM, "%s: out of memory", F);
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = pys__strdup(names[i]))) {
            strv_free(v, i);
            return pys__fail(F, PYS_E_NOMEM, "%s: out of memory", F);
        }
    strv_free(p->builtins, p->nbuiltins);
    p->builtins = v;
    p->nbuiltins = n;
    p->dirty = true;
    return PYS_OK;
}

int pys_policy_memory_limit(pys_policy *p, size_t bytes)
{
    if (!p)
        return pys__fail(__func__, PYS_E_ARG, "pys_policy_memory_limit: policy is NULL");
    p->mem_limit = bytes;
    return PYS_OK;
}

int pys_policy_output(pys_policy *p, int streams, pys_write_fn fn, void *ud, size_t max_bytes)
{
    const char *F = __func__;
    if (!p)
        return pys__fail(F, PYS_E_ARG, "%s: policy is NULL", F);
    if (streams < 0 || (streams & ~(PYS_STDOUT | PYS_STDERR)))
        return pys__fail(F, PYS_E_ARG, "%s: streams must be 0, PYS_STDOUT, PYS_STDERR or both",
                         F);
    p->out_streams = streams;
    p->out_fn = fn;
    p->out_ud = ud;
    p->out_limit = max_bytes;
    return PYS_OK;
}

int pys_policy_timeout(pys_policy *p, uint32_t ms)
{
    if (!p)
        return pys__fail(__func__, PYS_E_ARG, "pys_policy_timeout: policy is NULL");
    p->timeout_ms = ms;
    return PYS_OK;
}

/* ---- the run's thread-local state -------------------------------------------- */

typedef struct prun {
    const rules *rules;
    PyObject *code; /* the run's own code object: its "exec" event passes */
} prun;

/* This thread's policed run in progress: pys__tls.policy_run. */
static _Thread_local int import_depth; /* imports let through by the wrapper */
static _Atomic bool any_policy;        /* a curated builtins dict was ever made */
static PyObject *real_bdict;           /* builtins.__dict__ of this open (strong) */
static PyObject *policy_key;           /* "__pyshim_policy__" (strong) */
static uint64_t hook_opens;            /* the open the hook was added in */

/* ---- argument filters ---------------------------------------------------------- */

/* UTF-8 of a str or bytes object (borrowed), or NULL (no exception left). */
static const char *text_of(PyObject *o)
{
    if (!o)
        return NULL;
    if (pys__is(o, pys__api.PyUnicode_Type)) {
        const char *s = pys__api.PyUnicode_AsUTF8AndSize(o, NULL);
        if (!s)
            pys__api.PyErr_Clear();
        return s;
    }
    if (pys__is(o, pys__api.PyBytes_Type)) {
        char *s;
        Py_ssize_t n;
        if (pys__api.PyBytes_AsStringAndSize(o, &s, &n) < 0) {
            pys__api.PyErr_Clear();
            return NULL;
        }
        return strlen(s) == (size_t)n ? s : NULL;
    }
    return NULL;
}

static PyObject *arg_at(PyObject *args, Py_ssize_t i)
{
    if (!pys__is(args, pys__api.PyTuple_Type) || pys__api.PyTuple_Size(args) <= i)
        return NULL;
    return pys__api.PyTuple_GetItem(args, i);
}

/* path resolved (symlinks, "..") as far as it exists; false if too long. */
static bool resolve(const char *path, char *out)
{
    if (realpath(path, out))
        return true;
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1,
                 slash ? (slash == path ? "/" : path) : ".") >= (int)sizeof dir)
        return false;
    if (slash == path)
        snprintf(dir, sizeof dir, "/");
    char rd[PATH_MAX];
    if (!realpath(dir, rd))
        return false;
    const char *base = slash ? slash + 1 : path;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return false;
    return snprintf(out, PATH_MAX, "%s/%s", strcmp(rd, "/") == 0 ? "" : rd, base) < PATH_MAX;
}

/* "open" with a filter "[ro:]/dir": the path (str or bytes, resolved) is
 * the directory or inside it; "ro:" also wants a read-only mode. */
static bool open_ok(const char *filter, PyObject *args)
{
    bool ro = strncmp(filter, "ro:", 3) == 0;
    if (ro)
        filter += 3;
    const char *path = text_of(arg_at(args, 0));
    char got[PATH_MAX], want[PATH_MAX];
    if (!path || !resolve(path, got) || !resolve(filter, want))
        return false;
    size_t n = strlen(want);
    if (strncmp(got, want, n) != 0 || (got[n] != 0 && got[n] != '/' && strcmp(want, "/") != 0))
        return false;
    if (!ro)
        return true;
    PyObject *mode = arg_at(args, 1), *flags = arg_at(args, 2);
    const char *m = text_of(mode);
    if (m)
        return strpbrk(m, "wax+") == NULL;
    if (flags && pys__is(flags, pys__api.PyLong_Type)) {
        long f = pys__api.PyLong_AsLong(flags);
        if (f == -1 && pys__api.PyErr_Occurred()) {
            pys__api.PyErr_Clear();
            return false;
        }
        return (f & O_ACCMODE) == O_RDONLY && !(f & (O_CREAT | O_TRUNC | O_APPEND));
    }
    return false;
}

static bool module_ok(const char *name, char *const *allowed, size_t n)
{
    for (size_t i = 0; name && i < n; i++) {
        size_t k = strlen(allowed[i]);
        if (strncmp(name, allowed[i], k) == 0 && (name[k] == 0 || name[k] == '.'))
            return true;
    }
    return false;
}

/* socket.*: the host of the address (getaddrinfo's first argument, or the
 * first item of the address tuple after the socket) equals the filter. */
static bool socket_ok(const char *filter, PyObject *args)
{
    const char *host = text_of(arg_at(args, 0));
    if (!host) {
        PyObject *a = arg_at(args, 1);
        if (a && pys__is(a, pys__api.PyTuple_Type) && pys__api.PyTuple_Size(a) >= 1)
            host = text_of(pys__api.PyTuple_GetItem(a, 0));
        else
            host = text_of(a);
    }
    return host && strcmp(host, filter) == 0;
}

/* subprocess.Popen (executable, args, cwd, env): the program run (the
 * executable, else args[0]; args as a string is refused) is the filter,
 * by full path or by name. */
static bool popen_ok(const char *filter, PyObject *args)
{
    const char *prog = text_of(arg_at(args, 0));
    if (!prog) {
        PyObject *a = arg_at(args, 1);
        if (a && (pys__is(a, pys__api.PyList_Type) || pys__is(a, pys__api.PyTuple_Type)) &&
            pys__api.PyObject_Size(a) > 0) {
            PyObject *x = pys__api.PySequence_GetItem(a, 0);
            if (!x) {
                pys__api.PyErr_Clear();
                return false;
            }
            bool ok = false;
            const char *s = text_of(x);
            if (s) {
                const char *slash = strrchr(s, '/');
                ok = strcmp(s, filter) == 0 || (!strchr(filter, '/') && slash &&
                                                 strcmp(slash + 1, filter) == 0);
            }
            pys__api.Py_DecRef(x);
            return ok;
        }
        return false;
    }
    const char *slash = strrchr(prog, '/');
    return strcmp(prog, filter) == 0 ||
           (!strchr(filter, '/') && slash && strcmp(slash + 1, filter) == 0);
}

static bool rule_ok(const rule *r, const char *event, PyObject *args)
{
    if (!r->arg)
        return true;
    if (strcmp(event, "open") == 0)
        return open_ok(r->arg, args);
    if (strncmp(event, "socket.", 7) == 0)
        return socket_ok(r->arg, args);
    if (strcmp(event, "subprocess.Popen") == 0)
        return popen_ok(r->arg, args);
    const char *a = text_of(arg_at(args, 0));
    return a && strncmp(a, r->arg, strlen(r->arg)) == 0;
}

/* Denies with a PermissionError that names the event (and its first
 * argument when it is text). */
static int deny(const char *event, PyObject *args)
{
    const char *a = text_of(arg_at(args, 0));
    char msg[600];
    if (a)
        snprintf(msg, sizeof msg, "pyshim policy: '%s' denied (%.400s)", event, a);
    else
        snprintf(msg, sizeof msg, "pyshim policy: '%s' denied", event);
    pys__api.PyErr_SetString(PYS__EXC(PermissionError), msg);
    return -1;
}

/* A subprocess.Popen the policy allowed, on this thread: CPython 3.14+
 * then raises _posixsubprocess.fork_exec (or os.posix_spawn) for the same
 * start, which is that Popen's own continuation, not a second program. */
static _Thread_local bool popen_allowed;

static int check(const rules *rs, const prun *run, const char *event, PyObject *args)
{
    if (import_depth > 0)
        return 0;
    bool continuation = strcmp(event, "_posixsubprocess.fork_exec") == 0 ||
                        strcmp(event, "os.posix_spawn") == 0;
    if (continuation && popen_allowed) {
        popen_allowed = false;
        return 0;
    }
    /* Library code calls id() for its bookkeeping (json, copy, ...); the
     * address it gives away is no way out by itself. */
    if (strcmp(event, "builtins.id") == 0)
        return 0;
    if (run && run->code && strcmp(event, "exec") == 0 && arg_at(args, 0) == run->code)
        return 0;
    if (strcmp(event, "import") == 0 &&
        module_ok(text_of(arg_at(args, 0)), rs->imports, rs->nimports))
        return 0;
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->r[i].event, event) == 0 && rule_ok(&rs->r[i], event, args)) {
            popen_allowed = strcmp(event, "subprocess.Popen") == 0;
            return 0;
        }
    return deny(event, args);
}

static void rules_capsule_free(PyObject *cap)
{
    rules *rs = pys__api.PyCapsule_GetPointer(cap, "pyshim.policy");
    if (!rs)
        return;
    rules_free(rs->r, rs->n);
    strv_free(rs->imports, rs->nimports);
    free(rs);
}

/* Code a policed run left behind (a function it defined, a finaliser)
 * runs with that run's builtins: police it by them. */
static __attribute__((noinline)) int check_leftover(const char *event, PyObject *args)
{
    PyObject *b = pys__api.PyEval_GetBuiltins();
    if (!b || b == real_bdict || !policy_key)
        return 0;
    if (!pys__is(b, pys__api.PyDict_Type))
        return 0;
    PyObject *cap = pys__api.PyDict_GetItemWithError(b, policy_key);
    if (!cap) {
        pys__api.PyErr_Clear();
        return 0;
    }
    rules *rs = pys__api.PyCapsule_GetPointer(cap, "pyshim.policy");
    if (!rs) {
        pys__api.PyErr_Clear();
        return 0;
    }
    return check(rs, NULL, event, args);
}

static int audit_hook(const char *event, PyObject *args, void *ud)
{
    (void)ud;
    prun *run = pys__tls_get()->policy_run;
    if (__builtin_expect(run != NULL, 0))
        return check(run->rules, run, event, args);
    if (__builtin_expect(atomic_load_explicit(&any_policy, memory_order_relaxed), 0))
        return check_leftover(event, args);
    return 0;
}

/* ---- open ------------------------------------------------------------------------ */

static void policy_close(pys_runtime *rt)
{
    (void)rt;
    pys__api.Py_DecRef(real_bdict);
    pys__api.Py_DecRef(policy_key);
    real_bdict = policy_key = NULL;
}

void pys__policy_open(pys_runtime *rt, const pys_options *o)
{
    if (o->memory_caps)
        pys__memcap_hook();
    if (hook_opens != rt->opens) {
        /* Finalisation clears the hooks; each open adds ours again. */
        if (pys__api.PySys_AddAuditHook(audit_hook, NULL) < 0)
            pys__api.PyErr_Clear();
        hook_opens = rt->opens;
    }
    real_bdict = pys__api.PyModule_GetDict(rt->builtins);
    if (real_bdict)
        pys__api.Py_IncRef(real_bdict);
    policy_key = pys__api.PyUnicode_InternFromString("__pyshim_policy__");
    if (!policy_key)
        pys__api.PyErr_Clear();
    pys__close_at(rt, PYS__CLOSE_POLICY, policy_close);
}

/* ---- the import wrapper's bracket ------------------------------------------------- */

static PyObject *enter_import(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    import_depth++;
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

static PyObject *leave_import(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (import_depth > 0)
        import_depth--;
    pys__api.Py_IncRef(PYS__None);
    return PYS__None;
}

static PyMethodDef enter_def = {"enter_import", (PyCFunction)(void (*)(void))enter_import,
                                PYS__METH_NOARGS, NULL};
static PyMethodDef leave_def = {"leave_import", (PyCFunction)(void (*)(void))leave_import,
                                PYS__METH_NOARGS, NULL};

/* ---- building a policy's Python side ----------------------------------------------- */

static PyObject *strv_list(char *const *v, size_t n)
{
    PyObject *l = pys__api.PyList_New(0);
    for (size_t i = 0; l && i < n; i++) {
        PyObject *s = pys__api.PyUnicode_FromString(v[i]);
        if (!s || pys__api.PyList_Append(l, s) < 0) {
            pys__api.Py_DecRef(s);
            pys__api.Py_DecRef(l);
            return NULL;
        }
        pys__api.Py_DecRef(s);
    }
    return l;
}

static char **strv_copy(char *const *v, size_t n)
{
    char **c = calloc(n + 1, sizeof *c);
    for (size_t i = 0; c && i < n; i++)
        if (!(c[i] = pys__strdup(v[i]))) {
            strv_free(c, i);
            return NULL;
        }
    return c;
}

static rules *rules_copy(const pys_policy *p)
{
    rules *rs = calloc(1, sizeof *rs);
    if (!rs)
        return NULL;
    rs->r = calloc(p->n + 1, sizeof *rs->r);
    rs->imports = strv_copy(p->imports, p->nimports);
    if (!rs->r || !rs->imports) {
        free(rs->r);
        strv_free(rs->imports, p->nimports);
        free(rs);
        return NULL;
    }
    rs->nimports = p->nimports;
    for (size_t i = 0; i < p->n; i++, rs->n++) {
        rs->r[i].event = pys__strdup(p->r[i].event);
        rs->r[i].arg = p->r[i].arg ? pys__strdup(p->r[i].arg) : NULL;
        if (!rs->r[i].event || (p->r[i].arg && !rs->r[i].arg)) {
            rs->n++;
            rules_free(rs->r, rs->n);
            strv_free(rs->imports, rs->nimports);
            free(rs);
            return NULL;
        }
    }
    return rs;
}

/* Makes (or remakes after a change) the policy's curated builtins. 0, or
 * -1 with the error set. */
static int policy_build(pys_runtime *rt, pys__rcp *h, pys_policy *p, const char *fn)
{
    if (p->bdict && !p->dirty && p->built_opens == rt->opens)
        return 0;
    if (p->bdict && p->built_opens == rt->opens)
        pys__api.Py_DecRef(p->bdict);
    p->bdict = NULL;
    p->snap = NULL;
    rules *rs = rules_copy(p);
    if (!rs) {
        pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        return -1;
    }
    PyObject *cap = pys__api.PyCapsule_New(rs, "pyshim.policy", rules_capsule_free);
    if (!cap) {
        rules_free(rs->r, rs->n);
        strv_free(rs->imports, rs->nimports);
        free(rs);
        pys__fail_py(rt, fn);
        return -1;
    }
    PyObject *args[5] = {NULL, strv_list(p->imports, p->nimports),
                         pys__api.PyCFunction_NewEx(&enter_def, NULL, NULL),
                         pys__api.PyCFunction_NewEx(&leave_def, NULL, NULL), cap};
    if (p->builtins)
        args[0] = strv_list(p->builtins, p->nbuiltins);
    else
        pys__api.Py_IncRef(args[0] = PYS__None);
    PyObject *d = NULL;
    if (args[0] && args[1] && args[2] && args[3])
        d = pys__rcp_call(h->make_builtins, args, 5);
    for (int i = 0; i < 5; i++)
        pys__api.Py_DecRef(args[i]);
    if (!d) {
        /* ValueError: a refused or unknown builtin name. */
        if (pys__api.PyErr_ExceptionMatches(PYS__EXC(ValueError))) {
            PyObject *t, *v, *tb;
            pys__api.PyErr_Fetch(&t, &v, &tb);
            PyObject *s = v ? pys__api.PyObject_Str(v) : NULL;
            const char *m = s ? pys__api.PyUnicode_AsUTF8AndSize(s, NULL) : NULL;
            pys__fail(fn, PYS_E_ARG, "%s: %s", fn, m ? m : "bad builtins");
            if (!m)
                pys__api.PyErr_Clear();
            pys__api.Py_DecRef(s);
            pys__api.Py_DecRef(t);
            pys__api.Py_DecRef(v);
            pys__api.Py_DecRef(tb);
        } else {
            pys__fail_py(rt, fn);
        }
        return -1;
    }
    if (p->bdict && !p->dirty && p->built_opens == rt->opens) {
        pys__api.Py_DecRef(d); /* another thread built it meanwhile */
        return 0;
    }
    p->bdict = d;
    p->snap = rs;
    p->built_opens = rt->opens;
    p->dirty = false;
    atomic_store(&any_policy, true);
    return 0;
}

/* ---- the run ------------------------------------------------------------------------- */

static void discard(void *ud, const char *data, size_t len)
{
    (void)ud;
    (void)data;
    (void)len;
}

/* The memory-cap MemoryError says what happened (keeping the traceback). */
static void name_memory_error(size_t cap)
{
    if (!pys__api.PyErr_ExceptionMatches(PYS__EXC(MemoryError)))
        return;
    PyObject *t, *v, *tb;
    pys__api.PyErr_Fetch(&t, &v, &tb);
    char msg[160];
    snprintf(msg, sizeof msg, "pyshim policy: the run's memory limit of %zu bytes was reached",
             cap);
    pys__api.PyErr_SetString(PYS__EXC(MemoryError), msg);
    PyObject *t2, *v2, *tb2;
    pys__api.PyErr_Fetch(&t2, &v2, &tb2);
    pys__api.PyErr_NormalizeException(&t2, &v2, &tb2);
    if (v2 && tb)
        pys__api.PyException_SetTraceback(v2, tb);
    pys__api.PyErr_Restore(t2, v2, tb2 ? tb2 : (tb ? (pys__api.Py_IncRef(tb), tb) : NULL));
    pys__api.Py_DecRef(t);
    pys__api.Py_DecRef(v);
    pys__api.Py_DecRef(tb);
}

static int run_policed(pys_runtime *rt, const char *src, pys_obj ns, pys_policy *p,
                       const char *F)
{
    int rc = PYS_OK;
    if (p->mem_limit && !pys__memcap_hooked())
        return pys__fail(F, PYS_E_STATE,
                         "%s: the policy caps memory, which needs pys_options.memory_caps at "
                         "pys_open",
                         F);
    pys__rcp *h;
    PyObject *code = NULL, *g = NULL, *tok = NULL;
    if (!(h = pys__rcp_get(rt, F)) || policy_build(rt, h, p, F) < 0)
        return pys_last_error()->code;
    /* The run keeps its builtins (and through them its rules) alive, even
     * if the policy is rebuilt meanwhile. */
    PyObject *bdict = p->bdict;
    const rules *rs = p->snap;
    pys__api.Py_IncRef(bdict);
    /* Checked and compiled before the policy is in force. */
    PyObject *args[2] = {pys__api.PyUnicode_FromString(src),
                         pys__api.PyUnicode_FromString("<policed>")};
    if (args[0] && args[1])
        code = pys__rcp_call(h->check_compile, args, 2);
    for (int i = 0; i < 2; i++)
        pys__api.Py_DecRef(args[i]);
    if (!code) {
        pys__api.Py_DecRef(bdict);
        return pys__fail_py(rt, F);
    }
    if (pys_ok(ns)) {
        if (!(g = pys__namespace_of(rt, ns, F))) {
            pys__api.Py_DecRef(code);
            pys__api.Py_DecRef(bdict);
            return pys_last_error()->code;
        }
    } else if (!(g = pys__api.PyDict_New())) {
        pys__api.Py_DecRef(code);
        pys__api.Py_DecRef(bdict);
        return pys__fail_py(rt, F);
    }
    PyObject *nm = pys__api.PyUnicode_FromString("__pyshim_policed__");
    bool fresh = !pys_ok(ns);
    PyObject *nk = pys__api.PyUnicode_FromString("__name__");
    int has_name = nk ? pys__api.PySequence_Contains(g, nk) : -1;
    pys__api.Py_DecRef(nk);
    if (!nm || has_name < 0 || pys__api.PyDict_SetItemString(g, "__builtins__", bdict) < 0 ||
        (!has_name && pys__api.PyDict_SetItemString(g, "__name__", nm) < 0)) {
        rc = pys__fail_py(rt, F);
        goto out;
    }
    if (p->out_streams && !(tok = pys__rcp_route(rt, h, p->out_streams,
                                                  p->out_fn ? p->out_fn : discard, p->out_ud,
                                                  p->out_limit, F))) {
        rc = pys_last_error()->code;
        goto out;
    }
    prun run = {rs, code};
    prun *outer = pys__tls_get()->policy_run;
    pys__memrun mem;
    int outer_depth = import_depth;
    import_depth = 0;
    pys__tls_get()->policy_run = &run;
    if (p->mem_limit)
        pys__memcap_begin(&mem, p->mem_limit);
    PyObject *r = pys__api.PyEval_EvalCode(code, g, g);
    pys__api.Py_DecRef(r);
    if (fresh) {
        /* Its objects die while the policy is still in force. */
        pys__api.Py_DecRef(g);
        g = NULL;
    }
    if (p->mem_limit && pys__memcap_end(&mem) && !r)
        name_memory_error(p->mem_limit);
    pys__tls_get()->policy_run = outer;
    import_depth = outer_depth;
    if ((tok && pys__rcp_unroute(h, tok) < 0) || !r)
        rc = pys__fail_py(rt, F);
out:
    pys__api.Py_DecRef(nm);
    pys__api.Py_DecRef(g);
    pys__api.Py_DecRef(code);
    pys__api.Py_DecRef(bdict);
    return rc;
}

int pys_exec_policed(pys_runtime *rt, const char *src, pys_obj ns, pys_policy *policy)
{
    const char *F = __func__;
    if (!src || !policy)
        return pys__fail(F, PYS_E_ARG, "%s: %s is NULL", F, !src ? "source" : "policy");
    uint32_t old_deadline = 0;
    bool timed = policy->timeout_ms != 0;
    if (timed) {
        if (pys__tls_get()->gil_depth > 0)
            return pys__fail(F, PYS_E_STATE,
                             "%s: a policy with a timeout cannot run inside a batch or callback "
                             "(the batch's deadline rules there)",
                             F);
        old_deadline = pys_get_deadline(rt);
        int rc = pys_set_deadline(rt, policy->timeout_ms);
        if (rc != PYS_OK)
            return rc;
    }
    int rc;
    if (!pys__begin(rt, F)) {
        rc = pys_last_error()->code;
    } else {
        rc = run_policed(rt, src, ns, policy, F);
        pys__end(rt);
    }
    if (timed) {
        pys__err_saved sv;
        pys__err_stash(&sv);
        pys_set_deadline(rt, old_deadline);
        pys__err_unstash(&sv);
    }
    return rc;
}
