// Package repair is the mathematics of ReplaceMe's training-free linear
// repair (arXiv 2505.02819): the closed-form fit of the hidden×hidden map T
// that carries a kept layer's MLP output over a removed run of layers, and
// its folding into that layer's down_proj. Which layers, which activations
// and which cache are the business of package stitch.
package repair

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Fit returns the d×d map T (row-major, T[i*d+j]) minimising
// ‖M·T − Y‖² + λ‖T‖² over the n rows of M and Y (n×d each, row-major), with
// λ = ridge × the mean diagonal of MᵀM, by the normal equations
// (MᵀM + λI) T = MᵀY solved with a Cholesky factorisation. Fewer rows than
// d are refused rather than papered over by a larger ridge: T would then be
// fixed by the ridge, not the data, in d−n directions; the error says how
// many tokens are needed. ridge 0 still adds 1e-12 of the mean diagonal,
// so an exactly rank-deficient M stays solvable.
func Fit(m, y []float32, n, d int, ridge float64) ([]float64, error) {
	if len(m) != n*d || len(y) != n*d {
		return nil, fmt.Errorf("repair: %d and %d values for %d rows of %d", len(m), len(y), n, d)
	}
	if n < d {
		return nil, fmt.Errorf("repair: the calibration gives %d tokens, fewer than the hidden size %d: the fit would be underdetermined (give more calibration text, samples or seq)", n, d)
	}
	if ridge < 0 || math.IsNaN(ridge) || math.IsInf(ridge, 0) {
		return nil, fmt.Errorf("repair: ridge %g must be a finite number >= 0", ridge)
	}
	md := make([]float64, n*d)
	yd := make([]float64, n*d)
	for i := range md {
		md[i], yd[i] = float64(m[i]), float64(y[i])
	}
	M := mat.NewDense(n, d, md)
	Y := mat.NewDense(n, d, yd)
	var mtm mat.SymDense
	mtm.SymOuterK(1, M.T())
	mean := 0.0
	for i := 0; i < d; i++ {
		mean += mtm.At(i, i)
	}
	mean /= float64(d)
	lambda := ridge * mean
	if lambda == 0 {
		lambda = 1e-12 * max(mean, 1e-30)
	}
	for i := 0; i < d; i++ {
		mtm.SetSym(i, i, mtm.At(i, i)+lambda)
	}
	var ch mat.Cholesky
	if ok := ch.Factorize(&mtm); !ok {
		return nil, fmt.Errorf("repair: MᵀM + λI is not positive definite (the kept layer's MLP output is degenerate on the calibration text); raise the ridge")
	}
	var mty mat.Dense
	mty.Mul(M.T(), Y)
	var t mat.Dense
	if err := ch.SolveTo(&t, &mty); err != nil {
		return nil, fmt.Errorf("repair: solving the normal equations: %w", err)
	}
	out := make([]float64, d*d)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			out[i*d+j] = t.At(i, j)
		}
	}
	return out, nil
}

// Fold returns the down_proj that applies T after the original: the layer
// computes m = a·Wᵀ (+ b) for its activations a, where W is down_proj
// (d×inter, row-major as stored); m·T = a·(TᵀW)ᵀ (+ b·T), so the folded
// weight is TᵀW and the folded bias Tᵀb (bias nil: none).
func Fold(down []float32, bias []float32, t []float64, d, inter int) (w, b []float32, err error) {
	if len(down) != d*inter || len(t) != d*d || (bias != nil && len(bias) != d) {
		return nil, nil, fmt.Errorf("repair: fold shapes: down %d (want %d×%d), T %d, bias %d", len(down), d, inter, len(t), len(bias))
	}
	w = make([]float32, d*inter)
	acc := make([]float64, inter)
	for j := 0; j < d; j++ { // row j of TᵀW = Σ_i T[i][j] · W[i]
		clear(acc)
		for i := 0; i < d; i++ {
			c := t[i*d+j]
			if c == 0 {
				continue
			}
			row := down[i*inter : (i+1)*inter]
			for k, v := range row {
				acc[k] += c * float64(v)
			}
		}
		for k, v := range acc {
			w[j*inter+k] = float32(v)
		}
	}
	if bias != nil {
		b = make([]float32, d)
		for j := 0; j < d; j++ {
			s := 0.0
			for i := 0; i < d; i++ {
				s += t[i*d+j] * float64(bias[i])
			}
			b[j] = float32(s)
		}
	}
	return w, b, nil
}
