/* The public probe: what pys_open would choose, and why, without loading
 * anything. */
#include <stdlib.h>
#include <string.h>

#include "loader/loader.h"
#include "core/runtime.h"
#include "core/error.h"
#include "api/api.h"

struct pys_probe_result {
    pys__probe probe;
    pys_candidate *c;
    pys_probe_step *steps;
};

int pys_probe(const pys_options *opts, pys_probe_result **out)
{
    if (!out)
        return pys__fail(__func__, PYS_E_ARG, "pys_probe: out is NULL");
    *out = NULL;
    pys_probe_result *r = calloc(1, sizeof *r);
    if (!r)
        return pys__fail(__func__, PYS_E_NOMEM, "pys_probe: out of memory");
    pys_options ro;
    pys__options_resolve(opts, &ro);
    pys__probe_opts po = pys__probe_opts_of(&ro);
    pys__diag d = {0};
    int rc = pys__probe_run(&po, &r->probe, &d);
    if (rc != PYS_OK && rc != PYS_E_NOTFOUND) {
        pys__fail_diag(__func__, &d);
        pys__diag_free(&d);
        pys__probe_free(&r->probe);
        free(r);
        return rc;
    }
    if (rc == PYS_E_NOTFOUND)
        pys__fail_diag(__func__, &d);
    pys__diag_free(&d);
    r->c = calloc(r->probe.n ? r->probe.n : 1, sizeof *r->c);
    r->steps = calloc(r->probe.nsteps ? r->probe.nsteps : 1, sizeof *r->steps);
    if (!r->c || !r->steps) {
        free(r->c);
        free(r->steps);
        pys__probe_free(&r->probe);
        free(r);
        return pys__fail(__func__, PYS_E_NOMEM, "pys_probe: out of memory");
    }
    for (size_t i = 0; i < r->probe.n; i++) {
        const pys__candidate *s = &r->probe.v[i];
        r->c[i] = (pys_candidate){
            .path = s->path ? s->path : "",
            .realpath = s->realpath ? s->realpath : "",
            .executable = s->executable ? s->executable : "",
            .prefix = s->prefix ? s->prefix : "",
            .source = pys__source_name(s->source),
            .reason = s->reason ? s->reason : "",
            .major = s->major,
            .minor = s->minor,
            .free_threaded = s->free_threaded,
            .accepted = s->accepted,
            .chosen = (int)i == r->probe.chosen,
            .debug = s->debug,
            .untested = s->untested,
            .full_version = s->full_version,
            .abiflags = s->free_threaded ? (s->debug ? "td" : "t") : (s->debug ? "d" : ""),
            .micro = s->micro,
            .reason_code = s->code ? s->code : "",
        };
    }
    for (size_t i = 0; i < r->probe.nsteps; i++) {
        const pys__step *s = &r->probe.steps[i];
        r->steps[i] = (pys_probe_step){
            .source = s->source,
            .status = s->status,
            .detail = s->detail ? s->detail : "",
            .file = s->file ? s->file : "",
        };
    }
    *out = r;
    return PYS_OK;
}

size_t pys_probe_count(const pys_probe_result *p)
{
    return p ? p->probe.n : 0;
}

const pys_candidate *pys_probe_get(const pys_probe_result *p, size_t i)
{
    return p && i < p->probe.n ? &p->c[i] : NULL;
}

int pys_probe_chosen(const pys_probe_result *p)
{
    return p ? p->probe.chosen : -1;
}

const char *pys_probe_venv(const pys_probe_result *p)
{
    return p ? p->probe.venv : NULL;
}

size_t pys_probe_step_count(const pys_probe_result *p)
{
    return p ? p->probe.nsteps : 0;
}

const pys_probe_step *pys_probe_step_get(const pys_probe_result *p, size_t i)
{
    return p && i < p->probe.nsteps ? &p->steps[i] : NULL;
}

const char *pys_probe_decided_by(const pys_probe_result *p)
{
    return p && p->probe.chosen >= 0 && p->probe.decided_source ? p->probe.decided_source : "";
}

const char *pys_probe_decided_file(const pys_probe_result *p)
{
    return p && p->probe.chosen >= 0 && p->probe.decided_file ? p->probe.decided_file : "";
}

const char *pys_probe_decision(const pys_probe_result *p)
{
    return p && p->probe.chosen >= 0 && p->probe.decision ? p->probe.decision : "";
}

void pys_probe_free(pys_probe_result *p)
{
    if (!p)
        return;
    pys__probe_free(&p->probe);
    free(p->c);
    free(p->steps);
    free(p);
}

