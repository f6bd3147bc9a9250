/* reload: serve requests from a Python script while it is edited. A
 * watch (inotify) reloads it on every save; a broken save keeps the last
 * good version serving. The program edits the file itself to show it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pyshim.h>

static char path[256];

static void save(const char *text)
{
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    fputs(text, f);
    fclose(f);
    rename(tmp, path); /* as editors do */
}

static void on_reload(void *ud, pys_obj script, int rc, bool reloaded)
{
    (void)ud;
    (void)script;
    if (rc == PYS_OK)
        printf("  (reloaded: %s)\n", reloaded ? "new version in service" : "unchanged");
    else
        printf("  (reload failed, old version keeps serving: %s)\n", pys_last_error()->message);
}

static void serve(pys_obj script, int x)
{
    pys_obj f = pys_script_get(script, "evaluate");
    pys_obj r = pys_callf(f, "i", x);
    pys_obj s = pys_str(r);
    printf("evaluate(%d) = %s\n", x, pys_ok(s) ? pys_str_view(s, NULL) : pys_last_error()->message);
    pys_release(s);
    pys_release(r);
    pys_release(f);
}

int main(void)
{
    char dir[] = "/tmp/pyshim-reload-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/rules.py", dir);
    pys_runtime *rt;
    if (pys_open(NULL, &rt) != PYS_OK) {
        fprintf(stderr, "pys_open: %s\n", pys_last_error()->message);
        return 1;
    }
    save("def evaluate(x):\n    return x * 2\n");
    pys_obj script = pys_script_load(rt, path, PYS_NULL);
    if (!pys_ok(script) || pys_script_watch(script, on_reload, NULL) != PYS_OK) {
        fprintf(stderr, "script: %s\n", pys_last_error()->message);
        return 1;
    }
    serve(script, 21);
    const char *edits[] = {"def evaluate(x):\n    return x * 3\n",
                           "def evaluate(x)\n    return x * 4\n", /* a typo */
                           "def evaluate(x):\n    return {'x': x, 'squared': x * x}\n"};
    for (int i = 0; i < 3; i++) {
        printf("-- saving edit %d\n", i + 1);
        save(edits[i]);
        usleep(300 * 1000);
        serve(script, 21);
    }
    pys_script_unwatch(script);
    pys_release(script);
    pys_close(rt);
    unlink(path);
    rmdir(dir);
    return 0;
}
