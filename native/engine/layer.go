// Package engine runs the Llama-family forward pass over an explicit list
// of decoder layers, so a stitched model is simply another list: embeddings
// → layers → final RMSNorm → lm_head, with RMSNorm, rotate-half RoPE (with
// llama3 scaling), grouped-query causal attention (optionally windowed),
// SwiGLU and optional q/k/v biases. It scores full sequences (no KV cache)
// and returns per-token log-probabilities without materialising a
// batch×sequence×vocabulary tensor.
package engine

import (
	"fmt"

	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
)

// Tensors holds one decoder layer's float32 tensors by role
// (model.AttnNorm, model.Q, ...), row-major as stored in the checkpoint.
type Tensors map[string][]float32

// Layer is a decoder layer ready to run: norms as vectors, projections
// packed for the GEMM (q/k/v fused into one matrix, gate/up into another).
// A layer without QKV skips its attention sub-block, one without GateUp
// its MLP sub-block: the residual stream passes through unchanged.
type Layer struct {
	AttnNorm []float32      // [D]
	QKV      *kernel.Packed // [(H+2·KV)·hd, D]: q rows, then k, then v
	QKVBias  []float32      // [(H+2·KV)·hd], nil without attention bias
	O        *kernel.Packed // [D, H·hd]
	MLPNorm  []float32      // [D]
	GateUp   *kernel.Packed // [2·I, D]: gate rows, then up rows
	Down     *kernel.Packed // [D, I]

	// The newer architectures' norms (nil when the architecture has none;
	// see arch.go): per-head RMSNorms of queries and keys before RoPE
	// ([hd] each, attention sub-block) and the norms of each sub-block's
	// output before it joins the residual stream ([D] each). Every norm
	// vector holds the factor it multiplies by: Gemma's 1 + w is folded in
	// when the layer is built.
	QNorm, KNorm []float32
	PostAttnNorm []float32
	PostMLPNorm  []float32
	// Kind is how the layer's attention attends (sliding or global): its
	// source layer's kind, which it keeps in any slot (see arch.go).
	Kind model.LayerKind

	// parts are the cached layers a composed layer points into (Compose):
	// the cache pins them, not the composition.
	parts []*Layer
}

// Bytes is the memory the layer holds (a composed layer holds none of its
// own).
func (l *Layer) Bytes() int64 {
	if l.parts != nil {
		return 0
	}
	n := int64(len(l.AttnNorm)+len(l.MLPNorm)+len(l.QKVBias)+len(l.QNorm)+len(l.KNorm)+len(l.PostAttnNorm)+len(l.PostMLPNorm)) * 4
	return n + l.QKV.Bytes() + l.O.Bytes() + l.GateUp.Bytes() + l.Down.Bytes()
}

// LayerBytes is what a whole layer of cfg takes packed from values of
// format f (Layer.Bytes once built): what the cache makes room for
// before a layer is read or merged.
func LayerBytes(cfg *model.Config, f kernel.Format) int64 {
	d, i, qkv := cfg.HiddenSize, cfg.IntermediateSize, cfg.QDim()+2*cfg.KVDim()
	n := int64(2*d) * 4
	if cfg.HasAttentionBias() {
		n += int64(qkv) * 4
	}
	n += extraNormBytes(cfg)
	return n + kernel.PackedBytes(qkv, d, f) + kernel.PackedBytes(d, cfg.QDim(), f) +
		kernel.PackedBytes(2*i, d, f) + kernel.PackedBytes(d, i, f)
}

// HeadBytes is what a head of cfg takes packed from values of format f.
func HeadBytes(cfg *model.Config, f kernel.Format) int64 {
	n := int64(cfg.HiddenSize)*4 + kernel.PackedBytes(cfg.VocabSize, cfg.HiddenSize, f)
	if !cfg.TieWordEmbeddings {
		n += kernel.PackedBytes(cfg.VocabSize, cfg.HiddenSize, f)
	}
	return n
}

