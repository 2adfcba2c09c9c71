package search

import (
	"context"

	"github.com/gptailor/gptailor/native/scorer"
)

// ScoredEvaluator makes a user's scoring module the objective: each trial
// runs the tasks, hands the results (and the reference's) to the module in
// the sandbox, and minimises −score. A module that loops, traps, runs out
// of memory or returns NaN fails that trial with its reason; the search
// carries on.
type ScoredEvaluator struct {
	*PlanEvaluator
	Host   *scorer.Host
	Module *scorer.Module
}

// Tasks is the single objective.
func (e *ScoredEvaluator) Tasks() []string { return []string{"score:" + e.Module.Name} }

// Evaluate implements Evaluator.
func (e *ScoredEvaluator) Evaluate(ctx context.Context, c *Config, budget int) ([]float64, []float64, error) {
	p, err := e.Space.Plan(c, e.Models)
	if err != nil {
		return nil, nil, err
	}
	net, err := e.Builder.Net(p)
	if err != nil {
		return nil, nil, err
	}
	res, err := e.RunPlan(ctx, net, p.Name, budget)
	if err != nil {
		return nil, nil, err
	}
	ref, err := e.ReferenceResults(budget)
	if err != nil {
		return nil, nil, err
	}
	doc, err := scorer.NewDocument(p.Name, p, res, ref)
	if err != nil {
		return nil, nil, err
	}
	v, err := e.Host.Score(ctx, e.Module, doc)
	if err != nil {
		return nil, nil, err
	}
	return []float64{-v}, []float64{v}, nil
}
