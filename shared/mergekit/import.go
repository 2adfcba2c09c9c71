package mergekit

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gptailor/gptailor/shared/plan"
)

// Layer tensor names as mergekit sees them (Llama naming), used to evaluate
// filtered parameters per tensor.
var layerTensors = []string{
	"input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
	"self_attn.o_proj.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
	"mlp.down_proj.weight",
}

const (
	embedTensor = "model.embed_tokens.weight"
	normTensor  = "model.norm.weight"
)

type source struct {
	model  string
	lo, hi int
	params params
	node   *yaml.Node
	path   string
}

type slice struct {
	sources []source
	base    string
	params  params
	node    *yaml.Node
	path    string
}

type config struct {
	method string
	base   string
	params params
	slices []slice
}

// Import reads a mergekit config into a plan. Model paths become the plan's
// models; the base model (base_model, or the first model named) is "base".
func Import(data []byte, layers LayerCounter) (*plan.Plan, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{Msg: "not YAML: " + err.Error()}
	}
	if doc.Kind == 0 {
		return nil, &Error{Msg: "the file is empty"}
	}
	c, err := readConfig(&doc, layers)
	if err != nil {
		return nil, err
	}
	return c.toPlan()
}

func readConfig(doc *yaml.Node, layers LayerCounter) (*config, error) {
	top, err := mapping(doc, "", "merge_method", "slices", "models", "base_model", "dtype", "out_dtype",
		"parameters", "tokenizer_source", "tokenizer", "chat_template", "name")
	if err != nil {
		return nil, err
	}
	c := &config{}
	mm, ok := top["merge_method"]
	if !ok {
		return nil, fail(doc, "merge_method", "is missing")
	}
	if c.method, err = scalarString(mm, "merge_method"); err != nil {
		return nil, err
	}
	if _, ok := plan.LookupMethod(c.method); !ok {
		return nil, fail(mm, "merge_method", "%q is not a method gptailor runs (%v)", c.method, plan.MethodNames())
	}
	if b, ok := top["base_model"]; ok {
		if c.base, err = scalarString(b, "base_model"); err != nil {
			return nil, err
		}
	}
	if c.params, err = parseParams(top["parameters"], "parameters"); err != nil {
		return nil, err
	}
	sl, hasSlices := top["slices"]
	ms, hasModels := top["models"]
	if hasSlices == hasModels {
		return nil, fail(doc, "", "exactly one of slices and models must be given")
	}
	if hasSlices {
		if sl.Kind != yaml.SequenceNode || len(sl.Content) == 0 {
			return nil, fail(sl, "slices", "must be a non-empty list")
		}
		total := 0
		for i, s := range sl.Content {
			x, err := readSlice(s, fmt.Sprintf("slices[%d]", i), layers)
			if err != nil {
				return nil, err
			}
			if total += x.sources[0].hi - x.sources[0].lo; total > MaxLayers {
				return nil, fail(s, fmt.Sprintf("slices[%d]", i), "the slices add up to more than %d layers", MaxLayers)
			}
			c.slices = append(c.slices, *x)
		}
		return c, nil
	}
	// models: one slice over every layer, the base added if absent.
	if ms.Kind != yaml.SequenceNode || len(ms.Content) == 0 {
		return nil, fail(ms, "models", "must be a non-empty list")
	}
	if layers == nil {
		return nil, fail(ms, "models", "a models config needs the models' layer counts")
	}
	one := slice{node: ms, path: "models"}
	hasBase := false
	for i, m := range ms.Content {
		p := fmt.Sprintf("models[%d]", i)
		f, err := mapping(m, p, "model", "parameters")
		if err != nil {
			return nil, err
		}
		src := source{node: m, path: p}
		mn, ok := f["model"]
		if !ok {
			return nil, fail(m, p+".model", "is missing")
		}
		if src.model, err = scalarString(mn, p+".model"); err != nil {
			return nil, err
		}
		if src.params, err = parseParams(f["parameters"], p+".parameters"); err != nil {
			return nil, err
		}
		n, err := layers(src.model)
		if err != nil {
			return nil, fail(mn, p+".model", "%v", err)
		}
		if n <= 0 || n > MaxLayers {
			return nil, fail(mn, p+".model", "%s has %d layers: a model has 1 to %d", src.model, n, MaxLayers)
		}
		src.hi = n
		hasBase = hasBase || src.model == c.base
		one.sources = append(one.sources, src)
	}
	if c.base != "" && !hasBase {
		n, err := layers(c.base)
		if err != nil {
			return nil, fail(top["base_model"], "base_model", "%v", err)
		}
		if n <= 0 || n > MaxLayers {
			return nil, fail(top["base_model"], "base_model", "%s has %d layers: a model has 1 to %d", c.base, n, MaxLayers)
		}
		one.sources = append(one.sources, source{model: c.base, hi: n, path: "base_model", node: top["base_model"]})
	}
	c.slices = []slice{one}
	return c, nil
}

