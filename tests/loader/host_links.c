/* A host program that itself links libpython, built without PIC/PIE so the
 * linker copies CPython's data symbols (Py_True, PyBool_Type ...) into the
 * executable. pyshim must use those copies, which libpython's own code
 * uses too: otherwise True would not be `True`. No Python header needed.
 *   host_links LIBPYTHON */
#include <stdio.h>

#include <pyshim.h>

extern char _Py_TrueStruct[]; /* CPython's True, as this host sees it */

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: host_links LIBPYTHON\n");
        return 2;
    }
    void *volatile seen = _Py_TrueStruct; /* forces the copy relocation */
    (void)seen;
    pys_options o = {.library_path = argv[1], .ignore_environment = true};
    pys_runtime *rt = NULL;
    if (pys_open(&o, &rt) != PYS_OK) {
        fprintf(stderr, "pys_open: %s\n", pys_last_error()->message);
        return 1;
    }
    int status = 0;
    pys_obj t = pys_eval(rt, "1 == 1");
    bool b = false;
    if (pys_to_bool(t, &b) != PYS_OK || !b) {
        fprintf(stderr, "True is not True: %s\n", pys_last_error()->message);
        status = 1;
    }
    pys_obj f = pys_from_bool(rt, false);
    if (pys_truthy(f) != 0) {
        fprintf(stderr, "False is truthy\n");
        status = 1;
    }
    pys_obj tn = pys_eval(rt, "type(True).__name__");
    const char *name = pys_str_view(tn, NULL);
    if (!name || *name != 'b') {
        fprintf(stderr, "type(True) is %s\n", name ? name : "?");
        status = 1;
    }
    pys_release(tn);
    pys_release(f);
    pys_release(t);
    pys_close(rt);
    if (status == 0)
        puts("ok: pyshim agrees with a host that links libpython");
    return status;
}
