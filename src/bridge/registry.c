/* Registrations (bridge/internal.h): a br_reg built from a pys_bridge_func,
 * installed as a function object whose BridgeSelf's capsule owns it, and
 * its life until it is freed.
 *
 * Registrations are on one process-wide list (mutex: capsule destructors
 * can run on any thread on free-threaded builds). A registration is "dead"
 * once unregistered, replaced or its runtime closed; calling a dead
 * function raises RuntimeError, and its `release` hook has run exactly
 * once, outside the list lock. A call counts itself in r->active for its
 * whole length (call.c), so the hook waits for the last call. On GIL builds
 * every access to active and dead (calls, kills, releases) is made holding
 * the GIL, also when a callback's Python code let it go for a while in
 * between, so calls use plain loads and stores; free-threaded builds (and
 * forced locking) pair seq_cst increments and loads instead. */
#include <stdlib.h>
#include <string.h>

#include "bridge/internal.h"
#include "convert/codes.h"

/* The process-wide list of registrations that have a capsule. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pys__list regs;

void pys__br_reg_free(br_reg *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->qualname);
    free(r->doc);
    free(r->human);
    pys__br_sig_free(r->sig);
    free(r);
}

static void reg_link(br_reg *r)
{
    pthread_mutex_lock(&reg_lock);
    pys__list_push(&regs, &r->link);
    pthread_mutex_unlock(&reg_lock);
}

/* The capsule's destructor (the function's last reference went): r leaves
 * the list and is freed, unless a call of it is still running. */
static void capsule_destroy(PyObject *cap)
{
    pys__br_forget_cap(cap);
    br_reg *r = pys__api.PyCapsule_GetPointer(cap, NULL);
    if (!r) {
        pys__api.PyErr_Clear();
        return;
    }
    pthread_mutex_lock(&reg_lock);
    pys__list_remove(&r->link);
    if (atomic_load(&r->active) > 0) {
        /* The last reference to the function went during a call of it
         * (its caller only lent it, and the callback dropped the rest):
         * that call still uses r, and frees it when it returns
         * (pys__br_reg_try_release). Only on GIL builds, where active is
         * read under the GIL; elsewhere calls hold the function. */
        r->orphan = true;
        atomic_store(&r->dead, true);
        pthread_mutex_unlock(&reg_lock);
        return;
    }
    bool run = !r->released;
    r->released = true;
    pthread_mutex_unlock(&reg_lock);
    /* A registration that was never killed (its module vanished without
     * pyshim noticing) still owes its release. */
    if (run && r->release)
        r->release(r->userdata);
    pys__br_reg_free(r);
}

/* Marks r dead without running its release hook (a registration that
 * failed: the caller keeps ownership of its userdata). */
static void reg_abandon(br_reg *r)
{
    pthread_mutex_lock(&reg_lock);
    r->released = true;
    atomic_store(&r->dead, true);
    pthread_mutex_unlock(&reg_lock);
}

/* Runs r's release hook once r is dead and no call of it is in progress
 * (whoever sees both last runs it: the killer or the last call leaving;
 * the list lock and seq_cst on dead/active, or on GIL builds the GIL,
 * make that exactly one). Frees an orphan r (see capsule_destroy) after
 * its last call: then r is gone when this returns. */
void pys__br_reg_try_release(br_reg *r)
{
    void (*fn)(void *) = NULL;
    void *ud = NULL;
    bool free_it = false;
    pthread_mutex_lock(&reg_lock);
    if (atomic_load(&r->dead) && atomic_load(&r->active) == 0) {
        if (!r->released) {
            r->released = true;
            fn = r->release;
            ud = r->userdata;
        }
        free_it = r->orphan;
    }
    pthread_mutex_unlock(&reg_lock);
    if (fn)
        fn(ud);
    if (free_it)
        pys__br_reg_free(r);
}

