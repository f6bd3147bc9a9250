// The public header compiles as C++ and links with C linkage.
#include <pyshim.h>

int main()
{
    pys_options o = {};
    (void)o;
    const char *s = pys_strerror(PYS_E_HANDLE);
    return s != nullptr && pys_ok(PYS_NULL) ? 1 : 0;
}
