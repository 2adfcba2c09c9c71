package session

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/prune"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/shared/plan"
)

// Baseline kinds: what a comparison row is, as data.
const (
	KindShortGPT = "shortgpt"  // ShortGPT's block-influence removal
	KindLaCo     = "laco"      // LaCo's layer collapse
	KindBestDrop = "best-drop" // the base with its best single layer dropped
	KindDense    = "dense"     // a whole member of the family
	KindPareto   = "pareto"    // a plan of the search's Pareto set (held-out report)
	// KindBlockPruner is BlockPruner's greedy sub-block removal.
	KindBlockPruner = "blockpruner"
)

// Row is a report row: the search's winner or a baseline.
type Row struct {
	Kind    string `json:"kind"`
	Model   string `json:"model,omitempty"`   // dense: the member
	Removed []int  `json:"removed,omitempty"` // the layers a baseline takes out
	// RemovedAttn and RemovedMLP are the sub-blocks BlockPruner takes out.
	RemovedAttn []int      `json:"removed_attn,omitempty"`
	RemovedMLP  []int      `json:"removed_mlp,omitempty"`
	Trial       int        `json:"trial,omitempty"` // search: the winning trial
	Plan        *plan.Plan `json:"plan,omitempty"`  // nil for dense rows
	Retention   []float64  `json:"retention"`
	Objective   float64    `json:"objective"`
	// CI are the per-task 95 % bootstrap intervals of Retention.
	CI []Interval `json:"ci,omitempty"`
}

// Name is the row's display name ("+ repair" when its plan is repaired).
func (r Row) Name() string {
	if r.Plan != nil && r.Plan.Repair != nil {
		return r.name() + " + repair"
	}
	return r.name()
}

func (r Row) name() string {
	switch r.Kind {
	case KindBlockPruner:
		return fmt.Sprintf("BlockPruner (drops attn %v, mlp %v)", r.RemovedAttn, r.RemovedMLP)
	case search.KindSearch:
		return fmt.Sprintf("search best (trial %d)", r.Trial)
	case KindShortGPT:
		return fmt.Sprintf("ShortGPT (drops %v)", r.Removed)
	case KindLaCo:
		return fmt.Sprintf("LaCo (collapses %v)", r.Removed)
	case KindBestDrop:
		return fmt.Sprintf("base, best single drop (layer %v)", r.Removed[0])
	case KindDense:
		return fmt.Sprintf("dense %s (no layer removed)", r.Model)
	case KindPareto:
		return fmt.Sprintf("Pareto set (trial %d)", r.Trial)
	}
	return r.Kind
}

// Target is what the row evaluates.
func (r Row) Target() Target {
	if r.Kind == KindDense {
		return Target{Model: r.Model}
	}
	return Target{Plan: r.Plan}
}

// Comparison is the row as the search report takes it.
func (r Row) Comparison() search.Comparison {
	c := search.Comparison{Kind: r.Kind, Name: r.Name(), Plan: r.Plan, Retention: r.Retention, Objective: r.Objective}
	for _, iv := range r.CI {
		c.CI = append(c.CI, [2]float64{iv.Lo, iv.Hi})
	}
	return c
}

// Calibration is text for the pruning baselines: up to 8 windows of up to
// 128 tokens from the first task's file (nil when it holds no text).
func (s *Session) Calibration() [][]int {
	s.calibOnce.Do(func() { s.calib = s.readCalibration() })
	return s.calib
}

func (s *Session) readCalibration() [][]int {
	if len(s.Specs) == 0 {
		return nil
	}
	docs, err := corpus.Read(s.Specs[0].Path)
	if err != nil {
		return nil
	}
	var streams [][]int
	for _, d := range docs[:min(len(docs), 64)] {
		streams = append(streams, s.Family.Tok.Encode(d.Text, true))
	}
	seq := 128
	if mp := s.Family.Base().Config.MaxPositionEmbeddings; mp > 0 {
		seq = min(seq, mp)
	}
	w, err := corpus.Windows(streams, seq)
	if err != nil {
		return nil
	}
	return w[:min(8, len(w))]
}

