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

// Evaluate implements search.Evaluator.
func (e *Evaluator) Evaluate(ctx context.Context, c *search.Config, budget int) (search.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return search.Outcome{}, err
	}
	p, err := e.Space.Plan(c, e.S.Family.Dirs)
	if err != nil {
		return search.Outcome{}, err
	}
	ev, err := e.S.Evaluate(ctx, Target{Plan: p}, budget, search.TrialOf(ctx))
	if err != nil {
		return search.Outcome{}, err
	}
	if e.Scorer == nil {
		return search.Outcome{Costs: e.S.Costs(ev), Retention: ev.Retention, Objective: ev.Objective}, nil
	}
	doc, err := scorer.NewDocument(p.Name, p, ev.Results, ev.Reference)
	if err != nil {
		return search.Outcome{}, err
	}
	v, err := e.Scorer.Host.Score(ctx, e.Scorer.Module, doc)
	if err != nil {
		return search.Outcome{}, err
	}
	return search.Outcome{Costs: []float64{-v}, Retention: []float64{v}, Objective: v}, nil
}
