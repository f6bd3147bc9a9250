package pyshim

import "testing"

func BenchmarkIntRoundTrip(b *testing.B) {
	_ = py.WithGIL(func() error { b.ResetTimer(); benchIntRoundTrip(py, b.N); return nil })
}

func BenchmarkLen3(b *testing.B) {
	fn, _ := py.Eval("len")
	list, _ := py.Eval("[1, 2, 3]")
	defer fn.Close()
	defer list.Close()
	_ = py.WithGIL(func() error { b.ResetTimer(); benchLen3(py, fn, list, b.N); return nil })
}

// One cgo call that does nothing: the round trip and len() make three.
func BenchmarkCgoCrossing(b *testing.B) {
	benchCrossing(b.N)
}

// The binding's own API (conversions, finalizers), for reference.
func BenchmarkIntRoundTripAPI(b *testing.B) {
	for i := 0; i < b.N; i++ {
		o, _ := py.Value(i)
		_, _ = o.Int()
		o.Close()
	}
}
