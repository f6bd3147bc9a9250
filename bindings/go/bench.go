package pyshim

/*
#include "pyshim_ffi.h"
*/
import "C"

import "unsafe"

// The loops of bench/ffi (go test -bench): the ops of bench/ffi/bench_ffi.c
// as raw cgo calls, and cgo's own crossing cost for comparison. Call them
// inside WithGIL.

func benchIntRoundTrip(r *Runtime, n int) int64 {
	var sink int64
	for i := 0; i < n; i++ {
		h := C.pys_ffi_from_int64(r.rt, C.int64_t(i))
		sink += int64(C.pys_ffi_int64(h))
		C.pys_ffi_release(h)
	}
	return sink
}

func benchLen3(r *Runtime, fn, list *Object, n int) int64 {
	var sink int64
	args := C.uint64_t(list.id)
	for i := 0; i < n; i++ {
		h := C.pys_ffi_call(fn.h(), (*C.uint64_t)(unsafe.Pointer(&args)), 1)
		sink += int64(C.pys_ffi_int64(h))
		C.pys_ffi_release(h)
	}
	return sink
}

func benchCrossing(n int) int64 {
	var sink int64
	for i := 0; i < n; i++ {
		sink += int64(C.pys_ffi_abi_version())
	}
	return sink
}
