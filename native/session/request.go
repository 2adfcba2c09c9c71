package session

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/shared/plan"
	"github.com/gptailor/gptailor/shared/protocol"
)

// Resolved is a run request made into the run's spec.
type Resolved struct {
	Spec RunSpec
	// Resumed: the spec is the run's stored one (with the changes the
	// request was allowed to make, described in Changes).
	Resumed bool
	Changes []string
	// Notes are for the user (e.g. a resume with nothing journaled yet
	// starting afresh).
	Notes []string
}

// Resolve turns a request for the run in dir into its spec: a fresh run
// over members judged on tasksPath (refused when dir already holds a
// search, unless req.Overwrite, which removes it), or the run's stored
// spec when req.Resume. A resumed run takes Trials, Duration and
// ReportTasks from the request when given; any other field given that
// differs from the stored run is refused, since the journal would no
// longer replay. given reports whether a field was set explicitly, by its
// CLI flag name (nil: none but Trials when req.Trials is set). Paths are
// made absolute and symlink-free, so the run resumes from any directory;
// relative paths in an old search.json are found from the working
// directory or the run directory's ancestors.
func Resolve(dir string, req protocol.RunRequest, members []model.Member, tasksPath string, given func(flag string) bool) (*Resolved, error) {
	if given == nil {
		given = func(flag string) bool { return flag == "trials" && req.Trials != nil }
	}
	journal, specPath := search.RunDir(dir)
	if req.Resume {
		saved, err := ReadSpec(specPath)
		switch {
		case errors.Is(err, os.ErrNotExist) && fileExists(journal):
			return nil, fmt.Errorf("resume: %s has a journal but no search.json: the run's settings are lost; start another run", dir)
		case errors.Is(err, os.ErrNotExist) && len(members) > 0 && tasksPath != "":
			// Killed before anything was journaled: there is nothing to
			// continue, and the request says everything to start.
			r, err := fresh(req, members, tasksPath)
			if r != nil {
				r.Notes = append(r.Notes, fmt.Sprintf("nothing journaled in %s yet; starting the search", dir))
			}
			return r, err
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("resume: %s holds no search (no search.json); start one with a family and tasks", dir)
		case err != nil:
			return nil, fmt.Errorf("resume: %w", err)
		}
		saved.canonical(dir)
		asked := specOf(req)
		asked.Family, asked.Tasks = members, tasksPath
		asked.canonical("")
		changes, err := resumeChanges(&saved, asked, given)
		if err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		if saved.Settings.Batch == 0 {
			saved.Settings.Batch = 1 // the run's: workers joining now do not change its journal
		}
		note, err := checkTaskHashes(saved)
		if err != nil {
			return nil, fmt.Errorf("resume %s: %w", dir, err)
		}
		r := &Resolved{Spec: saved, Resumed: true, Changes: changes}
		if note != "" {
			r.Notes = append(r.Notes, note)
		}
		return r, nil
	}
	if req.Overwrite {
		for _, f := range []string{journal, specPath} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	} else if fileExists(journal) {
		return nil, fmt.Errorf("%s already holds a search: resume it (--resume) or choose another run", dir)
	}
	return fresh(req, members, tasksPath)
}

// fresh is a new run's spec with canonical paths.
func fresh(req protocol.RunRequest, members []model.Member, tasksPath string) (*Resolved, error) {
	if len(members) < 2 {
		return nil, errors.New("a search needs a base and at least one fine-tune (--family twice or more)")
	}
	if tasksPath == "" {
		return nil, errors.New("a search needs a task list (--tasks)")
	}
	spec := specOf(req)
	spec.Family, spec.Tasks = members, tasksPath
	spec.canonical("")
	if err := spec.Settings.Validate(); err != nil {
		return nil, err
	}
	if _, err := engine.ParseQuant(spec.Quant); err != nil {
		return nil, err
	}
	// An unreadable list is left for the session to refuse, naming it.
	spec.TaskHashes, _ = TaskHashes(spec.Tasks)
	return &Resolved{Spec: spec}, nil
}

// specOf is a request's settings as a spec, the defaults where it says
// nothing (no family or tasks).
func specOf(req protocol.RunRequest) RunSpec {
	st := DefaultSettings()
	if req.Trials != nil {
		st.Trials = *req.Trials
	}
	if req.Optimizer != "" {
		st.Optimizer = req.Optimizer
	}
	if req.MinSamples != 0 {
		st.MinBudget = req.MinSamples
	}
	if req.MaxSamples != 0 {
		st.MaxBudget = req.MaxSamples
	}
	if req.Eta != 0 {
		st.Eta = req.Eta
	}
	st.Seed, st.WarmStart, st.Batch, st.Duration = req.Seed, req.WarmStart, req.Batch, req.Duration
	obj := DefaultObjective
	if req.Reference != "" {
		obj.Reference = req.Reference
	}
	if req.Aggregate != "" {
		obj.Aggregate = req.Aggregate
	}
	quant := req.Quant
	if quant == "none" {
		quant = ""
	}
	spec := RunSpec{Quant: quant, Remove: req.Remove, ParamBudget: req.ParamBudget, Methods: req.Methods, Weights: req.Weights, Space: req.Space,
		Objective: obj, ReportTasks: req.ReportTasks, Settings: st, Granularity: req.Granularity}
	if req.Repair != "" {
		n := req.RepairSamples
		if n == 0 {
			n = plan.DefaultRepairSamples
		}
		spec.Repair = &plan.Repair{Method: "linear", Calibration: req.Repair, Samples: n}
	}
	return spec
}

