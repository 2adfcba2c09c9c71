package engine

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/model"
)

// A context packed once with several branches scores each branch exactly
// as if it had been run on its own after the context.
func TestPackedBranchesEqualSeparateRuns(t *testing.T) {
	m, err := model.Open(filepath.Join(repoData, "stories260K-base"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	net, err := NewLoader().Net(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := []int{1, 403, 407, 261, 378, 432}
	branches := [][]int{{383, 286, 261}, {376, 298, 315, 421, 395}, {500}}
	packed := Seq{Tokens: append([]int(nil), ctx...)}
	for i := range ctx {
		packed.Pos = append(packed.Pos, i)
		packed.Seg = append(packed.Seg, 0)
	}
	var targets []Target
	for k, br := range branches {
		prev := len(ctx) - 1 // the first branch token is predicted by the context's last row
		for j, tok := range br {
			targets = append(targets, Target{Row{0, prev}, tok})
			packed.Tokens = append(packed.Tokens, tok)
			packed.Pos = append(packed.Pos, len(ctx)+j)
			packed.Seg = append(packed.Seg, k+1)
			prev = len(packed.Tokens) - 1
		}
	}
	got, err := net.TargetLogProbs([]Seq{packed}, targets)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, br := range branches {
		full := append(append([]int(nil), ctx...), br...)
		lp, err := net.LogProbs([][]int{full})
		if err != nil {
			t.Fatal(err)
		}
		for j := range br {
			want := lp[0][len(ctx)-1+j]
			if math.Abs(got[k]-want) > 1e-5 {
				t.Errorf("branch token %d: packed %.7f, separate %.7f", k, got[k], want)
			}
			k++
		}
	}
}

// Nets sharing a prefix of layers reuse its activations and give results
// identical to running without the cache.
func TestPrefixCacheIsExact(t *testing.T) {
	m, err := model.Open(filepath.Join(repoData, "stories260K-base"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	loader := NewLoader()
	windows := [][]int{{1, 403, 407, 261, 378, 432, 383, 286}, {1, 291, 265, 274, 440}}
	cache := NewPrefixCache(1 << 20)
	run := func(layers []int, keys []string, cached bool) [][]float64 {
		net, err := loader.Net(m, layers)
		if err != nil {
			t.Fatal(err)
		}
		if cached {
			net.Prefix = &Prefixes{Cache: cache, EmbedKey: "base", LayerKeys: keys}
		}
		lp, err := net.LogProbs(windows)
		if err != nil {
			t.Fatal(err)
		}
		return lp
	}
	a := []int{0, 1, 2, 4}
	b := []int{0, 1, 3, 4}
	ka := []string{"L0", "L1", "L2", "L4"}
	kb := []string{"L0", "L1", "L3", "L4"}
	run(a, ka, true)
	got := run(b, kb, true) // starts at layer 2 with a's first two layers
	want := run(b, nil, false)
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("cached result differs at %d/%d: %v vs %v", i, j, got[i][j], want[i][j])
			}
		}
	}
	if cache.Hits != 1 || cache.LayersSkipped != 2 {
		t.Errorf("hits %d, layers skipped %d", cache.Hits, cache.LayersSkipped)
	}
}
