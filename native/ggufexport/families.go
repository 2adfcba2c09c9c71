package ggufexport

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/build"
	"github.com/gptailor/gptailor/native/f16"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
)

// What each family needs beyond the keys every file has, read from the
// loaders of llama.cpp the node-llama-cpp binaries are built from
// (src/models/<arch>.cpp: load_arch_hparams, load_arch_tensors and the
// graph), and what llama.cpp cannot express, refused naming why.
//
// Gemma 2 and 3: llama.cpp marks layer il sliding when il mod n < n-1 for
// the file's sliding_window_pattern n (0: every layer), so a plan's slot
// kinds (stitch.SlotKinds, the kinds build writes as layer_types) must
// follow such a pattern. Queries are scaled by 1/√head_dim (1/√(hidden /
// heads) when block_count is 46 for gemma2 or 62 for gemma3, the 27B
// models) — query_pre_attn_scalar is no key — so a different scalar, or a
// 27B cut to another depth, is folded into the weights: attn_q (Gemma 2)
// or attn_q_norm (Gemma 3, whose queries are normed after projection).
// Gemma 2 always soft-caps attention and logits and computes logits with
// token_embd; Gemma 3 has no attention soft cap, its sliding layers rotate
// with rope.freq_base_swa and no scaling.
//
// Phi-3: fused attn_qkv and ffn_up (gate then up); longrope's factors as
// rope_factors_long/short with rope.scaling.original_context_length and
// rope.scaling.attn_factor. llama.cpp picks the long factors when the
// context it is given exceeds the original length, Hugging Face when the
// sequence does.
//
// Qwen3: per-head attn_q_norm/attn_k_norm, head_dim as key_length.

// extraTensor is a tensor the file holds beyond the plan's (rope factors).
type extraTensor struct {
	name string
	v    []float32
}

// family is what one export writes beyond the common keys.
type family struct {
	keys   []pair
	extra  []extraTensor
	qScale float32 // folded into qRoles' values; 1 for none
	qRoles []string
	notes  []string
}

// adjust is how a tensor's values change on the way into the file: v ←
// (v + shift) · scale, in float32.
type adjust struct{ shift, scale float32 }

func (a adjust) identity() bool { return a.shift == 0 && a.scale == 1 }

// adjustFor is the change of a tensor of that role.
func (f *family) adjustFor(a Arch, role string) adjust {
	adj := adjust{scale: 1}
	if a.NormShift && (model.NormRole(role) || role == build.OuterNorm) {
		adj.shift = 1
	}
	for _, r := range f.qRoles {
		if r == role {
			adj.scale = f.qScale
		}
	}
	return adj
}

// apply changes v in place.
func (a adjust) apply(v []float32) {
	for i, x := range v {
		v[i] = (x + a.shift) * a.scale
	}
}

