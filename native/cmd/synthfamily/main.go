// Command synthfamily writes a synthetic model family (a random base and
// fine-tunes that are the base plus small noise) in Hugging Face layout,
// for benchmarks at realistic shapes without downloading anything. The
// default shape is SmolLM-135M's; -preset picks another architecture and
// shape (presets.go: Llama, Qwen2, Qwen3, Gemma 2, Gemma 3, Phi-3.5, and
// tiny shapes of the newer ones for tests), -dtype bf16 writes what such
// checkpoints ship as, and -tokenizer copies a tokenizer into every model
// so the family runs end to end (any tokenizer whose ids fit the
// vocabulary: testdata/stories260K-base's has 512).
//
//	go run ./native/cmd/synthfamily -o /tmp/smol -finetunes 2
//	go run ./native/cmd/synthfamily -o /tmp/g3 -preset gemma-3-1b -dtype bf16 -finetunes 3 -tokenizer testdata/stories260K-base
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
)

func main() {
	var names []string
	for k := range presets {
		names = append(names, k)
	}
	sort.Strings(names)
	out := flag.String("o", "", "output directory (models are written to OUT/base, OUT/ft1, ...)")
	preset := flag.String("preset", "smollm-135m", "architecture and shape: "+strings.Join(names, ", ")+" (flags below override)")
	hidden := flag.Int("hidden", 0, "hidden size")
	inter := flag.Int("intermediate", 0, "intermediate size")
	layers := flag.Int("layers", 0, "decoder layers")
	heads := flag.Int("heads", 0, "attention heads")
	kv := flag.Int("kv-heads", 0, "key/value heads")
	vocab := flag.Int("vocab", 0, "vocabulary size")
	dtype := flag.String("dtype", "f32", "stored dtype: f32, bf16 or f16")
	fts := flag.Int("finetunes", 2, "number of fine-tunes")
	noise := flag.Float64("noise", 0.02, "fine-tune deviation relative to the weights' scale")
	tok := flag.String("tokenizer", "", "directory whose tokenizer.json (and tokenizer_config.json) every model gets")
	flag.Parse()
	p, ok := presets[*preset]
	dt := map[string]safetensors.DType{"f32": safetensors.F32, "bf16": safetensors.BF16, "f16": safetensors.F16}[*dtype]
	if *out == "" || !ok || dt == "" {
		flag.Usage()
		os.Exit(2)
	}
	c := p()
	for _, o := range []struct {
		v   int
		key string
	}{{*hidden, "hidden_size"}, {*inter, "intermediate_size"}, {*layers, "num_hidden_layers"}, {*heads, "num_attention_heads"}, {*kv, "num_key_value_heads"}, {*vocab, "vocab_size"}} {
		if o.v > 0 {
			c[o.key] = o.v
		}
	}
	if *layers > 0 {
		delete(c, "layer_types")
	}
	if _, ok := c["rope_scaling"].(map[string]any); ok && c["model_type"] == "phi3" && (*hidden > 0 || *heads > 0) {
		c["rope_scaling"] = phi3Rope(c["hidden_size"].(int), c["num_attention_heads"].(int)) // head_dim/2 factors
	}
	c["torch_dtype"] = map[safetensors.DType]string{safetensors.F32: "float32", safetensors.BF16: "bfloat16", safetensors.F16: "float16"}[dt]
	raw, _ := json.MarshalIndent(c, "", "  ")
	cfg, err := model.ParseConfig(raw, *preset)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synthfamily:", err)
		os.Exit(2)
	}
	for k := 0; k <= *fts; k++ {
		name := "base"
		if k > 0 {
			name = fmt.Sprintf("ft%d", k)
		}
		dir := filepath.Join(*out, name)
		err := write(dir, raw, cfg, dt, k, *noise)
		if err == nil && *tok != "" {
			err = copyTokenizer(*tok, dir)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "synthfamily:", err)
			os.Exit(1)
		}
		fmt.Println(dir)
	}
}

// copyTokenizer copies tokenizer.json and, when present,
// tokenizer_config.json from src into dir.
func copyTokenizer(src, dir string) error {
	for i, n := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			if i > 0 && os.IsNotExist(err) {
				continue
			}
			return fmt.Errorf("-tokenizer: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// write streams one model: the same seed gives the same base; a fine-tune
// adds noise drawn from its own seed.
func write(dir string, rawCfg []byte, cfg *model.Config, dt safetensors.DType, k int, noise float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), rawCfg, 0o644); err != nil {
		return err
	}
	arch := cfg.Spec()
	roles := cfg.Roles()
	planned := []safetensors.Planned{{Name: arch.Embed, DType: dt, Shape: []int{cfg.VocabSize, cfg.HiddenSize}}}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		for _, r := range roles {
			planned = append(planned, safetensors.Planned{Name: arch.TensorName(r, i), DType: dt, Shape: cfg.ExpectedShape(r)})
		}
	}
	planned = append(planned, safetensors.Planned{Name: arch.FinalNorm, DType: dt, Shape: []int{cfg.HiddenSize}})
	if !cfg.TieWordEmbeddings {
		planned = append(planned, safetensors.Planned{Name: arch.LMHead, DType: dt, Shape: []int{cfg.VocabSize, cfg.HiddenSize}})
	}
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
	table := func() []float32 {
		v := make([]float32, cfg.VocabSize*cfg.HiddenSize)
		for i := range v {
			v[i] = float32(baseRand.NormFloat64() * 0.02)
		}
		return v
	}
	if err := put(arch.Embed, table()); err != nil {
		return err
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		t := engine.RandomTensors(cfg, baseRand)
		for _, r := range roles {
			if err := put(arch.TensorName(r, i), t[r]); err != nil {
				return err
			}
		}
	}
	norm := make([]float32, cfg.HiddenSize)
	for i := range norm {
		if !arch.NormPlusOne { // a (1 + w) norm of weight 0 multiplies by 1
			norm[i] = 1
		}
	}
	if err := put(arch.FinalNorm, norm); err != nil {
		return err
	}
	if !cfg.TieWordEmbeddings {
		if err := put(arch.LMHead, table()); err != nil {
			return err
		}
	}
	return sw.Close()
}
