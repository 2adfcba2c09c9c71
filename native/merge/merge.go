// Package merge implements the merge methods of layer plans on float32
// tensors: linear, task arithmetic, TIES, DARE (linear and TIES), model
// breadcrumbs, SLERP, model stock and passthrough. Each works on one tensor
// at a time; variants of task arithmetic share one implementation with a
// sparsifier and an optional sign consensus, as mergekit structures them.
package merge

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/gptailor/gptailor/native/parallel"
	"github.com/gptailor/gptailor/shared/plan"
)

// Input is what one tensor's merge sees.
type Input struct {
	Name   string      // tensor name (seeds DARE's mask)
	Base   []float32   // the base tensor (nil for methods without a base)
	Models [][]float32 // one tensor per merged model, same length as Base
	Params plan.Params // parameters for this tensor (overrides applied)
}

// Func merges one tensor.
type Func func(in Input) ([]float32, error)

// funcs implements every method of the registry (plan.MethodNames; a test
// checks the two list the same methods).
var funcs = map[string]Func{
	"linear":          linear,
	"task_arithmetic": taskArithmetic(nil, false, false),
	"ties":            taskArithmetic(magnitude, true, true),
	"dare_linear":     taskArithmetic(dare, false, false),
	"dare_ties":       taskArithmetic(dare, true, true),
	"breadcrumbs":     taskArithmetic(breadcrumbs, false, false),
	"slerp":           slerp,
	"model_stock":     modelStock,
	"passthrough":     passthrough,
}

// Elementwise says whether a method computes each entry from the same
// entry of its inputs alone, so a tensor may be merged a slice at a time
// with the same result (the registry's plan.MethodInfo.Elementwise).
func Elementwise(method string) bool {
	info, _ := plan.LookupMethod(method)
	return info.Elementwise
}

// Tensor merges one tensor by the named method.
func Tensor(method string, in Input) ([]float32, error) {
	f, ok := funcs[method]
	if !ok {
		return nil, fmt.Errorf("unknown merge method %q", method)
	}
	if len(in.Models) == 0 {
		return nil, errors.New("no models to merge")
	}
	n := len(in.Models[0])
	for i, m := range in.Models {
		if len(m) != n {
			return nil, fmt.Errorf("tensor [%s]: model %d has %d values, model 0 has %d", in.Name, i, len(m), n)
		}
	}
	if in.Base != nil && len(in.Base) != n {
		return nil, fmt.Errorf("tensor [%s]: base has %d values, models have %d", in.Name, len(in.Base), n)
	}
	out, err := f(in)
	if err != nil {
		return nil, fmt.Errorf("tensor [%s]: %w", in.Name, err)
	}
	for i, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("tensor [%s]: %s produced a non-finite value at %d", in.Name, method, i)
		}
	}
	return out, nil
}

func weights(in Input) []float64 {
	if in.Params.Weights != nil {
		return in.Params.Weights
	}
	w := make([]float64, len(in.Models))
	for i := range w {
		w[i] = 1
	}
	return w
}

func linear(in Input) ([]float32, error) {
	w := weights(in)
	var sum float64
	for _, x := range w {
		sum += x
	}
	div := 1.0
	if plan.Get(in.Params.Normalize, true) {
		if sum == 0 {
			return nil, errors.New("linear: weights sum to 0")
		}
		div = sum
	}
	out := make([]float32, len(in.Models[0]))
	for j := range out {
		var s float64
		for i, m := range in.Models {
			s += w[i] * float64(m[j])
		}
		out[j] = float32(s / div)
	}
	return out, nil
}

func passthrough(in Input) ([]float32, error) {
	if len(in.Models) != 1 {
		return nil, fmt.Errorf("passthrough takes one model, has %d", len(in.Models))
	}
	s := plan.Get(in.Params.Scale, 1)
	out := make([]float32, len(in.Models[0]))
	for j, v := range in.Models[0] {
		out[j] = float32(s * float64(v))
	}
	return out, nil
}

// sparsifier turns a task vector into a sparse one, in place (nil: keep
// every entry).
type sparsifier func(delta []float64, in Input, model int) error

// magnitude keeps the round(density·n) largest |δ| (ties at the threshold kept).
func magnitude(delta []float64, in Input, model int) error {
	d := plan.Get(in.Params.Density, 1)
	k := int(math.Round(d * float64(len(delta))))
	if k >= len(delta) {
		return nil
	}
	if k <= 0 {
		clear(delta)
		return nil
	}
	thr := kthLargestAbs(delta, k)
	for j, v := range delta {
		if math.Abs(v) < thr {
			delta[j] = 0
		}
	}
	return nil
}

func kthLargestAbs(v []float64, k int) float64 {
	a := make([]float64, len(v))
	for i, x := range v {
		a[i] = math.Abs(x)
	}
	sort.Float64s(a)
	return a[len(a)-k]
}

// dare keeps each entry with probability density and divides the kept ones
// by density (the DARE paper's rescaling, which keeps the expected task
// vector). The mask is seeded by (seed, tensor name, model index).
func dare(delta []float64, in Input, model int) error {
	d := plan.Get(in.Params.Density, 1)
	if d >= 1 {
		return nil
	}
	if d <= 0 {
		clear(delta)
		return nil
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s#%d", in.Name, model)
	r := rand.New(rand.NewPCG(plan.Get(in.Params.Seed, 0), h.Sum64()))
	for j := range delta {
		if r.Float64() < d {
			delta[j] /= d
		} else {
			delta[j] = 0
		}
	}
	return nil
}

// breadcrumbs drops the largest gamma fraction and the smallest
// (1 - density - gamma) fraction by magnitude, keeping the band between.
func breadcrumbs(delta []float64, in Input, model int) error {
	d := plan.Get(in.Params.Density, 0.9)
	g := plan.Get(in.Params.Gamma, 0.01)
	n := len(delta)
	top := int(math.Round(g * float64(n)))
	keep := int(math.Round(d * float64(n)))
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return math.Abs(delta[idx[a]]) > math.Abs(delta[idx[b]]) })
	for r, j := range idx {
		if r < top || r >= top+keep {
			delta[j] = 0
		}
	}
	return nil
}

