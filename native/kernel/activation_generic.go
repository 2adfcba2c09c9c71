//go:build !amd64

package kernel

// GELUTanhMul writes h[i] = gelu_tanh(g[i]) · u[i].
func GELUTanhMul(h, g, u []float32) { geluMulGo(h, g, u) }

// SoftCap replaces every x[i] by cp·tanh(x[i]/cp) (cp > 0).
func SoftCap(x []float32, cp float32) { softCapGo(x, cp) }

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}
