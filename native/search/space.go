// Package search finds layer plans: the paper's search space (a removal set,
// per kept layer a subset of fine-tunes and a merge scale λ), random search
// and the reference's optimiser (random-forest surrogate, expected
// improvement, local search, random interleaving, ParEGO over several tasks,
// Hyperband over the number of task samples), and runs that journal every
// trial so a killed search resumes exactly where it stopped.
package search

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/gptailor/gptailor/shared/plan"
)

// Space is the search space over a family with L layers and fine-tunes.
type Space struct {
	Layers    int      // L, the base's layers
	Remove    int      // R, exactly this many removed
	FineTunes []string // aliases of the fine-tunes (the base is "base")

	// Opt-in extensions beyond the paper's space.
	// Methods, when it has more than task_arithmetic, adds a merge method
	// per layer: task_arithmetic and ties (λ scales the merged task vector;
	// TIES keeps density 0.5) and linear (a plain average) apply to layers
	// with two or more fine-tunes; slerp applies to layers with exactly one,
	// interpolating from the base with t = λ.
	Methods []string
	// Weights adds a weight in [0, 1] per fine-tune and layer to merges.
	Weights bool
	// Kind narrows the space for ablations (the paper's Table 5): "removal"
	// (which layers go; every kept layer from the base), "selection"
	// (removal, and each kept layer taken whole from one model: no merge)
	// or "" / "full" (removal, selection and merging).
	Kind string `json:"kind,omitempty"`

	// Blocks is block granularity: each layer's attention and MLP
	// sub-blocks are removed and sourced separately (Config.MLPRemoved,
	// Config.MLPSubset), and instead of exactly Remove layers a config
	// removes at least RemoveParams parameters (AttnParams and MLPParams
	// per sub-block), restoring none it could keep.
	Blocks                bool
	RemoveParams          int64
	AttnParams, MLPParams int64
	// Repair, when set, is given to every candidate plan that has a cut.
	Repair *plan.Repair
}

// SpaceKinds are the values of Space.Kind (and search --space).
var SpaceKinds = []string{"full", "selection", "removal"}

func (s *Space) removalOnly() bool   { return s.Kind == "removal" }
func (s *Space) selectionOnly() bool { return s.Kind == "selection" }

func (s *Space) extended() bool {
	return len(s.Methods) > 1 || s.Weights || (len(s.Methods) == 1 && s.Methods[0] != "task_arithmetic")
}

// Validate reports impossible targets before any work starts.
func (s *Space) Validate() error {
	switch {
	case s.Layers <= 0:
		return fmt.Errorf("the family has no layers")
	case s.Remove < 0 || s.Remove >= s.Layers:
		return fmt.Errorf("cannot remove %d of %d layers: keep at least one and remove at most %d", s.Remove, s.Layers, s.Layers-1)
	case len(s.FineTunes) > 16:
		return fmt.Errorf("%d fine-tunes: the subset encoding supports 16", len(s.FineTunes))
	case len(s.FineTunes) == 0:
		return fmt.Errorf("the family has no fine-tune: a search needs a base and at least one fine-tune")
	}
	if err := s.validateBlocks(); err != nil {
		return err
	}
	for _, m := range s.Methods {
		if info, _ := plan.LookupMethod(m); !info.Searchable {
			return fmt.Errorf("merge method %q cannot be searched (%s)", m, strings.Join(plan.SearchableMethods(), ", "))
		}
	}
	switch s.Kind {
	case "", "full":
	case "removal", "selection":
		if s.extended() {
			return fmt.Errorf("space %s has no merges: --methods and --weights go with the full space", s.Kind)
		}
	default:
		return fmt.Errorf("space %q: one of %s", s.Kind, strings.Join(SpaceKinds, ", "))
	}
	return nil
}

// narrow puts a config into the space's kind: removal keeps every layer
// from the base; selection keeps one model per layer (the lowest fine-tune
// of a subset) at λ = 1, so the layer is taken whole.
func (s *Space) narrow(c *Config) *Config {
	switch {
	case s.removalOnly():
		for i := range c.Subset {
			c.Subset[i], c.Lambda[i] = 0, 0
		}
		clear(c.MLPSubset)
	case s.selectionOnly():
		for i := range c.Subset {
			c.Subset[i] &= -c.Subset[i] // the lowest set bit
			c.Lambda[i] = 0
		}
		for i := range c.MLPSubset {
			c.MLPSubset[i] &= -c.MLPSubset[i]
		}
	}
	return c
}

