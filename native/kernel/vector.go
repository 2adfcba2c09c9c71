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

// LogSumExp returns log(sum exp(x)), the sum accumulated in float64: one
// LSEStep over the whole row.
func LogSumExp(x []float32) float64 {
	m, s := LSEStep(x, math.Inf(-1), 0)
	return m + math.Log(s)
}

// lseStepGo is LSEStep in Go.
func lseStepGo(x []float32, m, s float64) (float64, float64) {
	if len(x) == 0 {
		return m, s
	}
	mx := x[0]
	for _, v := range x[1:] {
		mx = max(mx, v)
	}
	return lseFold(x, 0, m, s, mx, 0)
}

// lseFold finishes an LSEStep whose block max is mx, given the float64 sum
// sum of exp(v − shift) over x[:done] for the new running max as shift
// (float32). When the max is not finite the answer is its own: NaN for
// NaN, +Inf for +Inf.
func lseFold(x []float32, done int, m, s float64, mx float32, sum float64) (float64, float64) {
	nm := max(m, float64(mx))
	if nm != nm || math.IsInf(nm, 1) {
		return nm, 1
	}
	if math.IsInf(nm, -1) { // every value so far is −Inf: nothing to add
		return nm, s
	}
	if nm > m {
		s *= math.Exp(m - nm)
	}
	shift := float32(nm)
	for _, v := range x[done:] {
		sum += float64(expf(v - shift))
	}
	return nm, s + sum
}

// siluMulGo writes h[i] = silu(g[i]) · u[i], silu(g) = g / (1 + exp(-g)).
func siluMulGo(h, g, u []float32) {
	for i, v := range g {
		h[i] = v / (1 + expf(-v)) * u[i]
	}
}

// rmsNormGo is RMSNorm in Go.
func rmsNormGo(dst, x, w []float32, eps float64) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := rmsScale(ss, len(x), eps)
	for i, v := range x {
		dst[i] = w[i] * (v * inv)
	}
}

// rmsScale is 1/√(ss/n + eps) as float32.
func rmsScale(ss float64, n int, eps float64) float32 {
	return float32(1 / math.Sqrt(ss/float64(n)+eps))
}