// MaxLayers bounds every layer count and range an import accepts (with or
// without the models' own counts), so no config can make it allocate more.
const MaxLayers = 4096

func readSlice(n *yaml.Node, p string, layers LayerCounter) (*slice, error) {
	f, err := mapping(n, p, "sources", "base_model", "parameters", "residual_weight")
	if err != nil {
		return nil, err
	}
	if _, ok := f["residual_weight"]; ok {
		return nil, fail(f["residual_weight"], p+".residual_weight", "is not supported")
	}
	s := &slice{node: n, path: p}
	if b, ok := f["base_model"]; ok {
		if s.base, err = scalarString(b, p+".base_model"); err != nil {
			return nil, err
		}
	}
	if s.params, err = parseParams(f["parameters"], p+".parameters"); err != nil {
		return nil, err
	}
	srcs, ok := f["sources"]
	if !ok || srcs.Kind != yaml.SequenceNode || len(srcs.Content) == 0 {
		return nil, fail(n, p+".sources", "must be a non-empty list")
	}
	for i, sn := range srcs.Content {
		sp := fmt.Sprintf("%s.sources[%d]", p, i)
		sf, err := mapping(sn, sp, "model", "layer_range", "parameters")
		if err != nil {
			return nil, err
		}
		src := source{node: sn, path: sp}
		mn, ok := sf["model"]
		if !ok {
			return nil, fail(sn, sp+".model", "is missing")
		}
		if src.model, err = scalarString(mn, sp+".model"); err != nil {
			return nil, err
		}
		lr, ok := sf["layer_range"]
		if !ok || lr.Kind != yaml.SequenceNode || len(lr.Content) != 2 {
			return nil, fail(sn, sp+".layer_range", "must be [start, end]")
		}
		a, err := number(lr.Content[0], sp+".layer_range[0]")
		if err != nil {
			return nil, err
		}
		b, err := number(lr.Content[1], sp+".layer_range[1]")
		if err != nil {
			return nil, err
		}
		if a != math.Trunc(a) || b != math.Trunc(b) || a < 0 || b <= a {
			return nil, fail(lr, sp+".layer_range", "[%v, %v] is not a half-open range of whole layers start < end", a, b)
		}
		limit, of := MaxLayers, fmt.Sprintf("the %d layers a model may have", MaxLayers)
		if layers != nil {
			n, err := layers(src.model)
			if err != nil {
				return nil, fail(mn, sp+".model", "%v", err)
			}
			limit, of = n, fmt.Sprintf("the %d layers of %s", n, src.model)
		}
		if b > float64(limit) {
			return nil, fail(lr, sp+".layer_range", "[%v, %v] goes past %s", a, b, of)
		}
		src.lo, src.hi = int(a), int(b)
		if src.params, err = parseParams(sf["parameters"], sp+".parameters"); err != nil {
			return nil, err
		}
		if i > 0 && src.hi-src.lo != s.sources[0].hi-s.sources[0].lo {
			return nil, fail(lr, sp+".layer_range", "spans %d layers, sources[0] spans %d: all sources of a slice must span the same number", src.hi-src.lo, s.sources[0].hi-s.sources[0].lo)
		}
		s.sources = append(s.sources, src)
	}
	return s, nil
}

