package stitch

import (
	"fmt"

	"github.com/gptailor/gptailor/native/model"
	"github.com/gptailor/gptailor/shared/plan"
)

// What stitching needs to know of the newer architectures.
//
// Sub-blocks: a layer's attention sub-block is every tensor model.AttnRole
// names — input norm, q/k/v (or Phi-3's fused qkv) with biases, Qwen3's
// and Gemma 3's per-head q_norm/k_norm, o, and Gemma's post-attention
// output norm; the MLP sub-block is the rest — its input norm (Llama's
// post_attention_layernorm, Gemma's pre_feedforward_layernorm), gate/up
// (or gate_up), down and Gemma's post_feedforward_layernorm. A sub-block
// taken from another layer brings its own output norm with it: the norm
// belongs to the computation whose output it scales.

// mlpRoles are the roles of a layer's MLP sub-block in cfg's architecture.
func mlpRoles(cfg *model.Config) []string {
	var out []string
	for _, r := range cfg.Roles() {
		if !model.AttnRole(r) {
			out = append(out, r)
		}
	}
	return out
}

// repairable refuses a linear repair where it cannot be folded: in a
// post-norm layer (Gemma 2 and 3) the MLP output that joins the residual
// stream is post_feedforward_layernorm(down·h) — the output repair would
// fit (engine.Net.Capture's m) — and a map T applied after that RMS norm
// cannot be folded into down_proj, which sits before it.
func repairable(cfg *model.Config) error {
	if cfg.Spec().Has(model.PostMLPNorm) {
		return fmt.Errorf("repair: model_type %s norms each MLP output (post_feedforward_layernorm) before adding it to the residual stream, so the fitted map cannot be folded into down_proj; drop repair from the plan for this family", cfg.ModelType)
	}
	return nil
}

// SlotKinds is the kind (sliding or global) each slot of p runs as: its
// attention sub-block's source layer's (a merge's base layer for a
// merge; the MLP's source when the slot skips attention, where the kind
// changes nothing). build writes them as layer_types.
func SlotKinds(p *plan.Plan, cfg *model.Config) []model.LayerKind {
	out := make([]model.LayerKind, len(p.Slots))
	for i, s := range p.Slots {
		attn, mlp := s.Blocks()
		pt := attn
		if pt.None {
			pt = mlp
		}
		switch {
		case pt.Take != nil:
			out[i] = cfg.KindAt(pt.Take.Layer)
		case pt.Merge != nil:
			out[i] = cfg.KindAt(pt.Merge.Layer)
		default:
			out[i] = cfg.KindAt(i)
		}
	}
	return out
}
