// Package plan is the layer plan of a tailored model: which decoder layer
// each output slot runs (a layer taken as is from the base or a fine-tune, or
// a merge of one source layer across several models), and where the
// embeddings and the head come from. It is compiled into both the native
// binary and the browser app, so it imports nothing that needs an OS.
//
// The JSON form is versioned and strict: Parse reports every problem it
// finds, each with the path of the field it concerns (slots[3].merge.models[1]).
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Version is the plan format this package reads and writes.
const Version = 1

// BaseAlias is the alias of the family's base model.
const BaseAlias = "base"

// Plan is one tailored model.
type Plan struct {
	Version int               `json:"version"`
	Name    string            `json:"name,omitempty"`
	Models  map[string]string `json:"models,omitempty"` // alias -> model directory; "base" is the base
	Slots   []Slot            `json:"slots"`
	Embed   *Outer            `json:"embed,omitempty"`  // embeddings; nil: the base's
	Head    *Outer            `json:"head,omitempty"`   // final norm and lm_head; nil: the base's
	Repair  *Repair           `json:"repair,omitempty"` // a training-free repair at every cut; nil: none
}

// Slot is one output layer: exactly one of Take and Merge, which gives both
// sub-blocks — unless Attn or MLP (at most one of them) gives that
// sub-block another recipe or none (a residual skip of it).
type Slot struct {
	Take  *Take  `json:"take,omitempty"`
	Merge *Merge `json:"merge,omitempty"`
	Attn  *Part  `json:"attn,omitempty"` // the attention sub-block: input norm, q/k/v/o
	MLP   *Part  `json:"mlp,omitempty"`  // the MLP sub-block: post-attention norm, gate/up/down
}

// Take runs source layer Layer of model Model unchanged.
type Take struct {
	Model string
	Layer int
}

// Merge combines source layer Layer of several models by Method. Every
// tensor of the layer (norms included) is merged with the same rule, unless
// an override whose filter is a substring of the tensor's name says otherwise.
type Merge struct {
	Method string   `json:"method"`
	Layer  int      `json:"layer"`
	Models []string `json:"models"`
	// Layers, when set, gives each model's source layer (one per model),
	// so a slot can merge different layers — LaCo collapses layers
	// l..l+m of one model this way; the base stays at Layer. Without it
	// every model contributes its layer Layer.
	Layers []int `json:"layers,omitempty"`
	// Base is the model task vectors are taken against (task arithmetic,
	// TIES, DARE, breadcrumbs, model stock) and SLERP's t = 0 end; default "base".
	Base string `json:"base,omitempty"`
	Params
	Overrides []Override `json:"overrides,omitempty"`
}

// Params are a merge method's parameters; nil means the method's default.
type Params struct {
	Weights   []float64 `json:"weights,omitempty"`   // per model, default 1
	Lambda    *float64  `json:"lambda,omitempty"`    // scale of the merged task vector, default 1
	Density   *float64  `json:"density,omitempty"`   // fraction kept (ties, dare, breadcrumbs), default 1
	Gamma     *float64  `json:"gamma,omitempty"`     // breadcrumbs: fraction of largest dropped, default 0.01
	T         *float64  `json:"t,omitempty"`         // slerp: 0 = base, 1 = the other model
	Normalize *bool     `json:"normalize,omitempty"` // linear, ties, dare: divide by the weight sum, default true (dare_linear: false)
	Seed      *uint64   `json:"seed,omitempty"`      // dare: random mask seed, default 0
	Scale     *float64  `json:"scale,omitempty"`     // passthrough: multiply the tensor, default 1
}

// Override gives other parameters to the tensors whose name contains Filter
// (first matching override wins; fields left nil fall back to the merge's).
type Override struct {
	Filter string `json:"filter"`
	Params
}

// Outer says where embeddings or the head come from: one model's, or a
// merge of them (Merge.Layer is ignored).
type Outer struct {
	Model string `json:"model,omitempty"`
	Merge *Merge `json:"merge,omitempty"`
}

// SourceLayer is the layer model k of the merge contributes.
func (m *Merge) SourceLayer(k int) int {
	if m.Layers != nil {
		return m.Layers[k]
	}
	return m.Layer
}

// CrossLayer reports whether some model contributes another layer than Layer.
func (m *Merge) CrossLayer() bool {
	for _, l := range m.Layers {
		if l != m.Layer {
			return true
		}
	}
	return false
}

// BaseModel is the merge's base alias (default "base").
func (m *Merge) BaseModel() string {
	if m.Base == "" {
		return BaseAlias
	}
	return m.Base
}

