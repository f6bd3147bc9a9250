/* Discovery: list every libpython this process could load, say why each one
 * is accepted or rejected, and choose one, without loading anything and
 * without starting a process (this runs at every pys_open).
 *
 * Design notes: docs/internals.md, "src/loader/discover.c". */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/discover_internal.h"
#include "loader/ldcache.h"
#include "loader/loader.h"
#include "loader/parse.h"
#include "loader/pyvenv_cfg.h"
#include "loader/pyversion_file.h"
#include "pyshim.h"

/* Returns false when already present (or on OOM, with c->oom set). */
bool pys__disc_strset_add(pys__disc_ctx *c, pys__disc_strset *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return false;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **v = pys__realloc_n(s->v, cap, sizeof *v);
        if (!v) {
            c->oom = true;
            return false;
        }
        s->v = v;
        s->cap = cap;
    }
    char *d = pys__strdup(str);
    if (!d) {
        c->oom = true;
        return false;
    }
    s->v[s->n++] = d;
    return true;
}

void pys__disc_strset_free(pys__disc_strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (pys__disc_strset){0};
}

PYS__PRINTF(2, 3)
void pys__disc_place(pys__disc_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
    if (s)
        pys__diag_searched(&c->log, "%s", s);
    free(s);
    c->nplaces++;
}

/* Sets the caller's diag: code, message and every line logged so far. */
PYS__PRINTF(4, 5)
int pys__disc_fail(pys__disc_ctx *c, pys__diag *d, int code, const char *fmt, ...)
{
    if (!d)
        return code;
    va_list ap;
    va_start(ap, fmt);
    char *msg = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
    pys__diag_set(d, code, "%s", msg ? msg : "out of memory");
    free(msg);
    for (size_t i = 0; i < c->log.nsearched; i++)
        pys__diag_searched(d, "%s", c->log.searched[i]);
    return code;
}

const char *pys__source_name(pys__source s)
{
    switch (s) {
    case PYS__SRC_EXPLICIT: return "explicit";
    case PYS__SRC_VENV: return "venv";
    case PYS__SRC_CONDA: return "conda";
    case PYS__SRC_PIXI: return "pixi";
    case PYS__SRC_UV: return "uv";
    case PYS__SRC_PATH: return "path";
    case PYS__SRC_PYENV: return "pyenv";
    case PYS__SRC_LDCONFIG: return "ldconfig";
    case PYS__SRC_SYSTEM: return "system";
    }
    return "unknown";
}

/* ---- the account: one step per source ---------------------------------- */

