package session

import (
	"context"
	"reflect"
	"testing"

	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/plan"
)

// countingRunner counts the samples each job asks for.
type countingRunner struct {
	inner Runner
	jobs  []Job
}

func (c *countingRunner) Run(ctx context.Context, j Job) ([]*task.Result, error) {
	c.jobs = append(c.jobs, j)
	return c.inner.Run(ctx, j)
}

// A configuration promoted from 3 to 9 to 27 samples evaluates only the
// new samples each time, a duplicate is not evaluated at all, a smaller
// budget is a prefix — and every result equals a from-scratch evaluation
// exactly (metrics, samples, retention, objective).
func TestBudgetReuseIsExact(t *testing.T) {
	f, tasks := demoSession(t, FamilyOptions{PrefixBytes: 64 << 20}, "base", "code", "docs", "math")
	p := &plan.Plan{Version: plan.Version, Models: f.Dirs, Slots: []plan.Slot{
		{Take: &plan.Take{Model: "base", Layer: 0}},
		{Merge: &plan.Merge{Method: "task_arithmetic", Layer: 1, Models: []string{"code", "math"}, Params: plan.Params{Lambda: plan.Ptr(0.4)}}},
		{Take: &plan.Take{Model: "docs", Layer: 3}},
		{Take: &plan.Take{Model: "base", Layer: 4}},
	}}
	target := Target{Plan: p}
	s := New(f, tasks)
	cr := &countingRunner{inner: s.Runner}
	s.Runner = cr
	fresh := New(f, tasks)
	fresh.NoReuse = true
	wantFrom := [][]int{{0}, {3}, {9}, nil, nil} // what the runner is asked, per step
	for step, b := range []int{3, 9, 27, 27, 9} {
		before := len(cr.jobs)
		got, err := s.Evaluate(context.Background(), target, b, 0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.Evaluate(context.Background(), target, b, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Objective != want.Objective || !reflect.DeepEqual(got.Retention, want.Retention) {
			t.Errorf("budget %d: objective %v retention %v, from scratch %v %v", b, got.Objective, got.Retention, want.Objective, want.Retention)
		}
		for i := range got.Results {
			g, w := got.Results[i], want.Results[i]
			if !reflect.DeepEqual(g.Metrics, w.Metrics) || !reflect.DeepEqual(g.Samples, w.Samples) || g.NEffective != w.NEffective {
				t.Errorf("budget %d task %s: %v (%d samples) vs from scratch %v (%d)", b, g.Name, g.Metrics, len(g.Samples), w.Metrics, len(w.Samples))
			}
		}
		// What the runner was asked for: every job but the reference's.
		var asked []Job
		for _, j := range cr.jobs[before:] {
			if j.Target.Model == "" {
				asked = append(asked, j)
			}
		}
		var from []int
		for _, j := range asked {
			from = append(from, j.From)
		}
		if !reflect.DeepEqual(from, wantFrom[step]) {
			t.Errorf("step %d (budget %d): the runner was asked from %v, want %v", step, b, from, wantFrom[step])
		}
	}
	ev, reused := s.SampleCounts()
	// 3 + 6 + 18 new samples per task; 27 (duplicate) and 9 (prefix) reused.
	if ev != 4*27 || reused != 4*(3+9+27+9) {
		t.Errorf("samples evaluated %d, reused %d; want %d and %d", ev, reused, 4*27, 4*(3+9+27+9))
	}
}
