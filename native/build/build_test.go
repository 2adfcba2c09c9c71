package build

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

var (
	repoData = filepath.Join("..", "..", "testdata")
)

func family(t *testing.T, dirs map[string]string) *model.Family {
	t.Helper()
	ms := []model.Member{{Alias: "base", Dir: dirs["base"]}}
	for _, a := range []string{"code", "docs", "math"} {
		if d, ok := dirs[a]; ok {
			ms = append(ms, model.Member{Alias: a, Dir: d})
		}
	}
	f, err := model.OpenFamily(ms)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func stories(t *testing.T) *model.Family {
	d := map[string]string{}
	for _, a := range []string{"base", "code", "docs", "math"} {
		d[a] = filepath.Join(repoData, "stories260K-"+a)
	}
	return family(t, d)
}

func goldenPlans(t *testing.T) ([]*plan.Plan, []map[string][]float64, map[string][][]int) {
	raw, err := os.ReadFile(filepath.Join(repoData, "golden", "plans.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Plans []struct {
			Name  string               `json:"name"`
			Slots json.RawMessage      `json:"slots"`
			NLL   map[string][]float64 `json:"nll"`
		} `json:"plans"`
	}
	json.Unmarshal(raw, &g)
	var ps []*plan.Plan
	var nll []map[string][]float64
	for _, gp := range g.Plans {
		p, err := plan.Parse([]byte(`{"name":"` + gp.Name + `","slots":` + string(gp.Slots) + `}`))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
		nll = append(nll, gp.NLL)
	}
	raw, _ = os.ReadFile(filepath.Join(repoData, "golden", "nll.json"))
	var n struct {
		Windows map[string][][]int `json:"windows"`
	}
	json.Unmarshal(raw, &n)
	return ps, nll, n.Windows
}

// Every golden plan built to disk and loaded back scores bit-identically to
// the in-memory plan (F32), and so matches the reference.
func TestBuildGoldenPlansBitIdentical(t *testing.T) {
	ps, nll, windows := goldenPlans(t)
	f := stories(t)
	b := stitch.New(f, stitch.DefaultCacheBytes)
	for i, p := range ps {
		out := filepath.Join(t.TempDir(), p.Name)
		res, err := Build(b, p, Options{Out: out})
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		m, err := model.Open(out)
		if err != nil {
			t.Fatalf("%s: built model does not open: %v", p.Name, err)
		}
		if m.Config.NumHiddenLayers != len(p.Slots) || res.Params != m.Params() {
			t.Errorf("%s: %d layers, params %d vs %d", p.Name, m.Config.NumHiddenLayers, res.Params, m.Params())
		}
		loaded, err := engine.NewLoader().Net(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		mem, err := b.Net(p)
		if err != nil {
			t.Fatal(err)
		}
		for domain, want := range nll[i] {
			a, _ := loaded.LogProbs(windows[domain][:2])
			c, _ := mem.LogProbs(windows[domain][:2])
			for w := range a {
				var s float64
				for k := range a[w] {
					if a[w][k] != c[w][k] {
						t.Fatalf("%s/%s: built model differs from the plan at window %d position %d: %v vs %v", p.Name, domain, w, k, a[w][k], c[w][k])
					}
					s -= a[w][k]
				}
				if got := s / float64(len(a[w])); math.Abs(got-want[w]) > 2e-4 {
					t.Errorf("%s/%s window %d: %.6f, reference %.6f", p.Name, domain, w, got, want[w])
				}
			}
		}
		m.Close()
		for _, name := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "gptailor-plan.json", "README.md"} {
			if _, err := os.Stat(filepath.Join(out, name)); err != nil {
				t.Errorf("%s: %v", p.Name, err)
			}
		}
		_, mkErr := os.Stat(filepath.Join(out, "mergekit.yml"))
		if (mkErr == nil) != res.Mergekit {
			t.Errorf("%s: mergekit.yml presence %v, result says %v", p.Name, mkErr == nil, res.Mergekit)
		}
		if p.Name == "drop-3" && !res.Mergekit {
			t.Errorf("drop-3 is a passthrough config: %s", res.NoMergekit)
		}
	}
}

func TestShardsDtypeAndRefusals(t *testing.T) {
	f := stories(t)
	b := stitch.New(f, stitch.DefaultCacheBytes)
	p := &plan.Plan{Slots: []plan.Slot{{Take: &plan.Take{Model: "base", Layer: 0}}, {Merge: &plan.Merge{Method: "linear", Layer: 1, Models: []string{"code", "math"}}}}}
	out := filepath.Join(t.TempDir(), "m")
	res, err := Build(b, p, Options{Out: out, DType: safetensors.BF16, ShardBytes: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Shards) < 2 {
		t.Fatalf("%d shards", len(res.Shards))
	}
	if _, err := os.Stat(filepath.Join(out, safetensors.IndexName)); err != nil {
		t.Fatal(err)
	}
	m, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Tensors.DTypes()[safetensors.BF16] != res.Tensors || m.Config.TorchDType != "bfloat16" {
		t.Errorf("dtypes %v torch_dtype %s", m.Tensors.DTypes(), m.Config.TorchDType)
	}
	m.Close()
	// Existing non-empty directory: refused, then replaced with --force.
	if _, err := Build(b, p, Options{Out: out}); err == nil || !strings.Contains(err.Error(), "is not empty (use --force") {
		t.Errorf("got %v", err)
	}
	if _, err := Build(b, p, Options{Out: out, Force: true}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("leftovers beside the output: %v", ents)
	}
}

// A build that fails half way leaves neither the output nor a temporary
// directory behind.
func TestFailedBuildLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	code := filepath.Join(dir, "code")
	os.MkdirAll(code, 0o755)
	src := filepath.Join(repoData, "stories260K-code")
	for _, n := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(src, n))
		os.WriteFile(filepath.Join(code, n), b, 0o644)
	}
	f := family(t, map[string]string{"base": filepath.Join(repoData, "stories260K-base"), "code": code})
	// The checkpoint is cut short after its header was read.
	os.Truncate(filepath.Join(code, "model.safetensors"), 2000)
	p := &plan.Plan{Slots: []plan.Slot{{Take: &plan.Take{Model: "base", Layer: 0}}, {Take: &plan.Take{Model: "code", Layer: 4}}}}
	outParent := filepath.Join(dir, "out")
	os.MkdirAll(outParent, 0o755)
	_, err := Build(stitch.New(f, 1<<20), p, Options{Out: filepath.Join(outParent, "model")})
	if err == nil || !strings.Contains(err.Error(), "model.layers.1.") {
		t.Fatalf("got %v", err)
	}
	if ents, _ := os.ReadDir(outParent); len(ents) != 0 {
		t.Errorf("a failed build left %v", ents)
	}
}

