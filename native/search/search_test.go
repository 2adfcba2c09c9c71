package search

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gptailor/gptailor/shared/plan"
)

func TestBracketsArithmetic(t *testing.T) {
	got := fmt.Sprint(Brackets(100, 1000, 3))
	want := "[[{9 111} {3 333} {1 1000}] [{5 333} {1 1000}] [{3 1000}]]"
	if got != want {
		t.Errorf("brackets %s, want %s", got, want)
	}
	if got := fmt.Sprint(Brackets(10, 10, 3)); got != "[[{1 10}]]" {
		t.Errorf("single fidelity: %s", got)
	}
}

func TestParEGOByHand(t *testing.T) {
	costs := [][]float64{{1, 10}, {3, 30}, {2, 20}}
	got := parEGO(costs, []float64{0.25, 0.75})
	// normalised: (0,0), (1,1), (0.5,0.5); max(θ·y) + 0.05·Σθ·y
	want := []float64{0, 0.75 + 0.05*1, 0.375 + 0.05*0.5}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("parEGO[%d] = %g, want %g", i, got[i], want[i])
		}
	}
}

func TestPromoteNonDominatedThenCrowding(t *testing.T) {
	costs := [][]float64{{1, 5}, {2, 2}, {5, 1}, {3, 3}, nil, {1.5, 4}}
	// front 0: {1,5}, {2,2}, {5,1}, {1.5,4}; crowding keeps the extremes first
	got := promote(costs, 2)
	if !reflect.DeepEqual(got, []int{0, 2}) {
		t.Errorf("promote %v", got)
	}
	if got := promote(costs, 6); got[len(got)-1] != 4 {
		t.Errorf("failed entry not last: %v", got)
	}
	if got := ParetoFront(costs); !reflect.DeepEqual(got, []int{0, 1, 2, 5}) {
		t.Errorf("front %v", got)
	}
}

// synthetic has a known optimum: remove layer 3, take the fine-tune on
// layers 0 and 4 only. Two tasks disagree on part of it (a trade-off).
type synthetic struct {
	space *Space
	mu    sync.Mutex
	calls int
}

func (s *synthetic) Tasks() []string { return []string{"a", "b"} }

func (s *synthetic) Evaluate(_ context.Context, c *Config, budget int) (Outcome, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	wantSub := []uint32{1, 0, 0, 0, 1}
	var miss float64
	for i := range c.Removed {
		if c.Removed[i] != (i == 3) {
			miss += 2
		}
		if !c.Removed[i] && c.Subset[i] != wantSub[i] {
			miss++
		}
	}
	noise := 0.0
	if budget < 1000 {
		noise = 0.01 * float64(len(c.Key())%3) // low fidelity is a little off
	}
	a, b := miss+noise, miss*1.5+noise
	ret := []float64{1 / (1 + a), 1 / (1 + b)}
	return Outcome{Costs: []float64{a, b}, Retention: ret, Objective: Mean(ret)}, nil
}

func optimum(trials []Trial) bool {
	for _, t := range trials {
		if t.Error == "" && t.Costs[0] == 0 {
			return true
		}
	}
	return false
}