// HasAttn and HasMLP report whether the layer runs that sub-block.
func (l *Layer) HasAttn() bool { return l.QKV != nil }

// HasMLP reports whether the layer runs its MLP sub-block.
func (l *Layer) HasMLP() bool { return l.GateUp != nil }

// Compose makes a layer of attn's attention sub-block and mlp's MLP
// sub-block, sharing their packed weights; nil skips that sub-block.
// The pins the cache holds on attn and mlp pass to the composed layer
// (see LayerCache.Adopt and Unpin).
func Compose(attn, mlp *Layer) *Layer {
	l := &Layer{parts: []*Layer{}}
	if mlp != nil {
		l.Kind = mlp.Kind
	}
	if attn != nil {
		l.Kind = attn.Kind
		l.AttnNorm, l.QKV, l.QKVBias, l.O = attn.AttnNorm, attn.QKV, attn.QKVBias, attn.O
		l.QNorm, l.KNorm, l.PostAttnNorm = attn.QNorm, attn.KNorm, attn.PostAttnNorm
		l.parts = append(l.parts, attn)
	}
	if mlp != nil {
		l.MLPNorm, l.GateUp, l.Down, l.PostMLPNorm = mlp.MLPNorm, mlp.GateUp, mlp.Down, mlp.PostMLPNorm
		l.parts = append(l.parts, mlp)
	}
	return l
}

// weights lists what the cache pins for the layer: itself, or the layers
// it is composed of.
func (l *Layer) weights() []Weights {
	if l.parts == nil {
		return []Weights{l}
	}
	var ws []Weights
	for _, p := range l.parts {
		ws = append(ws, p.weights()...)
	}
	return ws
}

// NewLayer packs a layer's float32 tensors. It checks every shape against
// cfg. Without attention tensors it is NewMLPLayer.
func NewLayer(cfg *model.Config, t Tensors) (*Layer, error) {
	attn := t[model.AttnNorm] != nil || t[model.Q] != nil || t[model.O] != nil
	return BuildLayer(cfg, mapSource(t), attn)
}

// NewMLPLayer packs only the MLP sub-block of a layer's tensors: the layer
// skips attention.
func NewMLPLayer(cfg *model.Config, t Tensors) (*Layer, error) {
	return BuildLayer(cfg, mapSource(t), false)
}

// BuildLayer packs a layer from src, matrix by matrix (only the MLP
// sub-block unless attn). A zero output projection makes its sub-block
// add exactly nothing — how build writes a sub-block a plan skips — so
// that sub-block is skipped here too.
func BuildLayer(cfg *model.Config, src Source, attn bool) (*Layer, error) {
	d, l := cfg.HiddenSize, &Layer{}
	var zero bool
	var err error
	if attn {
		if l.AttnNorm, err = normVector(cfg, src, model.AttnNorm, d); err != nil {
			return nil, err
		}
		// q/k/v (and gate/up) are packed as one matrix each, straight from
		// their tensors (or the fused tensor, which is that matrix).
		if l.QKV, _, err = packParts(src, d, qkvParts(cfg)...); err != nil {
			return nil, err
		}
		if cfg.HasAttentionBias() {
			for _, r := range []string{model.QBias, model.KBias, model.VBias} {
				b, err := vector(src, r, elems(cfg, r))
				if err != nil {
					return nil, err
				}
				l.QKVBias = append(l.QKVBias, b...)
			}
		}
		if err := l.buildAttnNorms(cfg, src); err != nil {
			return nil, err
		}
		if l.O, zero, err = packParts(src, cfg.QDim(), layerPart(cfg, model.O)); err != nil {
			return nil, err
		}
		if zero {
			l.AttnNorm, l.QKV, l.QKVBias, l.O = nil, nil, nil, nil
			l.QNorm, l.KNorm, l.PostAttnNorm = nil, nil, nil
		}
	}
	if l.MLPNorm, err = normVector(cfg, src, model.MLPNorm, d); err != nil {
		return nil, err
	}
	if l.GateUp, _, err = packParts(src, d, gateUpParts(cfg)...); err != nil {
		return nil, err
	}
	if cfg.Spec().Has(model.PostMLPNorm) {
		if l.PostMLPNorm, err = normVector(cfg, src, model.PostMLPNorm, d); err != nil {
			return nil, err
		}
	}
	if l.Down, zero, err = packParts(src, cfg.IntermediateSize, layerPart(cfg, model.Down)); err != nil {
		return nil, err
	}
	if zero {
		l.MLPNorm, l.GateUp, l.Down, l.PostMLPNorm = nil, nil, nil, nil
	}
	return l, nil
}

