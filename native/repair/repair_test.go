package repair

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Where Y = M·T exactly, the fit recovers T.
func TestFitRecoversAnExactMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n, d := 300, 24
	m := make([]float32, n*d)
	for i := range m {
		m[i] = float32(rng.NormFloat64())
	}
	want := make([]float64, d*d)
	for i := range want {
		want[i] = rng.NormFloat64() / math.Sqrt(float64(d))
	}
	y := make([]float32, n*d)
	for r := 0; r < n; r++ {
		for j := 0; j < d; j++ {
			s := 0.0
			for i := 0; i < d; i++ {
				s += float64(m[r*d+i]) * want[i*d+j]
			}
			y[r*d+j] = float32(s)
		}
	}
	got, err := Fit(m, y, n, d, 0)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range want {
		worst = max(worst, math.Abs(got[i]-want[i]))
	}
	if worst > 1e-5 {
		t.Errorf("T recovered to %.3g, want 1e-5", worst)
	}
	// A ridge shrinks T towards 0: the fit with λ is smaller in norm.
	shr, err := Fit(m, y, n, d, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if norm(shr) >= norm(got) {
		t.Errorf("ridge 0.5 did not shrink T: %.4g vs %.4g", norm(shr), norm(got))
	}
}

func norm(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// Folding T into down_proj gives what applying T after it gives.
func TestFoldEqualsExplicitMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d, inter := 8, 20
	down := make([]float32, d*inter)
	bias := make([]float32, d)
	tm := make([]float64, d*d)
	for i := range down {
		down[i] = float32(rng.NormFloat64())
	}
	for i := range bias {
		bias[i] = float32(rng.NormFloat64())
	}
	for i := range tm {
		tm[i] = rng.NormFloat64()
	}
	a := make([]float32, inter)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	// explicit: m = W·a + b, then m·T
	m := make([]float64, d)
	for i := 0; i < d; i++ {
		m[i] = float64(bias[i])
		for k := 0; k < inter; k++ {
			m[i] += float64(down[i*inter+k]) * float64(a[k])
		}
	}
	w, b, err := Fold(down, bias, tm, d, inter)
	if err != nil {
		t.Fatal(err)
	}
	for j := 0; j < d; j++ {
		explicit := 0.0
		for i := 0; i < d; i++ {
			explicit += m[i] * tm[i*d+j]
		}
		folded := float64(b[j])
		for k := 0; k < inter; k++ {
			folded += float64(w[j*inter+k]) * float64(a[k])
		}
		if math.Abs(folded-explicit) > 1e-4*(1+math.Abs(explicit)) {
			t.Errorf("output %d: folded %.6g, explicit %.6g", j, folded, explicit)
		}
	}
}

func TestFitRefusesTooFewTokens(t *testing.T) {
	_, err := Fit(make([]float32, 4*8), make([]float32, 4*8), 4, 8, 1e-4)
	if err == nil || !strings.Contains(err.Error(), "4 tokens, fewer than the hidden size 8") {
		t.Errorf("4 tokens for d = 8: %v", err)
	}
	if _, err := Fit(make([]float32, 3), make([]float32, 4), 1, 3, 0); err == nil {
		t.Error("mismatched lengths accepted")
	}
	if _, _, err := Fold(make([]float32, 5), nil, make([]float64, 4), 2, 3); err == nil {
		t.Error("mismatched fold shapes accepted")
	}
}