// Prune is a baseline row (KindShortGPT or KindLaCo) removing n layers of
// the base, chosen on the calibration text (once per kind and n: the
// search's first candidates and its baselines share it); not yet
// evaluated.
func (s *Session) Prune(kind string, n int) (Row, error) {
	key := fmt.Sprintf("%s/%d", kind, n)
	if s.Repair != nil {
		rj, _ := json.Marshal(s.Repair)
		key += "/" + string(rj)
	}
	s.mu.Lock()
	r, ok := s.pruned[key]
	s.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := s.prune(kind, n)
	if err != nil {
		return Row{}, err
	}
	s.mu.Lock()
	if s.pruned == nil {
		s.pruned = map[string]Row{}
	}
	s.pruned[key] = r
	s.mu.Unlock()
	return r, nil
}

func (s *Session) prune(kind string, n int) (Row, error) {
	calib := s.Calibration()
	if len(calib) == 0 {
		return Row{}, fmt.Errorf("%s: the first task's file gives no calibration text", kind)
	}
	r, p, err := prune.Baseline(kind, s.Family.Builder, s.Family.Dirs, plan.BaseAlias, calib, n, prune.DefaultLaCo())
	if err != nil {
		return Row{}, err
	}
	p.Name = kind
	p = WithRepair(p, s.Repair, s.Family.Base().Config.NumHiddenLayers)
	return Row{Kind: kind, Removed: r.Removed, RemovedAttn: r.RemovedAttn, RemovedMLP: r.RemovedMLP, Plan: p}, nil
}

// Baselines are the rows a search is compared with, evaluated at budget
// with up to batch evaluations in flight: ShortGPT and LaCo removing n
// layers, the best single drop of the base when n is 1 (every drop is
// evaluated), and every member of the family whole. A baseline that cannot
// be built (e.g. no calibration text) is left out with the reason in skipped.
func (s *Session) Baselines(ctx context.Context, n, budget, batch int) (rows []Row, skipped []string, err error) {
	kinds := []string{KindShortGPT, KindLaCo}
	if s.Blocks {
		kinds = append(kinds, KindBlockPruner)
	}
	for _, k := range kinds {
		r, err := s.Prune(k, n)
		if err != nil {
			skipped = append(skipped, err.Error())
			continue
		}
		rows = append(rows, r)
	}
	if n == 1 {
		L := s.Family.Base().Config.NumHiddenLayers
		drops := make([]Row, L)
		for l := range drops {
			drops[l] = Row{Kind: KindBestDrop, Removed: []int{l}, Plan: WithRepair(prune.Plan(s.Family.Dirs, L, []int{l}, fmt.Sprintf("drop-%d", l)), s.Repair, L)}
		}
		if err := s.ScoreRows(ctx, drops, budget, batch); err != nil {
			return nil, skipped, err
		}
		best := 0
		for l := range drops {
			if drops[l].Objective > drops[best].Objective {
				best = l
			}
		}
		rows = append(rows, drops[best])
	}
	for _, m := range s.Family.Models {
		rows = append(rows, Row{Kind: KindDense, Model: m.Name})
	}
	return rows, skipped, s.ScoreRows(ctx, rows, budget, batch)
}

// ScoreRows evaluates the rows not yet evaluated, up to batch at once.
func (s *Session) ScoreRows(ctx context.Context, rows []Row, budget, batch int) error {
	sem := make(chan struct{}, max(batch, 1))
	errs := make([]error, len(rows))
	var wg sync.WaitGroup
	for i := range rows {
		if rows[i].Retention != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ev, err := s.Evaluate(ctx, rows[i].Target(), budget, -1)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", rows[i].Name(), err)
				return
			}
			rows[i].Retention, rows[i].Objective = ev.Retention, ev.Objective
			rows[i].CI = Bootstrap(ev.Results, ev.Reference, BootstrapRounds, 1)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ConfigOf is a removal-only search configuration (every kept layer from
// the base) for a baseline's removed layers: a warm start for the search.
func ConfigOf(layers int, removed []int) *search.Config {
	c := &search.Config{Removed: make([]bool, layers), Subset: make([]uint32, layers), Lambda: make([]float64, layers)}
	for _, i := range removed {
		c.Removed[i] = true
	}
	return c
}
