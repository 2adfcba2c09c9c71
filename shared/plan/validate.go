package plan

import (
	"fmt"
	"math"
)

// Validate checks a plan against a family (nil: structure only) and lists
// every problem.
func Validate(p *Plan, f *Family) error {
	if ps := p.check(f); len(ps) > 0 {
		return ps
	}
	return nil
}

func (p *Plan) check(f *Family) Problems {
	var ps Problems
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	known := map[string]bool{}
	switch {
	case len(p.Models) > 0:
		for a, d := range p.Models {
			known[a] = true
			if d == "" {
				add("models."+a, "needs a model directory")
			}
		}
		if !known[BaseAlias] {
			add("models", "must name the base model as %q", BaseAlias)
		}
		if f != nil {
			fam := map[string]bool{}
			for _, a := range f.Models {
				fam[a] = true
			}
			for a := range known {
				if !fam[a] {
					add("models."+a, "is not a model of the family (%v)", f.Models)
				}
			}
		}
	case f != nil:
		for _, a := range f.Models {
			known[a] = true
		}
	}
	checkAlias := func(path, a string) {
		if a == "" {
			add(path, "names no model")
		} else if len(known) > 0 && !known[a] {
			add(path, "unknown model %q", a)
		}
	}
	checkLayer := func(path string, l int) {
		if l < 0 || (f != nil && l >= f.Layers) {
			if f != nil {
				add(path, "layer %d out of range [0, %d)", l, f.Layers)
			} else {
				add(path, "layer %d is negative", l)
			}
		}
	}
	unit := func(path string, v *float64, name string) {
		if v != nil && (*v < 0 || *v > 1) {
			add(path, "%s = %g must lie in [0, 1]", name, *v)
		}
	}
	checkParams := func(path string, m *Merge, pr Params) {
		if pr.Weights != nil && len(pr.Weights) != len(m.Models) {
			add(join(path, "weights"), "has %d values for %d models", len(pr.Weights), len(m.Models))
		}
		unit(join(path, "density"), pr.Density, "density")
		unit(join(path, "gamma"), pr.Gamma, "gamma")
		unit(join(path, "t"), pr.T, "t")
		if pr.Density != nil && pr.Gamma != nil && *pr.Density+*pr.Gamma > 1 {
			add(join(path, "gamma"), "density + gamma = %g exceeds 1", *pr.Density+*pr.Gamma)
		}
		if m.Method == "linear" && Get(pr.Normalize, true) && pr.Weights != nil {
			s := 0.0
			for _, w := range pr.Weights {
				s += w
			}
			if math.Abs(s) < 1e-12 {
				add(join(path, "weights"), "sum to 0, so normalizing divides by 0")
			}
		}
	}
	checkMerge := func(path string, m *Merge, layered bool) {
		info, ok := LookupMethod(m.Method)
		if !ok {
			add(path+".method", "unknown merge method %q (one of %v)", m.Method, MethodNames())
		}
		if layered {
			checkLayer(path+".layer", m.Layer)
		}
		if len(m.Models) < info.MinModels || (info.MaxModels > 0 && len(m.Models) > info.MaxModels) {
			switch {
			case info.MaxModels == info.MinModels:
				add(path+".models", "%s takes exactly %d model(s) besides its base, has %d", m.Method, info.MinModels, len(m.Models))
			default:
				add(path+".models", "%s needs at least %d model(s), has %d", m.Method, info.MinModels, len(m.Models))
			}
		}
		if m.Layers != nil {
			if !layered {
				add(path+".layers", "is for slots only (embeddings and head have no layer)")
			} else if len(m.Layers) != len(m.Models) {
				add(path+".layers", "has %d values for %d models", len(m.Layers), len(m.Models))
			}
			for i, l := range m.Layers {
				checkLayer(fmt.Sprintf("%s.layers[%d]", path, i), l)
			}
		}
		seen := map[string]bool{}
		for i, a := range m.Models {
			mp := fmt.Sprintf("%s.models[%d]", path, i)
			checkAlias(mp, a)
			src := a
			if layered && i < len(m.Layers) {
				src = fmt.Sprintf("%s@%d", a, m.Layers[i])
			}
			if seen[src] {
				if src == a {
					add(mp, "model %q appears twice", a)
				} else {
					add(mp, "layer %d of model %q appears twice", m.Layers[i], a)
				}
			}
			seen[src] = true
		}
		if m.Base != "" {
			if !info.UsesBase && ok {
				add(path+".base", "%s does not use a base model", m.Method)
			}
			checkAlias(path+".base", m.Base)
		} else if info.UsesBase && len(known) > 0 && !known[BaseAlias] {
			add(path+".base", "is needed: no model is aliased %q", BaseAlias)
		}
		if m.Method == "slerp" {
			if m.T == nil {
				add(path+".t", "slerp needs t in [0, 1]")
			}
			if len(m.Models) == 1 && m.Models[0] == m.BaseModel() {
				add(path+".models[0]", "slerp between the base and itself")
			}
		}
		checkParams(path, m, m.Params)
		for i, o := range m.Overrides {
			checkParams(fmt.Sprintf("%s.overrides[%d]", path, i), m, o.Params)
		}
	}
	if len(p.Slots) == 0 {
		add("slots", "the plan has no slots")
	}
	for i, s := range p.Slots {
		path := fmt.Sprintf("slots[%d]", i)
		switch {
		case s.Take != nil && s.Merge != nil, s.Take == nil && s.Merge == nil:
			add(path, "needs exactly one of take and merge")
		case s.Take != nil:
			checkAlias(path+".take.model", s.Take.Model)
			checkLayer(path+".take.layer", s.Take.Layer)
		default:
			checkMerge(path+".merge", s.Merge, true)
		}
		s.checkBlocks(path, f, add, func(pp string, pt *Part) {
			if pt.Take != nil {
				checkAlias(pp+".model", pt.Take.Model)
				checkLayer(pp+".layer", pt.Take.Layer)
			} else {
				checkMerge(pp+".merge", pt.Merge, true)
			}
		})
	}
	for _, o := range []struct {
		path string
		o    *Outer
	}{{"embed", p.Embed}, {"head", p.Head}} {
		switch {
		case o.o == nil:
		case o.o.Merge != nil && o.o.Model != "", o.o.Merge == nil && o.o.Model == "":
			add(o.path, "needs exactly one of model and merge")
		case o.o.Merge != nil:
			checkMerge(o.path+".merge", o.o.Merge, false)
		default:
			checkAlias(o.path+".model", o.o.Model)
		}
	}
	if p.Repair != nil {
		p.checkRepair(f, add, checkAlias)
	}
	return ps
}