func layerPart(cfg *model.Config, role string) part { return part{role, elems(cfg, role)} }

// LoadLayer reads and packs layer i of m (BF16 and F16 tensors without a
// float32 copy).
func LoadLayer(m *model.Model, i int) (*Layer, error) {
	if i < 0 || i >= m.Config.NumHiddenLayers {
		return nil, fmt.Errorf("model %s: layer %d out of range [0, %d)", m.Name, i, m.Config.NumHiddenLayers)
	}
	l, err := BuildLayer(m.Config, CheckpointSource(m, i), true)
	if err != nil {
		return nil, fmt.Errorf("model %s layer %d: %w", m.Name, i, err)
	}
	l.Kind = m.Config.KindAt(i)
	return l, nil
}

// Head holds the parts outside the decoder layers. The embedding table is
// a packed matrix read a row at a time: with tied embeddings it is the
// lm_head itself, so the table is held once (in 16 bits for BF16 weights).
type Head struct {
	Embed     *kernel.Packed // [V, D]
	FinalNorm []float32      // [D]
	LMHead    *kernel.Packed // [V, D] (Embed when tied)
	// EmbedScale multiplies every embedding row (0: none; Gemma's √hidden
	// in the embedding table's dtype).
	EmbedScale float32
}

// Bytes is the memory the head holds.
func (h *Head) Bytes() int64 {
	n := int64(len(h.FinalNorm))*4 + h.LMHead.Bytes()
	if h.Embed != h.LMHead {
		n += h.Embed.Bytes()
	}
	return n
}

// HeadTensors are the outer tensors in float32; LMHead is nil when tied.
type HeadTensors struct {
	Embed, FinalNorm, LMHead []float32
}

// NewHead packs a head's float32 tensors.
func NewHead(cfg *model.Config, t *HeadTensors) (*Head, error) {
	return BuildHead(cfg, mapSource{HeadEmbed: t.Embed, HeadNorm: t.FinalNorm, HeadLM: t.LMHead})
}

// BuildHead packs a head from src (a tied model's lm_head is its
// embeddings).
func BuildHead(cfg *model.Config, src Source) (*Head, error) {
	v, d := cfg.VocabSize, cfg.HiddenSize
	h := &Head{}
	var err error
	if h.Embed, _, err = packParts(src, d, part{HeadEmbed, v * d}); err != nil {
		return nil, err
	}
	if h.FinalNorm, err = normVector(cfg, src, HeadNorm, d); err != nil {
		return nil, err
	}
	h.EmbedScale = embedScale(cfg, src.Format(HeadEmbed))
	h.LMHead = h.Embed
	if !cfg.TieWordEmbeddings {
		if h.LMHead, _, err = packParts(src, d, part{HeadLM, v * d}); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// LoadHead reads and packs m's head (BF16 and F16 tables a block of rows
// at a time).
func LoadHead(m *model.Model) (*Head, error) {
	h, err := BuildHead(m.Config, CheckpointSource(m, -1))
	if err != nil {
		return nil, fmt.Errorf("model %s head: %w", m.Name, err)
	}
	return h, nil
}