// ParamsFor returns the parameters for one tensor: the first override whose
// filter the name contains, over the merge's own.
func (m *Merge) ParamsFor(tensor string) Params {
	p := m.Params
	for _, o := range m.Overrides {
		if o.Filter == "" || o.Filter == "*" || strings.Contains(tensor, o.Filter) {
			p = p.overlay(o.Params)
			break
		}
	}
	return p
}

func (p Params) overlay(o Params) Params {
	if o.Weights != nil {
		p.Weights = o.Weights
	}
	if o.Lambda != nil {
		p.Lambda = o.Lambda
	}
	if o.Density != nil {
		p.Density = o.Density
	}
	if o.Gamma != nil {
		p.Gamma = o.Gamma
	}
	if o.T != nil {
		p.T = o.T
	}
	if o.Normalize != nil {
		p.Normalize = o.Normalize
	}
	if o.Seed != nil {
		p.Seed = o.Seed
	}
	if o.Scale != nil {
		p.Scale = o.Scale
	}
	return p
}

// Get returns *v or def.
func Get[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}

// Ptr returns a pointer to v (for building plans in code).
func Ptr[T any](v T) *T { return &v }

// Family is what a plan is checked against: the aliases it may use, the
// layer count of every model and the parameter counts.
type Family struct {
	Models      []string // aliases, base first
	Layers      int
	LayerParams int64 // parameters of one decoder layer
	OuterParams int64 // embeddings, final norm and (untied) lm_head
	// AttnParams and MLPParams split LayerParams by sub-block (both 0:
	// unknown, and a sub-block then counts half a layer).
	AttnParams, MLPParams int64
	// NoSubBlocks, when set, says why the architecture's layers cannot be
	// split into attention and MLP sub-blocks (plans using attn/mlp are
	// refused).
	NoSubBlocks string
}

// SubBlockParams is the parameter count of the attention and the MLP
// sub-block of one layer.
func (f *Family) SubBlockParams() (attn, mlp int64) {
	if f.AttnParams+f.MLPParams == 0 {
		return f.LayerParams / 2, f.LayerParams - f.LayerParams/2
	}
	return f.AttnParams, f.MLPParams
}

// Params is the parameter count of the tailored model: a slot counts the
// sub-blocks it runs.
func (p *Plan) ParamCount(f *Family) int64 {
	n := f.OuterParams
	attn, mlp := f.SubBlockParams()
	for _, s := range p.Slots {
		a, m := s.Blocks()
		if !a.None {
			n += attn
		}
		if !m.None {
			n += mlp
		}
		if !a.None && !m.None && s.Attn == nil && s.MLP == nil {
			n += f.LayerParams - attn - mlp // a whole layer: exact even when the split is not
		}
	}
	return n
}

// FractionRemoved is 1 - params(plan)/params(base); negative when the plan
// is larger than the base (depth up-scaling).
func (p *Plan) FractionRemoved(f *Family) float64 {
	base := f.OuterParams + int64(f.Layers)*f.LayerParams
	return 1 - float64(p.ParamCount(f))/float64(base)
}

// ModelRef names a model by its directory when the plan maps the alias, so
// that recipes hash the same across plans that alias models differently.
func (p *Plan) ModelRef(alias string) string {
	if d, ok := p.Models[alias]; ok {
		return "dir:" + d
	}
	return "alias:" + alias
}

// SlotHash is a stable hash of what slot i computes: the key of every cache
// of merged layers and of activations.
// A slot without sub-block overrides hashes as it always has.
func (p *Plan) SlotHash(i int) string {
	s := p.Slots[i]
	if s.Attn == nil && s.MLP == nil {
		return p.recipeHash(s.Take, s.Merge, true)
	}
	a, m := s.Blocks()
	sum := sha256.Sum256([]byte("blocks|attn=" + p.PartHash(a) + "|mlp=" + p.PartHash(m)))
	return hex.EncodeToString(sum[:16])
}

// PartHash hashes a sub-block's recipe: a take or merge hashes as the whole
// layer it comes from (so caches of whole layers serve sub-blocks too).
func (p *Plan) PartHash(pt Part) string {
	if pt.None {
		return "none"
	}
	return p.recipeHash(pt.Take, pt.Merge, true)
}

// OuterHash hashes where the embeddings (or head) come from.
func (p *Plan) OuterHash(o *Outer) string {
	if o == nil {
		return p.recipeHash(&Take{Model: BaseAlias, Layer: -1}, nil, false)
	}
	if o.Merge != nil {
		return p.recipeHash(nil, o.Merge, false)
	}
	return p.recipeHash(&Take{Model: o.Model, Layer: -1}, nil, false)
}

