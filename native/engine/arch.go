package engine

import (
	"math"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/f16"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/model"
)

// The per-architecture parts of the layer steps (model.Arch says which an
// architecture has): norms of (1 + w), per-head q/k norms, sub-block
// output norms, the GELU MLP, soft caps, the embedding scale, and layer
// kinds (sliding or global) with their own RoPE. Every one is a vector
// pass over rows the shared steps (attnBlock, mlpBlock, attention, the
// head) already hold; a Llama layer skips them all.

// qkvParts are the tensors whose rows make the QKV matrix: q, k, v, or
// the fused qkv (Phi-3), which is that matrix as stored.
func qkvParts(cfg *model.Config) []part {
	if cfg.Spec().Has(model.QKV) {
		return []part{layerPart(cfg, model.QKV)}
	}
	return []part{layerPart(cfg, model.Q), layerPart(cfg, model.K), layerPart(cfg, model.V)}
}

// gateUpParts are the tensors whose rows make the GateUp matrix.
func gateUpParts(cfg *model.Config) []part {
	if cfg.Spec().Has(model.GateUp) {
		return []part{layerPart(cfg, model.GateUp)}
	}
	return []part{layerPart(cfg, model.Gate), layerPart(cfg, model.Up)}
}

// normVector reads a norm weight as the factor it multiplies by: w, or
// 1 + w in float32 for architectures whose norms are (1 + w) (Gemma). The
// source's values are not changed.
func normVector(cfg *model.Config, src Source, name string, n int) ([]float32, error) {
	v, err := vector(src, name, n)
	if err != nil || !cfg.Spec().NormPlusOne {
		return v, err
	}
	out := make([]float32, len(v))
	for i, w := range v {
		out[i] = 1 + w
	}
	return out, nil
}

// buildAttnNorms reads the attention sub-block's q/k and output norms.
func (l *Layer) buildAttnNorms(cfg *model.Config, src Source) error {
	a := cfg.Spec()
	var err error
	if a.Has(model.QNorm) {
		if l.QNorm, err = normVector(cfg, src, model.QNorm, cfg.HeadDim); err != nil {
			return err
		}
		if l.KNorm, err = normVector(cfg, src, model.KNorm, cfg.HeadDim); err != nil {
			return err
		}
	}
	if a.Has(model.PostAttnNorm) {
		if l.PostAttnNorm, err = normVector(cfg, src, model.PostAttnNorm, cfg.HiddenSize); err != nil {
			return err
		}
	}
	return nil
}

// extraNormBytes is what the q/k and output norms of a layer of cfg take.
func extraNormBytes(cfg *model.Config) int64 {
	a := cfg.Spec()
	var n int64
	if a.Has(model.QNorm) {
		n += int64(2 * cfg.HeadDim)
	}
	if a.Has(model.PostAttnNorm) {
		n += int64(2 * cfg.HiddenSize)
	}
	return n * 4
}

// embedScale is the factor of the embeddings: √hidden rounded to the
// embedding table's dtype, as Gemma computes it (a BF16 table gives
// √2304 = 48 exactly, √1152 = 33.94… becomes 34), or 0 for none.
func embedScale(cfg *model.Config, f kernel.Format) float32 {
	if cfg.Spec().EmbedScale != "sqrt_hidden" {
		return 0
	}
	s := float32(math.Sqrt(float64(cfg.HiddenSize)))
	switch f {
	case kernel.BF16:
		return bf16.ToFloat32(bf16.FromFloat32(s))
	case kernel.F16:
		return f16.ToFloat32(f16.FromFloat32(s))
	}
	return s
}

// kindAt is the kind of layer slot i of the net: Kinds when set, else
// the layer's own — the kind of the layer it was loaded or merged from.
// A Gemma layer keeps its source layer's kind, and with it its window and
// (Gemma 3) its RoPE base, in any slot: its q/k weights were trained for
// those rotations and that reach, and on a random Gemma 3 stack with
// layers cut out the cut model is closer to the full one so (kinds_test.go;
// RATIONALE). build writes the kinds as layer_types.
func (n *Net) kindAt(i int) model.LayerKind {
	if i >= 0 && i < len(n.Kinds) {
		return n.Kinds[i]
	}
	if i >= 0 && i < len(n.Layers) {
		return n.Layers[i].Kind
	}
	return model.Global
}

