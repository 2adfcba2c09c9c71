package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// BlockPruner (arXiv 2406.10594) removes attention and MLP sub-blocks
// separately: greedily, the sub-block whose removal gives the lowest NLL
// on the calibration windows, until the removed parameters reach those of
// n whole layers (attention blocks are smaller, so more of them may go).
// Scores are the first step's NLL per sub-block (attention of layer 0, its
// MLP, attention of layer 1, ...).
func BlockPruner(b *stitch.Builder, models map[string]string, alias string, windows [][]int, n int) (*Result, *plan.Plan, error) {
	m, err := memberFor("blockpruner", b, alias, windows, n)
	if err != nil {
		return nil, nil, err
	}
	L := m.Config.NumHiddenLayers
	net, err := b.Loader.Net(m, nil)
	if err != nil {
		return nil, nil, err
	}
	attnP, mlpP := m.SubBlockParams()
	size := func(k int) int64 {
		if k%2 == 0 {
			return attnP
		}
		return mlpP
	}
	target := int64(n) * (attnP + mlpP)
	removed := make([]bool, 2*L)
	var have int64
	res := &Result{Method: "blockpruner"}
	nlls := func(skip int) (float64, error) {
		layers := make([]*engine.Layer, 0, L)
		for i := 0; i < L; i++ {
			a, f := net.Layers[i], net.Layers[i]
			if removed[2*i] || skip == 2*i {
				a = nil
			}
			if removed[2*i+1] || skip == 2*i+1 {
				f = nil
			}
			if a != nil || f != nil {
				layers = append(layers, engine.Compose(a, f))
			}
		}
		lps, err := engine.NewNet(net.Cfg, net.Head, layers).LogProbs(windows)
		if err != nil {
			return 0, err
		}
		var s float64
		for _, lp := range lps {
			for _, v := range lp {
				s -= v
			}
		}
		return s, nil
	}
	for step := 0; have < target; step++ {
		best, bestK := math.Inf(1), -1
		for k := 0; k < 2*L; k++ {
			if removed[k] {
				continue
			}
			v, err := nlls(k)
			if err != nil {
				return nil, nil, err
			}
			if step == 0 {
				res.Scores = append(res.Scores, v)
			}
			if v < best {
				best, bestK = v, k
			}
		}
		removed[bestK] = true
		have += size(bestK)
	}
	for i := 0; i < L; i++ {
		if removed[2*i] {
			res.RemovedAttn = append(res.RemovedAttn, i)
		}
		if removed[2*i+1] {
			res.RemovedMLP = append(res.RemovedMLP, i)
		}
		if removed[2*i] && removed[2*i+1] {
			res.Removed = append(res.Removed, i)
		}
	}
	sort.Ints(res.Removed)
	return res, BlockPlan(models, alias, L, res.RemovedAttn, res.RemovedMLP, fmt.Sprintf("blockpruner-%d", n)), nil
}

// BlockPlan is model alias without the given attention and MLP sub-blocks.
func BlockPlan(models map[string]string, alias string, layers int, attn, mlp []int, name string) *plan.Plan {
	ra, rm := map[int]bool{}, map[int]bool{}
	for _, i := range attn {
		ra[i] = true
	}
	for _, i := range mlp {
		rm[i] = true
	}
	p := &plan.Plan{Version: plan.Version, Name: name, Models: models}
	if alias != plan.BaseAlias {
		p.Embed, p.Head = &plan.Outer{Model: alias}, &plan.Outer{Model: alias}
	}
	for i := 0; i < layers; i++ {
		if ra[i] && rm[i] {
			continue
		}
		s := plan.Slot{Take: &plan.Take{Model: alias, Layer: i}}
		if ra[i] {
			s.Attn = &plan.Part{None: true}
		}
		if rm[i] {
			s.MLP = &plan.Part{None: true}
		}
		p.Slots = append(p.Slots, s)
	}
	return p
}
