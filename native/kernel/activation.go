package kernel

import "math"

// The vector passes of the newer architectures' layers: GeGLU with the
// tanh GELU (Gemma) and soft capping cap·tanh(x/cap) (Gemma 2's attention
// scores and logits). On amd64 both are AVX2 passes built on the vector
// exp (gen_activation.go); the scalar forms below finish the tails and are
// the portable kernels.

// geluC1 and geluC3 give gelu_tanh(g) = g / (1 + exp(g·(c1 + c3·g²))).
var (
	geluC1 = float32(-2 * math.Sqrt(2/math.Pi))
	geluC3 = float32(-2 * math.Sqrt(2/math.Pi) * 0.044715)
)

// geluMulGo writes h[i] = gelu_tanh(g[i]) · u[i].
func geluMulGo(h, g, u []float32) {
	for i, v := range g {
		t := min(v*(geluC1+geluC3*v*v), 88.72284)
		h[i] = v / (1 + expf(t)) * u[i]
	}
}

// softCapGo replaces x[i] by cap·tanh(x[i]/cap).
func softCapGo(x []float32, cp float32) {
	inv2, two := 2/cp, 2*cp
	for i, v := range x {
		e := expf(min(v*inv2, 88.72284))
		x[i] = cp - two/(1+e)
	}
}
