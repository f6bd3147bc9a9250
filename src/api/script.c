/* Hot-reloaded scripts: a file compiled and run into a fresh namespace;
 * reloading builds the next version in another fresh namespace and swaps
 * it in with one attribute store, so a call in flight keeps the functions
 * (and globals) of the version it started on, and a version that fails to
 * compile or run never replaces a working one. The Script class is the
 * helper's (recipes_py.c); a per-script lock there serialises reloads.
 *
 * pys_script_watch runs one pyshim-owned thread per watched script that
 * waits on inotify for the script's directory (editors replace files by
 * rename, which a watch on the file itself would lose) and on a pipe that
 * stops it. Watches are stopped by pys_script_unwatch or at close. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/runtime.h"
#include "core/gate.h"
#include "core/error.h"
#include "core/handles.h"
#include "core/types.h"
#include "api/recipes.h"

/* The Script object of handle s (a new reference), or NULL with the error
 * set (the recipes helper's, PYS_E_HANDLE, or PYS_E_TYPE for another
 * object). */
static PyObject *script_of(pys_runtime *rt, pys_obj s, const char *fn)
{
    pys__rcp *h = pys__rcp_get(rt, fn);
    PyObject *o = h ? pys__h_ref(rt, s, fn) : NULL;
    if (!o)
        return NULL;
    PyObject *t = pys__api.PyObject_Type(o);
    bool ok = t == h->script_class;
    pys__api.Py_DecRef(t);
    if (!ok) {
        char tn[128];
        pys__fail(fn, PYS_E_TYPE, "%s: not a script handle (a %s)", fn,
                  pys__type_name(o, tn, sizeof tn));
        pys__api.Py_DecRef(o);
        return NULL;
    }
    return o;
}

/* The file's (mtime_ns, size, ino, dev), or NULL with *err set (errno) or
 * a Python exception set (*err 0). */
static PyObject *file_sig(const char *path, int *err)
{
    struct stat st;
    *err = 0;
    if (stat(path, &st) < 0) {
        *err = errno;
        return NULL;
    }
    PyObject *t = pys__api.PyTuple_New(4);
    long long v[4] = {(long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                      (long long)st.st_size, (long long)st.st_ino, (long long)st.st_dev};
    for (int i = 0; t && i < 4; i++) {
        PyObject *x = pys__api.PyLong_FromLongLong(v[i]);
        if (!x || pys__api.PyTuple_SetItem(t, i, x) < 0) {
            pys__api.Py_DecRef(t);
            return NULL;
        }
    }
    return t;
}

/* The file's content as bytes, or NULL with *err set or a Python exception
 * set. Read with the GIL held: a script is small, and every hand-over of
 * the GIL costs a reload up to a switch interval when other threads keep
 * it busy. */
static PyObject *file_bytes(const char *path, int *err)
{
    *err = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            close(fd);
            pys__api.PyErr_SetNone(PYS__EXC(MemoryError));
            return NULL;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            *err = errno;
            free(buf);
            close(fd);
            return NULL;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n == cap) {
            char *b2 = realloc(buf, cap * 2);
            if (!b2)
                free(buf);
            buf = b2;
            cap *= 2;
        }
    }
    close(fd);
    PyObject *b = pys__api.PyBytes_FromStringAndSize(buf, (Py_ssize_t)n);
    free(buf);
    return b;
}

/* Reloads s if its file changed (or always, force): 1 reloaded, 0
 * unchanged, -1 error set. The common case, an unchanged file, is one
 * stat and one tuple comparison. */
static int script_reload(pys_runtime *rt, PyObject *s, bool force, const char *fn)
{
    PyObject *po = pys__api.PyObject_GetAttrString(s, "path");
    const char *path = po ? pys__api.PyUnicode_AsUTF8AndSize(po, NULL) : NULL;
    PyObject *sig = NULL, *data = NULL, *r = NULL;
    int err = 0;
    if (!path)
        goto out;
    sig = file_sig(path, &err);
    if (!sig && !err)
        goto out;
    if (sig && !force) {
        PyObject *cur = pys__api.PyObject_GetAttrString(s, "sig");
        int same = cur ? pys__api.PyObject_RichCompareBool(cur, sig, 2 /* Py_EQ */) : -1;
        pys__api.Py_DecRef(cur);
        if (same < 0)
            goto out;
        if (same) {
            pys__api.Py_DecRef(sig);
            pys__api.Py_DecRef(po);
            return 0;
        }
    }
    if (sig) {
        data = file_bytes(path, &err);
        if (!data && !err)
            goto out;
    }
    PyObject *m = pys__api.PyObject_GetAttrString(s, "update");
    PyObject *args[4] = {sig ? sig : PYS__None, data ? data : PYS__None, force ? PYS__True : PYS__False,
                         pys__api.PyLong_FromLongLong(err)};
    if (m && args[3])
        r = pys__rcp_call(m, args, 4);
    pys__api.Py_DecRef(m);
    pys__api.Py_DecRef(args[3]);
out:
    pys__api.Py_DecRef(po);
    pys__api.Py_DecRef(sig);
    pys__api.Py_DecRef(data);
    if (!r) {
        pys__fail_py(rt, fn);
        return -1;
    }
    int v = pys__api.PyObject_IsTrue(r);
    pys__api.Py_DecRef(r);
    return v;
}

