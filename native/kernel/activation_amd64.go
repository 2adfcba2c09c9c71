package kernel

//go:noescape
func geluMulAVX2(h, gate, up *float32, n int, c1, c3 float32)

//go:noescape
func softCapAVX2(x *float32, n int, inv2, twoCap, cap float32)

// GELUTanhMul writes h[i] = gelu_tanh(g[i]) · u[i], gelu_tanh(g) =
// ½g(1 + tanh(√(2/π)(g + 0.044715g³))) (PyTorch's approximate="tanh").
func GELUTanhMul(h, g, u []float32) {
	n8 := len(g) &^ 7
	if HasSIMD && n8 > 0 {
		_, _ = h[len(g)-1], u[len(g)-1]
		geluMulAVX2(&h[0], &g[0], &u[0], n8, geluC1, geluC3)
	} else {
		n8 = 0
	}
	geluMulGo(h[n8:], g[n8:], u[n8:])
}

// SoftCap replaces every x[i] by cp·tanh(x[i]/cp) (cp > 0).
func SoftCap(x []float32, cp float32) {
	n8 := len(x) &^ 7
	if HasSIMD && n8 > 0 {
		softCapAVX2(&x[0], n8, 2/cp, 2*cp, cp)
	} else {
		n8 = 0
	}
	softCapGo(x[n8:], cp)
}

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) {
	n8 := len(x) &^ 7
	if HasSIMD && n8 > 0 {
		scaleAVX2(&x[0], n8, s)
	} else {
		n8 = 0
	}
	for i := n8; i < len(x); i++ {
		x[i] *= s
	}
}
