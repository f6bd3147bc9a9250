// Package pyshim runs the installed CPython in-process from Go, through
// libpyshim's FFI face (include/pyshim_ffi.h), linked statically: the Go
// binary carries no libpython dependency and finds a Python at run time.
//
//	py, err := pyshim.New(pyshim.WithLibrary("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"))
//	defer py.Close()
//	gcd, _ := py.Eval("__import__('math').gcd")
//	r, _ := gcd.Call(84, 36)
//	v, _ := r.Int() // 12
//
// Build: CGO_LDFLAGS="-L<dir of libpyshim.a>" go build (libpyshim.a and
// libcjson; see the #cgo lines).
//
// Values: Go ints, uints, floats, bool, string, []byte, nil, slices, maps,
// *Object and structs of those (not structs) become Python values; Value()
// gives int64 (or *big.Int beyond int64), float64, bool, string, []byte,
// nil, []any, map[any]any, or *Object for anything else.
//
// Threads: every method may be called from any goroutine. Go callbacks
// (RegisterFunc) run on whichever thread Python calls them from, without
// the GIL (other Python threads and goroutines keep running); their
// pyshim calls take it for their own length.
package pyshim

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -l:libpyshim.a -lcjson -ldl -lpthread -lm
#include <stdlib.h>
#include "pyshim_ffi.h"

extern uint64_t pyshimGoCall(uint64_t ctx, uint64_t *args, size_t nargs, uint64_t kwargs);
extern void pyshimGoRelease(uint64_t ctx);

int32_t pyshim_go_register(pys_runtime *rt, const char *name, uint64_t ctx, uint32_t flags)
{
    return pys_ffi_register(rt, name, (pys_ffi_fn)pyshimGoCall, ctx, flags,
                            (pys_ffi_release_fn)pyshimGoRelease);
}
*/
import "C"

