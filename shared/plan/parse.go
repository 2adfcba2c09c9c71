package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Problem is one thing wrong with a plan, at a field path.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Problems is every problem found; it is an error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	if len(ps) == 1 {
		return "invalid plan: " + lines[0]
	}
	return fmt.Sprintf("invalid plan (%d problems):\n  %s", len(ps), strings.Join(lines, "\n  "))
}

// Parse decodes a plan from JSON, checking its structure (not the family:
// see ParseFor and Validate). It lists every problem, not only the first.
func Parse(data []byte) (*Plan, error) { return ParseFor(data, nil) }

// ParseFor decodes a plan and checks it against a family (nil: structure
// only), listing every problem of either kind.
func ParseFor(data []byte, f *Family) (*Plan, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var root any
	if err := d.Decode(&root); err != nil {
		return nil, Problems{{Message: "not JSON: " + err.Error()}}
	}
	if d.More() {
		return nil, Problems{{Message: "trailing data after the plan's JSON object"}}
	}
	r := &reader{}
	p := r.plan(root)
	ps := r.problems
	seen := map[Problem]bool{}
	for _, x := range ps {
		seen[x] = true
	}
	for _, x := range p.check(f) {
		if !seen[x] {
			ps = append(ps, x)
			seen[x] = true
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return p, nil
}

// Marshal encodes a plan as indented JSON (takes as [model, layer]).
func Marshal(p *Plan) ([]byte, error) {
	return json.MarshalIndent(p, "", "  ")
}

// MarshalJSON writes a take as ["model", layer].
func (t Take) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{t.Model, t.Layer})
}

