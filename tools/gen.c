/* pyshim gen: typed C bindings from a Python module's signatures.
 *
 *   pyshim gen [SELECTION] MODULE [--prefix NAME] [--only f,g,Class] [--out DIR]
 *              [--check DIR] [--report] [--path DIR]... [--stubs FILE.pyi|DIR]
 *              [--typeshed DIR | --no-typeshed]
 *
 * The module is introspected on the chosen Python, through pyshim: the
 * generator proper is tools/gen.py, carried in this binary as text, run in
 * its own namespace, and called once; it returns NAME.h, NAME.c and the
 * report. This file only parses the command line and writes (or, with
 * --check, compares) the two files. Exit status: 0, 1 when generation
 * failed or --check found a stale or missing file, 2 for usage and pyshim
 * errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pyshim.h>

#include "gen_py.h"

#define GEN_MAX_PATHS 64

typedef int (*gen_selection_fn)(void *cli, int argc, char **argv, int *i);

int pyshim_cli_gen(const pys_options *o, int argc, char **argv, int i, gen_selection_fn sel, void *cli);

static int gen_fail(const char *what)
{
    const pys_error *e = pys_last_error();
    if (e->code == PYS_E_PYTHON && e->traceback && *e->traceback) {
        fprintf(stderr, "pyshim gen: %s failed:\n%s", what, e->traceback);
        return 1;
    }
    fprintf(stderr, "pyshim gen: %s: %s: %s\n", what, pys_err_name(e->code), e->message);
    return e->code == PYS_E_PYTHON ? 1 : 2;
}

/* Reads a whole file (malloc'd, NUL-terminated), or NULL when it cannot. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static void join(char *out, size_t size, const char *dir, const char *name, const char *ext)
{
    snprintf(out, size, "%s/%s%s", dir, name, ext);
}

/* --check: 0 when path holds exactly text, else 1 (says why on stderr). */
static int check_file(const char *path, const char *text, size_t len)
{
    size_t have = 0;
    char *old = slurp(path, &have);
    if (!old) {
        fprintf(stderr, "pyshim gen: %s is missing\n", path);
        return 1;
    }
    int stale = have != len || memcmp(old, text, len) != 0;
    free(old);
    if (stale)
        fprintf(stderr, "pyshim gen: %s is stale (regenerate it)\n", path);
    return stale;
}

static int write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        return 2;
    }
    return 0;
}

static int usage_gen(void)
{
    fputs("usage: pyshim gen [SELECTION] MODULE [--prefix NAME] [--only f,g,Class] [--out DIR]\n"
          "                  [--check DIR] [--report] [--path DIR]... [--stubs FILE.pyi|DIR]\n"
          "                  [--typeshed DIR | --no-typeshed]\n"
          "  --prefix NAME   C prefix and file names NAME.h / NAME.c (default: the module)\n"
          "  --only LIST     only these functions and classes (comma-separated)\n"
          "  --out DIR       where to write (default .)\n"
          "  --check DIR     compare with DIR/NAME.{h,c} instead of writing: exit 1 if stale\n"
          "  --report        list every function: typed / partial / fallback / skipped, and why\n"
          "  --path DIR      prepend DIR to sys.path before importing MODULE (repeatable)\n"
          "  --stubs PATH    types from a .pyi stub (or DIR/MODULE.pyi) for unannotated code\n"
          "  --typeshed DIR  typeshed (DIR/stdlib/VERSIONS) for a stdlib module's types; default:\n"
          "                  $PYSHIM_TYPESHED, else a bundled copy (mypy, pyright, jedi) found in\n"
          "                  the Python's sys.path or /usr/lib/python3/dist-packages\n"
          "  --no-typeshed   do not use typeshed (only the module's own annotations and stubs)\n",
          stderr);
    return 2;
}

