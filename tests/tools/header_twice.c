/* The public header is self-contained and can be included twice. */
#include <pyshim.h>
#include <pyshim.h>

int main(void)
{
    pys_obj o = PYS_NULL;
    return pys_ok(o) ? 1 : 0;
}
