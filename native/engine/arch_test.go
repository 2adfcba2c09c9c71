package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
)

// writeCheckpoint writes config.json and model.safetensors with random
// weights for cfg (as a map of JSON fields) and returns the tensors.
func writeCheckpoint(t *testing.T, dir string, cfgJSON map[string]any, dt safetensors.DType, seed uint64) map[string][]float32 {
	t.Helper()
	raw, _ := json.Marshal(cfgJSON)
	cfg, err := model.ParseConfig(raw, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
	r := rand.New(rand.NewPCG(seed, 1))
	out := map[string][]float32{}
	var tensors []safetensors.Tensor
	add := func(name string, shape []int, scale float64, offset float64) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(offset + r.NormFloat64()*scale)
		}
		b, err := safetensors.FromFloat32(dt, v)
		if err != nil {
			t.Fatal(err)
		}
		// keep what the file holds (rounded to dt)
		back, _ := safetensors.ToFloat32(dt, b)
		out[name] = back
		tensors = append(tensors, safetensors.Tensor{Name: name, DType: dt, Shape: shape, Data: b})
	}
	d, V := cfg.HiddenSize, cfg.VocabSize
	add("model.embed_tokens.weight", []int{V, d}, 1, 0)
	add("model.norm.weight", []int{d}, 0.1, 1)
	if !cfg.TieWordEmbeddings {
		add("lm_head.weight", []int{V, d}, 0.3, 0)
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", []int{d}, 0.1, 1)
		add(p+"post_attention_layernorm.weight", []int{d}, 0.1, 1)
		add(p+"self_attn.q_proj.weight", []int{cfg.QDim(), d}, 0.4, 0)
		add(p+"self_attn.k_proj.weight", []int{cfg.KVDim(), d}, 0.4, 0)
		add(p+"self_attn.v_proj.weight", []int{cfg.KVDim(), d}, 0.4, 0)
		add(p+"self_attn.o_proj.weight", []int{d, cfg.QDim()}, 0.2, 0)
		add(p+"mlp.gate_proj.weight", []int{cfg.IntermediateSize, d}, 0.3, 0)
		add(p+"mlp.up_proj.weight", []int{cfg.IntermediateSize, d}, 0.3, 0)
		add(p+"mlp.down_proj.weight", []int{d, cfg.IntermediateSize}, 0.2, 0)
		if cfg.HasAttentionBias() {
			add(p+"self_attn.q_proj.bias", []int{cfg.QDim()}, 0.5, 0)
			add(p+"self_attn.k_proj.bias", []int{cfg.KVDim()}, 0.5, 0)
			add(p+"self_attn.v_proj.bias", []int{cfg.KVDim()}, 0.5, 0)
		}
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, tensors, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "model.safetensors"), buf.Bytes(), 0o644)
	return out
}

