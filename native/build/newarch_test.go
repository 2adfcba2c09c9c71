package build

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// newArchFamily writes a random base and fine-tunes code and docs (the
// base plus noise) of the architecture cfgJSON describes.
func newArchFamily(t *testing.T, cfgJSON map[string]any) *model.Family {
	t.Helper()
	raw, _ := json.Marshal(cfgJSON)
	cfg, err := model.ParseConfig(raw, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Spec()
	root := t.TempDir()
	dirs := map[string]string{}
	for k, alias := range []string{"base", "code", "docs"} {
		br := rand.New(rand.NewPCG(1, 2))
		nr := rand.New(rand.NewPCG(uint64(k), 9))
		var ts []safetensors.Tensor
		add := func(name string, shape []int, v []float32) {
			for i := range v {
				if k > 0 {
					v[i] += float32(nr.NormFloat64() * 0.05)
				}
			}
			b, _ := safetensors.FromFloat32(safetensors.F32, v)
			ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: shape, Data: b})
		}
		table := func() []float32 {
			v := make([]float32, cfg.VocabSize*cfg.HiddenSize)
			for i := range v {
				v[i] = float32(br.NormFloat64() * 0.5)
			}
			return v
		}
		add(a.Embed, []int{cfg.VocabSize, cfg.HiddenSize}, table())
		for i := 0; i < cfg.NumHiddenLayers; i++ {
			lt := engine.RandomTensors(cfg, br)
			for _, r := range cfg.Roles() {
				add(a.TensorName(r, i), cfg.ExpectedShape(r), lt[r])
			}
		}
		add(a.FinalNorm, []int{cfg.HiddenSize}, make([]float32, cfg.HiddenSize))
		if !cfg.TieWordEmbeddings {
			add(a.LMHead, []int{cfg.VocabSize, cfg.HiddenSize}, table())
		}
		var buf bytes.Buffer
		if err := safetensors.Write(&buf, ts, nil); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, alias)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
		os.WriteFile(filepath.Join(dir, "model.safetensors"), buf.Bytes(), 0o644)
		dirs[alias] = dir
	}
	return family(t, dirs)
}

// Every newer architecture: a plan with takes across the family, a
// sub-block split, a skipped attention, a TIES merge and a cross-layer
// merge builds into a checkpoint that opens as a plain model and scores
// exactly what the plan's net scores; a Gemma build writes each slot's
// layer kind (its source layer's) as layer_types.
func TestBuildNewArchitectures(t *testing.T) {
	common := func(mt, arch string) map[string]any {
		return map[string]any{"architectures": []string{arch}, "model_type": mt, "hidden_size": 32, "intermediate_size": 48,
			"num_hidden_layers": 6, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 64,
			"max_position_embeddings": 64, "rms_norm_eps": 1e-6, "tie_word_embeddings": false}
	}
	qwen3 := common("qwen3", "Qwen3ForCausalLM")
	gemma2 := common("gemma2", "Gemma2ForCausalLM")
	gemma2["sliding_window"], gemma2["query_pre_attn_scalar"], gemma2["tie_word_embeddings"] = 4, 16, true
	gemma3 := common("gemma3_text", "Gemma3ForCausalLM")
	gemma3["sliding_window"], gemma3["sliding_window_pattern"], gemma3["query_pre_attn_scalar"] = 4, 3, 16
	gemma3["rope_theta"], gemma3["rope_local_base_freq"] = 1e6, 1e4
	phi3 := common("phi3", "Phi3ForCausalLM")
	phi3["original_max_position_embeddings"] = 8
	phi3["rope_scaling"] = map[string]any{"type": "longrope", "short_factor": []float64{1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7},
		"long_factor": []float64{1, 2, 3, 4, 5, 6, 7, 8}}
	p, err := plan.Parse([]byte(`{"version":1,"slots":[
		{"take":["base",0]},
		{"take":["code",2],"mlp":["docs",1]},
		{"merge":{"method":"ties","layer":3,"models":["base","code","docs"],"weights":[1,1,1],"density":0.5}},
		{"take":["docs",4],"attn":"none"},
		{"merge":{"method":"task_arithmetic","layer":5,"models":["base","code"],"layers":[5,4],"weights":[1,1],"lambda":0.5}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	win := [][]int{{1, 40, 20, 30, 55, 7, 9, 2, 63, 0, 12, 13}}
	for _, c := range []struct {
		name  string
		cfg   map[string]any
		kinds []string
	}{
		{"qwen3", qwen3, nil},
		{"gemma2", gemma2, []string{"sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "full_attention"}},
		{"gemma3", gemma3, []string{"sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "full_attention"}},
		{"phi3", phi3, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newArchFamily(t, c.cfg)
			b := stitch.New(f, stitch.DefaultCacheBytes)
			out := filepath.Join(t.TempDir(), "built")
			if _, err := Build(b, p, Options{Out: out}); err != nil {
				t.Fatal(err)
			}
			m, err := model.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if got := m.Config.LayerTypes; !slices.Equal(got, c.kinds) {
				t.Errorf("layer_types %v, want %v", got, c.kinds)
			}
			loaded, err := engine.NewLoader().Net(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			mem, err := b.Net(p)
			if err != nil {
				t.Fatal(err)
			}
			x, err := loaded.LogProbs(win)
			if err != nil {
				t.Fatal(err)
			}
			y, _ := mem.LogProbs(win)
			for k := range x[0] {
				if x[0][k] != y[0][k] {
					t.Fatalf("position %d: built %v, plan %v", k, x[0][k], y[0][k])
				}
			}
		})
	}
}
