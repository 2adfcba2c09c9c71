package merge

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
)

func near(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > tol {
			t.Errorf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func must(t *testing.T, method string, in Input) []float32 {
	t.Helper()
	out, err := Tensor(method, in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	base = []float32{1, 2, 3, 4}
	m1   = []float32{2, 2, 1, 8}  // δ1 = ( 1, 0, -2,  4)
	m2   = []float32{0, 3, 4, 3}  // δ2 = (-1, 1,  1, -1)
	m3   = []float32{1, 5, 0, 10} // δ3 = ( 0, 3, -3,  6)
)

// Small cases computed by hand.
func TestHandComputed(t *testing.T) {
	near(t, "linear", must(t, "linear", Input{Models: [][]float32{m1, m2}, Params: plan.Params{Weights: []float64{3, 1}}}),
		[]float64{1.5, 2.25, 1.75, 6.75}, 1e-6)
	near(t, "linear unnormalized", must(t, "linear", Input{Models: [][]float32{m1, m2}, Params: plan.Params{Weights: []float64{1, 1}, Normalize: plan.Ptr(false)}}),
		[]float64{2, 5, 5, 11}, 1e-6)
	// base + 0.5·(δ1 + δ2) = base + 0.5·(0, 1, -1, 3)
	near(t, "task_arithmetic", must(t, "task_arithmetic", Input{Base: base, Models: [][]float32{m1, m2}, Params: plan.Params{Lambda: plan.Ptr(0.5)}}),
		[]float64{1, 2.5, 2.5, 5.5}, 1e-6)
	// TIES, density 0.5 (keep 2 of 4 per model):
	//   δ1 kept (0,0,-2,4); δ2 all |1|: ties at the threshold kept → (-1,1,1,-1);
	//   δ3 |.| = (0,3,3,6), threshold 3, both 3s kept → (0,3,-3,6)
	//   sums (-1,4,-4,9) → signs (-,+,-,+); agreeing means: (-1, (1+3)/2, (-2-3)/2, (4+6)/2) = (-1,2,-2.5,5)
	near(t, "ties", must(t, "ties", Input{Base: base, Models: [][]float32{m1, m2, m3}, Params: plan.Params{Density: plan.Ptr(0.5)}}),
		[]float64{0, 4, 0.5, 9}, 1e-6)
	// breadcrumbs n=4, gamma 0.25 (drop the largest), density 0.5 (keep the next two).
	//   δ1 |.|=(1,0,2,4): drop 4, keep 2 and 1 → (1,0,-2,0)
	near(t, "breadcrumbs", must(t, "breadcrumbs", Input{Base: base, Models: [][]float32{m1}, Params: plan.Params{Density: plan.Ptr(0.5), Gamma: plan.Ptr(0.25)}}),
		[]float64{2, 2, 1, 4}, 1e-6)
	// slerp of orthogonal unit vectors at t = 0.5: (cos 45°, sin 45°).
	near(t, "slerp", must(t, "slerp", Input{Base: []float32{1, 0}, Models: [][]float32{{0, 1}}, Params: plan.Params{T: plan.Ptr(0.5)}}),
		[]float64{math.Sqrt2 / 2, math.Sqrt2 / 2}, 1e-6)
	// colinear → lerp
	near(t, "slerp-lerp", must(t, "slerp", Input{Base: []float32{1, 1}, Models: [][]float32{{2, 2}}, Params: plan.Params{T: plan.Ptr(0.25)}}),
		[]float64{1.25, 1.25}, 1e-6)
	// model stock: δ1 = (1,0), δ2 = (0,1): cos 0 → t = 0 → base.
	near(t, "model_stock-orth", must(t, "model_stock", Input{Base: []float32{1, 1}, Models: [][]float32{{2, 1}, {1, 2}}}), []float64{1, 1}, 1e-6)
	// δ1 = δ2 = (1,1): cos 1 → t = 2/2 = 1 → mean.
	near(t, "model_stock-same", must(t, "model_stock", Input{Base: []float32{0, 0}, Models: [][]float32{{1, 1}, {1, 1}}}), []float64{1, 1}, 1e-6)
	// δ1 = (1,0), δ2 = (1,1): cos = 1/√2; t = 2c/(1+c)
	c := 1 / math.Sqrt2
	tt := 2 * c / (1 + c)
	near(t, "model_stock", must(t, "model_stock", Input{Base: []float32{0, 0}, Models: [][]float32{{1, 0}, {1, 1}}}), []float64{tt * 1, tt * 0.5}, 1e-6)
	near(t, "passthrough", must(t, "passthrough", Input{Models: [][]float32{m1}, Params: plan.Params{Scale: plan.Ptr(0.5)}}), []float64{1, 1, 0.5, 4}, 1e-6)
}

func randT(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// Properties every implementation must have.
func TestProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b, x, y := randT(r, 257), randT(r, 257), randT(r, 257)
	f := func(v []float32) []float64 {
		o := make([]float64, len(v))
		for i := range v {
			o[i] = float64(v[i])
		}
		return o
	}
	for _, m := range []string{"task_arithmetic", "ties", "dare_linear", "dare_ties", "breadcrumbs"} {
		near(t, m+" λ=0", must(t, m, Input{Name: "w", Base: b, Models: [][]float32{x, y}, Params: plan.Params{Lambda: plan.Ptr(0.0), Density: plan.Ptr(0.5)}}), f(b), 0)
	}
	near(t, "linear (1,0)", must(t, "linear", Input{Models: [][]float32{x, y}, Params: plan.Params{Weights: []float64{1, 0}}}), f(x), 1e-6)
	near(t, "slerp t=0", must(t, "slerp", Input{Base: b, Models: [][]float32{x}, Params: plan.Params{T: plan.Ptr(0.0)}}), f(b), 1e-6)
	near(t, "slerp t=1", must(t, "slerp", Input{Base: b, Models: [][]float32{x}, Params: plan.Params{T: plan.Ptr(1.0)}}), f(x), 1e-5)
	// One fine-tune at λ = 1 and full density is that fine-tune.
	for _, m := range []string{"task_arithmetic", "ties", "dare_linear", "dare_ties"} {
		near(t, m+" single", must(t, m, Input{Name: "w", Base: b, Models: [][]float32{x}}), f(x), 1e-5)
	}
	// DARE is seeded: same seed, same result; another seed, another mask;
	// the rescaling keeps the mean of the task vector.
	in := Input{Name: "w", Base: make([]float32, 20000), Models: [][]float32{fill(20000, 1)}, Params: plan.Params{Density: plan.Ptr(0.3), Seed: plan.Ptr(uint64(7))}}
	a1, a2 := must(t, "dare_linear", in), must(t, "dare_linear", in)
	in.Params.Seed = plan.Ptr(uint64(8))
	a3 := must(t, "dare_linear", in)
	same, diff, sum := true, false, 0.0
	for i := range a1 {
		same = same && a1[i] == a2[i]
		diff = diff || a1[i] != a3[i]
		sum += float64(a1[i])
		if a1[i] != 0 && math.Abs(float64(a1[i])-1/0.3) > 1e-5 {
			t.Fatalf("kept entry %g, want 1/density", a1[i])
		}
	}
	if !same || !diff || math.Abs(sum/20000-1) > 0.05 {
		t.Errorf("dare: same=%v diff=%v mean=%g", same, diff, sum/20000)
	}
}

func fill(n int, v float32) []float32 {
	o := make([]float32, n)
	for i := range o {
		o[i] = v
	}
	return o
}

func TestErrors(t *testing.T) {
	if _, err := Tensor("nope", Input{Models: [][]float32{{1}}}); err == nil {
		t.Error("unknown method accepted")
	}
	if _, err := Tensor("linear", Input{Name: "x", Models: [][]float32{{1, 2}, {1}}}); err == nil {
		t.Error("mismatched shapes accepted")
	}
	if _, err := Tensor("task_arithmetic", Input{Name: "x", Models: [][]float32{{1}}}); err == nil {
		t.Error("task arithmetic without base accepted")
	}
	if _, err := Tensor("linear", Input{Name: "x", Models: [][]float32{{1}, {2}}, Params: plan.Params{Weights: []float64{1, -1}}}); err == nil {
		t.Error("zero weight sum accepted")
	}
}
