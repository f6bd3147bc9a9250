/* pyshim deps: list and clear the dependency-venv cache. */
#include <stdio.h>
#include <string.h>

#include <pyshim.h>

int pyshim_cli_deps(int argc, char **argv, int i, bool json);

int pyshim_cli_deps(int argc, char **argv, int i, bool json)
{
    (void)argc;
    (void)argv;
    (void)i;
    (void)json;
    fprintf(stderr, "pyshim deps: not built yet\n");
    return 2;
}
