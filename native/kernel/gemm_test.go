package kernel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gptailor/gptailor/native/bf16"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// checkAgainstFloat64 compares C = A·Wᵀ (+ C0 when accumulating) with a
// float64 reference; the allowed error is the classical bound for a
// float32 dot product of length k, γ_k·Σ|a||w|.
func checkAgainstFloat64(t *testing.T, m, n, k int, accumulate bool, r *rand.Rand) {
	t.Helper()
	a := randSlice(r, m*k)
	w := randSlice(r, n*k)
	c0 := randSlice(r, m*n)
	c := append([]float32(nil), c0...)
	MatMulT(c, n, a, k, m, Pack(w, n, k), accumulate)
	if ComputeBF16() { // the kernel multiplies bfloat16 roundings of A and W
		a, w = roundBF16(a), roundBF16(w)
	}
	u := math.Pow(2, -24)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var ref, mag float64
			for kk := 0; kk < k; kk++ {
				p := float64(a[i*k+kk]) * float64(w[j*k+kk])
				ref += p
				mag += math.Abs(p)
			}
			if accumulate {
				ref += float64(c0[i*n+j])
				mag += math.Abs(float64(c0[i*n+j]))
			}
			tol := float64(k+2)*u*mag + 1e-30
			if d := math.Abs(float64(c[i*n+j]) - ref); d > tol {
				t.Fatalf("m=%d n=%d k=%d acc=%v: C[%d][%d] = %g, float64 reference %g (diff %g > %g)", m, n, k, accumulate, i, j, c[i*n+j], ref, d, tol)
			}
		}
	}
}

func TestMatMulTShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range []int{1, 2, 3, 5, 6, 7, 12, 13, 31} {
		for _, n := range []int{1, 15, 16, 17, 33, 64} {
			for _, k := range []int{0, 1, 2, 3, 64, 255, 256, 257, 600} {
				for _, acc := range []bool{false, true} {
					checkAgainstFloat64(t, m, n, k, acc, r)
				}
			}
		}
	}
}

func TestMatMulTLargeParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	checkAgainstFloat64(t, 70, 300, 520, false, r)
}

func TestDotAxpy(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 64, 100} {
		a, b := randSlice(r, n), randSlice(r, n)
		var ref float64
		for i := range a {
			ref += float64(a[i]) * float64(b[i])
		}
		if d := math.Abs(float64(Dot(a, b)) - ref); d > 1e-4*(1+math.Abs(ref)) {
			t.Errorf("Dot n=%d: %g, want %g", n, Dot(a, b), ref)
		}
		y := append([]float32(nil), b...)
		Axpy(0.5, a, y)
		for i := range y {
			if want := b[i] + 0.5*a[i]; math.Abs(float64(y[i]-want)) > 1e-6*(1+math.Abs(float64(want))) {
				t.Fatalf("Axpy n=%d: y[%d] = %g, want %g", n, i, y[i], want)
			}
		}
	}
}

// A view of a packed matrix multiplies like the leading block it names.
func TestPackedView(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	n, k, m := 40, 30, 5
	w := randSlice(r, n*k)
	p := Pack(w, n, k)
	for _, vn := range []int{1, 16, 17, 40} {
		for _, vk := range []int{1, 7, 30} {
			a := randSlice(r, m*vk)
			got := make([]float32, m*vn)
			MatMulTSerial(got, vn, a, vk, m, p.View(vn, vk), false)
			w := w
			if ComputeBF16() {
				a, w = roundBF16(a), roundBF16(w)
			}
			for i := 0; i < m; i++ {
				for j := 0; j < vn; j++ {
					var ref float64
					for kk := 0; kk < vk; kk++ {
						ref += float64(a[i*vk+kk]) * float64(w[j*k+kk])
					}
					if math.Abs(float64(got[i*vn+j])-ref) > 1e-4*(1+math.Abs(ref)) {
						t.Fatalf("view %d×%d: C[%d][%d] = %g, want %g", vn, vk, i, j, got[i*vn+j], ref)
					}
				}
			}
		}
	}
}

func roundBF16(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = bf16.ToFloat32(bf16.FromFloat32(x))
	}
	return out
}

// A Slice of packed rows multiplies as those rows of W, for every kernel
// and weight format.
func TestPackedSlice(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(51, 52))
		const m, n, k = 13, 150, 37
		a := randSlice(r, m*k)
		w := randSlice(r, n*k)
		for _, src := range [][]float32{w, roundBF16(w)} {
			p := Pack(src, n, k)
			full := make([]float32, m*n)
			MatMulT(full, n, a, k, m, p, false)
			pr := p.PanelRows()
			for _, span := range [][2]int{{0, n}, {pr, n}, {2 * pr, 2*pr + 5}, {0, 1}, {4 * pr, n}} {
				lo, hi := span[0], span[1]
				if hi > n || lo >= hi {
					continue
				}
				c := make([]float32, m*(hi-lo))
				MatMulT(c, hi-lo, a, k, m, p.Slice(lo, hi), false)
				for i := 0; i < m; i++ {
					for j := lo; j < hi; j++ {
						if got, want := c[i*(hi-lo)+j-lo], full[i*n+j]; got != want {
							t.Fatalf("rows [%d, %d): C[%d][%d] = %g, the full product has %g", lo, hi, i, j, got, want)
						}
					}
				}
			}
		}
	})
}

// The activations of --compute bf16 are rounded as bf16.FromFloat32 rounds
// (ties to even, NaN kept a quiet NaN, subnormals rounded), SIMD bodies and
// scalar tails alike, and laid out as pairs with an odd K padded by zero.
func TestToPairsRounding(t *testing.T) {
	special := []float32{0, -0.0, 1, -2, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.Float32frombits(0x3f808000), math.Float32frombits(0x3f818000), math.Float32frombits(0x3f808001),
		math.MaxFloat32, math.SmallestNonzeroFloat32, math.Float32frombits(0x00ff8000), math.Float32frombits(0x7fc00001),
		math.Float32frombits(0xffffffff), math.Float32frombits(0x7f800001)}
	r := rand.New(rand.NewPCG(61, 62))
	for _, k := range []int{1, 15, 16, 17, 33, 64, 65} {
		const m, lda = 3, 70
		a := make([]float32, m*lda)
		for i := range a {
			if i%5 == 0 {
				a[i] = special[r.IntN(len(special))]
			} else {
				a[i] = math.Float32frombits(r.Uint32())
			}
		}
		kp := (k + 1) / 2
		dst := make([]float32, m*kp)
		for i := range dst {
			dst[i] = math.Float32frombits(0xdeadbeef) // the padding must be written
		}
		toPairs(dst, a, lda, k, 0, m)
		for row := 0; row < m; row++ {
			for c := 0; c < 2*kp; c++ {
				word := math.Float32bits(dst[row*kp+c/2])
				got := uint16(word >> (16 * (c % 2)))
				want := uint16(0)
				if c < k {
					want = bf16.FromFloat32(a[row*lda+c])
				}
				if got != want {
					t.Fatalf("k=%d row %d col %d (%#08x): %#04x, want %#04x", k, row, c, math.Float32bits(a[row*lda+c%k]), got, want)
				}
			}
		}
	}
}