// referenceLogProbs is a deliberately plain float64 transcription of Hugging
// Face's LlamaForCausalLM forward pass, written independently of the engine.
func referenceLogProbs(cfg *model.Config, w map[string][]float32, seq []int) []float64 {
	d, T := cfg.HiddenSize, len(seq)
	hd, H, KV := cfg.HeadDim, cfg.NumAttentionHeads, cfg.NumKeyValueHeads
	lin := func(x []float64, name string, rows int, bias string) []float64 {
		W := w[name]
		cols := len(W) / rows
		y := make([]float64, rows)
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				y[r] += float64(W[r*cols+c]) * x[c]
			}
			if bias != "" {
				y[r] += float64(w[bias][r])
			}
		}
		return y
	}
	norm := func(x []float64, name string) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+cfg.RMSNormEps)
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = float64(w[name][i]) * v * inv
		}
		return y
	}
	invFreq := make([]float64, hd/2)
	for i := range invFreq {
		invFreq[i] = 1 / math.Pow(cfg.RopeTheta, float64(2*i)/float64(hd))
		if rs := cfg.RopeScaling; rs != nil && rs.RopeType == "llama3" {
			wl := 2 * math.Pi / invFreq[i]
			lowWl := float64(rs.OriginalMaxPositionEmbeddings) / rs.LowFreqFactor
			highWl := float64(rs.OriginalMaxPositionEmbeddings) / rs.HighFreqFactor
			if wl > lowWl {
				invFreq[i] /= rs.Factor
			} else if wl >= highWl {
				s := (float64(rs.OriginalMaxPositionEmbeddings)/wl - rs.LowFreqFactor) / (rs.HighFreqFactor - rs.LowFreqFactor)
				invFreq[i] = (1-s)*invFreq[i]/rs.Factor + s*invFreq[i]
			}
		}
	}
	rope := func(v []float64, pos int) {
		for i := 0; i < hd/2; i++ {
			c, s := math.Cos(float64(pos)*invFreq[i]), math.Sin(float64(pos)*invFreq[i])
			a, b := v[i], v[i+hd/2]
			v[i], v[i+hd/2] = a*c-b*s, b*c+a*s
		}
	}
	x := make([][]float64, T)
	for t, tok := range seq {
		x[t] = make([]float64, d)
		for i := range x[t] {
			x[t][i] = float64(w["model.embed_tokens.weight"][tok*d+i])
		}
	}
	for l := 0; l < cfg.NumHiddenLayers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		bias := func(n string) string {
			if cfg.HasAttentionBias() {
				return p + "self_attn." + n + "_proj.bias"
			}
			return ""
		}
		q, k, v := make([][]float64, T), make([][]float64, T), make([][]float64, T)
		for t := range x {
			h := norm(x[t], p+"input_layernorm.weight")
			q[t] = lin(h, p+"self_attn.q_proj.weight", H*hd, bias("q"))
			k[t] = lin(h, p+"self_attn.k_proj.weight", KV*hd, bias("k"))
			v[t] = lin(h, p+"self_attn.v_proj.weight", KV*hd, bias("v"))
			for hh := 0; hh < H; hh++ {
				rope(q[t][hh*hd:(hh+1)*hd], t)
			}
			for hh := 0; hh < KV; hh++ {
				rope(k[t][hh*hd:(hh+1)*hd], t)
			}
		}
		for t := range x {
			att := make([]float64, H*hd)
			for hh := 0; hh < H; hh++ {
				g := hh / (H / KV)
				lo := 0
				if win := cfg.Window(); win > 0 && t-win+1 > 0 {
					lo = t - win + 1
				}
				sc := make([]float64, t+1)
				mx := math.Inf(-1)
				for u := lo; u <= t; u++ {
					for i := 0; i < hd; i++ {
						sc[u] += q[t][hh*hd+i] * k[u][g*hd+i]
					}
					sc[u] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[u])
				}
				var z float64
				for u := lo; u <= t; u++ {
					sc[u] = math.Exp(sc[u] - mx)
					z += sc[u]
				}
				for u := lo; u <= t; u++ {
					for i := 0; i < hd; i++ {
						att[hh*hd+i] += sc[u] / z * v[u][g*hd+i]
					}
				}
			}
			o := lin(att, p+"self_attn.o_proj.weight", d, "")
			for i := range o {
				x[t][i] += o[i]
			}
			h := norm(x[t], p+"post_attention_layernorm.weight")
			gt := lin(h, p+"mlp.gate_proj.weight", cfg.IntermediateSize, "")
			up := lin(h, p+"mlp.up_proj.weight", cfg.IntermediateSize, "")
			for i := range gt {
				gt[i] = gt[i] / (1 + math.Exp(-gt[i])) * up[i]
			}
			dn := lin(gt, p+"mlp.down_proj.weight", d, "")
			for i := range dn {
				x[t][i] += dn[i]
			}
		}
	}
	head := "lm_head.weight"
	if cfg.TieWordEmbeddings {
		head = "model.embed_tokens.weight"
	}
	out := make([]float64, T-1)
	for t := 0; t < T-1; t++ {
		logits := lin(norm(x[t], "model.norm.weight"), head, cfg.VocabSize, "")
		mx := math.Inf(-1)
		for _, l := range logits {
			mx = math.Max(mx, l)
		}
		var z float64
		for _, l := range logits {
			z += math.Exp(l - mx)
		}
		out[t] = logits[seq[t+1]] - mx - math.Log(z)
	}
	return out
}

// Every architecture of the table, with the features that tell them apart,
// against the plain reference above on a tiny synthetic checkpoint.
func TestArchitecturesAgainstReference(t *testing.T) {
	base := func(mt string) map[string]any {
		return map[string]any{"model_type": mt, "hidden_size": 24, "intermediate_size": 40, "num_hidden_layers": 2,
			"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 37, "rms_norm_eps": 1e-6,
			"rope_theta": 500.0, "tie_word_embeddings": true, "max_position_embeddings": 64}
	}
	qwen := base("qwen2") // biases by default, untied head, head_dim ≠ hidden/heads
	qwen["tie_word_embeddings"] = false
	qwen["head_dim"] = 10
	llama3 := base("llama")
	llama3["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
	mistral := base("mistral")
	mistral["sliding_window"] = 5
	llamaBias := base("llama")
	llamaBias["attention_bias"] = true
	cases := []struct {
		name string
		cfg  map[string]any
		dt   safetensors.DType
	}{
		{"qwen2", qwen, safetensors.F32},
		{"llama3-rope", llama3, safetensors.F16},
		{"mistral-window", mistral, safetensors.BF16},
		{"llama-attention-bias", llamaBias, safetensors.F32},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), c.name)
			w := writeCheckpoint(t, dir, c.cfg, c.dt, uint64(i+1))
			m, err := model.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			net, err := NewLoader().Net(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			// 16-bit checkpoints stay 16-bit where the kernel reads such panels.
			if half := c.dt != safetensors.F32 && kernel.HalfWeights(); net.Layers[0].QKV.Half() != half || net.Layers[1].Down.Half() != half {
				t.Errorf("%s weights with kernel %s: 16-bit panels %v, want %v", c.dt, kernel.Active(), net.Layers[0].QKV.Half(), half)
			}
			seqs := [][]int{{1, 5, 9, 2, 36, 7, 7, 0, 11, 30, 4, 8, 19, 22}, {3, 4}}
			got, err := net.LogProbs(seqs)
			if err != nil {
				t.Fatal(err)
			}
			for s, seq := range seqs {
				want := referenceLogProbs(m.Config, w, seq)
				for p := range want {
					if math.Abs(got[s][p]-want[p]) > 2e-4*(1+math.Abs(want[p])) {
						t.Errorf("seq %d position %d: log-prob %.6f, reference %.6f", s, p, got[s][p], want[p])
					}
				}
			}
		})
	}
}
