// Command synthfamily writes a synthetic model family (a random base and
// fine-tunes that are the base plus small noise) in Hugging Face layout,
// for benchmarks at realistic shapes without downloading anything. The
// default shape is SmolLM-135M's; -preset picks Qwen2.5-0.5B's or
// Llama-3.2-1B's, and -dtype bf16 writes what such checkpoints ship as.
//
//	go run ./native/cmd/synthfamily -o /tmp/smol -finetunes 2
//	go run ./native/cmd/synthfamily -o /tmp/llama1b -preset llama-3.2-1b -dtype bf16 -finetunes 3
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
)

// shape is a preset: the real model's sizes (weights are random).
type shape struct {
	hidden, inter, layers, heads, kv, vocab int
	modelType                               string // qwen2 carries q/k/v biases
}

var presets = map[string]shape{
	"smollm-135m":  {576, 1536, 30, 9, 3, 49152, "llama"},
	"qwen2.5-0.5b": {896, 4864, 24, 14, 2, 151936, "qwen2"},
	"llama-3.2-1b": {2048, 8192, 16, 32, 8, 128256, "llama"},
}

func main() {
	out := flag.String("o", "", "output directory (models are written to OUT/base, OUT/ft1, ...)")
	preset := flag.String("preset", "smollm-135m", "shape: smollm-135m, qwen2.5-0.5b or llama-3.2-1b (flags below override)")
	hidden := flag.Int("hidden", 0, "hidden size")
	inter := flag.Int("intermediate", 0, "intermediate size")
	layers := flag.Int("layers", 0, "decoder layers")
	heads := flag.Int("heads", 0, "attention heads")
	kv := flag.Int("kv-heads", 0, "key/value heads")
	vocab := flag.Int("vocab", 0, "vocabulary size")
	dtype := flag.String("dtype", "f32", "stored dtype: f32, bf16 or f16")
	fts := flag.Int("finetunes", 2, "number of fine-tunes")
	noise := flag.Float64("noise", 0.02, "fine-tune deviation relative to the weights' scale")
	modelType := flag.String("model-type", "", "config.json model_type: llama, mistral or qwen2 (default: the preset's)")
	tokDir := flag.String("tokenizer", "", "directory whose tokenizer.json and tokenizer_config.json each model gets")
	flag.Parse()
	sh, ok := presets[*preset]
	dt := map[string]safetensors.DType{"f32": safetensors.F32, "bf16": safetensors.BF16, "f16": safetensors.F16}[*dtype]
	if *out == "" || !ok || dt == "" {
		flag.Usage()
		os.Exit(2)
	}
	for _, o := range []struct {
		v   int
		dst *int
	}{{*hidden, &sh.hidden}, {*inter, &sh.inter}, {*layers, &sh.layers}, {*heads, &sh.heads}, {*kv, &sh.kv}, {*vocab, &sh.vocab}} {
		if o.v > 0 {
			*o.dst = o.v
		}
	}
	cfg := engine.SyntheticConfig(sh.hidden, sh.inter, sh.layers, sh.heads, sh.kv, sh.vocab)
	cfg.ModelType = sh.modelType
	if *modelType != "" {
		cfg.ModelType = *modelType
	}
	for k := 0; k <= *fts; k++ {
		name := "base"
		if k > 0 {
			name = fmt.Sprintf("ft%d", k)
		}
		err := write(filepath.Join(*out, name), cfg, dt, k, *noise)
		if err == nil && *tokDir != "" {
			err = copyTokenizer(*tokDir, filepath.Join(*out, name))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "synthfamily:", err)
			os.Exit(1)
		}
		fmt.Println(filepath.Join(*out, name))
	}
}

