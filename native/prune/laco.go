package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// LaCoOptions are LaCo's settings (Yang et al., arXiv 2402.11187).
type LaCoOptions struct {
	Combine   int     // C: layers collapsed into one per step, at least 2
	Interval  int     // I: slots moved down after an accepted collapse, at least 1
	Threshold float64 // T: accept a collapse whose mean cosine is at least T
	Lowest    int     // L: the lowest slot a collapse may start at
}

// DefaultLaCo are the defaults: C 4, I 2, T 0.65, L 1.
func DefaultLaCo() LaCoOptions {
	return LaCoOptions{Combine: 4, Interval: 2, Threshold: 0.65, Lowest: 1}
}

// lacoSlot is one layer of the collapsing model: a linear combination of
// the model's source layers (coefficients sum to 1) whose norms come from
// bottom.
type lacoSlot struct {
	bottom int
	coef   map[int]float64
}

// collapse merges slots l..l+m into l: θ_l + Σ_k (θ_{l+k} − θ_l).
func collapse(slots []lacoSlot, l, m int) []lacoSlot {
	c := map[int]float64{}
	for j, v := range slots[l].coef {
		c[j] += v * float64(1-m)
	}
	for k := 1; k <= m; k++ {
		for j, v := range slots[l+k].coef {
			c[j] += v
		}
	}
	for j, v := range c {
		if math.Abs(v) < 1e-12 {
			delete(c, j)
		}
	}
	out := append([]lacoSlot(nil), slots[:l]...)
	out = append(out, lacoSlot{bottom: slots[l].bottom, coef: c})
	return append(out, slots[l+m+1:]...)
}

// lacoPlan writes the slots as a plan over model alias: an untouched slot
// takes its layer; a collapsed one is task arithmetic on the bottom layer
// with the other layers' coefficients as weights (λ 1), its norms kept
// (an override with λ 0 on tensors named "norm").
func lacoPlan(models map[string]string, alias string, slots []lacoSlot, name string) *plan.Plan {
	p := &plan.Plan{Version: plan.Version, Name: name, Models: models}
	if alias != plan.BaseAlias {
		p.Embed, p.Head = &plan.Outer{Model: alias}, &plan.Outer{Model: alias}
	}
	for _, s := range slots {
		if len(s.coef) == 1 && s.coef[s.bottom] == 1 {
			p.Slots = append(p.Slots, plan.Slot{Take: &plan.Take{Model: alias, Layer: s.bottom}})
			continue
		}
		mg := &plan.Merge{Method: "task_arithmetic", Layer: s.bottom, Base: alias, Layers: []int{}}
		var src []int
		for j := range s.coef {
			if j != s.bottom {
				src = append(src, j)
			}
		}
		sort.Ints(src)
		for _, j := range src {
			mg.Models = append(mg.Models, alias)
			mg.Layers = append(mg.Layers, j)
			mg.Weights = append(mg.Weights, s.coef[j])
		}
		mg.Lambda = plan.Ptr(1.0)
		mg.Overrides = []plan.Override{{Filter: "norm", Params: plan.Params{Lambda: plan.Ptr(0.0)}}}
		p.Slots = append(p.Slots, plan.Slot{Merge: mg})
	}
	return p
}

// LaCo removes n layers of one model (alias in b's family) by collapsing
// groups of up to C consecutive layers into their lowest, scanning from the
// top down: a collapse is kept when the mean per-token cosine between the
// residual streams after the last layer of the collapsed and the original
// model, on the calibration windows, is at least T; the scan then moves I
// slots down, otherwise one. A collapse never removes more layers than are
// still to go. When a whole scan accepts nothing, the most similar collapse
// of that scan is taken, so exactly n layers go (LaCo itself stops where
// the threshold says). Scores are the similarities of the kept collapses.
func LaCo(b *stitch.Builder, models map[string]string, alias string, windows [][]int, n int, opt LaCoOptions) (*Result, *plan.Plan, error) {
	if opt.Combine < 2 || opt.Interval < 1 || opt.Lowest < 0 {
		return nil, nil, fmt.Errorf("laco: need combine >= 2, interval >= 1 and lowest >= 0 (have %d, %d, %d)", opt.Combine, opt.Interval, opt.Lowest)
	}
	m, err := memberFor("laco", b, alias, windows, n)
	if err != nil {
		return nil, nil, err
	}
	L := m.Config.NumHiddenLayers
	slots := make([]lacoSlot, L)
	for i := range slots {
		slots[i] = lacoSlot{bottom: i, coef: map[int]float64{i: 1}}
	}
	final := func(p *plan.Plan) ([][]float32, error) {
		net, err := b.Net(p)
		if err != nil {
			return nil, err
		}
		var out [][]float32
		for _, w := range windows {
			var last []float32
			err := net.Trace([][]int{w}, func(layer int, x []float32) {
				if layer == len(net.Layers) {
					last = append([]float32(nil), x...)
				}
			})
			if err != nil {
				return nil, err
			}
			out = append(out, last)
		}
		return out, nil
	}
	ref, err := final(lacoPlan(models, alias, slots, "laco-reference"))
	if err != nil {
		return nil, nil, err
	}
	d := m.Config.HiddenSize
	similarity := func(s []lacoSlot) (float64, error) {
		got, err := final(lacoPlan(models, alias, s, "laco-candidate"))
		if err != nil {
			return 0, err
		}
		var sum float64
		var rows int
		for w := range got {
			for r := 0; r+d <= len(got[w]); r += d {
				sum += cosine(got[w][r:r+d], ref[w][r:r+d])
				rows++
			}
		}
		return sum / float64(rows), nil
	}
	res := &Result{Method: "laco"}
	removed := 0
	for removed < n {
		accepted := false
		best, bestSim := []lacoSlot(nil), math.Inf(-1)
		for l := len(slots) - opt.Combine; removed < n; {
			l = max(l, opt.Lowest)
			k := min(opt.Combine-1, n-removed, len(slots)-1-l)
			if l >= len(slots) || k < 1 {
				break
			}
			cand := collapse(slots, l, k)
			sim, err := similarity(cand)
			if err != nil {
				return nil, nil, err
			}
			if sim > bestSim {
				best, bestSim = cand, sim
			}
			if sim >= opt.Threshold {
				slots, removed, accepted = cand, removed+k, true
				res.Scores = append(res.Scores, sim)
				l = min(l-opt.Interval, len(slots)-opt.Combine)
			} else {
				l--
			}
			if l < opt.Lowest {
				break
			}
		}
		if !accepted && removed < n {
			if best == nil {
				return nil, nil, fmt.Errorf("laco: no group of layers at or above layer %d to collapse in %d layers", opt.Lowest, len(slots))
			}
			removed += len(slots) - len(best)
			slots = best
			res.Scores = append(res.Scores, bestSim)
		}
	}
	kept := map[int]bool{}
	for _, s := range slots {
		kept[s.bottom] = true
	}
	for i := 0; i < L; i++ {
		if !kept[i] {
			res.Removed = append(res.Removed, i)
		}
	}
	return res, lacoPlan(models, alias, slots, fmt.Sprintf("laco-%d", n)), nil
}
