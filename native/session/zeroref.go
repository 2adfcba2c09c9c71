package session

import (
	"context"
	"fmt"
	"sort"

	"github.com/gptailor/gptailor/native/task"
)

// ZeroReferenceNotes name the tasks whose reference scored 0 at a budget
// evaluated so far, where retention is defined as 1 (task.Retention): the
// reports say so, since such a task neither costs nor credits a candidate.
func (s *Session) ZeroReferenceNotes() []string {
	s.mu.Lock()
	var budgets []int
	for b := range s.refRes {
		budgets = append(budgets, b)
	}
	s.mu.Unlock()
	sort.Ints(budgets)
	zero := map[string][]int{}
	var order []string
	for _, b := range budgets {
		ref, err := s.references(context.Background(), b) // computed already: no evaluation
		if err != nil {
			continue
		}
		for _, r := range ref {
			if task.ZeroReference(r) {
				if zero[r.Name] == nil {
					order = append(order, r.Name)
				}
				zero[r.Name] = append(zero[r.Name], b)
			}
		}
	}
	var out []string
	for _, name := range order {
		out = append(out, fmt.Sprintf("task %s: the %s scores 0 at budget %v, so there is nothing to keep: its retention is counted as 100 %% for every candidate there (the task neither costs nor credits a plan; raise the budget or the samples to make it count)", name, s.Objective.RefName(), zero[name]))
	}
	return out
}