func TestOptimizersFindTheOptimum(t *testing.T) {
	space := &Space{Layers: 5, Remove: 1, FineTunes: []string{"ft"}}
	for _, c := range []struct {
		opt    string
		trials int
	}{{"random", 400}, {"bo", 150}, {"bo-mean", 150}, {"bo-highest", 150}} {
		ev := &synthetic{space: space}
		trials, err := Search(context.Background(), space, ev, Settings{Optimizer: c.opt, Seed: 3, Trials: c.trials, MinBudget: 1000, MaxBudget: 1000}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !optimum(trials) {
			best, _ := Best(trials)
			t.Errorf("%s did not find the optimum in %d trials (best %s %v)", c.opt, c.trials, best.Key, best.Costs)
		}
		again, _ := Search(context.Background(), space, &synthetic{space: space}, Settings{Optimizer: c.opt, Seed: 3, Trials: c.trials, MinBudget: 1000, MaxBudget: 1000}, nil, nil, nil)
		for i := range trials {
			if trials[i].Key != again[i].Key {
				t.Fatalf("%s: trial %d differs between two runs with one seed", c.opt, i)
			}
		}
	}
}

func TestHyperbandScheduleInARun(t *testing.T) {
	space := &Space{Layers: 5, Remove: 1, FineTunes: []string{"ft"}}
	trials, err := Search(context.Background(), space, &synthetic{space: space}, Settings{Optimizer: "bo", Seed: 1, Trials: 22, MinBudget: 100, MaxBudget: 1000}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var budgets []int
	for _, tr := range trials {
		budgets = append(budgets, tr.Budget)
	}
	want := "[111 111 111 111 111 111 111 111 111 333 333 333 1000 333 333 333 333 333 1000 1000 1000 1000]"
	if fmt.Sprint(budgets) != want {
		t.Errorf("budgets %v\nwant    %s", budgets, want)
	}
	// The promoted configs are the best of their rung.
	rung0 := trials[:9]
	promoted := map[string]bool{}
	for _, tr := range trials[9:12] {
		promoted[tr.Key] = true
	}
	for _, tr := range rung0 {
		if !promoted[tr.Key] {
			for _, p := range trials[9:12] {
				if dominates(tr.Costs, rung0ByKey(rung0, p.Key).Costs) {
					t.Errorf("%s dominates promoted %s", tr.Key, p.Key)
				}
			}
		}
	}
}

func rung0ByKey(ts []Trial, k string) Trial {
	for _, t := range ts {
		if t.Key == k {
			return t
		}
	}
	return Trial{}
}

// Kill the run after every journal write (and mid-write): resuming gives
// the same trials, evaluating only the missing ones.
func TestResumeAtEveryWritePoint(t *testing.T) {
	space := &Space{Layers: 5, Remove: 1, FineTunes: []string{"ft"}}
	settings := Settings{Optimizer: "bo", Seed: 9, Trials: 25, MinBudget: 100, MaxBudget: 1000, WarmStart: true}
	dir := t.TempDir()
	path := filepath.Join(dir, "full.jsonl")
	j, _, err := OpenJournal(path, false)
	if err != nil {
		t.Fatal(err)
	}
	full, err := Search(context.Background(), space, &synthetic{space: space}, settings, j, nil, nil)
	j.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	var ends []int
	for i, b := range raw {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) != 25 {
		t.Fatalf("%d journal lines", len(ends))
	}
	for k := 0; k <= 25; k++ {
		cut := 0
		if k > 0 {
			cut = ends[k-1]
		}
		content := append([]byte(nil), raw[:cut]...)
		if k < 25 {
			content = append(content, raw[cut:cut+(ends[k]-cut)/2]...) // a torn line
		}
		p := filepath.Join(dir, fmt.Sprintf("crash%d.jsonl", k))
		os.WriteFile(p, content, 0o644)
		j, replay, err := OpenJournal(p, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(replay) != k {
			t.Fatalf("crash after %d: %d trials recovered", k, len(replay))
		}
		ev := &synthetic{space: space}
		got, err := Search(context.Background(), space, ev, settings, j, replay, nil)
		j.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ev.calls != 25-k || len(got) != 25 {
			t.Fatalf("crash after %d: %d evaluations, %d trials", k, ev.calls, len(got))
		}
		for i := range got {
			if got[i].Key != full[i].Key || got[i].Budget != full[i].Budget || !reflect.DeepEqual(got[i].Costs, full[i].Costs) {
				t.Fatalf("crash after %d: trial %d differs", k, i)
			}
		}
		jr, back, _ := OpenJournal(p, false)
		jr.Close()
		if len(back) != 25 {
			t.Fatalf("crash after %d: the resumed journal holds %d trials", k, len(back))
		}
		for i := range back {
			if back[i].Key != full[i].Key || back[i].Index != i {
				t.Fatalf("crash after %d: journal line %d differs", k, i)
			}
		}
	}
	// Other settings cannot silently continue a journal.
	j2, replay, _ := OpenJournal(path, false)
	defer j2.Close()
	other := settings
	other.Seed = 10
	if _, err := Search(context.Background(), space, &synthetic{space: space}, other, j2, replay, nil); err == nil {
		t.Error("a journal from another seed was accepted")
	}
}

func TestImpossibleTargets(t *testing.T) {
	for _, s := range []*Space{{Layers: 5, Remove: 5}, {Layers: 5, Remove: -1}, {Layers: 0}} {
		if _, err := Search(context.Background(), s, &synthetic{}, Settings{Optimizer: "random", MinBudget: 1, MaxBudget: 1, Trials: 1}, nil, nil, nil); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
	ok := &Space{Layers: 5, Remove: 1}
	if _, err := Search(context.Background(), ok, &synthetic{}, Settings{Optimizer: "annealing", MinBudget: 1, MaxBudget: 1}, nil, nil, nil); err == nil {
		t.Error("unknown optimizer accepted")
	}
	if _, err := Search(context.Background(), ok, &synthetic{}, Settings{Optimizer: "bo", MinBudget: 10, MaxBudget: 5}, nil, nil, nil); err == nil {
		t.Error("min budget above max accepted")
	}
}

func TestWarmStartDesign(t *testing.T) {
	s := &Space{Layers: 8, Remove: 2, FineTunes: []string{"a", "b", "c"}}
	ws := s.WarmStart()
	// three heuristics × (all-base + 3 single fine-tunes + 6 λ × 4 multi-subsets) = 84 distinct
	if len(ws) != 84 {
		t.Errorf("%d warm-start configs", len(ws))
	}
	if !ws[0].Removed[6] || !ws[0].Removed[5] { // higher layers first, keeping the last
		t.Errorf("first heuristic removes %v", ws[0].Removed)
	}
}

// The opt-in extensions produce valid plans with the searched methods and
// weights, and their genes move under local search.
func TestExtendedSpace(t *testing.T) {
	s := &Space{Layers: 6, Remove: 2, FineTunes: []string{"a", "b", "c"}, Methods: []string{"task_arithmetic", "ties", "linear", "slerp"}, Weights: true}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	seen := map[string]bool{}
	for i := 0; i < 300; i++ {
		c := s.Random(r)
		if i%2 == 1 {
			c = s.Neighbor(c, r)
		}
		p, err := s.Plan(c, nil)
		if err != nil {
			t.Fatalf("config %s: %v", c.Key(), err)
		}
		if len(p.Slots) != 4 || len(s.Features(c)) != 6*(2+3+4+3) {
			t.Fatalf("%d slots, %d features", len(p.Slots), len(s.Features(c)))
		}
		for _, sl := range p.Slots {
			if sl.Merge != nil {
				seen[sl.Merge.Method] = true
			}
		}
	}
	for _, m := range s.Methods {
		if !seen[m] {
			t.Errorf("method %s never used", m)
		}
	}
	for _, c := range s.WarmStart() {
		if _, err := s.Plan(c, nil); err != nil {
			t.Fatalf("warm start: %v", err)
		}
		// A neighbour is one move away: a valid plan removing as many
		// layers, and (over a few draws) not always the point itself.
		moved := false
		for k := 0; k < 8; k++ {
			n := s.Neighbor(c, r)
			if _, err := s.Plan(n, nil); err != nil {
				t.Fatalf("neighbour of a warm start: %v", err)
			}
			if got := countTrue(n.Removed); got != s.Remove {
				t.Fatalf("neighbour removes %d layers, want %d", got, s.Remove)
			}
			moved = moved || n.Key() != c.Key()
		}
		if !moved {
			t.Errorf("8 neighbours of %s are all the point itself", c.Key())
		}
	}
	if err := (&Space{Layers: 5, Remove: 1, FineTunes: []string{"a"}, Methods: []string{"dare_ties"}}).Validate(); err == nil {
		t.Error("an unsearchable method was accepted")
	}
}

func countTrue(v []bool) int {
	n := 0
	for _, x := range v {
		if x {
			n++
		}
	}
	return n
}

// slowSynthetic is synthetic with a delay that shuffles the order in which
// concurrent evaluations finish, and counts how many run at once.
type slowSynthetic struct {
	synthetic
	inFlight, peak atomic.Int32
}

func (s *slowSynthetic) Evaluate(ctx context.Context, c *Config, budget int) (Outcome, error) {
	n := s.inFlight.Add(1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer s.inFlight.Add(-1)
	time.Sleep(time.Duration(len(c.Key())%7) * time.Millisecond)
	return s.synthetic.Evaluate(ctx, c, budget)
}

// The journal depends on the seed and the batch only: two runs with the
// same batch journal the same trials (configurations, budgets,
// objectives, in order) however their evaluations interleave, B = 1 is
// the sequential Hyperband, and B > 1 really keeps up to B evaluations in
// flight — overlapping brackets, so waves stay full.
func TestBatchJournalDependsOnSeedAndBatch(t *testing.T) {
	space := &Space{Layers: 5, Remove: 1, FineTunes: []string{"ft"}}
	journal := func(b int, opt string) ([]Trial, int32) {
		ev := &slowSynthetic{synthetic: synthetic{space: space}}
		trials, err := Search(context.Background(), space, ev, Settings{Optimizer: opt, Seed: 7, Trials: 40, MinBudget: 1, MaxBudget: 9, Batch: b}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(trials) != 40 {
			t.Fatalf("B=%d: %d trials", b, len(trials))
		}
		return trials, ev.peak.Load()
	}
	same := func(a, b []Trial) bool {
		for i := range a {
			if a[i].Index != b[i].Index || a[i].Key != b[i].Key || a[i].Budget != b[i].Budget || a[i].Objective != b[i].Objective {
				return false
			}
		}
		return true
	}
	for _, opt := range []string{"bo", "random"} {
		seq, _ := journal(1, opt)
		for _, b := range []int{1, 2, 4, 8} {
			first, peak := journal(b, opt)
			second, _ := journal(b, opt)
			if !same(first, second) {
				t.Errorf("%s B=%d: two runs journaled different trials", opt, b)
			}
			if b == 1 && !same(first, seq) {
				t.Errorf("%s B=1 differs from itself", opt)
			}
			if b > 1 && peak != int32(b) {
				t.Errorf("%s B=%d: at most %d evaluations at once", opt, b, peak)
			}
		}
	}
}

// With batch 1 the waves are exactly the sequential Hyperband: every
// bracket's rungs in order, each rung's candidates in key order, the
// promoted ones the best of their rung.
func TestBatchOneIsSequentialHyperband(t *testing.T) {
	space := &Space{Layers: 5, Remove: 1, FineTunes: []string{"ft"}}
	ev := &synthetic{space: space}
	trials, err := Search(context.Background(), space, ev, Settings{Optimizer: "random", Seed: 3, Trials: 26, MinBudget: 1, MaxBudget: 9, Batch: 1}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Brackets(1, 9, 3): 9@1 → 3@3 → 1@9, 5@3 → 1@9, 3@9: 13 + 6 + 3 = 22 trials, then the first again.
	want := []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 9, 3, 3, 3, 3, 3, 9, 9, 9, 9, 1, 1, 1, 1}
	for i, tr := range trials {
		if tr.Budget != want[i] {
			t.Fatalf("trial %d at budget %d, want %d (schedule %v)", i, tr.Budget, want[i], budgets(trials))
		}
		if i > 0 && trials[i-1].Rung == tr.Rung && trials[i-1].Bracket == tr.Bracket && trials[i-1].Key > tr.Key {
			t.Errorf("trials %d and %d of one rung are not in key order", i-1, i)
		}
	}
}

func budgets(ts []Trial) []int {
	var out []int
	for _, t := range ts {
		out = append(out, t.Budget)
	}
	return out
}

// The ablation spaces hold only what they say: over random configs, their
// neighbours and the warm start, removal plans take every kept layer from
// the base, selection plans take each kept layer whole from one model (no
// merge, and every model appears), and the full space merges.
func TestSpaceKindsContainOnlyWhatTheySay(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, kind := range SpaceKinds {
		s := &Space{Layers: 6, Remove: 2, FineTunes: []string{"a", "b", "c"}, Kind: kind}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		models, merges := map[string]bool{}, 0
		check := func(c *Config) {
			if got := countTrue(c.Removed); got != 2 {
				t.Fatalf("%s: %d layers removed", kind, got)
			}
			p, err := s.Plan(c, nil)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			for _, sl := range p.Slots {
				if sl.Merge != nil {
					merges++
					continue
				}
				models[sl.Take.Model] = true
				if kind == "removal" && sl.Take.Model != plan.BaseAlias {
					t.Fatalf("removal space takes a layer from %s", sl.Take.Model)
				}
			}
		}
		for i := 0; i < 300; i++ {
			c := s.Random(r)
			check(c)
			for k := 0; k < 5; k++ {
				c = s.Neighbor(c, r)
				check(c)
			}
		}
		for _, c := range s.WarmStart() {
			check(c)
		}
		switch kind {
		case "removal":
			if merges > 0 || len(models) != 1 {
				t.Errorf("removal: %d merges, models %v", merges, models)
			}
		case "selection":
			if merges > 0 || len(models) != 4 {
				t.Errorf("selection: %d merges, models %v (want all four, no merge)", merges, models)
			}
		case "full":
			if merges == 0 {
				t.Error("the full space never merged")
			}
		}
	}
	if err := (&Space{Layers: 6, Remove: 1, FineTunes: []string{"a"}, Kind: "pruning"}).Validate(); err == nil {
		t.Error("an unknown space kind was accepted")
	}
	if err := (&Space{Layers: 6, Remove: 1, FineTunes: []string{"a"}, Kind: "removal", Weights: true}).Validate(); err == nil {
		t.Error("weights in the removal space were accepted")
	}
}

// The health check on hand-made trials: budgets 1 and 3 rank four configs
// the same way (Spearman 1, Kendall 1), budgets 3 and 9 the opposite way
// on three (−1, −1); pairs with fewer than 3 common configs give NaN.
func TestRankCorrelations(t *testing.T) {
	tr := func(key string, budget int, obj float64) Trial {
		return Trial{Key: key, Budget: budget, Objective: obj}
	}
	trials := []Trial{
		tr("a", 1, 0.1), tr("b", 1, 0.2), tr("c", 1, 0.3), tr("d", 1, 0.4),
		tr("a", 3, 0.5), tr("b", 3, 0.6), tr("c", 3, 0.7), tr("d", 3, 0.9),
		tr("b", 9, 0.9), tr("c", 9, 0.8), tr("d", 9, 0.7),
		{Key: "a", Budget: 9, Error: "failed", Objective: math.NaN()},
	}
	got := RankCorrelations(trials)
	if len(got) != 3 {
		t.Fatalf("%d pairs", len(got))
	}
	want := []BudgetCorrelation{{1, 3, 4, 1, 1}, {1, 9, 3, -1, -1}, {3, 9, 3, -1, -1}}
	for i, w := range want {
		g := got[i]
		if g.Low != w.Low || g.High != w.High || g.N != w.N || math.Abs(g.Spearman-w.Spearman) > 1e-12 || math.Abs(g.Kendall-w.Kendall) > 1e-12 {
			t.Errorf("pair %d: %+v, want %+v", i, g, w)
		}
	}
	if r := Ranks([]float64{3, 1, 3, 2}); !reflect.DeepEqual(r, []float64{2.5, 0, 2.5, 1}) {
		t.Errorf("ranks with ties %v", r)
	}
	if c := RankCorrelations(trials[:6]); !math.IsNaN(c[0].Spearman) || c[0].N != 2 {
		t.Errorf("two common configs: %+v", c[0])
	}
}