// param resolves a parameter with mergekit's precedence: source > slice >
// top level (the models form puts model parameters on its sources).
func (c *config) param(s *slice, src *source, name, tensor string, t float64) (float64, bool, bool) {
	if src != nil && src.params[name] != nil {
		if v, isBool, ok := src.params[name].eval(tensor, t); ok {
			return v, isBool, true
		}
	}
	if s.params[name] != nil {
		if v, isBool, ok := s.params[name].eval(tensor, t); ok {
			return v, isBool, true
		}
	}
	if c.params[name] != nil {
		if v, isBool, ok := c.params[name].eval(tensor, t); ok {
			return v, isBool, true
		}
	}
	return 0, false, false
}

func (c *config) toPlan() (*plan.Plan, error) {
	al := &aliases{byPath: map[string]string{}, used: map[string]bool{}}
	base := c.base
	if base == "" {
		base = c.slices[0].sources[0].model
	}
	al.byPath[base] = plan.BaseAlias
	al.used[plan.BaseAlias] = true
	p := &plan.Plan{Version: plan.Version, Models: map[string]string{}}
	for si := range c.slices {
		s := &c.slices[si]
		n := s.sources[0].hi - s.sources[0].lo
		for idx := 0; idx < n; idx++ {
			t := 1.0
			if n > 1 {
				t = float64(idx) / float64(n-1)
			}
			slot, err := c.slot(s, idx, t, al)
			if err != nil {
				return nil, err
			}
			p.Slots = append(p.Slots, slot)
		}
	}
	var err error
	if p.Embed, err = c.outer(&c.slices[0], 0, []string{embedTensor}, al); err != nil {
		return nil, err
	}
	if p.Head, err = c.outer(&c.slices[len(c.slices)-1], 1, []string{normTensor, "lm_head.weight"}, al); err != nil {
		return nil, err
	}
	for path, a := range al.byPath {
		p.Models[a] = path
	}
	if err := plan.Validate(p, nil); err != nil {
		return nil, fmt.Errorf("mergekit config: the imported plan is not valid: %w", err)
	}
	return p, nil
}

// mergeFor builds the merge over a slice's sources at layer offset idx for
// the given tensor names (one per layer tensor, or the outer tensors).
func (c *config) mergeFor(s *slice, layer int, t float64, tensors []string, al *aliases) (*plan.Merge, error) {
	base := s.base
	if base == "" {
		base = c.base
	}
	info, _ := plan.LookupMethod(c.method)
	m := &plan.Merge{Method: c.method, Layer: layer}
	if info.UsesBase {
		if base == "" {
			return nil, fail(s.node, s.path, "%s needs a base_model", c.method)
		}
		if a := al.get(base); a != plan.BaseAlias {
			m.Base = a
		}
	}
	var models []*source
	for i := range s.sources {
		src := &s.sources[i]
		if info.UsesBase && src.model == base {
			continue // the base's task vector is zero; mergekit leaves it out
		}
		models = append(models, src)
		m.Models = append(m.Models, al.get(src.model))
	}
	// Parameters per tensor, then the most common set as the merge's own
	// and overrides for the rest.
	per := make([]plan.Params, len(tensors))
	for ti, tn := range tensors {
		pr, err := c.paramsAt(s, models, tn, t)
		if err != nil {
			return nil, err
		}
		per[ti] = pr
	}
	var filters []string
	for _, ps := range []params{c.params, s.params} {
		for _, k := range sortedParamNames(ps) {
			ps[k].filters(&filters)
		}
	}
	for _, src := range models {
		for _, k := range sortedParamNames(src.params) {
			src.params[k].filters(&filters)
		}
	}
	// The merge's own parameters are those of the tensors no filter picks
	// (the config's fallback), else the most common set.
	var unfiltered []plan.Params
	for ti, tn := range tensors {
		picked := false
		for _, f := range filters {
			picked = picked || strings.Contains(tn, f)
		}
		if !picked {
			unfiltered = append(unfiltered, per[ti])
		}
	}
	if len(unfiltered) > 0 {
		m.Params = mostCommon(unfiltered)
	} else {
		m.Params = mostCommon(per)
	}
	m.Overrides = overridesFor(tensors, per, m.Params, filters)
	return m, nil
}