// Config is one candidate (a genotype). The removal set is a set — a bit
// per layer — so each set has one encoding (the reference's R ordered
// integers made every set appear R! times).
type Config struct {
	Removed []bool      `json:"removed"`           // per source layer
	Subset  []uint32    `json:"subset"`            // per source layer, bit k = fine-tune k
	Lambda  []float64   `json:"lambda"`            // per source layer, merge scale in [0, 1]
	Method  []int       `json:"method,omitempty"`  // extension: index into Space.Methods per layer
	Weight  [][]float64 `json:"weights,omitempty"` // extension: per layer, per fine-tune
	// Block granularity: Removed and Subset are then the attention's, and
	// these the MLP's, per source layer.
	MLPRemoved []bool   `json:"mlp_removed,omitempty"`
	MLPSubset  []uint32 `json:"mlp_subset,omitempty"`
}

// Key identifies a config for deduplication: λ only counts where a merge
// uses it (two or more fine-tunes on a kept layer), rounded to 1e-6.
func (c *Config) Key() string {
	var b strings.Builder
	for i := range c.Removed {
		switch {
		case c.Removed[i]:
			b.WriteString("x")
		case popcount(c.Subset[i]) >= 2:
			fmt.Fprintf(&b, "%x@%.6f", c.Subset[i], c.Lambda[i])
		default:
			fmt.Fprintf(&b, "%x", c.Subset[i])
		}
		if c.Method != nil && !c.Removed[i] {
			fmt.Fprintf(&b, "m%d", c.Method[i])
			if popcount(c.Subset[i]) == 1 {
				fmt.Fprintf(&b, "@%.6f", c.Lambda[i])
			}
		}
		if c.Weight != nil && !c.Removed[i] && popcount(c.Subset[i]) >= 2 {
			for _, w := range c.Weight[i] {
				fmt.Fprintf(&b, ",%.6f", w)
			}
		}
		b.WriteByte('|')
	}
	for i := range c.MLPRemoved {
		if c.MLPRemoved[i] {
			b.WriteString("mx|")
		} else {
			fmt.Fprintf(&b, "m%x|", c.MLPSubset[i])
		}
	}
	return b.String()
}

func popcount(x uint32) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// Clone copies a config.
func (c *Config) Clone() *Config {
	n := &Config{Removed: append([]bool(nil), c.Removed...), Subset: append([]uint32(nil), c.Subset...), Lambda: append([]float64(nil), c.Lambda...)}
	if c.Method != nil {
		n.Method = append([]int(nil), c.Method...)
	}
	for _, w := range c.Weight {
		n.Weight = append(n.Weight, append([]float64(nil), w...))
	}
	if c.MLPRemoved != nil {
		n.MLPRemoved = append([]bool(nil), c.MLPRemoved...)
		n.MLPSubset = append([]uint32(nil), c.MLPSubset...)
	}
	return n
}

// Random draws a config uniformly: R distinct removed layers, a uniform
// subset and λ per layer.
func (s *Space) Random(r *rand.Rand) *Config {
	c := &Config{Removed: make([]bool, s.Layers), Subset: make([]uint32, s.Layers), Lambda: make([]float64, s.Layers)}
	for _, i := range r.Perm(s.Layers)[:s.Remove] {
		c.Removed[i] = true
	}
	for i := range c.Subset {
		switch {
		case s.removalOnly():
		case s.selectionOnly(): // base or one fine-tune, uniformly
			if k := r.IntN(len(s.FineTunes) + 1); k > 0 {
				c.Subset[i] = 1 << (k - 1)
			}
		default:
			c.Subset[i] = uint32(r.IntN(1 << len(s.FineTunes)))
			c.Lambda[i] = r.Float64()
		}
	}
	if s.Blocks {
		s.randomBlocks(c, r)
	}
	s.extend(c, r)
	return c
}

