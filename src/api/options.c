/* pys_options: the defaults filled in one place, the resolved copy the
 * open runtime keeps (pys_get_options), and the search they ask for. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "loader/loader.h"
#include "core/runtime.h"
#include "core/error.h"
#include "api/api.h"

/* Every default of pys_options, in one place (sokol's _sg_desc_defaults):
 * *out is a copy of *in (NULL: all zero) with each zero field that has a
 * default given it. pys_open, pys_main and pys_probe use only this copy;
 * pys_get_options returns it. Fields whose zero means "Python decides"
 * (utf8_mode, coerce_c_locale) or "search" (library_path, python, venv:
 * the choice is pys_get_info's) stay as given. */
void pys__options_resolve(const pys_options *in, pys_options *out)
{
    static const char *const default_argv[] = {"", NULL};
    *out = in ? *in : (pys_options){0};
    if (!out->bridge_module)
        out->bridge_module = "c_bridge";
    if (!out->argv)
        out->argv = default_argv;
    if (!out->refuse_untested && !out->ignore_environment) {
        const char *ru = getenv("PYSHIM_REFUSE_UNTESTED");
        out->refuse_untested = ru && *ru && strcmp(ru, "0") != 0;
    }
}

/* The resolved options of the open runtime (pys_get_options): their
 * strings and arrays live in one block owned here, made by pys_open and
 * freed with the runtime's strings. Written only under open_lock while
 * the runtime is OPENING or CLOSING. */
static pys_options open_opts;
static char *open_opts_mem;

/* Copies into one block in two passes over the same code: the first
 * (buf NULL) only counts the bytes. */
typedef struct copier {
    char *buf;
    size_t used;
} copier;

static void *cp_take(copier *c, size_t n, size_t align)
{
    size_t at = (c->used + align - 1) / align * align;
    c->used = at + n;
    return c->buf ? c->buf + at : NULL;
}

static const char *cp_str(copier *c, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = cp_take(c, n, 1);
    if (p)
        memcpy(p, s, n);
    return p;
}

static const char *const *cp_strv(copier *c, const char *const *v)
{
    if (!v)
        return NULL;
    size_t n = 0;
    while (v[n])
        n++;
    const char **p = cp_take(c, (n + 1) * sizeof *p, _Alignof(const char *));
    for (size_t i = 0; i < n; i++) {
        const char *s = cp_str(c, v[i]);
        if (p)
            p[i] = s;
    }
    if (p)
        p[n] = NULL;
    return p;
}

static void cp_options(copier *c, const pys_options *from, pys_options *to)
{
    *to = *from;
    to->library_path = cp_str(c, from->library_path);
    to->python = cp_str(c, from->python);
    to->venv = cp_str(c, from->venv);
    to->uv_project = cp_str(c, from->uv_project);
    to->dependencies = cp_strv(c, from->dependencies);
    to->find_links = cp_strv(c, from->find_links);
    to->index_url = cp_str(c, from->index_url);
    to->bridge_module = cp_str(c, from->bridge_module);
    to->argv = cp_strv(c, from->argv);
    to->project_dir = cp_str(c, from->project_dir);
    if (!from->bridge_funcs)
        return;
    pys_bridge_func *f = cp_take(c, from->nbridge_funcs * sizeof *f, _Alignof(pys_bridge_func));
    for (size_t i = 0; i < from->nbridge_funcs; i++) {
        pys_bridge_func g = from->bridge_funcs[i];
        g.name = cp_str(c, g.name);
        g.signature = cp_str(c, g.signature);
        g.doc = cp_str(c, g.doc);
        g.text_signature = cp_str(c, g.text_signature);
        if (f)
            f[i] = g;
    }
    to->bridge_funcs = f;
}

/* Makes open_opts the owned copy of the resolved options *ro. Under
 * open_lock, while opening. PYS_OK or PYS_E_NOMEM (error set). */
int pys__options_keep(const pys_options *ro)
{
    copier c = {0};
    pys_options counted;
    cp_options(&c, ro, &counted);
    c.buf = malloc(c.used ? c.used : 1);
    if (!c.buf)
        return pys__fail("pys_open", PYS_E_NOMEM, "pys_open: out of memory");
    c.used = 0;
    cp_options(&c, ro, &open_opts);
    open_opts_mem = c.buf;
    return PYS_OK;
}

void pys__options_drop(void)
{
    free(open_opts_mem);
    open_opts_mem = NULL;
    open_opts = (pys_options){0};
}

int pys_get_options(pys_runtime *rt, pys_options *out)
{
    if (!out)
        return pys__fail(__func__, PYS_E_ARG, "pys_get_options: out is NULL");
    if (!rt || rt != &pys__the_runtime)
        return pys__fail(__func__, PYS_E_ARG, "pys_get_options: not a pyshim runtime");
    if (atomic_load(&rt->state) != PYS__ST_OPEN)
        return pys__fail(__func__, PYS_E_CLOSED, "pys_get_options: the runtime is not open");
    *out = open_opts;
    return PYS_OK;
}

const pys_options *pys__options_kept(void)
{
    return &open_opts;
}

/* The search that resolved options *ro ask for. */
pys__probe_opts pys__probe_opts_of(const pys_options *ro)
{
    return (pys__probe_opts){
        .library_path = ro->library_path,
        .python = ro->python,
        .venv = ro->venv,
        .prefer_uv = ro->prefer_uv,
        .use_env = !ro->ignore_environment,
        .refuse_untested = ro->refuse_untested,
        .project_dir = ro->project_dir,
        .project_venv = ro->project_venv,
        .prefer_newest = ro->prefer_newest,
    };
}

