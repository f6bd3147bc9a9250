/* pyshim — the command-line face of the library: which Python would this
 * binary load, and run code through the shim on it.
 *
 *   pyshim probe [--json | --why] [selection]
 *   pyshim run   [selection] [python options] [-c CMD | -m MOD | FILE | -] [ARGS...]
 *   pyshim eval  [selection] EXPR
 *   pyshim deps  (list [--json] | clear)
 *   pyshim gen   [selection] MODULE [--prefix NAME] [--only f,g] [--out DIR] (tools/gen.c)
 *
 * run is `python` on the chosen interpreter: after pyshim's own selection
 * flags, the rest of the command line goes to CPython's own main
 * (pys_main), which parses it, runs it and gives its exit status exactly
 * as `python` does. A pyshim error (no Python, bad selection) exits 2 with
 * the code name, message and the places tried. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pyshim.h>

#define MAX_WITH 64

typedef struct cli {
    pys_options o;
    const char *with[MAX_WITH + 1];
    size_t nwith;
    const char *links[MAX_WITH + 1];
    size_t nlinks;
    bool json;
    bool load;
    bool why;
    bool verbose;
} cli;

static void usage(FILE *f)
{
    fputs("usage: pyshim probe [--json | --why] [--load] [SELECTION]\n"
          "       pyshim run [SELECTION] [PYTHON-OPTIONS] [-c CMD | -m MOD | FILE | -] [ARGS...]\n"
          "       pyshim eval [SELECTION] EXPR\n"
          "       pyshim deps (list [--json] | clear)\n"
          "       pyshim gen [SELECTION] MODULE [--prefix NAME] [--only f,g,Class] [--out DIR]\n"
          "                  [--check DIR] [--report] [--path DIR]...  (typed C bindings)\n"
          "       pyshim version\n"
          "\n"
          "SELECTION:\n"
          "  --python VER       pin a version: 3.12, 3.12.4, 3.13t (free-threaded)\n"
          "  --newest           the newest supported Python wins (ignore .python-version\n"
          "                     and the shell's python3)\n"
          "  --library PATH     load this libpython (no search)\n"
          "  --venv DIR         use this virtual environment\n"
          "  --uv               also consider uv-managed Pythons; build with uv\n"
          "  --uv-project DIR   `uv sync` the project and use its .venv\n"
          "  --with REQ         a dependency (repeatable): cached venv\n"
          "  --find-links DIR   extra wheel directory for --with (repeatable)\n"
          "  --index-url URL    package index for --with\n"
          "  --no-index         do not use any package index for --with\n"
          "  -v, --verbose      log what pyshim does to stderr (run: --verbose only;\n"
          "                     -v is Python's)\n"
          "\n"
          "probe --load also opens the chosen Python and reports what it says after init\n"
          "(full version, ABI flags, whether the GIL is enabled).\n"
          "\n"
          "run: everything after SELECTION is Python's own command line, parsed by\n"
          "the chosen Python as `python` parses it (-X, -u, -I, -E, -O, -W, -i, --,\n"
          "--version, no target: the REPL, ...).\n"
          "\n"
          "Without a selection: an active venv / conda / pixi environment, else the\n"
          "nearest .python-version or .venv upward from the working directory, else\n"
          "the python3 your shell would run (pyenv shims resolved), else the newest.\n"
          "`pyshim probe --why` says which source decided and why.\n"
          "\n"
          "Environment: PYSHIM_LIBPYTHON, PYSHIM_PYTHON_VERSION, VIRTUAL_ENV, CONDA_PREFIX,\n"
          "PIXI_PROJECT_ROOT, PYENV_VERSION, PATH, PYSHIM_REFUSE_UNTESTED=1 (refuse\n"
          "Pythons newer than the tested range).\n",
          f);
}

static void log_stderr(pys_log_level level, const char *msg, void *ud)
{
    (void)ud;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    fprintf(stderr, "pyshim: %s: %s\n", names[level & 3], msg);
}

static int report(const char *what)
{
    const pys_error *e = pys_last_error();
    fprintf(stderr, "pyshim: %s: %s: %s\n", what, pys_err_name(e->code), e->message);
    for (size_t i = 0; i < e->nsearched; i++)
        fprintf(stderr, "  tried: %s\n", e->searched[i]);
    return 2;
}

/* Parses selection flags at argv[*i]; returns 1 if consumed, 0 if not a
 * selection flag, -1 on a usage error. short_v: whether -v is pyshim's
 * (not for run, where it is Python's). */