pys_obj pys_script_load(pys_runtime *rt, const char *path, pys_obj globals_or_null)
{
    const char *F = __func__;
    if (!pys__begin(rt, F))
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    pys__rcp *h;
    PyObject *tmpl = NULL, *s = NULL;
    if (!path || !*path) {
        pys__fail(F, PYS_E_ARG, "%s: path is %s", F, path ? "empty" : "NULL");
        goto done;
    }
    if (!(h = pys__rcp_get(rt, F)))
        goto done;
    if (pys_ok(globals_or_null)) {
        if (!(tmpl = pys__h_ref(rt, globals_or_null, F)))
            goto done;
        if (!pys__need_dict(tmpl, "globals", F))
            goto done;
    } else {
        pys__api.Py_IncRef(tmpl = PYS__None);
    }
    PyObject *args[2] = {pys__api.PyUnicode_FromString(path), tmpl};
    if (!args[0] || !(s = pys__rcp_call(h->script_class, args, 2))) {
        pys__api.Py_DecRef(args[0]);
        pys__fail_py(rt, F);
        goto done;
    }
    pys__api.Py_DecRef(args[0]);
    if (script_reload(rt, s, true, F) < 0)
        goto done;
    pys__api.Py_IncRef(s);
    out = pys__h_new(rt, s, F);
done:
    pys__api.Py_DecRef(s);
    pys__api.Py_DecRef(tmpl);
    pys__end(rt);
    return out;
}

int pys_script_reload_if_changed(pys_obj script, bool *reloaded)
{
    const char *F = __func__;
    if (reloaded)
        *reloaded = false;
    pys_runtime *rt = pys__begin_h(F);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    PyObject *s = script_of(rt, script, F);
    if (!s) {
        rc = pys_last_error()->code;
    } else {
        int v = script_reload(rt, s, false, F);
        if (v < 0)
            rc = pys_last_error()->code;
        else if (reloaded)
            *reloaded = v == 1;
        pys__api.Py_DecRef(s);
    }
    pys__end(rt);
    return rc;
}

pys_obj pys_script_get(pys_obj script, const char *name)
{
    const char *F = __func__;
    pys_runtime *rt = pys__begin_h(F);
    if (!rt)
        return PYS_NULL;
    pys_obj out = PYS_NULL;
    PyObject *s = script_of(rt, script, F);
    if (s && !name) {
        pys__fail(F, PYS_E_ARG, "%s: name is NULL", F);
    } else if (s) {
        PyObject *m = pys__api.PyObject_GetAttrString(s, "get");
        PyObject *nm = pys__api.PyUnicode_FromString(name);
        PyObject *r = m && nm ? pys__rcp_call(m, &nm, 1) : NULL;
        pys__api.Py_DecRef(m);
        pys__api.Py_DecRef(nm);
        out = pys__h_new_py(rt, r, F);
    }
    pys__api.Py_DecRef(s);
    pys__end(rt);
    return out;
}

int pys_script_version(pys_obj script, uint64_t *version)
{
    const char *F = __func__;
    if (!version)
        return pys__fail(F, PYS_E_ARG, "%s: version is NULL", F);
    *version = 0;
    pys_runtime *rt = pys__begin_h(F);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    PyObject *s = script_of(rt, script, F);
    PyObject *v = s ? pys__api.PyObject_GetAttrString(s, "version") : NULL;
    if (!s)
        rc = pys_last_error()->code;
    else if (!v)
        rc = pys__fail_py(rt, F);
    else
        *version = pys__api.PyLong_AsUnsignedLongLong(v);
    pys__api.Py_DecRef(v);
    pys__api.Py_DecRef(s);
    pys__end(rt);
    return rc;
}

/* ---- watching -------------------------------------------------------------- */

typedef struct watch {
    struct watch *next;
    uint64_t key;   /* the id of the handle pys_script_watch was given */
    pys_obj script; /* our own handle (dup) */
    pys_script_fn cb;
    void *ud;
    int ifd;
    int stop[2];
    pthread_t th;
    char *base; /* the file's name inside its directory */
} watch;

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static watch *watches;