// qkNorms applies the per-head RMSNorms to every query and key head of
// the batch's q/k/v rows, in place.
func (n *Net) qkNorms(b *batch, l *Layer) {
	c := n.Cfg
	hd, qkvW := c.HeadDim, c.QDim()+2*c.KVDim()
	for r := 0; r < b.rows; r++ {
		row := b.qkv[r*qkvW:]
		for h := 0; h < c.NumAttentionHeads; h++ {
			v := row[h*hd : (h+1)*hd]
			kernel.RMSNorm(v, v, l.QNorm, c.RMSNormEps)
		}
		for h := 0; h < c.NumKeyValueHeads; h++ {
			v := row[c.QDim()+h*hd : c.QDim()+(h+1)*hd]
			kernel.RMSNorm(v, v, l.KNorm, c.RMSNormEps)
		}
	}
}

// addNormed adds norm(y) to x row by row (y is overwritten): a sub-block
// output norm (Gemma's post_attention_layernorm and
// post_feedforward_layernorm) — or, with accumulate false, writes it.
func addNormed(x, y, w []float32, d int, eps float64, accumulate bool) {
	rmsNorm(y, y, w, d, eps)
	if !accumulate {
		copy(x, y[:len(x)])
		return
	}
	for r := 0; r+d <= len(x); r += d {
		kernel.Axpy(1, y[r:r+d], x[r:r+d])
	}
}

// activate writes act(gate) · up for every row of the batch.
func (n *Net) activate(b *batch) {
	inter := n.Cfg.IntermediateSize
	mul := kernel.SiLUMul
	if n.act == "gelu_tanh" {
		mul = kernel.GELUTanhMul
	}
	for r := 0; r < b.rows; r++ {
		g := b.gu[r*2*inter : r*2*inter+inter]
		u := b.gu[r*2*inter+inter : (r+1)*2*inter]
		mul(b.h[r*inter:(r+1)*inter], g, u)
	}
}

// softCap caps a block of logits or scores in place (no-op for cp 0).
func softCap(x []float32, cp float64) {
	if cp > 0 {
		kernel.SoftCap(x, float32(cp))
	}
}

// ropeTab is one kind's rotary tables (cos and sin already multiplied by
// longrope's attention factor).
type ropeTab struct {
	inv      []float64
	scale    float32
	cos, sin []float32 // [positions][hd/2]
}

// ropeOf returns the cos/sin tables of a layer of kind k covering the
// batch's positions: longrope's long factors when the batch reaches past
// its pre-training context (as Hugging Face switches on the largest
// position of a call).
func (n *Net) ropeOf(b *batch, k model.LayerKind) (cos, sin []float32) {
	if !n.Cfg.Spec().LocalRope {
		k = model.Global // one table serves every layer
	}
	long := 0
	if above := n.Cfg.LongRopeAbove(); above > 0 && b.maxPos > above {
		long = 1
	}
	n.ropeMu.Lock()
	defer n.ropeMu.Unlock()
	t := n.ropes[k][long]
	if t == nil {
		t = &ropeTab{}
		inv, scale := n.Cfg.Rope(k, long == 1)
		t.inv, t.scale = inv, float32(scale)
		n.ropes[k][long] = t
	}
	half := n.Cfg.HeadDim / 2
	if len(t.cos)/half < b.maxPos {
		c := make([]float32, b.maxPos*half)
		s := make([]float32, b.maxPos*half)
		for p := 0; p < b.maxPos; p++ {
			for i, f := range t.inv {
				// float32 angle, as the reference computes pos·inv_freq
				ang := float64(float32(p) * float32(f))
				c[p*half+i] = float32(math.Cos(ang))
				s[p*half+i] = float32(math.Sin(ang))
				if t.scale != 1 {
					c[p*half+i] *= t.scale
					s[p*half+i] *= t.scale
				}
			}
		}
		t.cos, t.sin = c, s
	}
	return t.cos, t.sin
}

// WeightFormat is the format of m's layer matrices (of its q, or fused
// qkv, projection): what a layer of m is packed from.
func WeightFormat(m *model.Model, layer int) kernel.Format {
	role := model.Q
	if m.Config.Spec().Has(model.QKV) {
		role = model.QKV
	}
	return CheckpointSource(m, layer).Format(role)
}
