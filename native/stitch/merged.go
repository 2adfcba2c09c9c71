package stitch

import (
	"fmt"

	"github.com/gptailor/gptailor/native/bf16"
	"github.com/gptailor/gptailor/native/engine"
	"github.com/gptailor/gptailor/native/f16"
	"github.com/gptailor/gptailor/native/kernel"
	"github.com/gptailor/gptailor/native/merge"
	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/native/parallel"
	"github.com/gptailor/gptailor/shared/plan"
)

// LayerTensor merges one role (q_proj, ...) of a merged slot: each model's
// tensor at its source layer, the base's at m.Layer. Overrides match the
// tensor's name at m.Layer.
func (b *Builder) LayerTensor(m *plan.Merge, role string) ([]float32, error) {
	r := b.layerRecipe(m, role)
	return b.mergeTensor(r.merge, r.tensor, r.source)
}

// MergeTensor merges one tensor outside the layers (same name in every
// model) by m; it holds only that tensor of each source.
func (b *Builder) MergeTensor(m *plan.Merge, name string) ([]float32, error) {
	return b.mergeTensor(m, name, func(int) string { return name })
}

// chunk is how many entries of a large tensor an element-wise merge reads
// from each source at a time: merging a Llama-3.2-1B embedding
// (262M entries) from four models whole held ~6 GB at once.
var chunk int64 = 1 << 22

func (b *Builder) mergeTensor(m *plan.Merge, name string, source func(k int) string) ([]float32, error) {
	var out []float32
	err := b.mergeStream(m, name, source, 1, func(v []float32) error {
		if out == nil {
			info, _ := b.Family.Base().Tensors.Info(name)
			out = make([]float32, 0, max(int64(len(v)), info.NumElements()))
		}
		out = append(out, v...)
		return nil
	})
	return out, err
}

// mergeStream merges a tensor and gives it to put in consecutive blocks of
// whole rows of rowLen entries: an element-wise merge of a large tensor a
// chunk at a time, any other whole.
func (b *Builder) mergeStream(m *plan.Merge, name string, source func(k int) string, rowLen int, put func([]float32) error) error {
	info, ok := b.Family.Base().Tensors.Info(name)
	if !ok || !merge.Elementwise(m.Method) || info.NumElements() <= 2*chunk {
		v, err := b.mergeRange(m, name, source, -1, -1)
		if err != nil {
			return err
		}
		return put(v)
	}
	return engine.Blocks(info.NumElements(), rowLen, chunk, func(lo, hi int64) error {
		v, err := b.mergeRange(m, name, source, lo, hi)
		if err != nil {
			return err
		}
		return put(v)
	})
}

// mergeRange merges entries [lo, hi) of a tensor (lo < 0: all of it).
func (b *Builder) mergeRange(m *plan.Merge, name string, source func(k int) string, lo, hi int64) ([]float32, error) {
	read := func(mm *model.Model, tensor string) ([]float32, error) {
		if lo < 0 {
			return mm.Tensors.ReadFloat32(tensor)
		}
		return mm.Tensors.ReadFloat32Range(tensor, lo, hi)
	}
	in := merge.Input{Name: name, Params: m.ParamsFor(name)}
	for k, a := range m.Models {
		mm, err := b.model(a)
		if err != nil {
			return nil, err
		}
		v, err := read(mm, source(k))
		if err != nil {
			return nil, err
		}
		in.Models = append(in.Models, v)
	}
	if m.Info().UsesBase {
		bm, err := b.model(m.BaseModel())
		if err != nil {
			return nil, err
		}
		if in.Base, err = read(bm, name); err != nil {
			return nil, err
		}
	}
	return merge.Tensor(m.Method, in)
}

