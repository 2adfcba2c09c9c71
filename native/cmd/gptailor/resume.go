package main

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gptailor/gptailor/native/session"
)

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// resumeChanges compares the flags given with --resume against the run's
// stored settings. Only the budget (--trials, --time) may change: the
// changes are applied to saved and described. Any other flag that was set
// and differs is refused, since the journal would no longer replay; flags
// left unset keep the stored values.
func resumeChanges(saved *session.RunSpec, given session.RunSpec, set map[string]bool, paramBudget float64) ([]string, error) {
	var changes []string
	var refused []string
	if set["trials"] && given.Settings.Trials != saved.Settings.Trials {
		changes = append(changes, fmt.Sprintf("--trials %d (was %d)", given.Settings.Trials, saved.Settings.Trials))
	}
	if set["time"] && given.Settings.Duration != saved.Settings.Duration {
		changes = append(changes, fmt.Sprintf("--time %v (was %v)", given.Settings.Duration, saved.Settings.Duration))
	}

	fixed := func(name string, differs bool, was, now any) {
		if set[name] && differs {
			refused = append(refused, fmt.Sprintf("--%s %v (the run has %v)", name, now, was))
		}
	}
	gs, ss := given.Settings, saved.Settings
	fixed("optimizer", gs.Optimizer != ss.Optimizer, ss.Optimizer, gs.Optimizer)
	fixed("seed", gs.Seed != ss.Seed, ss.Seed, gs.Seed)
	fixed("min-budget", gs.MinBudget != ss.MinBudget, ss.MinBudget, gs.MinBudget)
	fixed("max-budget", gs.MaxBudget != ss.MaxBudget, ss.MaxBudget, gs.MaxBudget)
	fixed("eta", gs.Eta != ss.Eta, ss.Eta, gs.Eta)
	fixed("batch", max(gs.Batch, 1) != max(ss.Batch, 1), ss.Batch, gs.Batch)
	fixed("warm-start", gs.WarmStart != ss.WarmStart, ss.WarmStart, gs.WarmStart)
	fixed("remove", given.Remove != saved.Remove, saved.Remove, given.Remove)
	fixed("param-budget", paramBudget != saved.ParamBudget, saved.ParamBudget, paramBudget)
	fixed("methods", !slices.Equal(given.Methods, saved.Methods), strings.Join(saved.Methods, ","), strings.Join(given.Methods, ","))
	fixed("weights", given.Weights != saved.Weights, saved.Weights, given.Weights)
	// An objective field left empty in a stored run is the old default (mean).
	fixed("reference", given.Objective.Reference != orDefault(saved.Objective.Reference, "base"), orDefault(saved.Objective.Reference, "base"), given.Objective.Reference)
	fixed("aggregate", given.Objective.Aggregate != orDefault(saved.Objective.Aggregate, "mean"), orDefault(saved.Objective.Aggregate, "mean"), given.Objective.Aggregate)
	fixed("space", given.SpaceName() != saved.SpaceName(), saved.SpaceName(), given.SpaceName())
	fixed("granularity", orDefault(given.Granularity, "layer") != orDefault(saved.Granularity, "layer"), orDefault(saved.Granularity, "layer"), given.Granularity)
	fixed("repair", !reflect.DeepEqual(given.Repair, saved.Repair), repairString(saved.Repair), repairString(given.Repair))
	fixed("repair-samples", !reflect.DeepEqual(given.Repair, saved.Repair), repairString(saved.Repair), repairString(given.Repair))
	fixed("tasks", session.AbsPath(given.Tasks) != session.AbsPath(saved.Tasks), saved.Tasks, given.Tasks)
	if set["report-tasks"] && given.ReportTasks != saved.ReportTasks { // held-out tasks do not touch the journal
		changes = append(changes, fmt.Sprintf("--report-tasks %s (was %q)", given.ReportTasks, saved.ReportTasks))
		saved.ReportTasks = given.ReportTasks
	}
	fixed("family", !session.SameMembers(given.Family, saved.Family), session.MembersString(saved.Family), session.MembersString(given.Family))
	if len(refused) > 0 {
		return nil, fmt.Errorf("the journal was made with other settings, so it would not replay: %s; resume with the run's settings (or leave those flags out), or start another --run", strings.Join(refused, ", "))
	}
	if set["trials"] {
		saved.Settings.Trials = given.Settings.Trials
	}
	if set["time"] {
		saved.Settings.Duration = given.Settings.Duration
	}

	return changes, nil
}

// atLeast refuses an integer flag below lo, naming it.
func atLeast(flag string, v, lo int) error {
	if v < lo {
		return fmt.Errorf("%s %d: must be at least %d", flag, v, lo)
	}
	return nil
}

// between refuses a number flag outside [lo, hi] (0 meaning "not used" is
// the caller's business: pass lo = 0).
func between(flag string, v, lo, hi float64) error {
	if !(v >= lo && v <= hi) {
		return fmt.Errorf("%s %v: must be between %v and %v", flag, v, lo, hi)
	}
	return nil
}

// positiveDuration refuses a negative duration flag.
func positiveDuration(flag string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s %v: must not be negative", flag, d)
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
