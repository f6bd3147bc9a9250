package pyshim

/*
#include <stdlib.h>
#include "pyshim_ffi.h"
int32_t pyshim_go_register(pys_runtime *rt, const char *name, uint64_t ctx, uint32_t flags);
*/
import "C"

import (
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"runtime"
	"sync"
	"unsafe"
)

// Go functions registered with RegisterFunc, by ctx.
var (
	funcsMu sync.Mutex
	funcs   = map[uint64]*goFunc{}
	nextCtx uint64
)

type goFunc struct {
	name string
	fn   reflect.Value
	typ  reflect.Type
}

var (
	errorType  = reflect.TypeOf((*error)(nil)).Elem()
	objectType = reflect.TypeOf((*Object)(nil))
)

// RegisterFunc exposes fn to Python as c_bridge.<name>. fn is any Go func
// whose parameters and results convert (ints, uints, floats, bool, string,
// []byte, slices and maps of those, *Object for any object, any for the
// value as Value() gives it; variadic too), optionally returning an error
// last. A returned error or a panic raises in Python (RuntimeError with
// the message, or the original Python exception when it is a pyshim
// *Error from a failed call). A *Object argument is borrowed: valid during
// the call. The function runs on the thread Python calls it from, without
// the GIL.
func (r *Runtime) RegisterFunc(name string, fn any) error {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func {
		return &Error{Code: int(C.PYS_FFI_E_ARG), Name: "PYS_E_ARG",
			Message: fmt.Sprintf("RegisterFunc %s: %T is not a func", name, fn)}
	}
	t := v.Type()
	if t.NumOut() > 2 || (t.NumOut() == 2 && t.Out(1) != errorType) {
		return &Error{Code: int(C.PYS_FFI_E_ARG), Name: "PYS_E_ARG",
			Message: fmt.Sprintf("RegisterFunc %s: results must be (), (T), (error) or (T, error)", name)}
	}
	funcsMu.Lock()
	nextCtx++
	ctx := nextCtx
	funcs[ctx] = &goFunc{name: name, fn: v, typ: t}
	funcsMu.Unlock()
	cs := cstr(name)
	defer C.free(unsafe.Pointer(cs))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if C.pyshim_go_register(r.rt, cs, C.uint64_t(ctx), C.PYS_FFI_RELEASE_GIL) != C.PYS_FFI_OK {
		funcsMu.Lock()
		delete(funcs, ctx)
		funcsMu.Unlock()
		return lastError()
	}
	return nil
}

//export pyshimGoRelease
func pyshimGoRelease(ctx C.uint64_t) {
	funcsMu.Lock()
	delete(funcs, uint64(ctx))
	funcsMu.Unlock()
}

// fail records what Python raises when the callback returns 0.
func fail(msg string) C.uint64_t {
	cs := cstr(msg)
	defer C.free(unsafe.Pointer(cs))
	ct := cstr("RuntimeError")
	defer C.free(unsafe.Pointer(ct))
	C.pys_ffi_fail(ct, cs)
	return 0
}

// argValue converts a borrowed handle to a value of type t.
func argValue(h C.uint64_t, t reflect.Type) (reflect.Value, error) {
	if t == objectType {
		return reflect.ValueOf(&Object{id: uint64(h)}), nil // borrowed: no finalizer
	}
	v, err := fromPython(h)
	if err != nil {
		return reflect.Value{}, err
	}
	return convertTo(v, t)
}

