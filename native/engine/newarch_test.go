package engine

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
)

// newArchCases are small random models of each newer architecture, with
// every feature switched on at values where it changes the logits (soft
// caps of 5 and 3, not Gemma 2's 50 and 30; a window of 6 tokens).
func newArchCases() []struct {
	name string
	cfg  hfConfig
	dt   safetensors.DType
} {
	base := func(mt, arch string) hfConfig {
		return hfConfig{"architectures": []any{arch}, "model_type": mt, "hidden_size": 32.0, "intermediate_size": 48.0,
			"num_hidden_layers": 3.0, "num_attention_heads": 4.0, "num_key_value_heads": 2.0, "head_dim": 16.0,
			"vocab_size": 61.0, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "max_position_embeddings": 64.0,
			"tie_word_embeddings": false}
	}
	qwen3 := base("qwen3", "Qwen3ForCausalLM") // head_dim 16 × 4 heads = 64 ≠ hidden 32
	qwen3["rope_theta"] = 1e6
	qwen3tied := base("qwen3", "Qwen3ForCausalLM")
	qwen3tied["tie_word_embeddings"] = true
	gemma2 := base("gemma2", "Gemma2ForCausalLM")
	gemma2["num_hidden_layers"] = 4.0
	gemma2["hidden_activation"] = "gelu_pytorch_tanh"
	gemma2["query_pre_attn_scalar"] = 24.0
	gemma2["attn_logit_softcapping"] = 5.0
	gemma2["final_logit_softcapping"] = 3.0
	gemma2["sliding_window"] = 6.0
	gemma2["tie_word_embeddings"] = true
	gemma3 := base("gemma3_text", "Gemma3ForCausalLM")
	gemma3["num_hidden_layers"] = 7.0
	gemma3["num_key_value_heads"] = 1.0
	gemma3["sliding_window_pattern"] = 3.0 // layers 2 and 5 global
	gemma3["sliding_window"] = 6.0
	gemma3["rope_theta"] = 1e6
	gemma3["rope_local_base_freq"] = 10000.0
	gemma3["rope_scaling"] = map[string]any{"rope_type": "linear", "factor": 8.0}
	gemma3["query_pre_attn_scalar"] = 16.0
	gemma3["final_logit_softcapping"] = nil
	gemma3["attn_logit_softcapping"] = nil
	gemma3["tie_word_embeddings"] = true
	gemma3types := base("gemma3_text", "Gemma3ForCausalLM")
	gemma3types["sliding_window"] = 5.0
	gemma3types["layer_types"] = []any{"full_attention", "sliding_attention", "sliding_attention"}
	gemma3types["query_pre_attn_scalar"] = 16.0
	phi3 := base("phi3", "Phi3ForCausalLM")
	phi3["original_max_position_embeddings"] = 16.0
	phi3["sliding_window"] = 40.0
	r := rand.New(rand.NewPCG(9, 9))
	factors := func() []any {
		out := make([]any, 8)
		for i := range out {
			out[i] = 1 + 3*r.Float64()
		}
		return out
	}
	phi3["rope_scaling"] = map[string]any{"type": "longrope", "short_factor": factors(), "long_factor": factors()}
	return []struct {
		name string
		cfg  hfConfig
		dt   safetensors.DType
	}{
		{"qwen3", qwen3, safetensors.F32},
		{"qwen3-tied-bf16", qwen3tied, safetensors.BF16},
		{"gemma2", gemma2, safetensors.F32},
		{"gemma2-bf16", gemma2, safetensors.BF16},
		{"gemma3", gemma3, safetensors.F32},
		{"gemma3-layer-types", gemma3types, safetensors.F32},
		{"phi3-longrope", phi3, safetensors.F32},
	}
}

// refSeqs are the sequences each model runs: short ones, one longer than
// Gemma's window of 6 and Phi-3's pre-training context of 16 (longrope's
// long factors), one exactly 16.
var refSeqs = [][]int{
	{1, 5, 9, 2, 36, 7, 7, 0, 11, 30, 4, 8, 19, 22, 60, 3, 3, 17, 41, 12, 50, 6, 28},
	{3, 4},
	{7, 1, 59, 13, 13, 2, 40, 33, 8, 9, 10, 44, 45, 21, 20, 5},
	{11},
}