int pyshim_cli_gen(const pys_options *o, int argc, char **argv, int i, gen_selection_fn sel, void *cli)
{
    const char *module = NULL, *prefix = "", *only = "", *out = ".", *check = NULL, *stubs = "", *typeshed = "";
    const char *paths[GEN_MAX_PATHS];
    size_t npaths = 0;
    bool report = false;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char **val = NULL;
        if (strcmp(a, "--prefix") == 0)
            val = &prefix;
        else if (strcmp(a, "--only") == 0)
            val = &only;
        else if (strcmp(a, "--out") == 0)
            val = &out;
        else if (strcmp(a, "--check") == 0)
            val = &check;
        else if (strcmp(a, "--stubs") == 0)
            val = &stubs;
        else if (strcmp(a, "--typeshed") == 0)
            val = &typeshed;
        if (val || strcmp(a, "--path") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "pyshim gen: %s needs a value\n", a);
                return 2;
            }
            if (val) {
                *val = argv[++i];
            } else if (npaths == GEN_MAX_PATHS) {
                fprintf(stderr, "pyshim gen: too many --path\n");
                return 2;
            } else {
                paths[npaths++] = argv[++i];
            }
            continue;
        }
        if (strcmp(a, "--report") == 0) {
            report = true;
            continue;
        }
        if (strcmp(a, "--no-typeshed") == 0) {
            typeshed = "-";
            continue;
        }
        int s = sel(cli, argc, argv, &i);
        if (s < 0)
            return 2;
        if (s > 0)
            continue;
        if (a[0] == '-' || module) {
            fprintf(stderr, "pyshim gen: unexpected argument %s\n", a);
            return usage_gen();
        }
        module = a;
    }
    if (!module)
        return usage_gen();

    pys_runtime *rt = NULL;
    if (pys_open(o, &rt) != PYS_OK)
        return gen_fail("open");
    int status = 0;
    pys_obj ns = pys_dict_new(rt), builtins = pys_import(rt, "builtins");
    pys_obj list = pys_list_new(rt, NULL, 0), gen = PYS_NULL, r = PYS_NULL;
    if (!pys_ok(ns) || !pys_ok(builtins) || !pys_ok(list) ||
        pys_setitem_str(ns, "__builtins__", builtins) != PYS_OK ||
        pys_exec_in(rt, "__name__ = 'pyshim_gen'", ns) != PYS_OK ||
        pys_exec_in(rt, pyshim_gen_py, ns) != PYS_OK) {
        status = gen_fail("loading the generator");
        goto done;
    }
    for (size_t k = 0; k < npaths; k++) {
        pys_obj p = pys_from_str(rt, paths[k]);
        if (!pys_ok(p) || pys_append(list, p) != PYS_OK) {
            pys_release(p);
            status = gen_fail("--path");
            goto done;
        }
        pys_release(p);
    }
    gen = pys_getitem_str(ns, "generate");
    r = pys_ok(gen) ? pys_callf(gen, "s s s O s s", module, prefix, only, list, stubs, typeshed) : PYS_NULL;
    if (!pys_ok(r)) {
        status = gen_fail(module);
        goto done;
    }
    /* (prefix, header, source, report) */
    pys_obj parts[4] = {PYS_NULL, PYS_NULL, PYS_NULL, PYS_NULL};
    const char *text[4] = {NULL, NULL, NULL, NULL};
    size_t len[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4; k++) {
        parts[k] = pys_getitem_index(r, k);
        text[k] = pys_ok(parts[k]) ? pys_str_view(parts[k], &len[k]) : NULL;
        if (!text[k]) {
            status = gen_fail("reading the generated text");
            break;
        }
    }
    if (status == 0) {
        char hpath[4096], cpath[4096];
        const char *dir = check ? check : out;
        join(hpath, sizeof hpath, dir, text[0], ".h");
        join(cpath, sizeof cpath, dir, text[0], ".c");
        if (check) {
            status = check_file(hpath, text[1], len[1]) | check_file(cpath, text[2], len[2]);
        } else if (mkdir(out, 0777) != 0 && errno != EEXIST) {
            perror(out);
            status = 2;
        } else if ((status = write_file(hpath, text[1], len[1])) == 0) {
            status = write_file(cpath, text[2], len[2]);
        }
        if (report)
            fwrite(text[3], 1, len[3], stdout);
    }
    for (int k = 0; k < 4; k++)
        if (pys_ok(parts[k]))
            pys_release(parts[k]);
done:
    if (pys_ok(r))
        pys_release(r);
    if (pys_ok(gen))
        pys_release(gen);
    if (pys_ok(list))
        pys_release(list);
    if (pys_ok(builtins))
        pys_release(builtins);
    if (pys_ok(ns))
        pys_release(ns);
    if (pys_close(rt) != PYS_OK && status == 0)
        status = gen_fail("close");
    return status;
}
