//go:build !amd64

package kernel

import "github.com/gptailor/gptailor/native/bf16"

// HasSIMD says whether the assembly vector routines are in use: never here.
var HasSIMD = false

const simdVector = false

func archImpls() []*impl { return nil }

// CPUFeatures lists the SIMD features the kernels use: none on this architecture.
func CPUFeatures() string { return "none (portable Go kernels only)" }

// Dot returns the inner product of a and b[:len(a)].
func Dot(a, b []float32) float32 { return dotGo(a, b) }

// Axpy adds alpha·x to y[:len(x)].
func Axpy(alpha float32, x, y []float32) { axpyGo(alpha, x, y) }

// Exp replaces every x[i] by exp(x[i]).
func Exp(x []float32) {
	for i := range x {
		x[i] = expf(x[i])
	}
}

// Softmax replaces x by exp(x - max x) / sum, in place.
func Softmax(x []float32) { softmaxGo(x) }

// SiLUMul writes h[i] = silu(g[i]) · u[i], silu(g) = g / (1 + exp(-g)).
func SiLUMul(h, g, u []float32) { siluMulGo(h, g, u) }

// RMSNorm writes dst[i] = w[i] · (x[i] / rms(x)), rms(x) = √(mean x² + eps),
// the mean of squares accumulated in float64.
func RMSNorm(dst, x, w []float32, eps float64) { rmsNormGo(dst, x, w, eps) }

// LSEStep folds x into a running log-sum-exp (see the amd64 version).
func LSEStep(x []float32, m, s float64) (float64, float64) { return lseStepGo(x, m, s) }

func fmaPeak(string, int) float64 { return 0 }

// roundRow writes src rounded to bfloat16 to dst.
func roundRow(dst []uint16, src []float32) {
	for c, v := range src {
		dst[c] = bf16.FromFloat32(v)
	}
}
