package search

import (
	"math/rand/v2"
	"testing"

	"github.com/gptailor/gptailor/shared/plan"
)

func blockSpace() *Space {
	// stories shapes: 12352 attention and 33088 MLP parameters per layer;
	// the budget of one whole layer.
	return &Space{Layers: 5, Remove: 1, FineTunes: []string{"code", "docs", "math"}, Blocks: true, AttnParams: 12352, MLPParams: 33088, RemoveParams: 45440}
}

// Random and neighbouring block configs meet the parameter target without
// removing a sub-block they could keep, and their plans say the same.
func TestBlockConfigsMeetTheTarget(t *testing.T) {
	s := blockSpace()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	fam := &plan.Family{Models: []string{"base", "code", "docs", "math"}, Layers: 5, LayerParams: 45440, AttnParams: 12352, MLPParams: 33088}
	full := fam.OuterParams + 5*fam.LayerParams
	mixed := 0
	c := s.Random(r)
	for i := 0; i < 300; i++ {
		if i%2 == 1 {
			c = s.Neighbor(c, r)
		} else {
			c = s.Random(r)
		}
		got := s.RemovedParams(c)
		if got < s.RemoveParams {
			t.Fatalf("config %d removes %d < %d", i, got, s.RemoveParams)
		}
		for k := 0; k < 10; k++ {
			if blockRemoved(c, k) && got-s.blockSize(k) >= s.RemoveParams {
				t.Fatalf("config %d could keep sub-block %d", i, k)
			}
		}
		p, err := s.Plan(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := full - p.ParamCount(fam); n != got {
			t.Fatalf("plan removes %d parameters, config %d", n, got)
		}
		if len(s.Features(c)) != len(s.Features(s.Random(r))) {
			t.Fatal("feature length varies")
		}
		for _, sl := range p.Slots {
			if sl.Split() {
				mixed++
			}
		}
	}
	if mixed == 0 {
		t.Error("no plan used a sub-block recipe")
	}
	// A whole-layer start completes to the same removal in both sub-blocks.
	start := s.Complete(&Config{Removed: []bool{false, false, false, true, false}, Subset: make([]uint32, 5), Lambda: make([]float64, 5)})
	p, err := s.Plan(start, nil)
	if err != nil || len(p.Slots) != 4 || p.Slots[3].Split() || p.Slots[3].Take.Layer != 4 {
		t.Errorf("whole-layer start: %v %+v", err, p)
	}
	if start.Key() == (&Config{Removed: start.Removed, Subset: start.Subset, Lambda: start.Lambda}).Key() {
		t.Error("block and layer configs share a key")
	}
}

func TestBlockSpaceRefusals(t *testing.T) {
	s := blockSpace()
	s.RemoveParams = 5 * 45440
	if err := s.Validate(); err == nil {
		t.Error("removing every parameter accepted")
	}
	s = blockSpace()
	s.AttnParams = 0
	if err := s.Validate(); err == nil {
		t.Error("block granularity without sub-block sizes accepted")
	}
}
