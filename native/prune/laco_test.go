package prune

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gptailor/gptailor/native/corpus"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// Collapsing twice composes: slots 1..3 into 1 is −θ1 + θ2 + θ3; then 0..1
// into 0 is 0·θ0 + (−θ1 + θ2 + θ3), with layer 0's norms.
func TestCollapseComposes(t *testing.T) {
	var s []lacoSlot
	for i := 0; i < 5; i++ {
		s = append(s, lacoSlot{bottom: i, coef: map[int]float64{i: 1}})
	}
	s = collapse(s, 1, 2)
	if len(s) != 3 || s[1].bottom != 1 || !reflect.DeepEqual(s[1].coef, map[int]float64{1: -1, 2: 1, 3: 1}) {
		t.Fatalf("first collapse %+v", s)
	}
	s = collapse(s, 0, 1)
	if len(s) != 2 || s[0].bottom != 0 || !reflect.DeepEqual(s[0].coef, map[int]float64{1: -1, 2: 1, 3: 1}) {
		t.Fatalf("second collapse %+v", s)
	}
	p := lacoPlan(map[string]string{"base": "/m"}, "base", s, "x")
	m := p.Slots[0].Merge
	if m == nil || m.Layer != 0 || !reflect.DeepEqual(m.Layers, []int{1, 2, 3}) || !reflect.DeepEqual(m.Weights, []float64{-1, 1, 1}) {
		t.Fatalf("plan slot %+v", p.Slots[0])
	}
	if tk := p.Slots[1].Take; tk == nil || tk.Layer != 4 {
		t.Fatalf("untouched slot %+v", p.Slots[1])
	}
}

func storiesLaCo(t *testing.T) (*stitch.Builder, map[string]string, [][]int) {
	dir := filepath.Join("..", "..", "testdata", "stories260K-base")
	f, err := model.OpenFamily([]model.Member{{Alias: "base", Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := corpus.Read(filepath.Join("..", "..", "testdata", "data", "stories.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var streams [][]int
	for _, d := range docs[:20] {
		streams = append(streams, tok.Encode(d.Text, true))
	}
	w, _ := corpus.Windows(streams, 64)
	return stitch.New(f, 1<<26), map[string]string{"base": dir}, w[:4]
}

func TestLaCoOnStories(t *testing.T) {
	b, models, windows := storiesLaCo(t)
	// Every collapse accepted: the first is at the top (slot L − C = 1),
	// three layers into one.
	r, p, err := LaCo(b, models, "base", windows, 2, opts(func(o *LaCoOptions) { o.Threshold = -1 }))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Removed, []int{2, 3}) || len(p.Slots) != 3 {
		t.Fatalf("removed %v, plan %+v", r.Removed, p.Slots)
	}
	if m := p.Slots[1].Merge; m == nil || !reflect.DeepEqual(m.Layers, []int{2, 3}) || !reflect.DeepEqual(m.Weights, []float64{1, 1}) {
		t.Fatalf("collapsed slot %+v", p.Slots[1])
	}
	if err := plan.Validate(p, stitch.Info(b.Family)); err != nil {
		t.Fatal(err)
	}
	// No collapse reaches the threshold: the most similar one of the scan
	// is taken; with that similarity as the threshold, LaCo keeps the same.
	r1, p1, err := LaCo(b, models, "base", windows, 1, opts(func(o *LaCoOptions) { o.Combine, o.Threshold = 2, 2 }))
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Removed) != 1 || len(r1.Scores) != 1 || r1.Scores[0] >= 1 {
		t.Fatalf("fallback %+v", r1)
	}
	r2, p2, err := LaCo(b, models, "base", windows, 1, opts(func(o *LaCoOptions) { o.Combine, o.Threshold = 2, r1.Scores[0] }))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r1.Removed, r2.Removed) || p1.SlotHash(r1.Removed[0]-1) != p2.SlotHash(r2.Removed[0]-1) {
		t.Errorf("threshold at the best similarity: %v vs %v", r1, r2)
	}
	if _, _, err := LaCo(b, models, "base", windows, 5, DefaultLaCo()); err == nil {
		t.Error("removing every layer accepted")
	}
	if _, _, err := LaCo(b, models, "base", windows, 1, opts(func(o *LaCoOptions) { o.Combine = 1 })); err == nil {
		t.Error("combine 1 accepted")
	}
}

func opts(f func(*LaCoOptions)) LaCoOptions {
	o := DefaultLaCo()
	f(&o)
	return o
}

// Every method Methods and AllMethods list is one Baseline accepts: each
// gives a valid plan with exactly n layers fewer (LaCo included), and a
// name outside the lists is refused by both entry points.
func TestEveryListedMethodRuns(t *testing.T) {
	b, models, windows := storiesLaCo(t)
	fi := stitch.Info(b.Family)
	for _, m := range AllMethods {
		r, p, err := Baseline(m, b, models, "base", windows, 2, DefaultLaCo())
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		full := fi.OuterParams + int64(fi.Layers)*fi.LayerParams
		switch removed := full - p.ParamCount(fi); {
		case m == "blockpruner":
			// sub-blocks: at least two layers' parameters, and not one
			// sub-block more than needed
			if removed < 2*fi.LayerParams || removed >= 2*fi.LayerParams+fi.MLPParams {
				t.Errorf("blockpruner removed %d parameters (attn %v, mlp %v) for a target of %d", removed, r.RemovedAttn, r.RemovedMLP, 2*fi.LayerParams)
			}
			t.Logf("blockpruner at two layers' parameters: attention of %v, MLP of %v", r.RemovedAttn, r.RemovedMLP)
		case len(r.Removed) != 2 || len(p.Slots) != fi.Layers-2:
			t.Errorf("%s removed %v into %d slots", m, r.Removed, len(p.Slots))
		}
		if err := plan.Validate(p, fi); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	net, err := b.Loader.Net(b.Family.Base(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range Methods {
		if _, err := Run(m, net, windows, 1); err != nil {
			t.Errorf("Run lists %s but fails: %v", m, err)
		}
	}
	if _, _, err := Baseline("magic", b, models, "base", windows, 1, DefaultLaCo()); err == nil {
		t.Error("unknown method accepted")
	}
}
