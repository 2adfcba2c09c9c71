package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gptailor/gptailor/native/atomicfile"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/task"
	"github.com/gptailor/gptailor/shared/plan"
)

// RunSpec is what a run directory remembers (search.json), so a search
// continues with the same settings from the CLI or the server.
type RunSpec struct {
	Family  []model.Member `json:"family"`
	Remove  int            `json:"remove"`
	Methods []string       `json:"methods,omitempty"`
	Weights bool           `json:"weights,omitempty"`
	// Space is the ablation space: full (default), selection or removal.
	Space string `json:"space,omitempty"`
	// Objective is what the search maximises (reference and aggregate).
	Objective Objective `json:"objective,omitempty"`
	// ReportTasks is a task list never seen by the search: the winner, its
	// Pareto set and every baseline are scored on it at the end.
	ReportTasks string `json:"report_tasks,omitempty"`
	Tasks       string `json:"tasks"`
	// ParamBudget is --param-budget when the run was started with it (Remove is then derived).
	ParamBudget float64         `json:"param_budget,omitempty"`
	Settings    search.Settings `json:"settings"`
	// RunID names the run's jobs and results on a NATS server, so a
	// resumed run finds the results its workers already published.
	RunID string `json:"run_id,omitempty"`
	// Granularity is "layer" (default) or "block": attention and MLP
	// sub-blocks removed and sourced separately, under the same parameter
	// budget.
	Granularity string `json:"granularity,omitempty"`
	// Repair, when set, is applied to every candidate with a cut and to
	// the pruning baselines (like with like).
	Repair *plan.Repair `json:"repair,omitempty"`
	// TaskHashes are the SHA-256 of the task list and its data files when
	// the run started (TaskHashes): a resume refuses tasks that changed.
	TaskHashes map[string]string `json:"task_hashes,omitempty"`

	// Quant (q8_0 or q4_0; "": full precision): every evaluation of the run
	// scores the weights as a GGUF file of that type stores them.
	Quant string `json:"quant,omitempty"`
}

// QuantName is the run's quantization for reports: none, q8_0 or q4_0.
func (s RunSpec) QuantName() string { return orDefault(s.Quant, "none") }

// WeightsName says, for a quantized run's report, which weights were
// scored ("" for full precision).
func (s RunSpec) WeightsName() string {
	if s.Quant == "" {
		return ""
	}
	return s.Quant + ": every plan, baseline and the reference scored with its weights as a " + strings.ToUpper(s.Quant) + " GGUF file of it stores them (build --format gguf --type " + s.Quant + ")"
}

// Granularities are the values of RunSpec.Granularity (search --granularity).
var Granularities = []string{"layer", "block"}

// Blocks reports block granularity.
func (s RunSpec) Blocks() bool { return s.Granularity == "block" }

// SpaceName is the run's search space (full when unset).
func (s RunSpec) SpaceName() string {
	if s.Space == "" {
		return "full"
	}
	return s.Space
}

// ObjectiveName says what the run maximises; a run stored before
// objectives existed maximised the mean against the base.
func (s RunSpec) ObjectiveName() string {
	if s.Objective == (Objective{}) {
		return Objective{Reference: "base", Aggregate: "mean"}.String()
	}
	return s.Objective.String()
}

