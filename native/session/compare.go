package session

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/task"
)

// RunResult is one finished run: its settings and its winner.
type RunResult struct {
	Dir    string
	Spec   RunSpec
	Trials int
	Best   search.Trial // the winner (highest objective at the top budget)
}

// Group is the runs that differ only in their seed.
type Group struct {
	Label      string // what the runs share: space, objective, removal, optimizer, budgets
	Runs       []RunResult
	Mean, SE   float64   // of the winners' objectives
	TaskMeans  []float64 // the winners' retention per task, averaged
	TaskSE     []float64
	TaskLabels []string
}

// ReadRun reads a run directory's settings and journal.
func ReadRun(dir string) (RunResult, error) {
	journal, specPath := search.RunDir(dir)
	spec, err := ReadSpec(specPath)
	if err != nil {
		return RunResult{}, fmt.Errorf("%s: not a search run: %w", dir, err)
	}
	trials, err := search.ReadJournal(journal) // read-only: the run may be being written
	if err != nil {
		return RunResult{}, err
	}
	best, ok := search.Best(trials)
	if !ok {
		return RunResult{}, fmt.Errorf("%s: no finished trial", dir)
	}
	return RunResult{Dir: dir, Spec: spec, Trials: len(trials), Best: best}, nil
}

// label is what a run's group shares.
func (r RunResult) label() string {
	s := r.Spec
	st := s.Settings
	return fmt.Sprintf("space %s, %s, remove %d, %s, %d trials, budgets %d–%d", s.SpaceName(), s.ObjectiveName(), s.Remove, st.Optimizer, st.Trials, st.MinBudget, st.MaxBudget)
}

// Compare groups runs of one family and task list by everything but the
// seed, and gives each group the mean and standard error of its winners'
// objective and per-task retention. Runs of another family or task list
// are refused, naming them.
func Compare(dirs []string) ([]Group, error) {
	if len(dirs) == 0 {
		return nil, errors.New("compare: no run directory")
	}
	var runs []RunResult
	for _, d := range UniqueDirs(dirs) {
		r, err := ReadRun(d)
		if err != nil {
			return nil, err
		}
		if !sameRunSeen(runs, r) {
			runs = append(runs, r)
		}
	}
	first := runs[0]
	for _, r := range runs[1:] {
		if !SameMembers(r.Spec.Family, first.Spec.Family) {
			return nil, fmt.Errorf("compare: %s searched another family (%s) than %s (%s)", r.Dir, MembersString(r.Spec.Family), first.Dir, MembersString(first.Spec.Family))
		}
		if AbsPath(r.Spec.Tasks) != AbsPath(first.Spec.Tasks) {
			return nil, fmt.Errorf("compare: %s searched other tasks (%s) than %s (%s)", r.Dir, r.Spec.Tasks, first.Dir, first.Spec.Tasks)
		}
	}
	byLabel := map[string]*Group{}
	var order []string
	for _, r := range runs {
		l := r.label()
		g := byLabel[l]
		if g == nil {
			g = &Group{Label: l}
			byLabel[l] = g
			order = append(order, l)
		}
		g.Runs = append(g.Runs, r)
	}
	var names []string
	if list, err := task.ReadList(first.Spec.Tasks); err == nil {
		for _, t := range list.Tasks {
			names = append(names, t.Name)
		}
	}
	var out []Group
	for _, l := range order {
		g := byLabel[l]
		g.TaskLabels = names
		var obj []float64
		k := len(g.Runs[0].Best.Retention)
		per := make([][]float64, k)
		for _, r := range g.Runs {
			obj = append(obj, r.Best.Objective)
			for i := 0; i < k && i < len(r.Best.Retention); i++ {
				per[i] = append(per[i], r.Best.Retention[i])
			}
		}
		g.Mean, g.SE = meanSE(obj)
		for i := range per {
			m, se := meanSE(per[i])
			g.TaskMeans, g.TaskSE = append(g.TaskMeans, m), append(g.TaskSE, se)
		}
		out = append(out, *g)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Mean > out[b].Mean })
	return out, nil
}

func meanSE(v []float64) (float64, float64) {
	if len(v) < 2 {
		return stat.Mean(v, nil), math.NaN()
	}
	m, sd := stat.MeanStdDev(v, nil)
	return m, sd / math.Sqrt(float64(len(v)))
}

// AbsPath is p made absolute (p itself if that fails).
func AbsPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// SameMembers says whether two member lists name the same aliases and
// directories, in order.
func SameMembers(a, b []model.Member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Alias != b[i].Alias || AbsPath(a[i].Dir) != AbsPath(b[i].Dir) {
			return false
		}
	}
	return true
}

// MembersString is members as the --family flags would give them.
func MembersString(ms []model.Member) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Alias+"="+m.Dir)
	}
	return strings.Join(s, " ")
}
