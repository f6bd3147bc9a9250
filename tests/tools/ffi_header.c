/* pyshim_ffi.h compiles next to pyshim.h (same opaque typedefs, no name
 * in common) and the face's ABI version is the header's. */
#include "pyshim.h"
#include "pyshim_ffi.h"
#include "pyshim_ffi.h"

#include <stdio.h>

int main(void)
{
    if (pys_ffi_abi_version() != PYS_FFI_ABI_VERSION) {
        fprintf(stderr, "abi version %d, header says %d\n", (int)pys_ffi_abi_version(),
                (int)PYS_FFI_ABI_VERSION);
        return 1;
    }
    /* The spelled-out codes are pyshim.h's. */
    if ((int)PYS_FFI_E_TYPE != (int)PYS_E_TYPE || (int)PYS_FFI_E_INTERNAL != (int)PYS_E_INTERNAL ||
        (int)PYS_FFI_EQ != (int)PYS_EQ || (int)PYS_FFI_MODE_EVAL != (int)PYS_MODE_EVAL) {
        fprintf(stderr, "a spelled-out constant differs from pyshim.h\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
