package engine

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gptailor/gptailor/native/model"
)

// A Gemma layer taken into another slot keeps its source layer's kind
// (sliding or global, with its window and RoPE base). This measures both
// choices on a random Gemma 3 stack with layers cut out of the middle: the
// mean KL divergence from the full model of the cut model with kinds by
// source layer (the default) and with kinds by slot position, on
// sequences four windows long.
func TestGemmaKindBySlotOrSource(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 128,
		"num_hidden_layers": 12, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16, "vocab_size": 97,
		"max_position_embeddings": 256, "sliding_window": 16, "sliding_window_pattern": 3, "rope_theta": 1e6,
		"query_pre_attn_scalar": 16, "tie_word_embeddings": true})
	cfg, err := model.ParseConfig(raw, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	full := RandomNet(cfg, 5)
	r := rand.New(rand.NewPCG(1, 1))
	seqs := make([][]int, 4)
	for i := range seqs {
		seqs[i] = make([]int, 64)
		for j := range seqs[i] {
			seqs[i][j] = r.IntN(cfg.VocabSize)
		}
	}
	logProbs := func(n *Net) [][]float64 {
		var out [][]float64
		for _, s := range seqs {
			rows := make([]Row, len(s))
			for i := range rows {
				rows[i] = Row{0, i}
			}
			n.Rows([]Seq{{Tokens: s}}, rows, func(_ int, l []float32) {
				lse := 0.0
				mx := math.Inf(-1)
				for _, v := range l {
					mx = math.Max(mx, float64(v))
				}
				for _, v := range l {
					lse += math.Exp(float64(v) - mx)
				}
				lp := make([]float64, len(l))
				for i, v := range l {
					lp[i] = float64(v) - mx - math.Log(lse)
				}
				out = append(out, lp)
			})
		}
		return out
	}
	ref := logProbs(full)
	kl := func(n *Net) float64 {
		got := logProbs(n)
		var s float64
		for i := range ref {
			for v, p := range ref[i] {
				s += math.Exp(p) * (p - got[i][v])
			}
		}
		return s / float64(len(ref))
	}
	for _, cut := range [][]int{{3, 4}, {1, 2, 3, 4}, {6, 7}, {9}} {
		var keep []int
		var layers []*Layer
		for i := range full.Layers {
			if i < cut[0] || i > cut[len(cut)-1] {
				keep = append(keep, i)
				layers = append(layers, full.Layers[i])
			}
		}
		bySlot := NewNet(cfg, full.Head, layers)
		bySource := NewNet(cfg, full.Head, layers)
		for k, i := range keep {
			bySlot.Kinds = append(bySlot.Kinds, cfg.KindAt(k))
			if bySource.kindAt(k) != cfg.KindAt(i) {
				t.Fatalf("slot %d holds layer %d of kind %v, runs as %v", k, i, cfg.KindAt(i), bySource.kindAt(k))
			}
		}
		a, b := kl(bySlot), kl(bySource)
		if a == b || math.IsNaN(a) || math.IsNaN(b) {
			t.Errorf("cut %v: KL by slot %g, by source %g: the kinds made no difference", cut, a, b)
		}
		t.Logf("cut layers %v: mean KL from the full model %.4f nats with kinds by slot, %.4f by source layer", cut, a, b)
	}
}