func sortedParamNames(p params) []string {
	return slices.Sorted(maps.Keys(p))
}

func (c *config) paramsAt(s *slice, models []*source, tensor string, t float64) (plan.Params, error) {
	var pr plan.Params
	scalar := func(name string) *float64 {
		if v, _, ok := c.param(s, nil, name, tensor, t); ok {
			return &v
		}
		return nil
	}
	pr.Lambda, pr.T = scalar("lambda"), scalar("t")
	if v, _, ok := c.param(s, nil, "normalize", tensor, t); ok {
		b := v != 0
		pr.Normalize = &b
	}
	// Per-model parameters: weight becomes weights; density, gamma and scale
	// must agree across models (gptailor has one per merge).
	anyWeight := false
	for _, name := range []string{"weight", "density", "gamma", "scale"} {
		var vals []float64
		found := false
		for _, src := range models {
			v, _, ok := c.param(s, src, name, tensor, t)
			if ok {
				found = true
			} else if name == "weight" {
				v = 1
			}
			vals = append(vals, v)
		}
		if !found {
			continue
		}
		switch name {
		case "weight":
			anyWeight = true
			pr.Weights = vals
		default:
			for i := range vals {
				if vals[i] != vals[0] {
					return pr, fail(s.node, s.path, "parameter %s differs between models (%v); gptailor applies one %s per merge", name, vals, name)
				}
			}
			v := vals[0]
			switch name {
			case "density":
				pr.Density = &v
			case "gamma":
				pr.Gamma = &v
			case "scale":
				pr.Scale = &v
			}
		}
	}
	if anyWeight {
		allOne := true
		for _, w := range pr.Weights {
			allOne = allOne && w == 1
		}
		if allOne {
			pr.Weights = nil
		}
	}
	return pr, nil
}

func mostCommon(per []plan.Params) plan.Params {
	best, bestN := per[0], 0
	for _, a := range per {
		n := 0
		for _, b := range per {
			if reflect.DeepEqual(a, b) {
				n++
			}
		}
		if n > bestN {
			best, bestN = a, n
		}
	}
	return best
}

// overridesFor expresses per-tensor parameters as filtered overrides, using
// the config's own filters where they pick exactly the right tensors and
// the tensor's own name otherwise.
func overridesFor(tensors []string, per []plan.Params, def plan.Params, filters []string) []plan.Override {
	want := make([]plan.Params, len(per))
	for i := range per {
		want[i] = explicit(per[i], def)
	}
	effective := func(ov []plan.Override, tn string) plan.Params {
		m := plan.Merge{Params: def, Overrides: ov}
		return m.ParamsFor(tn)
	}
	allRight := func(ov []plan.Override, only string) bool {
		for i, tn := range tensors {
			if (only == "" || strings.Contains(tn, only)) && !reflect.DeepEqual(effective(ov, tn), want[i]) {
				return false
			}
		}
		return true
	}
	var out []plan.Override
	for _, f := range filters {
		var pr *plan.Params
		same := true
		for i, tn := range tensors {
			if strings.Contains(tn, f) {
				if pr == nil {
					pr = &want[i]
				} else if !reflect.DeepEqual(*pr, want[i]) {
					same = false
				}
			}
		}
		if !same || pr == nil || allRight(out, f) {
			continue
		}
		cand := append(append([]plan.Override(nil), out...), plan.Override{Filter: f, Params: *pr})
		if allRight(cand, f) {
			out = cand
		}
	}
	for i, tn := range tensors {
		if !reflect.DeepEqual(effective(out, tn), want[i]) {
			out = append(out, plan.Override{Filter: tn, Params: want[i]})
		}
	}
	return out
}