// extend fills the extension genes of a config, when the space has them.
func (s *Space) extend(c *Config, r *rand.Rand) {
	if len(s.Methods) > 0 && c.Method == nil {
		c.Method = make([]int, s.Layers)
		for i := range c.Method {
			c.Method[i] = r.IntN(len(s.Methods))
		}
	}
	if s.Weights && c.Weight == nil {
		c.Weight = make([][]float64, s.Layers)
		for i := range c.Weight {
			c.Weight[i] = make([]float64, len(s.FineTunes))
			for k := range c.Weight[i] {
				c.Weight[i][k] = r.Float64()
			}
		}
	}
}

// Neighbor changes one thing: swaps a removed and a kept layer, flips one
// fine-tune of a layer, or moves one λ.
func (s *Space) Neighbor(c *Config, r *rand.Rand) *Config {
	n := s.Complete(c).Clone()
	if (len(s.Methods) > 0 && n.Method == nil) || (s.Weights && n.Weight == nil) {
		s.extend(n, r)
	}
	moves := 3
	if len(s.Methods) > 1 {
		moves++
	}
	if s.Weights {
		moves++
	}
	move := r.IntN(moves)
	if move == 3 && len(s.Methods) <= 1 {
		move = 4
	}
	switch {
	case s.removalOnly():
		move = 0
	case s.selectionOnly() && move == 2: // no λ: change a layer's model instead
		move = 1
	}
	switch {
	case s.Blocks && move == 0:
		s.swapBlock(n, r)
		return n
	case s.Blocks && move == 1 && r.IntN(2) == 1: // the MLP's source
		i := r.IntN(s.Layers)
		if s.selectionOnly() {
			k := r.IntN(len(s.FineTunes) + 1)
			n.MLPSubset[i] = 0
			if k > 0 {
				n.MLPSubset[i] = 1 << (k - 1)
			}
		} else {
			n.MLPSubset[i] ^= 1 << r.IntN(len(s.FineTunes))
		}
		return n
	}
	switch move {
	case 0:
		if s.Remove == 0 {
			return n
		}
		var rem, kept []int
		for i, x := range n.Removed {
			if x {
				rem = append(rem, i)
			} else {
				kept = append(kept, i)
			}
		}
		a, b := rem[r.IntN(len(rem))], kept[r.IntN(len(kept))]
		n.Removed[a], n.Removed[b] = false, true
	case 1:
		i := r.IntN(s.Layers)
		if s.selectionOnly() { // another model for the layer
			cur := 0
			if n.Subset[i] != 0 {
				cur = bits.TrailingZeros32(n.Subset[i]) + 1
			}
			k := (cur + 1 + r.IntN(len(s.FineTunes))) % (len(s.FineTunes) + 1)
			n.Subset[i] = 0
			if k > 0 {
				n.Subset[i] = 1 << (k - 1)
			}
			break
		}
		n.Subset[i] ^= 1 << r.IntN(len(s.FineTunes))
	case 2:
		i := r.IntN(s.Layers)
		n.Lambda[i] = math.Min(1, math.Max(0, n.Lambda[i]+r.NormFloat64()*0.15))
	case 3:
		i := r.IntN(s.Layers)
		n.Method[i] = r.IntN(len(s.Methods))
	default:
		i, k := r.IntN(s.Layers), r.IntN(len(s.FineTunes))
		n.Weight[i][k] = math.Min(1, math.Max(0, n.Weight[i][k]+r.NormFloat64()*0.15))
	}
	return n
}

// Features encodes a config for the surrogate: removal bits, subset bits
// and λ (0 where no merge uses it).
func (s *Space) Features(c *Config) []float64 {
	K := len(s.FineTunes)
	f := make([]float64, 0, s.Layers*(2+K))
	for i := 0; i < s.Layers; i++ {
		f = removalFeatures(f, c.Removed[i], c.Subset[i], K)
		lam := 0.0
		if !c.Removed[i] && (popcount(c.Subset[i]) >= 2 || c.Method != nil && popcount(c.Subset[i]) == 1) {
			lam = c.Lambda[i]
		}
		f = append(f, lam)
		if len(s.Methods) > 1 {
			for m := range s.Methods {
				on := 0.0
				if c.Method != nil && c.Method[i] == m && !c.Removed[i] {
					on = 1
				}
				f = append(f, on)
			}
		}
		if s.Weights {
			for k := range s.FineTunes {
				w := 0.0
				if c.Weight != nil && !c.Removed[i] && c.Subset[i]&(1<<k) != 0 {
					w = c.Weight[i][k]
				}
				f = append(f, w)
			}
		}
	}
	if s.Blocks {
		b := s.Complete(c)
		for i := 0; i < s.Layers; i++ {
			f = removalFeatures(f, b.MLPRemoved[i], b.MLPSubset[i], K)
		}
	}
	return f
}