// UnmarshalJSON reads a take as ["model", layer] or {"model", "layer"}, so
// a marshalled plan decodes with encoding/json too (Parse is the checked
// path for user input).
func (t *Take) UnmarshalJSON(b []byte) error {
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err == nil {
		if len(arr) != 2 {
			return fmt.Errorf("take must be [model, layer]")
		}
		if err := json.Unmarshal(arr[0], &t.Model); err != nil {
			return err
		}
		return json.Unmarshal(arr[1], &t.Layer)
	}
	var obj struct {
		Model string `json:"model"`
		Layer int    `json:"layer"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("take must be [model, layer] or {model, layer}: %v", err)
	}
	t.Model, t.Layer = obj.Model, obj.Layer
	return nil
}

type reader struct{ problems Problems }

func (r *reader) add(path, format string, args ...any) {
	r.problems = append(r.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (r *reader) object(v any, path string, allowed ...string) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		r.add(path, "must be an object, is %s", kind(v))
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		found := false
		for _, a := range allowed {
			if a == k {
				found = true
			}
		}
		if !found {
			r.add(join(path, k), "unknown field (allowed: %s)", strings.Join(allowed, ", "))
		}
	}
	return m
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func (r *reader) str(v any, path string) string {
	s, ok := v.(string)
	if !ok {
		r.add(path, "must be a string, is %s", kind(v))
	}
	return s
}

func (r *reader) num(v any, path string) float64 {
	n, ok := v.(json.Number)
	if !ok {
		r.add(path, "must be a number, is %s", kind(v))
		return 0
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		r.add(path, "must be a finite number, is %s", n)
	}
	return f
}

func (r *reader) integer(v any, path string) int {
	f := r.num(v, path)
	if f != math.Trunc(f) || math.Abs(f) > 1<<30 {
		r.add(path, "must be a whole number, is %v", v)
		return 0
	}
	return int(f)
}

func (r *reader) plan(v any) *Plan {
	m := r.object(v, "", "version", "name", "models", "slots", "embed", "head", "repair")
	p := &Plan{}
	if m == nil {
		return p
	}
	if ver, ok := m["version"]; ok {
		p.Version = r.integer(ver, "version")
		if p.Version != Version && len(r.problems) == 0 {
			r.add("version", "plan format %d is not supported (this build reads %d)", p.Version, Version)
		}
	} else {
		p.Version = Version
	}
	if n, ok := m["name"]; ok {
		p.Name = r.str(n, "name")
	}
	if ms, ok := m["models"]; ok {
		mm, isMap := ms.(map[string]any)
		if !isMap {
			r.add("models", "must map aliases to model directories, is %s", kind(ms))
		}
		p.Models = map[string]string{}
		for k, d := range mm {
			p.Models[k] = r.str(d, "models."+k)
		}
	}
	slots, ok := m["slots"].([]any)
	if !ok {
		if _, present := m["slots"]; present {
			r.add("slots", "must be a list, is %s", kind(m["slots"]))
		} else {
			r.add("slots", "is missing")
		}
	}
	for i, s := range slots {
		p.Slots = append(p.Slots, r.slot(s, fmt.Sprintf("slots[%d]", i)))
	}
	if e, ok := m["embed"]; ok {
		p.Embed = r.outer(e, "embed")
	}
	if h, ok := m["head"]; ok {
		p.Head = r.outer(h, "head")
	}
	if x, ok := m["repair"]; ok {
		p.Repair = r.repair(x, "repair")
	}
	return p
}

func (r *reader) slot(v any, path string) Slot {
	m := r.object(v, path, "take", "merge", "attn", "mlp")
	var s Slot
	if m == nil {
		return s
	}
	if a, ok := m["attn"]; ok {
		s.Attn = r.part(a, path+".attn")
	}
	if x, ok := m["mlp"]; ok {
		s.MLP = r.part(x, path+".mlp")
	}
	t, hasTake := m["take"]
	mg, hasMerge := m["merge"]
	if hasTake == hasMerge {
		r.add(path, "needs exactly one of take and merge")
	}
	if hasTake {
		s.Take = r.take(t, path+".take")
	}
	if hasMerge {
		s.Merge = r.merge(mg, path+".merge", true)
	}
	return s
}

func (r *reader) take(v any, path string) *Take {
	switch t := v.(type) {
	case []any:
		if len(t) != 2 {
			r.add(path, "must be [model, layer], has %d elements", len(t))
			return &Take{}
		}
		return &Take{Model: r.str(t[0], path+"[0]"), Layer: r.integer(t[1], path+"[1]")}
	case map[string]any:
		m := r.object(v, path, "model", "layer")
		tk := &Take{}
		if mv, ok := m["model"]; ok {
			tk.Model = r.str(mv, path+".model")
		} else {
			r.add(path+".model", "is missing")
		}
		if lv, ok := m["layer"]; ok {
			tk.Layer = r.integer(lv, path+".layer")
		} else {
			r.add(path+".layer", "is missing")
		}
		return tk
	}
	r.add(path, "must be [model, layer] or {model, layer}, is %s", kind(v))
	return &Take{}
}

var paramFields = []string{"weights", "lambda", "density", "gamma", "t", "normalize", "seed", "scale"}

func (r *reader) params(m map[string]any, path string) Params {
	var p Params
	fl := func(name string) *float64 {
		v, ok := m[name]
		if !ok {
			return nil
		}
		f := r.num(v, join(path, name))
		return &f
	}
	if w, ok := m["weights"]; ok {
		list, isList := w.([]any)
		if !isList {
			r.add(join(path, "weights"), "must be a list of numbers, is %s", kind(w))
		}
		p.Weights = []float64{}
		for i, x := range list {
			p.Weights = append(p.Weights, r.num(x, fmt.Sprintf("%s[%d]", join(path, "weights"), i)))
		}
	}
	p.Lambda, p.Density, p.Gamma, p.T, p.Scale = fl("lambda"), fl("density"), fl("gamma"), fl("t"), fl("scale")
	r.bounded(path, "lambda", p.Lambda)
	r.bounded(path, "scale", p.Scale)
	for i, w := range p.Weights {
		r.bounded(path, fmt.Sprintf("weights[%d]", i), &w)
	}
	if n, ok := m["normalize"]; ok {
		b, isBool := n.(bool)
		if !isBool {
			r.add(join(path, "normalize"), "must be true or false, is %s", kind(n))
		}
		p.Normalize = &b
	}
	if s, ok := m["seed"]; ok {
		f := r.num(s, join(path, "seed"))
		if f < 0 || f != math.Trunc(f) || f > 1<<53 {
			r.add(join(path, "seed"), "must be a whole number >= 0")
		}
		u := uint64(f)
		p.Seed = &u
	}
	return p
}

func (r *reader) merge(v any, path string, layered bool) *Merge {
	// "layer" is accepted but ignored where there is no layer (embed, head).
	allowed := append([]string{"method", "models", "layers", "base", "overrides", "layer"}, paramFields...)
	m := r.object(v, path, allowed...)
	mg := &Merge{}
	if m == nil {
		return mg
	}
	if x, ok := m["method"]; ok {
		mg.Method = r.str(x, path+".method")
	} else {
		r.add(path+".method", "is missing (one of %s)", strings.Join(MethodNames(), ", "))
	}
	if layered {
		if x, ok := m["layer"]; ok {
			mg.Layer = r.integer(x, path+".layer")
		} else {
			r.add(path+".layer", "is missing")
		}
	}
	if x, ok := m["models"]; ok {
		list, isList := x.([]any)
		if !isList {
			r.add(path+".models", "must be a list of model aliases, is %s", kind(x))
		}
		for i, a := range list {
			mg.Models = append(mg.Models, r.str(a, fmt.Sprintf("%s.models[%d]", path, i)))
		}
	} else {
		r.add(path+".models", "is missing")
	}
	if x, ok := m["layers"]; ok {
		list, isList := x.([]any)
		if !isList {
			r.add(path+".layers", "must be a list of layer indices, is %s", kind(x))
		}
		mg.Layers = []int{}
		for i, l := range list {
			mg.Layers = append(mg.Layers, r.integer(l, fmt.Sprintf("%s.layers[%d]", path, i)))
		}
	}
	if x, ok := m["base"]; ok {
		mg.Base = r.str(x, path+".base")
	}
	mg.Params = r.params(m, path)
	if x, ok := m["overrides"]; ok {
		list, isList := x.([]any)
		if !isList {
			r.add(path+".overrides", "must be a list, is %s", kind(x))
		}
		for i, o := range list {
			op := fmt.Sprintf("%s.overrides[%d]", path, i)
			om := r.object(o, op, append([]string{"filter"}, paramFields...)...)
			if om == nil {
				continue
			}
			ov := Override{Params: r.params(om, op)}
			if f, ok := om["filter"]; ok {
				ov.Filter = r.str(f, op+".filter")
			}
			mg.Overrides = append(mg.Overrides, ov)
		}
	}
	return mg
}

func (r *reader) outer(v any, path string) *Outer {
	if s, ok := v.(string); ok {
		return &Outer{Model: s}
	}
	m := r.object(v, path, "model", "merge")
	o := &Outer{}
	if m == nil {
		return o
	}
	mv, hasModel := m["model"]
	mg, hasMerge := m["merge"]
	if hasModel == hasMerge {
		r.add(path, "needs exactly one of model and merge")
	}
	if hasModel {
		o.Model = r.str(mv, path+".model")
	}
	if hasMerge {
		o.Merge = r.merge(mg, path+".merge", false)
	}
	return o
}

// MaxMergeScale bounds λ, scale and merge weights: past it a layer's
// weights overflow (λ 1e20 or a passthrough scale 1e30 gave a model whose
// NLL is NaN; λ 1e6 overflows float16).
const MaxMergeScale = 100

func (r *reader) bounded(path, name string, v *float64) {
	if v != nil && math.Abs(*v) > MaxMergeScale {
		r.add(join(path, name), "must be between -%d and %d, is %g (larger scales overflow the weights)", MaxMergeScale, MaxMergeScale, *v)
	}
}
