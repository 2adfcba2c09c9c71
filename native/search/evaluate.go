package search

import (
	"context"
	"fmt"
	"sync"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// PlanEvaluator scores configurations as plans over a family on tasks: the
// cost of a task is 1 − retention against the reference (the dense base)
// on the same samples, so lower is better and 0 means "as good as the base".
type PlanEvaluator struct {
	Space     *Space
	Builder   *stitch.Builder
	Models    map[string]string // alias -> directory, written into plans
	Specs     []task.Spec
	Tok       *tokenizer.Tokenizer
	Reference *engine.Net

	mu     sync.Mutex
	refRes map[int][]*task.Result // by budget
}

// Tasks names the objectives.
func (e *PlanEvaluator) Tasks() []string {
	out := make([]string, len(e.Specs))
	for i, s := range e.Specs {
		out[i] = s.Name
	}
	return out
}

func (e *PlanEvaluator) specsAt(budget int) []task.Spec {
	out := make([]task.Spec, len(e.Specs))
	for i, s := range e.Specs {
		if s.Limit == 0 || budget < s.Limit {
			s.Limit = budget
		}
		out[i] = s
	}
	return out
}

// RunPlan evaluates a plan's net on every task at a budget; it stops
// between batches once ctx is done.
func (e *PlanEvaluator) RunPlan(ctx context.Context, net *engine.Net, name string, budget int) ([]*task.Result, error) {
	specs := e.specsAt(budget)
	m := &task.Model{Name: name, Net: net, Tok: e.Tok, Ctx: ctx}
	out := make([]*task.Result, len(specs))
	for i := range specs {
		r, err := task.Run(m, &specs[i])
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// ReferenceResults are the reference's results at a budget (computed once).
func (e *PlanEvaluator) ReferenceResults(budget int) ([]*task.Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refRes == nil {
		e.refRes = map[int][]*task.Result{}
	}
	if r, ok := e.refRes[budget]; ok {
		return r, nil
	}
	r, err := e.RunPlan(context.Background(), e.Reference, "reference", budget)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	e.refRes[budget] = r
	return r, nil
}

// Retention evaluates a plan at a budget and returns per-task retention.
func (e *PlanEvaluator) Retention(p *plan.Plan, budget int) ([]float64, error) {
	return e.retention(context.Background(), p, budget)
}

func (e *PlanEvaluator) retention(ctx context.Context, p *plan.Plan, budget int) ([]float64, error) {
	net, err := e.Builder.Net(p)
	if err != nil {
		return nil, err
	}
	return e.netRetention(ctx, net, p.Name, budget)
}

// NetRetention evaluates any net (a plan's or a whole model's) at a budget
// and returns per-task retention against the reference.
func (e *PlanEvaluator) NetRetention(net *engine.Net, name string, budget int) ([]float64, error) {
	return e.netRetention(context.Background(), net, name, budget)
}

func (e *PlanEvaluator) netRetention(ctx context.Context, net *engine.Net, name string, budget int) ([]float64, error) {
	res, err := e.RunPlan(ctx, net, name, budget)
	if err != nil {
		return nil, err
	}
	ref, err := e.ReferenceResults(budget)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(res))
	for i := range res {
		out[i] = task.Retention(res[i], ref[i])
	}
	return out, nil
}

// Evaluate implements Evaluator.
func (e *PlanEvaluator) Evaluate(ctx context.Context, c *Config, budget int) ([]float64, []float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	p, err := e.Space.Plan(c, e.Models)
	if err != nil {
		return nil, nil, err
	}
	ret, err := e.retention(ctx, p, budget)
	if err != nil {
		return nil, nil, err
	}
	costs := make([]float64, len(ret))
	for i, r := range ret {
		costs[i] = 1 - r
	}
	return costs, ret, nil
}
