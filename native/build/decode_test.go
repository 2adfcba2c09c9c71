package build

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/session"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/native/tokenizer"
	"github.com/gptailor/gptailor/shared/plan"
)

// A plan mixing a merge, a cross-model take, a skipped attention and a
// repaired cut decodes with the KV cache exactly as the model it builds:
// the same logits at every step of a batched decode of two prompts, the
// same greedy continuation, and the plan's cached logits equal its own
// full forward's.
func TestPlanDecodesAsItsBuiltModel(t *testing.T) {
	f := stories(t)
	b := stitch.New(f, -1)
	tok, err := tokenizer.Load(f.Base().Dir)
	if err != nil {
		t.Fatal(err)
	}
	b.Calibrate = session.CalibrationReader(tok, 0)
	calib := filepath.Join(repoData, "data", "stories.jsonl")
	p, err := plan.Parse([]byte(`{"slots":[
		{"take":["base",0]},
		{"merge":{"method":"ties","layer":1,"models":["base","code","math"],"density":0.5}},
		{"take":["code",2],"mlp":["math",2]},
		{"take":["base",3],"attn":"none"}
	],"repair":{"method":"linear","calibration":"` + calib + `","samples":16}}`))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "tailored")
	if _, err := Build(b, p, Options{Out: out}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	built, err := engine.NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := b.Net(p)
	if err != nil {
		t.Fatal(err)
	}
	if mem.AttnSlots() != built.AttnSlots() || mem.AttnSlots() >= len(mem.Layers) {
		t.Fatalf("attention slots: plan %d, built %d, of %d (one is skipped)", mem.AttnSlots(), built.AttnSlots(), len(mem.Layers))
	}
	prompts := [][]int{tok.Encode("Once upon a time", true), tok.Encode("The little dog", true)}
	decode := func(net *engine.Net) [][][]float32 {
		caches := make([]*engine.KVCache, len(prompts))
		next := make([][]int, len(prompts))
		out := make([][][]float32, len(prompts))
		for s := range prompts {
			if caches[s], err = net.NewKVCache(64, false); err != nil {
				t.Fatal(err)
			}
			next[s] = prompts[s]
		}
		for step := 0; step < 20; step++ {
			if err := net.Extend(caches, next, false, func(s, _ int, l []float32) {
				out[s] = append(out[s], append([]float32(nil), l...))
				next[s] = []int{engine.Argmax(l)}
			}); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	a, c := decode(built), decode(mem)
	for s := range a {
		for i := range a[s] {
			for v := range a[s][i] {
				if d := math.Abs(float64(a[s][i][v] - c[s][i][v])); d > 1e-5*(1+math.Abs(float64(a[s][i][v]))) {
					t.Fatalf("prompt %d step %d token %d: built %v, plan %v", s, i, v, a[s][i][v], c[s][i][v])
				}
			}
		}
	}
	ga, err := built.Greedy(prompts[0], 30, -1)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := mem.Greedy(prompts[0], 30, -1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ga) != fmt.Sprint(gc) {
		t.Fatalf("greedy: built %v, plan %v", ga, gc)
	}
	// The plan's cached decode against its own full forward.
	full, err := mem.LogProbs([][]int{ga})
	if err != nil {
		t.Fatal(err)
	}
	kc, _ := mem.NewKVCache(len(ga), false)
	var lp []float64
	if err := mem.Extend([]*engine.KVCache{kc}, [][]int{ga[:3]}, true, func(_, r int, l []float32) {
		lp = append(lp, logProb(l, ga[r+1]))
	}); err != nil {
		t.Fatal(err)
	}
	for i := 3; i < len(ga)-1; i++ {
		if err := mem.Extend([]*engine.KVCache{kc}, [][]int{{ga[i]}}, false, func(_, _ int, l []float32) {
			lp = append(lp, logProb(l, ga[i+1]))
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range full[0] {
		if math.Abs(full[0][i]-lp[i]) > 1e-4*(1+math.Abs(full[0][i])) {
			t.Fatalf("position %d: cached log-prob %v, full forward %v", i, lp[i], full[0][i])
		}
	}
}

func logProb(l []float32, tok int) float64 {
	m := math.Inf(-1)
	for _, v := range l {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range l {
		s += math.Exp(float64(v) - m)
	}
	return float64(l[tok]) - m - math.Log(s)
}
