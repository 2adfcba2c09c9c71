package search

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Observation is a finished trial as optimisers see it.
type Observation struct {
	Config *Config
	Budget int
	Costs  []float64 // per task, lower is better; nil for a failed trial
	Failed bool
}

// Optimizer proposes configurations. Ask may look at every observation so
// far; it must be deterministic given its random source and history.
type Optimizer interface {
	Ask(r *rand.Rand, history []Observation, avoid map[string]bool) *Config
}

// Optimizers is the registry of optimisers, filled here only.
var Optimizers = map[string]func(s *Space) Optimizer{
	"random":     func(s *Space) Optimizer { return &randomSearch{space: s} },
	"bo":         func(s *Space) Optimizer { return &bayesOpt{space: s} },
	"bo-mean":    func(s *Space) Optimizer { return &bayesOpt{space: s, mean: true} },
	"bo-highest": func(s *Space) Optimizer { return &bayesOpt{space: s, highest: true} },
}

type randomSearch struct{ space *Space }

func (o *randomSearch) Ask(r *rand.Rand, _ []Observation, avoid map[string]bool) *Config {
	for try := 0; ; try++ {
		c := o.space.Random(r)
		if !avoid[c.Key()] || try > 100 {
			return c
		}
	}
}

// ParEGO turns several costs into one: with random weights θ on the
// simplex and costs y min-max normalised by the observed bounds,
// max(θ·y) + ρ·Σ θ·y.
const parEGORho = 0.05

func parEGO(costs [][]float64, theta []float64) []float64 {
	k := len(theta)
	lo, hi := make([]float64, k), make([]float64, k)
	for j := range lo {
		lo[j], hi[j] = math.Inf(1), math.Inf(-1)
	}
	for _, c := range costs {
		for j, v := range c {
			lo[j], hi[j] = math.Min(lo[j], v), math.Max(hi[j], v)
		}
	}
	out := make([]float64, len(costs))
	for i, c := range costs {
		var mx, sum float64
		mx = math.Inf(-1)
		for j, v := range c {
			y := 0.0
			if hi[j] > lo[j] {
				y = (v - lo[j]) / (hi[j] - lo[j])
			}
			mx = math.Max(mx, theta[j]*y)
			sum += theta[j] * y
		}
		out[i] = mx + parEGORho*sum
	}
	return out
}

// simplexWeights draws θ uniformly from the simplex.
func simplexWeights(r *rand.Rand, k int) []float64 {
	th := make([]float64, k)
	var s float64
	for i := range th {
		th[i] = -math.Log(1 - r.Float64())
		s += th[i]
	}
	for i := range th {
		th[i] /= s
	}
	return th
}

// bayesOpt is the reference's optimiser: a random-forest surrogate on log
// ParEGO costs, expected improvement maximised by local search around the
// best points plus random candidates, and a random configuration with
// probability 0.2.
//
// The surrogate learns from every finished trial, with log(budget) as a
// feature, and expected improvement is taken at the highest budget with
// data: Hyperband's cheap low-fidelity trials then inform the model from
// the start. bo-highest is SMAC's rule instead — only the trials of the
// highest budget with six or more results — which on the demo family did
// no better than random search (RATIONALE.md).
//
// bo-mean models the mean cost instead of ParEGO's random scalarisations:
// it looks for the single best mean rather than spreading over the front.
type bayesOpt struct {
	space   *Space
	mean    bool
	highest bool
}

const (
	randomInterleave = 0.2
	randomCandidates = 2000
	localStarts      = 10
	localSteps       = 30
	minModelData     = 6
)

// highestBudget is SMAC's training set: the finished trials of the highest
// budget with at least minModelData of them (nil if none has).
func highestBudget(finished []Observation) []Observation {
	byBudget := map[int][]Observation{}
	for _, h := range finished {
		byBudget[h.Budget] = append(byBudget[h.Budget], h)
	}
	best := 0
	for b, obs := range byBudget {
		if len(obs) >= minModelData && b > best {
			best = b
		}
	}
	return byBudget[best]
}

func (o *bayesOpt) Ask(r *rand.Rand, history []Observation, avoid map[string]bool) *Config {
	rs := &randomSearch{space: o.space}
	if r.Float64() < randomInterleave {
		return rs.Ask(r, history, avoid)
	}
	// Failures are left out of the surrogate (the reference scored them
	// as cost 1).
	var finished []Observation
	for _, h := range history {
		if !h.Failed {
			finished = append(finished, h)
		}
	}
	var data []Observation
	if !o.highest {
		if len(finished) >= minModelData {
			data = finished
		}
	} else {
		data = highestBudget(finished)
	}
	if data == nil {
		return rs.Ask(r, history, avoid)
	}
	// EI is evaluated at top, the highest budget in the data; the
	// incumbent is the best cost observed there.
	top := 0
	for _, d := range data {
		top = max(top, d.Budget)
	}
	features := func(c *Config, budget int) []float64 {
		x := o.space.Features(c)
		if !o.highest {
			x = append(x, math.Log(float64(budget)))
		}
		return x
	}
	costs := make([][]float64, len(data))
	for i, d := range data {
		costs[i] = d.Costs
	}
	var y []float64
	if o.mean {
		for _, c := range costs {
			var m float64
			for _, v := range c {
				m += v / float64(len(c))
			}
			y = append(y, m)
		}
		lo := math.Inf(1)
		for _, v := range y {
			lo = math.Min(lo, v)
		}
		for i := range y {
			y[i] -= lo // ≥ 0 for the log below
		}
	} else {
		y = parEGO(costs, simplexWeights(r, len(data[0].Costs)))
	}
	X := make([][]float64, len(data))
	for i, d := range data {
		X[i] = features(d.Config, d.Budget)
		y[i] = math.Log(y[i] + 1e-3)
	}
	f := fitForest(X, y, r)
	best := math.Inf(1)
	for i, v := range y {
		if data[i].Budget == top {
			best = math.Min(best, v)
		}
	}
	ei := func(c *Config) float64 {
		mu, sd := f.predict(features(c, top))
		return expectedImprovement(mu, sd, best)
	}
	type cand struct {
		c  *Config
		ei float64
	}
	var pool []cand
	for i := 0; i < randomCandidates; i++ {
		c := o.space.Random(r)
		pool = append(pool, cand{c, ei(c)})
	}
	// Local search from the best observed points.
	order := make([]int, len(y))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return y[order[a]] < y[order[b]] })
	for _, i := range order[:min(localStarts, len(order))] {
		cur := data[i].Config
		curEI := ei(cur)
		for step := 0; step < localSteps; step++ {
			n := o.space.Neighbor(cur, r)
			if v := ei(n); v > curEI {
				cur, curEI = n, v
			}
		}
		pool = append(pool, cand{cur, curEI})
	}
	sort.SliceStable(pool, func(a, b int) bool { return pool[a].ei > pool[b].ei })
	for _, p := range pool {
		if !avoid[p.c.Key()] {
			return p.c
		}
	}
	return rs.Ask(r, history, avoid)
}