// taskArithmetic is base + λ·combine(w_i · sparsify(θ_i − base)). With
// consensus (TIES) an elected sign per entry (the sign of the summed kept
// weighted deltas) keeps only agreeing deltas, averaged by their weights
// when normalizing (at least 1 as divisor).
func taskArithmetic(sp sparsifier, consensus, normDefault bool) Func {
	return func(in Input) ([]float32, error) {
		if in.Base == nil {
			return nil, errors.New("needs a base model")
		}
		w := weights(in)
		n := len(in.Base)
		// Deltas are materialised only for a sparsifier, which needs the
		// whole tensor; plain task arithmetic computes them per entry (the
		// same float64 operations, so the same result).
		var deltas [][]float64
		if sp != nil {
			deltas = make([][]float64, len(in.Models))
			for i, m := range in.Models {
				d := make([]float64, n)
				parallel.For(n, 1<<16, func(lo, hi int) {
					for j := lo; j < hi; j++ {
						d[j] = float64(m[j]) - float64(in.Base[j])
					}
				})
				if err := sp(d, in, i); err != nil {
					return nil, err
				}
				deltas[i] = d
			}
		}
		delta := func(i, j int) float64 {
			if deltas != nil {
				return deltas[i][j]
			}
			return float64(in.Models[i][j]) - float64(in.Base[j])
		}
		lambda := plan.Get(in.Params.Lambda, 1)
		normalize := plan.Get(in.Params.Normalize, normDefault)
		var wsum float64
		for _, x := range w {
			wsum += x
		}
		out := make([]float32, n)
		parallel.For(n, 1<<16, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				var sum float64
				for i := range in.Models {
					sum += w[i] * delta(i, j)
				}
				mixed := sum
				if consensus {
					sign := math.Copysign(1, sum)
					if sum == 0 {
						sign = 0
					}
					var s, div float64
					for i := range in.Models {
						if v := delta(i, j); v != 0 && math.Copysign(1, v) == sign {
							s += w[i] * v
							div += w[i]
						}
					}
					mixed = s
					if normalize {
						mixed = s / math.Max(div, 1)
					}
				} else if normalize && wsum != 0 {
					mixed = sum / wsum
				}
				out[j] = float32(float64(in.Base[j]) + lambda*mixed)
			}
		})
		return out, nil
	}
}

// slerp interpolates spherically between the base (t = 0) and the model
// (t = 1), over the flattened tensors, falling back to lerp when the
// normalized vectors are nearly colinear (|cos| > 0.9995).
func slerp(in Input) ([]float32, error) {
	if len(in.Models) != 1 || in.Base == nil {
		return nil, errors.New("slerp needs a base and exactly one model")
	}
	if in.Params.T == nil {
		return nil, errors.New("slerp needs t")
	}
	t := *in.Params.T
	a, b := in.Base, in.Models[0]
	var na, nb float64
	for j := range a {
		na += float64(a[j]) * float64(a[j])
		nb += float64(b[j]) * float64(b[j])
	}
	na, nb = math.Sqrt(na), math.Sqrt(nb)
	var dot float64
	if na > 0 && nb > 0 {
		for j := range a {
			dot += float64(a[j]) / na * float64(b[j]) / nb
		}
	}
	out := make([]float32, len(a))
	if math.Abs(dot) > 0.9995 || na == 0 || nb == 0 {
		for j := range a {
			out[j] = float32((1-t)*float64(a[j]) + t*float64(b[j]))
		}
		return out, nil
	}
	th := math.Acos(dot)
	s := math.Sin(th)
	ca, cb := math.Sin((1-t)*th)/s, math.Sin(t*th)/s
	for j := range a {
		out[j] = float32(ca*float64(a[j]) + cb*float64(b[j]))
	}
	return out, nil
}

// modelStock: t = N·cos / (1 + (N−1)·cos) with cos the mean pairwise cosine
// of the task vectors; result t·mean(θ) + (1−t)·base.
func modelStock(in Input) ([]float32, error) {
	if in.Base == nil || len(in.Models) < 2 {
		return nil, errors.New("model_stock needs a base and at least two models")
	}
	n := len(in.Base)
	N := len(in.Models)
	deltas := make([][]float64, N)
	norms := make([]float64, N)
	for i, m := range in.Models {
		d := make([]float64, n)
		for j := range d {
			d[j] = float64(m[j]) - float64(in.Base[j])
			norms[i] += d[j] * d[j]
		}
		deltas[i], norms[i] = d, math.Sqrt(norms[i])
	}
	var cos float64
	pairs := 0
	for i := 0; i < N; i++ {
		for k := i + 1; k < N; k++ {
			var c float64
			if norms[i] > 0 && norms[k] > 0 {
				for j := 0; j < n; j++ {
					c += deltas[i][j] * deltas[k][j]
				}
				c /= norms[i] * norms[k]
			}
			cos += c
			pairs++
		}
	}
	cos /= float64(pairs)
	t := 0.0
	if den := 1 + float64(N-1)*cos; den != 0 {
		t = float64(N) * cos / den
	}
	out := make([]float32, n)
	for j := range out {
		var mean float64
		for _, m := range in.Models {
			mean += float64(m[j])
		}
		mean /= float64(N)
		out[j] = float32(t*mean + (1-t)*float64(in.Base[j]))
	}
	return out, nil
}
