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
	n := int64(len(l.AttnNorm)+len(l.MLPNorm)+len(l.QKVBias)) * 4
	return n + l.QKV.Bytes() + l.O.Bytes() + l.GateUp.Bytes() + l.Down.Bytes()
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
	if attn != nil {
		l.AttnNorm, l.QKV, l.QKVBias, l.O = attn.AttnNorm, attn.QKV, attn.QKVBias, attn.O
		l.parts = append(l.parts, attn)
	}
	if mlp != nil {
		l.MLPNorm, l.GateUp, l.Down = mlp.MLPNorm, mlp.GateUp, mlp.Down
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

// NewLayer packs a layer's tensors. It checks every shape against cfg.
// Without attention tensors it is NewMLPLayer.
func NewLayer(cfg *model.Config, t Tensors) (*Layer, error) {
	if t[model.AttnNorm] == nil && t[model.Q] == nil && t[model.O] == nil {
		return NewMLPLayer(cfg, t)
	}
	roles := []string{model.AttnNorm, model.Q, model.K, model.V, model.O}
	if cfg.HasAttentionBias() {
		roles = append(roles, model.QBias, model.KBias, model.VBias)
	}
	if err := checkShapes(cfg, t, roles); err != nil {
		return nil, err
	}
	l, err := NewMLPLayer(cfg, t)
	if err != nil {
		return nil, err
	}
	d := cfg.HiddenSize
	// q/k/v (and gate/up) are packed as one matrix each, straight from
	// their tensors (a 1B layer's gate+up concatenated would be 134 MB more).
	l.AttnNorm = append([]float32(nil), t[model.AttnNorm]...)
	l.QKV = kernel.PackRows(d, t[model.Q], t[model.K], t[model.V])
	l.O = kernel.Pack(t[model.O], d, cfg.QDim())
	if cfg.HasAttentionBias() {
		l.QKVBias = append(append(append(make([]float32, 0, cfg.QDim()+2*cfg.KVDim()), t[model.QBias]...), t[model.KBias]...), t[model.VBias]...)
	}
	// A zero output projection makes its sub-block add exactly nothing:
	// how build writes a sub-block a plan skips. Skip it here too.
	if allZero(t[model.O]) {
		l.AttnNorm, l.QKV, l.QKVBias, l.O = nil, nil, nil, nil
	}
	if allZero(t[model.Down]) {
		l.MLPNorm, l.GateUp, l.Down = nil, nil, nil
	}
	return l, nil
}

// checkShapes checks the tensors of roles against cfg's shapes.
func checkShapes(cfg *model.Config, t Tensors, roles []string) error {
	for _, r := range roles {
		want := 1
		for _, d := range cfg.ExpectedShape(r) {
			want *= d
		}
		if len(t[r]) != want {
			return fmt.Errorf("layer tensor %s has %d values, want %d", r, len(t[r]), want)
		}
	}
	return nil
}

func allZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// NewMLPLayer packs only the MLP sub-block of a layer's tensors: the layer
// skips attention.
func NewMLPLayer(cfg *model.Config, t Tensors) (*Layer, error) {
	if err := checkShapes(cfg, t, []string{model.MLPNorm, model.Gate, model.Up, model.Down}); err != nil {
		return nil, err
	}
	d := cfg.HiddenSize
	return &Layer{
		MLPNorm: append([]float32(nil), t[model.MLPNorm]...),
		GateUp:  kernel.PackRows(d, t[model.Gate], t[model.Up]),
		Down:    kernel.Pack(t[model.Down], d, cfg.IntermediateSize),
	}, nil
}

// ReadTensors reads layer i of m as float32 tensors.
func ReadTensors(m *model.Model, i int) (Tensors, error) {
	if i < 0 || i >= m.Config.NumHiddenLayers {
		return nil, fmt.Errorf("model %s: layer %d out of range [0, %d)", m.Name, i, m.Config.NumHiddenLayers)
	}
	t := Tensors{}
	for _, role := range m.Roles() {
		v, err := m.Tensors.ReadFloat32(m.LayerTensorName(role, i))
		if err != nil {
			return nil, err
		}
		t[role] = v
	}
	return t, nil
}

// LoadLayer reads and packs layer i of m.
func LoadLayer(m *model.Model, i int) (*Layer, error) {
	t, err := ReadTensors(m, i)
	if err != nil {
		return nil, err
	}
	l, err := NewLayer(m.Config, t)
	if err != nil {
		return nil, fmt.Errorf("model %s layer %d: %w", m.Name, i, err)
	}
	return l, nil
}

// Head holds the parts outside the decoder layers. The embedding table is
// a packed matrix read a row at a time: with tied embeddings it is the
// lm_head itself, so the table is held once (in 16 bits for BF16 weights).
type Head struct {
	Embed     *kernel.Packed // [V, D]
	FinalNorm []float32      // [D]
	LMHead    *kernel.Packed // [V, D] (Embed when tied)
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

// ReadHead reads m's embeddings, final norm and lm_head.
func ReadHead(m *model.Model) (*HeadTensors, error) {
	var h HeadTensors
	var err error
	if h.Embed, err = m.Tensors.ReadFloat32(m.Arch.Embed); err != nil {
		return nil, err
	}
	if h.FinalNorm, err = m.Tensors.ReadFloat32(m.Arch.FinalNorm); err != nil {
		return nil, err
	}
	if !m.Config.TieWordEmbeddings {
		if h.LMHead, err = m.Tensors.ReadFloat32(m.Arch.LMHead); err != nil {
			return nil, err
		}
	}
	return &h, nil
}

// NewHead packs the output projection.
func NewHead(cfg *model.Config, t *HeadTensors) (*Head, error) {
	v, d := cfg.VocabSize, cfg.HiddenSize
	if len(t.Embed) != v*d || len(t.FinalNorm) != d || (t.LMHead != nil && len(t.LMHead) != v*d) {
		return nil, fmt.Errorf("head tensors do not match vocab %d × hidden %d", v, d)
	}
	emb := kernel.Pack(t.Embed, v, d)
	out := emb
	if t.LMHead != nil {
		out = kernel.Pack(t.LMHead, v, d)
	}
	return &Head{Embed: emb, FinalNorm: t.FinalNorm, LMHead: out}, nil
}

// LoadHead reads and packs m's head.
func LoadHead(m *model.Model) (*Head, error) {
	t, err := ReadHead(m)
	if err != nil {
		return nil, err
	}
	return NewHead(m.Config, t)
}
