package session

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gptailor/gptailor/native/task"
)

// Objective says what a search maximises. Retention on a task is the
// candidate's primary metric against a reference on the same samples:
// the dense base ("base") or, per task, the best dense member of the
// family ("best": how much of the best the family offers is kept). The
// tasks' retentions are aggregated with their weights:
//
//	mean     Σ wᵢrᵢ / Σ wᵢ
//	geomean  exp(Σ wᵢ log rᵢ / Σ wᵢ): a task lost costs more than one gained
//	min      the lowest rᵢ: the weakest task (weights do not make a loss acceptable)
//	paper    GPTailor's: Σ wᵢ·scoreᵢ / Σ wᵢ·referenceᵢ on accuracy tasks
type Objective struct {
	Reference string `json:"reference,omitempty"` // base (default) or best
	Aggregate string `json:"aggregate,omitempty"` // mean (default), geomean, min or paper
}

// References and Aggregates list the choices.
var (
	References = []string{"base", "best"}
	Aggregates = []string{"min", "mean", "geomean", "paper"}
)

// DefaultObjective is what a new search maximises unless told otherwise:
// the weakest task's retention against the base — "a smaller model that
// keeps the family's abilities" loses no task to inflate another. On the
// demo family the mean's winner kept 32–41 % on stories (below every
// pruning baseline) for 200 % on code; min's winner is at or above the
// best pruning baseline on every task (RATIONALE.md). An empty field in a
// stored run means the old default, mean, so old runs resume unchanged.
var DefaultObjective = Objective{Reference: "base", Aggregate: "min"}

func (o Objective) reference() string {
	if o.Reference == "" {
		return "base"
	}
	return o.Reference
}

func (o Objective) aggregate() string {
	if o.Aggregate == "" {
		return "mean"
	}
	return o.Aggregate
}

// RefName says what retention is measured against.
func (o Objective) RefName() string {
	return map[string]string{"base": "dense base", "best": "best dense member on each task"}[o.reference()]
}

// String is how reports name the objective.
func (o Objective) String() string { return o.aggregate() + " retention vs the " + o.RefName() }

// Validate checks an objective against the tasks, naming what is wrong.
func (o Objective) Validate(specs []task.Spec) error {
	var errs []error
	if !contains(References, o.reference()) {
		errs = append(errs, fmt.Errorf("reference %q: one of %s", o.Reference, strings.Join(References, ", ")))
	}
	if !contains(Aggregates, o.aggregate()) {
		errs = append(errs, fmt.Errorf("aggregate %q: one of %s", o.Aggregate, strings.Join(Aggregates, ", ")))
	}
	if o.aggregate() == "paper" {
		for _, s := range specs {
			if t := s.Type; t != "multiple_choice" && t != "loglikelihood" {
				errs = append(errs, fmt.Errorf("aggregate paper averages accuracies: task %s is %s (use mean, geomean or min)", s.Name, t))
			}
		}
	}
	return errors.Join(errs...)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Aggregate combines per-task retention (and, for paper, the raw results)
// into the objective.
func (o Objective) Combine(ret, w []float64, res, ref []*task.Result) float64 {
	switch o.aggregate() {
	case "geomean":
		var s, ws float64
		for i, r := range ret {
			s += w[i] * math.Log(math.Max(r, 1e-9))
			ws += w[i]
		}
		return math.Exp(s / ws)
	case "min":
		m := math.Inf(1)
		for i, r := range ret {
			if w[i] > 0 {
				m = math.Min(m, r)
			}
		}
		return m
	case "paper":
		var num, den float64
		for i := range res {
			num += w[i] * res[i].Metrics[res[i].Primary]
			den += w[i] * ref[i].Metrics[ref[i].Primary]
		}
		if den == 0 && !math.IsNaN(num) { // the reference scores 0 everywhere: nothing to keep (task.Retention)
			return 1
		}
		return num / den
	}
	return WeightedMean(ret, w)
}

// references are, per task, the results retention is measured against at
// a budget: the base's, or the best dense member's on each task.
func (s *Session) references(ctx context.Context, budget int) ([]*task.Result, error) {
	base, err := s.ReferenceResults(ctx, budget)
	if err != nil || s.Objective.reference() == "base" {
		return base, err
	}
	out := append([]*task.Result(nil), base...)
	for _, m := range s.Family.Names()[1:] {
		res, err := s.DenseResults(ctx, m, budget)
		if err != nil {
			return nil, err
		}
		for i, r := range res {
			if task.ZeroReference(out[i]) && r.Metrics[r.Primary] > 0 || task.Retention(r, out[i]) > 1 {
				out[i] = r
			}
		}
	}
	return out, nil
}

// DenseResults are a member's results at a budget (computed once).
func (s *Session) DenseResults(ctx context.Context, alias string, budget int) ([]*task.Result, error) {
	key := fmt.Sprintf("%s@%d", alias, budget)
	s.mu.Lock()
	r, ok := s.dense[key]
	s.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := s.Results(ctx, NewJob(Target{Model: alias}, budget, -1))
	if err != nil {
		return nil, fmt.Errorf("dense %s: %w", alias, err)
	}
	s.mu.Lock()
	if s.dense == nil {
		s.dense = map[string][]*task.Result{}
	}
	s.dense[key] = r
	s.mu.Unlock()
	return r, nil
}

// Of is the objective of results against a reference's, with the
// results' task weights: what Session.Evaluate computes, for results
// obtained elsewhere (eval --model --tasks --reference DIR).
func (o Objective) Of(res, ref []*task.Result) float64 {
	ret := make([]float64, len(res))
	w := make([]float64, len(res))
	for i := range res {
		ret[i] = task.Retention(res[i], ref[i])
		w[i] = res[i].Weight
	}
	return o.Combine(ret, w, res, ref)
}
