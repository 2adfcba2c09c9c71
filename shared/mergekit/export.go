package mergekit

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gptailor/gptailor/shared/plan"
)

// NotExpressible says why a plan has no mergekit config.
type NotExpressible struct{ Reasons []string }

func (e *NotExpressible) Error() string {
	return "mergekit cannot express this plan: " + strings.Join(e.Reasons, "; ")
}

// Export writes a mergekit config equivalent to the plan. Model paths come
// from the plan's models (an alias without a path is written as is). Plans
// of takes become passthrough slices (consecutive layers grouped); plans
// with merges of one method become one slice per slot, takes expressed as
// single-model slices whose base_model is that model (exact: the task
// vector is zero). It fails, with every reason, for what mergekit cannot
// do: several merge methods in one plan, slerp or model stock beside takes,
// and embeddings or a head that do not follow mergekit's convention (first
// slice's sources, last slice's sources).
func Export(p *plan.Plan) ([]byte, error) {
	if err := plan.Validate(p, nil); err != nil {
		return nil, err
	}
	ref := func(alias string) string {
		if d, ok := p.Models[alias]; ok {
			return d
		}
		return alias
	}
	methods := map[string][]string{}
	for i, s := range p.Slots {
		if s.Merge != nil {
			methods[s.Merge.Method] = append(methods[s.Merge.Method], fmt.Sprintf("slots[%d]", i))
		}
	}
	for name, o := range map[string]*plan.Outer{"embed": p.Embed, "head": p.Head} {
		if o != nil && o.Merge != nil {
			methods[o.Merge.Method] = append(methods[o.Merge.Method], name)
		}
	}
	var reasons []string
	if p.Repair != nil {
		reasons = append(reasons, "the plan's linear repair changes down_proj weights, which mergekit cannot compute")
	}
	for i, s := range p.Slots {
		if s.Split() {
			reasons = append(reasons, fmt.Sprintf("slots[%d] takes its attention and MLP sub-blocks from different recipes; a mergekit slice takes whole layers", i))
		}
		if s.Merge != nil && s.Merge.CrossLayer() {
			reasons = append(reasons, fmt.Sprintf("slots[%d] merges different source layers (%d and %v); a mergekit slice merges one layer range across models", i, s.Merge.Layer, s.Merge.Layers))
		}
	}
	if len(methods) > 1 {
		var parts []string
		for _, m := range sortedMethodNames(methods) {
			parts = append(parts, fmt.Sprintf("%s (%s)", m, strings.Join(methods[m], ", ")))
		}
		reasons = append(reasons, "mergekit applies one merge_method per config; this plan uses "+strings.Join(parts, " and "))
	}
	method := "passthrough"
	for m := range methods {
		method = m
	}
	out := yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v *yaml.Node) { out.Content = append(out.Content, str(k), v) }
	var slices []*yaml.Node
	info, _ := plan.LookupMethod(method)
	usesBase := info.UsesBase
	if method == "passthrough" {
		// Takes (and scaled passthrough merges), consecutive layers grouped.
		for i := 0; i < len(p.Slots); {
			s := p.Slots[i]
			model, layer, scale := "", 0, 1.0
			if s.Take != nil {
				model, layer = s.Take.Model, s.Take.Layer
			} else {
				model, layer, scale = s.Merge.Models[0], s.Merge.Layer, plan.Get(s.Merge.Scale, 1)
			}
			j := i + 1
			for j < len(p.Slots) && p.Slots[j].Take != nil && s.Take != nil && p.Slots[j].Take.Model == model && p.Slots[j].Take.Layer == layer+(j-i) {
				j++
			}
			src := mapNode("model", str(ref(model)), "layer_range", flow(num(float64(layer)), num(float64(layer+j-i))))
			if scale != 1 {
				src.Content = append(src.Content, str("parameters"), mapNode("scale", num(scale)))
			}
			slices = append(slices, mapNode("sources", seq(src)))
			i = j
		}
		first, last := firstLast(p)
		if em := outerModel(p.Embed); em != first {
			reasons = append(reasons, fmt.Sprintf("mergekit takes the embeddings from the first slice's model (%s); the plan takes them from %s", first, em))
		}
		if hm := outerModel(p.Head); hm != last {
			reasons = append(reasons, fmt.Sprintf("mergekit takes the final norm and lm_head from the last slice's model (%s); the plan takes them from %s", last, hm))
		}
	} else {
		for i, s := range p.Slots {
			var sl *yaml.Node
			if s.Take != nil {
				switch {
				case method == "linear":
					sl = mapNode("sources", seq(mapNode("model", str(ref(s.Take.Model)), "layer_range", flow(num(float64(s.Take.Layer)), num(float64(s.Take.Layer+1))))))
				case method == "slerp" || method == "model_stock":
					reasons = append(reasons, fmt.Sprintf("slots[%d]: a layer taken as is cannot sit in a %s config (it needs two or more distinct models per slice)", i, method))
					continue
				default:
					sl = mapNode("sources", seq(mapNode("model", str(ref(s.Take.Model)), "layer_range", flow(num(float64(s.Take.Layer)), num(float64(s.Take.Layer+1))))),
						"base_model", str(ref(s.Take.Model)))
				}
			} else {
				sl = mergeSlice(s.Merge, ref, usesBase)
			}
			slices = append(slices, sl)
		}
		// The convention for embeddings and head.
		if len(p.Slots) > 0 {
			if !followsSlot(p, p.Slots[0], p.Embed, []string{embedTensor}) {
				reasons = append(reasons, "mergekit merges the embeddings from the first slice's sources like its layer; the plan's embed differs")
			}
			if !followsSlot(p, p.Slots[len(p.Slots)-1], p.Head, []string{normTensor, "lm_head.weight"}) {
				reasons = append(reasons, "mergekit merges the final norm and lm_head from the last slice's sources like its layer; the plan's head differs")
			}
		}
	}
	if len(reasons) > 0 {
		return nil, &NotExpressible{Reasons: reasons}
	}
	add("merge_method", str(method))
	if usesBase {
		add("base_model", str(ref(plan.BaseAlias)))
	}
	add("slices", seq(slices...))
	add("dtype", str("float32"))
	return yaml.Marshal(&out)
}