// A cross-layer (LaCo-style) plan built to disk scores bit-identically to
// the in-memory plan, and gets no mergekit.yml.
func TestBuildCrossLayerPlan(t *testing.T) {
	f := stories(t)
	b := stitch.New(f, stitch.DefaultCacheBytes)
	p, err := plan.Parse([]byte(`{"version":1,"name":"laco","slots":[{"take":["base",0]},
		{"merge":{"method":"task_arithmetic","layer":1,"models":["base","base"],"layers":[2,3],"weights":[1,1],"lambda":1,
		"overrides":[{"filter":"norm","lambda":0}]}},{"take":["base",4]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "laco")
	res, err := Build(b, p, Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mergekit {
		t.Error("a cross-layer plan got a mergekit.yml")
	}
	m, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	loaded, err := engine.NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := b.Net(p)
	if err != nil {
		t.Fatal(err)
	}
	win := [][]int{{1, 400, 20, 300, 55, 7, 99, 2}}
	a, _ := loaded.LogProbs(win)
	c, _ := mem.LogProbs(win)
	for k := range a[0] {
		if a[0][k] != c[0][k] {
			t.Fatalf("position %d: built %v, plan %v", k, a[0][k], c[0][k])
		}
	}
}

// A BF16 family (the stories family built to disk as BF16): every golden
// plan's in-memory net holds its merges rounded to BF16, so it scores
// bit-identically to the same plan built to disk with the sources' dtype.
func TestBF16FamilyBuildsWhatItScores(t *testing.T) {
	ps, _, windows := goldenPlans(t)
	f32 := stories(t)
	b32 := stitch.New(f32, stitch.DefaultCacheBytes)
	dirs := map[string]string{}
	for _, name := range f32.Names() {
		out := filepath.Join(t.TempDir(), name)
		var dense plan.Plan
		dense.Version = plan.Version
		for l := 0; l < f32.Base().Config.NumHiddenLayers; l++ {
			dense.Slots = append(dense.Slots, plan.Slot{Take: &plan.Take{Model: name, Layer: l}})
		}
		dense.Embed, dense.Head = &plan.Outer{Model: name}, &plan.Outer{Model: name}
		if _, err := Build(b32, &dense, Options{Out: out, DType: safetensors.BF16}); err != nil {
			t.Fatal(err)
		}
		dirs[name] = out
	}
	f := family(t, dirs)
	b := stitch.New(f, stitch.DefaultCacheBytes)
	merged := 0
	for _, p := range ps {
		out := filepath.Join(t.TempDir(), p.Name)
		if _, err := Build(b, p, Options{Out: out}); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		m, err := model.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if dt := m.Tensors.DTypes(); len(dt) != 1 || dt[safetensors.BF16] == 0 {
			t.Fatalf("%s built as %v", p.Name, dt)
		}
		loaded, _ := engine.NewLoader().Net(m, nil)
		mem, err := b.Net(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Slots {
			if s.Merge != nil {
				merged++
			}
		}
		a, _ := loaded.LogProbs(windows["stories"][:2])
		c, _ := mem.LogProbs(windows["stories"][:2])
		for w := range a {
			for i := range a[w] {
				if a[w][i] != c[w][i] {
					t.Fatalf("%s window %d position %d: built %v, in memory %v", p.Name, w, i, a[w][i], c[w][i])
				}
			}
		}
		m.Close()
	}
	if merged == 0 {
		t.Fatal("no golden plan has a merge")
	}
}
