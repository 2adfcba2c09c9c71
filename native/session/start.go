package session

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"

	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/protocol"
)

// Run is a search prepared in its directory: its spec checked against the
// session's family and tasks and written as search.json.
type Run struct {
	S     *Session
	Spec  RunSpec
	Dir   string
	Space *search.Space
}

// Prepare checks a resolved spec against the session (the family, the
// space, the objective, the held-out tasks), derives the layers to remove
// from a parameter budget, creates the run directory and writes
// search.json, and sets the memory limit: every refusal comes back before
// anything runs, with the reason (a run directory that cannot be created
// or a search.json that cannot be written included).
func (s *Session) Prepare(spec RunSpec, dir string) (*Run, error) {
	if len(spec.Family) < 2 {
		return nil, errors.New("a search needs a base and at least one fine-tune (--family twice or more)")
	}
	if spec.ParamBudget != 0 {
		if !(spec.ParamBudget > 0 && spec.ParamBudget <= 1) || math.IsNaN(spec.ParamBudget) {
			return nil, fmt.Errorf("param budget %v: must be between 0 and 1", spec.ParamBudget)
		}
		spec.Remove, _ = s.Family.RemoveFor(spec.ParamBudget)
	}
	if spec.Remove < 0 {
		return nil, fmt.Errorf("remove %d: must be at least 0", spec.Remove)
	}
	space, err := s.Family.Space(spec)
	if err != nil {
		return nil, err
	}
	if err := s.Family.CheckQuant(spec.Quant); err != nil {
		return nil, err
	}
	if err := spec.Objective.Validate(s.Specs); err != nil {
		return nil, err
	}
	if spec.ReportTasks != "" {
		if _, err := task.ReadList(spec.ReportTasks); err != nil {
			return nil, fmt.Errorf("report tasks (--report-tasks): %w", err)
		}
	}
	if spec.RunID == "" {
		spec.RunID = NewRunID()
	}
	r := &Run{S: s, Spec: spec, Dir: dir, Space: space}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	if err := r.SaveSpec(); err != nil {
		return nil, err
	}
	s.LimitMemory()
	return r, nil
}

// SaveSpec writes the run's search.json (again, after a change such as
// the batch distributing it chose); a file that already says the same is
// left alone.
func (r *Run) SaveSpec() error {
	_, path := search.RunDir(r.Dir)
	if old, err := ReadSpec(path); err == nil {
		if old.Settings.Batch == 0 && r.Spec.Settings.Batch == 1 {
			old.Settings.Batch = 1 // the same: one trial at a time
		}
		if reflect.DeepEqual(old, r.Spec) {
			return nil
		}
	}
	if err := WriteSpec(path, r.Spec); err != nil {
		return fmt.Errorf("run settings: %w", err)
	}
	return nil
}

// Search runs (or resumes) the prepared search; o.Dir is the run's.
func (r *Run) Search(ctx context.Context, o RunOptions) (*Outcome, error) {
	o.Dir = r.Dir
	return r.S.RunSearch(ctx, r.Spec, o)
}

// Event is a trial as the trial event carries it, with the plan it tried.
func (r *Run) Event(t search.Trial) protocol.TrialEvent { return TrialEvent(r.Space, t) }

// TrialEvent is a trial of a search over space as the trial event
// carries it.
func TrialEvent(space *search.Space, t search.Trial) protocol.TrialEvent {
	p, _ := space.Plan(t.Config, nil)
	w := protocol.Trial{Index: t.Index, Bracket: t.Bracket, Rung: t.Rung, Samples: t.Budget, Seconds: t.Seconds, Error: t.Error}
	if !math.IsNaN(t.Objective) && !math.IsInf(t.Objective, 0) {
		v := t.Objective
		w.Objective = &v
	}
	ret := make([]float64, len(t.Retention))
	for i, v := range t.Retention {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			v = 0
		}
		ret[i] = v
	}
	if len(ret) > 0 {
		w.Retention = ret
	}
	return protocol.TrialEvent{Trial: w, Plan: p}
}