func sortedMethodNames(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func outerModel(o *plan.Outer) string {
	if o == nil {
		return plan.BaseAlias
	}
	if o.Merge != nil {
		return "a merge"
	}
	return o.Model
}

func firstLast(p *plan.Plan) (string, string) {
	name := func(s plan.Slot) string {
		if s.Take != nil {
			return s.Take.Model
		}
		return s.Merge.Models[0]
	}
	return name(p.Slots[0]), name(p.Slots[len(p.Slots)-1])
}

// mergeSlice writes one merged slot as a one-layer slice.
func mergeSlice(m *plan.Merge, ref func(string) string, usesBase bool) *yaml.Node {
	lr := flow(num(float64(m.Layer)), num(float64(m.Layer+1)))
	var sources []*yaml.Node
	if usesBase {
		sources = append(sources, mapNode("model", str(ref(m.BaseModel())), "layer_range", lr))
	}
	for i, a := range m.Models {
		src := mapNode("model", str(ref(a)), "layer_range", lr)
		if m.Weights != nil || hasOverride(m, func(p plan.Params) bool { return p.Weights != nil }) {
			src.Content = append(src.Content, str("parameters"), mapNode("weight", paramNode(m, func(p plan.Params) *float64 {
				if p.Weights == nil {
					return nil
				}
				return &p.Weights[i]
			}, 1)))
		}
		sources = append(sources, src)
	}
	sl := mapNode("sources", seq(sources...))
	if usesBase && m.BaseModel() != plan.BaseAlias {
		sl.Content = append(sl.Content, str("base_model"), str(ref(m.BaseModel())))
	}
	params := &yaml.Node{Kind: yaml.MappingNode}
	field := func(name string, get func(plan.Params) *float64, def float64) {
		if get(m.Params) != nil || hasOverride(m, func(p plan.Params) bool { return get(p) != nil }) {
			params.Content = append(params.Content, str(name), paramNode(m, get, def))
		}
	}
	field("lambda", func(p plan.Params) *float64 { return p.Lambda }, 1)
	field("density", func(p plan.Params) *float64 { return p.Density }, 1)
	field("gamma", func(p plan.Params) *float64 { return p.Gamma }, 0.01)
	field("t", func(p plan.Params) *float64 { return p.T }, 0.5)
	field("scale", func(p plan.Params) *float64 { return p.Scale }, 1)
	if m.Normalize != nil {
		params.Content = append(params.Content, str("normalize"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(*m.Normalize)})
	}
	if len(params.Content) > 0 {
		sl.Content = append(sl.Content, str("parameters"), params)
	}
	return sl
}

func hasOverride(m *plan.Merge, f func(plan.Params) bool) bool {
	for _, o := range m.Overrides {
		if f(o.Params) {
			return true
		}
	}
	return false
}

// paramNode writes a parameter: a scalar, or a {filter, value} list when
// overrides change it.
func paramNode(m *plan.Merge, get func(plan.Params) *float64, def float64) *yaml.Node {
	base := plan.Get(get(m.Params), def)
	if len(m.Overrides) == 0 {
		return num(base)
	}
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, o := range m.Overrides {
		v := base
		if x := get(o.Params); x != nil {
			v = *x
		}
		list.Content = append(list.Content, mapNode("filter", str(o.Filter), "value", num(v)))
	}
	list.Content = append(list.Content, mapNode("value", num(base)))
	return list
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

func num(f float64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(f, 'g', -1, 64)}
}

func seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

func flow(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: items}
}

func mapNode(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Content = append(n.Content, str(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}

// followsSlot says whether an outer source is what mergekit would compute
// from the slot's slice for the given tensors.
func followsSlot(p *plan.Plan, s plan.Slot, o *plan.Outer, tensors []string) bool {
	if s.Take != nil {
		return o == nil && s.Take.Model == plan.BaseAlias || o != nil && o.Merge == nil && o.Model == s.Take.Model
	}
	if o == nil || o.Merge == nil {
		return false
	}
	a, b := s.Merge, o.Merge
	if a.Method != b.Method || a.BaseModel() != b.BaseModel() || strings.Join(a.Models, "\x00") != strings.Join(b.Models, "\x00") {
		return false
	}
	for _, tn := range tensors {
		pa, pb := a.ParamsFor(tn), b.ParamsFor(tn)
		if !reflect.DeepEqual(pa, pb) {
			return false
		}
	}
	return true
}