static int selection_ex(cli *c, int argc, char **argv, int *i, bool short_v)
{
    const char *a = argv[*i];
    const char *const with_val[] = {"--python", "--library", "--venv", "--uv-project", "--with",
                                    "--find-links", "--index-url"};
    for (size_t k = 0; k < sizeof with_val / sizeof with_val[0]; k++) {
        if (strcmp(a, with_val[k]) != 0)
            continue;
        if (*i + 1 >= argc) {
            fprintf(stderr, "pyshim: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++*i];
        switch (k) {
        case 0: c->o.python = v; break;
        case 1: c->o.library_path = v; break;
        case 2: c->o.venv = v; break;
        case 3: c->o.uv_project = v; break;
        case 4:
            if (c->nwith == MAX_WITH) {
                fprintf(stderr, "pyshim: too many --with\n");
                return -1;
            }
            c->with[c->nwith++] = v;
            c->o.dependencies = c->with;
            break;
        case 5:
            if (c->nlinks == MAX_WITH) {
                fprintf(stderr, "pyshim: too many --find-links\n");
                return -1;
            }
            c->links[c->nlinks++] = v;
            c->o.find_links = c->links;
            break;
        case 6: c->o.index_url = v; break;
        }
        return 1;
    }
    if (strcmp(a, "--uv") == 0) {
        c->o.prefer_uv = true;
        return 1;
    }
    if (strcmp(a, "--newest") == 0) {
        c->o.prefer_newest = true;
        return 1;
    }
    if (strcmp(a, "--no-index") == 0) {
        c->o.no_index = true;
        return 1;
    }
    if ((short_v && strcmp(a, "-v") == 0) || strcmp(a, "--verbose") == 0) {
        c->verbose = true;
        c->o.logger = log_stderr;
        return 1;
    }
    return 0;
}

static int selection(cli *c, int argc, char **argv, int *i)
{
    return selection_ex(c, argc, argv, i, true);
}

/* ---- probe ---------------------------------------------------------------------------- */

/* Opens the chosen Python and says what it reports after init. */
static cJSON *load_report(cli *c)
{
    cJSON *l = cJSON_CreateObject();
    pys_runtime *rt = NULL;
    if (pys_open(&c->o, &rt) != PYS_OK) {
        cJSON_AddStringToObject(l, "error", pys_last_error()->message);
        return l;
    }
    pys_info in;
    if (pys_get_info(rt, &in) == PYS_OK) {
        char full[48];
        snprintf(full, sizeof full, "%d.%d.%d", in.major, in.minor, in.micro);
        cJSON_AddStringToObject(l, "full_version", full);
        cJSON_AddStringToObject(l, "abiflags", in.abiflags);
        cJSON_AddBoolToObject(l, "free_threaded", in.free_threaded);
        cJSON_AddBoolToObject(l, "debug", in.debug);
        cJSON_AddBoolToObject(l, "gil_enabled", in.gil_enabled != 0);
        cJSON_AddBoolToObject(l, "untested", in.untested);
        cJSON_AddStringToObject(l, "library", in.library);
        cJSON_AddStringToObject(l, "version_text", in.version);
    }
    pys_close(rt);
    return l;
}

static int cmd_probe(cli *c)
{
    pys_probe_result *pr = NULL;
    if (pys_probe(&c->o, &pr) != PYS_OK)
        return report("probe");
    int chosen = pys_probe_chosen(pr);
    size_t n = pys_probe_count(pr);
    if (c->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(root, "candidates");
        for (size_t i = 0; i < n; i++) {
            const pys_candidate *k = pys_probe_get(pr, i);
            cJSON *e = cJSON_CreateObject();
            char ver[16];
            snprintf(ver, sizeof ver, "%d.%d%s", k->major, k->minor, k->abiflags);
            cJSON_AddStringToObject(e, "version", k->major ? ver : "");
            cJSON_AddStringToObject(e, "full_version", k->full_version);
            cJSON_AddStringToObject(e, "abiflags", k->abiflags);
            cJSON_AddBoolToObject(e, "debug", k->debug);
            cJSON_AddBoolToObject(e, "gil_disabled", k->free_threaded);
            cJSON_AddBoolToObject(e, "untested", k->untested);
            cJSON_AddStringToObject(e, "source", k->source);
            cJSON_AddStringToObject(e, "path", k->path);
            cJSON_AddStringToObject(e, "realpath", k->realpath);
            cJSON_AddStringToObject(e, "executable", k->executable);
            cJSON_AddStringToObject(e, "prefix", k->prefix);
            cJSON_AddBoolToObject(e, "free_threaded", k->free_threaded);
            cJSON_AddBoolToObject(e, "accepted", k->accepted);
            cJSON_AddBoolToObject(e, "chosen", k->chosen);
            cJSON_AddStringToObject(e, "reason", k->reason);
            cJSON_AddStringToObject(e, "reason_code", k->reason_code);
            cJSON_AddNumberToObject(e, "micro", k->micro);
            cJSON_AddItemToArray(arr, e);
        }
        cJSON *steps = cJSON_AddArrayToObject(root, "steps");
        for (size_t i = 0; i < pys_probe_step_count(pr); i++) {
            const pys_probe_step *st = pys_probe_step_get(pr, i);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "source", st->source);
            cJSON_AddStringToObject(e, "status", st->status);
            cJSON_AddStringToObject(e, "detail", st->detail);
            cJSON_AddStringToObject(e, "file", st->file);
            cJSON_AddItemToArray(steps, e);
        }
        cJSON_AddStringToObject(root, "decided_by", pys_probe_decided_by(pr));
        cJSON_AddStringToObject(root, "decided_file", pys_probe_decided_file(pr));
        cJSON_AddStringToObject(root, "decision", pys_probe_decision(pr));
        if (chosen >= 0)
            cJSON_AddItemToObject(root, "chosen",
                                  cJSON_CreateString(pys_probe_get(pr, (size_t)chosen)->realpath));
        else
            cJSON_AddNullToObject(root, "chosen");
        const char *venv = pys_probe_venv(pr);
        if (venv)
            cJSON_AddStringToObject(root, "venv", venv);
        else
            cJSON_AddNullToObject(root, "venv");
        if (chosen < 0)
            cJSON_AddStringToObject(root, "error", pys_last_error()->message);
        if (chosen >= 0 && c->load)
            cJSON_AddItemToObject(root, "loaded", load_report(c));
        char *s = cJSON_Print(root);
        puts(s);
        free(s);
        cJSON_Delete(root);
    } else if (c->why) {
        for (size_t i = 0; i < pys_probe_step_count(pr); i++) {
            const pys_probe_step *st = pys_probe_step_get(pr, i);
            printf("%-12s %-7s %s\n", st->source, st->status, st->detail);
        }
        if (chosen >= 0) {
            const pys_candidate *k = pys_probe_get(pr, (size_t)chosen);
            printf("\nchosen: %s\n  by %s%s%s: %s\n", k->realpath, pys_probe_decided_by(pr),
                   *pys_probe_decided_file(pr) ? ", decided by " : "", pys_probe_decided_file(pr),
                   pys_probe_decision(pr));
        } else {
            printf("\nno usable Python: %s\n", pys_last_error()->message);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            const pys_candidate *k = pys_probe_get(pr, i);
            char ver[32];
            snprintf(ver, sizeof ver, "%d.%d%s%s%s%s", k->major, k->minor, k->abiflags,
                     *k->full_version ? " (" : "", k->full_version, *k->full_version ? ")" : "");
            printf("%s %-14s %-9s %-8s %s\n      %s%s\n", k->chosen ? "*" : " ",
                   k->major ? ver : "?", k->source, k->accepted ? "accepted" : "rejected", k->path,
                   k->reason, k->untested && k->accepted ? " [untested version]" : "");
        }
        if (chosen >= 0) {
            const pys_candidate *k = pys_probe_get(pr, (size_t)chosen);
            printf("\nwould load: %s (Python %d.%d%s, %s)\n", k->realpath, k->major, k->minor,
                   k->abiflags, k->source);
            printf("because: %s\n", pys_probe_decision(pr));
            if (pys_probe_venv(pr))
                printf("venv: %s\n", pys_probe_venv(pr));
            if (c->load) {
                cJSON *l = load_report(c);
                char *s = cJSON_PrintUnformatted(l);
                printf("loaded: %s\n", s ? s : "?");
                free(s);
                cJSON_Delete(l);
            }
        } else {
            printf("\nno usable Python: %s\n", pys_last_error()->message);
        }
    }
    pys_probe_free(pr);
    return chosen >= 0 ? 0 : 2;
}

/* ---- run / eval -------------------------------------------------------------------------- */

/* Prints the pending failure of an eval: traceback (exit 1), SystemExit
 * (its code), or a pyshim error (2). */
static int finish_eval(int rc)
{
    if (rc == PYS_OK)
        return 0;
    const pys_error *e = pys_last_error();
    if (rc == PYS_E_EXIT) {
        /* A non-int code is printed like the interpreter does. */
        if (strncmp(e->message, "SystemExit", 10) != 0)
            fprintf(stderr, "%s\n", e->message);
        return e->exit_code;
    }
    if (rc == PYS_E_PYTHON || rc == PYS_E_INTERRUPTED || rc == PYS_E_TIMEOUT) {
        if (e->traceback && *e->traceback)
            fputs(e->traceback, stderr);
        else
            fprintf(stderr, "%s\n", e->message);
        return 1;
    }
    return report("eval");
}

/* pyshim's selection flags first; from the first argument that is not
 * one, the command line is Python's. */
static int cmd_run(cli *c, int argc, char **argv, int i)
{
    for (; i < argc; i++) {
        int s = selection_ex(c, argc, argv, &i, false);
        if (s < 0)
            return 2;
        if (s == 0)
            break;
    }
    int pargc = argc - i + 1;
    char **pargv = calloc((size_t)pargc + 1, sizeof *pargv);
    if (!pargv)
        return 2;
    pargv[0] = argv[0];
    for (int k = 1; k < pargc; k++)
        pargv[k] = argv[i + k - 1];
    int status = 0;
    int rc = pys_main(&c->o, pargc, pargv, &status);
    free(pargv);
    if (rc != PYS_OK)
        return report("run");
    return status;
}

static int cmd_eval(cli *c, int argc, char **argv, int i)
{
    const char *expr = NULL;
    for (; i < argc; i++) {
        int s = selection(c, argc, argv, &i);
        if (s < 0)
            return 2;
        if (s > 0)
            continue;
        if (expr) {
            fprintf(stderr, "pyshim eval: one expression expected\n");
            return 2;
        }
        expr = argv[i];
    }
    if (!expr) {
        fprintf(stderr, "pyshim eval: missing EXPR\n");
        return 2;
    }
    pys_runtime *rt = NULL;
    if (pys_open(&c->o, &rt) != PYS_OK)
        return report("open");
    int status = 0;
    pys_obj v = pys_eval(rt, expr);
    if (!pys_ok(v)) {
        status = finish_eval(pys_last_error()->code);
    } else {
        char *json = pys_to_json_text(v);
        if (json) {
            puts(json);
            free(json);
        } else {
            pys_obj r = pys_repr(v);
            const char *s = pys_ok(r) ? pys_str_view(r, NULL) : NULL;
            if (s)
                puts(s);
            else
                status = finish_eval(pys_last_error()->code);
            pys_release(r);
        }
        pys_release(v);
    }
    if (pys_close(rt) != PYS_OK && status == 0)
        status = report("close");
    return status;
}

int pyshim_cli_deps(int argc, char **argv, int i, bool json);
int pyshim_cli_gen(const pys_options *o, int argc, char **argv, int i,
                   int (*sel)(void *cli, int argc, char **argv, int *i), void *cli);

static int gen_selection(void *c, int argc, char **argv, int *i)
{
    return selection(c, argc, argv, i);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cli c = {0};
    /* The working directory is the project: its .python-version and .venv. */
    static char cwd[4096];
    if (getcwd(cwd, sizeof cwd))
        c.o.project_dir = cwd;
    c.o.project_venv = true;
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("pyshim %d.%d.%d\n", PYS_VERSION_MAJOR, PYS_VERSION_MINOR, PYS_VERSION_PATCH);
        return 0;
    }
    if (strcmp(cmd, "probe") == 0) {
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--why") == 0) {
                if (argv[i][2] == 'j')
                    c.json = true;
                else
                    c.why = true;
                continue;
            }
            if (strcmp(argv[i], "--load") == 0) {
                c.load = true;
                continue;
            }
            int s = selection(&c, argc, argv, &i);
            if (s <= 0) {
                if (s == 0)
                    fprintf(stderr, "pyshim probe: unknown argument %s\n", argv[i]);
                return 2;
            }
        }
        return cmd_probe(&c);
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(&c, argc, argv, 2);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(&c, argc, argv, 2);
    if (strcmp(cmd, "deps") == 0)
        return pyshim_cli_deps(argc, argv, 2, false);
    if (strcmp(cmd, "gen") == 0)
        return pyshim_cli_gen(&c.o, argc, argv, 2, gen_selection, &c);
    fprintf(stderr, "pyshim: unknown command %s\n", cmd);
    usage(stderr);
    return 2;
}
