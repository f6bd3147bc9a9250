/* policed: run a user's expression plug-in under a policy: only a few
 * builtins, json importable, files readable under one directory, 64 MiB
 * of memory, 1 s of time and 64 bytes of output. Each attempt at more is
 * refused and reported; the host goes on. */
#include <stdio.h>
#include <stdlib.h>

#include <pyshim.h>

static void show(void *ud, const char *data, size_t len)
{
    (void)ud;
    printf("  | %.*s", (int)len, data);
}

static void attempt(pys_runtime *rt, pys_policy *p, const char *what, const char *src)
{
    int rc = pys_exec_policed(rt, src, PYS_NULL, p);
    if (rc == PYS_OK)
        printf("%-34s ok\n", what);
    else
        printf("%-34s %s: %s\n", what, pys_err_name(rc), pys_last_error()->message);
}

int main(void)
{
    pys_options o = {.memory_caps = true};
    pys_runtime *rt;
    if (pys_open(&o, &rt) != PYS_OK) {
        fprintf(stderr, "pys_open: %s\n", pys_last_error()->message);
        return 1;
    }
    pys_policy *p = pys_policy_new();
    const char *builtins[] = {"print", "len", "range", "sum", "sorted", "open", "bytearray",
                              "MemoryError",
                              NULL};
    if (!p || pys_policy_builtins(p, builtins) != PYS_OK ||
        pys_policy_allow(p, "import", "json") != PYS_OK ||
        pys_policy_allow(p, "open", "ro:/usr/share") != PYS_OK ||
        pys_policy_memory_limit(p, 64u << 20) != PYS_OK || pys_policy_timeout(p, 1000) != PYS_OK ||
        pys_policy_output(p, PYS_STDOUT | PYS_STDERR, show, NULL, 64) != PYS_OK) {
        fprintf(stderr, "policy: %s\n", pys_last_error()->message);
        return 1;
    }
    attempt(rt, p, "json and arithmetic",
            "import json\nprint(json.dumps({'total': sum(range(10))}))");
    attempt(rt, p, "read under /usr/share",
            "n = len(open('/usr/share/common-licenses/GPL-3').read())");
    attempt(rt, p, "read /etc/passwd", "open('/etc/passwd').read()");
    attempt(rt, p, "import os", "import os\nos.system('id')");
    attempt(rt, p, "subclass walk", "().__class__.__base__.__subclasses__()");
    attempt(rt, p, "1 GB", "x = bytearray(10**9)");
    attempt(rt, p, "endless loop", "while True:\n    pass");
    attempt(rt, p, "endless output", "while True:\n    print('spam')");
    attempt(rt, p, "still fine afterwards", "print(sorted([3, 1, 2]))");
    pys_policy_free(p);
    pys_close(rt);
    return 0;
}
