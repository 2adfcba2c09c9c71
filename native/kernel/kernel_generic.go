//go:build !amd64

package kernel

// HasSIMD says whether the assembly micro-kernels run on this CPU.
const HasSIMD = false

func microKernel(rows, kc int, a, b, c []float32, ldc int, acc bool) {
	microKernelGo(rows, kc, a, b, c, ldc, acc)
}

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

// LogSumExp returns log(sum exp(x)) accumulated in float64. scratch must
// hold len(x) values.
func LogSumExp(x, scratch []float32) float64 { return logSumExpGo(x, scratch) }
