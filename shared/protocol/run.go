package protocol

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/gptailor/gptailor/shared/plan"
)

// RunRequest is a search to start or resume: search.start's payload, and
// what the CLI's search flags bind to (one field per flag), so every entry
// point describes a run with the same type and session.Resolve turns it
// into the run's stored spec. Zero fields take the defaults (the CLI's
// flag defaults are the same values).
type RunRequest struct {
	// Run names the run directory (the server: under its runs directory;
	// "" draws a dated name). With Resume the run's stored settings are
	// used; a field given that differs from them is refused (the journal
	// would not replay), except Trials, Duration and ReportTasks.
	Run       string `json:"run,omitempty"`
	Resume    bool   `json:"resume,omitempty"`
	Overwrite bool   `json:"overwrite,omitempty"` // discard a search journaled in Run and start afresh
	// Remove is the layers to remove; ParamBudget (0 < f ≤ 1), when set,
	// keeps at most that fraction of the base's parameters instead.
	Remove      int      `json:"remove"`
	ParamBudget float64  `json:"param_budget,omitempty"`
	Methods     []string `json:"methods,omitempty"`     // extension: the merge method per layer among these (plan.SearchableMethods)
	Weights     bool     `json:"weights,omitempty"`     // extension: a weight per fine-tune in merges
	Space       string   `json:"space,omitempty"`       // full (default), selection or removal
	Granularity string   `json:"granularity,omitempty"` // layer (default) or block
	Reference   string   `json:"reference,omitempty"`   // base (default) or best
	Aggregate   string   `json:"aggregate,omitempty"`   // min (default), mean, geomean or paper
	// Trials is the evaluations (config × samples) to run: nil, the
	// default (60); 0, no limit.
	Trials   *int          `json:"trials,omitempty"`
	Duration time.Duration `json:"duration,omitempty"` // wall-time budget in nanoseconds (0: none)
	// Optimizer: bo (default), bo-mean, bo-highest or random.
	Optimizer string `json:"optimizer,omitempty"`
	// MinSamples and MaxSamples are the samples per task at the lowest and
	// the full fidelity (Hyperband's budgets); Eta is Hyperband's η.
	MinSamples int     `json:"min_samples,omitempty"`
	MaxSamples int     `json:"max_samples,omitempty"`
	Eta        float64 `json:"eta,omitempty"`
	Seed       uint64  `json:"seed,omitempty"`
	WarmStart  bool    `json:"warm_start,omitempty"`
	Batch      int     `json:"batch,omitempty"` // trials evaluated at once (0: the workers', 1 without)
	// Repair is a calibration file (on the machine running the search):
	// every candidate and pruning baseline gets a linear repair fitted on
	// RepairSamples windows of it ("": none).
	Repair        string `json:"repair,omitempty"`
	RepairSamples int    `json:"repair_samples,omitempty"`
	// ReportTasks is a held-out task list scored at the end (the CLI's
	// --report-tasks; the server refuses it).
	ReportTasks string `json:"report_tasks,omitempty"`
	// Quant (q8_0 or q4_0; "" or none: full precision) scores every
	// candidate, baseline and the reference with its weights as a GGUF
	// file of that type stores them (build --format gguf --type).
	Quant string `json:"quant,omitempty"`
}

// UnmarshalJSON reads the old names of the per-task samples, min_budget
// and max_budget, too.
func (r *RunRequest) UnmarshalJSON(b []byte) error {
	type plain RunRequest
	var aux struct {
		plain
		MinBudget int `json:"min_budget,omitempty"`
		MaxBudget int `json:"max_budget,omitempty"`
	}
	if err := strictJSON(b, &aux); err != nil {
		return err
	}
	*r = RunRequest(aux.plain)
	if r.MinSamples == 0 {
		r.MinSamples = aux.MinBudget
	}
	if r.MaxSamples == 0 {
		r.MaxSamples = aux.MaxBudget
	}
	return nil
}

// strictJSON decodes b into v refusing unknown fields (a type with its own
// UnmarshalJSON does not inherit the envelope decoder's strictness).
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// Trial is one evaluation of a search (config × samples) as the app sees
// it: the trial event's and the journal's figures.
type Trial struct {
	Index     int       `json:"index"`
	Bracket   int       `json:"bracket"`
	Rung      int       `json:"rung"`
	Samples   int       `json:"samples"`             // per task (the Hyperband budget)
	Objective *float64  `json:"objective"`           // null when the trial failed
	Retention []float64 `json:"retention,omitempty"` // per task, in FamilyInfo.Tasks order
	Seconds   float64   `json:"seconds"`
	Error     string    `json:"error,omitempty"`
}

// TrialEvent is the trial event: a finished trial and the plan it tried.
type TrialEvent struct {
	Trial Trial      `json:"trial"`
	Plan  *plan.Plan `json:"plan,omitempty"`
}
