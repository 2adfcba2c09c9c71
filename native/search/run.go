package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrEvaluatorGone, wrapped in an evaluator's error, says the evaluation
// machinery is gone (no worker left), not that the candidate failed: the
// search stops without journaling the trial, so a resume evaluates it.
var ErrEvaluatorGone = errors.New("no evaluator is left")

// Evaluator scores one configuration at a budget (samples per task).
type Evaluator interface {
	// Tasks names the objectives, in cost order.
	Tasks() []string
	// Evaluate returns one cost per task (lower is better), the retention
	// per task (higher is better) for reports, and the objective Best
	// maximises. With Settings.Batch > 1 it is called concurrently.
	Evaluate(ctx context.Context, c *Config, budget int) (Outcome, error)
}

// Outcome is an evaluation's result.
type Outcome struct {
	Costs     []float64
	Retention []float64
	Objective float64
}

type trialKey struct{}

// TrialOf is the index of the trial an Evaluate call serves (-1 outside a
// search), for progress displays and workers' status.
func TrialOf(ctx context.Context) int {
	if i, ok := ctx.Value(trialKey{}).(int); ok {
		return i
	}
	return -1
}

// Settings configure a search.
type Settings struct {
	Optimizer string        `json:"optimizer"` // random or bo
	Seed      uint64        `json:"seed"`
	Trials    int           `json:"trials"`       // evaluations (config × budget); 0: no limit
	Duration  time.Duration `json:"duration"`     // wall time; 0: no limit
	MinBudget int           `json:"min_budget"`   // samples per task at the lowest fidelity
	MaxBudget int           `json:"max_budget"`   // samples per task at full fidelity
	Eta       float64       `json:"eta"`          // Hyperband's η (0: DefaultEta)
	WarmStart bool          `json:"warm_start"`   // the reference's initial design first
	Extra     []*Config     `json:"extra_starts"` // more starting points (baselines)
	// Batch is how many trials are evaluated at once (0 or 1: one at a
	// time): waves of Batch trials from the open brackets, later brackets
	// opened early to fill them. The journal depends on the seed and the
	// batch, never on timing or on who evaluated what; Batch 1 is the
	// sequential Hyperband.
	Batch int `json:"batch,omitempty"`
}

// Trial is one journaled evaluation.
type Trial struct {
	Index     int       `json:"index"`
	Bracket   int       `json:"bracket"`
	Rung      int       `json:"rung"`
	Budget    int       `json:"budget"`
	Key       string    `json:"key"`
	Config    *Config   `json:"config"`
	Costs     []float64 `json:"costs,omitempty"`
	Retention []float64 `json:"retention,omitempty"`
	Objective float64   `json:"objective"` // mean retention over tasks (NaN when failed: written as null)
	Seconds   float64   `json:"seconds"`
	Error     string    `json:"error,omitempty"`
}

// MarshalJSON writes every number the journal holds finite or null: a
// failed trial's objective, and any cost or retention that is NaN or ±Inf
// (json.Marshal refuses them, which would stop the search at that trial).
func (t Trial) MarshalJSON() ([]byte, error) {
	type plain Trial
	return json.Marshal(struct {
		plain
		Costs     []*float64 `json:"costs,omitempty"`
		Retention []*float64 `json:"retention,omitempty"`
		Objective *float64   `json:"objective"`
	}{plain(t), nullable(t.Costs), nullable(t.Retention), finiteOrNil(t.Objective)})
}

