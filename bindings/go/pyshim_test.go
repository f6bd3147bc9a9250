package pyshim

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var py *Runtime

func TestMain(m *testing.M) {
	lib := os.Getenv("PYSHIM_TEST_LIBPYTHON")
	if lib == "" {
		fmt.Println("PYSHIM_TEST_LIBPYTHON not set")
		os.Exit(2)
	}
	var err error
	py, err = New(WithLibrary(lib), WithArgv("go-test"))
	if err != nil {
		fmt.Println("New:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := py.Close(); err != nil {
		fmt.Println("Close:", err)
		code = 1
	}
	os.Exit(code)
}

// must and value panic on an error: the test fails with its stack.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func ok(err error) {
	if err != nil {
		panic(err)
	}
}

func value(o *Object, err error) any {
	if err != nil {
		panic(err)
	}
	defer o.Close()
	return must(o.Value())
}

func TestRoundTrips(t *testing.T) {
	id := must(py.Eval("lambda x: x"))
	defer id.Close()
	s := "a\x00b\u00e9\u20ac"
	cases := []struct {
		in, want any
	}{
		{int64(-7), int64(-7)}, {42, int64(42)}, {uint64(1 << 63), nil}, {0.25, 0.25},
		{s, s}, {[]byte{0, 1}, []byte{0, 1}}, {true, true}, {nil, nil},
		{[]any{1, "x"}, []any{int64(1), "x"}},
	}
	for _, c := range cases {
		got := value(id.Call(c.in))
		if c.want == nil && c.in != nil {
			continue // checked below
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", c.want) {
			t.Errorf("%#v came back as %#v", c.in, got)
		}
	}
	big := value(id.Call(uint64(1<<63)))
	if fmt.Sprint(big) != "9223372036854775808" {
		t.Errorf("2**63 came back as %v", big)
	}
	n := value(must(py.Eval("len")).Call(s))
	if n != int64(5) {
		t.Errorf("len = %v", n)
	}
	d := value(py.Eval("lambda d: sorted(d.items())"))
	_ = d
	f := must(py.Eval("lambda d: sorted(d.items())"))
	r := must(f.Call(map[string]any{"a": 1, "b": []float64{1.5, 2.5}}))
	if r.Repr() != "[('a', 1), ('b', [1.5, 2.5])]" {
		t.Errorf("dict: %s", r.Repr())
	}
	m := value(py.Eval("{'x': [1, (2, 'y')]}")).(map[any]any)
	if fmt.Sprint(m["x"]) != "[1 [2 y]]" {
		t.Errorf("dict back: %v", m)
	}
}

func TestExecImportAttrCallKw(t *testing.T) {
	if err := py.Exec("def kw(a, b=0, *, c=0): return a + b * 10 + c * 100"); err != nil {
		t.Fatal(err)
	}
	kw := must(must(py.Import("__main__")).Attr("kw"))
	if v := value(kw.CallKw([]any{1}, map[string]any{"b": 2, "c": 3})); v != int64(321) {
		t.Errorf("kw = %v", v)
	}
	gcd := must(py.Eval("__import__('math').gcd"))
	if v := must(must(gcd.Call(84, 36)).Int()); v != 12 {
		t.Errorf("gcd = %d", v)
	}
	argv := value(py.Eval("__import__('sys').argv"))
	if fmt.Sprint(argv) != "[go-test]" {
		t.Errorf("argv = %v", argv)
	}
}

func TestErrors(t *testing.T) {
	_, err := py.Eval("1/0")
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("not a *Error: %v", err)
	}
	if pe.Type != "ZeroDivisionError" || pe.Name != "PYS_E_PYTHON" || !strings.Contains(pe.Traceback, "ZeroDivisionError") {
		t.Errorf("error = %+v", pe)
	}
	o := must(py.Eval("'x'"))
	if _, err := o.Int(); err == nil || !strings.Contains(err.Error(), "PYS_E_TYPE") && !strings.Contains(err.Error(), "int") {
		t.Errorf("Int of a str: %v", err)
	}
}

func TestRegisterFuncTyped(t *testing.T) {
	ok(py.RegisterFunc("add", func(a, b int) int { return a + b }))
	ok(py.RegisterFunc("join", func(sep string, parts ...string) string { return strings.Join(parts, sep) }))
	ok(py.RegisterFunc("scale", func(xs []float64, k float64) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = x * k
		}
		return out
	}))
	ok(py.RegisterFunc("obj", func(o *Object) (string, error) { return o.Repr(), nil }))
	if v := value(py.Eval("__import__('c_bridge').add(40, 2)")); v != int64(42) {
		t.Errorf("add = %v", v)
	}
	if v := value(py.Eval("__import__('c_bridge').join('-', 'a', 'b\\x00', 'é')")); v != "a-b\x00-é" {
		t.Errorf("join = %q", v)
	}
	if v := value(py.Eval("__import__('c_bridge').scale([1, 2.5], 2)")); fmt.Sprint(v) != "[2 5]" {
		t.Errorf("scale = %v", v)
	}
	if v := value(py.Eval("__import__('c_bridge').obj({1: 2})")); v != "{1: 2}" {
		t.Errorf("obj = %v", v)
	}
	// A bad argument is a TypeError-like error in Python, not a crash.
	_, err := py.Eval("__import__('c_bridge').add('x', 2)")
	if err == nil || !strings.Contains(err.Error(), "argument 1") {
		t.Errorf("bad argument: %v", err)
	}
}