static void *watch_main(void *arg)
{
    watch *w = arg;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        struct pollfd p[2] = {{w->ifd, POLLIN, 0}, {w->stop[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        bool hit = false;
        ssize_t n = read(w->ifd, buf, sizeof buf);
        for (char *q = buf; n > 0 && q < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)(void *)q;
            if (ev->len && strcmp(ev->name, w->base) == 0)
                hit = true;
            q += sizeof *ev + ev->len;
        }
        if (!hit)
            continue;
        /* Let a burst of events (truncate, write, close) settle. */
        struct pollfd s = {w->stop[0], POLLIN, 0};
        if (poll(&s, 1, 20) > 0)
            break;
        while (poll(p, 1, 0) > 0 && read(w->ifd, buf, sizeof buf) > 0)
            ;
        bool reloaded = false;
        int rc = pys_script_reload_if_changed(w->script, &reloaded);
        if (rc == PYS_E_CLOSED)
            break;
        if (rc != PYS_OK || reloaded)
            w->cb(w->ud, w->script, rc, reloaded);
    }
    return NULL;
}

static void watch_free(watch *w)
{
    close(w->ifd);
    close(w->stop[0]);
    close(w->stop[1]);
    free(w->base);
    free(w);
}

/* Stops w's thread and waits for it (no GIL held by this thread). */
static void watch_stop(watch *w)
{
    char c = 1;
    while (write(w->stop[1], &c, 1) < 0 && errno == EINTR)
        ;
    pthread_join(w->th, NULL);
}

/* Close hook (GIL held; no call is in flight any more, so a watcher either
 * waits in poll or gets PYS_E_CLOSED without the GIL). */
static void watch_close(pys_runtime *rt)
{
    (void)rt;
    pthread_mutex_lock(&watch_lock);
    watch *all = watches;
    watches = NULL;
    pthread_mutex_unlock(&watch_lock);
    while (all) {
        watch *w = all;
        all = w->next;
        watch_stop(w);
        watch_free(w); /* its handle died with the others */
    }
}

int pys_script_watch(pys_obj script, pys_script_fn cb, void *ud)
{
    const char *F = __func__;
    if (!cb)
        return pys__fail(F, PYS_E_ARG, "%s: the callback is NULL", F);
    pys_runtime *rt = pys__begin_h(F);
    if (!rt)
        return pys_last_error()->code;
    int rc = PYS_OK;
    watch *w = NULL;
    PyObject *s = script_of(rt, script, F);
    PyObject *po = s ? pys__api.PyObject_GetAttrString(s, "path") : NULL;
    const char *path = po ? pys__api.PyUnicode_AsUTF8AndSize(po, NULL) : NULL;
    if (!s) {
        rc = pys_last_error()->code;
        goto out;
    }
    if (!path) {
        rc = pys__fail_py(rt, F);
        goto out;
    }
    pthread_mutex_lock(&watch_lock);
    for (watch *x = watches; x; x = x->next)
        if (x->key == script.id)
            rc = pys__fail(F, PYS_E_STATE, "%s: the script is watched already", F);
    pthread_mutex_unlock(&watch_lock);
    if (rc != PYS_OK)
        goto out;
    pys__close_at(rt, PYS__CLOSE_WATCHES, watch_close);
    w = calloc(1, sizeof *w);
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (!w || !(w->base = pys__strdup(slash ? slash + 1 : path))) {
        rc = pys__fail(F, PYS_E_NOMEM, "%s: out of memory", F);
        goto out;
    }
    w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    w->stop[0] = w->stop[1] = -1;
    if (w->ifd < 0 || pipe(w->stop) < 0 ||
        inotify_add_watch(w->ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB) < 0) {
        rc = pys__fail(F, PYS_E_VALUE, "%s: cannot watch %s: %s", F, dir, strerror(errno));
        goto out;
    }
    w->key = script.id;
    w->script = pys_dup(script);
    w->cb = cb;
    w->ud = ud;
    if (!pys_ok(w->script)) {
        rc = pys_last_error()->code;
        goto out;
    }
    if (pthread_create(&w->th, NULL, watch_main, w) != 0) {
        pys_release(w->script);
        rc = pys__fail(F, PYS_E_NOMEM, "%s: cannot start the watch thread", F);
        goto out;
    }
    pthread_mutex_lock(&watch_lock);
    w->next = watches;
    watches = w;
    pthread_mutex_unlock(&watch_lock);
    w = NULL;
out:
    if (w) {
        if (w->ifd >= 0)
            close(w->ifd);
        if (w->stop[0] >= 0) {
            close(w->stop[0]);
            close(w->stop[1]);
        }
        free(w->base);
        free(w);
    }
    pys__api.Py_DecRef(po);
    pys__api.Py_DecRef(s);
    pys__end(rt);
    return rc;
}

int pys_script_unwatch(pys_obj script)
{
    const char *F = __func__;
    if (pys__tls_get()->gil_depth > 0)
        return pys__fail(F, PYS_E_STATE,
                         "%s: not from inside a pyshim call, batch or callback (the watch "
                         "thread may be waiting for the GIL this thread holds)",
                         F);
    pthread_mutex_lock(&watch_lock);
    watch **pp = &watches, *w = NULL;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->key == script.id) {
            if (pthread_equal((*pp)->th, pthread_self())) {
                pthread_mutex_unlock(&watch_lock);
                return pys__fail(F, PYS_E_STATE, "%s: not from the watch's own callback", F);
            }
            w = *pp;
            *pp = w->next;
            break;
        }
    pthread_mutex_unlock(&watch_lock);
    if (!w)
        return pys__fail(F, PYS_E_STATE, "%s: the script is not watched", F);
    watch_stop(w);
    pys_release(w->script);
    watch_free(w);
    return PYS_OK;
}
