package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/safetensors"
)

// This file is an independent float64 transcription of Hugging Face's
// Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM (text) and
// Phi3ForCausalLM forward passes (transformers' modeling_qwen3.py,
// modeling_gemma2.py, modeling_gemma3.py, modeling_phi3.py and
// modeling_rope_utils.py), written from that code and the config.json
// semantics its configuration classes give — not from the engine or the
// architecture table: tensor names, defaults and layer kinds are spelled
// out here again.

// hfConfig reads config.json values with Hugging Face's defaults.
type hfConfig map[string]any

func (c hfConfig) num(k string, def float64) float64 {
	switch v := c[k].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	return def
}

func (c hfConfig) int(k string, def int) int { return int(c.num(k, float64(def))) }

func (c hfConfig) has(k string) bool { v, ok := c[k]; return ok && v != nil }

// hfWeights draws a random checkpoint for cfg with Hugging Face's tensor
// names, writes it as dt, and returns the values as stored (rounded to dt).
func hfWeights(t *testing.T, dir string, cfg hfConfig, dt safetensors.DType, seed uint64) map[string][]float64 {
	t.Helper()
	mt := cfg["model_type"].(string)
	d, inter, L := cfg.int("hidden_size", 0), cfg.int("intermediate_size", 0), cfg.int("num_hidden_layers", 0)
	H, KV, V := cfg.int("num_attention_heads", 0), cfg.int("num_key_value_heads", 0), cfg.int("vocab_size", 0)
	hd := cfg.int("head_dim", d/H)
	gemma := mt == "gemma2" || mt == "gemma3_text"
	r := rand.New(rand.NewPCG(seed, 7))
	out := map[string][]float64{}
	var tensors []safetensors.Tensor
	add := func(name string, shape []int, norm bool) {
		n := 1
		for _, s := range shape {
			n *= s
		}
		v := make([]float32, n)
		for i := range v {
			switch {
			case norm && gemma: // weights of (1 + w)
				v[i] = float32(r.NormFloat64() * 0.3)
			case norm:
				v[i] = float32(1 + r.NormFloat64()*0.3)
			default:
				v[i] = float32(r.NormFloat64() * 1.2 / math.Sqrt(float64(shape[len(shape)-1])))
			}
		}
		b, err := safetensors.FromFloat32(dt, v)
		if err != nil {
			t.Fatal(err)
		}
		back, _ := safetensors.ToFloat32(dt, b)
		f := make([]float64, n)
		for i, x := range back {
			f[i] = float64(x)
		}
		out[name] = f
		tensors = append(tensors, safetensors.Tensor{Name: name, DType: dt, Shape: shape, Data: b})
	}
	add("model.embed_tokens.weight", []int{V, d}, false)
	for l := 0; l < L; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		add(p+"input_layernorm.weight", []int{d}, true)
		add(p+"post_attention_layernorm.weight", []int{d}, true)
		if mt == "phi3" {
			add(p+"self_attn.qkv_proj.weight", []int{(H + 2*KV) * hd, d}, false)
			add(p+"mlp.gate_up_proj.weight", []int{2 * inter, d}, false)
		} else {
			add(p+"self_attn.q_proj.weight", []int{H * hd, d}, false)
			add(p+"self_attn.k_proj.weight", []int{KV * hd, d}, false)
			add(p+"self_attn.v_proj.weight", []int{KV * hd, d}, false)
			add(p+"mlp.gate_proj.weight", []int{inter, d}, false)
			add(p+"mlp.up_proj.weight", []int{inter, d}, false)
		}
		add(p+"self_attn.o_proj.weight", []int{d, H * hd}, false)
		add(p+"mlp.down_proj.weight", []int{d, inter}, false)
		if mt == "qwen3" || mt == "gemma3_text" {
			add(p+"self_attn.q_norm.weight", []int{hd}, true)
			add(p+"self_attn.k_norm.weight", []int{hd}, true)
		}
		if gemma {
			add(p+"pre_feedforward_layernorm.weight", []int{d}, true)
			add(p+"post_feedforward_layernorm.weight", []int{d}, true)
		}
	}
	add("model.norm.weight", []int{d}, true)
	if tie, _ := cfg["tie_word_embeddings"].(bool); !tie {
		add("lm_head.weight", []int{V, d}, false)
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, tensors, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(cfg)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
	os.WriteFile(filepath.Join(dir, "model.safetensors"), buf.Bytes(), 0o644)
	return out
}