// removalFeatures appends a (sub-)layer's removal bit and, kept, the bits
// of its fine-tune subset.
func removalFeatures(f []float64, removed bool, subset uint32, K int) []float64 {
	rem := 0.0
	if removed {
		rem = 1
	}
	f = append(f, rem)
	for k := 0; k < K; k++ {
		bit := 0.0
		if !removed && subset&(1<<k) != 0 {
			bit = 1
		}
		f = append(f, bit)
	}
	return f
}

// Genotype converts a config to the plan package's genotype.
func (s *Space) Genotype(c *Config) *plan.Genotype {
	g := &plan.Genotype{Layers: s.Layers, Subsets: make([][]string, s.Layers), Lambdas: append([]float64(nil), c.Lambda...)}
	for i := 0; i < s.Layers; i++ {
		if c.Removed[i] {
			g.Removed = append(g.Removed, i)
		}
		for k, ft := range s.FineTunes {
			if c.Subset[i]&(1<<k) != 0 {
				g.Subsets[i] = append(g.Subsets[i], ft)
			}
		}
		sort.Strings(g.Subsets[i])
	}
	return g
}

// Plan turns a config into a layer plan: the paper's genotype, or with the
// extensions the same shape (kept layers in order, embeddings and head from
// the first and last kept layer's choice) with the searched methods and
// weights; in block granularity each kept layer's attention and MLP have
// their own recipe or none. A space with a Repair gives it to every plan
// with a cut to repair.
func (s *Space) Plan(c *Config, models map[string]string) (*plan.Plan, error) {
	if err := s.Check(c); err != nil {
		return nil, err
	}
	p, err := s.plan(c, models)
	if err != nil {
		return nil, err
	}
	if s.Repair != nil && len(p.Repairable(s.Layers)) > 0 {
		r := *s.Repair
		p.Repair = &r
	}
	return p, nil
}

func (s *Space) plan(c *Config, models map[string]string) (*plan.Plan, error) {
	if !s.extended() && !s.Blocks {
		return s.Genotype(c).Plan(models)
	}
	if c.Method == nil && len(s.Methods) > 0 || c.Weight == nil && s.Weights {
		c = c.Clone()
		s.extend(c, rand.New(rand.NewPCG(0, 0))) // a warm-start config: fixed extension genes
		for i := range c.Method {
			c.Method[i] = 0
		}
		for i := range c.Weight {
			for k := range c.Weight[i] {
				c.Weight[i][k] = 1
			}
		}
	}
	c = s.Complete(c)
	p := &plan.Plan{Version: plan.Version, Models: models}
	var first, last *plan.Outer
	for i := 0; i < s.Layers; i++ {
		attnKept, mlpKept := !c.Removed[i], !s.Blocks || !c.MLPRemoved[i]
		if !attnKept && !mlpKept || !s.Blocks && c.Removed[i] {
			continue
		}
		var slot plan.Slot
		var o *plan.Outer
		switch {
		case !s.Blocks:
			slot, o = s.recipe(c, i, c.Subset[i])
		case !attnKept:
			slot, o = s.recipe(c, i, c.MLPSubset[i])
			slot.Attn = &plan.Part{None: true}
		case !mlpKept:
			slot, o = s.recipe(c, i, c.Subset[i])
			slot.MLP = &plan.Part{None: true}
		default:
			slot, o = s.recipe(c, i, c.Subset[i])
			if c.MLPSubset[i] != c.Subset[i] {
				m, _ := s.recipe(c, i, c.MLPSubset[i])
				slot.MLP = &plan.Part{Take: m.Take, Merge: m.Merge}
			}
		}
		if first == nil {
			first = o
		}
		last = o
		p.Slots = append(p.Slots, slot)
	}
	if len(p.Slots) == 0 {
		return nil, fmt.Errorf("the configuration removes every layer")
	}
	p.Embed, p.Head = first, last
	return p, plan.Validate(p, nil)
}

