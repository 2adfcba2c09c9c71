package prune

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
)

// A net whose layer 2 adds nothing to the residual stream (zero output
// projections): every baseline must find it.
func identityAt(t *testing.T, at int) (*engine.Net, [][]int) {
	cfg := engine.SyntheticConfig(32, 48, 5, 4, 2, 64)
	r := rand.New(rand.NewPCG(1, 2))
	var layers []*engine.Layer
	for i := 0; i < 5; i++ {
		tn := engine.RandomTensors(cfg, r)
		if i == at {
			clear(tn[model.O])
			clear(tn[model.Down])
		}
		l, err := engine.NewLayer(cfg, tn)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	emb := make([]float32, 64*32)
	for i := range emb {
		emb[i] = float32(r.NormFloat64())
	}
	norm := make([]float32, 32)
	for i := range norm {
		norm[i] = 1
	}
	h, _ := engine.NewHead(cfg, &engine.HeadTensors{Embed: emb, FinalNorm: norm})
	var windows [][]int
	for w := 0; w < 4; w++ {
		var s []int
		for i := 0; i < 24; i++ {
			s = append(s, r.IntN(64))
		}
		windows = append(windows, s)
	}
	return engine.NewNet(cfg, h, layers), windows
}

func TestBaselinesFindTheIdleLayer(t *testing.T) {
	net, windows := identityAt(t, 2)
	for _, m := range []string{"shortgpt", "angular", "sleb"} {
		r, err := Run(m, net, windows, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Removed, []int{2}) {
			t.Errorf("%s removed %v (scores %v)", m, r.Removed, r.Scores)
		}
	}
	r, _ := Run("shortgpt", net, windows, 1)
	if r.Scores[2] > 1e-6 {
		t.Errorf("block influence of an identity layer = %g", r.Scores[2])
	}
	if r, _ := Run("last", net, nil, 2); !reflect.DeepEqual(r.Removed, []int{2, 3}) {
		t.Errorf("last-2 removed %v", r.Removed)
	}
	if _, err := Run("laco", net, windows, 1); err == nil {
		t.Error("unknown method accepted")
	}
	if _, err := Run("shortgpt", net, windows, 5); err == nil {
		t.Error("removing every layer accepted")
	}
	p := Plan(nil, 5, []int{1, 3}, "x")
	if len(p.Slots) != 3 || p.Slots[1].Take.Layer != 2 {
		t.Errorf("plan %+v", p.Slots)
	}
}
