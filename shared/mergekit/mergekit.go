// Package mergekit converts between layer plans and mergekit YAML configs,
// both ways: Import reads a config a user already has (slices or models,
// parameters as scalars, gradients or {filter, value} lists, with mergekit's
// precedence source > slice > model > top level, and its convention that the
// embeddings come from the first slice and the head from the last); Export
// writes any plan mergekit can express and says exactly why when it cannot.
// It compiles for the browser too.
package mergekit

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gptailor/gptailor/shared/plan"
)

// LayerCounter tells how many decoder layers the model at a path has; it is
// needed only for configs that use `models` instead of `slices`.
type LayerCounter func(model string) (int, error)

// Error is a problem at a place in the YAML.
type Error struct {
	Line int
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mergekit config")
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(": " + e.Path)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

func fail(n *yaml.Node, p, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{Line: line, Path: p, Msg: fmt.Sprintf(format, args...)}
}

// node helpers

func mapping(n *yaml.Node, p string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil, fail(n, p, "must be a mapping")
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		ok := false
		for _, a := range allowed {
			if a == k {
				ok = true
			}
		}
		if !ok {
			return nil, fail(n.Content[i], join(p, k), "unknown field (allowed: %s)", strings.Join(allowed, ", "))
		}
		if _, dup := out[k]; dup {
			return nil, fail(n.Content[i], join(p, k), "given twice")
		}
		out[k] = n.Content[i+1]
	}
	return out, nil
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

func scalarString(n *yaml.Node, p string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", fail(n, p, "must be a string")
	}
	return n.Value, nil
}

func number(n *yaml.Node, p string) (float64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fail(n, p, "must be a number")
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		return 0, fail(n, p, "%q is not a number", n.Value)
	}
	return f, nil
}

// setting is a parameter value: a scalar, a gradient, or conditions.
type setting struct {
	node    *yaml.Node
	scalar  *float64
	boolean *bool
	grad    []float64
	conds   []cond
}

type cond struct {
	filter string
	value  *setting
}

func parseSetting(n *yaml.Node, p string) (*setting, error) {
	s := &setting{node: n}
	switch n.Kind {
	case yaml.ScalarNode:
		if b, err := strconv.ParseBool(n.Value); err == nil && (n.Value == "true" || n.Value == "false") {
			s.boolean = &b
			return s, nil
		}
		f, err := number(n, p)
		if err != nil {
			return nil, err
		}
		s.scalar = &f
		return s, nil
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return nil, fail(n, p, "an empty list is not a value")
		}
		if n.Content[0].Kind == yaml.ScalarNode {
			for i, e := range n.Content {
				f, err := number(e, fmt.Sprintf("%s[%d]", p, i))
				if err != nil {
					return nil, err
				}
				s.grad = append(s.grad, f)
			}
			return s, nil
		}
		for i, e := range n.Content {
			ep := fmt.Sprintf("%s[%d]", p, i)
			m, err := mapping(e, ep, "filter", "value")
			if err != nil {
				return nil, err
			}
			c := cond{}
			if f, ok := m["filter"]; ok {
				if c.filter, err = scalarString(f, ep+".filter"); err != nil {
					return nil, err
				}
			}
			v, ok := m["value"]
			if !ok {
				return nil, fail(e, ep+".value", "is missing")
			}
			if c.value, err = parseSetting(v, ep+".value"); err != nil {
				return nil, err
			}
			s.conds = append(s.conds, c)
		}
		return s, nil
	case yaml.MappingNode:
		m, err := mapping(n, p, "filter", "value")
		if err != nil {
			return nil, err
		}
		c := cond{}
		if f, ok := m["filter"]; ok {
			if c.filter, err = scalarString(f, p+".filter"); err != nil {
				return nil, err
			}
		}
		v, ok := m["value"]
		if !ok {
			return nil, fail(n, p+".value", "is missing")
		}
		if c.value, err = parseSetting(v, p+".value"); err != nil {
			return nil, err
		}
		s.conds = []cond{c}
		return s, nil
	}
	return nil, fail(n, p, "must be a number, a list of numbers, or a list of {filter, value}")
}

// eval is mergekit's evaluate_setting: nil when no condition matches.
func (s *setting) eval(tensor string, t float64) (float64, bool, bool) {
	switch {
	case s.scalar != nil:
		return *s.scalar, false, true
	case s.boolean != nil:
		if *s.boolean {
			return 1, true, true
		}
		return 0, true, true
	case s.grad != nil:
		scaled := t * float64(len(s.grad)-1)
		i0 := int(scaled)
		i1 := min(len(s.grad)-1, i0+1)
		frac := scaled - float64(i0)
		return (1-frac)*s.grad[i0] + frac*s.grad[i1], false, true
	}
	for _, c := range s.conds {
		if c.filter == "" || c.filter == "*" || strings.Contains(tensor, c.filter) {
			return c.value.eval(tensor, t)
		}
	}
	return 0, false, false
}

func (s *setting) filters(out *[]string) {
	for _, c := range s.conds {
		if c.filter != "" && c.filter != "*" {
			*out = append(*out, c.filter)
		}
		c.value.filters(out)
	}
}

type params map[string]*setting

func parseParams(n *yaml.Node, p string) (params, error) {
	if n == nil {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fail(n, p, "must be a mapping of parameter names to values")
	}
	out := params{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if !knownParams[k] {
			return nil, fail(n.Content[i], join(p, k), "parameter %q is not supported (supported: %s)", k, strings.Join(sortedKeys(knownParams), ", "))
		}
		s, err := parseSetting(n.Content[i+1], join(p, k))
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

var knownParams = map[string]bool{"weight": true, "density": true, "gamma": true, "t": true, "lambda": true,
	"normalize": true, "scale": true, "int8_mask": true}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// aliasFor names models: the base "base", the others after their directory.
type aliases struct {
	byPath map[string]string
	used   map[string]bool
}

func (a *aliases) get(model string) string {
	if al, ok := a.byPath[model]; ok {
		return al
	}
	b := path.Base(strings.TrimRight(model, "/"))
	al := b
	if i := strings.LastIndex(b, "-"); i >= 0 && i < len(b)-1 {
		al = b[i+1:]
	}
	if al == plan.BaseAlias || a.used[al] {
		al = b
	}
	for k := 2; a.used[al]; k++ {
		al = fmt.Sprintf("%s%d", b, k)
	}
	a.byPath[model] = al
	a.used[al] = true
	return al
}
