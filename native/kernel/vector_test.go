package kernel

import (
	"math"
	"math/rand/v2"
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
	if got := LogSumExp(x); math.Abs(got-math.Log(ref)) > 1e-6 {
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
		if got := LogSumExp(x); math.Abs(got-want) > 1e-6*(1+math.Abs(want)) {
			t.Fatalf("n=%d: LogSumExp = %.9g, want %.9g", n, got, want)
		}
	}
}

// SiLUMul (SIMD body, scalar tail) and RMSNorm against float64 for
// lengths 1..70, with arguments that clamp the exp.
func TestSiLUMulRMSNormLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for n := 1; n <= 70; n++ {
		g := make([]float32, n)
		u := make([]float32, n)
		w := make([]float32, n)
		for i := range g {
			g[i] = float32(r.NormFloat64() * 4)
			u[i] = float32(r.NormFloat64())
			w[i] = float32(1 + r.NormFloat64()/10)
		}
		if n > 3 {
			g[0], g[1], g[2] = -100, 100, 0
		}
		h := make([]float32, n)
		for _, silu := range []func(h, g, u []float32){SiLUMul, siluMulGo} {
			silu(h, g, u)
			for i := range h {
				ref := float64(g[i]) / (1 + math.Exp(-float64(g[i]))) * float64(u[i])
				if math.Abs(float64(h[i])-ref) > 1e-5*(1+math.Abs(ref)) {
					t.Fatalf("n=%d: silu·u[%d] = %g, want %g", n, i, h[i], ref)
				}
			}
		}
		const eps = 1e-5
		var ss float64
		for _, v := range g {
			ss += float64(v) * float64(v)
		}
		inv := 1 / math.Sqrt(ss/float64(n)+eps)
		for _, norm := range []func(dst, x, w []float32, eps float64){RMSNorm, rmsNormGo} {
			norm(h, g, w, eps)
			for i, v := range g {
				ref := float64(w[i]) * float64(v) * inv
				if math.Abs(float64(h[i])-ref) > 1e-6*(1+math.Abs(ref)) {
					t.Fatalf("n=%d: rmsnorm[%d] = %g, want %g", n, i, h[i], ref)
				}
			}
		}
	}
}

// LSEStep over blocks of a row gives the row's log-sum-exp, for every
// kernel (SIMD bodies and scalar tails, blocks whose max rises and falls),
// and NaN or +Inf in a block makes the result NaN or +Inf.
func TestLSEStepBlocks(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(41, 42))
		for _, n := range []int{1, 7, 8, 9, 70, 1000, 49152} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 5)
			}
			if n > 100 {
				x[n/2] = 40 // the max arrives mid-row
			}
			var mx float64 = math.Inf(-1)
			for _, v := range x {
				mx = max(mx, float64(v))
			}
			var sum float64
			for _, v := range x {
				sum += math.Exp(float64(v) - mx)
			}
			want := mx + math.Log(sum)
			for _, block := range []int{1, 5, 8, 64, 2048, n} {
				m, s := math.Inf(-1), 0.0
				for lo := 0; lo < n; lo += block {
					m, s = LSEStep(x[lo:min(lo+block, n)], m, s)
				}
				if got := m + math.Log(s); math.Abs(got-want) > 1e-6*(1+math.Abs(want)) {
					t.Fatalf("n=%d block=%d: %.9g, want %.9g", n, block, got, want)
				}
			}
		}
		for _, c := range []struct {
			bad  float32
			want float64
		}{{float32(math.NaN()), math.NaN()}, {float32(math.Inf(1)), math.Inf(1)}} {
			x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
			m, s := LSEStep(x[:5], math.Inf(-1), 0)
			x[7] = c.bad
			m, s = LSEStep(x[5:], m, s)
			got := m + math.Log(s)
			if !(math.IsNaN(c.want) && math.IsNaN(got)) && got != c.want {
				t.Errorf("a block with %g: log-sum-exp %g, want %g", c.bad, got, c.want)
			}
		}
	})
}
