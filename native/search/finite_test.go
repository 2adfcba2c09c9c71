package search

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// zeroRef is a task whose reference scores 0 on the second task: retention
// there is NaN for candidates that the synthetic scorer marks (Subset of
// layer 0 empty), as a ratio over 0 was before it was defined; the objective
// is then NaN too.
type zeroRef struct{ synthetic }

func (z *zeroRef) Evaluate(ctx context.Context, c *Config, budget int) (Outcome, error) {
	o, _ := z.synthetic.Evaluate(ctx, c, budget)
	if c.Subset[0] == 0 {
		o.Retention[1], o.Costs[1] = math.NaN(), math.NaN()
		o.Objective = math.NaN()
	} else {
		o.Retention[1] = math.Inf(1) // a finite cost, an infinite retention: journaled null
	}
	return o, nil
}

// Item 3 of issue 22: a non-finite retention or cost killed the search at
// its first trial ("json: unsupported value: NaN") and --resume the same
// way. Every journaled number is finite or null; a trial whose objective
// or costs are not finite fails with the reason; the journal replays.
func TestNonFiniteOutcomesAreJournaledAndResume(t *testing.T) {
	space := &Space{Layers: 5, Remove: 1, FineTunes: []string{"ft"}}
	settings := Settings{Optimizer: "random", Seed: 4, Trials: 12, MinBudget: 100, MaxBudget: 900}
	path := filepath.Join(t.TempDir(), "trials.jsonl")
	j, _, err := OpenJournal(path, false)
	if err != nil {
		t.Fatal(err)
	}
	trials, err := Search(context.Background(), space, &zeroRef{synthetic{space: space}}, settings, j, nil, nil)
	j.Close()
	if err != nil {
		t.Fatalf("the search stopped: %v", err)
	}
	if len(trials) != 12 {
		t.Fatalf("%d trials", len(trials))
	}
	raw, _ := os.ReadFile(path)
	if regexp.MustCompile(`[:,\[](NaN|[+-]?Inf)`).Match(raw) {
		t.Fatalf("a non-finite number in the journal:\n%s", raw)
	}
	failed := 0
	for _, tr := range trials {
		if tr.Config.Subset[0] == 0 {
			failed++
			want := "the evaluation gave a non-finite objective NaN, cost 1 NaN (a task's metric or its reference is NaN or infinite)"
			if tr.Error != want || tr.Costs != nil {
				t.Errorf("trial %d: error %q costs %v, want %q and no costs", tr.Index, tr.Error, tr.Costs, want)
			}
		} else if tr.Error != "" {
			t.Errorf("trial %d failed: %s", tr.Index, tr.Error)
		}
	}
	nulls := bytes.Count(raw, []byte(`"retention":[`)) - bytes.Count(raw, []byte(`,null]`)) // every retention ends in null
	if failed == 0 || failed == 12 || nulls != 0 {
		t.Fatalf("%d of 12 failed, %d retention lists without a null second entry", failed, nulls)
	}
	// The journal reads back as written (null as NaN) and resumes.
	j, replay, err := OpenJournal(path, false)
	if err != nil {
		t.Fatal(err)
	}
	settings.Trials = 14
	more, err := Search(context.Background(), space, &zeroRef{synthetic{space: space}}, settings, j, replay, nil)
	j.Close()
	if err != nil || len(more) != 14 {
		t.Fatalf("resume: %d trials, %v", len(more), err)
	}
	for i := range trials {
		a, b := trials[i], more[i]
		if a.Key != b.Key || a.Error != b.Error || !sameFloats(a.Retention, b.Retention) || !sameFloats(a.Costs, b.Costs) || !sameFloats([]float64{a.Objective}, []float64{b.Objective}) {
			t.Errorf("trial %d changed on resume: %+v vs %+v", i, a, b)
		}
	}
	if r := more[0].Retention; !math.IsNaN(r[1]) || r[0] <= 0 {
		t.Errorf("trial 0's retention read back as %v", r)
	}
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) && !(math.IsInf(a[i], 0) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// Item 4: η near 1 (1.0001 passed and asked for memory quadratic in the
// bracket count) and budgets whose schedule cannot be held are refused
// before Brackets builds anything.
func TestEtaAndScheduleBounds(t *testing.T) {
	base := Settings{Optimizer: "random", MinBudget: 3, MaxBudget: 27}
	cases := []struct {
		eta      float64
		min, max int
		want     string
	}{
		{1.0001, 3, 27, "eta 1.0001: Hyperband's η must be a finite number of at least 1.5 (0: the default 3)"},
		{1.0000001, 3, 27, "eta 1.0000001: Hyperband's η must be a finite number of at least 1.5 (0: the default 3)"},
		{math.Inf(1), 3, 27, "eta +Inf: Hyperband's η must be a finite number of at least 1.5 (0: the default 3)"},
		{3, 1, 1 << 30, "budgets 1–1073741824 with eta 3: Hyperband's schedule would have 19 brackets, the first starting 7360989291 candidates (limits 64 and 10000): narrow the budgets or raise eta"},
		{1.5, 1, 1000, "budgets 1–1000 with eta 1.5: Hyperband's schedule would have 18 brackets, the first starting 17735 candidates (limits 64 and 10000): narrow the budgets or raise eta"},
	}
	for _, c := range cases {
		s := base
		s.Eta, s.MinBudget, s.MaxBudget = c.eta, c.min, c.max
		if err := s.Validate(); err == nil || err.Error() != c.want {
			t.Errorf("eta %v budgets %d–%d: got %v\nwant %s", c.eta, c.min, c.max, err, c.want)
		}
	}
	s := base
	s.Eta = 1.5
	if err := s.Validate(); err != nil {
		t.Errorf("eta 1.5 over 3–27: %v", err)
	}
}

// Item 8: a checksummed line whose config is malformed (a shorter subset:
// Key and Plan indexed past it and panicked) is damage, named with its line
// and field; Space.Plan refuses a config of another shape with the reason.
func TestMalformedConfigIsDamageNotPanic(t *testing.T) {
	good := sealLine([]byte(`{"index":0,"bracket":0,"rung":0,"budget":3,"key":"x|1|","config":{"removed":[true,false],"subset":[0,1],"lambda":[0,0.5]},"objective":0.5,"seconds":1}`))
	cases := []struct{ config, reason string }{
		{`{"removed":[true,false],"subset":[0],"lambda":[0,0.5]}`, "trial 1: config.subset has 1 entries for 2 layers"},
		{`null`, "trial 1: config is missing"},
		{`{"removed":[true,false,false],"subset":[0,1,1],"lambda":[0,0.5,0]}`, "trial 1: config has 3 layers, the trials before it 2"},
		{`{"removed":[true,false],"subset":[0,1],"lambda":[0,0.5],"mlp_removed":[false]}`, "trial 1: config.mlp_removed has 1 entries for 2 layers\nconfig.mlp_subset has 0 entries for 2 layers"},
	}
	for _, c := range cases {
		bad := sealLine([]byte(`{"index":1,"bracket":0,"rung":0,"budget":3,"key":"k","config":` + c.config + `,"objective":0.5,"seconds":1}`))
		raw := append(append(append(append([]byte{}, good...), '\n'), bad...), '\n')
		trials, _, err := readJournal("j", raw)
		var d *DamageError
		if !errors.As(err, &d) || d.Line != 2 || d.Reason != c.reason || len(trials) != 1 {
			t.Errorf("config %s: got %v (%d trials), want line 2: %q", c.config, err, len(trials), c.reason)
		}
	}
	space := &Space{Layers: 3, Remove: 1, FineTunes: []string{"ft"}}
	if _, err := space.Plan(&Config{Removed: []bool{true, false}, Subset: []uint32{0, 1}, Lambda: []float64{0, 0}}, nil); err == nil || err.Error() != "config has 2 layers, the space 3" {
		t.Errorf("Plan of a 2-layer config in a 3-layer space: %v", err)
	}
	if _, err := space.Plan(&Config{Removed: []bool{true, false, false}, Subset: []uint32{0, 4, 1}, Lambda: []float64{0, 0, 0}}, nil); err == nil || !strings.Contains(err.Error(), "fine-tune bits 0x4 past the space's 1 fine-tunes") {
		t.Errorf("Plan with a fine-tune bit past the space: %v", err)
	}
}

// Item 13: reading a journal never writes it: a torn last line (a run
// still writing it) is left in place, and a read-only file reads.
func TestReadJournalNeverWrites(t *testing.T) {
	raw := journalOf(t)
	p := filepath.Join(t.TempDir(), "trials.jsonl")
	torn := append(append([]byte{}, raw...), raw[:30]...)
	os.WriteFile(p, torn, 0o444)
	trials, err := ReadJournal(p)
	if err != nil || len(trials) != 12 {
		t.Fatalf("%d trials, %v", len(trials), err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(after, torn) {
		t.Fatalf("the journal changed: %d bytes, was %d", len(after), len(torn))
	}
	again, _ := ReadJournal(p)
	if !reflect.DeepEqual(len(again), len(trials)) {
		t.Fatal("a second read differs")
	}
}

// The journal's config decoding never panics, and a config it accepts
// gives a key and a plan (or an error) without panicking.
func FuzzJournalConfig(f *testing.F) {
	f.Add([]byte(`{"removed":[true,false],"subset":[0,1],"lambda":[0,0.5]}`))
	f.Add([]byte(`{"removed":[true,false],"subset":[0],"lambda":[0,0.5]}`))
	f.Add([]byte(`{"removed":[false,false],"subset":[3,7],"lambda":[1e308,0.5],"method":[5,-1],"weights":[[1],[]]}`))
	f.Add([]byte(`{"removed":[true,false],"subset":[0,1],"lambda":[0,0.5],"mlp_removed":[true,false],"mlp_subset":[1,9]}`))
	f.Add([]byte(`null`))
	spaces := []*Space{
		{Layers: 2, Remove: 1, FineTunes: []string{"a", "b"}},
		{Layers: 2, Remove: 1, FineTunes: []string{"a", "b"}, Methods: []string{"task_arithmetic", "slerp"}, Weights: true},
		{Layers: 2, Remove: 1, FineTunes: []string{"a"}, Blocks: true, AttnParams: 1, MLPParams: 2, RemoveParams: 2},
	}
	f.Fuzz(func(t *testing.T, config []byte) {
		if bytes.ContainsAny(config, "\n") {
			return
		}
		line := sealLine([]byte(`{"index":0,"bracket":0,"rung":0,"budget":3,"key":"k","config":` + string(config) + `,"objective":0.5,"seconds":1}`))
		trials, _, err := readJournal("j", append(line, '\n'))
		if err != nil {
			return
		}
		for _, tr := range trials {
			_ = tr.Config.Key()
			for _, s := range spaces {
				s.Plan(tr.Config, nil)
			}
		}
	})
}