// UnmarshalJSON reads null as NaN.
func (t *Trial) UnmarshalJSON(b []byte) error {
	type plain Trial
	var aux struct {
		plain
		Costs     []*float64 `json:"costs,omitempty"`
		Retention []*float64 `json:"retention,omitempty"`
		Objective *float64   `json:"objective"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*t = Trial(aux.plain)
	t.Costs, t.Retention = fromNullable(aux.Costs), fromNullable(aux.Retention)
	t.Objective = math.NaN()
	if aux.Objective != nil {
		t.Objective = *aux.Objective
	}
	return nil
}

// DefaultEta is Hyperband's η when Settings.Eta is 0.
const DefaultEta = 3

// Validate checks settings before any work, naming the setting.
func (s Settings) Validate() error {
	var errs []error
	if _, ok := Optimizers[s.Optimizer]; !ok {
		errs = append(errs, fmt.Errorf("optimizer %q: not one of %s", s.Optimizer, strings.Join(OptimizerNames(), ", ")))
	}
	if s.Trials < 0 {
		errs = append(errs, fmt.Errorf("trials %d: must be 0 (no limit) or more", s.Trials))
	}
	if s.Duration < 0 {
		errs = append(errs, fmt.Errorf("time %v: must be 0 (no limit) or more", s.Duration))
	}
	if s.MinBudget < 1 {
		errs = append(errs, fmt.Errorf("min budget %d: must be at least 1 sample per task", s.MinBudget))
	}
	if s.MaxBudget < s.MinBudget {
		errs = append(errs, fmt.Errorf("max budget %d: must be at least the min budget %d", s.MaxBudget, s.MinBudget))
	}
	if s.Batch < 0 {
		errs = append(errs, fmt.Errorf("batch %d: must be 0 or more trials in flight", s.Batch))
	}
	if err := checkEta(s.Eta); err != nil {
		errs = append(errs, err)
	} else if err := checkSchedule(s.MinBudget, s.MaxBudget, s.Eta); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// OptimizerNames lists the optimizers, sorted.
func OptimizerNames() []string {
	names := make([]string, 0, len(Optimizers))
	for n := range Optimizers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Search runs (or resumes) a search. Replayed trials come from the journal
// and are checked to be the ones this seed and these settings propose, so
// a resumed run neither repeats nor skips a trial. onTrial sees every
// trial, replayed ones included.
func Search(ctx context.Context, space *Space, ev Evaluator, s Settings, journal *Journal, replay []Trial, onTrial func(Trial)) ([]Trial, error) {
	if err := space.Validate(); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Eta == 0 {
		s.Eta = DefaultEta
	}
	opt := Optimizers[s.Optimizer](space)
	r := rand.New(rand.NewPCG(s.Seed, 0x5eed))
	brackets := Brackets(s.MinBudget, s.MaxBudget, s.Eta)
	var starts []*Config
	starts = append(starts, s.Extra...)
	if s.WarmStart {
		starts = append(starts, space.WarmStart()...)
	}
	var trials []Trial
	var history []Observation
	seen := map[int]map[string]bool{}
	start := time.Now()
	done := func() bool {
		return (s.Trials > 0 && len(trials) >= s.Trials) || (s.Duration > 0 && time.Since(start) > s.Duration) || ctx.Err() != nil
	}
	// run evaluates one trial (or takes it from the journal); it is safe
	// to call concurrently for the trials of one rung.
	run := func(t Trial) (Trial, error) {
		if t.Index < len(replay) {
			old := replay[t.Index]
			if old.Key != t.Key || old.Budget != t.Budget {
				return t, fmt.Errorf("journal trial %d is %s@%d but this search proposes %s@%d: the run was started with other settings or seed", t.Index, old.Key, old.Budget, t.Key, t.Budget)
			}
			return old, nil
		}
		t0 := time.Now()
		o, err := ev.Evaluate(context.WithValue(ctx, trialKey{}, t.Index), t.Config, t.Budget)
		t.Seconds = time.Since(t0).Seconds()
		if err != nil {
			if ctx.Err() != nil {
				return t, ctx.Err()
			}
			if errors.Is(err, ErrEvaluatorGone) { // not the candidate's fault: stop, journal nothing
				return t, err
			}
			t.Error, t.Objective = err.Error(), math.NaN()
		} else if msg := nonFinite(o); msg != "" { // a trial, not the search, fails on it
			t.Error, t.Objective, t.Retention = msg, math.NaN(), o.Retention
		} else {
			t.Costs, t.Retention, t.Objective = o.Costs, o.Retention, o.Objective
		}
		return t, nil
	}
	batch := max(s.Batch, 1)
	record := func(t Trial) {
		trials = append(trials, t)
		history = append(history, Observation{Config: t.Config, Budget: t.Budget, Costs: t.Costs, Failed: t.Error != ""})
		if seen[t.Budget] == nil {
			seen[t.Budget] = map[string]bool{}
		}
		seen[t.Budget][t.Key] = true
		if onTrial != nil {
			onTrial(t)
		}
	}
	// Brackets are worked through in waves of up to batch trials. A wave
	// takes the next candidates of the open brackets' current rungs, in the
	// order the brackets were opened; when they have none left it opens the
	// next bracket (its candidates asked with the history so far), so with
	// batch > 1 a bracket's later rungs overlap the next brackets' first
	// ones instead of leaving workers idle. A wave's trials are journaled in
	// wave order: the journal depends on the seed and the batch, never on
	// timing; with batch 1 it is the sequential Hyperband's.
	type open struct {
		b, ri int
		cands []*Config
		costs [][]float64
		next  int // the next candidate to hand out
		done  int // candidates evaluated
	}
	var active []*open
	nextBracket := 0
	startRung := func(o *open) {
		// Evaluate in key order so that consecutive candidates share their
		// first slots, and with them the prefix cache.
		sort.SliceStable(o.cands, func(a, b int) bool { return o.cands[a].Key() < o.cands[b].Key() })
		o.costs, o.next, o.done = make([][]float64, len(o.cands)), 0, 0
	}
	openBracket := func() *open {
		b := nextBracket
		nextBracket = (nextBracket + 1) % len(brackets)
		br := brackets[b]
		avoid := map[string]bool{}
		for k := range seen[br[0].Budget] {
			avoid[k] = true
		}
		for _, o := range active { // candidates handed out or waiting at that budget
			if brackets[o.b][o.ri].Budget == br[0].Budget {
				for _, c := range o.cands {
					avoid[c.Key()] = true
				}
			}
		}
		var cands []*Config
		for len(cands) < br[0].N {
			if len(starts) > 0 {
				cands = append(cands, starts[0])
				starts = starts[1:]
			} else {
				cands = append(cands, opt.Ask(r, history, avoid))
			}
			avoid[cands[len(cands)-1].Key()] = true
		}
		o := &open{b: b, cands: cands}
		startRung(o)
		return o
	}
	type item struct {
		o *open
		i int
	}
	for !done() {
		room := batch
		if s.Trials > 0 {
			room = min(room, s.Trials-len(trials))
		}
		var wave []item
		for len(wave) < room {
			var pick *open
			for _, o := range active {
				if o.next < len(o.cands) {
					pick = o
					break
				}
			}
			if pick == nil {
				pick = openBracket()
				active = append(active, pick)
				if len(pick.cands) == 0 {
					continue
				}
			}
			wave = append(wave, item{pick, pick.next})
			pick.next++
		}
		out := make([]Trial, len(wave))
		errs := make([]error, len(wave))
		var wg sync.WaitGroup
		for k, it := range wave {
			o := it.o
			t := Trial{Index: len(trials) + k, Bracket: o.b, Rung: o.ri, Budget: brackets[o.b][o.ri].Budget, Key: o.cands[it.i].Key(), Config: o.cands[it.i]}
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[k], errs[k] = run(t)
			}()
		}
		wg.Wait()
		for k, it := range wave {
			if errs[k] != nil {
				return trials, errs[k]
			}
			if journal != nil && out[k].Index >= len(replay) {
				if err := journal.Append(out[k]); err != nil {
					return trials, err
				}
			}
			record(out[k])
			it.o.costs[it.i] = out[k].Costs
			it.o.done++
		}
		// Rungs whose candidates are all evaluated promote the best to the
		// next rung; finished brackets close.
		kept := active[:0]
		for _, o := range active {
			rungs := brackets[o.b]
			for o.done == len(o.cands) && o.ri+1 < len(rungs) && len(o.cands) > 0 {
				keep := promote(o.costs, rungs[o.ri+1].N)
				next := make([]*Config, 0, len(keep))
				for _, i := range keep {
					next = append(next, o.cands[i])
				}
				o.cands, o.ri = next, o.ri+1
				startRung(o)
			}
			if o.done < len(o.cands) {
				kept = append(kept, o)
			}
		}
		active = kept
	}
	return trials, nil
}

// Mean is the mean of v (a trial's objective: its mean retention).
func Mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

// Best is the trial with the highest objective at the largest budget that
// has a finished trial.
func Best(trials []Trial) (Trial, bool) {
	var l Leader
	for _, t := range trials {
		l.Add(t)
	}
	return l.Best()
}

// RunDir is where a run keeps its files.
func RunDir(dir string) (journal, config string) {
	return filepath.Join(dir, "trials.jsonl"), filepath.Join(dir, "search.json")
}