// recipe is layer i's slot for the fine-tunes in subset sub (the base's
// layer for none, a fine-tune's for one, a merge for more), and the outer
// source that goes with it.
func (s *Space) recipe(c *Config, i int, subset uint32) (plan.Slot, *plan.Outer) {
	var sub []string
	var w []float64
	for k, ft := range s.FineTunes {
		if subset&(1<<k) != 0 {
			sub = append(sub, ft)
			if c.Weight != nil {
				w = append(w, c.Weight[i][k])
			}
		}
	}
	method := "task_arithmetic"
	if c.Method != nil {
		method = s.Methods[c.Method[i]]
	}
	lam := c.Lambda[i]
	var m *plan.Merge
	switch {
	case len(sub) == 1 && method == "slerp":
		m = &plan.Merge{Method: "slerp", Models: sub, Params: plan.Params{T: &lam}}
	case len(sub) >= 2 && method == "linear":
		m = &plan.Merge{Method: "linear", Models: sub, Params: plan.Params{Weights: w}}
	case len(sub) >= 2 && method == "ties":
		m = &plan.Merge{Method: "ties", Models: sub, Params: plan.Params{Lambda: &lam, Density: plan.Ptr(0.5), Weights: w}}
	case len(sub) >= 2:
		m = &plan.Merge{Method: "task_arithmetic", Models: sub, Params: plan.Params{Lambda: &lam, Weights: w}}
	}
	if m != nil && m.Weights != nil {
		var sum float64
		for _, x := range m.Weights {
			sum += x
		}
		if sum == 0 { // all weights 0 would divide by 0 in a linear merge
			for j := range m.Weights {
				m.Weights[j] = 1
			}
		}
	}
	var slot plan.Slot
	switch {
	case m != nil:
		mm := *m
		m.Layer = i
		slot.Merge = m
		return slot, &plan.Outer{Merge: &mm}
	case len(sub) == 1:
		slot.Take = &plan.Take{Model: sub[0], Layer: i}
		return slot, &plan.Outer{Model: sub[0]}
	}
	slot.Take = &plan.Take{Model: plan.BaseAlias, Layer: i}
	return slot, &plan.Outer{Model: plan.BaseAlias}
}

// WarmStart is the reference's initial design: three removal heuristics
// (higher layers first, middle outward, alternating from the top), each
// with the all-base choice and λ ∈ {0.3, 0.5, 0.6, 0.7, 0.8, 1.0} × every
// non-empty fine-tune subset applied to every kept layer.
func (s *Space) WarmStart() []*Config {
	L, R := s.Layers, s.Remove
	orders := [][]int{}
	top := []int{}
	for i := L - 2; i >= 0; i-- { // higher layers first, keeping the last
		top = append(top, i)
	}
	top = append(top, L-1)
	orders = append(orders, top)
	mid := []int{}
	for d := 0; len(mid) < L; d++ {
		for _, i := range []int{L/2 + d, L/2 - 1 - d} {
			if i >= 0 && i < L && !containsInt(mid, i) {
				mid = append(mid, i)
			}
		}
	}
	orders = append(orders, mid)
	alt := []int{}
	for i := L - 2; i >= 0; i -= 2 {
		alt = append(alt, i)
	}
	for i := L - 1; i >= 0; i-- {
		if !containsInt(alt, i) {
			alt = append(alt, i)
		}
	}
	orders = append(orders, alt)
	var out []*Config
	seen := map[string]bool{}
	add := func(c *Config) {
		c = s.narrow(s.Complete(c))
		if k := c.Key(); !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	for _, ord := range orders {
		base := &Config{Removed: make([]bool, L), Subset: make([]uint32, L), Lambda: make([]float64, L)}
		for _, i := range ord[:R] {
			base.Removed[i] = true
		}
		add(base)
		for _, lam := range []float64{0.3, 0.5, 0.6, 0.7, 0.8, 1.0} {
			for sub := uint32(1); sub < 1<<len(s.FineTunes); sub++ {
				c := base.Clone()
				for i := range c.Subset {
					c.Subset[i] = sub
					c.Lambda[i] = lam
				}
				add(c)
			}
		}
	}
	return out
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
