// Command synthfamily writes a synthetic model family (a random base and
// fine-tunes that are the base plus small noise) in Hugging Face layout,
// for benchmarks at realistic shapes without downloading anything. The
// default shape is SmolLM-135M's.
//
//	go run ./native/cmd/synthfamily -o /tmp/smol -finetunes 2
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

func main() {
	out := flag.String("o", "", "output directory (models are written to OUT/base, OUT/ft1, ...)")
	hidden := flag.Int("hidden", 576, "hidden size")
	inter := flag.Int("intermediate", 1536, "intermediate size")
	layers := flag.Int("layers", 30, "decoder layers")
	heads := flag.Int("heads", 9, "attention heads")
	kv := flag.Int("kv-heads", 3, "key/value heads")
	vocab := flag.Int("vocab", 49152, "vocabulary size")
	fts := flag.Int("finetunes", 2, "number of fine-tunes")
	noise := flag.Float64("noise", 0.02, "fine-tune deviation relative to the weights' scale")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	cfg := engine.SyntheticConfig(*hidden, *inter, *layers, *heads, *kv, *vocab)
	for k := 0; k <= *fts; k++ {
		name := "base"
		if k > 0 {
			name = fmt.Sprintf("ft%d", k)
		}
		if err := write(filepath.Join(*out, name), cfg, k, *noise); err != nil {
			fmt.Fprintln(os.Stderr, "synthfamily:", err)
			os.Exit(1)
		}
		fmt.Println(filepath.Join(*out, name))
	}
}

// write streams one model: the same seed gives the same base; a fine-tune
// adds noise drawn from its own seed.
func write(dir string, cfg *model.Config, k int, noise float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": cfg.HiddenSize,
		"intermediate_size": cfg.IntermediateSize, "num_hidden_layers": cfg.NumHiddenLayers, "num_attention_heads": cfg.NumAttentionHeads,
		"num_key_value_heads": cfg.NumKeyValueHeads, "vocab_size": cfg.VocabSize, "max_position_embeddings": 2048,
		"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true, "hidden_act": "silu", "torch_dtype": "float32"}
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
			model.Down: "model.layers.%d.mlp.down_proj.weight"}[role], i)
	}
	roles := []string{model.AttnNorm, model.Q, model.K, model.V, model.O, model.MLPNorm, model.Gate, model.Up, model.Down}
	planned := []safetensors.Planned{{Name: "model.embed_tokens.weight", DType: safetensors.F32, Shape: []int{cfg.VocabSize, cfg.HiddenSize}}}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		for _, r := range roles {
			planned = append(planned, safetensors.Planned{Name: names(r, i), DType: safetensors.F32, Shape: cfg.ExpectedShape(r)})
		}
	}
	planned = append(planned, safetensors.Planned{Name: "model.norm.weight", DType: safetensors.F32, Shape: []int{cfg.HiddenSize}})
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
		b, err := safetensors.FromFloat32(safetensors.F32, perturb(v))
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