func TestCallbackThatFails(t *testing.T) {
	ok(py.RegisterFunc("boom", func() error { return errors.New("go says no") }))
	ok(py.RegisterFunc("panics", func() int { panic("oh no") }))
	ok(py.RegisterFunc("nested", func() (*Object, error) { return py.Eval("undefined_name") }))
	if err := py.Exec(`
import c_bridge
def kind(f):
    try:
        f()
    except BaseException as e:
        return type(e).__name__ + ': ' + str(e)
    return 'no error'
`); err != nil {
		t.Fatal(err)
	}
	for fn, want := range map[string]string{
		"boom": "RuntimeError: go says no", "panics": "RuntimeError: Go function panics panicked: oh no",
		"nested": "NameError",
	} {
		got := value(py.Eval("kind(c_bridge."+fn+")")).(string)
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q", fn, got, want)
		}
	}
	before := py.HandleCount()
	for i := 0; i < 300; i++ {
		o := must(py.Eval("kind(c_bridge.boom), kind(c_bridge.panics), kind(c_bridge.nested)"))
		o.Close()
	}
	if after := py.HandleCount(); after > before {
		t.Errorf("handles: %d before, %d after 900 failing callbacks", before, after)
	}
}

// A Python thread calls a Go callback while the goroutine that started it
// is busy elsewhere (waiting on a channel the callback feeds); the host
// then joins the thread.
func TestCallbackFromPythonThread(t *testing.T) {
	got := make(chan int64, 10)
	ok(py.RegisterFunc("feed", func(x int64) int64 { got <- x; return x * 2 }))
	if err := py.Exec(`
import threading, c_bridge
out = []
def work():
    for i in range(5):
        out.append(c_bridge.feed(i))
    try:
        c_bridge.boom()
    except RuntimeError:
        out.append('raised')
th = threading.Thread(target=work)
th.start()
`); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for i := 0; i < 5; i++ {
		select {
		case x := <-got:
			sum += x
		case <-time.After(60 * time.Second):
			t.Fatal("the callback was not called")
		}
	}
	if sum != 10 {
		t.Errorf("sum = %d", sum)
	}
	if err := py.Exec("th.join()"); err != nil {
		t.Fatal(err)
	}
	if r := must(py.Eval("out")).Repr(); r != "[0, 2, 4, 6, 8, 'raised']" {
		t.Errorf("out = %s", r)
	}
}

func TestGoroutinesInParallel(t *testing.T) {
	var calls int64
	ok(py.RegisterFunc("count", func(x int64) int64 { atomic.AddInt64(&calls, 1); return x + 1 }))
	inc := must(py.Eval("lambda x: __import__('c_bridge').count(x) + 1"))
	defer inc.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				r, err := inc.Call(g * i)
				if err != nil {
					errs <- err
					return
				}
				v, err := r.Int()
				r.Close()
				if err != nil || v != int64(g*i+2) {
					errs <- fmt.Errorf("goroutine %d: %d gave %d (%v)", g, i, v, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if calls != 1600 {
		t.Errorf("calls = %d", calls)
	}
}

func TestMillionElementSlices(t *testing.T) {
	const n = 1 << 20
	xs := make([]int64, n)
	for i := range xs {
		xs[i] = int64(i) * 3
	}
	sum := must(py.Eval("sum"))
	s := must(must(sum.Call(xs)).Int())
	if want := int64(3) * (n - 1) * n / 2; s != want {
		t.Errorf("sum = %d, want %d", s, want)
	}
	l := must(py.Eval("[i * 0.5 for i in range(1 << 20)]"))
	fs := must(l.Float64s())
	if len(fs) != n || fs[n-1] != float64(n-1)*0.5 {
		t.Errorf("Float64s: %d items, last %v", len(fs), fs[len(fs)-1])
	}
	is := must(must(py.Eval("range(1 << 20)")).Int64s())
	if len(is) != n || is[n-1] != n-1 {
		t.Errorf("Int64s: %d items", len(is))
	}
}

func TestWithGILAndAsync(t *testing.T) {
	var acc int64
	err := py.WithGIL(func() error {
		for i := int64(1); i <= 1000; i++ {
			o, err := toPythonObject(i)
			if err != nil {
				return err
			}
			v, _ := o.Int()
			acc += v
			o.Close()
		}
		return nil
	})
	if err != nil || acc != 500500 {
		t.Errorf("WithGIL: %d, %v", acc, err)
	}
	if err := py.Exec("import asyncio\nasync def twice(x):\n    await asyncio.sleep(0.01)\n    return 2 * x\n"); err != nil {
		t.Fatal(err)
	}
	if v := value(py.RunAsync("twice(21)")); v != int64(42) {
		t.Errorf("RunAsync = %v", v)
	}
	f, err := py.RunAsyncBg("twice(4)")
	if err != nil {
		t.Fatal(err)
	}
	if v := value(f.Wait(60*time.Second)); v != int64(8) {
		t.Errorf("background = %v", v)
	}
	f.Free()
	f, _ = py.RunAsyncBg("asyncio.sleep(0.01, result=1/0) if False else twice(None)")
	if _, err := f.Wait(60 * time.Second); err == nil || !strings.Contains(err.Error(), "TypeError") {
		t.Errorf("failing background: %v", err)
	}
	f.Free()
}