func (p *Plan) recipeHash(t *Take, m *Merge, layered bool) string {
	var b strings.Builder
	if t != nil {
		fmt.Fprintf(&b, "take|%s|%d", p.ModelRef(t.Model), t.Layer)
	} else {
		layer := m.Layer
		if !layered {
			layer = -1
		}
		fmt.Fprintf(&b, "merge|%s|%d|base=%s|", m.Method, layer, p.ModelRef(m.BaseModel()))
		for k, a := range m.Models {
			b.WriteString(p.ModelRef(a) + ";")
			if layered && m.Layers != nil {
				fmt.Fprintf(&b, "@%d;", m.Layers[k])
			}
		}
		writeParams(&b, m.Params)
		for _, o := range m.Overrides {
			b.WriteString("|filter=" + strconv.Quote(o.Filter))
			writeParams(&b, o.Params)
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:16])
}

func writeParams(b *strings.Builder, p Params) {
	f := func(name string, v *float64) {
		if v != nil {
			fmt.Fprintf(b, "|%s=%s", name, strconv.FormatFloat(*v, 'g', -1, 64))
		}
	}
	if p.Weights != nil {
		b.WriteString("|weights=")
		for _, w := range p.Weights {
			b.WriteString(strconv.FormatFloat(w, 'g', -1, 64) + ",")
		}
	}
	f("lambda", p.Lambda)
	f("density", p.Density)
	f("gamma", p.Gamma)
	f("t", p.T)
	f("scale", p.Scale)
	if p.Normalize != nil {
		fmt.Fprintf(b, "|normalize=%v", *p.Normalize)
	}
	if p.Seed != nil {
		fmt.Fprintf(b, "|seed=%d", *p.Seed)
	}
}

// Aliases lists the aliases a plan refers to (sorted).
func (p *Plan) Aliases() []string {
	set := map[string]bool{}
	addMerge := func(m *Merge) {
		for _, a := range m.Models {
			set[a] = true
		}
		if m.Info().UsesBase {
			set[m.BaseModel()] = true
		}
	}
	for _, s := range p.Slots {
		a, m := s.Blocks()
		for _, pt := range []Part{a, m} {
			if pt.Take != nil {
				set[pt.Take.Model] = true
			}
			if pt.Merge != nil {
				addMerge(pt.Merge)
			}
		}
	}
	for _, o := range []*Outer{p.Embed, p.Head} {
		switch {
		case o == nil:
			set[BaseAlias] = true
		case o.Merge != nil:
			addMerge(o.Merge)
		default:
			set[o.Model] = true
		}
	}
	var out []string
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Describe is a one-line text of a slot, for tables and model cards.
func (s Slot) Describe() string {
	d := Part{Take: s.Take, Merge: s.Merge}.Describe()
	if s.Attn != nil {
		d += " · attn: " + s.Attn.Describe()
	}
	if s.MLP != nil {
		d += " · mlp: " + s.MLP.Describe()
	}
	return d
}

// Describe is a one-line text of a recipe.
func (pt Part) Describe() string {
	if pt.None {
		return "none"
	}
	if pt.Take != nil {
		return fmt.Sprintf("%s[%d]", pt.Take.Model, pt.Take.Layer)
	}
	m := pt.Merge
	if m == nil {
		return "?"
	}
	var parts []string
	if m.Weights != nil {
		parts = append(parts, fmt.Sprintf("weights=%s", sig3(m.Weights)))
	}
	for _, kv := range []struct {
		k string
		v *float64
	}{{"λ", m.Lambda}, {"density", m.Density}, {"gamma", m.Gamma}, {"t", m.T}, {"scale", m.Scale}} {
		if kv.v != nil {
			parts = append(parts, fmt.Sprintf("%s=%.3g", kv.k, *kv.v))
		}
	}
	if len(m.Overrides) > 0 {
		parts = append(parts, fmt.Sprintf("%d overrides", len(m.Overrides)))
	}
	return strings.TrimSpace(fmt.Sprintf("%s(%s)[%d] %s", m.Method, strings.Join(m.Models, "+"), m.Layer, strings.Join(parts, " ")))
}

// sig3 prints numbers to 3 significant digits, for people (plans keep
// every digit).
func sig3(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = Sig3(x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Sig3 prints a number to 3 significant digits ("n/a" for NaN): how every
// figure is shown to people (reports, terminal, the app).
func Sig3(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// Percent prints a ratio as a percentage to 3 significant digits.
func Percent(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(100*v, 'g', 3, 64) + "%"
}