// OuterTensor reads or merges one tensor outside the layers (embeddings,
// final norm, lm_head) from the source o (nil: the base).
func (b *Builder) OuterTensor(o *plan.Outer, name string) ([]float32, error) {
	r, err := b.outerRecipe(o, name)
	if err != nil {
		return nil, err
	}
	if r.merge != nil {
		return b.mergeTensor(r.merge, r.tensor, r.source)
	}
	return r.model.Tensors.ReadFloat32(r.tensor)
}

// recipe is where one tensor of a net comes from: a member's checkpoint
// tensor (model), or a merge of one tensor of each of its models.
type recipe struct {
	model  *model.Model
	tensor string // the checkpoint tensor (a merge's name at the base)
	merge  *plan.Merge
	source func(k int) string // a merge's k-th model's tensor
}

func (b *Builder) layerRecipe(m *plan.Merge, role string) recipe {
	base := b.Family.Base()
	return recipe{tensor: base.LayerTensorName(role, m.Layer), merge: m,
		source: func(k int) string { return base.LayerTensorName(role, m.SourceLayer(k)) }}
}

func (b *Builder) outerRecipe(o *plan.Outer, name string) (recipe, error) {
	switch {
	case o == nil:
		return recipe{model: b.Family.Base(), tensor: name}, nil
	case o.Merge != nil:
		return recipe{tensor: name, merge: o.Merge, source: func(int) string { return name }}, nil
	}
	m, err := b.model(o.Model)
	return recipe{model: m, tensor: name}, err
}

// layerSource gives a merged layer's tensors by role.
func (b *Builder) layerSource(m *plan.Merge) planSource {
	return planSource{b: b, recipe: func(role string) (recipe, error) { return b.layerRecipe(m, role), nil }}
}

// headSource gives a plan's embeddings, final norm and lm_head. With tied
// embeddings the lm_head is the plan's embeddings (as in every tied
// checkpoint); the head source then decides the final norm only.
func (b *Builder) headSource(p *plan.Plan) planSource {
	base := b.Family.Base()
	return planSource{b: b, recipe: func(name string) (recipe, error) {
		switch name {
		case engine.HeadEmbed:
			r, err := b.outerRecipe(p.Embed, base.Arch.Embed)
			return r, wrap("embed", err)
		case engine.HeadNorm:
			r, err := b.outerRecipe(p.Head, base.Arch.FinalNorm)
			return r, wrap("head", err)
		}
		r, err := b.outerRecipe(p.Head, base.Arch.LMHead)
		return r, wrap("head", err)
	}}
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// planSource is an engine.Source over recipes: merged tensors are rounded
// to the family's 16-bit format (when it has one) a block at a time, read
// ones come as stored.
type planSource struct {
	b      *Builder
	recipe func(name string) (recipe, error)
	raw    bool // merges unrounded (to be quantized: Builder.deployed)
}

func (s planSource) Format(string) kernel.Format {
	if s.raw {
		return kernel.F32
	}
	return s.b.format
}

func (s planSource) Float32(name string) ([]float32, error) {
	r, err := s.recipe(name)
	if err != nil {
		return nil, err
	}
	if r.merge == nil {
		return r.model.Tensors.ReadFloat32(r.tensor)
	}
	v, err := s.b.mergeTensor(r.merge, r.tensor, r.source)
	if err == nil && !s.raw {
		s.b.round(v)
	}
	return v, err
}

func (s planSource) Half(name string, rowLen int, put func([]uint16) error) error {
	r, err := s.recipe(name)
	if err != nil {
		return err
	}
	if r.merge == nil {
		return engine.ReadHalf(r.model, r.tensor, rowLen, put)
	}
	f16out := s.b.format == kernel.F16
	return s.b.mergeStream(r.merge, r.tensor, r.source, rowLen, func(v []float32) error {
		h := make([]uint16, len(v))
		parallel.For(len(v), 1<<16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				if f16out {
					h[i] = f16.FromFloat32(v[i])
				} else {
					h[i] = bf16.FromFloat32(v[i])
				}
			}
		})
		return put(h)
	})
}
