package ggufexport

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gptailor/gptailor/native/build"
	"github.com/gptailor/gptailor/native/model"
)

// Arch is how one Hugging Face model_type is written for llama.cpp: the
// general.architecture it loads, whether q/k rows are permuted (llama.cpp's
// llama graph applies rope to interleaved pairs, Hugging Face's to halves:
// convert_hf_to_gguf.py's LlamaModel.permute), whether RMSNorm weights are
// stored as 1 + w (Gemma: Hugging Face multiplies by 1 + w, llama.cpp by
// the stored weight, so the converter adds 1), and the tensor names ({i}
// is the block). What else a family needs (its keys, the tensors beyond
// the plan's, what llama.cpp cannot express) is in families.go. Extend
// Architectures for a new family.
type Arch struct {
	Name      string
	PermuteQK bool
	NormShift bool
	Tensors   map[string]string // a layer role or build.Outer* → GGUF name
}

// llamaTensors names every role under llama.cpp's names (llama-arch.cpp's
// LLM_TENSOR_NAMES): a family uses the roles its layer has. Gemma's
// pre_feedforward_layernorm is the MLP's input norm (ffn_norm), its
// post-attention and post-feed-forward norms post_attention_norm and
// post_ffw_norm; Phi-3's fused gate_up is ffn_up with 2 × n_ff rows (gate
// first, as ggml's swiglu splits it) and its fused qkv attn_qkv.
var llamaTensors = map[string]string{
	build.OuterEmbed: "token_embd.weight", build.OuterNorm: "output_norm.weight", build.OuterLMHead: "output.weight",
	model.AttnNorm: "blk.{i}.attn_norm.weight", model.Q: "blk.{i}.attn_q.weight", model.K: "blk.{i}.attn_k.weight",
	model.V: "blk.{i}.attn_v.weight", model.O: "blk.{i}.attn_output.weight",
	model.QBias: "blk.{i}.attn_q.bias", model.KBias: "blk.{i}.attn_k.bias", model.VBias: "blk.{i}.attn_v.bias",
	model.MLPNorm: "blk.{i}.ffn_norm.weight", model.Gate: "blk.{i}.ffn_gate.weight", model.Up: "blk.{i}.ffn_up.weight",
	model.Down:  "blk.{i}.ffn_down.weight",
	model.QNorm: "blk.{i}.attn_q_norm.weight", model.KNorm: "blk.{i}.attn_k_norm.weight",
	model.PostAttnNorm: "blk.{i}.post_attention_norm.weight", model.PostMLPNorm: "blk.{i}.post_ffw_norm.weight",
	model.QKV: "blk.{i}.attn_qkv.weight", model.GateUp: "blk.{i}.ffn_up.weight",
}

// Architectures maps config.json's model_type to its GGUF form. Mistral
// is llama to llama.cpp (as convert_hf_to_gguf.py writes it); Qwen2,
// Qwen3, Gemma 2, Gemma 3 and Phi-3 have their own graphs, all rotating
// halves (NEOX), so no row permutation.
var Architectures = map[string]Arch{
	"llama":       {Name: "llama", PermuteQK: true, Tensors: llamaTensors},
	"mistral":     {Name: "llama", PermuteQK: true, Tensors: llamaTensors},
	"qwen2":       {Name: "qwen2", Tensors: llamaTensors},
	"qwen3":       {Name: "qwen3", Tensors: llamaTensors},
	"gemma2":      {Name: "gemma2", NormShift: true, Tensors: llamaTensors},
	"gemma3_text": {Name: "gemma3", NormShift: true, Tensors: llamaTensors},
	"phi3":        {Name: "phi3", Tensors: llamaTensors},
}

func archFor(modelType string) (Arch, error) {
	a, ok := Architectures[modelType]
	if !ok {
		var known []string
		for k := range Architectures {
			known = append(known, k)
		}
		slices.Sort(known)
		return Arch{}, fmt.Errorf("config.json: model_type %q has no GGUF mapping (mapped: %s)", modelType, strings.Join(known, ", "))
	}
	return a, nil
}

// tensorName is t's GGUF name.
func (a Arch) tensorName(t *build.Tensor) (string, error) {
	tmpl, ok := a.Tensors[t.Role]
	if !ok {
		return "", fmt.Errorf("tensor [%s]: role %s has no GGUF name in architecture %s", t.Name, t.Role, a.Name)
	}
	return strings.ReplaceAll(tmpl, "{i}", fmt.Sprint(t.Layer)), nil
}

// permuteRows reorders the rows of each head of a q or k projection (or
// bias) from Hugging Face's rotary layout (first half, second half) to
// llama.cpp's (interleaved pairs): row h·hd + 2j + s of the result is row
// h·hd + s·hd/2 + j of the input. v holds rows×cols values; it is
// LlamaModel.permute of convert_hf_to_gguf.py.
func permuteRows[E any](v []E, rows, cols, heads int) []E {
	hd := rows / heads
	out := make([]E, len(v))
	for h := 0; h < heads; h++ {
		for j := 0; j < hd/2; j++ {
			for s := 0; s < 2; s++ {
				dst := (h*hd + 2*j + s) * cols
				src := (h*hd + s*hd/2 + j) * cols
				copy(out[dst:dst+cols], v[src:src+cols])
			}
		}
	}
	return out
}
