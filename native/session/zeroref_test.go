package session

import (
	"context"
	"math"
	"testing"

	"github.com/gptailor/gptailor/native/task"
)

// Item 3 of issue 22: a multiple-choice task the reference scores 0 on
// made every retention NaN (0.6/0) and so the objective. Retention there
// is defined as 1 (nothing to keep), the objective is finite, the costs
// too, and the note names the task and budget.
func TestZeroReferenceRetentionIsDefined(t *testing.T) {
	for _, agg := range []string{"mean", "geomean", "min", "paper"} {
		s := fakeSession(Objective{"base", agg}, 1, 1)
		if agg == "paper" {
			s.Specs = s.Specs[:1]
		}
		s.Runner = zeroBase{s.Runner.(fakeRunner), agg == "paper"}
		ev, err := s.Evaluate(context.Background(), Target{Model: "plan"}, 3, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Retention[0] != 1 {
			t.Errorf("%s: retention on the zero-reference task %v, want 1", agg, ev.Retention[0])
		}
		want := map[string]float64{"mean": (1 + 2.0/2.2) / 2, "geomean": math.Sqrt(2.0 / 2.2), "min": 2.0 / 2.2, "paper": 1}[agg]
		if math.Abs(ev.Objective-want) > 1e-12 {
			t.Errorf("%s: objective %v, want %v", agg, ev.Objective, want)
		}
		for _, c := range s.Costs(ev) {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				t.Errorf("%s: cost %v", agg, c)
			}
		}
		notes := s.ZeroReferenceNotes()
		wantNote := "task acc: the dense base scores 0 at budget [3], so there is nothing to keep: its retention is counted as 100 % for every candidate there (the task neither costs nor credits a plan; raise the budget or the samples to make it count)"
		if len(notes) != 1 || notes[0] != wantNote {
			t.Errorf("%s: notes %q", agg, notes)
		}
	}
	// Against the best dense member: a member scoring above 0 becomes the
	// reference (retention 0.6/0.8), not the base's 0.
	s := fakeSession(Objective{"best", "mean"}, 1, 1)
	s.Runner = zeroBase{s.Runner.(fakeRunner), false}
	ev, _ := s.Evaluate(context.Background(), Target{Model: "plan"}, 3, 0)
	if math.Abs(ev.Retention[0]-0.75) > 1e-12 || len(s.ZeroReferenceNotes()) != 0 {
		t.Errorf("best reference: retention %v, notes %q", ev.Retention[0], s.ZeroReferenceNotes())
	}
}

// zeroBase is fakeRunner with the base at accuracy 0.
type zeroBase struct {
	f     fakeRunner
	first bool // only the accuracy task
}

func (z zeroBase) Run(ctx context.Context, j Job) ([]*task.Result, error) {
	res, err := z.f.Run(ctx, j)
	if j.Target.Model == "base" {
		res[0].Metrics["acc"] = 0
	}
	if z.first {
		res = res[:1]
	}
	return res, err
}
