package search

import (
	"context"
	"fmt"
	"os"
	"testing"
)

func TestZZTraceAnalysis(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	gen := storiesEvaluator(t, 1<<30, true)
	n, lo, hi := 60, 3, 27
	trace, err := Search(context.Background(), gen.Space, gen, Settings{Optimizer: "bo", Seed: 2, Trials: n, MinBudget: lo, MaxBudget: hi}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// per sample j, set of prefix keys seen
	seen := map[string]int{} // prefix key -> max budget covered
	var total, ideal float64
	for _, tr := range trace {
		p, _ := gen.Space.Plan(tr.Config, gen.Models)
		L := len(p.Slots)
		key := p.OuterHash(p.Embed)
		keys := make([]string, L)
		for i := range p.Slots {
			key += "/" + p.SlotHash(i)
			keys[i] = key
		}
		for j := 0; j < tr.Budget; j++ {
			first := 0
			for k := L; k > 0; k-- {
				if seen[keys[k-1]] > j {
					first = k
					break
				}
			}
			total += float64(L)
			ideal += float64(L - first)
		}
		for _, k := range keys {
			seen[k] = max(seen[k], tr.Budget)
		}
		fmt.Printf("%3d b=%2d %s\n", 0, tr.Budget, tr.Config.Key())
	}
	fmt.Printf("layer-samples total %.0f, with ideal prefix cache %.0f: %.2fx\n", total, ideal, total/ideal)
}

type zzEval struct{ L int }

func (z *zzEval) Tasks() []string { return []string{"a", "b"} }
func (z *zzEval) Evaluate(_ context.Context, c *Config, budget int) ([]float64, []float64, error) {
	var a, b float64
	for i := range c.Removed {
		if c.Removed[i] {
			a += float64(z.L-i) * 0.1
			b += float64(i%7) * 0.1
			continue
		}
		a += 0.05 * float64(popcount(c.Subset[i]&1)) * c.Lambda[i]
		b += 0.05 * float64(popcount(c.Subset[i]&2))
	}
	return []float64{a, b}, []float64{1 / (1 + a), 1 / (1 + b)}, nil
}

func zzBound(space *Space, trace []Trial) (float64, float64) {
	seen := map[string]int{}
	var total, ideal float64
	for _, tr := range trace {
		var keys []string
		key := ""
		for i := range tr.Config.Removed {
			if tr.Config.Removed[i] {
				continue
			}
			key += fmt.Sprintf("/%d:%x", i, tr.Config.Subset[i])
			if popcount(tr.Config.Subset[i]) >= 2 {
				key += fmt.Sprintf("@%.6f", tr.Config.Lambda[i])
			}
			keys = append(keys, key)
		}
		L := len(keys)
		for j := 0; j < tr.Budget; j++ {
			first := 0
			for k := L; k > 0; k-- {
				if seen[keys[k-1]] > j {
					first = k
					break
				}
			}
			total += float64(L)
			ideal += float64(L - first)
		}
		for _, k := range keys {
			seen[k] = max(seen[k], tr.Budget)
		}
	}
	return total, ideal
}

func TestZZLong(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	for _, opt := range []string{"bo", "random"} {
		space := &Space{Layers: 30, Remove: 6, FineTunes: []string{"a", "b", "c"}}
		trace, err := Search(context.Background(), space, &zzEval{L: 30}, Settings{Optimizer: opt, Seed: 0, Trials: 500, MinBudget: 100, MaxBudget: 1000, WarmStart: true}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		tot, id := zzBound(space, trace)
		fmt.Printf("%s: %.0f vs %.0f: %.2fx\n", opt, tot, id, tot/id)
	}
}