PYS__PRINTF(5, 6)
void pys__disc_step(pys__disc_ctx *c, const char *source, const char *status, const char *file, const char *fmt, ...)
{
    pys__probe *p = c->out;
    if (p->nsteps == p->capsteps) {
        size_t cap = p->capsteps ? p->capsteps * 2 : 16;
        pys__step *v = realloc(p->steps, cap * sizeof *v);
        if (!v) {
            c->oom = true;
            return;
        }
        p->steps = v;
        p->capsteps = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *detail = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
    char *f = file ? chk(c, pys__strdup(file)) : NULL;
    p->steps[p->nsteps++] = (pys__step){.source = source, .status = status, .file = f, .detail = detail};
}

/* Records the choice: index, the step that made it, its file, a sentence. */
PYS__PRINTF(5, 6)
void pys__disc_decide(pys__disc_ctx *c, int idx, const char *source, const char *file, const char *fmt, ...)
{
    pys__probe *p = c->out;
    p->chosen = idx;
    p->decided_source = source;
    free(p->decided_file);
    p->decided_file = file ? chk(c, pys__strdup(file)) : NULL;
    va_list ap;
    va_start(ap, fmt);
    free(p->decision);
    p->decision = chk(c, pys__vasprintf(fmt, ap));
    va_end(ap);
}

/* ---- version requests: the pin, or the project's .python-version -------- */

/* DIR/name in start or its nearest parent holding it; malloc'd or NULL. */
char *pys__disc_find_upward(pys__disc_ctx *c, const char *start, const char *name, bool want_dir)
{
    char *dir = pys__realpath(start);
    while (dir) {
        char *f = join(c, dir, name);
        if (f && (want_dir ? pys__is_dir(f) : pys__is_file(f))) {
            free(dir);
            return f;
        }
        free(f);
        if (strcmp(dir, "/") == 0) {
            free(dir);
            return NULL;
        }
        char *up = chk(c, pys__path_dir(dir));
        free(dir);
        dir = up;
    }
    return NULL;
}

static void req_label(const pys__pyver *r, char *buf, size_t n)
{
    if (r->line)
        snprintf(buf, n, "%s (line %u)", r->text, r->line);
    else
        snprintf(buf, n, "%s", r->text);
}

/* A NAME request is a pyenv version dir: its realpath, or NULL. */
static char *pyenv_name_prefix(pys__disc_ctx *c, const char *name)
{
    if (!c->pyenv_root)
        return NULL;
    char *rel = chk(c, pys__asprintf("versions/%s", name));
    char *dir = rel ? join(c, c->pyenv_root, rel) : NULL;
    free(rel);
    char *rp = dir && pys__is_dir(dir) ? pys__realpath(dir) : NULL;
    free(dir);
    return rp;
}

/* Fills c->req from the pin, else from the nearest .python-version. Returns
 * PYS_OK or PYS_E_ARG (malformed pin). */
static int read_requests(pys__disc_ctx *c, const char *pin, pys__diag *d)
{
    const pys__probe_opts *o = c->o;
    if (pin) {
        c->out->pin = chk(c, pys__strdup(pin));
        if (!c->out->pin)
            return PYS_E_NOMEM;
        if (!pys__parse_pin(pin, &c->pin_major, &c->pin_minor, &c->pin_micro, &c->pin_ft, &c->pin_debug))
            return pys__disc_fail(c, d, PYS_E_ARG,
                        "invalid Python version pin '%s' (from %s): expected MAJOR, MAJOR.MINOR or "
                        "MAJOR.MINOR.PATCH with an optional 't' for free-threaded and 'd' for debug, "
                        "like 3, 3.12, 3.12.4, 3.13t or 3.13d",
                        pin, c->pin_from);
        c->pinned = true;
        pys__pyversion_parse(pin, strlen(pin), &c->req[0], 1);
        c->req[0].line = 0;
        c->nreq = 1;
        pys__disc_step(c, "request", "used", c->pin_from, "pin %s from %s%s", pin, c->pin_from,
             c->o->project_dir ? " (a .python-version is not read)" : "");
        return PYS_OK;
    }
    if (o->prefer_newest) {
        pys__disc_step(c, "request", "skipped", NULL, "prefer_newest: no .python-version is read");
        return PYS_OK;
    }
    if (!nonempty(o->project_dir)) {
        pys__disc_step(c, "request", "none", NULL, "no pin, and no project directory to find a .python-version in");
        return PYS_OK;
    }
    char *file = pys__disc_find_upward(c, o->project_dir, ".python-version", false);
    if (!file) {
        pys__disc_place(c, "%s and its parents: no .python-version", o->project_dir);
        pys__disc_step(c, "request", "none", NULL, "no pin, and no .python-version in %s or its parents",
             o->project_dir);
        return PYS_OK;
    }
    pys__disc_place(c, "%s", file);
    size_t len = 0;
    char *text = pys__read_file(file, &len);
    pys__pyver all[64];
    size_t n = text ? pys__pyversion_parse(text, len, all, 64) : 0;
    free(text);
    if (n > 64)
        n = 64;
    pys__sb b = {0};
    for (size_t i = 0; i < n; i++) {
        char label[160];
        req_label(&all[i], label, sizeof label);
        if (all[i].kind == PYS__PYVER_UNSUPPORTED) {
            pys__sb_addf(&b, "%s%s: ignored, %s", b.len ? "; " : "", label, all[i].why);
            continue;
        }
        if (c->nreq == sizeof c->req / sizeof *c->req) {
            pys__sb_addf(&b, "%s%s: ignored, too many lines", b.len ? "; " : "", label);
            continue;
        }
        size_t k = c->nreq++;
        c->req[k] = all[i];
        if (all[i].kind == PYS__PYVER_NAME) {
            c->name_prefix[k] = pyenv_name_prefix(c, all[i].text);
            pys__sb_addf(&b, "%s%s: pyenv version %s", b.len ? "; " : "", label,
                         c->name_prefix[k] ? c->name_prefix[k] : "(not installed)");
        } else {
            pys__sb_addf(&b, "%s%s%s", b.len ? "; " : "", label,
                         all[i].kind == PYS__PYVER_SYSTEM ? ": the Python outside pyenv" : "");
        }
    }
    char *what = chk(c, pys__sb_take(&b));
    c->req_file = file;
    pys__disc_step(c, "request", c->nreq ? "used" : "none", file, "%s: %s%s", file,
         what ? what : n ? "?" : "empty",
         c->nreq > 1 ? " (later lines are fallbacks)" : "");
    free(what);
    return PYS_OK;
}

bool pys__disc_req_matches(const pys__disc_ctx *c, int ri, const pys__candidate *k)
{
    if (!k->accepted)
        return false;
    if (ri < 0)
        return true;
    const pys__pyver *r = &c->req[ri];
    switch (r->kind) {
    case PYS__PYVER_VERSION:
        return k->major == r->major && (r->minor < 0 || k->minor == r->minor) &&
               (!r->free_threaded || k->free_threaded) && (!r->debug || k->debug) &&
               (r->micro < 0 || k->micro == r->micro);
    case PYS__PYVER_NAME: {
        if (!c->name_prefix[ri] || !k->prefix)
            return false;
        char *rp = pys__realpath(k->prefix);
        bool yes = rp && strcmp(rp, c->name_prefix[ri]) == 0;
        free(rp);
        return yes;
    }
    case PYS__PYVER_SYSTEM: {
        if (k->source == PYS__SRC_PYENV)
            return false;
        char *root = c->pyenv_root ? pys__realpath(c->pyenv_root) : NULL;
        bool yes = !root || !k->realpath || !pys__disc_under_dir(k->realpath, root);
        free(root);
        return yes;
    }
    case PYS__PYVER_UNSUPPORTED:
        break;
    }
    return false;
}

/* The best accepted candidate matching request ri (-1: any), of source
 * `src` (-1: any); -1 when none. */
static int best_for(const pys__disc_ctx *c, int ri, int src)
{
    const pys__probe *p = c->out;
    int best = -1;
    for (size_t i = 0; i < p->n; i++)
        if (pys__disc_req_matches(c, ri, &p->v[i]) && (src < 0 || (int)p->v[i].source == src) &&
            (best < 0 || pys__disc_better(&p->v[i], &p->v[best])))
            best = (int)i;
    return best;
}

/* ---- the probe ---------------------------------------------------------- */

static int run(pys__disc_ctx *c, pys__diag *d)
{
    const pys__probe_opts *o = c->o;
    pys__probe *out = c->out;
    c->venv_minor = -1;
    c->pin_micro = -1;
    c->home = nonempty(getenv("HOME"));
    const char *root = nonempty(getenv("PYENV_ROOT"));
    c->pyenv_root = root ? chk(c, pys__strdup(root)) : c->home ? join(c, c->home, ".pyenv") : NULL;

    c->refuse_untested = o->refuse_untested;
    if (!c->refuse_untested) {
        const char *ru = env(c, "PYSHIM_REFUSE_UNTESTED");
        c->refuse_untested = ru && strcmp(ru, "0") != 0;
    }
    const char *pin = nonempty(o->python);
    c->pin_from = "options.python";
    if (!pin) {
        pin = env(c, "PYSHIM_PYTHON_VERSION");
        c->pin_from = "PYSHIM_PYTHON_VERSION";
    }
    /* A malformed pin is an error before anything else is looked at. */
    if (pin && !pys__parse_pin(pin, NULL, NULL, NULL, NULL, NULL))
        return read_requests(c, pin, d);

    /* 1. explicit; 2. an active environment */
    const char *lib = nonempty(o->library_path), *lib_from = "library_path";
    if (!lib) {
        lib = env(c, "PYSHIM_LIBPYTHON");
        lib_from = "PYSHIM_LIBPYTHON";
    }
    const char *venv = nonempty(o->venv), *venv_from = "options.venv";
    if (!venv) {
        venv = env(c, "VIRTUAL_ENV");
        venv_from = "VIRTUAL_ENV";
    }
    if (pin) {
        c->pinned = true;
        pys__parse_pin(pin, &c->pin_major, &c->pin_minor, &c->pin_micro, &c->pin_ft, &c->pin_debug);
        out->pin = chk(c, pys__strdup(pin));
    }
    if (venv) {
        int rc = pys__disc_venv_resolve(c, venv, venv_from, d);
        if (rc != PYS_OK) {
            pys__disc_step(c, "venv", "failed", venv_from, "%s", d && d->message ? d->message : "?");
            return rc;
        }
    }
    if (lib) {
        int rc = pys__disc_do_explicit(c, lib, lib_from, d);
        pys__disc_step(c, "explicit", rc == PYS_OK ? "chosen" : "failed", lib_from, "%s %s%s%s", lib_from, lib,
             rc == PYS_OK ? "" : ": ", rc == PYS_OK ? "" : d && d->message ? d->message : "?");
        if (rc == PYS_OK)
            pys__disc_decide(c, out->chosen, "explicit", lib_from, "named by %s", lib_from);
        return rc;
    }
    pys__disc_step(c, "explicit", "none", NULL, "no library_path, no PYSHIM_LIBPYTHON");
    if (venv) {
        int rc = pys__disc_venv_choose(c, d);
        if (rc == PYS_OK) {
            pys__disc_step(c, "venv", "chosen", venv_from, "%s (from %s)", out->venv, venv_from);
            pys__disc_decide(c, out->chosen, "venv", venv_from, "the virtual environment %s (from %s)", out->venv,
                   venv_from);
        } else {
            pys__disc_step(c, "venv", "failed", venv_from, "%s", d && d->message ? d->message : "?");
        }
        return rc;
    }
    pys__disc_step(c, "venv", "none", NULL, "no venv option, no VIRTUAL_ENV");
    int rc = pys__disc_do_envs(c, d);
    if (rc != 1)
        return rc;

    /* 3. a version request; the project's .venv */
    c->pinned = false; /* read_requests sets it again */
    free(out->pin);
    out->pin = NULL;
    rc = read_requests(c, pin, d);
    if (rc != PYS_OK)
        return rc;
    rc = pys__disc_do_project_venv(c, d);
    if (rc != 1)
        return rc;
    bool pin_supported =
        !c->pinned || (c->pin_major == 3 && (c->pin_minor < 0 || (c->pin_minor >= PYS__MIN_MINOR &&
                                                                 (c->pin_minor <= PYS__MAX_MINOR ||
                                                                  !c->refuse_untested))));

    /* 4. the shell's interpreter (per request); 5. the search */
    bool uv_done = false;
    if (o->prefer_uv) {
        pys__disc_do_uv(c);
        uv_done = true;
    }
    size_t nr = c->nreq ? c->nreq : 1;
    pys__disc_shell sh[16];
    for (size_t i = 0; i < nr; i++) {
        sh[i] = (pys__disc_shell){.cand = -1};
        if (!o->prefer_newest)
            pys__disc_shell_find(c, c->nreq ? (int)i : -1, &sh[i]);
    }
    pys__disc_do_path(c);
    pys__disc_do_pyenv(c);
    pys__disc_do_ldcache(c);
    pys__disc_do_system(c);
    if (c->oom) {
        for (size_t i = 0; i < nr; i++)
            pys__disc_shell_free(&sh[i]);
        return PYS_E_NOMEM;
    }

    const char *req_from = c->req_file ? c->req_file : c->pin_from;
    for (int pass = 0; pass < 2 && out->chosen < 0; pass++) {
        if (pass == 1) {
            if (uv_done)
                break;
            pys__disc_do_uv(c); /* no earlier source applied */
            uv_done = true;
        }
        for (size_t i = 0; i < nr && out->chosen < 0; i++) {
            int ri = c->nreq ? (int)i : -1;
            char label[200] = "";
            if (ri >= 0) {
                char l[160];
                req_label(&c->req[ri], l, sizeof l);
                snprintf(label, sizeof label, "%s by %s (%s)", c->req_file ? "pinned" : "pinned",
                         req_from, l);
            }
            if (pass == 0 && o->prefer_uv) {
                int b = best_for(c, ri, PYS__SRC_UV);
                if (b >= 0) {
                    pys__disc_step(c, "uv", "chosen", NULL, "prefer_uv: the newest uv-managed match");
                    pys__disc_decide(c, b, "uv", ri >= 0 ? req_from : NULL, "%s%sthe newest uv-managed Python (prefer_uv)",
                           label, *label ? "; " : "");
                    break;
                }
            }
            if (pass == 0 && !o->prefer_newest) {
                char *txt = pys__disc_shell_text(c, &sh[i]);
                bool use = sh[i].cand >= 0 && !sh[i].problem && pys__disc_req_matches(c, ri, &out->v[sh[i].cand]);
                if (sh[i].cand >= 0 && !sh[i].problem && !use) {
                    char *x = chk(c, pys__asprintf("%s; it does not match the request", txt ? txt : "?"));
                    free(txt);
                    txt = x;
                }
                pys__disc_step(c, "shell", use ? "chosen" : sh[i].found ? "skipped" : "none", sh[i].origin, "%s%s%s",
                     *label ? label : "", *label ? ": " : "", txt ? txt : "?");
                if (use) {
                    const char *file = ri >= 0 ? req_from : sh[i].origin ? sh[i].origin : "PATH";
                    pys__disc_decide(c, sh[i].cand, "shell", file, "%s%sthe shell's %s (%s%s%s)", label,
                           *label ? "; " : "", sh[i].name, sh[i].found,
                           sh[i].pyenv ? ", pyenv version set by " : "",
                           sh[i].pyenv ? (sh[i].origin ? sh[i].origin : "?") : "");
                }
                free(txt);
                if (use)
                    break;
            }
            int b = best_for(c, ri, -1);
            size_t nacc = 0;
            for (size_t k = 0; k < out->n; k++)
                nacc += pys__disc_req_matches(c, ri, &out->v[k]);
            pys__disc_step(c, pass ? "uv" : "search", b >= 0 ? "chosen" : "none", NULL,
                 "%s%s%zu accepted candidate%s%s%s", label, *label ? ": " : "", nacc, nacc == 1 ? "" : "s",
                 pass ? " after scanning uv-managed Pythons (nothing else was found)" : "",
                 b >= 0 ? "; the newest wins (a patch release breaks ties)" : "");
            if (b >= 0)
                pys__disc_decide(c, b, pass ? "uv" : "search", ri >= 0 ? req_from : NULL, "%s%sthe newest %s",
                       label, *label ? "; " : "",
                       pass ? "uv-managed Python (nothing else was found)" : o->prefer_newest ? "supported Python (prefer_newest)" : "supported Python found");
        }
    }
    if (!uv_done)
        pys__disc_step(c, "uv", "skipped", NULL, "uv-managed Pythons are looked at with prefer_uv, or when nothing else is found");

    /* What stopped the shell's interpreter, for the error. */
    pys__sb why = {0};
    for (size_t i = 0; i < nr; i++)
        if (sh[i].problem)
            pys__sb_addf(&why, "; the shell's %s (%s) cannot be used: %s", sh[i].name, sh[i].found,
                         sh[i].problem);
    char *shell_why = chk(c, pys__sb_take(&why));
    for (size_t i = 0; i < nr; i++)
        pys__disc_shell_free(&sh[i]);
    if (c->oom) {
        free(shell_why);
        return PYS_E_NOMEM;
    }
    if (out->chosen >= 0) {
        free(shell_why);
        return PYS_OK;
    }
    const char *sw = shell_why ? shell_why : "";
    if (c->req_file) {
        pys__sb b = {0};
        for (size_t i = 0; i < c->nreq; i++) {
            char l[160];
            req_label(&c->req[i], l, sizeof l);
            pys__sb_addf(&b, "%s%s", i ? ", " : "", l);
        }
        char *asks = chk(c, pys__sb_take(&b));
        rc = pys__disc_fail(c, d, PYS_E_NOTFOUND,
                  "%s asks for %s, and no Python with a shared libpython matches (searched %zu places, "
                  "%zu candidates rejected)%s",
                  c->req_file, asks ? asks : "?", c->nplaces, c->nrejected, sw);
        free(asks);
    } else if (!pin_supported) {
        /* NOTFOUND, not ARG: the pin is well-formed, and pys_probe still
         * shows the candidates it rejected. */
        rc = pys__disc_fail(c, d, PYS_E_NOTFOUND,
                  "Python %s (pin from %s) is not supported: pyshim supports 3.%d to 3.%d%s "
                  "(searched %zu places, %zu candidates rejected)",
                  pin, c->pin_from, PYS__MIN_MINOR, PYS__MAX_MINOR,
                  c->refuse_untested ? " (newer ones are refused by refuse_untested)" : "",
                  c->nplaces, c->nrejected);
    } else {
        rc = pys__disc_fail(c, d, PYS_E_NOTFOUND,
                  "no usable libpython found (searched %zu places, %zu candidates rejected; %s%s)%s",
                  c->nplaces, c->nrejected, pin ? "pin " : "no pin", pin ? pin : "", sw);
    }
    free(shell_why);
    return rc;
}

/* Every source gets its line: those not reached say why. */
static void finish_steps(pys__disc_ctx *c, int rc)
{
    static const char *const order[] = {"explicit", "venv",  "conda", "pixi",  "request",
                                        "project-venv", "shell", "uv",    "search"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        bool seen = false;
        for (size_t k = 0; k < c->out->nsteps && !seen; k++)
            seen = strcmp(c->out->steps[k].source, order[i]) == 0;
        if (seen)
            continue;
        if (rc != PYS_OK)
            pys__disc_step(c, order[i], "skipped", NULL, "not asked: the probe stopped at an error above");
        else
            pys__disc_step(c, order[i], "skipped", NULL, "%s",
                 strcmp(order[i], "shell") == 0 && c->o->prefer_newest
                     ? "prefer_newest: the shell's interpreter has no precedence"
                     : "not asked: an earlier source chose");
    }
    /* In the documented order (stable: a source's lines keep theirs). */
    pys__step *v = c->out->steps;
    for (size_t i = 1; i < c->out->nsteps; i++) {
        pys__step x = v[i];
        size_t rank = 0, j = i;
        while (rank < sizeof order / sizeof *order && strcmp(order[rank], x.source) != 0)
            rank++;
        for (; j > 0; j--) {
            size_t r2 = 0;
            while (r2 < sizeof order / sizeof *order && strcmp(order[r2], v[j - 1].source) != 0)
                r2++;
            if (r2 <= rank)
                break;
            v[j] = v[j - 1];
        }
        v[j] = x;
    }
}

int pys__probe_run(const pys__probe_opts *o, pys__probe *out, pys__diag *d)
{
    static const pys__probe_opts defaults = {0};
    if (!out)
        return pys__diag_set(d, PYS_E_ARG, "pys__probe_run: out is NULL");
    *out = (pys__probe){.chosen = -1};
    pys__disc_ctx c = {.o = o ? o : &defaults, .out = out};
    int rc = run(&c, d);
    finish_steps(&c, rc);
    if (c.oom || rc == PYS_E_NOMEM)
        rc = pys__diag_set(d, PYS_E_NOMEM, "out of memory while looking for libpython");
    if (rc != PYS_OK)
        out->chosen = -1;
    pys__diag_free(&c.log);
    pys__disc_strset_free(&c.dirs);
    pys__disc_strset_free(&c.path_dirs);
    pys__disc_strset_free(&c.prefixes);
    free(c.venv_home);
    free(c.venv_base_prefix);
    free(c.pyenv_root);
    free(c.req_file);
    for (size_t i = 0; i < sizeof c.name_prefix / sizeof *c.name_prefix; i++)
        free(c.name_prefix[i]);
    return rc;
}

void pys__probe_free(pys__probe *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        pys__candidate *k = &p->v[i];
        free(k->path);
        free(k->realpath);
        free(k->executable);
        free(k->prefix);
        free(k->reason);
    }
    free(p->v);
    free(p->venv);
    free(p->venv_executable);
    free(p->pin);
    for (size_t i = 0; i < p->nsteps; i++) {
        free(p->steps[i].file);
        free(p->steps[i].detail);
    }
    free(p->steps);
    free(p->decided_file);
    free(p->decision);
    *p = (pys__probe){.chosen = -1};
}