// explicit fills the fields a tensor lacks but the merge's defaults set,
// so that an override can say "the method's default" (ParamsFor only
// overlays the fields an override sets).
func explicit(p, def plan.Params) plan.Params {
	if p.Weights == nil && def.Weights != nil {
		p.Weights = make([]float64, len(def.Weights))
		for i := range p.Weights {
			p.Weights[i] = 1
		}
	}
	one := 1.0
	if p.Lambda == nil && def.Lambda != nil {
		p.Lambda = &one
	}
	if p.Density == nil && def.Density != nil {
		p.Density = &one
	}
	if p.Scale == nil && def.Scale != nil {
		p.Scale = &one
	}
	return p
}

func (c *config) slot(s *slice, idx int, t float64, al *aliases) (plan.Slot, error) {
	if c.method == "passthrough" {
		if len(s.sources) != 1 {
			return plan.Slot{}, fail(s.node, s.path+".sources", "passthrough takes one source per slice, has %d", len(s.sources))
		}
		src := &s.sources[0]
		layer := src.lo + idx
		if v, _, ok := c.param(s, src, "scale", layerTensors[1], t); ok && v != 1 {
			return plan.Slot{Merge: &plan.Merge{Method: "passthrough", Layer: layer, Models: []string{al.get(src.model)}, Params: plan.Params{Scale: &v}}}, nil
		}
		return plan.Slot{Take: &plan.Take{Model: al.get(src.model), Layer: layer}}, nil
	}
	layer := s.sources[0].lo + idx
	for _, src := range s.sources[1:] {
		if src.lo+idx != layer {
			return plan.Slot{}, fail(src.node, src.path+".layer_range", "pairs layer %d of %s with layer %d of %s: gptailor merges one source layer across models", src.lo+idx, src.model, layer, s.sources[0].model)
		}
	}
	names := make([]string, len(layerTensors))
	for i, tn := range layerTensors {
		names[i] = fmt.Sprintf("model.layers.%d.%s", layer, tn)
	}
	m, err := c.mergeFor(s, layer, t, names, al)
	if err != nil {
		return plan.Slot{}, err
	}
	// Overrides name tensors of this layer; keep them layer-independent.
	for i := range m.Overrides {
		m.Overrides[i].Filter = trimLayerPrefix(m.Overrides[i].Filter, layer)
	}
	return c.simplify(m, al), nil
}

func trimLayerPrefix(f string, layer int) string {
	prefix := fmt.Sprintf("model.layers.%d.", layer)
	if len(f) > len(prefix) && f[:len(prefix)] == prefix {
		return f[len(prefix):]
	}
	return f
}

// simplify turns merges that are plain takes into takes: a task-vector
// merge with no model besides its base is the base's layer; a linear merge
// of one model is that model's layer.
func (c *config) simplify(m *plan.Merge, al *aliases) plan.Slot {
	if len(m.Overrides) == 0 {
		switch {
		case m.Info().UsesBase && len(m.Models) == 0:
			return plan.Slot{Take: &plan.Take{Model: m.BaseModel(), Layer: m.Layer}}
		case m.Method == "linear" && len(m.Models) == 1 && plan.Get(m.Normalize, true):
			return plan.Slot{Take: &plan.Take{Model: m.Models[0], Layer: m.Layer}}
		}
	}
	return plan.Slot{Merge: m}
}

func (c *config) outer(s *slice, t float64, tensors []string, al *aliases) (*plan.Outer, error) {
	if c.method == "passthrough" {
		return &plan.Outer{Model: al.get(s.sources[0].model)}, nil
	}
	m, err := c.mergeFor(s, 0, t, tensors, al)
	if err != nil {
		return nil, err
	}
	sl := c.simplify(m, al)
	if sl.Take != nil {
		return &plan.Outer{Model: sl.Take.Model}, nil
	}
	return &plan.Outer{Merge: m}, nil
}
