package build

import (
	"fmt"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/safetensors"
	"github.com/gptailor/gptailor/native/stitch"
	"github.com/gptailor/gptailor/shared/plan"
)

// Roles of the tensors outside the decoder layers (Tensor.Role).
const (
	OuterEmbed  = "embed"
	OuterNorm   = "final_norm"
	OuterLMHead = "lm_head"
)

// Tensor is one tensor of a built model, produced on demand: a copy of a
// source tensor, or computed (a merge, a repaired projection, a skipped
// sub-block's zeros). Every writer (safetensors here, GGUF in
// native/ggufexport) reads a plan through Tensors, so a plan means the
// same weights in every format.
type Tensor struct {
	Name  string            // name in the built Hugging Face checkpoint
	Shape []int             // row-major
	DType safetensors.DType // the source's dtype for a copy, the base's for a computed tensor
	Role  string            // a layer role (model.Q, ...) or OuterEmbed, OuterNorm, OuterLMHead
	Layer int               // the slot, -1 outside the layers
	Zero  bool              // a skipped sub-block's tensor: all zeros
	raw   func() ([]byte, error)
	f32   func() ([]float32, error)
}

// Float32 produces the tensor's values.
func (t *Tensor) Float32() ([]float32, error) { return t.f32() }

// Encode produces the tensor stored as dt ("" keeps DType): a copy in its
// own dtype is read as stored, without conversion.
func (t *Tensor) Encode(dt safetensors.DType) ([]byte, error) {
	if dt == "" {
		dt = t.DType
	}
	if dt == t.DType && t.raw != nil {
		return t.raw()
	}
	v, err := t.f32()
	if err != nil {
		return nil, err
	}
	if err := checkFinite(v, dt); err != nil {
		return nil, err
	}
	return safetensors.FromFloat32(dt, v)
}

// Tensors lists the tensors of plan p's model in file order (embeddings,
// layers, final norm, head) and the repairs fitted for it (fitting them
// runs the family on the calibration text).
func Tensors(b *stitch.Builder, p *plan.Plan) ([]Tensor, []stitch.Fitted, error) {
	if err := plan.Validate(p, stitch.Info(b.Family)); err != nil {
		return nil, nil, err
	}
	base := b.Family.Base()
	var outs []Tensor
	raw := func(m *model.Model, src, dst, role string, layer int) (Tensor, error) {
		info, ok := m.Tensors.Info(src)
		if !ok {
			return Tensor{}, fmt.Errorf("model %s: no tensor [%s]", m.Name, src)
		}
		return Tensor{Name: dst, Shape: info.Shape, DType: info.DType, Role: role, Layer: layer,
			raw: func() ([]byte, error) {
				_, b, err := m.Tensors.ReadRaw(src)
				return b, err
			},
			f32: func() ([]float32, error) { return m.Tensors.ReadFloat32(src) },
		}, nil
	}
	computed := func(src, dst, role string, layer int, f func() ([]float32, error)) Tensor {
		info, _ := base.Tensors.Info(src)
		return Tensor{Name: dst, Shape: info.Shape, DType: info.DType, Role: role, Layer: layer, f32: f}
	}
	outer := func(o *plan.Outer, name, role string) (Tensor, error) {
		if o != nil && o.Merge != nil {
			return computed(name, name, role, -1, func() ([]float32, error) { return b.OuterTensor(o, name) }), nil
		}
		m := base
		if o != nil {
			var ok bool
			if m, ok = b.Family.Model(o.Model); !ok {
				return Tensor{}, fmt.Errorf("model %q is not in the family", o.Model)
			}
		}
		return raw(m, name, name, role, -1)
	}
	o, err := outer(p.Embed, base.Arch.Embed, OuterEmbed)
	if err != nil {
		return nil, nil, err
	}
	outs = append(outs, o)
	fits, err := b.Repairs(p)
	if err != nil {
		return nil, nil, err
	}
	repaired := map[int][]float64{}
	for _, f := range fits {
		repaired[f.Cut.Slot] = f.T
	}
	for i, s := range p.Slots {
		attn, mlp := s.Blocks()
		for _, role := range base.Roles() {
			dst := base.LayerTensorName(role, i)
			pt := mlp
			if model.AttnRole(role) {
				pt = attn
			}
			switch {
			case pt.None:
				// A skipped sub-block is written as zeros: its output
				// projection is 0, so it adds nothing to the residual
				// stream in any loader (see RATIONALE).
				info, _ := base.Tensors.Info(base.LayerTensorName(role, 0))
				t := computed(base.LayerTensorName(role, 0), dst, role, i, func() ([]float32, error) { return make([]float32, info.NumElements()), nil })
				t.Zero = true
				outs = append(outs, t)
			case repaired[i] != nil && !model.AttnRole(role):
				t := repaired[i]
				outs = append(outs, computed(base.LayerTensorName(role, 0), dst, role, i, func() ([]float32, error) {
					ts, err := b.RepairedMLPTensors(mlp, t)
					if err != nil {
						return nil, err
					}
					return ts[role], nil
				}))
			case pt.Take != nil:
				m, _ := b.Family.Model(pt.Take.Model)
				o, err := raw(m, m.LayerTensorName(role, pt.Take.Layer), dst, role, i)
				if err != nil {
					return nil, nil, err
				}
				outs = append(outs, o)
			default:
				mg := pt.Merge
				src := base.LayerTensorName(role, mg.Layer)
				outs = append(outs, computed(src, dst, role, i, func() ([]float32, error) { return b.LayerTensor(mg, role) }))
			}
		}
	}
	if o, err = outer(p.Head, base.Arch.FinalNorm, OuterNorm); err != nil {
		return nil, nil, err
	}
	outs = append(outs, o)
	if !base.Config.TieWordEmbeddings {
		if o, err = outer(p.Head, base.Arch.LMHead, OuterLMHead); err != nil {
			return nil, nil, err
		}
		outs = append(outs, o)
	}
	return outs, fits, nil
}