// write streams one model: the same seed gives the same base; a fine-tune
// adds noise drawn from its own seed.
func write(dir string, cfg *model.Config, dt safetensors.DType, k int, noise float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	arch := map[string]string{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}[cfg.ModelType]
	c := map[string]any{"architectures": []string{arch}, "model_type": cfg.ModelType, "hidden_size": cfg.HiddenSize,
		"intermediate_size": cfg.IntermediateSize, "num_hidden_layers": cfg.NumHiddenLayers, "num_attention_heads": cfg.NumAttentionHeads,
		"num_key_value_heads": cfg.NumKeyValueHeads, "vocab_size": cfg.VocabSize, "max_position_embeddings": 2048,
		"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true, "hidden_act": "silu", "torch_dtype": map[safetensors.DType]string{safetensors.F32: "float32", safetensors.BF16: "bfloat16", safetensors.F16: "float16"}[dt]}
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		return err
	}
	names := func(role string, i int) string {
		return fmt.Sprintf(map[string]string{
			model.AttnNorm: "model.layers.%d.input_layernorm.weight", model.Q: "model.layers.%d.self_attn.q_proj.weight",
			model.K: "model.layers.%d.self_attn.k_proj.weight", model.V: "model.layers.%d.self_attn.v_proj.weight",
			model.O: "model.layers.%d.self_attn.o_proj.weight", model.MLPNorm: "model.layers.%d.post_attention_layernorm.weight",
			model.Gate: "model.layers.%d.mlp.gate_proj.weight", model.Up: "model.layers.%d.mlp.up_proj.weight",
			model.Down: "model.layers.%d.mlp.down_proj.weight", model.QBias: "model.layers.%d.self_attn.q_proj.bias",
			model.KBias: "model.layers.%d.self_attn.k_proj.bias", model.VBias: "model.layers.%d.self_attn.v_proj.bias"}[role], i)
	}
	roles := []string{model.AttnNorm, model.Q, model.K, model.V, model.O, model.MLPNorm, model.Gate, model.Up, model.Down}
	if cfg.HasAttentionBias() {
		roles = append(roles, model.QBias, model.KBias, model.VBias)
	}
	planned := []safetensors.Planned{{Name: "model.embed_tokens.weight", DType: dt, Shape: []int{cfg.VocabSize, cfg.HiddenSize}}}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		for _, r := range roles {
			planned = append(planned, safetensors.Planned{Name: names(r, i), DType: dt, Shape: cfg.ExpectedShape(r)})
		}
	}
	planned = append(planned, safetensors.Planned{Name: "model.norm.weight", DType: dt, Shape: []int{cfg.HiddenSize}})
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return err
	}
	defer f.Close()
	sw, err := safetensors.NewStreamWriter(f, planned, map[string]string{"format": "pt"})
	if err != nil {
		return err
	}
	baseRand := rand.New(rand.NewPCG(1, 2))
	ftRand := rand.New(rand.NewPCG(uint64(k)+100, 3))
	perturb := func(v []float32) []float32 {
		if k == 0 {
			return v
		}
		for i := range v {
			v[i] += float32(ftRand.NormFloat64() * noise * 0.05)
		}
		return v
	}
	put := func(name string, v []float32) error {
		b, err := safetensors.FromFloat32(dt, perturb(v))
		if err != nil {
			return err
		}
		return sw.Write(name, b)
	}
	emb := make([]float32, cfg.VocabSize*cfg.HiddenSize)
	for i := range emb {
		emb[i] = float32(baseRand.NormFloat64() * 0.02)
	}
	if err := put("model.embed_tokens.weight", emb); err != nil {
		return err
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		t := engine.RandomTensors(cfg, baseRand)
		for _, r := range roles {
			if err := put(names(r, i), t[r]); err != nil {
				return err
			}
		}
	}
	norm := make([]float32, cfg.HiddenSize)
	for i := range norm {
		norm[i] = 1
	}
	if err := put("model.norm.weight", norm); err != nil {
		return err
	}
	return sw.Close()
}

// copyTokenizer copies a tokenizer's files into a model directory.
func copyTokenizer(from, to string) error {
	for _, n := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(from, n))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, n), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
