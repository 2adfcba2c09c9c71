package kernel

import (
	"math"
	"strings"

	"golang.org/x/sys/cpu"
)

// simdVector says whether the AVX2+FMA vector routines (dot, axpy, exp,
// softmax, log-sum-exp) run on this CPU; HasSIMD is that, unless the
// portable kernel was selected.
var simdVector = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// HasSIMD says whether the assembly vector routines are in use.
var HasSIMD = simdVector

// CPUFeatures lists the SIMD features this CPU reports that the kernels care about.
func CPUFeatures() string {
	var f []string
	for _, x := range []struct {
		name string
		has  bool
	}{{"avx2", cpu.X86.HasAVX2}, {"fma", cpu.X86.HasFMA}, {"avx512f", cpu.X86.HasAVX512F},
		{"avx512bw", cpu.X86.HasAVX512BW}, {"avx512vl", cpu.X86.HasAVX512VL}, {"avx512_bf16", cpu.X86.HasAVX512BF16}} {
		if x.has {
			f = append(f, x.name)
		}
	}
	if len(f) == 0 {
		return "none"
	}
	return strings.Join(f, " ")
}

func archImpls() []*impl {
	return []*impl{
		{name: "avx512", mr: 12, nr: 32, kc: 2048, half: true, needs: "avx512f", ok: cpu.X86.HasAVX512F, direct: microAVX512},
		{name: "avx512bf16", mr: 12, nr: 32, kc: 1024, pairs: true, needs: "avx512f and avx512_bf16", ok: cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16, direct: microDPBF16},
		{name: "avx2", mr: MR, nr: NR, kc: KC, needs: "avx2 and fma", ok: simdVector, micro: microAVX2},
	}
}

//go:noescape
func kern1x16(k int, a, b, c *float32, ldc int, acc int)

//go:noescape
func kern2x16(k int, a, b, c *float32, ldc int, acc int)

//go:noescape
func kern3x16(k int, a, b, c *float32, ldc int, acc int)

//go:noescape
func kern4x16(k int, a, b, c *float32, ldc int, acc int)

//go:noescape
func kern5x16(k int, a, b, c *float32, ldc int, acc int)

//go:noescape
func kern6x16(k int, a, b, c *float32, ldc int, acc int)

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

var kerns = [MR + 1]func(k int, a, b, c *float32, ldc int, acc int){
	nil, kern1x16, kern2x16, kern3x16, kern4x16, kern5x16, kern6x16,
}

func microAVX2(rows, kc int, a []float32, w *Packed, boff int, c []float32, ldc int, acc bool) {
	// Bounds the assembly relies on, checked once here.
	_ = a[kc*MR-1]
	b := w.data[boff : boff+kc*NR]
	_ = c[(rows-1)*ldc+NR-1]
	f := 0
	if acc {
		f = 1
	}
	kerns[rows](kc, &a[0], &b[0], &c[0], ldc, f)
}

// Dot returns the inner product of a and b[:len(a)].
func Dot(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	if !HasSIMD {
		return dotGo(a, b)
	}
	_ = b[len(a)-1]
	return dotAVX2(&a[0], &b[0], len(a))
}

// Axpy adds alpha·x to y[:len(x)].
func Axpy(alpha float32, x, y []float32) {
	if len(x) == 0 {
		return
	}
	if !HasSIMD {
		axpyGo(alpha, x, y)
		return
	}
	_ = y[len(x)-1]
	axpyAVX2(alpha, &x[0], &y[0], len(x))
}

//go:noescape
func expAVX2(x *float32, n int)

// Exp replaces every x[i] by exp(x[i]) (about 1 ulp; inputs below -87.3
// give ~1e-38 rather than 0).
func Exp(x []float32) {
	n8 := len(x) &^ 7
	if HasSIMD && n8 > 0 {
		expAVX2(&x[0], n8)
	} else {
		n8 = 0
	}
	for i := n8; i < len(x); i++ {
		x[i] = expf(x[i])
	}
}

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func expShiftSumAVX2(x *float32, n int, shift float32) float32

//go:noescape
func scaleAVX2(x *float32, n int, s float32)

// Softmax replaces x by exp(x - max x) / sum, in place.
func Softmax(x []float32) {
	n8 := len(x) &^ 7
	if !HasSIMD || n8 == 0 {
		softmaxGo(x)
		return
	}
	mx := maxAVX2(&x[0], n8)
	for _, v := range x[n8:] {
		mx = max(mx, v)
	}
	if mx != mx || mx > math.MaxFloat32 { // NaN or +Inf: the scalar path's answer
		softmaxGo(x)
		return
	}
	s := expShiftSumAVX2(&x[0], n8, mx)
	for i := n8; i < len(x); i++ {
		x[i] = expf(x[i] - mx)
		s += x[i]
	}
	inv := 1 / s
	scaleAVX2(&x[0], n8, inv)
	for i := n8; i < len(x); i++ {
		x[i] *= inv
	}
}

//go:noescape
func expShiftSumF64AVX2(x *float32, n int, shift float32) float64

//go:noescape
func siluMulAVX2(h, gate, up *float32, n int)

//go:noescape
func sumSqF64AVX2(x *float32, n int) float64

//go:noescape
func mulScaleAVX2(dst, x, w *float32, s float32, n int)

// LSEStep folds the block x into a running log-sum-exp: given the running
// max m of the values seen so far and s, the float64 sum of exp(v − m)
// over them, it returns both updated with x (start with m = −Inf, s = 0;
// the log-sum-exp is m + log s). The output head scores a vocabulary in
// blocks this way, never holding a whole row of logits.
func LSEStep(x []float32, m, s float64) (float64, float64) {
	n8 := len(x) &^ 7
	if !HasSIMD || n8 == 0 {
		return lseStepGo(x, m, s)
	}
	mx := maxAVX2(&x[0], n8)
	for _, v := range x[n8:] {
		mx = max(mx, v)
	}
	nm := max(m, float64(mx))
	if nm != nm || math.IsInf(nm, 0) {
		return lseFold(x, 0, m, s, mx, 0)
	}
	return lseFold(x, n8, m, s, mx, expShiftSumF64AVX2(&x[0], n8, float32(nm)))
}

// SiLUMul writes h[i] = silu(g[i]) · u[i], silu(g) = g / (1 + exp(-g)).
func SiLUMul(h, g, u []float32) {
	n8 := len(g) &^ 7
	if HasSIMD && n8 > 0 {
		_, _ = h[len(g)-1], u[len(g)-1]
		siluMulAVX2(&h[0], &g[0], &u[0], n8)
	} else {
		n8 = 0
	}
	siluMulGo(h[n8:], g[n8:], u[n8:])
}

// RMSNorm writes dst[i] = w[i] · (x[i] / rms(x)), rms(x) = √(mean x² + eps),
// the mean of squares accumulated in float64.
func RMSNorm(dst, x, w []float32, eps float64) {
	n8 := len(x) &^ 7
	if !HasSIMD || n8 == 0 {
		rmsNormGo(dst, x, w, eps)
		return
	}
	_, _ = dst[len(x)-1], w[len(x)-1]
	ss := sumSqF64AVX2(&x[0], n8)
	for _, v := range x[n8:] {
		ss += float64(v) * float64(v)
	}
	inv := rmsScale(ss, len(x), eps)
	mulScaleAVX2(&dst[0], &x[0], &w[0], inv, n8)
	for i := n8; i < len(x); i++ {
		dst[i] = w[i] * (x[i] * inv)
	}
}
