package session

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/scorer"
	"github.com/gptailor/gptailor/native/search"
	"github.com/gptailor/gptailor/native/task"
)

// traceFamily is the stories family, or the synthetic family written by
// `go run ./native/cmd/synthfamily -o DIR` when GPTAILOR_TRACE_FAMILY=DIR
// (its base needs a tokenizer.json: copy the stories one).
func traceFamily() []model.Member {
	if d := os.Getenv("GPTAILOR_TRACE_FAMILY"); d != "" {
		return []model.Member{{Alias: "base", Dir: filepath.Join(d, "base")}, {Alias: "ft1", Dir: filepath.Join(d, "ft1")}, {Alias: "ft2", Dir: filepath.Join(d, "ft2")}}
	}
	data := filepath.Join("..", "..", "testdata")
	var ms []model.Member
	for _, a := range []string{"base", "code", "docs", "math"} {
		ms = append(ms, model.Member{Alias: a, Dir: filepath.Join(data, "stories260K-"+a)})
	}
	return ms
}

func storiesEvaluator(tb testing.TB, merged int64, prefix bool) *Evaluator {
	tb.Helper()
	data := filepath.Join("..", "..", "testdata")
	o := FamilyOptions{CacheBytes: merged}
	if merged == 0 {
		o.CacheBytes = 1 // caches off: nothing kept beyond the layers in use
	}
	if prefix {
		mb := int64(1024)
		if v, err := strconv.Atoi(os.Getenv("GPTAILOR_TRACE_PREFIX_MB")); err == nil && v > 0 {
			mb = int64(v)
		}
		o.PrefixBytes = mb << 20
	}
	f, err := OpenFamily(traceFamily(), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	list, err := task.ReadList(filepath.Join(data, "demo-tasks.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	L := f.Base().Config.NumHiddenLayers
	space := &search.Space{Layers: L, Remove: max(1, L/5), FineTunes: f.Names()[1:]}
	return &Evaluator{S: New(f, list.Tasks), Space: space}
}

// The search on the real demo family finds a plan that beats ShortGPT-style
// single drops (the base with one layer removed) on mean retention.
func TestRealSearchBeatsSingleDrops(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30-trial search")
	}
	ev := storiesEvaluator(t, 1<<30, true)
	trials, err := search.Search(context.Background(), ev.Space, ev, search.Settings{Optimizer: "bo", Seed: 1, Trials: 30, MinBudget: 3, MaxBudget: 9}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	best, ok := search.Best(trials)
	if !ok {
		t.Fatal("no trial finished")
	}
	for l := 0; l < 5; l++ {
		c := &search.Config{Removed: make([]bool, 5), Subset: make([]uint32, 5), Lambda: make([]float64, 5)}
		c.Removed[l] = true
		o, err := ev.Evaluate(context.Background(), c, 9)
		if err != nil {
			t.Fatal(err)
		}
		if o.Objective >= best.Objective {
			t.Errorf("dropping layer %d of the base (%.3f) beats the search's best (%.3f)", l, o.Objective, best.Objective)
		}
	}
}

// A realistic trace (the trials of a BO search with Hyperband on the demo
// family, the demo's budgets) replayed with the merged-layer and prefix
// caches off and on. GPTAILOR_TRACE_TRIALS sets its length (default 300;
// 16 on the 135M-shaped family, at budgets 1 → 3), GPTAILOR_TRACE_PREFIX_MB
// the prefix cache's memory (default 1024). ideal-prefix-x is the most any
// prefix cache could save on that trace (prefixBound).
func BenchmarkSearchTrace(b *testing.B) {
	gen := storiesEvaluator(b, 1<<30, true)
	n, lo, hi := 300, 3, 27
	if os.Getenv("GPTAILOR_TRACE_FAMILY") != "" {
		n, lo, hi = 16, 1, 3 // 135M-shaped: a shorter trace at smaller budgets
	}
	if v, err := strconv.Atoi(os.Getenv("GPTAILOR_TRACE_TRIALS")); err == nil && v > 0 {
		n = v
	}
	trace, err := search.Search(context.Background(), gen.Space, gen, search.Settings{Optimizer: "bo", Seed: 2, Trials: n, MinBudget: lo, MaxBudget: hi}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	bound := prefixBound(b, gen, trace)
	for _, mode := range []struct {
		name   string
		merged int64
		prefix bool
		reuse  bool
	}{{"caches-off", 0, false, false}, {"merge-cache", 1 << 30, false, false}, {"merge+prefix-cache", 1 << 30, true, false}, {"merge+prefix+budget-reuse", 1 << 30, true, true}} {
		b.Run(mode.name, func(b *testing.B) {
			var evals, samples int
			var el time.Duration
			for i := 0; i < b.N; i++ {
				ev := storiesEvaluator(b, mode.merged, mode.prefix)
				ev.S.NoReuse = !mode.reuse
				for _, bud := range []int{lo, lo * 3, hi} {
					ev.S.ReferenceResults(context.Background(), bud) // the reference is computed once per budget in any mode
				}
				start := time.Now()
				for _, t := range trace {
					if _, err := ev.Evaluate(context.Background(), t.Config, t.Budget); err != nil {
						b.Fatal(err)
					}
					evals++
				}
				el += time.Since(start)
				n, _ := ev.S.SampleCounts()
				samples += n
			}
			b.ReportMetric(float64(evals)/el.Minutes(), "evals/min")
			b.ReportMetric(float64(samples)/float64(evals), "samples/eval")
			b.ReportMetric(bound, "ideal-prefix-x")
		})
	}
}

// prefixBound is the most any prefix cache can save on a trace: layer runs
// (one sample through one slot) needed by the trace divided by those left
// when every (sample, slot prefix) an earlier trial ran is free — an
// unbounded cache in the best order.
func prefixBound(tb testing.TB, ev *Evaluator, trace []search.Trial) float64 {
	seen := map[string]int{} // chained prefix key -> samples per task covered
	var total, needed int
	for _, t := range trace {
		p, err := ev.Space.Plan(t.Config, ev.S.Family.Dirs)
		if err != nil {
			tb.Fatal(err)
		}
		key := p.OuterHash(p.Embed)
		keys := make([]string, len(p.Slots))
		for i := range p.Slots {
			key += "/" + p.SlotHash(i)
			keys[i] = key
		}
		for j := 0; j < t.Budget; j++ {
			first := 0
			for k := len(keys); k > 0; k-- {
				if seen[keys[k-1]] > j {
					first = k
					break
				}
			}
			total += len(keys)
			needed += len(keys) - first
		}
		for _, k := range keys {
			seen[k] = max(seen[k], t.Budget)
		}
	}
	return float64(total) / float64(needed)
}

// A scoring module as the objective: its value is the trial's objective,
// and a module that traps fails trials without stopping the search.
func TestScoredSearch(t *testing.T) {
	pe := storiesEvaluator(t, 1<<30, false)
	h, err := scorer.NewHost(context.Background(), scorer.Limits{CallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	wasm, err := os.ReadFile(filepath.Join("..", "scorer", "examples", "wat", "skeleton.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.Load(context.Background(), "skeleton", wasm)
	if err != nil {
		t.Fatal(err)
	}
	ev := &Evaluator{S: pe.S, Space: pe.Space, Scorer: &Scorer{Host: h, Module: m}}
	trials, err := search.Search(context.Background(), pe.Space, ev, search.Settings{Optimizer: "random", Seed: 1, Trials: 3, MinBudget: 1, MaxBudget: 1}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trials {
		if tr.Error != "" || tr.Objective != 1 || tr.Costs[0] != -1 {
			t.Errorf("trial %+v", tr)
		}
	}
	// A module whose score traps: every trial fails with the reason, the search finishes.
	bad := []byte("\x00asm\x01\x00\x00\x00")
	bad = append(bad, trapModule...)
	mb, err := h.Load(context.Background(), "trap", bad)
	if err != nil {
		t.Fatal(err)
	}
	ev.Scorer.Module = mb
	trials, err = search.Search(context.Background(), pe.Space, ev, search.Settings{Optimizer: "random", Seed: 1, Trials: 2, MinBudget: 1, MaxBudget: 1}, nil, nil, nil)
	if err != nil || len(trials) != 2 {
		t.Fatalf("search with a failing scorer: %v", err)
	}
	for _, tr := range trials {
		if !strings.Contains(tr.Error, "trapped") {
			t.Errorf("trial error %q", tr.Error)
		}
	}
}

// trapModule is native/scorer/testdata/trap.wat compiled (after the 8-byte
// header): a scorer whose gptailor_score is `unreachable`.
var trapModule = []byte{1, 20, 4, 96, 1, 127, 1, 127, 96, 2, 127, 127, 1, 127, 96, 0, 1, 124, 96, 0, 1, 126, 3, 5, 4, 0, 1, 2, 3, 5, 3, 1, 0, 1, 7, 81, 5, 6, 109, 101, 109, 111, 114, 121, 2, 0, 14, 103, 112, 116, 97, 105, 108, 111, 114, 95, 97, 108, 108, 111, 99, 0, 0, 14, 103, 112, 116, 97, 105, 108, 111, 114, 95, 115, 99, 111, 114, 101, 0, 1, 15, 103, 112, 116, 97, 105, 108, 111, 114, 95, 114, 101, 115, 117, 108, 116, 0, 2, 16, 103, 112, 116, 97, 105, 108, 111, 114, 95, 109, 101, 115, 115, 97, 103, 101, 0, 3, 10, 28, 4, 5, 0, 65, 128, 8, 11, 3, 0, 0, 11, 11, 0, 68, 0, 0, 0, 0, 0, 0, 240, 63, 11, 4, 0, 66, 0, 11}

// BenchmarkBatchQuality: what keeping B trials in flight does to the
// search — the best objective at full budget after the same number of
// trials, over seeds 0–4, for B = 1, 2, 4, 8 (the demo family, its
// budgets, GPTAILOR_TRACE_TRIALS trials, default 60). Reported per B as
// the mean and its standard error over the seeds.
func BenchmarkBatchQuality(b *testing.B) {
	n := 60
	if v, err := strconv.Atoi(os.Getenv("GPTAILOR_TRACE_TRIALS")); err == nil && v > 0 {
		n = v
	}
	ev := storiesEvaluator(b, 1<<30, true)
	for _, batch := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("B=%d", batch), func(b *testing.B) {
			var best []float64
			for i := 0; i < b.N; i++ {
				best = best[:0]
				for seed := uint64(0); seed < 5; seed++ {
					trials, err := search.Search(context.Background(), ev.Space, ev, search.Settings{Optimizer: "bo", Seed: seed, Trials: n, MinBudget: 3, MaxBudget: 27, Batch: batch}, nil, nil, nil)
					if err != nil {
						b.Fatal(err)
					}
					w, ok := search.Best(trials)
					if !ok {
						b.Fatal("no trial finished")
					}
					best = append(best, w.Objective)
				}
			}
			m, sd := stat.MeanStdDev(best, nil)
			b.ReportMetric(m, "best-objective")
			b.ReportMetric(sd/math.Sqrt(float64(len(best))), "s.e.")
		})
	}
}