import (
	"fmt"
	"math/big"
	"reflect"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Error is a failed pyshim call: its code and the Python exception, if any.
type Error struct {
	Code      int
	Name      string // "PYS_E_PYTHON"
	Context   string // the call that failed
	Type      string // Python exception type, or ""
	Message   string
	Traceback string
}

func (e *Error) Error() string {
	if e.Type != "" {
		return e.Type + ": " + e.Message
	}
	return e.Name + ": " + e.Message
}

type reader func(buf *C.char, cap C.size_t) C.int64_t

func readField(f reader) string {
	var buf [1024]C.char
	n := int(f(&buf[0], C.size_t(len(buf))))
	if n <= len(buf) {
		return C.GoStringN(&buf[0], C.int(n))
	}
	big := make([]byte, n+1)
	n = int(f((*C.char)(unsafe.Pointer(&big[0])), C.size_t(len(big))))
	return string(big[:n])
}

// lastError reads this thread's error detail. The caller holds the OS
// thread (runtime.LockOSThread) since the failing call: the detail is per
// thread.
func lastError() *Error {
	code := int(C.pys_ffi_error_code())
	return &Error{
		Code:      code,
		Name:      C.GoString(C.pys_ffi_err_name(C.int(code))),
		Context:   readField(func(b *C.char, c C.size_t) C.int64_t { return C.pys_ffi_error_context(b, c) }),
		Type:      readField(func(b *C.char, c C.size_t) C.int64_t { return C.pys_ffi_error_type(b, c) }),
		Message:   readField(func(b *C.char, c C.size_t) C.int64_t { return C.pys_ffi_error_message(b, c) }),
		Traceback: readField(func(b *C.char, c C.size_t) C.int64_t { return C.pys_ffi_error_traceback(b, c) }),
	}
}

// ---- options and the runtime ---------------------------------------------------

// Option sets one pys_options field (pyshim_ffi.h, pys_ffi_open).
type Option func(*[][2]string)

// WithOption sets any option by its pys_options name ("python", "venv",
// "skip_finalize", ...); list options take one call per element.
func WithOption(key, value string) Option {
	return func(kv *[][2]string) { *kv = append(*kv, [2]string{key, value}) }
}

// WithLibrary loads this libpython (no search).
func WithLibrary(path string) Option { return WithOption("library_path", path) }

// WithPython pins a version ("3.12", "3.13t").
func WithPython(v string) Option { return WithOption("python", v) }

// WithArgv sets sys.argv.
func WithArgv(argv ...string) Option {
	return func(kv *[][2]string) {
		for _, a := range argv {
			*kv = append(*kv, [2]string{"argv", a})
		}
	}
}

// Runtime is the open Python (one per process).
type Runtime struct {
	rt *C.pys_runtime
}

// New finds, loads and initialises Python.
func New(opts ...Option) (*Runtime, error) {
	var kv [][2]string
	for _, o := range opts {
		o(&kv)
	}
	n := len(kv)
	keys := C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	vals := C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(keys)
	defer C.free(vals)
	ks := unsafe.Slice((**C.char)(keys), n+1)
	vs := unsafe.Slice((**C.char)(vals), n+1)
	for i, p := range kv {
		ks[i] = C.CString(p[0])
		vs[i] = C.CString(p[1])
	}
	defer func() {
		for i := 0; i < n; i++ {
			C.free(unsafe.Pointer(ks[i]))
			C.free(unsafe.Pointer(vs[i]))
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rt := C.pys_ffi_open((**C.char)(keys), (**C.char)(vals), C.size_t(n))
	if rt == nil {
		return nil, lastError()
	}
	return &Runtime{rt: rt}, nil
}

// Close finalises Python.
func (r *Runtime) Close() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if C.pys_ffi_close(r.rt) != C.PYS_FFI_OK {
		return lastError()
	}
	return nil
}

func cstr(s string) *C.char { return C.CString(s) }

// Exec runs statements in __main__.
func (r *Runtime) Exec(src string) error {
	cs := cstr(src)
	defer C.free(unsafe.Pointer(cs))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if C.pys_ffi_exec(r.rt, cs) != C.PYS_FFI_OK {
		return lastError()
	}
	return nil
}

// handle turns a result id into an Object or the thread's error; called
// with the OS thread locked.
func handle(id C.uint64_t) (*Object, error) {
	if id == 0 {
		return nil, lastError()
	}
	return newObject(uint64(id)), nil
}

// Eval evaluates an expression in __main__.
func (r *Runtime) Eval(expr string) (*Object, error) {
	cs := cstr(expr)
	defer C.free(unsafe.Pointer(cs))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return handle(C.pys_ffi_eval(r.rt, cs))
}

// Import imports a module.
func (r *Runtime) Import(name string) (*Object, error) {
	cs := cstr(name)
	defer C.free(unsafe.Pointer(cs))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return handle(C.pys_ffi_import(r.rt, cs))
}

// HandleCount is the number of live handles (for leak checks).
func (r *Runtime) HandleCount() int { return int(C.pys_ffi_handle_count(r.rt)) }

// WithGIL runs fn inside one GIL batch on one OS thread: pyshim calls in
// it cost no GIL round trip. fn must not wait for other goroutines that
// call Python.
func (r *Runtime) WithGIL(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if C.pys_ffi_gil_acquire(r.rt) != C.PYS_FFI_OK {
		return lastError()
	}
	defer C.pys_ffi_gil_release(r.rt)
	return fn()
}

// ---- objects --------------------------------------------------------------------------

// Object is a handle to a Python object. Close releases it; a finalizer
// releases it otherwise.
type Object struct {
	id uint64
	mu sync.Mutex
}

func newObject(id uint64) *Object {
	o := &Object{id: id}
	runtime.SetFinalizer(o, func(o *Object) { o.Close() })
	return o
}

// ID is the handle's id (below 2^53).
func (o *Object) ID() uint64 { return o.id }

// Close releases the handle (once; later calls do nothing).
func (o *Object) Close() {
	o.mu.Lock()
	id := o.id
	o.id = 0
	o.mu.Unlock()
	if id != 0 {
		C.pys_ffi_release(C.uint64_t(id))
	}
}

func (o *Object) h() C.uint64_t { return C.uint64_t(o.id) }

// Attr gets an attribute (dotted paths walk).
func (o *Object) Attr(name string) (*Object, error) {
	cs := cstr(name)
	defer C.free(unsafe.Pointer(cs))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return handle(C.pys_ffi_getattr(o.h(), cs))
}

// SetAttr sets an attribute to a Go value.
func (o *Object) SetAttr(name string, v any) error {
	cs := cstr(name)
	defer C.free(unsafe.Pointer(cs))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := toPython(v)
	if err != nil {
		return err
	}
	defer C.pys_ffi_release(h)
	if C.pys_ffi_setattr(o.h(), cs, h) != C.PYS_FFI_OK {
		return lastError()
	}
	return nil
}

func argHandles(args []any) ([]C.uint64_t, error) {
	hs := make([]C.uint64_t, len(args))
	for i, a := range args {
		h, err := toPython(a)
		if err != nil {
			releaseAll(hs[:i])
			return nil, err
		}
		hs[i] = h
	}
	return hs, nil
}

func releaseAll(hs []C.uint64_t) {
	for _, h := range hs {
		C.pys_ffi_release(h)
	}
}

func ptr(hs []C.uint64_t) *C.uint64_t {
	if len(hs) == 0 {
		return nil
	}
	return &hs[0]
}

// Call calls o(*args) with Go values.
func (o *Object) Call(args ...any) (*Object, error) {
	return o.CallKw(args, nil)
}

// CallKw calls o(*args, **kwargs).
func (o *Object) CallKw(args []any, kwargs map[string]any) (*Object, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	hs, err := argHandles(args)
	if err != nil {
		return nil, err
	}
	defer releaseAll(hs)
	var kw C.uint64_t
	if kwargs != nil {
		if kw, err = toPython(kwargs); err != nil {
			return nil, err
		}
		defer C.pys_ffi_release(kw)
	}
	return handle(C.pys_ffi_call_kw(o.h(), ptr(hs), C.size_t(len(hs)), kw))
}

// CallMethod calls o.name(*args).
func (o *Object) CallMethod(name string, args ...any) (*Object, error) {
	m, err := o.Attr(name)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return m.Call(args...)
}

// Len is len(o).
func (o *Object) Len() (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := C.pys_ffi_len(o.h())
	if C.pys_ffi_status() != C.PYS_FFI_OK {
		return 0, lastError()
	}
	return int(n), nil
}

// Item is o[key].
func (o *Object) Item(key any) (*Object, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	k, err := toPython(key)
	if err != nil {
		return nil, err
	}
	defer C.pys_ffi_release(k)
	return handle(C.pys_ffi_getitem(o.h(), k))
}

// Int reads an int (int64 range).
func (o *Object) Int() (int64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	v := C.pys_ffi_int64(o.h())
	if C.pys_ffi_status() != C.PYS_FFI_OK {
		return 0, lastError()
	}
	return int64(v), nil
}

// Float reads a float (or an int).
func (o *Object) Float() (float64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	v := C.pys_ffi_double(o.h())
	if C.pys_ffi_status() != C.PYS_FFI_OK {
		return 0, lastError()
	}
	return float64(v), nil
}

func readString(f func(buf *C.char, cap C.size_t) C.int64_t) ([]byte, error) {
	var small [256]C.char
	n := f(&small[0], C.size_t(len(small)))
	if n < 0 {
		return nil, lastError()
	}
	if int(n) <= len(small) {
		return C.GoBytes(unsafe.Pointer(&small[0]), C.int(n)), nil
	}
	buf := make([]byte, int(n))
	n = f((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return buf[:int(n)], nil
}

// String reads a str (NULs kept).
func (o *Object) String() (string, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := readString(func(buf *C.char, c C.size_t) C.int64_t { return C.pys_ffi_str_read(o.h(), buf, c) })
	return string(b), err
}

// Bytes reads bytes, bytearray or any buffer exporter.
func (o *Object) Bytes() ([]byte, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return readString(func(buf *C.char, c C.size_t) C.int64_t { return C.pys_ffi_bytes_read(o.h(), buf, c) })
}

// Repr is repr(o).
func (o *Object) Repr() string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := C.pys_ffi_repr(o.h())
	if r == 0 {
		return "<repr failed: " + lastError().Error() + ">"
	}
	defer C.pys_ffi_release(r)
	b, _ := readString(func(buf *C.char, c C.size_t) C.int64_t { return C.pys_ffi_str_read(r, buf, c) })
	return string(b)
}

// Int64s reads any sequence of ints into a new slice, in one call.
func (o *Object) Int64s() ([]int64, error) {
	n, err := o.Len()
	if err != nil {
		return nil, err
	}
	out := make([]int64, n)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var got C.size_t
	var p *C.int64_t
	if n > 0 {
		p = (*C.int64_t)(unsafe.Pointer(&out[0]))
	}
	if C.pys_ffi_to_int64s(o.h(), p, C.size_t(n), &got) != C.PYS_FFI_OK {
		return nil, lastError()
	}
	return out[:int(got)], nil
}

// Float64s reads any sequence of numbers into a new slice, in one call.
func (o *Object) Float64s() ([]float64, error) {
	n, err := o.Len()
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var got C.size_t
	var p *C.double
	if n > 0 {
		p = (*C.double)(unsafe.Pointer(&out[0]))
	}
	if C.pys_ffi_to_doubles(o.h(), p, C.size_t(n), &got) != C.PYS_FFI_OK {
		return nil, lastError()
	}
	return out[:int(got)], nil
}

// Value converts the object to a Go value (see the package comment).
func (o *Object) Value() (any, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return fromPython(o.h())
}

// ---- conversions (OS thread locked) -------------------------------------------------------

func currentRT() *C.pys_runtime { return C.pys_ffi_runtime_current() }

func check(h C.uint64_t) (C.uint64_t, error) {
	if h == 0 {
		return 0, lastError()
	}
	return h, nil
}

// toPython makes a new handle for a Go value.
func toPython(v any) (C.uint64_t, error) {
	rt := currentRT()
	switch x := v.(type) {
	case nil:
		return check(C.pys_ffi_none(rt))
	case *Object:
		return check(C.pys_ffi_dup(x.h()))
	case string:
		if len(x) == 0 {
			return check(C.pys_ffi_from_strn(rt, nil, 0))
		}
		p := C.CBytes([]byte(x))
		defer C.free(p)
		return check(C.pys_ffi_from_strn(rt, (*C.char)(p), C.size_t(len(x))))
	case []byte:
		if len(x) == 0 {
			return check(C.pys_ffi_from_bytes(rt, nil, 0))
		}
		p := C.CBytes(x)
		defer C.free(p)
		return check(C.pys_ffi_from_bytes(rt, p, C.size_t(len(x))))
	case []int64:
		var p *C.int64_t
		if len(x) > 0 {
			p = (*C.int64_t)(unsafe.Pointer(&x[0]))
		}
		return check(C.pys_ffi_list_from_int64s(rt, p, C.size_t(len(x))))
	case []float64:
		var p *C.double
		if len(x) > 0 {
			p = (*C.double)(unsafe.Pointer(&x[0]))
		}
		return check(C.pys_ffi_list_from_doubles(rt, p, C.size_t(len(x))))
	case *big.Int:
		s := cstr(x.String())
		defer C.free(unsafe.Pointer(s))
		ints, err := check(C.pys_ffi_eval(rt, s))
		return ints, err
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool:
		b := C.int32_t(0)
		if rv.Bool() {
			b = 1
		}
		return check(C.pys_ffi_from_bool(rt, b))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return check(C.pys_ffi_from_int64(rt, C.int64_t(rv.Int())))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return check(C.pys_ffi_from_uint64(rt, C.uint64_t(rv.Uint())))
	case reflect.Float32, reflect.Float64:
		return check(C.pys_ffi_from_double(rt, C.double(rv.Float())))
	case reflect.String:
		return toPython(rv.String())
	case reflect.Slice, reflect.Array:
		n := rv.Len()
		hs := make([]C.uint64_t, n)
		for i := 0; i < n; i++ {
			h, err := toPython(rv.Index(i).Interface())
			if err != nil {
				releaseAll(hs[:i])
				return 0, err
			}
			hs[i] = h
		}
		defer releaseAll(hs)
		return check(C.pys_ffi_list_new(rt, ptr(hs), C.size_t(n)))
	case reflect.Map:
		d, err := check(C.pys_ffi_dict_new(rt))
		if err != nil {
			return 0, err
		}
		it := rv.MapRange()
		for it.Next() {
			k, err := toPython(it.Key().Interface())
			if err != nil {
				C.pys_ffi_release(d)
				return 0, err
			}
			x, err := toPython(it.Value().Interface())
			if err != nil {
				C.pys_ffi_release(k)
				C.pys_ffi_release(d)
				return 0, err
			}
			rc := C.pys_ffi_setitem(d, k, x)
			C.pys_ffi_release(k)
			C.pys_ffi_release(x)
			if rc != C.PYS_FFI_OK {
				C.pys_ffi_release(d)
				return 0, lastError()
			}
		}
		return d, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return toPython(nil)
		}
		return toPython(rv.Elem().Interface())
	}
	return 0, &Error{Code: int(C.PYS_FFI_E_TYPE), Name: "PYS_E_TYPE",
		Message: fmt.Sprintf("pyshim: cannot convert a Go %T to Python", v)}
}

func typeName(h C.uint64_t) (string, error) {
	var buf [128]C.char
	if C.pys_ffi_type_name(h, &buf[0], C.size_t(len(buf))) != C.PYS_FFI_OK {
		return "", lastError()
	}
	return C.GoString(&buf[0]), nil
}

func fromPython(h C.uint64_t) (any, error) {
	t, err := typeName(h)
	if err != nil {
		return nil, err
	}
	switch t {
	case "int":
		v := C.pys_ffi_int64(h)
		if C.pys_ffi_status() == C.PYS_FFI_OK {
			return int64(v), nil
		}
		s := C.pys_ffi_str(h)
		if s == 0 {
			return nil, lastError()
		}
		defer C.pys_ffi_release(s)
		b, err := readString(func(buf *C.char, c C.size_t) C.int64_t { return C.pys_ffi_str_read(s, buf, c) })
		if err != nil {
			return nil, err
		}
		n, _ := new(big.Int).SetString(string(b), 10)
		return n, nil
	case "float":
		return float64(C.pys_ffi_double(h)), nil
	case "bool":
		return C.pys_ffi_bool(h) != 0, nil
	case "NoneType":
		return nil, nil
	case "str":
		b, err := readString(func(buf *C.char, c C.size_t) C.int64_t { return C.pys_ffi_str_read(h, buf, c) })
		return string(b), err
	case "bytes", "bytearray":
		return readString(func(buf *C.char, c C.size_t) C.int64_t { return C.pys_ffi_bytes_read(h, buf, c) })
	case "list", "tuple":
		n := int(C.pys_ffi_len(h))
		out := make([]any, n)
		for i := 0; i < n; i++ {
			x, err := check(C.pys_ffi_getitem_index(h, C.int64_t(i)))
			if err != nil {
				return nil, err
			}
			out[i], err = fromPython(x)
			C.pys_ffi_release(x)
			if err != nil {
				return nil, err
			}
		}
		return out, nil
	case "dict":
		items, err := check(C.pys_ffi_items(h))
		if err != nil {
			return nil, err
		}
		defer C.pys_ffi_release(items)
		pairs, err := fromPython(items)
		if err != nil {
			return nil, err
		}
		out := map[any]any{}
		for _, p := range pairs.([]any) {
			kv := p.([]any)
			k := kv[0]
			if reflect.TypeOf(k) != nil && !reflect.TypeOf(k).Comparable() {
				k = fmt.Sprint(k)
			}
			out[k] = kv[1]
		}
		return out, nil
	}
	d, err := check(C.pys_ffi_dup(h))
	if err != nil {
		return nil, err
	}
	return newObject(uint64(d)), nil
}

// toPythonObject converts a Go value to a new Object.
func toPythonObject(v any) (*Object, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := toPython(v)
	if err != nil {
		return nil, err
	}
	return newObject(uint64(h)), nil
}

// Value converts a Go value to a Python object.
func (r *Runtime) Value(v any) (*Object, error) { return toPythonObject(v) }

// RunAsync evaluates expr (a coroutine) and runs it to completion
// (asyncio.run) on this thread.
func (r *Runtime) RunAsync(expr string) (*Object, error) {
	cs := cstr(expr)
	defer C.free(unsafe.Pointer(cs))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return handle(C.pys_ffi_run_async(r.rt, cs))
}

// Future is a coroutine running in the background.
type Future struct{ f *C.pys_future }

// RunAsyncBg evaluates expr (a coroutine) and runs it on pyshim's
// background loop.
func (r *Runtime) RunAsyncBg(expr string) (*Future, error) {
	cs := cstr(expr)
	defer C.free(unsafe.Pointer(cs))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := C.pys_ffi_run_async_bg(r.rt, cs, nil, nil)
	if f == nil {
		return nil, lastError()
	}
	return &Future{f: f}, nil
}

// Wait waits up to timeout for the value (or the coroutine's error).
func (f *Future) Wait(timeout time.Duration) (*Object, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if C.pys_ffi_future_wait(f.f, C.int64_t(timeout.Milliseconds())) != C.PYS_FFI_OK {
		return nil, lastError()
	}
	return handle(C.pys_ffi_future_result(f.f))
}

// Done says whether the future has completed.
func (f *Future) Done() bool { return C.pys_ffi_future_done(f.f) != 0 }

// Cancel asks the coroutine to stop.
func (f *Future) Cancel() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if C.pys_ffi_future_cancel(f.f) != C.PYS_FFI_OK {
		return lastError()
	}
	return nil
}

// Free frees the future (cancelling it if pending).
func (f *Future) Free() { C.pys_ffi_future_free(f.f) }
