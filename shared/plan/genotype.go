package plan

import (
	"fmt"
	"slices"
	"sort"
)

// Genotype is the paper's search space: a set of removed source layers and,
// for every source layer, a subset of fine-tunes and a scale λ. Kept layers
// keep their order. For kept layer i: no fine-tune → the base's layer i; one
// → that fine-tune's layer i as is; two or more → task arithmetic over them,
// base_i + λ·Σ(ft_i − base_i), with the base tensor taken at the SOURCE index
// i (the reference fetched it at the output slot index: a bug we do not copy).
// Embeddings come from the first kept layer's choice and the head from the
// last's, the mergekit convention the reference inherits.
type Genotype struct {
	Layers  int        // L, the base's layer count
	Removed []int      // source layers dropped (a set; stored sorted)
	Subsets [][]string // per source layer, the fine-tunes chosen
	Lambdas []float64  // per source layer, λ for merges
}

// Plan turns a genotype into a plan over models (alias -> directory).
func (g *Genotype) Plan(models map[string]string) (*Plan, error) {
	if len(g.Subsets) != g.Layers || len(g.Lambdas) != g.Layers {
		return nil, fmt.Errorf("genotype: %d subsets and %d lambdas for %d layers", len(g.Subsets), len(g.Lambdas), g.Layers)
	}
	removed := map[int]bool{}
	for _, r := range g.Removed {
		if r < 0 || r >= g.Layers {
			return nil, fmt.Errorf("genotype: removed layer %d out of range [0, %d)", r, g.Layers)
		}
		removed[r] = true
	}
	p := &Plan{Version: Version, Models: models}
	var first, last *Outer
	for i := 0; i < g.Layers; i++ {
		if removed[i] {
			continue
		}
		sub := append([]string(nil), g.Subsets[i]...)
		sort.Strings(sub)
		var s Slot
		var o *Outer
		switch len(sub) {
		case 0:
			s.Take = &Take{Model: BaseAlias, Layer: i}
			o = &Outer{Model: BaseAlias}
		case 1:
			s.Take = &Take{Model: sub[0], Layer: i}
			o = &Outer{Model: sub[0]}
		default:
			lam := g.Lambdas[i]
			s.Merge = &Merge{Method: "task_arithmetic", Layer: i, Models: sub, Params: Params{Lambda: &lam}}
			o = &Outer{Merge: &Merge{Method: "task_arithmetic", Models: sub, Params: Params{Lambda: &lam}}}
		}
		if first == nil {
			first = o
		}
		last = o
		p.Slots = append(p.Slots, s)
	}
	if len(p.Slots) == 0 {
		return nil, fmt.Errorf("genotype: every layer is removed")
	}
	p.Embed, p.Head = first, last
	return p, nil
}

// GenotypeOf recovers the genotype of a plan that has that form (kept layers
// in order, takes at their own index, task arithmetic over fine-tunes with
// unit weights, outer parts by the convention), or says why it has not.
func GenotypeOf(p *Plan, layers int) (*Genotype, error) {
	g := &Genotype{Layers: layers, Subsets: make([][]string, layers), Lambdas: make([]float64, layers)}
	kept := map[int]bool{}
	prev := -1
	for i, s := range p.Slots {
		if s.Split() {
			return nil, fmt.Errorf("slots[%d]: sub-block recipes (attn/mlp) are not a layer genotype", i)
		}
		var l int
		switch {
		case s.Take != nil:
			l = s.Take.Layer
			if s.Take.Model != BaseAlias {
				g.Subsets[l] = []string{s.Take.Model}
			}
		case s.Merge != nil:
			m := s.Merge
			if m.Method != "task_arithmetic" || len(m.Models) < 2 || m.BaseModel() != BaseAlias || m.Weights != nil || len(m.Overrides) > 0 || slices.Contains(m.Models, BaseAlias) {
				return nil, fmt.Errorf("slots[%d]: only task arithmetic over two or more fine-tunes with unit weights is a genotype merge", i)
			}
			l = m.Layer
			g.Subsets[l] = append([]string(nil), m.Models...)
			g.Lambdas[l] = Get(m.Lambda, 1)
		}
		if l <= prev || l >= layers {
			return nil, fmt.Errorf("slots[%d]: source layer %d out of order (genotypes keep layers in order, without repeats)", i, l)
		}
		prev = l
		kept[l] = true
	}
	for i := 0; i < layers; i++ {
		if !kept[i] {
			g.Removed = append(g.Removed, i)
		}
	}
	q, err := g.Plan(p.Models)
	if err != nil {
		return nil, err
	}
	if q.OuterHash(q.Embed) != p.OuterHash(p.Embed) || q.OuterHash(q.Head) != p.OuterHash(p.Head) {
		return nil, fmt.Errorf("embed/head do not follow the genotype convention (first and last kept layer's choice)")
	}
	return g, nil
}
