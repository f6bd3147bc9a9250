/* pyshim — the command-line face of the library: which Python would this
 * binary load, and run code through the shim on it.
 *
 *   pyshim probe [--json] [selection]
 *   pyshim run   [selection] (-c CODE | -m MODULE | FILE) [ARGS...]
 *   pyshim eval  [selection] EXPR
 *   pyshim deps  (list [--json] | clear)
 *
 * Exit status of run: the script's SystemExit code; 1 after an uncaught
 * exception (its traceback is printed); 2 for a pyshim error (code name,
 * message and the places tried). */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    bool verbose;
} cli;

static void usage(FILE *f)
{
    fputs("usage: pyshim probe [--json] [--load] [SELECTION]\n"
          "       pyshim run [SELECTION] (-c CODE | -m MODULE | FILE) [ARGS...]\n"
          "       pyshim eval [SELECTION] EXPR\n"
          "       pyshim deps (list [--json] | clear)\n"
          "       pyshim version\n"
          "\n"
          "SELECTION:\n"
          "  --python VER       pin a version: 3.12, 3.13t (free-threaded)\n"
          "  --library PATH     load this libpython (no search)\n"
          "  --venv DIR         use this virtual environment\n"
          "  --uv               also consider uv-managed Pythons; build with uv\n"
          "  --uv-project DIR   `uv sync` the project and use its .venv\n"
          "  --with REQ         a dependency (repeatable): cached venv\n"
          "  --find-links DIR   extra wheel directory for --with (repeatable)\n"
          "  --index-url URL    package index for --with\n"
          "  --no-index         do not use any package index for --with\n"
          "  -v, --verbose      log what pyshim does to stderr\n"
          "\n"
          "probe --load also opens the chosen Python and reports what it says after init\n"
          "(full version, ABI flags, whether the GIL is enabled).\n"
          "\n"
          "Environment: PYSHIM_LIBPYTHON, PYSHIM_PYTHON_VERSION, VIRTUAL_ENV,\n"
          "PYSHIM_REFUSE_UNTESTED=1 (refuse Pythons newer than the tested range).\n",
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
 * selection flag, -1 on a usage error. */
static int selection(cli *c, int argc, char **argv, int *i)
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
    if (strcmp(a, "--no-index") == 0) {
        c->o.no_index = true;
        return 1;
    }
    if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
        c->verbose = true;
        c->o.logger = log_stderr;
        return 1;
    }
    return 0;
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
            cJSON_AddItemToArray(arr, e);
        }
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

/* Prints the pending failure of a run: traceback (exit 1), SystemExit
 * (its code), or a pyshim error (2). */
static int finish_run(int rc)
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
    return report("run");
}

static int run_code(pys_runtime *rt, const char *mode, const char *target)
{
    int rc;
    if (strcmp(mode, "-c") == 0) {
        rc = pys_exec(rt, "import sys; sys.path.insert(0, '')");
        if (rc != PYS_OK)
            return rc;
        pys_obj code = pys_compile(rt, target, "<string>", PYS_MODE_EXEC);
        if (!pys_ok(code))
            return pys_last_error()->code;
        pys_obj r = pys_run(code, PYS_NULL);
        pys_release(code);
        if (!pys_ok(r))
            return pys_last_error()->code;
        pys_release(r);
        return PYS_OK;
    }
    pys_obj runpy = pys_import(rt, "runpy");
    if (!pys_ok(runpy))
        return pys_last_error()->code;
    pys_obj r;
    if (strcmp(mode, "-m") == 0) {
        rc = pys_exec(rt, "import sys; sys.path.insert(0, '')");
        if (rc != PYS_OK)
            return rc;
        r = pys_call_method(runpy, "run_module", "s run_name=s alter_sys=b", target, "__main__",
                            1);
    } else {
        rc = pys_exec(rt, "import sys, os; sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))");
        if (rc != PYS_OK)
            return rc;
        r = pys_call_method(runpy, "run_path", "s run_name=s", target, "__main__");
    }
    pys_release(runpy);
    if (!pys_ok(r))
        return pys_last_error()->code;
    pys_release(r);
    return PYS_OK;
}

static int cmd_run(cli *c, int argc, char **argv, int i)
{
    const char *mode = NULL, *target = NULL;
    for (; i < argc; i++) {
        int s = selection(c, argc, argv, &i);
        if (s < 0)
            return 2;
        if (s > 0)
            continue;
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "-m") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "pyshim: %s needs a value\n", argv[i]);
                return 2;
            }
            mode = argv[i];
            target = argv[++i];
            i++;
            break;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "pyshim: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
        mode = "file";
        target = argv[i++];
        break;
    }
    if (!mode) {
        fprintf(stderr, "pyshim run: nothing to run (-c CODE, -m MODULE or FILE)\n");
        return 2;
    }
    /* sys.argv as the interpreter sets it. */
    size_t nargs = (size_t)(argc - i) + 2;
    const char **args = calloc(nargs, sizeof *args);
    if (!args)
        return 2;
    args[0] = strcmp(mode, "-c") == 0 ? "-c" : target;
    for (size_t k = 1; i < argc; i++, k++)
        args[k] = argv[i];
    c->o.argv = args;
    pys_runtime *rt = NULL;
    if (pys_open(&c->o, &rt) != PYS_OK) {
        free(args);
        return report("open");
    }
    int status = finish_run(run_code(rt, mode, target));
    if (pys_close(rt) != PYS_OK && status == 0)
        status = report("close");
    free(args);
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
        status = finish_run(pys_last_error()->code);
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
                status = finish_run(pys_last_error()->code);
            pys_release(r);
        }
        pys_release(v);
    }
    if (pys_close(rt) != PYS_OK && status == 0)
        status = report("close");
    return status;
}

int pyshim_cli_deps(int argc, char **argv, int i, bool json);

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cli c = {0};
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
            if (strcmp(argv[i], "--json") == 0) {
                c.json = true;
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
    fprintf(stderr, "pyshim: unknown command %s\n", cmd);
    usage(stderr);
    return 2;
}
