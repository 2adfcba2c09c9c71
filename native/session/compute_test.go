package session

import (
	"context"
	"math/rand/v2"
	"sort"
	"testing"

	"gonum.org/v1/gonum/stat"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/search"
)

// ranks gives each value its rank (0 = smallest).
func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	out := make([]float64, len(v))
	for r, i := range idx {
		out[i] = float64(r)
	}
	return out
}

// Search decisions barely change with --compute bf16: 24 random candidates
// of the demo space rank almost the same by mean retention computed in
// float32 and in bfloat16 (Spearman and Kendall rank correlation).
func TestBF16ComputeKeepsRanking(t *testing.T) {
	if ok, why := kernel.Runnable("avx512bf16"); !ok {
		t.Skip(why)
	}
	if testing.Short() {
		t.Skip("48 evaluations")
	}
	prev := kernel.Active()
	defer kernel.Select(prev)
	objectives := func(kern string) ([]float64, []*search.Config) {
		kernel.Select(kern)
		ev := storiesEvaluator(t, 1<<30, false) // weights packed for this kernel
		r := rand.New(rand.NewPCG(5, 5))
		opt := search.Optimizers["random"](ev.Space)
		var out []float64
		var cs []*search.Config
		avoid := map[string]bool{}
		for len(out) < 24 {
			c := opt.Ask(r, nil, avoid)
			avoid[c.Key()] = true
			o, err := ev.Evaluate(context.Background(), c, 9)
			if err != nil {
				t.Fatal(err)
			}
			out, cs = append(out, o.Objective), append(cs, c)
		}
		return out, cs
	}
	f32, c1 := objectives(prev)
	bf16, c2 := objectives("avx512bf16")
	var worst float64
	for i := range c1 {
		if c1[i].Key() != c2[i].Key() {
			t.Fatal("the two runs drew different candidates")
		}
		worst = max(worst, abs(f32[i]-bf16[i]))
	}
	rho := stat.Correlation(ranks(f32), ranks(bf16), nil)
	tau := stat.Kendall(f32, bf16, nil)
	t.Logf("24 candidates, f32 vs bf16 compute: Spearman %.3f, Kendall %.3f, largest objective change %.4f", rho, tau, worst)
	if rho < 0.95 || tau < 0.85 {
		t.Errorf("bf16 compute reorders candidates: Spearman %.3f, Kendall %.3f", rho, tau)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