// familyOf collects the family's keys and tensors for a model of len(kinds)
// blocks of those kinds.
func familyOf(a Arch, cfg *model.Config, kinds []model.LayerKind) (*family, error) {
	f := &family{qScale: 1}
	if err := f.rope(a, cfg); err != nil {
		return nil, err
	}
	if a.Name == "gemma2" || a.Name == "gemma3" {
		if err := f.gemma(a, cfg, kinds); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// rope writes the rope scaling llama.cpp reads for the family.
func (f *family) rope(a Arch, cfg *model.Config) error {
	rs := cfg.RopeScaling
	if rs == nil {
		return nil
	}
	k := a.Name + ".rope."
	switch rs.RopeType {
	case "", "default":
	case "linear":
		f.keys = append(f.keys, pair{k + "scaling.type", "linear"}, pair{k + "scaling.factor", float32(rs.Factor)})
	case "llama3":
		if a.Name != "llama" {
			return fmt.Errorf("config.json: field rope_scaling: llama3 scaling needs rope_freqs.weight, which llama.cpp's %s graph does not read, so no GGUF file computes this model", a.Name)
		}
		f.extra = append(f.extra, extraTensor{"rope_freqs.weight", ropeFactors(cfg)})
	case "longrope":
		if a.Name != "phi3" {
			return fmt.Errorf("config.json: field rope_scaling: longrope's factors are read only by llama.cpp's phi3 graph, not %s's", a.Name)
		}
		_, attn := cfg.Rope(model.Global, false)
		f.keys = append(f.keys, pair{k + "scaling.original_context_length", uint32(cfg.LongRopeAbove())}, pair{k + "scaling.attn_factor", float32(attn)})
		f.extra = append(f.extra, extraTensor{"rope_factors_long.weight", f32s(rs.LongFactor)}, extraTensor{"rope_factors_short.weight", f32s(rs.ShortFactor)})
		f.notes = append(f.notes, fmt.Sprintf("longrope: llama.cpp rotates with the long factors when its context is longer than %d tokens, Hugging Face when the sequence is", cfg.LongRopeAbove()))
	default:
		return fmt.Errorf("config.json: field rope_scaling.rope_type %q has no GGUF mapping", rs.RopeType)
	}
	return nil
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// gemma writes Gemma 2's and 3's keys and refuses what llama.cpp's
// graphs cannot compute.
func (f *family) gemma(a Arch, cfg *model.Config, kinds []model.LayerKind) error {
	n := a.Name + "."
	if a.Name == "gemma2" {
		if cfg.AttnSoftCap() == 0 || cfg.FinalSoftCap() == 0 {
			return fmt.Errorf("config.json: fields attn_logit_softcapping and final_logit_softcapping: llama.cpp's gemma2 graph always soft-caps attention scores and logits, so a model without either cap has no GGUF form")
		}
		if !cfg.TieWordEmbeddings {
			return fmt.Errorf("config.json: field tie_word_embeddings is false: llama.cpp's gemma2 graph computes logits with token_embd and reads no output.weight, so an untied lm_head has no GGUF form")
		}
		f.keys = append(f.keys, pair{n + "attn_logit_softcapping", float32(cfg.AttnSoftCap())}, pair{n + "final_logit_softcapping", float32(cfg.FinalSoftCap())},
			pair{n + "rope.freq_base_swa", float32(cfg.RopeTheta)})
	} else {
		if cfg.AttnSoftCap() != 0 {
			return fmt.Errorf("config.json: field attn_logit_softcapping = %g: llama.cpp's gemma3 graph has no attention soft-capping", cfg.AttnSoftCap())
		}
		if c := cfg.FinalSoftCap(); c > 0 {
			f.keys = append(f.keys, pair{n + "final_logit_softcapping", float32(c)})
		}
		f.keys = append(f.keys, pair{n + "rope.freq_base_swa", float32(cfg.RopeLocalBaseFreq)})
	}
	switch {
	case slices.Contains(kinds, model.Sliding):
		period, err := swaPeriod(cfg, kinds)
		if err != nil {
			return err
		}
		f.keys = append(f.keys, pair{n + "attention.sliding_window", uint32(cfg.WindowFor(model.Sliding))}, pair{n + "attention.sliding_window_pattern", uint32(period)})
	case a.Name == "gemma2":
		// Every slot global: llama.cpp's gemma2 graph needs a sliding
		// layer (its cache asserts one), so every layer is sliding with
		// a window no context reaches, rotating with the global base.
		f.keys = append(f.keys, pair{n + "attention.sliding_window", uint32(allContext)}, pair{n + "attention.sliding_window_pattern", uint32(0)})
		f.notes = append(f.notes, fmt.Sprintf("every block attends globally: written as sliding layers with a window of %d tokens", allContext))
	}
	// gemma3 with every slot global: no sliding_window, so llama.cpp
	// builds its graph without sliding layers.

	// The query scale llama.cpp applies, against Hugging Face's.
	dl := cfg.HeadDim
	if big := map[string]int{"gemma2": 46, "gemma3": 62}[a.Name]; len(kinds) == big {
		dl = cfg.HiddenSize / cfg.NumAttentionHeads
	}
	if qpas := *cfg.QueryPreAttnScalar; float64(dl) != qpas {
		f.qScale = float32(math.Sqrt(float64(dl) / qpas))
		f.qRoles = []string{model.Q, model.QBias}
		where := "attn_q"
		if a.Name == "gemma3" {
			f.qRoles, where = []string{model.QNorm}, "attn_q_norm"
		}
		f.notes = append(f.notes, fmt.Sprintf("query_pre_attn_scalar %g: llama.cpp scales queries by 1/√%d for %d blocks, so %s is multiplied by √(%d/%g) = %.6g", qpas, dl, len(kinds), where, dl, qpas, f.qScale))
	}
	return nil
}

// allContext is a sliding window longer than any context llama.cpp runs
// (it compares positions as int32).
const allContext = 1 << 30

// swaPeriod is the sliding_window_pattern whose layer kinds are kinds:
// the base's own when it fits, else the smallest that does.
func swaPeriod(cfg *model.Config, kinds []model.LayerKind) (int, error) {
	var cands []int
	base := make([]model.LayerKind, cfg.NumHiddenLayers)
	for i := range base {
		base[i] = cfg.KindAt(i)
	}
	for n := 0; n <= len(base)+1; n++ {
		if fitsAll(base, n) {
			cands = append(cands, n)
			break
		}
	}
	for n := 2; n <= len(kinds)+1; n++ { // 1 (no sliding layer) is never asked for
		cands = append(cands, n)
	}
	cands = append(cands, 0)
	for _, n := range cands {
		if fitsAll(kinds, n) {
			return n, nil
		}
	}
	var s strings.Builder
	for _, k := range kinds {
		s.WriteByte("GS"[k])
	}
	return 0, fmt.Errorf("plan: the slots' layer kinds %s (S sliding, G global: each slot keeps its source layer's) follow no pattern llama.cpp can express: it makes layer i sliding when i mod n < n-1 for one n (attention.sliding_window_pattern); reorder the slots or take layers whose kinds repeat so", s.String())
}

// fitsAll reports whether kinds follow sliding_window_pattern n.
func fitsAll(kinds []model.LayerKind, n int) bool {
	for i, k := range kinds {
		if (k == model.Sliding) != (n == 0 || i%n < n-1) {
			return false
		}
	}
	return true
}

// embedScaleNote says when llama.cpp's embedding scale (√hidden in
// float32) differs from Hugging Face's (√hidden rounded to the embedding
// table's dtype), "" when they agree.
func embedScaleNote(cfg *model.Config, dt safetensors.DType) string {
	if cfg.Spec().EmbedScale != "sqrt_hidden" {
		return ""
	}
	s := float32(math.Sqrt(float64(cfg.HiddenSize)))
	r := s
	switch dt {
	case safetensors.BF16:
		r = bf16.ToFloat32(bf16.FromFloat32(s))
	case safetensors.F16:
		r = f16.ToFloat32(f16.FromFloat32(s))
	}
	if r == s {
		return ""
	}
	return fmt.Sprintf("embeddings: llama.cpp scales them by √%d = %.6g, Hugging Face by √%d rounded to %s = %.6g (relative difference %.2g)", cfg.HiddenSize, s, cfg.HiddenSize, dt, r, math.Abs(float64(r-s))/float64(s))
}

// phi3Name refuses a general.name llama.cpp cannot load with this
// vocabulary: when the name holds "phi-3" or "phi3" (any case), llama.cpp's
// vocabulary loader sets token attributes on </s>, <unk>, <s> and
// <|endoftext|> by text and fails when one is missing (llama-vocab.cpp,
// "Handle per token attributes").
func phi3Name(name string, v *Vocab) error {
	l := strings.ToLower(name)
	if !strings.Contains(l, "phi-3") && !strings.Contains(l, "phi3") {
		return nil
	}
	for _, tok := range []string{"</s>", "<unk>", "<s>", "<|endoftext|>"} {
		if !slices.Contains(v.Tokens, tok) {
			return fmt.Errorf("general.name %q: llama.cpp treats a model whose name holds \"phi3\" or \"phi-3\" as Phi-3 and looks up its token %s, which this tokenizer lacks, so it could not load the file; name the plan or the output file otherwise", name, tok)
		}
	}
	return nil
}
