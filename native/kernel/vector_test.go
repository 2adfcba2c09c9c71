package kernel

import (
	"math"
	"testing"
)

func TestExpAccuracy(t *testing.T) {
	var xs []float32
	for x := float32(-87); x <= 88; x += 0.0137 {
		xs = append(xs, x)
	}
	xs = append(xs, 0, -0.5, 1e-8, -1e-8)
	got := append([]float32(nil), xs...)
	Exp(got)
	for i, x := range xs {
		want := math.Exp(float64(x))
		if rel := math.Abs(float64(got[i])-want) / want; rel > 3e-7 {
			t.Fatalf("exp(%g) = %g, want %g (relative error %g)", x, got[i], want, rel)
		}
		if s := expf(x); math.Abs(float64(s)-want)/want > 3e-7 {
			t.Fatalf("scalar exp(%g) = %g, want %g", x, s, want)
		}
	}
	// Far below the range: tiny, finite, not negative.
	low := []float32{-1000, -200, -88, -87.5, -1000, -200, -88, -87.5, -300}
	Exp(low)
	for i, v := range low {
		if v < 0 || v > 1e-37 || math.IsNaN(float64(v)) {
			t.Errorf("exp(low[%d]) = %g", i, v)
		}
	}
}

func TestSoftmaxSiLULogSumExp(t *testing.T) {
	x := []float32{1, 2, 3, -1, 0.5, 7, -20, 2, 2.5}
	var ref float64
	for _, v := range x {
		ref += math.Exp(float64(v))
	}
	scratch := make([]float32, len(x))
	if got := LogSumExp(x, scratch); math.Abs(got-math.Log(ref)) > 1e-6 {
		t.Errorf("LogSumExp = %g, want %g", got, math.Log(ref))
	}
	p := append([]float32(nil), x...)
	Softmax(p)
	for i, v := range x {
		if want := math.Exp(float64(v)) / ref; math.Abs(float64(p[i])-want) > 1e-6 {
			t.Errorf("softmax[%d] = %g, want %g", i, p[i], want)
		}
	}
	u := []float32{2, 2, 2, 2, 2, 2, 2, 2, 2}
	h := make([]float32, len(x))
	SiLUMul(h, x, u)
	for i, v := range x {
		want := 2 * float64(v) / (1 + math.Exp(-float64(v)))
		if math.Abs(float64(h[i])-want) > 1e-5*(1+math.Abs(want)) {
			t.Errorf("silu·u[%d] = %g, want %g", i, h[i], want)
		}
	}
}

// Softmax against float64 for every length from 1 to 70 (SIMD bodies and
// scalar tails), with masked (−Inf) entries and a large spread.
func TestSoftmaxLengths(t *testing.T) {
	for n := 1; n <= 70; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Sin(float64(i*7+n))) * 30
			if i%5 == 3 && i != n-1 {
				x[i] = float32(math.Inf(-1))
			}
		}
		mx := math.Inf(-1)
		for _, v := range x {
			mx = math.Max(mx, float64(v))
		}
		var sum float64
		for _, v := range x {
			sum += math.Exp(float64(v) - mx)
		}
		p := append([]float32(nil), x...)
		Softmax(p)
		var total float64
		for i, v := range x {
			want := math.Exp(float64(v)-mx) / sum
			if math.Abs(float64(p[i])-want) > 1e-6*(1+want) {
				t.Fatalf("n=%d: softmax[%d] = %g, want %g", n, i, p[i], want)
			}
			total += float64(p[i])
		}
		if math.Abs(total-1) > 1e-5 {
			t.Fatalf("n=%d: sums to %g", n, total)
		}
	}
}

func BenchmarkSoftmax128(b *testing.B) {
	x := make([]float32, 128)
	for i := 0; i < b.N; i++ {
		for j := range x {
			x[j] = float32(j%17) * 0.3
		}
		Softmax(x)
	}
}

// LogSumExp against float64 for lengths 1..70 and a vocabulary-sized row.
func TestLogSumExpLengths(t *testing.T) {
	for _, n := range append([]int{49152}, func() []int {
		var l []int
		for i := 1; i <= 70; i++ {
			l = append(l, i)
		}
		return l
	}()...) {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Sin(float64(i*13+n))) * 12
		}
		mx := math.Inf(-1)
		for _, v := range x {
			mx = math.Max(mx, float64(v))
		}
		var sum float64
		for _, v := range x {
			sum += math.Exp(float64(v) - mx)
		}
		want := mx + math.Log(sum)
		if got := LogSumExp(x, make([]float32, n)); math.Abs(got-want) > 1e-6*(1+math.Abs(want)) {
			t.Fatalf("n=%d: LogSumExp = %.9g, want %.9g", n, got, want)
		}
	}
}
