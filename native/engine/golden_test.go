package engine

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/tokenizer"
)

var (
	repoData = filepath.Join("..", "..", "testdata")
)

type nllGolden struct {
	Window  int                             `json:"window"`
	Windows map[string][][]int              `json:"windows"`
	NLL     map[string]map[string][]float64 `json:"nll"`
	Top5    map[string]map[string]struct {
		IDs    []int
		Logits []float64
	} `json:"top5"`
}

func loadNLLGolden(t *testing.T) *nllGolden {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoData, "golden", "nll.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g nllGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

func modelDir(name string) string {
	if name == "base-bf16-sharded" {
		return filepath.Join(repoData, "stories260K-base-bf16-sharded")
	}
	return filepath.Join(repoData, "stories260K-"+name)
}

func meanNLL(lp []float64) float64 {
	var s float64
	for _, v := range lp {
		s -= v
	}
	return s / float64(len(lp))
}

// Every model of the family (and the BF16 sharded base) against the
// independent PyTorch reference, window by window.
func TestGoldenNLL(t *testing.T) {
	g := loadNLLGolden(t)
	prev := kernel.Active()
	defer kernel.Select(prev)
	for _, k := range kernel.Names() {
		t.Run("kernel="+k, func(t *testing.T) {
			if ok, why := kernel.Runnable(k); !ok {
				t.Skip(why)
			}
			kernel.Select(k)
			goldenNLL(t, g)
		})
	}
}

// --compute bf16 may move a window's NLL by at most maxBF16Window and a
// model's mean NLL over the golden windows by at most maxBF16Mean nats
// against the float32 reference (measured: see TestGoldenNLL's log).
const (
	maxBF16Window = 0.02
	maxBF16Mean   = 0.01
)

// goldenNLL checks every model against the reference with the active kernel
// (BF16 weights in 16-bit panels where the kernel keeps them so).
func goldenNLL(t *testing.T, g *nllGolden) {
	loader := NewLoader()
	names := make([]string, 0, len(g.NLL))
	for n := range g.NLL {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		m, err := model.Open(modelDir(name))
		if err != nil {
			t.Fatal(err)
		}
		net, err := loader.Net(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if half := net.Layers[0].QKV.Half(); half != (kernel.ComputeBF16() || kernel.HalfWeights() && name == "base-bf16-sharded") {
			t.Errorf("%s with %s: 16-bit panels %v", name, kernel.Active(), half)
		}
		tol, worst, sumGot, sumWant, n := 2e-4, 0.0, 0.0, 0.0, 0
		for domain, want := range g.NLL[name] {
			lps, err := net.LogProbs(g.Windows[domain])
			if err != nil {
				t.Fatal(err)
			}
			if kernel.ComputeBF16() {
				tol = maxBF16Window
			}
			for w, lp := range lps {
				got := meanNLL(lp)
				worst = max(worst, math.Abs(got-want[w]))
				sumGot, sumWant, n = sumGot+got, sumWant+want[w], n+1
				if math.Abs(got-want[w]) > tol {
					t.Errorf("%s/%s window %d: NLL %.6f, reference %.6f", name, domain, w, got, want[w])
				}
			}
		}
		meanDiff := math.Abs(sumGot-sumWant) / float64(n)
		if kernel.ComputeBF16() && meanDiff > maxBF16Mean {
			t.Errorf("%s: mean NLL moved %.4f nats with bf16 compute", name, meanDiff)
		}
		t.Logf("%s, kernel %s: NLL vs the float32 reference: mean over %d windows %.2g nats, largest window %.2g", name, kernel.Active(), n, meanDiff, worst)
		m.Close()
	}
}

func TestGoldenTop5(t *testing.T) {
	g := loadNLLGolden(t)
	loader := NewLoader()
	for name, domains := range g.Top5 {
		m, err := model.Open(modelDir(name))
		if err != nil {
			t.Fatal(err)
		}
		net, err := loader.Net(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		for domain, want := range domains {
			logits, err := net.Logits(g.Windows[domain][0])
			if err != nil {
				t.Fatal(err)
			}
			for i, id := range want.IDs {
				if d := math.Abs(float64(logits[id]) - want.Logits[i]); d > 1e-3 {
					t.Errorf("%s/%s top5[%d] id %d: logit %.5f, reference %.5f", name, domain, i, id, logits[id], want.Logits[i])
				}
			}
			// and they are the five largest, in order
			idx := make([]int, len(logits))
			for i := range idx {
				idx[i] = i
			}
			sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
			for i, id := range want.IDs {
				if idx[i] != id {
					t.Errorf("%s/%s: rank %d is id %d, reference %d", name, domain, i, idx[i], id)
				}
			}
		}
		m.Close()
	}
}

// llama2.c's published sample from stories260K.
func TestGreedyStory(t *testing.T) {
	dir := filepath.Join(repoData, "stories260K-base")
	m, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	net, err := NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
	prompt := tok.Encode("Once upon a time", true)
	wantIDs := tok.Encode(want, true)
	out, err := net.Greedy(prompt, len(wantIDs)-len(prompt), tok.EOS)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tok.Decode(out[1:])
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("greedy continuation:\n got  %q\n want %q", got, want)
	}
}

type planGolden struct {
	Plans []struct {
		Name  string `json:"name"`
		Slots []struct {
			Take  []any           `json:"take"`
			Merge json.RawMessage `json:"merge"`
		} `json:"slots"`
		NLL map[string][]float64 `json:"nll"`
	} `json:"plans"`
}

// Stitched nets (dropped, repeated and cross-model layers) run through the
// same forward pass and match the reference without copying any weights.
func TestGoldenStitchedTakes(t *testing.T) {
	g := loadNLLGolden(t)
	raw, err := os.ReadFile(filepath.Join(repoData, "golden", "plans.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pg planGolden
	if err := json.Unmarshal(raw, &pg); err != nil {
		t.Fatal(err)
	}
	models := map[string]*model.Model{}
	for _, n := range []string{"base", "code", "docs", "math"} {
		m, err := model.Open(modelDir(n))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		models[n] = m
	}
	loader := NewLoader()
	ran := 0
	for _, p := range pg.Plans {
		var layers []*Layer
		takesOnly := true
		for _, s := range p.Slots {
			if s.Take == nil {
				takesOnly = false
				break
			}
			l, err := loader.Layer(models[s.Take[0].(string)], int(s.Take[1].(float64)))
			if err != nil {
				t.Fatal(err)
			}
			layers = append(layers, l)
		}
		if !takesOnly {
			continue
		}
		ran++
		head, _ := loader.Head(models["base"])
		net := NewNet(models["base"].Config, head, layers)
		for domain, want := range p.NLL {
			lps, err := net.LogProbs(g.Windows[domain])
			if err != nil {
				t.Fatal(err)
			}
			for w, lp := range lps {
				if got := meanNLL(lp); math.Abs(got-want[w]) > 2e-4 {
					t.Errorf("plan %s %s window %d: NLL %.6f, reference %.6f", p.Name, domain, w, got, want[w])
				}
			}
		}
	}
	if ran < 4 {
		t.Fatalf("only %d take-only plans found", ran)
	}
	// Shared, not copied: the base's layer 2 appears twice in repeat-2.
	a, _ := loader.Layer(models["base"], 2)
	b, _ := loader.Layer(models["base"], 2)
	if a != b {
		t.Error("the loader returned two copies of one source layer")
	}
}
