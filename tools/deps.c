/* pyshim deps: list and clear the dependency-venv cache. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyshim.h>

int pyshim_cli_deps(int argc, char **argv, int i, bool json);

static int fail(const char *what)
{
    const pys_error *e = pys_last_error();
    fprintf(stderr, "pyshim deps %s: %s: %s\n", what, pys_err_name(e->code), e->message);
    return 2;
}

static int list(bool json)
{
    pys_cache_entry *v = NULL;
    size_t n = 0;
    if (pys_cache_list(&v, &n) != PYS_OK)
        return fail("list");
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t k = 0; k < n; k++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "dir", v[k].dir);
            cJSON_AddStringToObject(e, "python", v[k].python);
            cJSON_AddStringToObject(e, "python_executable", v[k].python_executable);
            cJSON *reqs = cJSON_AddArrayToObject(e, "requirements");
            for (size_t r = 0; v[k].requirements[r]; r++)
                cJSON_AddItemToArray(reqs, cJSON_CreateString(v[k].requirements[r]));
            cJSON_AddStringToObject(e, "backend", v[k].backend);
            cJSON_AddStringToObject(e, "created", v[k].created);
            cJSON_AddBoolToObject(e, "valid", v[k].valid);
            if (!v[k].valid)
                cJSON_AddStringToObject(e, "problem", v[k].problem);
            cJSON_AddItemToArray(arr, e);
        }
        char *s = cJSON_Print(arr);
        puts(s);
        free(s);
        cJSON_Delete(arr);
    } else if (n == 0) {
        puts("no cached dependency venvs");
    } else {
        for (size_t k = 0; k < n; k++) {
            printf("%s  Python %s  %s  %s%s\n  ", v[k].valid ? "ok     " : "invalid",
                   v[k].python[0] ? v[k].python : "?", v[k].backend[0] ? v[k].backend : "?",
                   v[k].created, v[k].valid ? "" : "");
            for (size_t r = 0; v[k].requirements[r]; r++)
                printf("%s%s", r ? ", " : "", v[k].requirements[r]);
            printf("\n  %s\n", v[k].dir);
            if (!v[k].valid)
                printf("  problem: %s\n", v[k].problem);
        }
    }
    pys_cache_list_free(v, n);
    return 0;
}

int pyshim_cli_deps(int argc, char **argv, int i, bool json)
{
    if (i >= argc) {
        fprintf(stderr, "usage: pyshim deps (list [--json] | clear)\n");
        return 2;
    }
    const char *sub = argv[i++];
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "pyshim deps: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (strcmp(sub, "list") == 0)
        return list(json);
    if (strcmp(sub, "clear") == 0) {
        if (pys_clear_cache() != PYS_OK)
            return fail("clear");
        puts("dependency venv cache cleared");
        return 0;
    }
    fprintf(stderr, "pyshim deps: unknown command %s (list or clear)\n", sub);
    return 2;
}