/* Marks registrations dead: one (r), or all of host module `host`, or all
 * (both NULL). Runs the release hooks of idle ones after dropping the
 * lock; busy ones release when their last call returns. */
void pys__br_reg_kill(br_reg *one, PyObject *host)
{
    typedef struct {
        void (*fn)(void *);
        void *ud;
    } pending;
    pending stack[16];
    pending *v = stack;
    size_t n = 0, cap = 16;
    pthread_mutex_lock(&reg_lock);
    for (br_reg *r = one ? one : PYS__LIST_FIRST(br_reg, &regs, link); r;
         r = one ? NULL : PYS__LIST_NEXT(br_reg, r, link)) {
        if (!one && host && r->host != host)
            continue;
        atomic_store(&r->dead, true);
        if (r->released || atomic_load(&r->active) > 0)
            continue;
        r->released = true;
        if (!r->release)
            continue;
        if (n == cap) {
            pending *nv = pys__malloc_n(cap, 2 * sizeof *nv);
            if (!nv) {
                /* Keep going without this hook rather than leave a live
                 * registration: the hook is lost (out of memory). */
                continue;
            }
            memcpy(nv, v, n * sizeof *nv);
            if (v != stack)
                free(v);
            v = nv;
            cap *= 2;
        }
        v[n++] = (pending){r->release, r->userdata};
    }
    pthread_mutex_unlock(&reg_lock);
    for (size_t i = 0; i < n; i++)
        v[i].fn(v[i].ud);
    if (v != stack)
        free(v);
}

void pys__br_reg_disown_all(void)
{
    pthread_mutex_lock(&reg_lock);
    PYS__LIST_EACH(br_reg, r, &regs, link)
        r->released = true;
    pthread_mutex_unlock(&reg_lock);
}

br_reg *pys__br_reg_find(PyObject *host, const char *name, const br_reg *except)
{
    br_reg *found = NULL;
    pthread_mutex_lock(&reg_lock);
    for (br_reg *r = PYS__LIST_FIRST(br_reg, &regs, link); r && !found;
         r = PYS__LIST_NEXT(br_reg, r, link))
        if (r != except && r->host == host && !atomic_load(&r->dead) &&
            strcmp(r->name, name) == 0)
            found = r;
    pthread_mutex_unlock(&reg_lock);
    return found;
}

