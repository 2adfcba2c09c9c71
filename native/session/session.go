package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/editor"
	"github.com/gptailor/gptailor/shared/plan"
)

// Job is one evaluation: a target on the session's tasks at a budget.
type Job struct {
	// ID names the job's result: the same target at the same budget (and
	// From) has the same ID (JobID), so a result is stored once and found
	// again.
	ID     string `json:"id"`
	Trial  int    `json:"trial"` // the search trial it serves (-1: none), for display
	Target Target `json:"target"`
	Budget int    `json:"budget"`
	// From: the first From samples of each reusable task were evaluated
	// before; only the ones after them are (budget reuse).
	From int `json:"from,omitempty"`
}

// JobID is content-addressed: a hash of the target (without its display
// name or model directories, which differ between machines), the budget
// and the samples skipped.
func JobID(t Target, budget, from int) string {
	if t.Plan != nil {
		p := *t.Plan
		p.Name, p.Models = "", nil
		t.Plan = &p
	}
	b, _ := json.Marshal(struct {
		T Target
		B int
		F int `json:",omitempty"`
	}{t, budget, from})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

// NewJob makes a job for a target at a budget.
func NewJob(t Target, budget, trial int) Job {
	return Job{ID: JobID(t, budget, 0), Trial: trial, Target: t, Budget: budget}
}

// Runner evaluates jobs on a session's tasks: the family in this process
// (Local), or workers elsewhere. It must be safe for concurrent use when
// the search keeps more than one trial in flight.
type Runner interface {
	Run(ctx context.Context, j Job) ([]*task.Result, error)
}

// Local runs jobs on a family in this process, one at a time (each job
// uses every core).
type Local struct {
	Family *Family
	Specs  []task.Spec
	mu     sync.Mutex
}

// Run implements Runner.
func (l *Local) Run(ctx context.Context, j Job) ([]*task.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Family.RunFrom(ctx, j.Target, l.Specs, j.Budget, j.From)
}

// Session is a family with the tasks it is judged on.
type Session struct {
	Family    *Family
	Specs     []task.Spec
	Runner    Runner
	Objective Objective

	// NoReuse turns budget reuse off (for measuring it).
	NoReuse bool
	// Repair, when set, repairs the pruning baselines (the search's spec
	// sets it with its candidates' repair); Blocks adds BlockPruner to
	// the baselines (block granularity).
	Repair *plan.Repair
	Blocks bool
	// Recheck, when set, re-evaluates the final table's rows before they
	// are reported (a distributed run's rows came from its workers).
	Recheck func(ctx context.Context, rows []Row, budget int) error
	// Quant, when set (q8_0 or q4_0), evaluates every target — candidates,
	// baselines, dense members and the reference — with its weights as a
	// GGUF file of that type stores them (Target.Quant): a run's spec sets
	// it (RunSpec.Quant), eval and serve from --quant.
	Quant string

	mu     sync.Mutex
	refRes map[int][]*task.Result    // the base's, by budget
	dense  map[string][]*task.Result // members', by alias@budget
	known  map[string]known          // per recipe: its results at the largest budget evaluated
	// Samples evaluated by the runner and taken from earlier evaluations.
	evaluated, reused int
	diag              *editor.Diagnostics
	pruned            map[string]Row // Prune's rows by kind/n

	calibOnce sync.Once
	calib     [][]int // Calibration's windows
}

// known is a recipe's results at a budget.
type known struct {
	budget int
	res    []*task.Result
}

// New is a session evaluating in this process.
func New(f *Family, specs []task.Spec) *Session {
	return &Session{Family: f, Specs: specs, Runner: &Local{Family: f, Specs: specs}}
}

// Tasks names the tasks, in order.
func (s *Session) Tasks() []string {
	out := make([]string, len(s.Specs))
	for i, t := range s.Specs {
		out[i] = t.Name
	}
	return out
}

// Weights are the tasks' weights (1 where the task list gives none).
func (s *Session) Weights() []float64 {
	out := make([]float64, len(s.Specs))
	for i := range s.Specs {
		out[i] = s.Specs[i].WeightOf()
	}
	return out
}

// Score is the objective of an evaluation's retention (and results): what
// a search maximises and what every table's objective column shows.
func (s *Session) Score(ret []float64, res, ref []*task.Result) float64 {
	return s.Objective.Combine(ret, s.Weights(), res, ref)
}

// WeightedMean is Σ wᵢvᵢ / Σ wᵢ (the plain mean when w is nil).
func WeightedMean(v, w []float64) float64 {
	var s, ws float64
	for i, x := range v {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		s += wi * x
		ws += wi
	}
	if ws == 0 {
		return 0
	}
	return s / ws
}

// Costs are an evaluation's costs for the search, lower is better. With
// the mean aggregate, one per task: (1 − rᵢ) scaled by wᵢ·K/Σw, so their
// plain mean is 1 − the objective (the bo-mean optimizer's target),
// ParEGO's random scalarisations lean towards the heavier tasks and
// Hyperband promotes by non-dominated sorting over the tasks (a positive
// scale per task leaves the fronts as they are). With geomean, min or
// paper the user asked for one number: the single cost 1 − objective, so
// ParEGO, the surrogate and the promotions all follow it.
func (s *Session) Costs(e *Evaluation) []float64 {
	if s.Objective.aggregate() != "mean" {
		return []float64{1 - e.Objective}
	}
	w := s.Weights()
	var ws float64
	for _, x := range w {
		ws += x
	}
	out := make([]float64, len(e.Retention))
	for i, r := range e.Retention {
		out[i] = (1 - r) * w[i] * float64(len(w)) / ws
	}
	return out
}

// Results runs a job through the session's runner (its target quantized
// as the session's Quant says).
func (s *Session) Results(ctx context.Context, j Job) ([]*task.Result, error) {
	if q := s.Quant; q != "" && q != "none" && j.Target.Quant == "" {
		j.Target.Quant = q
		j.ID = JobID(j.Target, j.Budget, j.From)
	}
	res, err := s.Runner.Run(ctx, j)
	if err != nil {
		return nil, err
	}
	if len(res) != len(s.Specs) {
		return nil, fmt.Errorf("%s: %d task results for %d tasks", j.Target.Name(), len(res), len(s.Specs))
	}
	return res, nil
}

// ReferenceResults are the dense base's results at a budget (computed once).
func (s *Session) ReferenceResults(ctx context.Context, budget int) ([]*task.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.refRes[budget]; ok {
		return r, nil
	}
	r, err := s.Results(ctx, NewJob(Target{Model: plan.BaseAlias}, budget, -1))
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	if s.refRes == nil {
		s.refRes = map[int][]*task.Result{}
	}
	s.refRes[budget] = r
	return r, nil
}

// Evaluation is a target's results and retention against the reference.
type Evaluation struct {
	Results   []*task.Result
	Reference []*task.Result
	Retention []float64
	Objective float64
}

// Evaluate runs a target at a budget and compares it with the reference
// the objective names.
func (s *Session) Evaluate(ctx context.Context, t Target, budget, trial int) (*Evaluation, error) {
	ref, err := s.references(ctx, budget)
	if err != nil {
		return nil, err
	}
	res, err := s.reusing(ctx, t, budget, trial)
	if err != nil {
		return nil, err
	}
	e := &Evaluation{Results: res, Reference: ref, Retention: make([]float64, len(res))}
	for i := range res {
		e.Retention[i] = task.Retention(res[i], ref[i])
	}
	e.Objective = s.Score(e.Retention, res, ref)
	return e, nil
}