func convertTo(v any, t reflect.Type) (reflect.Value, error) {
	if t.Kind() == reflect.Interface {
		if v == nil {
			return reflect.Zero(t), nil
		}
		return reflect.ValueOf(v), nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			return reflect.Value{}, fmt.Errorf("expected an int, got %T", v)
		}
		out := reflect.New(t).Elem()
		if out.OverflowInt(n) {
			return reflect.Value{}, fmt.Errorf("%d does not fit %s", n, t)
		}
		out.SetInt(n)
		return out, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		switch n := v.(type) {
		case int64:
			if n < 0 {
				return reflect.Value{}, fmt.Errorf("%d does not fit %s", n, t)
			}
			u = uint64(n)
		case *big.Int:
			if !n.IsUint64() {
				return reflect.Value{}, fmt.Errorf("%s does not fit %s", n, t)
			}
			u = n.Uint64()
		default:
			return reflect.Value{}, fmt.Errorf("expected an int, got %T", v)
		}
		out := reflect.New(t).Elem()
		if out.OverflowUint(u) {
			return reflect.Value{}, fmt.Errorf("%d does not fit %s", u, t)
		}
		out.SetUint(u)
		return out, nil
	case reflect.Float32, reflect.Float64:
		out := reflect.New(t).Elem()
		switch n := v.(type) {
		case float64:
			out.SetFloat(n)
		case int64:
			out.SetFloat(float64(n))
		default:
			return reflect.Value{}, fmt.Errorf("expected a float, got %T", v)
		}
		return out, nil
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return reflect.Value{}, fmt.Errorf("expected a bool, got %T", v)
		}
		return reflect.ValueOf(b).Convert(t), nil
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return reflect.Value{}, fmt.Errorf("expected a str, got %T", v)
		}
		return reflect.ValueOf(s).Convert(t), nil
	case reflect.Slice:
		if b, ok := v.([]byte); ok && t.Elem().Kind() == reflect.Uint8 {
			return reflect.ValueOf(b).Convert(t), nil
		}
		items, ok := v.([]any)
		if !ok {
			return reflect.Value{}, fmt.Errorf("expected a list, got %T", v)
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, x := range items {
			e, err := convertTo(x, t.Elem())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("item %d: %v", i, err)
			}
			out.Index(i).Set(e)
		}
		return out, nil
	case reflect.Map:
		m, ok := v.(map[any]any)
		if !ok {
			return reflect.Value{}, fmt.Errorf("expected a dict, got %T", v)
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for k, x := range m {
			kv, err := convertTo(k, t.Key())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("key %v: %v", k, err)
			}
			xv, err := convertTo(x, t.Elem())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("value of %v: %v", k, err)
			}
			out.SetMapIndex(kv, xv)
		}
		return out, nil
	}
	return reflect.Value{}, fmt.Errorf("cannot convert to %s", t)
}

//export pyshimGoCall
func pyshimGoCall(ctx C.uint64_t, args *C.uint64_t, nargs C.size_t, kwargs C.uint64_t) (res C.uint64_t) {
	// The callback runs on a thread Python chose; keep it for the error
	// detail of the calls made here.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	funcsMu.Lock()
	f := funcs[uint64(ctx)]
	funcsMu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			res = fail(fmt.Sprintf("Go function %s panicked: %v", f.name, p))
		}
	}()
	hs := unsafe.Slice(args, int(nargs))
	t := f.typ
	nin := t.NumIn()
	if kwargs != 0 {
		return fail(fmt.Sprintf("%s() takes no keyword arguments", f.name))
	}
	if (!t.IsVariadic() && len(hs) != nin) || (t.IsVariadic() && len(hs) < nin-1) {
		return fail(fmt.Sprintf("%s() takes %d arguments (%d given)", f.name, nin, len(hs)))
	}
	in := make([]reflect.Value, len(hs))
	for i, h := range hs {
		pt := reflect.Type(nil)
		if t.IsVariadic() && i >= nin-1 {
			pt = t.In(nin - 1).Elem()
		} else {
			pt = t.In(i)
		}
		v, err := argValue(h, pt)
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				return 0
			}
			return fail(fmt.Sprintf("%s() argument %d: %v", f.name, i+1, err))
		}
		in[i] = v
	}
	out := f.fn.Call(in)
	if len(out) > 0 && t.Out(len(out)-1) == errorType {
		if e := out[len(out)-1]; !e.IsNil() {
			err := e.Interface().(error)
			var pe *Error
			if errors.As(err, &pe) {
				return 0 // the failed call's own Python exception
			}
			return fail(err.Error())
		}
		out = out[:len(out)-1]
	}
	var v any
	if len(out) == 1 {
		v = out[0].Interface()
	}
	h, err := toPython(v)
	if err != nil {
		return fail(fmt.Sprintf("%s() result: %v", f.name, err))
	}
	return h
}