int pys__br_reg_build(const pys_bridge_func *f, const char *modname, const char *fn,
                      br_reg **out)
{
    *out = NULL;
    if (!f)
        return pys__fail(fn, PYS_E_ARG, "%s: the function description is NULL", fn);
    if (!pys__br_valid_ident(f->name))
        return pys__fail(fn, PYS_E_ARG, "%s: \"%s\" is not a valid function name (an identifier)",
                         fn, f->name ? f->name : "(null)");
    if (!f->fn == !f->cfunc)
        return pys__fail(fn, PYS_E_ARG, "%s: %s needs exactly one of fn (generic) and cfunc "
                         "(typed)", fn, f->name);
    if (f->fn && f->signature)
        return pys__fail(fn, PYS_E_ARG,
                         "%s: %s: a signature is for typed functions (cfunc); describe a generic "
                         "one with text_signature",
                         fn, f->name);
    const char *ts = f->text_signature;
    if (ts && (ts[0] != '(' || ts[strlen(ts) - 1] != ')' || strchr(ts, '\n')))
        return pys__fail(fn, PYS_E_ARG, "%s: %s: text_signature must look like \"(a, b=1, /)\"",
                         fn, f->name);
    br_reg *r = calloc(1, sizeof *r);
    if (!r)
        return pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
    int rc = PYS_OK;
    r->name = pys__strdup(f->name);
    r->qualname = pys__asprintf("%s.%s", modname, f->name);
    if (!r->name || !r->qualname) {
        rc = pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        goto fail;
    }
    pys__sb doc = {0}, human = {0};
    if (f->cfunc) {
        rc = pys__br_sig_parse(f->signature, fn, r->qualname, &r->sig);
        if (rc != PYS_OK)
            goto fail;
        pys__sb_add(&doc, f->name);
        pys__br_sig_params(&doc, r->sig, false);
        pys__sb_add(&doc, "\n--\n\n");
        pys__sb_add(&human, r->qualname);
        pys__br_sig_params(&human, r->sig, true);
        pys__sb_addf(&human, " -> %s", pys__br_code_type(r->sig->ret));
        pys__sb_add(&doc, f->name);
        pys__br_sig_params(&doc, r->sig, true);
        pys__sb_addf(&doc, " -> %s", pys__br_code_type(r->sig->ret));
        if (f->doc && *f->doc)
            pys__sb_addf(&doc, "\n\n%s", f->doc);
    } else {
        pys__sb_addf(&doc, "%s%s\n--\n\n%s", f->name, ts ? ts : "(*args, **kwargs)",
                     f->doc ? f->doc : "");
        pys__sb_addf(&human, "%s%s", r->qualname, ts ? ts : "(*args, **kwargs)");
    }
    r->doc = pys__sb_take(&doc);
    r->human = pys__sb_take(&human);
    if (!r->doc || !r->human || doc.oom || human.oom) {
        rc = pys__fail(fn, PYS_E_NOMEM, "%s: out of memory", fn);
        goto fail;
    }
    r->fn = f->fn;
    r->cfunc = f->cfunc;
    r->nfast = -1;
    if (r->sig && r->sig->ret != 'O') {
        bool fast = true;
        int ni = 0, nd = 0;
        for (int i = 0; i < r->sig->np; i++) {
            char code = r->sig->p[i].code;
            fast &= pys__code_is_scalar(code);
            r->fcode[i] = code;
            r->fidx[i] = (uint8_t)(pys__code_is_dbl(code) ? nd++ : ni++);
        }
        if (fast && r->sig->npos == r->sig->np) { /* no keyword-only ones */
            r->nfast = r->sig->np;
            r->fshape = ni * 16 + nd;
            r->fret = r->sig->ret;
        }
    }
    r->userdata = f->userdata;
    r->release = f->release;
    r->def.ml_name = r->name;
    r->def.ml_meth = (PyCFunction)(void (*)(void))pys__br_entry;
    r->def.ml_flags = PYS__METH_FASTCALL | PYS__METH_KEYWORDS;
    r->def.ml_doc = r->doc;
    *out = r;
    return PYS_OK;
fail:
    pys__br_reg_free(r);
    return rc;
}

int pys__br_reg_install(pys_runtime *rt, br_state *st, PyObject *host, PyObject *hn,
                        br_reg *r, const char *fn)
{
    PyObject *self = NULL, *func = NULL;
    int rc = PYS_OK;
    /* Unnamed: only the bridge ever sees it, and an unnamed capsule is the
     * cheapest to read on every call. */
    PyObject *cap = pys__api.PyCapsule_New(r, NULL, capsule_destroy);
    if (!cap)
        goto py_fail;
    r->host = host;
    reg_link(r);
    /* From here the capsule owns r. */
    self = pys__br_self_make(st, hn, cap);
    if (!self)
        goto py_fail_owned;
    func = pys__api.PyCFunction_NewEx(&r->def, self, hn);
    if (!func)
        goto py_fail_owned;
    r->func = func;
    rc = pys__br_host_set(rt, host, r->name, func, r, fn);
    if (rc != PYS_OK)
        reg_abandon(r);
    goto out;
py_fail:
    rc = pys__fail_py(rt, fn);
    pys__br_reg_free(r);
    goto out;
py_fail_owned:
    rc = pys__fail_py(rt, fn);
    reg_abandon(r); /* the capsule frees it */
out:
    pys__api.Py_DecRef(func);
    pys__api.Py_DecRef(self);
    pys__api.Py_DecRef(cap);
    return rc;
}
