// Package prune implements single-model depth-pruning baselines, each
// producing a plan of the base's kept layers so searches compare like with
// like: ShortGPT (block influence), angular distance (the contiguous block
// whose ends are closest), SLEB (greedy removal by calibration NLL),
// dropping the last layers, and LaCo (collapsing layers into one by
// cross-layer differences, written as cross-layer merge slots).
package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// Methods lists the layer-dropping baselines Run applies, in one place.
// LaCo, which merges layers instead of dropping them, is Baseline's too.
var Methods = []string{"shortgpt", "angular", "sleb", "last"}

// AllMethods lists every method Baseline accepts.
var AllMethods = append(append([]string(nil), Methods...), "laco", "blockpruner")

// Result is a baseline's choice and the scores behind it.
type Result struct {
	Method  string `json:"method"`
	Removed []int  `json:"removed"`
	// RemovedAttn and RemovedMLP are the sub-blocks BlockPruner removes
	// (a layer in both is in Removed too).
	RemovedAttn []int     `json:"removed_attn,omitempty"`
	RemovedMLP  []int     `json:"removed_mlp,omitempty"`
	Scores      []float64 `json:"scores,omitempty"` // per layer (shortgpt: BI; angular: distance of the block starting there; sleb: NLL of each removal in the first step)
}

// Run applies a method to net (the base, all its layers) on calibration
// windows, removing n layers.
func Run(method string, net *engine.Net, windows [][]int, n int) (*Result, error) {
	L := len(net.Layers)
	if n < 0 || n >= L {
		return nil, fmt.Errorf("cannot remove %d of %d layers", n, L)
	}
	if len(windows) == 0 && method != "last" {
		return nil, fmt.Errorf("%s needs calibration text", method)
	}
	switch method {
	case "shortgpt":
		return shortGPT(net, windows, n)
	case "angular":
		return angular(net, windows, n)
	case "sleb":
		return sleb(net, windows, n)
	case "last":
		r := &Result{Method: method}
		for i := L - 1 - n; i < L-1; i++ {
			r.Removed = append(r.Removed, i)
		}
		return r, nil
	}
	if method == "laco" || method == "blockpruner" {
		return nil, fmt.Errorf("%s works on the model's weights and sub-blocks, not a layer list (use Baseline)", method)
	}
	return nil, fmt.Errorf("unknown pruning method %q (%v)", method, Methods)
}

// Baseline applies any method of AllMethods to the family member alias on
// calibration windows, removing n layers, and returns its plan.
func Baseline(method string, b *stitch.Builder, models map[string]string, alias string, windows [][]int, n int, laco LaCoOptions) (*Result, *plan.Plan, error) {
	switch method {
	case "laco":
		return LaCo(b, models, alias, windows, n, laco)
	case "blockpruner":
		return BlockPruner(b, models, alias, windows, n)
	}
	m, ok := b.Family.Model(alias)
	if !ok {
		return nil, nil, fmt.Errorf("%s: model %q is not in the family", method, alias)
	}
	net, err := b.Loader.Net(m, nil)
	if err != nil {
		return nil, nil, err
	}
	r, err := Run(method, net, windows, n)
	if err != nil {
		return nil, nil, err
	}
	return r, Plan(models, m.Config.NumHiddenLayers, r.Removed, fmt.Sprintf("%s-%d", method, n)), nil
}

// memberFor is the family member a weight-based method (LaCo,
// BlockPruner) prunes, after checking the removal count and that there is
// calibration text.
func memberFor(method string, b *stitch.Builder, alias string, windows [][]int, n int) (*model.Model, error) {
	m, ok := b.Family.Model(alias)
	if !ok {
		return nil, fmt.Errorf("%s: model %q is not in the family", method, alias)
	}
	if L := m.Config.NumHiddenLayers; n < 0 || n >= L {
		return nil, fmt.Errorf("cannot remove %d of %d layers", n, L)
	}
	if len(windows) == 0 {
		return nil, fmt.Errorf("%s needs calibration text", method)
	}
	return m, nil
}

