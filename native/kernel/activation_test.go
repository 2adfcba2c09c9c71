package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The GELU and soft-cap passes against math.Tanh in float64, on the SIMD
// path and the portable one, over lengths with and without tails.
func TestGELUTanhMulAndSoftCap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, simd := range []bool{true, false} {
		prev := HasSIMD
		HasSIMD = simd && prev
		for _, n := range []int{1, 7, 8, 37, 256} {
			g, u, h := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range g {
				g[i] = float32(r.NormFloat64() * 4)
				u[i] = float32(r.NormFloat64())
			}
			g[0] = -60 // far tail: gelu → −0
			GELUTanhMul(h, g, u)
			for i := range g {
				x := float64(g[i])
				want := 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))) * float64(u[i])
				if math.Abs(float64(h[i])-want) > 2e-6*(1+math.Abs(want)) {
					t.Fatalf("simd %v n %d: gelu(%g)·%g = %g, want %g", HasSIMD, n, g[i], u[i], h[i], want)
				}
			}
			for _, cp := range []float32{50, 30, 1} {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(r.NormFloat64() * 3 * float64(cp))
				}
				x[0] = 1e-3
				orig := append([]float32(nil), x...)
				SoftCap(x, cp)
				for i := range x {
					want := float64(cp) * math.Tanh(float64(orig[i])/float64(cp))
					if math.Abs(float64(x[i])-want) > 4e-7*float64(cp)+1e-6*math.Abs(want) {
						t.Fatalf("simd %v n %d cap %g: softcap(%g) = %g, want %g", HasSIMD, n, cp, orig[i], x[i], want)
					}
				}
			}
		}
		HasSIMD = prev
	}
}
