package session

import (
	"context"

	"github.com/gptailor/gptailor/native/scorer"
	"github.com/gptailor/gptailor/native/search"
)

// Scorer is a user's scoring module, the objective instead of retention.
type Scorer struct {
	Host   *scorer.Host
	Module *scorer.Module
}

// Evaluator scores a search's configurations as plans through a session:
// the cost of a task is 1 − retention against the dense base on the same
// samples (scaled by the task's weight, see Costs); with a Scorer, the
// module's score of the results is the single objective, and a module that
// loops, traps, runs out of memory or returns NaN fails that trial with its
// reason while the search carries on.
type Evaluator struct {
	S      *Session
	Space  *search.Space
	Scorer *Scorer
}

// Tasks names the objectives.
func (e *Evaluator) Tasks() []string {
	if e.Scorer != nil {
		return []string{"score:" + e.Scorer.Module.Name}
	}
	return e.S.Tasks()
}

// Objective is the session's weighted mean (or the score).
func (e *Evaluator) Objective(ret []float64) float64 {
	if e.Scorer != nil {
		return ret[0]
	}
	return e.S.Objective(ret)
}

// Evaluate implements search.Evaluator.
func (e *Evaluator) Evaluate(ctx context.Context, c *search.Config, budget int) ([]float64, []float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	p, err := e.Space.Plan(c, e.S.Family.Dirs)
	if err != nil {
		return nil, nil, err
	}
	ev, err := e.S.Evaluate(ctx, Target{Plan: p}, budget, search.TrialOf(ctx))
	if err != nil {
		return nil, nil, err
	}
	if e.Scorer == nil {
		return e.S.Costs(ev.Retention), ev.Retention, nil
	}
	doc, err := scorer.NewDocument(p.Name, p, ev.Results, ev.Reference)
	if err != nil {
		return nil, nil, err
	}
	v, err := e.Scorer.Host.Score(ctx, e.Scorer.Module, doc)
	if err != nil {
		return nil, nil, err
	}
	return []float64{-v}, []float64{v}, nil
}
