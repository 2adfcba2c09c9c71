package kernel

import "math"

// expf is the scalar form of the vector exp: Cephes' expf polynomial with
// the same clamping, so scalar tails agree with SIMD bodies.
func expf(x float32) float32 {
	x = min(max(x, -87.33654), 88.72284)
	fx := float32(math.RoundToEven(float64(x * 1.442695)))
	x -= fx * 0.693359375
	x -= fx * -2.12194440e-4
	p := float32(1.9875691500e-4)
	p = p*x + 1.3981999507e-3
	p = p*x + 8.3334519073e-3
	p = p*x + 4.1665795894e-2
	p = p*x + 1.6666665459e-1
	p = p*x + 0.5
	y := p*x*x + x + 1
	return y * math.Float32frombits(uint32(int32(fx)+127)<<23)
}

// softmaxGo replaces x by exp(x - max x) / sum, in place.
func softmaxGo(x []float32) {
	if len(x) == 0 {
		return
	}
	mx := x[0]
	for _, v := range x[1:] {
		mx = max(mx, v)
	}
	for i := range x {
		x[i] -= mx
	}
	Exp(x)
	var s float32
	for _, v := range x {
		s += v
	}
	inv := 1 / s
	for i := range x {
		x[i] *= inv
	}
}

// logSumExpGo returns log(sum exp(x)) accumulated in float64. scratch must
// hold len(x) values.
func logSumExpGo(x, scratch []float32) float64 {
	mx := x[0]
	for _, v := range x[1:] {
		mx = max(mx, v)
	}
	s := scratch[:len(x)]
	for i, v := range x {
		s[i] = v - mx
	}
	Exp(s)
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	return float64(mx) + math.Log(sum)
}

// SiLUMul writes h[i] = silu(g[i]) · u[i], silu(g) = g / (1 + exp(-g)).
func SiLUMul(h, g, u []float32) {
	for i, v := range g {
		h[i] = -v
	}
	Exp(h[:len(g)])
	for i, v := range g {
		h[i] = v / (1 + h[i]) * u[i]
	}
}