// canonical makes the spec's paths absolute and symlink-free. A relative
// path (as old runs stored them) is looked up from the working directory,
// then from each ancestor of dir (the directory a run was started from
// usually holds its run directory). A path found nowhere is left absolute
// for the check that reads it to name.
func (s *RunSpec) canonical(dir string) {
	for i := range s.Family {
		s.Family[i].Dir = canonicalPath(s.Family[i].Dir, dir)
	}
	s.Tasks = canonicalPath(s.Tasks, dir)
	s.ReportTasks = canonicalPath(s.ReportTasks, dir)
	if s.Repair != nil {
		r := *s.Repair
		r.Calibration = canonicalPath(r.Calibration, dir)
		s.Repair = &r
	}
}

// canonicalPath is p absolute and symlink-free; a relative p that is not
// found from the working directory is tried from dir's ancestors.
func canonicalPath(p, dir string) string {
	if p == "" {
		return ""
	}
	real := func(p string) (string, bool) {
		abs, err := filepath.Abs(p)
		if err != nil {
			return p, false
		}
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			return r, true
		}
		return abs, false
	}
	c, ok := real(p)
	if ok || filepath.IsAbs(p) || dir == "" {
		return c
	}
	d, _ := filepath.Abs(dir)
	if r, err := filepath.EvalSymlinks(d); err == nil {
		d = r // the run directory where it really is
	}
	for d = filepath.Dir(d); d != filepath.Dir(d); d = filepath.Dir(d) {
		if r, ok := real(filepath.Join(d, p)); ok {
			return r
		}
	}
	return c
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// resumeChanges compares the settings asked for on resume against the
// run's stored ones. Only the trial budget (trials, time) and the held-out
// tasks may change: those changes are applied to saved and described.
// Any other field given that differs is refused; fields not given keep
// the stored values.
func resumeChanges(saved *RunSpec, asked RunSpec, given func(string) bool) ([]string, error) {
	var changes, refused []string
	gs, ss := asked.Settings, saved.Settings
	if given("trials") && gs.Trials != ss.Trials {
		changes = append(changes, fmt.Sprintf("--trials %d (was %d)", gs.Trials, ss.Trials))
		saved.Settings.Trials = gs.Trials
	}
	if given("time") && gs.Duration != ss.Duration {
		changes = append(changes, fmt.Sprintf("--time %v (was %v)", gs.Duration, ss.Duration))
		saved.Settings.Duration = gs.Duration
	}
	if given("report-tasks") && asked.ReportTasks != saved.ReportTasks { // held-out tasks do not touch the journal
		changes = append(changes, fmt.Sprintf("--report-tasks %s (was %q)", asked.ReportTasks, saved.ReportTasks))
		saved.ReportTasks = asked.ReportTasks
	}
	fixed := func(name string, differs bool, was, now any) {
		if given(name) && differs {
			refused = append(refused, fmt.Sprintf("--%s %v (the run has %v)", name, now, was))
		}
	}
	fixed("optimizer", gs.Optimizer != ss.Optimizer, ss.Optimizer, gs.Optimizer)
	fixed("seed", gs.Seed != ss.Seed, ss.Seed, gs.Seed)
	fixed("min-budget", gs.MinBudget != ss.MinBudget, ss.MinBudget, gs.MinBudget)
	fixed("max-budget", gs.MaxBudget != ss.MaxBudget, ss.MaxBudget, gs.MaxBudget)
	fixed("eta", gs.Eta != ss.Eta, ss.Eta, gs.Eta)
	fixed("batch", max(gs.Batch, 1) != max(ss.Batch, 1), ss.Batch, gs.Batch)
	fixed("warm-start", gs.WarmStart != ss.WarmStart, ss.WarmStart, gs.WarmStart)
	fixed("remove", asked.Remove != saved.Remove, saved.Remove, asked.Remove)
	fixed("param-budget", asked.ParamBudget != saved.ParamBudget, saved.ParamBudget, asked.ParamBudget)
	fixed("methods", !slices.Equal(asked.Methods, saved.Methods), strings.Join(saved.Methods, ","), strings.Join(asked.Methods, ","))
	fixed("weights", asked.Weights != saved.Weights, saved.Weights, asked.Weights)
	// An objective field left empty in a stored run is the old default (mean).
	ref, agg := orDefault(saved.Objective.Reference, "base"), orDefault(saved.Objective.Aggregate, "mean")
	fixed("reference", asked.Objective.Reference != ref, ref, asked.Objective.Reference)
	fixed("aggregate", asked.Objective.Aggregate != agg, agg, asked.Objective.Aggregate)
	fixed("space", asked.SpaceName() != saved.SpaceName(), saved.SpaceName(), asked.SpaceName())
	fixed("granularity", orDefault(asked.Granularity, "layer") != orDefault(saved.Granularity, "layer"), orDefault(saved.Granularity, "layer"), asked.Granularity)
	fixed("repair", !reflect.DeepEqual(asked.Repair, saved.Repair), repairString(saved.Repair), repairString(asked.Repair))
	fixed("repair-samples", !reflect.DeepEqual(asked.Repair, saved.Repair), repairString(saved.Repair), repairString(asked.Repair))
	fixed("tasks", asked.Tasks != saved.Tasks, saved.Tasks, asked.Tasks)
	fixed("quant", asked.QuantName() != saved.QuantName(), saved.QuantName(), asked.QuantName())
	fixed("family", !SameMembers(asked.Family, saved.Family), MembersString(saved.Family), MembersString(asked.Family))
	if len(refused) > 0 {
		return nil, fmt.Errorf("the journal was made with other settings, so it would not replay: %s; resume with the run's settings (or leave those out), or start another run", strings.Join(refused, ", "))
	}
	return changes, nil
}

func repairString(r *plan.Repair) string {
	if r == nil {
		return "no repair"
	}
	return fmt.Sprintf("%s on %s (%d samples)", r.Method, r.Calibration, r.SamplesOr())
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