// states returns, per window, the hidden states entering each layer and
// after the last (L+1 of them), rows × hidden.
func states(net *engine.Net, windows [][]int) ([][][]float32, error) {
	var out [][][]float32
	for _, w := range windows {
		var hs [][]float32
		err := net.Trace([][]int{w}, func(_ int, x []float32) { hs = append(hs, append([]float32(nil), x...)) })
		if err != nil {
			return nil, err
		}
		out = append(out, hs)
	}
	return out, nil
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// shortGPT: BI_i = 1 − mean over tokens of cos(h_i, h_{i+1}); remove the n
// lowest.
func shortGPT(net *engine.Net, windows [][]int, n int) (*Result, error) {
	st, err := states(net, windows)
	if err != nil {
		return nil, err
	}
	d := net.Cfg.HiddenSize
	L := len(net.Layers)
	bi := make([]float64, L)
	tokens := 0
	for _, hs := range st {
		rows := len(hs[0]) / d
		tokens += rows
		for i := 0; i < L; i++ {
			for r := 0; r < rows; r++ {
				bi[i] += cosine(hs[i][r*d:(r+1)*d], hs[i+1][r*d:(r+1)*d])
			}
		}
	}
	for i := range bi {
		bi[i] = 1 - bi[i]/float64(tokens)
	}
	return &Result{Method: "shortgpt", Removed: lowest(bi, n), Scores: bi}, nil
}

// angular: d(l) = arccos(cos(h_l, h_{l+n}))/π on each window's last token,
// averaged; remove the block l..l+n−1 with the smallest d.
func angular(net *engine.Net, windows [][]int, n int) (*Result, error) {
	st, err := states(net, windows)
	if err != nil {
		return nil, err
	}
	d := net.Cfg.HiddenSize
	L := len(net.Layers)
	dist := make([]float64, L-n+1)
	for _, hs := range st {
		last := len(hs[0])/d - 1
		for l := 0; l+n <= L; l++ {
			c := math.Max(-1, math.Min(1, cosine(hs[l][last*d:(last+1)*d], hs[l+n][last*d:(last+1)*d])))
			dist[l] += math.Acos(c) / math.Pi
		}
	}
	best := 0
	for l := range dist {
		dist[l] /= float64(len(st))
		if dist[l] < dist[best] {
			best = l
		}
	}
	r := &Result{Method: "angular", Scores: dist}
	for i := best; i < best+n; i++ {
		r.Removed = append(r.Removed, i)
	}
	return r, nil
}

// sleb removes, n times, the layer whose removal gives the lowest summed
// NLL on the calibration windows.
func sleb(net *engine.Net, windows [][]int, n int) (*Result, error) {
	keep := make([]int, len(net.Layers))
	for i := range keep {
		keep[i] = i
	}
	r := &Result{Method: "sleb"}
	for step := 0; step < n; step++ {
		bestNLL, bestK := math.Inf(1), -1
		var first []float64
		for k := range keep {
			var layers []*engine.Layer
			for j, i := range keep {
				if j != k {
					layers = append(layers, net.Layers[i])
				}
			}
			trial := engine.NewNet(net.Cfg, net.Head, layers)
			lps, err := trial.LogProbs(windows)
			if err != nil {
				return nil, err
			}
			var nll float64
			for _, lp := range lps {
				for _, v := range lp {
					nll -= v
				}
			}
			if step == 0 {
				first = append(first, nll)
			}
			if nll < bestNLL {
				bestNLL, bestK = nll, k
			}
		}
		if step == 0 {
			r.Scores = first
		}
		r.Removed = append(r.Removed, keep[bestK])
		keep = append(keep[:bestK], keep[bestK+1:]...)
	}
	sort.Ints(r.Removed)
	return r, nil
}

func lowest(v []float64, n int) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	out := append([]int(nil), idx[:n]...)
	sort.Ints(out)
	return out
}

// Plan is the base without the removed layers.
func Plan(models map[string]string, layers int, removed []int, name string) *plan.Plan {
	rm := map[int]bool{}
	for _, i := range removed {
		rm[i] = true
	}
	p := &plan.Plan{Version: plan.Version, Name: name, Models: models}
	for i := 0; i < layers; i++ {
		if !rm[i] {
			p.Slots = append(p.Slots, plan.Slot{Take: &plan.Take{Model: plan.BaseAlias, Layer: i}})
		}
	}
	return p
}
