// The public headers (pyshim.h and the FFI face) compile as C++ and link
// with C linkage.
#include <pyshim.h>
#include <pyshim_ffi.h>

int main()
{
    pys_options o = {};
    (void)o;
    const char *s = pys_strerror(PYS_E_HANDLE);
    if (pys_ffi_abi_version() != PYS_FFI_ABI_VERSION)
        return 1;
    return s != nullptr && pys_ok(PYS_NULL) ? 1 : 0;
}
