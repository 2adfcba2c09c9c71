package session

import (
	"context"

	"github.com/gptailor/gptailor/native/task"
)

// reusing evaluates a target at a budget, reusing what is known of the
// same recipe: the budget is the first N samples of each task, so a
// configuration promoted from budget N₁ already has the scores of its
// first N₁ samples and only the ones after them are evaluated; a recipe
// known at this budget or above (a duplicate configuration) is not
// evaluated at all. Results are merged by task.Merge, equal to the bit to
// a whole evaluation (test). Tasks that cannot be split (KL) are evaluated
// whole at every new budget.
func (s *Session) reusing(ctx context.Context, t Target, budget, trial int) ([]*task.Result, error) {
	if s.NoReuse {
		res, err := s.Results(ctx, NewJob(t, budget, trial))
		if err == nil {
			s.count(res, nil)
		}
		return res, err
	}
	key := JobID(t, 0, 0)
	s.mu.Lock()
	k, ok := s.known[key]
	s.mu.Unlock()
	specs := SpecsAt(s.Specs, budget)
	if ok && k.budget >= budget && (k.budget == budget || allReusable(specs)) {
		out := make([]*task.Result, len(specs))
		for i := range specs {
			n := min(len(k.res[i].Samples), budget)
			if k.budget == budget {
				out[i] = k.res[i]
				continue
			}
			r, err := task.Prefix(&specs[i], k.res[i], n)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		s.count(nil, out)
		return out, nil
	}
	from := 0
	if ok && k.budget < budget {
		from = k.budget
	}
	j := NewJob(t, budget, trial)
	j.From, j.ID = from, JobID(t, budget, from)
	next, err := s.Results(ctx, j)
	if err != nil {
		return nil, err
	}
	out := next
	if from > 0 {
		out = make([]*task.Result, len(next))
		for i := range specs {
			if !task.Reusable(specs[i].Type) {
				out[i] = next[i]
				continue
			}
			if out[i], err = task.Merge(&specs[i], k.res[i], next[i]); err != nil {
				return nil, err
			}
		}
		s.count(next, k.res)
	} else {
		s.count(next, nil)
	}
	s.mu.Lock()
	if s.known == nil {
		s.known = map[string]known{}
	}
	if cur, ok := s.known[key]; !ok || cur.budget < budget {
		s.known[key] = known{budget: budget, res: out}
	}
	s.mu.Unlock()
	return out, nil
}

func allReusable(specs []task.Spec) bool {
	for _, sp := range specs {
		if !task.Reusable(sp.Type) {
			return false
		}
	}
	return true
}

// count adds evaluated and reused samples.
func (s *Session) count(evaluated, reused []*task.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range evaluated {
		s.evaluated += len(r.Samples)
	}
	for _, r := range reused {
		s.reused += len(r.Samples)
	}
}

// SampleCounts are the samples the session's runner evaluated and those
// it took from earlier evaluations of the same recipe.
func (s *Session) SampleCounts() (evaluated, reused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evaluated, s.reused
}