// NewRunID draws a run id.
func NewRunID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ReadSpec reads a run directory's search.json, naming the file in every
// error; a missing file is os.ErrNotExist.
func ReadSpec(path string) (RunSpec, error) {
	var s RunSpec
	raw, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// WriteSpec writes search.json atomically.
func WriteSpec(path string, s RunSpec) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// RemoveFor is how many layers go to keep at most the fraction budget of
// the base's parameters (layers are all the same size: the fewest whose
// removal meets it), and the fraction kept.
func (f *Family) RemoveFor(budget float64) (int, float64) {
	base := f.Base()
	total, per := float64(base.Params()), float64(base.LayerParams())
	need := total - budget*total
	n := int(math.Max(0, math.Ceil(need/per-1e-9)))
	return n, (total - float64(n)*per) / total
}

// Space is the search space a spec describes over this family.
func (f *Family) Space(spec RunSpec) (*search.Space, error) {
	sp := &search.Space{Layers: f.Base().Config.NumHiddenLayers, Remove: spec.Remove, FineTunes: f.Names()[1:], Methods: spec.Methods, Weights: spec.Weights, Kind: spec.Space, Repair: spec.Repair}
	switch spec.Granularity {
	case "", "layer":
	case "block":
		base := f.Base()
		sp.Blocks = true
		sp.AttnParams, sp.MLPParams = base.SubBlockParams()
		sp.RemoveParams = int64(spec.Remove) * base.LayerParams()
		if spec.ParamBudget > 0 {
			total := float64(base.Params())
			sp.RemoveParams = int64(math.Ceil(total - spec.ParamBudget*total))
		}
	default:
		return nil, fmt.Errorf("granularity %q: one of %s", spec.Granularity, strings.Join(Granularities, ", "))
	}
	if r := spec.Repair; r != nil {
		if err := f.CheckRepair(r); err != nil {
			return nil, err
		}
	}
	if err := sp.Validate(); err != nil {
		return nil, err
	}
	st := spec.Settings
	if err := st.Validate(); err != nil {
		return nil, err
	}
	if st.Eta == 0 {
		st.Eta = search.DefaultEta
	}
	if b := search.Brackets(st.MinBudget, st.MaxBudget, st.Eta); st.Trials > 0 && st.Trials < len(b[0]) {
		return nil, fmt.Errorf("trials %d is too small for one Hyperband bracket (%d rungs): raise it or narrow the budgets", st.Trials, len(b[0]))
	}
	return sp, nil
}

// RunOptions say where a search keeps its files and what it reports.
type RunOptions struct {
	Dir      string // run directory: journal (trials.jsonl), report, best plan
	Truncate bool   // cut a damaged journal instead of refusing (search.OpenJournal)
	Compare  bool   // evaluate the baselines and report them beside the winner
	Scorer   *Scorer
	OnTrial  func(search.Trial) // every trial, replayed ones included
	Log      io.Writer          // notes for the user (nil: none)
}

// Outcome is a finished (or interrupted) search.
type Outcome struct {
	Space       *search.Space
	Trials      []search.Trial
	Rows        []Row // the winner first, then the baselines
	Interrupted bool
	// HeldOut are the winner, the baselines and the Pareto set on the
	// report tasks (named by HeldOutTasks), when the spec has them.
	HeldOut      []Row
	HeldOutTasks []string
}

// Winner is the search's row.
func (o *Outcome) Winner() Row { return o.Rows[0] }

// RunSearch runs (or, with a journal in the directory, resumes) the search
// a spec describes: ShortGPT's choice as a first candidate, the journal,
// the winner's evaluation at full budget, the baselines and the report.
// An interrupted search (ctx done) still reports what it has.
func (s *Session) RunSearch(ctx context.Context, spec RunSpec, o RunOptions) (*Outcome, error) {
	logf := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", a...)
		}
	}
	space, err := s.Family.Space(spec)
	if err != nil {
		return nil, err
	}
	if err := spec.Objective.Validate(s.Specs); err != nil {
		return nil, err
	}
	s.Objective = spec.Objective
	s.Repair, s.Blocks, s.Quant = spec.Repair, spec.Blocks(), spec.Quant
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	journalPath, _ := search.RunDir(o.Dir)
	journal, replay, err := search.OpenJournal(journalPath, o.Truncate)
	if err != nil {
		return nil, err
	}
	defer journal.Close()
	settings := spec.Settings
	settings.Extra = append(s.starts(space, spec.Remove, logf), settings.Extra...)
	ev := &Evaluator{S: s, Space: space, Scorer: o.Scorer}
	trials, err := search.Search(ctx, space, ev, settings, journal, replay, o.OnTrial)
	out := &Outcome{Space: space, Trials: trials, Interrupted: errors.Is(err, context.Canceled)}
	if err != nil && !out.Interrupted {
		return out, err
	}
	if out.Interrupted {
		logf("search interrupted after %d trials; --resume continues it", len(trials))
	}
	win, ok := search.Best(trials)
	if !ok && out.Interrupted {
		return out, ErrStoppedEarly
	}
	if !ok {
		return out, errors.New("no trial finished: every candidate failed (see the journal)")
	}
	if win.Budget != settings.MaxBudget {
		logf("note: no trial reached the full budget %d; the winner is from budget %d", settings.MaxBudget, win.Budget)
	}
	winPlan, err := space.Plan(win.Config, s.Family.Dirs)
	if err != nil {
		return out, err
	}
	winPlan.Name = fmt.Sprintf("search-best-trial-%d", win.Index)
	out.Rows = []Row{{Kind: search.KindSearch, Trial: win.Index, Plan: winPlan}}
	// The rows are scored after the search, so an interrupted one still
	// gets its table: on a fresh context.
	rctx := context.WithoutCancel(ctx)
	if o.Compare {
		base, skipped, err := s.Baselines(rctx, spec.Remove, settings.MaxBudget, settings.Batch)
		if err != nil {
			return out, err
		}
		for _, sk := range skipped {
			logf("baseline skipped: %s", sk)
		}
		out.Rows = append(out.Rows, base...)
	}
	if err := s.ScoreRows(rctx, out.Rows, settings.MaxBudget, settings.Batch); err != nil {
		return out, err
	}
	if s.Recheck != nil {
		if err := s.Recheck(rctx, out.Rows, settings.MaxBudget); err != nil {
			return out, err
		}
	}
	cmp := make([]search.Comparison, len(out.Rows))
	for i, r := range out.Rows {
		cmp[i] = r.Comparison()
	}
	var held []search.Comparison
	if spec.ReportTasks != "" {
		list, err := task.ReadList(spec.ReportTasks)
		if err != nil {
			return out, fmt.Errorf("--report-tasks: %w", err)
		}
		for _, w := range s.Overlap(list.Tasks, settings.MaxBudget) {
			logf("warning: %s", w)
		}
		rows := append(append([]Row(nil), out.Rows...), paretoRows(space, trials, s.Family.Dirs, win.Index)...)
		if out.HeldOut, err = s.HeldOut(rctx, list.Tasks, rows, settings.MaxBudget, settings.Batch); err != nil {
			return out, err
		}
		for _, t := range list.Tasks {
			out.HeldOutTasks = append(out.HeldOutTasks, t.Name)
		}
		for _, r := range out.HeldOut {
			held = append(held, r.Comparison())
		}
	}
	objective := s.Objective.String()
	if o.Scorer != nil {
		objective = "the score of " + o.Scorer.Module.Name
	}
	if b, err := json.MarshalIndent(out.Rows, "", "  "); err == nil {
		if err := atomicfile.Write(filepath.Join(o.Dir, RowsFile), append(b, '\n'), 0o644); err != nil {
			return out, err
		}
	}
	notes := s.ZeroReferenceNotes()
	for _, n := range notes {
		logf("note: %s", n)
	}
	if err := search.Report(o.Dir, search.ReportInput{Tasks: s.Tasks(), Objectives: ev.Tasks(), Objective: objective, Trials: trials, Rows: cmp,
		HeldOutTasks: out.HeldOutTasks, HeldOut: held, Notes: notes, Weights: spec.WeightsName()}); err != nil {
		return out, err
	}
	return out, nil
}

// RowsFile holds a finished run's result table (Rows as JSON) in its
// directory, for the app to show again.
const RowsFile = "rows.json"

// DefaultSettings are the search settings every entry point starts from
// (the CLI's flags, the server's search requests, the browser's form).
func DefaultSettings() search.Settings {
	return search.Settings{Optimizer: "bo", Trials: 60, MinBudget: 3, MaxBudget: 27, Eta: search.DefaultEta}
}

// starts are the search's first candidates: the pruning baselines'
// choices, so the search begins where they end — ShortGPT's removal and,
// removing one layer, every single drop of the base (the best-drop
// baseline's candidates), each once.
func (s *Session) starts(space *search.Space, n int, logf func(string, ...any)) []*search.Config {
	var out []*search.Config
	seen := map[string]bool{}
	add := func(removed []int) {
		c := space.Complete(ConfigOf(space.Layers, removed))
		if k := c.Key(); !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	if short, err := s.Prune(KindShortGPT, n); err == nil {
		add(short.Removed)
	} else {
		logf("ShortGPT first candidate skipped: %v", err)
	}
	if n == 1 {
		for l := 0; l < space.Layers; l++ {
			add([]int{l})
		}
	}
	return out
}