// hfLogits returns the logits after every token of seq (one call of the
// model on that sequence alone), in float64.
func hfLogits(cfg hfConfig, w map[string][]float64, dt safetensors.DType, seq []int) [][]float64 {
	mt := cfg["model_type"].(string)
	d, inter, L := cfg.int("hidden_size", 0), cfg.int("intermediate_size", 0), cfg.int("num_hidden_layers", 0)
	H, KV, V := cfg.int("num_attention_heads", 0), cfg.int("num_key_value_heads", 0), cfg.int("vocab_size", 0)
	hd := cfg.int("head_dim", d/H)
	eps := cfg.num("rms_norm_eps", 1e-6)
	gemma := mt == "gemma2" || mt == "gemma3_text"
	T := len(seq)

	// RMSNorm: Gemma's multiplies by (1 + w), the others' by w.
	rms := func(x, wt []float64) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
		y := make([]float64, len(x))
		for i, v := range x {
			g := wt[i]
			if gemma {
				g = 1 + wt[i]
			}
			y[i] = v * inv * g
		}
		return y
	}
	linear := func(W []float64, x []float64, rows int) []float64 {
		cols := len(x)
		y := make([]float64, rows)
		for r := 0; r < rows; r++ {
			var s float64
			for c := 0; c < cols; c++ {
				s += W[r*cols+c] * x[c]
			}
			y[r] = s
		}
		return y
	}
	capf := func(x, cp float64) float64 { return cp * math.Tanh(x/cp) }

	// Layer kinds.
	sliding := func(l int) bool {
		if lt, ok := cfg["layer_types"].([]any); ok {
			return lt[l] == "sliding_attention"
		}
		switch mt {
		case "gemma2":
			return (l+1)%2 != 0
		case "gemma3_text":
			return (l+1)%cfg.int("sliding_window_pattern", 6) != 0
		}
		return cfg.has("sliding_window") && cfg["use_sliding_window"] != false
	}
	window := cfg.int("sliding_window", 4096)

	// RoPE: inverse frequencies and the cos/sin factor, by layer kind.
	rope := func(l int) ([]float64, float64) {
		base := cfg.num("rope_theta", 10000)
		rs, _ := cfg["rope_scaling"].(map[string]any)
		if mt == "gemma3_text" && sliding(l) {
			base, rs = cfg.num("rope_local_base_freq", 10000), nil
		}
		inv := make([]float64, hd/2)
		for i := range inv {
			inv[i] = 1 / math.Pow(base, float64(2*i)/float64(hd))
		}
		if rs == nil {
			return inv, 1
		}
		typ, _ := rs["rope_type"].(string)
		if typ == "" {
			typ, _ = rs["type"].(string)
		}
		switch typ {
		case "linear":
			for i := range inv {
				inv[i] /= rs["factor"].(float64)
			}
		case "longrope", "su":
			orig := cfg.int("original_max_position_embeddings", 0)
			factor := cfg.num("max_position_embeddings", 0) / float64(orig)
			ext := rs["short_factor"].([]any)
			if T > orig {
				ext = rs["long_factor"].([]any)
			}
			for i := range inv {
				inv[i] /= ext[i].(float64)
			}
			return inv, math.Sqrt(1 + math.Log(factor)/math.Log(float64(orig)))
		}
		return inv, 1
	}
	rotate := func(v []float64, pos int, inv []float64, sc float64) {
		half := hd / 2
		for i := 0; i < half; i++ {
			c, s := math.Cos(float64(pos)*inv[i])*sc, math.Sin(float64(pos)*inv[i])*sc
			a, b := v[i], v[i+half]
			v[i], v[i+half] = a*c-b*s, b*c+a*s
		}
	}
	scaling := 1 / math.Sqrt(float64(hd))
	if gemma {
		scaling = 1 / math.Sqrt(cfg.num("query_pre_attn_scalar", 256))
	}
	attnCap := cfg.num("attn_logit_softcapping", 0)
	finalCap := cfg.num("final_logit_softcapping", 0)
	if mt == "gemma2" {
		if _, ok := cfg["attn_logit_softcapping"]; !ok {
			attnCap = 50
		}
		if _, ok := cfg["final_logit_softcapping"]; !ok {
			finalCap = 30
		}
	}

	// Embeddings (Gemma: × √hidden in the embedding dtype).
	x := make([][]float64, T)
	norm := 1.0
	if gemma {
		s := float32(math.Sqrt(float64(d)))
		if dt == safetensors.BF16 {
			s = bf16.ToFloat32(bf16.FromFloat32(s))
		}
		norm = float64(s)
	}
	for t, tok := range seq {
		x[t] = slices.Clone(w["model.embed_tokens.weight"][tok*d : (tok+1)*d])
		for i := range x[t] {
			x[t][i] *= norm
		}
	}
	for l := 0; l < L; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		inv, sc := rope(l)
		q, k, v := make([][]float64, T), make([][]float64, T), make([][]float64, T)
		for t := range x {
			h := rms(x[t], w[p+"input_layernorm.weight"])
			if mt == "phi3" {
				qkv := linear(w[p+"self_attn.qkv_proj.weight"], h, (H+2*KV)*hd)
				q[t], k[t], v[t] = qkv[:H*hd], qkv[H*hd:(H+KV)*hd], qkv[(H+KV)*hd:]
			} else {
				q[t] = linear(w[p+"self_attn.q_proj.weight"], h, H*hd)
				k[t] = linear(w[p+"self_attn.k_proj.weight"], h, KV*hd)
				v[t] = linear(w[p+"self_attn.v_proj.weight"], h, KV*hd)
			}
			if mt == "qwen3" || mt == "gemma3_text" {
				for hh := 0; hh < H; hh++ {
					copy(q[t][hh*hd:], rms(q[t][hh*hd:(hh+1)*hd], w[p+"self_attn.q_norm.weight"]))
				}
				for hh := 0; hh < KV; hh++ {
					copy(k[t][hh*hd:], rms(k[t][hh*hd:(hh+1)*hd], w[p+"self_attn.k_norm.weight"]))
				}
			}
			for hh := 0; hh < H; hh++ {
				rotate(q[t][hh*hd:(hh+1)*hd], t, inv, sc)
			}
			for hh := 0; hh < KV; hh++ {
				rotate(k[t][hh*hd:(hh+1)*hd], t, inv, sc)
			}
		}
		for t := range x {
			att := make([]float64, H*hd)
			for hh := 0; hh < H; hh++ {
				g := hh / (H / KV)
				sc := make([]float64, t+1)
				mx := math.Inf(-1)
				for u := 0; u <= t; u++ {
					if sliding(l) && t-u >= window {
						sc[u] = math.Inf(-1)
						continue
					}
					var s float64
					for i := 0; i < hd; i++ {
						s += q[t][hh*hd+i] * k[u][g*hd+i]
					}
					s *= scaling
					if attnCap > 0 {
						s = capf(s, attnCap)
					}
					sc[u] = s
					mx = math.Max(mx, s)
				}
				var z float64
				for u := range sc {
					sc[u] = math.Exp(sc[u] - mx)
					z += sc[u]
				}
				for u := range sc {
					for i := 0; i < hd; i++ {
						att[hh*hd+i] += sc[u] / z * v[u][g*hd+i]
					}
				}
			}
			o := linear(w[p+"self_attn.o_proj.weight"], att, d)
			var h []float64
			if gemma {
				o = rms(o, w[p+"post_attention_layernorm.weight"])
				for i := range o {
					x[t][i] += o[i]
				}
				h = rms(x[t], w[p+"pre_feedforward_layernorm.weight"])
			} else {
				for i := range o {
					x[t][i] += o[i]
				}
				h = rms(x[t], w[p+"post_attention_layernorm.weight"])
			}
			var gate, up []float64
			if mt == "phi3" {
				gu := linear(w[p+"mlp.gate_up_proj.weight"], h, 2*inter)
				gate, up = gu[:inter], gu[inter:]
			} else {
				gate = linear(w[p+"mlp.gate_proj.weight"], h, inter)
				up = linear(w[p+"mlp.up_proj.weight"], h, inter)
			}
			for i, g := range gate {
				if gemma { // gelu_pytorch_tanh
					gate[i] = 0.5 * g * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(g+0.044715*g*g*g))) * up[i]
				} else { // silu
					gate[i] = g / (1 + math.Exp(-g)) * up[i]
				}
			}
			m := linear(w[p+"mlp.down_proj.weight"], gate, d)
			if gemma {
				m = rms(m, w[p+"post_feedforward_layernorm.weight"])
			}
			for i := range m {
				x[t][i] += m[i]
			}
		}
	}
	head := w["lm_head.weight"]
	if head == nil {
		head = w["model.embed_tokens.weight"]
	}
	out := make([][]float64, T)
	for t := range x {
		out[t] = linear(head, rms(x[t], w["model.norm.weight"]), V)
		if finalCap > 0 {
			for i := range out[t] {
				out[t][i] = capf(out[t][i], finalCap)
			}
		}
	}
	return out
}