// Every newer architecture against the float64 Hugging Face reference,
// logit by logit, on every kernel this CPU runs. The float32 kernels must
// agree within 1e-4 (relative to the logit's size beyond 1); the bfloat16
// compute kernel (avx512bf16) within its own, looser bound.
func TestNewArchitecturesAgainstHFReference(t *testing.T) {
	prev := kernel.Active()
	defer kernel.Select(prev)
	for ci, c := range newArchCases() {
		dir := filepath.Join(t.TempDir(), c.name)
		w := hfWeights(t, dir, c.cfg, c.dt, uint64(ci+1))
		m, err := model.Open(dir)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := make([][][]float64, len(refSeqs))
		for s, seq := range refSeqs {
			want[s] = hfLogits(c.cfg, w, c.dt, seq)
		}
		for _, k := range kernel.Names() {
			if ok, _ := kernel.Runnable(k); !ok {
				continue
			}
			kernel.Select(k)
			net, err := NewLoader().Net(m, nil)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			tol := 1e-4
			if kernel.ComputeBF16() {
				tol = 0.1 // activations rounded to bfloat16 (the golden NLL test bounds it too)
			}
			worst, worstLogP := 0.0, 0.0
			for s, seq := range refSeqs {
				rows := make([]Row, len(seq))
				for i := range rows {
					rows[i] = Row{0, i}
				}
				err := net.Rows([]Seq{{Tokens: seq}}, rows, func(i int, logits []float32) {
					got := make([]float64, len(logits))
					for v, l := range logits {
						got[v] = float64(l)
					}
					lse, lseRef := logSumExp(got), logSumExp(want[s][i])
					for v := range logits {
						worstLogP = max(worstLogP, math.Abs((got[v]-lse)-(want[s][i][v]-lseRef)))
					}
					for v, l := range logits {
						ref := want[s][i][v]
						diff := math.Abs(float64(l) - ref)
						worst = max(worst, diff/(1+math.Abs(ref)))
						if diff > tol*(1+math.Abs(ref)) {
							t.Errorf("%s kernel %s seq %d position %d token %d: logit %.6f, reference %.6f", c.name, k, s, i, v, l, ref)
						}
					}
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%s, kernel %s: largest |Δ logit|/(1+|logit|) %.2g, largest |Δ log p| %.2g", c.name, k, worst, worstLogP)
			if !kernel.ComputeBF16() && worstLogP > 1e-4 {
				t.Errorf("%s kernel %s: log-probabilities differ from the reference's by %.2g, above 1e-4", c.name, k, worstLogP)
			}
		}
		m.Close()
	}
}

// A checkpoint lacking a tensor its architecture needs is refused naming
// the tensor; a family mixing architectures is refused naming the field.
func TestNewArchitectureMissingTensorsAndMixedFamily(t *testing.T) {
	cases := newArchCases()
	g2, g3, q3 := cases[2].cfg, cases[4].cfg, cases[0].cfg
	dir := filepath.Join(t.TempDir(), "g3-without-qk-norms")
	hfWeights(t, dir, g2, safetensors.F32, 1)
	raw, _ := json.Marshal(g3)
	g3l := hfConfig{}
	json.Unmarshal(raw, &g3l)
	g3l["num_hidden_layers"] = 4.0
	g3l["num_key_value_heads"] = 2.0
	raw, _ = json.Marshal(g3l)
	os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
	if _, err := model.Open(dir); err == nil || !strings.Contains(err.Error(), "missing tensor [model.layers.0.self_attn.q_norm.weight]") {
		t.Errorf("gemma3 config over gemma2 tensors: %v", err)
	}
	a, b := filepath.Join(t.TempDir(), "qwen3"), filepath.Join(t.TempDir(), "gemma2")
	hfWeights(t, a, q3, safetensors.F32, 1)
	hfWeights(t, b, g2, safetensors.F32, 1)
	_, err := model.OpenFamily([]model.Member{{Alias: "base", Dir: a}, {Alias: "g", Dir: b}})
	if err == nil || !strings.Contains(err.Error(), `model_type "gemma2" differs from the base's "qwen3"`) {
		t.Errorf("mixed family: %v", err)
	}
}

// KV-cached decoding of every newer architecture gives the full forward's
// logits at every position: Gemma's soft caps and alternating windows,
// Qwen3's q/k norms, Gemma 3's local RoPE base. Phi-3's sequences stay
// within its pre-training context: past it, longrope switches every
// position's factors for a full forward but (as in Hugging Face's
// generate) only the new positions' for a cache, so the two differ by
// design.
func TestKVCacheMatchesForwardNewArchitectures(t *testing.T) {
	for ci, c := range newArchCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), c.name)
			hfWeights(t, dir, c.cfg, c.dt, uint64(ci+1))
			lens := []int{20, 13, 9}
			if strings.HasPrefix(c.name, "phi3") {
				lens = []int{14, 16, 9}
			}
			eachKernel(t, func(t *testing.T) {
				m, err := model.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				net, err := NewLoader().Net(m, nil)
				if err != nil {
					t.Fatal(err)
				}
				checkCached(t, net, randomSeqs(61, lens...), 4)
			})
		})
	}
}

// logSumExp is log Σ exp(x), in float64.
func logSumExp(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(v - m)
	}
	return m + math.Log(sum)
}
