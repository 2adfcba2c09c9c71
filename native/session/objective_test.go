package session

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/task"
)

// fakeRunner answers with hand-built results: accuracy (higher is better)
// on task "acc" and bits per byte (lower is better) on task "bpb", per
// target (a dense member, or any plan).
type fakeRunner map[string][2]float64

func (f fakeRunner) Run(_ context.Context, j Job) ([]*task.Result, error) {
	name := "plan"
	if j.Target.Model != "" {
		name = j.Target.Model
	}
	v := f[name]
	return []*task.Result{
		{Name: "acc", Type: "multiple_choice", Primary: "acc", HigherIsBetter: true, Metrics: map[string]float64{"acc": v[0]}},
		{Name: "bpb", Type: "perplexity", Primary: "bits_per_byte", Metrics: map[string]float64{"bits_per_byte": v[1]}},
	}, nil
}

func fakeSession(o Objective, weights ...float64) *Session {
	f := &Family{Family: &model.Family{Models: []*model.Model{{Name: "base"}, {Name: "ft"}}}}
	specs := []task.Spec{{Name: "acc", Type: "multiple_choice", Weight: weights[0]}, {Name: "bpb", Type: "perplexity", Weight: weights[1]}}
	return &Session{Family: f, Specs: specs, Objective: o, Runner: fakeRunner{
		"base": {0.50, 2.0}, // the base
		"ft":   {0.80, 2.5}, // a fine-tune: better accuracy, worse bits per byte
		"plan": {0.60, 2.2}, // the candidate
	}}
}

// Every reference and aggregate on hand-computed values.
func TestObjectiveValues(t *testing.T) {
	// Against the base: acc 0.6/0.5 = 1.2, bpb 2.0/2.2 = 0.90909…
	// Against the best dense member per task: acc 0.6/0.8 = 0.75 (ft),
	// bpb 2.0/2.2 (the base is best).
	rb, rbpb := 1.2, 2.0/2.2
	cases := []struct {
		o    Objective
		w    []float64
		want float64
	}{
		{Objective{"base", "mean"}, []float64{1, 1}, (rb + rbpb) / 2},
		{Objective{"base", "mean"}, []float64{3, 1}, (3*rb + rbpb) / 4},
		{Objective{"base", "geomean"}, []float64{1, 1}, math.Sqrt(rb * rbpb)},
		{Objective{"base", "geomean"}, []float64{3, 1}, math.Exp((3*math.Log(rb) + math.Log(rbpb)) / 4)},
		{Objective{"base", "min"}, []float64{1, 1}, rbpb},
		{Objective{"base", "min"}, []float64{5, 1}, rbpb}, // min is the weakest task whatever the weights
		{Objective{"best", "mean"}, []float64{1, 1}, (0.75 + rbpb) / 2},
		{Objective{"best", "min"}, []float64{1, 1}, 0.75},
		{Objective{"", ""}, []float64{1, 1}, (rb + rbpb) / 2}, // a stored run without an objective: the old mean
	}
	for _, c := range cases {
		s := fakeSession(c.o, c.w...)
		ev, err := s.Evaluate(context.Background(), Target{Model: "plan"}, 3, 0)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ev.Objective-c.want) > 1e-12 {
			t.Errorf("%+v weights %v: objective %.15g, want %.15g (retention %v)", c.o, c.w, ev.Objective, c.want, ev.Retention)
		}
	}
	// The paper's: Σ w·acc / Σ w·acc_ref over accuracy tasks only.
	s := fakeSession(Objective{"base", "paper"}, 1, 1)
	if err := s.Objective.Validate(s.Specs); err == nil || !strings.Contains(err.Error(), "task bpb is perplexity") {
		t.Errorf("paper on a perplexity task: %v", err)
	}
	if got := (Objective{Aggregate: "paper"}).Combine([]float64{1.2}, []float64{1}, []*task.Result{{Primary: "acc", Metrics: map[string]float64{"acc": 0.6}}}, []*task.Result{{Primary: "acc", Metrics: map[string]float64{"acc": 0.5}}}); math.Abs(got-1.2) > 1e-15 {
		t.Errorf("paper objective %v", got)
	}
	for _, bad := range []Objective{{Reference: "worst"}, {Aggregate: "median"}} {
		if err := bad.Validate(nil); err == nil || !strings.Contains(err.Error(), "one of") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	// With mean, one cost per task; otherwise one cost, 1 − objective.
	if c := fakeSession(Objective{"base", "mean"}, 1, 1).Costs(&Evaluation{Retention: []float64{rb, rbpb}, Objective: 1}); len(c) != 2 {
		t.Errorf("mean costs %v", c)
	}
	if c := fakeSession(Objective{"base", "min"}, 1, 1).Costs(&Evaluation{Retention: []float64{rb, rbpb}, Objective: rbpb}); len(c) != 1 || c[0] != 1-rbpb {
		t.Errorf("min costs %v", c)
	}
}
